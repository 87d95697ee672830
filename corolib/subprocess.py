"""Cooperative child processes: a drop-in for the standard :mod:`subprocess` module.

Every public name of the stdlib module is here with the same value, except
:class:`Popen` and the functions built on it (:func:`call`,
:func:`check_call`, :func:`check_output`, :func:`run`,
:func:`getstatusoutput`, :func:`getoutput`), which wait for the child and
its pipes by parking the calling greenlet instead of blocking the thread.

How it waits.  Spawning is the stdlib's own (``fork_exec``/``posix_spawn``,
same arguments, same errors).  Right after the spawn, :class:`Popen` opens a
pidfd for the child (``os.pidfd_open``, Linux 5.3+); ``wait()`` parks on
it in the hub until the child exits, then reaps it with ``waitpid(WNOHANG)``.
Where pidfds are not available, it polls ``waitpid(WNOHANG)``, sleeping
cooperatively between tries (from 0.5 ms, doubling, up to 50 ms).  No
``SIGCHLD`` handler is installed.  The pipes (``stdin``/``stdout``/
``stderr`` with ``PIPE``) are file objects on :class:`PipeIO`, which waits
for the pipe to be ready in the hub before each read or write; the fds stay
in blocking mode, so a pipe handed on to another child (a pipeline) works
as it does with the stdlib.  ``communicate()`` multiplexes the pipes
through a cooperative selector.

The stdlib's own code is reused where it can be: ``Popen.__init__``,
``_communicate`` and the module functions are the stdlib's functions bound
to this module's globals (so they create :class:`PipeIO` pipes, use the
cooperative selector and this :class:`Popen`).

Switch points: ``Popen.wait``, ``communicate`` and reading or writing its
pipes when they are not ready; ``call``, ``check_call``, ``check_output``,
``run``, ``getstatusoutput``, ``getoutput`` (they wait).  ``Popen()`` itself
and ``poll()`` never switch (``Popen()`` briefly blocks until the child has
exec'd, as the stdlib does).
"""

from __future__ import annotations

import io as _io
import os as _os
import subprocess as _stdsubprocess
import warnings as _warnings
from collections.abc import Callable
from time import monotonic as _monotonic
from types import FunctionType, SimpleNamespace
from typing import Any

from corolib._core import (
    WaitQueue,
    get_hub as _get_hub,
    getcurrent as _getcurrent,
    greenlet as _greenlet,
    sleep as _sleep,
    wait_readable as _wait_readable,
    wait_writable as _wait_writable,
)
from corolib._socket_common import forget_fd as _forget_fd
from corolib.selectors import PollSelector as _CoopSelector

_REPLACED = frozenset(
    {"Popen", "call", "check_call", "check_output", "run", "getstatusoutput", "getoutput"}
)

__all__ = list(_stdsubprocess.__all__)
globals().update({name: getattr(_stdsubprocess, name) for name in __all__ if name not in _REPLACED})


def __getattr__(name: str) -> Any:
    """Any other public attribute of the stdlib :mod:`subprocess` module."""
    if not name.startswith("_"):
        try:
            return getattr(_stdsubprocess, name)
        except AttributeError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_TimeoutExpired = _stdsubprocess.TimeoutExpired
_PIPE_BUF: int = getattr(_stdsubprocess, "_PIPE_BUF", 512)
_pidfd_open: Callable[[int], int] | None = getattr(_os, "pidfd_open", None)
_WNOHANG = _os.WNOHANG


# ---- pipes ---------------------------------------------------------------------------


class PipeIO(_io.RawIOBase):
    """A raw file on one end of a pipe that waits in the hub, not in ``read``/``write``.

    The fd stays in blocking mode: each read first waits until the pipe is
    readable (then the read returns what is there at once), each write
    until it is writable and writes at most ``PIPE_BUF`` bytes (which then
    never blocks).  Closing it wakes greenlets waiting on it (EBADF) first.
    """

    def __init__(self, fd: int, mode: str) -> None:
        super().__init__()
        self._fd = fd
        self._readable = "r" in mode
        self.mode = mode
        #: greenlets inside readinto/write, and a queue to wait for them to leave
        self._users: list[Any] = []
        self._idle: WaitQueue | None = None

    @property
    def name(self) -> int:
        """The fd, as ``io.FileIO`` reports for a file opened from an fd."""
        return self._fd

    @property
    def closefd(self) -> bool:
        """Always True: closing the file closes the fd."""
        return True

    def fileno(self) -> int:
        """The pipe's fd."""
        self._checkClosed()
        return self._fd

    def readable(self) -> bool:
        """True for the read end."""
        self._checkClosed()
        return self._readable

    def writable(self) -> bool:
        """True for the write end."""
        self._checkClosed()
        return not self._readable

    def isatty(self) -> bool:
        """Return False: a pipe is not a terminal."""
        self._checkClosed()
        return False

    def readinto(self, buffer: Any) -> int:
        """Wait until readable, then read what is there (0 at end of file)."""
        fd = self.fileno()
        if not self._readable:
            raise _io.UnsupportedOperation("File not open for reading")
        with memoryview(buffer) as view, view.cast("B") as octets:
            if not octets:
                return 0
            self._enter()
            try:
                _wait_readable(fd)
                return _os.readv(fd, [octets])
            finally:
                self._leave()

    def write(self, data: Any) -> int:
        """Wait until writable, then write up to ``PIPE_BUF`` bytes; return how many."""
        fd = self.fileno()
        if self._readable:
            raise _io.UnsupportedOperation("File not open for writing")
        with memoryview(data) as view, view.cast("B") as octets:
            if not octets:
                return 0
            self._enter()
            try:
                _wait_writable(fd)
                return _os.write(fd, octets[:_PIPE_BUF])
            finally:
                self._leave()

    def _enter(self) -> None:
        self._users.append(_getcurrent())

    def _leave(self) -> None:
        self._users.remove(_getcurrent())
        if not self._users and self._idle:
            self._idle.wake_all()

    def wait_idle(self) -> bool:
        """Wait until no other greenlet is inside a read or write of this pipe.

        Returns False at once if the caller itself is (a re-entrant call).
        """
        while self._users:
            if _getcurrent() in self._users:
                return False
            if self._idle is None:
                self._idle = WaitQueue()
            self._idle.wait()
        return True

    def close(self) -> None:
        """Close the fd (waking its waiters with EBADF first)."""
        if not self.closed:
            fd = self._fd
            try:
                super().close()
            finally:
                _forget_fd(fd)
                _os.close(fd)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.PipeIO fd={self._fd} mode={self.mode!r}>"


def _open_pipe(fd: int, mode: str, buffering: int = -1) -> Any:
    """``io.open(fd, mode, buffering)`` for a pipe end, on :class:`PipeIO`."""
    if buffering == 1:
        _warnings.warn(
            "line buffering (buffering=1) isn't supported in binary mode, "
            "the default buffer size will be used",
            RuntimeWarning,
            2,
        )
    raw = PipeIO(fd, mode)
    if buffering == 0:
        return raw
    size = _io.DEFAULT_BUFFER_SIZE if buffering < 0 or buffering == 1 else buffering
    if raw.readable():
        return _PipeReader(raw, size)
    return _PipeWriter(raw, size)


def _close_buffered(close: Callable[[Any], None], f: Any) -> None:
    """Close a buffered pipe file, first waiting for a greenlet busy reading or writing it.

    Closing a buffered file takes its lock; with threads, ``close()`` waits
    for a read in progress in another thread.  Greenlets share the thread,
    so the lock reports a "reentrant call" instead: wait for the other
    greenlet to leave the pipe, as a thread would, then close.
    """
    while True:
        try:
            close(f)
            return
        except RuntimeError as exc:
            if "reentrant" not in str(exc) or not f.raw.wait_idle():
                raise


class _PipeReader(_io.BufferedReader):
    """``io.BufferedReader`` on a :class:`PipeIO` whose ``close`` waits for a reader."""

    def close(self) -> None:
        """Close it, once no other greenlet is reading it."""
        _close_buffered(_io.BufferedReader.close, self)


class _PipeWriter(_io.BufferedWriter):
    """``io.BufferedWriter`` on a :class:`PipeIO` whose ``close`` waits for a writer."""

    def close(self) -> None:
        """Flush and close it, once no other greenlet is writing it."""
        _close_buffered(_io.BufferedWriter.close, self)


#: what the stdlib's Popen.__init__ sees as ``io``
_pipe_io = SimpleNamespace(open=_open_pipe, TextIOWrapper=_io.TextIOWrapper)


# ---- the stdlib's code, bound to this module's names ------------------------------------

_globals: dict[str, Any] = dict(vars(_stdsubprocess))
_globals.update(io=_pipe_io, _PopenSelector=_CoopSelector)


def _rebind(function: Any) -> Any:
    """A copy of a stdlib function that looks up its globals in ``_globals``."""
    copy = FunctionType(
        function.__code__, _globals, function.__name__, function.__defaults__, function.__closure__
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    copy.__doc__ = function.__doc__
    copy.__module__ = __name__
    return copy


class Popen(_stdsubprocess.Popen):  # type: ignore[type-arg]
    """The stdlib's ``Popen``, waiting cooperatively (see the module docstring).

    Same arguments, attributes and behaviour; ``wait``, ``communicate`` and
    the pipes park the calling greenlet instead of blocking the thread.
    """

    __init__ = _rebind(_stdsubprocess.Popen.__init__)
    _communicate = _rebind(getattr(_stdsubprocess.Popen, "_communicate"))  # noqa: B009

    _pidfd = -1

    def _execute_child(self, *args: Any, **kwargs: Any) -> None:
        super()._execute_child(*args, **kwargs)  # type: ignore[misc]
        # Before anything can reap the child: the pidfd then surely refers to it.
        if _pidfd_open is not None:
            try:
                self._pidfd = _pidfd_open(self.pid)
            except OSError:
                self._pidfd = -1

    def _close_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, -1
        if fd >= 0:
            _forget_fd(fd)
            _os.close(fd)

    def _handle_exitstatus(self, *args: Any, **kwargs: Any) -> None:
        super()._handle_exitstatus(*args, **kwargs)  # type: ignore[misc]
        self._close_pidfd()

    def __del__(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "returncode", None) is not None:
            self._close_pidfd()
        super().__del__(*args, **kwargs)

    # -- gevent's link protocol: corolib.wait([popen, ...]) and iwait ----------

    def ready(self) -> bool:
        """Tell whether the child has exited (reaping it if so; never switches)."""
        return self.poll() is not None

    def rawlink(self, callback: Callable[[Any], object]) -> None:
        """Call ``callback(self)`` in the hub once the child has exited."""
        if not callable(callback):
            raise TypeError(f"Expected callable: {callback!r}")
        links = self.__dict__.setdefault("_corolib_links", [])
        links.append(callback)
        if self.ready():
            _get_hub().run_callback(self._notify_links)
        elif self.__dict__.get("_corolib_watcher") is None:
            hub = _get_hub()
            watcher = self.__dict__["_corolib_watcher"] = _greenlet(self._watch_exit, hub)
            hub.start_greenlet(watcher)

    def unlink(self, callback: Callable[[Any], object]) -> None:
        """Forget ``callback``; the last one gone stops the watch."""
        links = self.__dict__.get("_corolib_links")
        if links:
            links[:] = [cb for cb in links if cb != callback]

    def _watch_exit(self) -> None:
        try:
            while self.__dict__.get("_corolib_links") and not self.ready():
                # Wake at least every 50 ms to notice every link was removed.
                try:
                    self._wait(0.05)
                except _TimeoutExpired:
                    pass
        finally:
            self.__dict__["_corolib_watcher"] = None
        if self.returncode is not None:
            self._notify_links()

    def _notify_links(self) -> None:
        links = self.__dict__.get("_corolib_links")
        hub: Any = _get_hub()
        while links:
            callback = links.pop(0)
            try:
                callback(self)
            except BaseException as exc:  # noqa: BLE001 - reported, never lost
                hub.handle_error((callback, self), type(exc), exc, exc.__traceback__)

    def _wait(self, timeout: float | None) -> int:
        """Wait for the child to exit (cooperatively); set and return ``returncode``."""
        me: Any = self  # the stdlib's private attributes are not in the stubs
        if self.returncode is not None:
            return self.returncode
        deadline = None if timeout is None else _monotonic() + timeout
        delay = 0.0005
        while True:
            if me._waitpid_lock.acquire(False):
                try:
                    if self.returncode is not None:
                        break  # another greenlet (or thread) reaped it
                    pid, sts = me._try_wait(_WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(sts)
                        break
                finally:
                    me._waitpid_lock.release()
            remaining = None if deadline is None else deadline - _monotonic()
            if remaining is not None and timeout is not None and remaining <= 0:
                raise _TimeoutExpired(self.args, timeout)
            if self._pidfd >= 0:
                try:
                    _wait_readable(self._pidfd, remaining)
                except OSError:
                    self._close_pidfd()  # closed under us: fall back to polling
                continue
            delay = min(delay * 2, 0.05)
            _sleep(delay if remaining is None else min(delay, remaining))
        return me.returncode  # type: ignore[no-any-return]


_globals["Popen"] = Popen

call = _rebind(_stdsubprocess.call)
check_call = _rebind(_stdsubprocess.check_call)
check_output = _rebind(_stdsubprocess.check_output)
run = _rebind(_stdsubprocess.run)
getstatusoutput = _rebind(_stdsubprocess.getstatusoutput)
getoutput = _rebind(_stdsubprocess.getoutput)
for _name in ("call", "check_call", "check_output", "run", "getstatusoutput", "getoutput"):
    _globals[_name] = globals()[_name]
del _name
