"""Cooperative process waiting and pipe reading: ``waitpid``, ``wait``, ``read``.

Every public name of the stdlib :mod:`os` module is available here with the
same value (looked up on demand), except :func:`waitpid` and :func:`wait`,
which park the calling greenlet until a child changes state instead of
blocking the thread, and :func:`read`, which parks it while a pipe, socket
or terminal in blocking mode has nothing to read (so that the green thread
at the other end of a pipe gets to run).  ``write`` stays the stdlib's: a
blocking write to a pipe must write everything, and may block for that.
``fork`` is the stdlib's: corolib re-initialises the hub in the child
whatever function forks (``os.register_at_fork``).

How they wait: ``waitpid(pid, 0)`` for a specific child watches a pidfd of
it (``os.pidfd_open``, Linux 5.3+) in the hub, then reaps it with
``WNOHANG``; any other request (``pid`` <= 0, ``WUNTRACED``/``WCONTINUED``,
no pidfd support) polls with ``WNOHANG``, sleeping cooperatively in
between (from 0.5 ms, doubling, up to 50 ms).  Results and errors are the
real ``waitpid``'s.  No ``SIGCHLD`` handler is involved.

Switch points: :func:`waitpid` and :func:`wait` when no child is ready to
be reaped (never with ``WNOHANG``); :func:`read` when the fd is in
blocking mode and has nothing to read (never for regular files, which are
always ready, nor for fds in non-blocking mode, which keep raising
``BlockingIOError``).
"""

from __future__ import annotations

import importlib
import os as _stdos
import select as _stdselect
from collections.abc import Callable
from typing import Any

from corolib._core import (
    sleep as _sleep,
    wait_readable as _wait_readable,
    wait_writable as _wait_writable,
)
from corolib._socket_common import forget_fd as _forget_fd
from corolib.select import _std_poll

__all__ = ["waitpid", "wait", "fork", "read"]

_waitpid = _stdos.waitpid
_pidfd_open: Callable[[int], int] | None = getattr(_stdos, "pidfd_open", None)
_WNOHANG = _stdos.WNOHANG
#: options under which a pidfd does not tell when waitpid would return
_NOT_EXIT_ONLY = getattr(_stdos, "WUNTRACED", 0) | getattr(_stdos, "WCONTINUED", 0)

fork = _stdos.fork
_read = _stdos.read
_get_blocking = _stdos.get_blocking
_POLLIN = _stdselect.POLLIN


def __getattr__(name: str) -> Any:
    """Any other public attribute of the stdlib :mod:`os` module."""
    if not name.startswith("_"):
        try:
            return getattr(_stdos, name)
        except AttributeError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def waitpid(pid: int, options: int, /) -> tuple[int, int]:
    """``os.waitpid`` that parks the greenlet instead of blocking the thread.

    Same arguments, results and errors (``ChildProcessError`` when there is
    no such child).  With ``WNOHANG`` it is the real call.
    """
    if options & _WNOHANG:
        return _waitpid(pid, options)
    result = _waitpid(pid, options | _WNOHANG)
    if result[0] != 0:
        return result
    if pid > 0 and not options & _NOT_EXIT_ONLY and _pidfd_open is not None:
        try:
            fd = _pidfd_open(pid)
        except OSError:
            fd = -1  # gone already, or no pidfd support: the loop below finds out
        if fd >= 0:
            try:
                while True:
                    _wait_readable(fd)
                    result = _waitpid(pid, options | _WNOHANG)
                    if result[0] != 0:
                        return result
            finally:
                _forget_fd(fd)
                _stdos.close(fd)
    delay = 0.0005
    while True:
        _sleep(delay)
        delay = min(delay * 2, 0.05)
        result = _waitpid(pid, options | _WNOHANG)
        if result[0] != 0:
            return result


def wait() -> tuple[int, int]:
    """``os.wait``: wait for any child; ``(pid, status)``."""
    return waitpid(-1, 0)


def _would_block(fd: int, events: int) -> bool:
    """Tell whether a read on ``fd`` would block the thread now."""
    poll = _std_poll()
    poll.register(fd, events)
    if poll.poll(0):
        return False  # ready, or an error the call itself will report
    return _get_blocking(fd)  # non-blocking: the call raises BlockingIOError


def read(fd: int, length: int, /) -> bytes:
    """``os.read`` that parks the greenlet while a blocking fd has nothing to read.

    Same arguments, results and errors as the stdlib's.
    """
    while _would_block(fd, _POLLIN):
        _wait_readable(fd)
    return _read(fd, length)


# ---- gevent's fd helpers ------------------------------------------------------------


def make_nonblocking(fd: int) -> bool:
    """Put ``fd`` in non-blocking mode; True if it was blocking (gevent's helper)."""
    if _stdos.get_blocking(fd):
        _stdos.set_blocking(fd, False)
        return True
    return False


def nb_read(fd: int, n: int) -> bytes:
    """Read up to ``n`` bytes from ``fd``, parking until it is readable.

    ``fd`` should be non-blocking (:func:`make_nonblocking`); for a blocking
    fd the read itself could still block after the readiness wait.
    """
    while True:
        try:
            return _stdos.read(fd, n)
        except BlockingIOError:
            pass
        _wait_readable(fd)


def nb_write(fd: int, data: Any) -> int:
    """Write ``data`` to ``fd``, parking until it is writable; return bytes written."""
    while True:
        try:
            return _stdos.write(fd, data)
        except BlockingIOError:
            pass
        _wait_writable(fd)


def tp_read(fd: int, n: int) -> bytes:
    """Read up to ``n`` bytes from ``fd`` in the hub's thread pool (any file, even regular)."""
    data: bytes = _threadpool().spawn(_stdos.read, fd, n).get()
    return data


def tp_write(fd: int, data: Any) -> int:
    """Write ``data`` to ``fd`` in the hub's thread pool; return bytes written."""
    written: int = _threadpool().spawn(_stdos.write, fd, data).get()
    return written


def _threadpool() -> Any:
    # Imported on use: the thread pool sits above this module's layer.
    return importlib.import_module("corolib.threadpool").get_threadpool()


#: gevent's names: corolib re-initialises the hub after any fork, and its
#: waitpid() waits cooperatively for any child, so these are plain fork.
fork_gevent = fork_and_watch = fork
__all__ += ["fork_gevent", "fork_and_watch"]

if hasattr(_stdos, "forkpty"):
    forkpty = _stdos.forkpty  # the hub is re-initialised in the child (register_at_fork)
    forkpty_gevent = forkpty_and_watch = forkpty
    __all__ += ["forkpty", "forkpty_gevent", "forkpty_and_watch"]

__all__ += ["make_nonblocking", "nb_read", "nb_write", "tp_read", "tp_write"]
