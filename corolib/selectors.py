"""Cooperative selectors: a drop-in for the standard :mod:`selectors` module.

``DefaultSelector`` is :class:`HubSelector`: the stdlib's ``EpollSelector``
(same registration rules, keys, errors and results) whose waiting parks the
calling greenlet on the epoll fd through the hub -- one park however many
fds are registered -- and which, like the select/poll based selectors and
the kernel's select/poll, treats regular files (which epoll refuses) as
always ready instead of raising ``PermissionError``.

``EpollSelector``, ``PollSelector`` and ``SelectSelector`` are the stdlib
classes made cooperative and otherwise unchanged (``EpollSelector`` still
refuses regular files, as the stdlib's does).  ``BaseSelector``,
``SelectorKey``, ``EVENT_READ`` and ``EVENT_WRITE`` are the stdlib's.

Switch points: ``select()`` of every selector here, when nothing is ready
and the timeout is not zero; the waiting is :mod:`corolib.select`'s, which
goes through ``corolib._socket_common.wait_fd``.  Registration never
switches.
"""

from __future__ import annotations

import errno as _errno
import selectors as _stdselectors
from typing import Any

from corolib import select as _select

__all__ = [
    "EVENT_READ",
    "EVENT_WRITE",
    "BaseSelector",
    "SelectorKey",
    "SelectSelector",
    "PollSelector",
    "EpollSelector",
    "HubSelector",
    "DefaultSelector",
]

EVENT_READ = _stdselectors.EVENT_READ
EVENT_WRITE = _stdselectors.EVENT_WRITE
BaseSelector = _stdselectors.BaseSelector
SelectorKey = _stdselectors.SelectorKey

_ALWAYS_READY = _select.EPOLLIN | _select.EPOLLOUT | _select.EPOLLRDNORM | _select.EPOLLWRNORM


class SelectSelector(_stdselectors.SelectSelector):
    """The stdlib's select()-based selector, waiting cooperatively."""

    _select = staticmethod(_select.select)


class PollSelector(_stdselectors.PollSelector):
    """The stdlib's poll()-based selector, waiting cooperatively."""

    _selector_cls = staticmethod(_select.poll)


class EpollSelector(_stdselectors.EpollSelector):
    """The stdlib's epoll-based selector, waiting cooperatively (regular files refused)."""

    _selector_cls = _select.epoll


class _FileFriendlyEpoll(_select.epoll):
    """A cooperative epoll that keeps regular files aside as always ready.

    epoll refuses fds it cannot poll (EPERM: regular files, directories,
    some devices); select and poll report those as always readable and
    writable, and so does this.
    """

    __slots__ = ("_files",)

    def __init__(self, sizehint: int = -1, flags: int = 0) -> None:
        super().__init__(sizehint, flags)
        self._files: dict[int, int] = {}

    def register(self, fd: Any, eventmask: int = _ALWAYS_READY) -> None:
        """Watch ``fd``; a regular file is remembered as always ready."""
        try:
            super().register(fd, eventmask)
        except PermissionError as exc:
            if exc.errno != _errno.EPERM:
                raise
            self._files[_select_fd(fd)] = eventmask

    def modify(self, fd: Any, eventmask: int) -> None:
        """Change the events watched for ``fd``."""
        number = _select_fd(fd)
        if number in self._files:
            self._files[number] = eventmask
        else:
            super().modify(fd, eventmask)

    def unregister(self, fd: Any) -> None:
        """Stop watching ``fd``."""
        if self._files.pop(_select_fd(fd), None) is None:
            super().unregister(fd)

    def poll(self, timeout: float | None = None, maxevents: int = -1) -> list[tuple[int, int]]:
        """Ready regular files at once, with whatever else is ready; else wait."""
        if not self._files:
            return super().poll(timeout, maxevents)
        files = [
            (fd, mask & _ALWAYS_READY) for fd, mask in self._files.items() if mask & _ALWAYS_READY
        ]
        if not files:
            return super().poll(timeout, maxevents)
        if maxevents > 0 and len(files) >= maxevents:
            return files[:maxevents]
        more = super().poll(0, maxevents - len(files) if maxevents > 0 else -1)
        return files + more


def _select_fd(fd: Any) -> int:
    number = fd if isinstance(fd, int) else fd.fileno()
    return int(number)


class HubSelector(EpollSelector):
    """The default selector: cooperative epoll, regular files always ready.

    A subclass of the stdlib's ``EpollSelector`` (so ``isinstance`` checks
    and every method behave the same); one park per ``select()`` whatever
    the number of registered fds.
    """

    _selector_cls = _FileFriendlyEpoll

    def select(self, timeout: float | None = None) -> list[tuple[SelectorKey, int]]:
        """Return ``[(key, events)]`` for the ready fds, waiting up to ``timeout`` seconds."""
        return super().select(timeout)


DefaultSelector = HubSelector

#: gevent's name for its default selector
GeventSelector = DefaultSelector
