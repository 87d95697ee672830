"""Green threads for CPython 3.13+: thread handles.

Since 3.13, ``threading.Thread`` learns that its thread ended from a
``_thread._ThreadHandle`` (``join()``, ``is_done()``), and the interpreter
joins non-daemon threads at exit with ``_thread._shutdown()``.  Here a
handle is done when the green thread's function returns; :func:`_shutdown`
joins the non-daemon green threads, then the real ones.
"""

from __future__ import annotations

import _thread as _real
import os
import weakref
from collections.abc import Callable
from typing import Any

from corolib._green_locks import get_ident
from corolib.sync import Event

__all__ = ["_ThreadHandle", "_make_thread_handle", "_shutdown", "start_joinable_thread"]

_real_shutdown: Callable[[], None] = getattr(_real, "_shutdown")  # noqa: B009 - 3.13+ only

#: started handles of non-daemon green threads, joined by _shutdown()
_non_daemon: set[_ThreadHandle] = set()
#: every handle of a green thread that may still be running (for fork)
_live: weakref.WeakSet[_ThreadHandle] = weakref.WeakSet()


class _ThreadHandle:
    """A green thread's handle: ``_thread._ThreadHandle`` for green threads."""

    __slots__ = ("_ident", "_started", "_done", "__weakref__")

    def __init__(self) -> None:
        self._ident = 0
        self._started = False
        self._done = Event()

    @property
    def ident(self) -> int:
        """The thread's identifier (0 before it starts)."""
        return self._ident

    def is_done(self) -> bool:
        """Tell whether the thread has ended."""
        return self._done.is_set()

    def _set_done(self) -> None:
        if not self._started:
            raise RuntimeError("thread not started")
        self._done.set()
        _non_daemon.discard(self)
        _live.discard(self)

    def join(self, timeout: float | None = None) -> None:
        """Wait until the thread ends, or ``timeout`` seconds (None: no limit)."""
        if not self._started:
            raise RuntimeError("thread not started")
        if self._done.is_set():
            return
        if self._ident == get_ident():
            raise RuntimeError("Cannot join current thread")
        if timeout is not None and timeout < 0:
            timeout = None
        self._done.wait(timeout)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}._ThreadHandle object: ident={self._ident}>"


def _make_thread_handle(ident: int) -> _ThreadHandle:
    """A handle for a thread that is already running (the main thread, a dummy thread)."""
    handle = _ThreadHandle()
    handle._ident = ident
    handle._started = True
    return handle


def start_joinable_thread(
    spawn: Callable[..., Any],
    function: Callable[..., object],
    handle: Any = None,
    daemon: bool = True,
) -> _ThreadHandle:
    """Start ``function()`` with ``spawn``; the handle is done when it returns."""
    if handle is None:
        handle = _ThreadHandle()
    if not isinstance(handle, _ThreadHandle):
        raise TypeError(f"'handle' must be a _ThreadHandle, not {type(handle).__name__}")
    if handle._started:
        raise RuntimeError("thread already started")
    g: Any = spawn(function, (), {}, handle._set_done)
    handle._ident = id(g)
    handle._started = True
    _live.add(handle)
    if not daemon:
        _non_daemon.add(handle)
    return handle


def _shutdown() -> None:
    """Wait for every non-daemon thread: the green ones, then the real ones."""
    me = get_ident()
    while True:
        pending = [h for h in _non_daemon if h._ident != me and not h.is_done()]
        if not pending:
            break
        for handle in pending:
            handle.join()
    _real_shutdown()


def _after_fork_in_child() -> None:
    # Only the forking green thread lives on in the child, as only the forking
    # OS thread does: the others' handles are done (their joiners return).
    me = get_ident()
    for handle in list(_live):
        if handle._ident != me:
            handle._done = Event()
            handle._set_done()
    _non_daemon.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
