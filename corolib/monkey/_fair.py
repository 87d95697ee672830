"""Patched ``select``/``poll``/selectors that yield once when they answer at once.

:mod:`corolib.select` returns at once, without switching, when something is
ready -- the right thing for a single call.  But a polling loop (asyncore,
a hand-written server loop) that finds a socket ready on every turn, e.g.
always writable, then never lets any other greenlet run: with OS threads,
preemption would.  The versions patched in yield once (``sleep(0)``) after
a call that could have waited (its timeout is not zero) and found something
ready, so such a loop shares the thread; a call with a zero timeout stays a
pure poll.  (A call that did wait yields once more; that costs one switch.)

Switch points: as :mod:`corolib.select`, plus that one ``sleep(0)``.
"""

from __future__ import annotations

from typing import Any

from corolib import select as _coselect, selectors as _coselectors
from corolib._core import sleep as _sleep

__all__ = ["select", "poll", "Poll", "DefaultSelector"]

_select = _coselect.select


def select(rlist: Any, wlist: Any, xlist: Any, timeout: float | None = None) -> Any:
    """:func:`corolib.select.select`, yielding once if it answered a waiting call at once."""
    result = _select(rlist, wlist, xlist, timeout)
    if timeout != 0 and (result[0] or result[1] or result[2]):
        _sleep(0)
    return result


class Poll(_coselect._Poll):
    """A :func:`corolib.select.poll` object whose ``poll`` yields as :func:`select` does."""

    __slots__ = ()

    def poll(self, timeout: float | None = None, /) -> list[tuple[int, int]]:
        """``[(fd, events)]`` for the ready fds; waits up to ``timeout`` milliseconds."""
        ready = _coselect._Poll.poll(self, timeout)
        if ready and timeout != 0:
            _sleep(0)
        return ready


def poll() -> Poll:
    """Return a cooperative polling object, like :func:`select.poll`."""
    return Poll()


class DefaultSelector(_coselectors.DefaultSelector):
    """corolib's default selector, whose ``select`` yields as :func:`select` does."""

    def select(self, timeout: float | None = None) -> Any:
        """``[(key, events)]`` for the ready fds, waiting up to ``timeout`` seconds."""
        ready = super().select(timeout)
        if ready and (timeout is None or timeout > 0):
            _sleep(0)
        return ready
