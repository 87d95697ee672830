"""``patch_thread()``: threads become greenlets (``_thread``, ``threading``).

``threading`` is pure Python on top of ``_thread``; it copied the
primitives it uses into its own globals when it was imported.  So both are
patched: ``_thread``'s functions and types (:mod:`corolib.thread`), and the
copies in ``threading``'s globals.  ``Thread``, ``Condition``,
``Semaphore``, ``Barrier`` and ``Timer`` are left as the stdlib's: they
become green through the primitives.

What else has to be fixed by hand, because it exists already:

- The main thread keeps its identity (:func:`corolib.thread.get_ident`
  is the real identifier in the main greenlet), but its end-of-life marker
  (the "tstate lock" before 3.13, the thread handle since) is replaced by a
  green one, so that a green thread joining the main thread parks instead
  of blocking the OS thread; ``threading._shutdown`` releases it as usual.
- ``threading._shutdown`` (run by the interpreter at exit, in the main
  greenlet) joins the non-daemon green threads by parking; if none of them
  can ever finish, the hub says so (``LoopExit``) and the wrapper reports
  it on stderr instead of failing the exit.
- ``threading.current_thread()`` in a greenlet that is not a thread gives a
  ``_DummyThread``; it is dropped from ``threading._active`` when the
  greenlet ends (a per-greenlet ``local`` tracks it), so that greenlets
  that log (``LogRecord`` asks for the thread name) do not accumulate.  In
  a green thread started by ``_thread.start_new_thread`` it stays, as it
  does for an OS thread.
- ``logging``'s module lock and existing handlers' locks, if ``logging``
  was imported already, are replaced by green ones (those not held).
- OS threads already running stay OS threads: they are named in the
  patching warning.
"""

from __future__ import annotations

import _thread
import sys
import threading as _threading_module
from typing import Any

from corolib import thread as green_thread, threading as green_threading
from corolib._core import LoopExit
from corolib.local import local as green_local
from corolib.monkey import _state
from corolib.monkey._modules import patch_module
from corolib.monkey._session import current, session

__all__ = ["patch_thread"]

_PY313 = sys.version_info >= (3, 13)

# _thread names replaced, and where their green values are
_THREAD_NAMES = [
    "allocate_lock",
    "allocate",
    "LockType",
    "RLock",
    "get_ident",
    "start_new_thread",
    "start_new",
    "exit",
    "exit_thread",
    "_count",
]
if _PY313:
    _THREAD_NAMES += ["start_joinable_thread", "_ThreadHandle", "_make_thread_handle", "_shutdown"]
else:
    _THREAD_NAMES += ["_set_sentinel"]


def patch_thread(
    threading: bool = True,
    _threading_local: bool = True,
    Event: bool = True,  # noqa: N803 - gevent's spelling
    logging: bool = True,
) -> bool:
    """Threads become greenlets; every ``threading`` primitive becomes green.

    ``threading=False`` patches only ``_thread``; ``_threading_local``
    patches ``_threading_local.local``; ``Event`` makes ``threading.Event``
    :class:`corolib.threading.Event`; ``logging`` greens the locks of an
    already imported ``logging``.  Call it on the main thread, before other
    threads start.
    """

    def apply() -> None:
        _patch_thread_module()
        if threading:
            _patch_threading_module(Event)
        if _threading_local:
            import _threading_local as tl

            _state.patch_item(tl, "local", green_local)
        if logging and "logging" in sys.modules:
            _green_logging_locks(sys.modules["logging"])

    with session():
        return patch_module("thread", _thread, green_thread, apply)


def _patch_thread_module() -> None:
    for name in _THREAD_NAMES:
        if hasattr(_thread, name):
            _state.patch_item(_thread, name, getattr(green_thread, name))
    _state.patch_item(_thread, "_local", green_local)
    if hasattr(_thread, "lock"):  # 3.13+: the lock type's public name
        _state.patch_item(_thread, "lock", green_thread.LockType)


def _patch_threading_module(event: bool) -> None:
    th: Any = _threading_module
    _note_running_threads(th)
    patch = _state.patch_item
    patch(th, "_allocate_lock", green_thread.allocate_lock)
    patch(th, "Lock", green_thread.LockType)
    if hasattr(th, "_LockType"):
        patch(th, "_LockType", green_thread.LockType)
    patch(th, "_CRLock", green_thread.RLock)
    patch(th, "get_ident", green_thread.get_ident)
    patch(th, "local", green_local)
    if event:
        patch(th, "Event", green_threading.Event)
    green: Any = green_thread  # its per-version names are defined only there
    if _PY313:
        patch(th, "_start_joinable_thread", green.start_joinable_thread)
        patch(th, "_ThreadHandle", green._ThreadHandle)
        patch(th, "_make_thread_handle", green._make_thread_handle)
        patch(th, "_thread_shutdown", green._shutdown)
        # 3.13's _DummyThread removes itself from _active when this local's
        # value for its thread is dropped: with a green local, per greenlet.
        patch(th, "_thread_local_info", green_local())
    else:
        patch(th, "_start_new_thread", green_thread.start_new_thread)
        patch(th, "_set_sentinel", green._set_sentinel)
        patch(th, "_DummyThread", _make_green_dummy_thread(th))
    _green_main_thread(th)
    patch(th, "_shutdown", _make_shutdown(th._shutdown))


def _note_running_threads(th: Any) -> None:
    """Name, in the patching warning, the OS threads that run already (they stay OS threads)."""
    main = th.main_thread()
    running = [
        t.name
        for t in list(th._active.values())
        if t is not main and not isinstance(t, th._DummyThread) and t.is_alive()
    ]
    s = current()
    if running and s is not None:
        s.problems.append(
            "OS threads already running stay OS threads (their locks, if taken before "
            f"patching, block the hub): {', '.join(repr(n) for n in running)}"
        )


def _green_main_thread(th: Any) -> None:
    """Give the main thread a green end-of-life marker (see the module docstring)."""
    main = th._main_thread
    if th.current_thread() is not main:
        return  # patched from another thread: leave the main thread alone
    if _PY313:
        green: Any = green_thread
        handle = main._handle
        if not handle.is_done() and not isinstance(handle, green._ThreadHandle):
            main._handle = green._make_thread_handle(handle.ident)
    else:
        tlock = main._tstate_lock
        if tlock is not None and tlock.locked() and not isinstance(tlock, green_thread.LockType):
            green = green_thread.LockType()
            green.acquire()
            main._tstate_lock = green
            with th._shutdown_locks_lock:
                if tlock in th._shutdown_locks:
                    th._shutdown_locks.discard(tlock)
                    th._shutdown_locks.add(green)


def _make_green_dummy_thread(th: Any) -> type:
    """A ``_DummyThread`` dropped from ``threading._active`` when its greenlet ends."""
    tracker = green_local()

    class _Forget:
        __slots__ = ("dummy", "ident")

        def __init__(self, dummy: Any) -> None:
            self.dummy = dummy
            self.ident = dummy.ident

        def __del__(self) -> None:
            try:
                with th._active_limbo_lock:
                    if th._active.get(self.ident) is self.dummy:
                        del th._active[self.ident]
            except Exception:  # noqa: BLE001, S110 - never raise from a finalizer
                pass

    class _DummyThread(th._DummyThread):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            # A green thread's dummy lives as long as the thread's dummy would
            # (forever, before 3.13); a mere greenlet's goes when it ends.
            if self.ident not in green_thread.running_idents:
                tracker.forget = _Forget(self)

    _DummyThread.__module__ = "threading"
    _DummyThread.__qualname__ = "_DummyThread"
    return _DummyThread


def _make_shutdown(original: Any) -> Any:
    """``threading._shutdown`` reporting (not raising) non-daemon threads stuck forever."""
    if getattr(original, "_corolib_wrapped", False):
        return original

    def _shutdown() -> None:
        try:
            original()
        except LoopExit as exc:
            stream = sys.stderr
            if stream is not None:
                stream.write(
                    "corolib.monkey: at exit, non-daemon green threads are blocked and "
                    f"nothing can wake them; exiting without them ({exc})\n"
                )

    _shutdown._corolib_wrapped = True  # type: ignore[attr-defined]
    _shutdown.__wrapped__ = original  # type: ignore[attr-defined]
    return _shutdown


def _green_logging_locks(logging: Any) -> None:
    """Green locks for an already imported ``logging`` (only those not held)."""
    lock = getattr(logging, "_lock", None)
    if lock is not None and not _is_held(lock):
        _state.patch_item(logging, "_lock", green_thread.RLock())
    for ref in list(getattr(logging, "_handlerList", ())):
        handler = ref()
        if handler is None or getattr(handler, "lock", None) is None:
            continue
        if not _is_held(handler.lock):
            handler.createLock()


def _is_held(lock: Any) -> bool:
    try:
        if getattr(lock, "_is_owned", None) is not None and lock._is_owned():
            return True
        if lock.acquire(False):
            lock.release()
            return False
    except Exception:  # noqa: BLE001 - an odd lock: leave it alone
        return True
    return True
