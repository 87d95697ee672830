"""Greenlets as threads: a drop-in for the low-level :mod:`_thread` module.

``start_new_thread`` starts a greenlet (in the calling OS thread's hub)
instead of an OS thread; locks park greenlets instead of blocking the OS
thread.  This is what :func:`corolib.monkey.patch_thread` puts into
``_thread`` and ``threading``; nothing else in corolib uses it (corolib's
own worker threads capture the real ``_thread`` when imported).

Identity.  :func:`get_ident` is the real thread identifier in an OS
thread's main greenlet -- so the main thread keeps its identity, and code
that ran before patching (``threading.main_thread()``, held import locks)
stays consistent -- and ``id(greenlet)`` in every other greenlet.  The two
never collide: a live greenlet object cannot sit at the address of a live
thread's control block.

Locks.  :class:`LockType` owns a real lock as its state, so acquiring and
releasing it are atomic across OS threads as well as greenlets, and a lock
may be released by any thread, as ``_thread.lock`` may.  Only the waiting
is cooperative: a greenlet that finds it locked parks in its own hub and is
woken by the releaser (through ``wake_threadsafe`` when the releaser is
another OS thread).  Waiters retry on wake-up (the lock is not handed over:
as with ``_thread.lock``, a running greenlet may take it first).  While the
process has no other OS thread, a wait that can never end raises
``corolib.LoopExit`` (a deadlock is reported, not hung); once other OS
threads exist, waits are sliced (re-checked every ``CROSS_THREAD_SLICE``
seconds) because a wake-up from another thread cannot be seen coming.
:class:`RLock` is owned by a greenlet.

Switch points: ``start_new_thread`` never switches (the new greenlet runs
when the hub gets to it).  ``LockType.acquire`` and ``RLock.acquire``
switch only when the lock is taken and the call may wait.  ``release``
never switches.
"""

from __future__ import annotations

import _thread as _real
import sys
import traceback
from collections.abc import Callable
from typing import Any, cast

from corolib._core import GreenletExit, get_hub as _get_hub, getcurrent, greenlet
from corolib._green_locks import (
    CROSS_THREAD_SLICE as CROSS_THREAD_SLICE,
    LockType as LockType,
    RLock as RLock,
    allocate_lock as allocate_lock,
    get_ident as get_ident,
)
from corolib.dns import statistics as _dns_statistics
from corolib.local import local as _local  # noqa: F401 - _thread._local

__all__ = [
    "LockType",
    "RLock",
    "allocate_lock",
    "allocate",
    "get_ident",
    "start_new_thread",
    "start_new",
    "exit",
    "exit_thread",
    "stack_size",
    "error",
    "TIMEOUT_MAX",
    "get_native_id",
    "interrupt_main",
    "CROSS_THREAD_SLICE",
]

# The real primitives, captured before anyone patches them.
_real_count = _real._count
_real_stack_size = _real.stack_size

error = _real.error
TIMEOUT_MAX: float = _real.TIMEOUT_MAX
allocate = allocate_lock
get_native_id = _real.get_native_id
interrupt_main = _real.interrupt_main
_excepthook = _real._excepthook
_ExceptHookArgs = _real._ExceptHookArgs


# ---- green threads ------------------------------------------------------------------

#: green threads running now (``_count``)
_running = 0
#: identifiers of the green threads started here that are running now
running_idents: set[int] = set()


class _UnraisableArgs:
    """What ``sys.unraisablehook`` receives for a failed thread (duck-typed)."""

    __slots__ = ("exc_type", "exc_value", "exc_traceback", "err_msg", "object")

    def __init__(self, exc: BaseException, err_msg: str, obj: object) -> None:
        self.exc_type = type(exc)
        self.exc_value = exc
        self.exc_traceback = exc.__traceback__
        self.err_msg = err_msg
        self.object = obj


def _report_unraisable(function: object, exc: BaseException) -> None:
    """Report an exception that ended a thread, as ``_thread`` does."""
    msg = "Exception ignored in thread started by"
    obj: object = function
    if sys.version_info >= (3, 13):
        msg, obj = f"{msg} {function!r}", None  # 3.13 names the function in the message
    hook = sys.unraisablehook
    try:
        if hook is not sys.__unraisablehook__:
            hook(cast(Any, _UnraisableArgs(exc, msg, obj)))
            return
        stream = sys.stderr
        if stream is None:
            return
        stream.write(f"{msg}: {obj!r}\n" if obj is not None else f"{msg}:\n")
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=stream)
        stream.flush()
    except Exception:  # noqa: BLE001 - as CPython: reporting must not fail the thread
        pass


def _run_thread(
    function: Callable[..., object],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    on_exit: Callable[[], object] | None,
) -> None:
    """The body of every green thread: run, report, then say it ended."""
    global _running
    _running += 1
    ident = id(getcurrent())
    running_idents.add(ident)
    try:
        function(*args, **kwargs)
    except (SystemExit, GreenletExit):
        pass
    except BaseException as exc:  # noqa: BLE001 - reported like _thread
        _report_unraisable(function, exc)
    finally:
        _running -= 1
        running_idents.discard(ident)
        if on_exit is not None:
            on_exit()


def _spawn(
    function: Callable[..., object],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    on_exit: Callable[[], object] | None = None,
) -> greenlet:
    """Start a green thread in this OS thread's hub; return its greenlet."""
    hub = _get_hub()
    g = greenlet(_run_thread, hub)
    hub.start_greenlet(g, function, args, kwargs, on_exit)
    return g


def _check_start_args(function: Any, args: Any, kwargs: Any) -> dict[str, Any]:
    if not callable(function):
        raise TypeError("first arg must be callable")
    if not isinstance(args, tuple):
        raise TypeError("2nd arg must be a tuple")
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise TypeError("optional 3rd arg must be a dictionary")
    return kwargs


def start_new_thread(
    function: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
) -> int:
    """Start ``function(*args, **kwargs)`` in a new green thread; return its identifier.

    An exception that ends it is reported through ``sys.unraisablehook``
    (``SystemExit`` silently ends it), as ``_thread`` does.  Never switches.
    """
    kw = _check_start_args(function, args, kwargs)
    return id(_spawn(function, args, kw, _release_sentinels))


start_new = start_new_thread


def exit() -> None:  # noqa: A001 - the stdlib's name
    """Raise ``SystemExit``, which silently ends the current green thread."""
    raise SystemExit


exit_thread = exit


def stack_size(size: int = 0, /) -> int:
    """The real ``_thread.stack_size`` (green threads do not have one; OS threads do)."""
    return _real_stack_size(size)


def _count() -> int:
    """How many threads run besides the main one: green threads, plus OS threads.

    corolib's resolver threads (:mod:`corolib.dns`) are not counted: with the
    stdlib, a lookup starts no thread.
    """
    return _running + _real_count() - _dns_statistics()["threads"]


# ---- per-version: how threading learns that a thread ended -----------------------------

if sys.version_info >= (3, 13):
    from corolib._thread_handles import (
        _make_thread_handle as _make_thread_handle,
        _shutdown as _shutdown,
        _ThreadHandle as _ThreadHandle,
        start_joinable_thread as _start_joinable,
    )

    def _release_sentinels() -> None:
        """Nothing to release on 3.13+ (thread handles instead of sentinel locks)."""

    def start_joinable_thread(
        function: Callable[..., object], handle: Any = None, daemon: bool = True
    ) -> Any:
        """Start ``function()`` in a green thread and return its ``_ThreadHandle``."""
        return _start_joinable(_spawn, function, handle, daemon)

    __all__ += ["start_joinable_thread"]
else:
    from corolib._thread_sentinels import (
        _release_sentinels as _release_sentinels,
        _set_sentinel as _set_sentinel,
    )
