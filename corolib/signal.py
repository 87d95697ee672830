"""Signal handlers that may block: a drop-in for the standard :mod:`signal` module.

Every public name of the stdlib module is here with the same value, except
:func:`signal` and :func:`getsignal`.

Why.  CPython runs a Python signal handler in the main thread, in
whatever greenlet happens to run there: the hub greenlet when the thread
waits in the hub (which must never block: a handler that sleeps, takes a
lock or waits for a child would fail there), or any green thread (which
would get the handler's exception, meant for the main thread).  A handler
installed with :func:`signal` is wrapped: it runs right there in the main
greenlet or in a green thread, and in a greenlet of its own, started at
once, when the hub got the signal; outside the main greenlet, an exception
it raises is raised in the main greenlet (at once if it is waiting, else
when it next switches), where the stdlib would have raised it (a handler
raising ``KeyboardInterrupt`` still interrupts the program).  :func:`getsignal` (and the value
:func:`signal` returns) report the handler as given, never the wrapper.

Switch points: none here (a handler runs wherever CPython calls it; its
own greenlet, if any, starts when the hub gets to it).
"""

from __future__ import annotations

import signal as _stdsignal
from types import FrameType
from typing import Any

from corolib._core import getcurrent as _getcurrent
from corolib.hub import get_hub as _get_hub, spawn_raw as _spawn_raw

_REPLACED = frozenset({"signal", "getsignal"})

__all__ = sorted(name for name in dir(_stdsignal) if not name.startswith("_"))
globals().update({name: getattr(_stdsignal, name) for name in __all__ if name not in _REPLACED})

_std_signal = _stdsignal.signal
_std_getsignal = _stdsignal.getsignal


def __getattr__(name: str) -> Any:
    """Any other public attribute of the stdlib :mod:`signal` module."""
    if not name.startswith("_"):
        try:
            return getattr(_stdsignal, name)
        except AttributeError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Handler:
    """A Python handler that moves out of the hub greenlet before it runs."""

    __slots__ = ("handler",)

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def __call__(self, signum: int, frame: FrameType | None) -> Any:
        current = _getcurrent()
        if current.parent is None:
            return self.handler(signum, frame)  # the main greenlet: as the stdlib
        hub = _get_hub()
        if current is hub:
            _spawn_raw(self._run, signum, frame)  # the hub must not block
            return None
        try:
            return self.handler(signum, frame)  # a green thread: now, as the stdlib
        except BaseException as exc:  # noqa: BLE001 - raised in the main greenlet instead
            hub.handle_system_error(exc)
        return None

    def _run(self, signum: int, frame: FrameType | None) -> None:
        try:
            self.handler(signum, frame)
        except BaseException as exc:  # noqa: BLE001 - raised in the main greenlet instead
            _get_hub().handle_system_error(exc)

    def __repr__(self) -> str:
        return f"<corolib.signal handler for {self.handler!r}>"


def _unwrap(handler: Any) -> Any:
    return handler.handler if isinstance(handler, _Handler) else handler


def signal(signalnum: int, handler: Any, /) -> Any:
    """Install ``handler`` for ``signalnum`` (as :func:`signal.signal`); return the previous one.

    A callable handler is wrapped so that it may block (see the module
    docstring); ``SIG_DFL`` and ``SIG_IGN`` are installed as they are.
    """
    wrapped = _Handler(handler) if callable(handler) else handler
    return _unwrap(_std_signal(signalnum, wrapped))


def wrap_installed_handlers() -> None:
    """Wrap the Python handlers installed already (e.g. the default ``SIGINT`` one).

    Main thread only; :func:`corolib.monkey.patch_signal` calls it.
    """
    for signum in _stdsignal.valid_signals():
        try:
            handler = _std_getsignal(signum)
        except (OSError, ValueError):
            continue
        if callable(handler) and not isinstance(handler, _Handler):
            _std_signal(signum, _Handler(handler))


def getsignal(signalnum: int, /) -> Any:
    """The handler for ``signalnum``, as given to :func:`signal` (as :func:`signal.getsignal`)."""
    return _unwrap(_std_getsignal(signalnum))
