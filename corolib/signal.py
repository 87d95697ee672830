"""Signal handlers that may block: a drop-in for the standard :mod:`signal` module.

Every public name of the stdlib module is here with the same value, except
:func:`signal` and :func:`getsignal`.

Why.  When a signal arrives while the thread waits in the hub, CPython
runs the Python handler in the hub greenlet, which must never block: a
handler that sleeps, takes a lock or waits for a child would fail there.
A handler installed with :func:`signal` is wrapped so that, in that case,
it runs in a greenlet of its own, started at once; an exception it raises
is raised in the thread's main greenlet, where the stdlib would have raised
it (a handler raising ``KeyboardInterrupt`` still interrupts the program).
When the signal arrives while some greenlet runs Python code, the handler
runs right there, as in the stdlib.  :func:`getsignal` (and the value
:func:`signal` returns) report the handler as given, never the wrapper.

Switch points: none here (a handler runs wherever CPython calls it; its
own greenlet, if any, starts when the hub gets to it).
"""

from __future__ import annotations

import signal as _stdsignal
from types import FrameType
from typing import Any

from corolib._core import get_hub_if_exists as _get_hub_if_exists
from corolib._core import getcurrent as _getcurrent
from corolib.hub import get_hub as _get_hub
from corolib.hub import spawn_raw as _spawn_raw

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
        hub = _get_hub_if_exists()
        if hub is not None and _getcurrent() is hub:
            _spawn_raw(self._run, signum, frame)
            return None
        return self.handler(signum, frame)

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


def getsignal(signalnum: int, /) -> Any:
    """The handler for ``signalnum``, as given to :func:`signal` (as :func:`signal.getsignal`)."""
    return _unwrap(_std_getsignal(signalnum))
