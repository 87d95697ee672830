"""What corolib.pywsgi's handler and server share (no I/O of its own).

The request record, ``wsgi.input``, ``wsgi.file_wrapper``, the log adapter,
the errors and small helpers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corolib.pywsgi import WSGIHandler

_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}

#: Fields that must not come as trailers (RFC 9110 6.5.1); trailers are never used anyway.
_FORBIDDEN_TRAILERS = frozenset(
    b"host content-length transfer-encoding trailer authorization te content-type "
    b"content-encoding content-range cache-control expect max-forwards pragma range "
    b"set-cookie cookie www-authenticate proxy-authenticate proxy-authorization "
    b"connection keep-alive upgrade".split()
)
#: Header name (as received, any case) -> environ key; filled as names are seen.
_ENVIRON_KEYS: dict[bytes, str | None] = {}
_ENVIRON_KEYS_MAX = 4096


def _environ_key(name: bytes) -> str | None:
    """The environ key of a header name, or None to drop it (names with ``_``)."""
    key = _ENVIRON_KEYS.get(name)
    if key is not None or name in _ENVIRON_KEYS:
        return key
    text = name.decode("latin-1").upper()
    if "_" in text:
        key = None
    elif text == "CONTENT-TYPE":
        key = "CONTENT_TYPE"
    elif text == "CONTENT-LENGTH":
        key = "CONTENT_LENGTH"
    else:
        key = "HTTP_" + text.replace("-", "_")
    if len(_ENVIRON_KEYS) < _ENVIRON_KEYS_MAX:
        _ENVIRON_KEYS[name] = key
    return key


class _HTTPError(Exception):
    """A request the server refuses: answered with ``code`` and the connection closed."""

    def __init__(self, code: int, reason: str) -> None:
        Exception.__init__(self, code, reason)
        self.code = code
        self.reason = reason


class _ClientGone(Exception):
    """The client went away (or stalled past ``io_timeout``) while we wrote to it."""


_date_cache: list[Any] = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True)
    return _date_cache[1]  # type: ignore[no-any-return]


class _Request:
    """One request as the parser delivered it (headers, body bytes so far, state)."""

    __slots__ = (
        "url",
        "headers",
        "header_size",
        "headers_done",
        "complete",
        "body",
        "body_received",
        "content_length",
        "chunked",
        "expect_continue",
        "continue_sent",
        "discard",
        "method",
        "version",
        "keep_alive",
        "host_seen",
        "failed",
        "head_bytes",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_size = 0
        self.headers_done = False
        self.complete = False
        self.body = bytearray()
        self.body_received = 0
        self.content_length: int | None = None
        self.chunked = False
        self.expect_continue = False
        self.continue_sent = False
        self.discard = False
        self.method = "GET"
        self.version = "1.1"
        self.keep_alive = True
        self.host_seen = False
        self.failed = False
        self.head_bytes = 0


class Input:
    """``wsgi.input``: the request body, read from the socket as the application asks.

    ``read(size=-1)``, ``readline(size=-1)``, ``readlines(hint=-1)`` and
    iteration by lines; all return b"" at the end of the body, never more.
    The first read of a request that sent ``Expect: 100-continue`` sends the
    ``100 Continue`` first.  A body the client stops sending before its end
    raises ``OSError`` (``ConnectionResetError`` or ``TimeoutError``); a
    malformed or oversized one raises ``ValueError``.
    """

    __slots__ = ("_handler", "_request")

    def __init__(self, handler: WSGIHandler, request: _Request) -> None:
        self._handler = handler
        self._request = request

    def _more(self) -> bool:
        """Receive more of the body; False at its end."""
        request = self._request
        if request.complete:
            return False
        handler = self._handler
        if request.expect_continue and not request.continue_sent:
            request.continue_sent = True
            handler._send_raw(b"HTTP/1.1 100 Continue\r\n\r\n")
        if request.failed:
            raise ValueError(f"malformed request body: {handler._error!r}")
        if not handler._fill():
            if request.failed:
                raise ValueError(f"malformed request body: {handler._error!r}")
            if not request.complete:
                raise ConnectionResetError("the client closed the connection inside the body")
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes of the body (all the rest if ``size`` is negative or None)."""
        body = self._request.body
        if size is None or size < 0:
            while self._more():
                pass
            data = bytes(body)
            body.clear()
            return data
        while len(body) < size and self._more():
            pass
        data = bytes(body[:size])
        del body[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        r"""One line of the body (ending with b"\\n"), at most ``size`` bytes if given."""
        body = self._request.body
        start = 0
        while True:
            i = body.find(b"\n", start)
            if i >= 0:
                end = i + 1
                break
            if size is not None and 0 <= size <= len(body):
                end = size
                break
            start = len(body)
            if not self._more():
                end = len(body)
                break
        if size is not None and 0 <= size < end:
            end = size
        data = bytes(body[:end])
        del body[:end]
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """The remaining lines (stopping once ``hint`` bytes were read, if given)."""
        lines = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class FileWrapper:
    """``wsgi.file_wrapper``: iterate a file in blocks; sent with ``sendfile`` when possible.

    ``FileWrapper(filelike, blksize=8192)``.  The server sends a wrapped
    regular file (one with a ``fileno``) from its current position with
    ``os.sendfile``, setting ``Content-Length`` from its size when the
    application gave none; any other file-like is read in ``blksize`` blocks.
    """

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while data := read(self.blksize):
            yield data


class LoggingLogAdapter:
    """A file-like ``write()`` that logs each line to a :class:`logging.Logger`.

    ``LoggingLogAdapter(logger, level=logging.INFO)``.  Other attributes
    are the logger's.
    """

    def __init__(self, logger: logging.Logger, level: int = logging.INFO) -> None:
        self._logger = logger
        self._level = level

    def write(self, msg: str) -> None:
        """Log ``msg`` (less one trailing newline) at the adapter's level."""
        if msg and msg.endswith("\n"):
            msg = msg[:-1]
        self._logger.log(self._level, msg)

    def writelines(self, lines: Iterable[str]) -> None:
        """Log each of ``lines``."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Nothing to flush (the logger's handlers do their own)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


def _as_log(log: Any, default: Any, level: int) -> Any:
    if log == "default":
        return default
    if log is None:
        return None
    if isinstance(log, logging.Logger):
        return LoggingLogAdapter(log, level)
    if not callable(getattr(log, "write", None)):
        raise TypeError(f"a log must be a stream, a logging.Logger or None, not {log!r}")
    return log
