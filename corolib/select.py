"""Cooperative ``select``, ``poll`` and ``epoll``: a drop-in for the standard :mod:`select` module.

Every public name of the stdlib module is here with the same value, except
:func:`select`, :func:`poll` and :class:`epoll`, which wait by parking the
calling greenlet instead of blocking the thread.

How they wait.  The answer always comes from the real system call with a
zero timeout -- so results, errors and corner cases (regular files always
ready, ``POLLNVAL`` for a closed fd, ``FD_SETSIZE`` for ``select``) are the
kernel's and the stdlib's.  Only when that first try finds nothing ready and
the timeout allows waiting does the greenlet park, and it parks *once*, on
a single fd, however many fds it watches: a private epoll instance holding
the watched fds (the kernel multiplexes; an epoll fd is readable when any fd
in it is ready).  On wake-up the real call is made again, with a zero
timeout.  The wait goes through :func:`corolib._socket_common.wait_fd`, and
the private epoll's fd through ``forget_fd`` before it is closed.

- ``select()`` builds a private epoll only when it has to wait, registering
  each fd edge-triggered: it wakes on new readiness only, so an fd that
  epoll reports but ``select`` does not (a hung-up fd only in ``xlist``)
  cannot make it spin.
- ``poll()`` objects keep a real ``select.poll`` object (the answers) and,
  from their first wait on, a private edge-triggered epoll in step with it.
- ``epoll`` wraps a real ``select.epoll`` (whose type cannot be subclassed)
  and waits on its own fd: its results are exactly the kernel's, level- or
  edge-triggered as registered.

Switch points: ``select()``, ``poll.poll()`` and ``epoll.poll()`` switch
when, and only when, the first try finds nothing ready and the timeout is
not zero.  Registration methods never switch.

Limits: a ``poll`` object watches the file an fd number referred to when
it was registered (epoll's rule); if that fd is closed and the number reused
while still registered, ``poll()`` still answers for the new file but may
not wake for it until something else wakes it or the timeout passes.
"""

from __future__ import annotations

import errno as _errno
import math as _math
import select as _stdselect
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from corolib._socket_common import (
    deadline_after,
    fd_of,
    forget_fd,
    parse_seconds,
    wait_fd,
)

_REPLACED = frozenset({"select", "poll", "epoll"})

__all__ = sorted(name for name in dir(_stdselect) if not name.startswith("_"))
globals().update({name: getattr(_stdselect, name) for name in __all__ if name not in _REPLACED})


def __getattr__(name: str) -> Any:
    """Any other public attribute of the stdlib :mod:`select` module."""
    if not name.startswith("_"):
        try:
            return getattr(_stdselect, name)
        except AttributeError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_std_select = _stdselect.select
_std_poll = _stdselect.poll
_std_epoll = _stdselect.epoll
_EPOLLIN = _stdselect.EPOLLIN
_EPOLLOUT = _stdselect.EPOLLOUT
_EPOLLPRI = _stdselect.EPOLLPRI
_EPOLLET = _stdselect.EPOLLET
_POLL_DEFAULT = _stdselect.POLLIN | _stdselect.POLLPRI | _stdselect.POLLOUT


def _ms_to_seconds(timeout: object) -> float | None:
    """Convert a poll() timeout in milliseconds, validated like the stdlib (None: no limit)."""
    if timeout is None:
        return None
    if isinstance(timeout, float):
        if _math.isnan(timeout):
            raise ValueError("Invalid value NaN (not a number)")
        ms: float = timeout
    else:
        try:
            ms = timeout.__index__()  # type: ignore[attr-defined]
        except AttributeError:
            raise TypeError("timeout must be an integer or None") from None
    if ms < 0:
        return None
    return _math.ceil(ms) / 1000.0


def _register_et(ep: Any, fd: int, events: int) -> None:
    """Register ``fd`` edge-triggered in a private epoll; skip what epoll cannot watch.

    Regular files (EPERM) are always ready and closed fds (EBADF) are
    reported by the real call, so neither ever needs waiting for.
    """
    try:
        ep.register(fd, events | _EPOLLET)
    except FileExistsError:
        ep.modify(fd, events | _EPOLLET)
    except OSError as exc:
        if exc.errno not in (_errno.EPERM, _errno.EBADF):
            raise


def _close_private(ep: Any) -> None:
    if not ep.closed:
        forget_fd(ep.fileno())
        ep.close()


def select(
    rlist: Iterable[Any],
    wlist: Iterable[Any],
    xlist: Iterable[Any],
    timeout: float | None = None,
) -> tuple[list[Any], list[Any], list[Any]]:
    """Wait until one or more of the objects (fds or objects with ``fileno()``) is ready.

    Exactly :func:`select.select`: ``(readable, writable, exceptional)``
    lists of the objects given; empty lists when ``timeout`` seconds pass.
    """
    seconds = parse_seconds(
        timeout, "timeout must be a float or None", "timeout must be non-negative"
    )
    try:  # a snapshot, as the stdlib takes (it accepts any iterable)
        rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)
    except TypeError:
        raise TypeError("arguments 1-3 must be sequences") from None
    ready = _std_select(rlist, wlist, xlist, 0)
    if ready[0] or ready[1] or ready[2] or seconds == 0:
        return ready
    deadline = deadline_after(seconds)
    masks: dict[int, int] = {}
    for objs, bit in ((rlist, _EPOLLIN), (wlist, _EPOLLOUT), (xlist, _EPOLLPRI)):
        for obj in objs:
            fd = fd_of(obj)
            masks[fd] = masks.get(fd, 0) | bit
    ep = _std_epoll(max(len(masks), 1))
    try:
        for fd, mask in masks.items():
            _register_et(ep, fd, mask)
        while True:
            if not wait_fd(ep.fileno(), False, deadline):
                return [], [], []
            ep.poll(0)  # consume the edges, so the epoll fd quiets down
            ready = _std_select(rlist, wlist, xlist, 0)
            if ready[0] or ready[1] or ready[2]:
                return ready
    finally:
        _close_private(ep)


class _Poll:
    """A cooperative ``select.poll`` object (make one with :func:`poll`).

    ``register``/``modify``/``unregister`` as in the stdlib; ``poll(timeout)``
    takes milliseconds (None or negative: no limit) and returns
    ``[(fd, events), ...]``.
    """

    __slots__ = ("_poll", "_masks", "_epoll", "_polling", "__weakref__")

    def __init__(self) -> None:
        self._poll = _std_poll()
        self._masks: dict[int, int] = {}
        self._epoll: Any = None
        self._polling = False

    def register(self, fd: Any, eventmask: int = _POLL_DEFAULT, /) -> None:
        """Watch ``fd`` for ``eventmask`` (POLLIN|POLLPRI|POLLOUT by default)."""
        self._poll.register(fd, eventmask)
        fd = fd_of(fd)
        self._masks[fd] = eventmask & 0xFFFF
        if self._epoll is not None:
            _register_et(self._epoll, fd, self._masks[fd])

    def modify(self, fd: Any, eventmask: int, /) -> None:
        """Change the events watched for a registered ``fd``."""
        self._poll.modify(fd, eventmask)
        fd = fd_of(fd)
        self._masks[fd] = eventmask & 0xFFFF
        if self._epoll is not None:
            _register_et(self._epoll, fd, self._masks[fd])

    def unregister(self, fd: Any, /) -> None:
        """Stop watching ``fd`` (KeyError if it was not registered)."""
        self._poll.unregister(fd)
        fd = fd_of(fd)
        del self._masks[fd]
        if self._epoll is not None:
            try:
                self._epoll.unregister(fd)
            except OSError:
                pass  # closed meanwhile, or never watchable

    def poll(self, timeout: float | None = None, /) -> list[tuple[int, int]]:
        """``[(fd, events)]`` for the ready fds; waits up to ``timeout`` milliseconds."""
        seconds = _ms_to_seconds(timeout)
        if self._polling:
            raise RuntimeError("concurrent poll() invocation")
        self._polling = True
        try:
            ready = self._poll.poll(0)
            if ready or seconds == 0:
                return ready
            deadline = deadline_after(seconds)
            ep = self._private_epoll()
            while True:
                if not wait_fd(ep.fileno(), False, deadline):
                    return []
                ep.poll(0)
                ready = self._poll.poll(0)
                if ready:
                    return ready
        finally:
            self._polling = False

    def _private_epoll(self) -> Any:
        if self._epoll is None:
            ep = _std_epoll()
            for fd, mask in self._masks.items():
                _register_et(ep, fd, mask)
            self._epoll = ep
        return self._epoll

    def __del__(self) -> None:
        ep = self._epoll
        if ep is not None:
            try:
                _close_private(ep)
            except Exception:  # noqa: BLE001, S110 - never raise from a finalizer
                pass


def poll() -> _Poll:
    """Return a cooperative polling object, like :func:`select.poll`."""
    return _Poll()


class epoll:
    """A cooperative ``select.epoll``: the real one, with a ``poll`` that parks.

    ``epoll(sizehint=-1, flags=0)``.  Registration, results and
    level/edge-triggered semantics are the kernel's; ``poll(timeout=None,
    maxevents=-1)`` tries ``epoll_wait`` with a zero timeout and, if nothing
    is ready, parks the greenlet on the epoll fd itself.
    """

    __slots__ = ("_epoll", "__weakref__")

    def __init__(self, sizehint: int = -1, flags: int = 0) -> None:
        self._epoll = _std_epoll(sizehint, flags)

    @classmethod
    def fromfd(cls, fd: int, /) -> epoll:
        """Return an epoll object taking over the epoll fd ``fd``."""
        self = cls.__new__(cls)
        self._epoll = _std_epoll.fromfd(fd)
        return self

    @property
    def closed(self) -> bool:
        """Tell whether it is closed."""
        return self._epoll.closed

    def fileno(self) -> int:
        """Return the epoll fd."""
        return self._epoll.fileno()

    def close(self) -> None:
        """Close the epoll fd (waiters in ``poll`` get EBADF)."""
        _close_private(self._epoll)

    def register(self, fd: Any, eventmask: int = _EPOLLIN | _EPOLLPRI | _EPOLLOUT) -> None:
        """Watch ``fd`` for ``eventmask``."""
        self._epoll.register(fd, eventmask)

    def modify(self, fd: Any, eventmask: int) -> None:
        """Change the events watched for ``fd``."""
        self._epoll.modify(fd, eventmask)

    def unregister(self, fd: Any) -> None:
        """Stop watching ``fd``."""
        self._epoll.unregister(fd)

    def poll(self, timeout: float | None = None, maxevents: int = -1) -> list[tuple[int, int]]:
        """``[(fd, events)]``; waits up to ``timeout`` seconds (None or negative: no limit)."""
        seconds = parse_seconds(timeout, "timeout must be an integer or None", None)
        ready = self._epoll.poll(0, maxevents)
        if ready or seconds == 0:
            return ready
        deadline = deadline_after(seconds)
        while True:
            if not wait_fd(self._epoll.fileno(), False, deadline):
                return []
            ready = self._epoll.poll(0, maxevents)
            if ready:
                return ready

    def __enter__(self) -> epoll:
        if self._epoll.closed:
            raise ValueError("I/O operation on closed epoll object")
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            ep = self._epoll
        except AttributeError:
            return
        try:
            if not ep.closed:
                forget_fd(ep.fileno())
        except Exception:  # noqa: BLE001, S110 - never raise from a finalizer
            pass
