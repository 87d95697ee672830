"""File objects that wait cooperatively: gevent's ``FileObjectPosix``/``FileObjectThread``.

- :class:`FileObjectPosix` wraps a pipe, socket or terminal fd: reads and
  writes park the greenlet in the hub until the fd is ready (the
  :class:`corolib.subprocess.PipeIO` raw file underneath), buffered and
  optionally text, like :func:`open`.  Not for regular files (always
  "ready", they would block the thread on a slow disk).
- :class:`FileObjectThread` runs every operation of any file object in the
  hub's thread pool: slower per call, works for everything, including
  regular files.
- :class:`FileObjectBlock` is the plain blocking file (for completeness).
- :data:`FileObject` is :class:`FileObjectPosix`, as gevent's default on POSIX.

Switch points: every read, write, flush and close that has to wait.
"""

from __future__ import annotations

import io
import os
from typing import IO, Any

from corolib.subprocess import PipeIO, _PipeReader, _PipeWriter
from corolib.threadpool import get_threadpool

__all__ = ["FileObjectPosix", "FileObjectThread", "FileObjectBlock", "FileObject"]


class FileObjectBase:
    """What the three share: the wrapped ``io`` object, delegated to."""

    _io: IO[Any]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._io, name)

    def __iter__(self) -> Any:
        return iter(self._io)

    def __enter__(self) -> FileObjectBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def io(self) -> IO[Any]:
        """The wrapped file object."""
        return self._io

    def close(self) -> None:
        """Close it (and the fd, if it owns it)."""
        self._io.close()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._io.closed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._io!r}>"


class FileObjectPosix(FileObjectBase):
    """A pipe, socket or tty fd (or a file object on one) whose I/O parks the greenlet.

    ``FileObjectPosix(fobj, mode='rb', bufsize=-1, close=True, encoding=None,
    errors=None, newline=None)``: ``fobj`` is an fd or has ``fileno()``;
    ``close=False`` leaves the fd open when this object is closed.
    """

    def __init__(
        self,
        fobj: Any,
        mode: str = "rb",
        bufsize: int = -1,
        close: bool = True,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> None:
        fd = fobj if isinstance(fobj, int) else fobj.fileno()
        if not close:
            fd = os.dup(fd)  # ours to close; the caller's fd stays open
        self.fileno_value = fd
        readable = "r" in mode or "+" in mode
        if "+" in mode or ("r" in mode and ("w" in mode or "a" in mode)):
            raise ValueError("FileObjectPosix is read-only or write-only (a pipe)")
        raw = PipeIO(fd, "rb" if readable else "wb")
        buffer: Any
        if bufsize == 0:
            buffer = raw
        else:
            size = io.DEFAULT_BUFFER_SIZE if bufsize < 0 or bufsize == 1 else bufsize
            buffer = _PipeReader(raw, size) if readable else _PipeWriter(raw, size)
        if "b" in mode:
            self._io = buffer
        else:
            self._io = io.TextIOWrapper(
                buffer,
                encoding=encoding,
                errors=errors,
                newline=newline,
                line_buffering=bufsize == 1,
                write_through=not readable and bufsize == 0,
            )

    def fileno(self) -> int:
        """The fd."""
        return self.fileno_value


class FileObjectThread(FileObjectBase):
    """Any file object (or fd, or path), each operation run in the hub's thread pool.

    ``FileObjectThread(fobj, mode='rb', bufsize=-1, close=True, ...)``: an
    fd or a path is opened with :func:`open` and those arguments.
    """

    def __init__(
        self,
        fobj: Any,
        mode: str = "rb",
        bufsize: int = -1,
        close: bool = True,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> None:
        if isinstance(fobj, (int, str, bytes, os.PathLike)):
            fobj = open(  # noqa: SIM115 - the object owns it
                fobj,
                mode,
                bufsize,
                encoding=encoding,
                errors=errors,
                newline=newline,
                closefd=close if isinstance(fobj, int) else True,
            )
        self._io = fobj
        self._close = close

    def _call(self, name: str, *args: Any) -> Any:
        return get_threadpool().spawn(getattr(self._io, name), *args).get()

    def read(self, size: int = -1) -> Any:
        """Read (in a pool thread)."""
        return self._call("read", size)

    def readline(self, size: int = -1) -> Any:
        """Read a line (in a pool thread)."""
        return self._call("readline", size)

    def readlines(self, hint: int = -1) -> Any:
        """Read the lines (in a pool thread)."""
        return self._call("readlines", hint)

    def readinto(self, buffer: Any) -> Any:
        """Read into ``buffer`` (in a pool thread)."""
        return self._call("readinto", buffer)

    def write(self, data: Any) -> Any:
        """Write (in a pool thread)."""
        return self._call("write", data)

    def writelines(self, lines: Any) -> Any:
        """Write the lines (in a pool thread)."""
        return self._call("writelines", list(lines))

    def flush(self) -> Any:
        """Flush (in a pool thread)."""
        return self._call("flush")

    def close(self) -> None:
        """Flush and close (in a pool thread) unless ``close=False``, then just flush."""
        if self._io.closed:
            return
        self._call("close" if self._close else "flush")

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class FileObjectBlock(FileObjectBase):
    """A plain blocking file object (gevent's ``FileObjectBlock``)."""

    def __init__(self, fobj: Any, mode: str = "rb", bufsize: int = -1, close: bool = True) -> None:
        if isinstance(fobj, int):
            fobj = open(fobj, mode, bufsize, closefd=close)  # noqa: SIM115
        self._io = fobj


#: gevent's default on POSIX
FileObject = FileObjectPosix
