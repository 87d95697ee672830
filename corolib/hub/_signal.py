"""Signals and fork for greenlet programs."""

from __future__ import annotations

import os
import signal as _signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from corolib import _core
from corolib._core import GreenletExit
from corolib.hub._greenlet import Greenlet
from corolib.hub._hub import get_hub

__all__ = ["signal_handler", "reinit"]


class _SignalHandler:
    """What :func:`signal_handler` returns: ``cancel()`` restores the previous handler."""

    def __init__(
        self,
        signum: int,
        handler: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        if not callable(handler):
            raise TypeError(f"signal handler must be callable, not {handler!r}")
        self.signum = signum
        self.handler = handler
        self.args = args
        self.kwargs = kwargs
        get_hub()  # the hub owns the wakeup fd that makes delivery prompt
        self._previous = _signal.signal(signum, self._deliver)

    def _deliver(self, signum: int, frame: FrameType | None) -> None:
        Greenlet.spawn(self._handle)

    def _handle(self) -> None:
        # As in gevent: an exception from the handler is printed and then
        # raised in the thread's main greenlet (the program's own code),
        # not left in a greenlet nobody joins.
        try:
            self.handler(*self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the main greenlet
            hub = get_hub()
            if isinstance(exc, GreenletExit):
                return
            if not isinstance(exc, hub.NOT_ERROR):
                hub.print_exception(self, type(exc), exc, exc.__traceback__)
            hub.handle_system_error(exc)

    def __repr__(self) -> str:
        return f"<signal_handler {self.signum} {self.handler!r}>"

    def cancel(self) -> None:
        """Put back the handler that was installed before."""
        if self._previous is not None:
            _signal.signal(self.signum, self._previous)
            self._previous = None


def signal_handler(
    signum: int, handler: Callable[..., Any], *args: Any, **kwargs: Any
) -> _SignalHandler:
    """Run ``handler(*args, **kwargs)`` in a new greenlet each time ``signum`` arrives.

    Works while the thread waits in the hub: the signal wakes it at once.
    Main thread only (as ``signal.signal``).
    """
    return _SignalHandler(signum, handler, args, kwargs)


def reinit() -> None:
    """Make the current thread's hub usable in a forked child.

    Called automatically after ``os.fork()`` (through ``os.register_at_fork``);
    harmless to call again.
    """
    _core._after_fork_in_child()


os.register_at_fork(after_in_child=reinit)
