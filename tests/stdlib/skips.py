"""CPython tests that are not run under ``corolib.monkey.patch_all()``, each with its reason.

Kinds of entries:

- ``GREEN``: the test cannot pass with green threads (it needs preemption or
  several OS threads, counts or inspects OS-level threads, or blocks the
  thread in a call that patching leaves alone -- gevent skips the same);
- ``DETAIL``: a white-box test of how CPython implements something that
  patching replaces by a different implementation with the same behaviour
  (private attributes, type objects that cannot be instantiated, who
  defines a name);
- ``ENV``: fails on this machine without corolib too;
- ``PENDING``: needs a corolib module that has not landed yet
  (``requires``); applied only while that module cannot be imported;
- ``BUG``: fails because of a corolib bug (reported, with the reason);
  these must go away as the bugs are fixed.

An entry names ``test_module.Class`` or ``test_module.Class.method``; it
may be limited to some Python versions.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass

GREEN = "green"
DETAIL = "detail"
ENV = "env"
PENDING = "pending"
BUG = "bug"

_Version = tuple[int, ...]


def _always(_: _Version) -> bool:
    return True


@dataclass(frozen=True)
class Skip:
    """One disabled test (or class)."""

    test_id: str
    reason: str
    kind: str = GREEN
    when: Callable[[_Version], bool] = _always
    #: PENDING: the module whose absence this entry is about
    requires: str | None = None


def since(*version: int) -> Callable[[_Version], bool]:
    """Only on ``version`` and later."""
    return lambda v: tuple(v[: len(version)]) >= version


def before(*version: int) -> Callable[[_Version], bool]:
    """Only before ``version``."""
    return lambda v: tuple(v[: len(version)]) < version


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def for_module(module: str, version: _Version) -> Iterator[Skip]:
    """The entries for ``module`` that apply to ``version`` (and to what is installed)."""
    prefix = module + "."
    for entry in SKIPS:
        if not entry.test_id.startswith(prefix) or not entry.when(tuple(version)):
            continue
        if entry.requires is not None and _module_available(entry.requires):
            continue
        yield entry


SKIPS: list[Skip] = [
    # ---- test_threading --------------------------------------------------------
    Skip(
        "test_threading.ThreadTests.test_various_ops",
        "every green thread runs in the one OS thread: they share its native id",
    ),
    Skip(
        "test_threading.ThreadTests.test_various_ops_small_stack",
        "every green thread runs in the one OS thread: they share its native id",
    ),
    Skip(
        "test_threading.ThreadTests.test_various_ops_large_stack",
        "every green thread runs in the one OS thread: they share its native id",
    ),
    Skip(
        "test_threading.ThreadTests.test_PyThreadState_SetAsyncExc",
        "needs a Python thread state per thread (ctypes PyThreadState_SetAsyncExc)",
    ),
    Skip(
        "test_threading.InterruptMainTests.test_can_interrupt_tight_loops",
        "needs preemption: the main thread busy-waits for a thread that cannot run",
    ),
    Skip(
        "test_threading.ThreadTests.test_disallow_instantiation",
        "corolib's lock type is its own factory (allocate_lock), so it can be instantiated",
        DETAIL,
    ),
    Skip(
        "test_threading.MiscTestCase.test__all__",
        "checks that threading/_thread define every name in threading.__all__; "
        "patched names (Lock, Event, local, get_ident) are defined by corolib",
        DETAIL,
    ),
    Skip(
        "test_threading.EventTests.test_at_fork_reinit",
        "inspects threading.Event's private Condition (_cond); corolib's Event has none",
        DETAIL,
    ),
    Skip(
        "test_threading.InterruptMainTests.test_interrupt_main_subthread",
        "the green thread calling interrupt_main() ends before the main greenlet parks in "
        "join(), so the KeyboardInterrupt comes at the main greenlet's next switch, not there",
    ),
    # ---- test_queue -----------------------------------------------------------
    Skip(
        "test_queue.BaseQueueTestMixin.test_shutdown_all_methods_in_many_threads",
        "needs preemption: reader threads busy-loop on get(False) until shutdown",
        when=since(3, 13),
    ),
    Skip(
        "test_queue.BaseQueueTestMixin.test_shutdown_immediate_all_methods_in_many_threads",
        "needs preemption: reader threads busy-loop on get(False) until shutdown",
        when=since(3, 13),
    ),
    # ---- test_select -----------------------------------------------------------
    Skip(
        "test_select.SelectTestCase.test_disallow_instantiation",
        "corolib's poll objects are of a Python class, which can be instantiated",
        DETAIL,
    ),
    Skip(
        "test_select.SelectTestCase.test_select_mutated",
        "corolib.select.select() does not see a list mutated by a fileno() method as the "
        "C code does (it returns all 10 entries where the stdlib returns the 5 left)",
        BUG,
    ),
    # ---- test_socket -----------------------------------------------------------
    Skip(
        "test_socket.ThreadedVSOCKSocketStreamTest",
        "hangs without corolib too: this machine's vsock transport never connects",
        ENV,
    ),
    Skip(
        "test_socket.TestExceptions.test_setblocking_invalidfd",
        "corolib.socket's setblocking() only records the mode (the fd is always "
        "non-blocking), so on a closed fd it does not raise OSError as the stdlib does",
        BUG,
    ),
    Skip(
        "test_socket.NonBlockingTCPTests.testSetBlocking",
        "reads the fd's O_NONBLOCK flag: a corolib socket's fd is always non-blocking "
        "(the blocking mode is kept in Python)",
        DETAIL,
    ),
    Skip(
        "test_socket.NonBlockingTCPTests.testSetBlocking_overflow",
        "reads the fd's O_NONBLOCK flag: a corolib socket's fd is always non-blocking",
        DETAIL,
    ),
    Skip(
        "test_socket.NonblockConstantTest.test_SOCK_NONBLOCK",
        "reads the fd's O_NONBLOCK flag: a corolib socket's fd is always non-blocking",
        DETAIL,
    ),
    Skip(
        "test_socket.GeneralModuleTests.testSendtoErrors",
        "corolib.socket.sendto() with too few arguments raises Python's TypeError text "
        "(missing 1 required positional argument), not the C one ('(1 given)')",
        BUG,
    ),
    Skip(
        "test_socket.GeneralModuleTests.testRefCountGetNameInfo",
        "corolib.dns.getnameinfo() sends a non-tuple address to a worker thread instead of "
        "failing at once, and the TypeError's traceback keeps a reference to the argument",
        BUG,
    ),
]
