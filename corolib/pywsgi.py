r"""A WSGI server with gevent's names: ``WSGIServer``, ``WSGIHandler``, ``LoggingLogAdapter``.

::

    from corolib.pywsgi import WSGIServer

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Hello, world!\\n"]

    WSGIServer(("127.0.0.1", 8080), app).serve_forever()

or, for one process from the command line::

    python -m corolib.pywsgi module:app --bind 127.0.0.1:8080 [--certfile C --keyfile K]

What it speaks.  HTTP/1.1 (and 1.0) as RFC 9112 has it: keep-alive and
pipelining (requests already received wait their turn, answered in order),
chunked request bodies and chunked responses (when the application gives no
``Content-Length`` and its body is not a single string), ``Expect:
100-continue`` (the ``100 Continue`` goes out when the application first
reads ``wsgi.input``; if it never does, the connection is closed after the
response rather than drained), HEAD (headers only), HTTP/1.0 with and
without keep-alive.  ``wsgi.input`` streams: it reads from the socket as the
application asks and ends exactly at the end of the request body.
``wsgi.file_wrapper`` objects holding a regular file are sent with
``sendfile`` (not under TLS).  Accepted sockets get ``TCP_NODELAY``.

Parsing is llhttp's (through ``httptools``), in its strict mode, plus the
checks llhttp leaves to the server.  Refused with ``400 Bad Request`` and the
connection closed (the server goes on serving others): Content-Length with
Transfer-Encoding, duplicate or malformed Content-Length, bad chunk sizes or
framing, Transfer-Encoding other than a final ``chunked``, chunked bodies on
HTTP/1.0, invalid header names or values, obs-fold, bare CR or LF line
endings, duplicate ``Host``, an unsupported HTTP version.  Header names with
``_`` are dropped (they would collide with ``-`` in the environ).

Limits and timeouts (keyword arguments of :class:`WSGIServer`, with these
defaults):

- ``max_request_line=8190``: bytes in the request target; longer: 414.
- ``max_header_size=65536``: bytes of all header lines; more: 431.
- ``max_header_count=100``: header lines; more: 431.
- ``max_body_size=104857600`` (100 MiB; None: no limit): a larger
  ``Content-Length`` is answered 413 before the body is read; a chunked body
  that grows past it ends the request (413 if nothing was sent yet).
- ``header_timeout=10.0``: seconds from the first byte of a request (or the
  accept, or the TLS handshake's start) to the end of its headers; a client
  slower than that (slowloris) gets 408 and is disconnected.
- ``keepalive_timeout=5.0``: seconds a keep-alive connection may sit idle
  between requests before the server closes it (0: no keep-alive).
- ``io_timeout=60.0``: seconds any one read of the body or write of the
  response may wait for the client; then the connection is dropped.
- ``max_connections=1000``: connections served at once (with ``spawn`` left
  at ``"default"``); when all are busy the server stops accepting until one
  ends (the kernel's backlog holds new callers), it does not refuse them.
- ``max_drain=65536``: unread request body the server will read and discard
  to keep a connection alive; a larger remainder closes the connection.

Errors.  An exception in the application before the response started gives
``500 Internal Server Error`` (no traceback to the client) and is written
once, with the request line, to ``error_log``; after the response started,
the connection is closed.  ``start_response`` follows PEP 3333 (a second
call needs ``exc_info`` and re-raises it once headers are out; the status
and headers must be native strings with no CR/LF; body items must be
bytes); a body longer than its ``Content-Length`` is cut there and the
connection closed, a shorter one closes the connection.  A client that
disconnects mid-response costs no traceback.

Logs.  ``log`` (default: ``sys.stderr``) gets one line per request in
gevent's format, ``ADDR - - [YYYY-MM-DD HH:MM:SS] "REQUEST LINE" STATUS
LENGTH SECONDS``; ``error_log`` (default: ``sys.stderr``) gets application
errors.  Either may be a writable stream, a :class:`logging.Logger` (then
wrapped in :class:`LoggingLogAdapter`), or None (no log).

Switch points: every socket read and write (when it has to wait), the
application's own, :meth:`WSGIServer.serve_forever` and
:meth:`WSGIServer.stop`.  Stopping: :meth:`WSGIServer.stop` stops accepting,
closes idle keep-alive connections at once, lets running requests finish
(answering them with ``Connection: close``) for up to ``timeout`` seconds,
then kills the rest.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import socket as _stdsocket
import stat
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote_to_bytes

import httptools

from corolib import socket as _cosocket
from corolib._core import (
    GreenletExit,
    getcurrent,
    sock_recv_into as _sock_recv_into,
    sock_sendall as _sock_sendall,
)
from corolib.server import StreamServer
from corolib.sync import Event

__all__ = ["WSGIServer", "WSGIHandler", "LoggingLogAdapter", "Input", "FileWrapper", "main"]

_monotonic = time.monotonic
_IPPROTO_TCP = _stdsocket.IPPROTO_TCP
_TCP_NODELAY = _stdsocket.TCP_NODELAY
_HttpParserError = httptools.HttpParserError
_HttpParserUpgrade = httptools.HttpParserUpgrade
_HttpParserCallbackError = httptools.HttpParserCallbackError

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


class WSGIHandler:
    """Serves the requests of one connection; subclass it and pass ``handler_class``.

    ``WSGIHandler(sock, address, server)``; :meth:`handle` runs the
    connection to its end.  Per request, after :meth:`handle_one_response`:
    ``environ``, ``requestline``, ``status``, ``code``, ``response_headers``,
    ``response_length``, ``time_start`` and ``time_finish`` describe it.
    Hooks: :meth:`get_environ`, :meth:`run_application`,
    :meth:`format_request`, :meth:`log_request`, :meth:`handle_error`.
    """

    def __init__(self, sock: Any, address: Any, server: WSGIServer) -> None:
        self.socket = sock
        self.client_address = address
        self.server = server
        self.application = server.application
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[_Request] = deque()
        self._cur: _Request | None = None
        self._buf = bytearray(65536)
        self._view = memoryview(self._buf)
        self._eof = False
        self._error: _HTTPError | None = None
        self._idle = False
        self._timeout: float | None = None
        # A plain corolib socket is driven through its fd by the C calls that
        # its own methods use, with our timeout per call; a TLS one by its methods.
        self._fd = sock.fileno() if type(sock) is _cosocket.socket else -1
        self.close_connection = False
        self._reset()

    @property
    def requestline(self) -> str:
        """The request line as received (latin-1), for logs; "" before one arrives."""
        request = self.request
        if request is None:
            return ""
        return f"{request.method} {request.url.decode('latin-1')} HTTP/{request.version}"

    def _reset(self) -> None:
        self.environ: dict[str, Any] = {}
        self.request: _Request | None = None
        self.status: str | None = None
        self.code: int | None = None
        self.response_headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.response_length = 0
        self.time_start = 0.0
        self.time_finish = 0.0
        self._length: int | None = None
        self._has_date = False
        self._has_connection = False
        self._chunked = False
        self._no_body = False
        self.result: Any = None

    # -- the parser's callbacks (httptools) ---------------------------------------------

    def on_message_begin(self) -> None:
        """Parser callback: a request starts."""
        request = _Request()
        self._cur = request
        self._queue.append(request)

    def on_url(self, url: bytes) -> None:
        """Parser callback: (part of) the request target."""
        request = self._cur
        assert request is not None
        request.url += url
        if len(request.url) > self.server.max_request_line:
            raise _HTTPError(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        """Parser callback: one header (or trailer) field, checked and counted."""
        request = self._cur
        assert request is not None
        request.header_size += len(name) + len(value) + 4
        server = self.server
        if request.headers_done:  # a trailer: checked, counted, never used
            if request.header_size > server.max_header_size:
                raise _HTTPError(431, "trailers too large")
            if name.lower() in _FORBIDDEN_TRAILERS:
                raise _HTTPError(400, "forbidden trailer field")
            return
        headers = request.headers
        headers.append((name, value))
        if len(headers) > server.max_header_count:
            raise _HTTPError(431, "too many header fields")
        if request.header_size > server.max_header_size:
            raise _HTTPError(431, "header fields too large")
        lname = name.lower()
        if lname == b"content-length":
            request.content_length = int(value)  # llhttp allows digits only, once
        elif lname == b"transfer-encoding":
            request.chunked = True  # llhttp allows only a final "chunked" in requests
        elif lname == b"host":
            if request.host_seen:
                raise _HTTPError(400, "duplicate Host")
            request.host_seen = True
        elif lname == b"expect":
            if value.lower() != b"100-continue":
                raise _HTTPError(417, "unsupported expectation")
            request.expect_continue = True

    def on_headers_complete(self) -> None:
        """Parser callback: the head is complete; method, version, body limits."""
        request = self._cur
        assert request is not None
        parser = self._parser
        request.method = parser.get_method().decode("latin-1")
        version = request.version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise _HTTPError(400, "unsupported HTTP version")
        if request.chunked and version == "1.0":
            raise _HTTPError(400, "chunked body in HTTP/1.0")
        limit = self.server.max_body_size
        if limit is not None and request.content_length is not None:
            if request.content_length > limit:
                raise _HTTPError(413, "request body too large")
        if version == "1.0" or not request.content_length:
            request.expect_continue = False  # nothing to wait for
        request.keep_alive = parser.should_keep_alive()
        request.headers_done = True

    def on_body(self, body: bytes) -> None:
        """Parser callback: body bytes (dechunked), counted against ``max_body_size``."""
        request = self._cur
        assert request is not None
        request.body_received += len(body)
        limit = self.server.max_body_size
        if limit is not None and request.body_received > limit:
            raise _HTTPError(413, "request body too large")
        if not request.discard:
            request.body += body

    def on_message_complete(self) -> None:
        """Parser callback: the request (body included) is complete."""
        request = self._cur
        assert request is not None
        request.complete = True

    # -- reading --------------------------------------------------------------------------

    def _settimeout(self, timeout: float | None) -> None:
        # Only remembered: each recv/send passes it on (no syscall, no parsing).
        self._timeout = timeout

    def _fill(self) -> bool:
        """Receive once and feed the parser; False at EOF or after a parse error."""
        if self._eof or self._error is not None:
            return False
        fd = self._fd
        if fd >= 0:
            n = _sock_recv_into(fd, self._buf, 0, 0, self._timeout)
        else:
            sock = self.socket
            sock.settimeout(self._timeout)
            n = sock.recv_into(self._buf)
        if not n:
            self._eof = True
            return False
        try:
            self._parser.feed_data(self._view[:n])
        except _HttpParserUpgrade:
            # Upgrades (WebSocket, h2c) are not served: answer what came, then close.
            self._fail(_HTTPError(400, "protocol upgrade not supported"))
        except _HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _HTTPError):
                self._fail(cause)
            else:
                self._fail(_HTTPError(400, str(cause)))
        except _HttpParserError as exc:
            self._fail(_HTTPError(400, str(exc)))
        return self._error is None

    def _fail(self, error: _HTTPError) -> None:
        self._error = error  # answered once the requests before it are
        request = self._cur
        if request is not None and not request.complete:
            request.failed = True

    def _next_request(self, first: bool) -> _Request | None:
        """Wait for the next request's headers (with the timeouts); None: close."""
        server = self.server
        queue = self._queue
        if queue and queue[0].headers_done and not queue[0].failed:
            return queue[0]
        now = _monotonic()
        if first:
            deadline = now + server.header_timeout
            started = True
        else:
            deadline = now + server.keepalive_timeout
            started = bool(queue)
            if started:
                deadline = now + server.header_timeout
        self._idle = not started
        try:
            while True:
                if queue and queue[0].headers_done and not queue[0].failed:
                    return queue[0]
                if self._error is not None:
                    self._send_error(self._error.code)
                    return None
                if self._eof or server._stopping and not queue:
                    return None
                if server.stopping_idle(self):
                    return None
                if not started and queue:
                    started = True
                    self._idle = False
                    deadline = _monotonic() + server.header_timeout
                remaining = deadline - _monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self._settimeout(remaining)
                try:
                    self._fill()
                except (ConnectionError, OSError) as exc:
                    if isinstance(exc, TimeoutError):
                        raise
                    return None
        except TimeoutError:
            if started and not first or queue:
                self._send_error(408)
            return None
        finally:
            self._idle = False

    def _finish_request(self, request: _Request) -> bool:
        """Read and discard what is left of ``request``'s body; False: close instead."""
        if request.complete:
            return True
        if request.failed or (request.expect_continue and not request.continue_sent):
            return False
        remaining = (
            request.content_length - request.body_received
            if request.content_length is not None
            else None
        )
        if remaining is None or remaining > self.server.max_drain:
            limit = self.server.max_drain
        else:
            limit = remaining
        request.discard = True
        request.body.clear()
        start = request.body_received
        self._settimeout(self.server.io_timeout)
        try:
            while not request.complete:
                if request.body_received - start > limit or not self._fill():
                    return False
        except OSError:
            return False
        return True

    # -- the connection -----------------------------------------------------------------

    def handle(self) -> None:
        """Serve requests on this connection until it ends (or must be closed)."""
        server = self.server
        server._handlers.add(self)
        try:
            first = True
            while True:
                request = self._next_request(first)
                if request is None:
                    return
                first = False
                self.handle_one_response(request)
                if self.close_connection or not self._finish_request(request):
                    return
                self._queue.popleft()
                self._reset()
        except _ClientGone:
            pass
        finally:
            server._handlers.discard(self)

    def handle_one_response(self, request: _Request) -> None:
        """Run the application for ``request`` and send its response; then log it."""
        self.time_start = time.time()
        self.request = request
        if not request.keep_alive or self.server._stopping:
            self.close_connection = True
        self._settimeout(self.server.io_timeout)
        self.environ = self.get_environ(request)
        try:
            self.run_application()
        except _ClientGone:
            self.close_connection = True
            raise
        except GreenletExit:
            self.close_connection = True
            raise
        except BaseException as exc:
            self.close_connection = True
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self.handle_error(exc)
        finally:
            result = self.result
            self.result = None
            if result is not None and hasattr(result, "close"):
                try:
                    result.close()
                except Exception as exc:  # noqa: BLE001 - logged, the response is out
                    self._log_error("closing the response iterable", exc)
            self.time_finish = time.time()
            self.log_request()

    # -- the environ ---------------------------------------------------------------------

    def get_environ(self, request: _Request) -> dict[str, Any]:
        """The WSGI environ of ``request`` (PEP 3333: native strings decoded as latin-1)."""
        environ = self.server.get_environ()
        url = request.url
        if url[:1] == b"/":
            path, _, query = url.partition(b"?")
            path, _, _ = path.partition(b"#")
        elif url == b"*":
            path, query = url, b""
        else:
            parsed = httptools.parse_url(url)
            path = parsed.path or b"/"
            query = parsed.query or b""
        environ["REQUEST_METHOD"] = request.method
        environ["PATH_INFO"] = (
            unquote_to_bytes(path).decode("latin-1") if b"%" in path else path.decode("latin-1")
        )
        environ["QUERY_STRING"] = query.decode("latin-1")
        environ["RAW_URI"] = url.decode("latin-1")
        environ["SERVER_PROTOCOL"] = "HTTP/" + request.version
        address = self.client_address
        if isinstance(address, tuple):
            environ["REMOTE_ADDR"] = address[0]
            environ["REMOTE_PORT"] = str(address[1])
        else:
            environ["REMOTE_ADDR"] = address or ""
        for name, value in request.headers:
            key = _environ_key(name)
            if key is None:
                continue
            text = value.decode("latin-1")
            old = environ.get(key)
            if old is not None and key.startswith("HTTP_"):
                text = old + ("; " if key == "HTTP_COOKIE" else ",") + text
            environ[key] = text
        environ["wsgi.input"] = Input(self, request)
        return environ

    # -- the application and the response -----------------------------------------------

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        """PEP 3333's ``start_response``; returns the legacy ``write`` callable."""
        if exc_info:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response was already called (pass exc_info to redo it)")
        if type(status) is not str:
            raise TypeError(f"the status must be a str, not {type(status).__name__}")
        if len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
            raise ValueError(f"the status must be 'NNN reason', not {status!r}")
        if "\r" in status or "\n" in status:
            raise ValueError("CR or LF in the status")
        length = None
        self._has_date = self._has_connection = False
        for header in headers:
            if type(header) is not tuple or len(header) != 2:
                raise TypeError(f"a header must be a (name, value) tuple, not {header!r}")
            name, value = header
            if type(name) is not str or type(value) is not str:
                raise TypeError(f"header names and values must be str: {header!r}")
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"invalid character in a response header: {header!r}")
            lname = name.lower()
            if lname == "content-length":
                length = int(value)
            elif lname == "date":
                self._has_date = True
            elif lname == "connection":
                self._has_connection = True
                if value.lower() == "close":
                    self.close_connection = True
        self.status = status
        self.code = int(status[:3])
        self.response_headers = headers
        self._length = length
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write`` callable of PEP 3333 (also used for every body item)."""
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"the body must be bytes, not {type(data).__name__}")
            data = bytes(data)
        if self.status is None:
            raise AssertionError("write() before start_response()")
        if not self.headers_sent:
            if not data:
                return
            self._send_headers(data)
            return
        self._send_body(data)

    def _send_headers(self, data: bytes, final: bool = False, length: int | None = None) -> None:
        """Send the status line and headers, with ``data`` (the first body bytes).

        ``final``: ``data`` is the whole body; ``length``: the body's length
        when the application gave none (a file's).
        """
        request = self.request
        assert request is not None and self.status is not None
        code = self.code
        assert code is not None
        self.headers_sent = True
        headers = self.response_headers
        lines = ["HTTP/1.1 ", self.status, "\r\n"]
        for name, value in headers:
            lines += [name, ": ", value, "\r\n"]
        if self._length is not None:
            length = self._length
        elif length is not None:
            lines.append(f"Content-Length: {length}\r\n")
        bodiless = code < 200 or code == 204 or code == 304
        no_body = bodiless or request.method == "HEAD"
        self._no_body = no_body
        if not bodiless and length is None:
            if final:
                length = len(data)
                lines.append(f"Content-Length: {length}\r\n")
            elif no_body:
                pass  # HEAD of a streamed body: its length is unknown
            elif request.version == "1.1":
                self._chunked = True
                lines.append("Transfer-Encoding: chunked\r\n")
            else:
                self.close_connection = True  # the end of the body is the end of the connection
        self._length = length
        if self.server._stopping:
            self.close_connection = True
        if not request.complete and not self.close_connection:
            if request.expect_continue and not request.continue_sent:
                self.close_connection = True
            elif request.content_length is not None:
                if request.content_length - request.body_received > self.server.max_drain:
                    self.close_connection = True
        if self.close_connection:
            if not self._has_connection:
                lines.append("Connection: close\r\n")
        elif request.version == "1.0" and not self._has_connection:
            lines.append("Connection: keep-alive\r\n")
        if not self._has_date:
            lines += ["Date: ", _http_date(), "\r\n"]
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        if no_body or not data:
            self._send_raw(head)
            return
        self._send_body(data, head)

    def _send_body(self, data: bytes, head: bytes = b"") -> None:
        if self._no_body:
            if head:
                self._send_raw(head)
            return
        size = len(data)
        if self._chunked:
            self.response_length += size
            if size:
                self._send_raw(b"%b%x\r\n%b\r\n" % (head, size, data))
            elif head:
                self._send_raw(head)
            return
        length = self._length
        if length is not None and self.response_length + size > length:
            data = data[: length - self.response_length]
            self.close_connection = True
            self._log_error(
                "the application sent more than its Content-Length",
                ValueError(f"Content-Length {length}"),
            )
            size = len(data)
        self.response_length += size
        self._send_raw(head + data if head else data)

    def _send_raw(self, data: bytes) -> None:
        try:
            fd = self._fd
            if fd >= 0:
                _sock_sendall(fd, data, 0, self._timeout)
            else:
                sock = self.socket
                sock.settimeout(self._timeout)
                sock.sendall(data)
        except OSError as exc:
            raise _ClientGone(exc) from None

    def _send_file(self, wrapper: FileWrapper) -> bool:
        """Send a wrapped regular file with sendfile; False if it is not one."""
        if self.server.ssl_context is not None:
            return False
        filelike = wrapper.filelike
        try:
            fd = filelike.fileno()
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return False
            offset = filelike.tell() if hasattr(filelike, "tell") else 0
        except (AttributeError, OSError, ValueError):
            return False
        self._send_headers(
            b"", length=max(0, st.st_size - offset) if self._length is None else None
        )
        if self._no_body:
            return True
        length = self._length
        try:
            self.socket.settimeout(self._timeout)
            sent = self.socket.sendfile(filelike, offset, length) if length else 0
        except OSError as exc:
            raise _ClientGone(exc) from None
        self.response_length += sent
        return True

    def run_application(self) -> None:
        """Call the application and send what it returns."""
        self.result = result = self.application(self.environ, self.start_response)
        if self.status is None:
            raise AssertionError("the application returned without calling start_response()")
        if isinstance(result, FileWrapper) and not self.headers_sent:
            if self._send_file(result):
                self._end_body()
                return
        if (
            type(result) is list
            and len(result) == 1
            and type(result[0]) is bytes
            and not self.headers_sent
        ):
            if self._length is None:
                self._send_headers(result[0], final=True)
            else:
                self.write(result[0])
        else:
            write = self.write
            for data in result:
                if data:
                    write(data)
                elif type(data) is not bytes:
                    raise TypeError(f"the body must be bytes, not {type(data).__name__}")
        if not self.headers_sent:
            self._send_headers(b"", final=True)
        self._end_body()

    def _end_body(self) -> None:
        if self._chunked:
            self._send_raw(b"0\r\n\r\n")
        elif self._length is not None and not self._no_body and self.response_length < self._length:
            self.close_connection = True
            self._log_error(
                "the application sent less than its Content-Length",
                ValueError(f"sent {self.response_length} of {self._length}"),
            )

    # -- errors and logs ----------------------------------------------------------------

    def handle_error(self, exc: BaseException) -> None:
        """An exception from the application: 500 if nothing was sent yet; logged once."""
        error = self._error
        request = self.request
        if isinstance(exc, _HTTPError) or (error is not None and request and request.failed):
            # The client's fault (a bad or oversized body), not the application's.
            code = exc.code if isinstance(exc, _HTTPError) else error.code  # type: ignore[union-attr]
            if not self.headers_sent:
                self._send_error(code)
            return
        self._log_error(f"Error handling request {self.requestline!r}", exc)
        if not self.headers_sent:
            self._send_error(500)

    def _send_error(self, code: int) -> None:
        reason = _REASONS.get(code, "Error")
        body = f"{code} {reason}\n".encode()
        self.status = f"{code} {reason}"
        self.code = code
        self.headers_sent = True
        self.close_connection = True
        self.response_length = len(body)
        self._timeout = min(self.server.io_timeout, 5.0)
        head = (
            f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nDate: {_http_date()}\r\n\r\n"
        ).encode()
        try:
            self._send_raw(head + body)
        except _ClientGone:
            pass

    def _log_error(self, what: str, exc: BaseException) -> None:
        error_log = self.server.error_log
        if error_log is None:
            return
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            error_log.write(f"{what} from {self._client_host()}:\n{text}")
        except Exception:  # noqa: BLE001 - a broken log must not break the server
            pass

    def _client_host(self) -> str:
        address = self.client_address
        if isinstance(address, tuple):
            return str(address[0])
        return str(address or "-")

    def format_request(self) -> str:
        """The access log line (gevent's format), without the newline."""
        now = datetime.now().replace(microsecond=0)
        length = self.response_length or "-"
        delta = f"{self.time_finish - self.time_start:.6f}" if self.time_finish else "-"
        status = (self.status or "000").split()[0]
        return f'{self._client_host()} - - [{now}] "{self.requestline}" {status} {length} {delta}'

    def log_request(self) -> None:
        """Write :meth:`format_request` to the server's ``log``."""
        log = self.server.log
        if log is not None:
            try:
                log.write(self.format_request() + "\n")
            except Exception:  # noqa: BLE001 - a broken log must not break the server
                pass


class WSGIServer(StreamServer):
    """Serve a WSGI ``application`` on ``listener`` (gevent.pywsgi's signature).

    ``WSGIServer(listener, application, backlog=None, spawn='default',
    log='default', error_log='default', handler_class=None, environ=None,
    ssl_context=None, keyfile=None, certfile=None, **ssl_args)`` plus the
    keyword-only limits of the module docstring and ``reuse_port``.
    ``keyfile``/``certfile`` (and ``ssl_args``: ``ca_certs``,
    ``cert_reqs``, ``ciphers``) build a server-side
    :class:`corolib.ssl.SSLContext`; ``environ`` adds keys to every
    request's environ.  With ``spawn='default'`` at most
    ``max_connections`` connections run at once.
    """

    #: the handler class used when ``handler_class`` is not given
    handler_class: type[WSGIHandler] = WSGIHandler
    #: the WSGI environ keys every request starts from (see :meth:`get_environ`)
    base_env: dict[str, Any] = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SCRIPT_NAME": "",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
    }

    def __init__(
        self,
        listener: Any,
        application: Callable[..., Any] | None = None,
        backlog: int | None = None,
        spawn: Any = "default",
        log: Any = "default",
        error_log: Any = "default",
        handler_class: type[WSGIHandler] | None = None,
        environ: dict[str, Any] | None = None,
        ssl_context: Any = None,
        keyfile: str | None = None,
        certfile: str | None = None,
        *,
        max_request_line: int = 8190,
        max_header_size: int = 65536,
        max_header_count: int = 100,
        max_body_size: int | None = 100 * 1024 * 1024,
        header_timeout: float = 10.0,
        keepalive_timeout: float = 5.0,
        io_timeout: float = 60.0,
        max_connections: int = 1000,
        max_drain: int = 65536,
        reuse_port: bool = False,
        **ssl_args: Any,
    ) -> None:
        if application is None:
            raise TypeError("WSGIServer needs an application")
        if not callable(application):
            raise TypeError(f"the application must be callable, not {application!r}")
        for name, value in (
            ("max_request_line", max_request_line),
            ("max_header_size", max_header_size),
            ("max_header_count", max_header_count),
            ("max_connections", max_connections),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        for name, seconds in (
            ("header_timeout", header_timeout),
            ("io_timeout", io_timeout),
        ):
            if not isinstance(seconds, (int, float)) or seconds <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {seconds!r}")
        if not isinstance(keepalive_timeout, (int, float)) or keepalive_timeout < 0:
            raise ValueError(f"keepalive_timeout must be >= 0, not {keepalive_timeout!r}")
        if max_body_size is not None and max_body_size < 0:
            raise ValueError(f"max_body_size must be >= 0 or None, not {max_body_size!r}")
        self.application = application
        self.max_request_line = max_request_line
        self.max_header_size = max_header_size
        self.max_header_count = max_header_count
        self.max_body_size = max_body_size
        self.header_timeout = float(header_timeout)
        self.keepalive_timeout = float(keepalive_timeout)
        self.io_timeout = float(io_timeout)
        self.max_connections = max_connections
        self.max_drain = max_drain
        if handler_class is not None:
            self.handler_class = handler_class
        self.log = _as_log(log, sys.stderr, logging.INFO)
        self.error_log = _as_log(error_log, sys.stderr, logging.ERROR)
        if ssl_context is None and (keyfile or certfile):
            ssl_context = self._make_ssl_context(keyfile, certfile, **ssl_args)
        elif ssl_args:
            raise TypeError(f"unexpected arguments {sorted(ssl_args)}")
        if spawn == "default":
            spawn = max_connections
        self._stopping = False
        self._stop_pending = 0
        self._stop_done = Event()
        self._handlers: set[WSGIHandler] = set()
        StreamServer.__init__(
            self, listener, spawn=spawn, backlog=backlog, ssl_context=ssl_context,
            reuse_port=reuse_port,
        )  # fmt: skip
        self.environ = dict(self.base_env)
        self.environ["wsgi.url_scheme"] = "https" if ssl_context is not None else "http"
        self.environ["wsgi.errors"] = sys.stderr
        if environ:
            self.environ.update(environ)

    @staticmethod
    def _make_ssl_context(
        keyfile: str | None,
        certfile: str | None,
        ca_certs: str | None = None,
        cert_reqs: int | None = None,
        ciphers: str | None = None,
        **rest: Any,
    ) -> Any:
        from corolib import ssl as _cossl

        if rest:
            raise TypeError(f"unexpected TLS arguments {sorted(rest)}")
        if not certfile:
            raise ValueError("TLS needs a certfile (and a keyfile unless it holds the key)")
        context = _cossl.SSLContext(_cossl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        if ca_certs:
            context.load_verify_locations(ca_certs)
        if cert_reqs is not None:
            context.verify_mode = _cossl.VerifyMode(cert_reqs)
        if ciphers:
            context.set_ciphers(ciphers)
        return context

    def init_socket(self) -> None:
        """Listen (as :class:`StreamServer`), then fill the base environ's server keys."""
        StreamServer.init_socket(self)
        host = self.server_host
        environ = self.environ
        if "SERVER_NAME" not in environ:
            if isinstance(host, str) and host not in ("", "0.0.0.0", "::"):
                environ["SERVER_NAME"] = host
            elif isinstance(host, str):
                environ["SERVER_NAME"] = _stdsocket.gethostname()
            else:
                environ["SERVER_NAME"] = str(self.address or "")
        if "SERVER_PORT" not in environ:
            port = self.server_port
            environ["SERVER_PORT"] = str(port) if port is not None else ""

    def get_environ(self) -> dict[str, Any]:
        """A fresh copy of the server's environ, the base of each request's."""
        return self.environ.copy()

    def wrap_socket(self, conn: _cosocket.socket) -> Any:
        """Wrap an accepted connection in TLS, the handshake bounded by ``header_timeout``."""
        conn.settimeout(self.header_timeout)
        return StreamServer.wrap_socket(self, conn)

    def handle(self, sock: Any, address: Any) -> None:
        """Serve one connection with :attr:`handler_class`."""
        try:
            sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a Unix socket)
        handler = self.handler_class(sock, address, self)
        handler._greenlet = getcurrent()  # type: ignore[attr-defined]
        handler.handle()

    def stopping_idle(self, handler: WSGIHandler) -> bool:
        """True when the server is stopping (an idle keep-alive connection then ends)."""
        return self._stopping

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, close idle connections, wait up to ``timeout`` s for the rest.

        Requests running go on (their responses carry ``Connection: close``);
        those still running after ``timeout`` (default :attr:`stop_timeout`)
        are killed.  :meth:`serve_forever` returns only once this is done.
        """
        self._stop_pending += 1
        try:
            StreamServer.stop(self, timeout)
        finally:
            self._stop_pending -= 1
            if not self._stop_pending:
                self._stop_done.set()

    def serve_forever(self, stop_timeout: float | None = None) -> None:
        """Serve until stopped; when :meth:`stop` runs elsewhere, wait for it to finish."""
        try:
            StreamServer.serve_forever(self, stop_timeout)
        finally:
            if self._stop_pending:
                self._stop_done.wait()

    def close(self) -> None:
        """Stop accepting and close the listener; idle keep-alive connections are closed too."""
        self._stopping = True
        for handler in list(self._handlers):
            if handler._idle:
                g = getattr(handler, "_greenlet", None)
                if g is not None and g is not getcurrent():
                    g.kill(block=False)
        StreamServer.close(self)


def _load_app(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise SystemExit(f"not an application: {spec!r} (expected module:attribute)")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    app = module
    for part in (attr or "application").split("."):
        app = getattr(app, part)
    if not callable(app):
        raise SystemExit(f"{spec!r} is not callable")
    return app


def main(argv: list[str] | None = None) -> int:
    """``python -m corolib.pywsgi module:app --bind HOST:PORT [--certfile --keyfile]``."""
    parser = argparse.ArgumentParser(
        prog="python -m corolib.pywsgi", description="Serve a WSGI application."
    )
    parser.add_argument("app", help="module:attribute of the WSGI application")
    parser.add_argument("--bind", "-b", default="127.0.0.1:8000", help="HOST:PORT to listen on")
    parser.add_argument("--certfile", help="TLS certificate chain (PEM)")
    parser.add_argument("--keyfile", help="TLS private key (PEM)")
    parser.add_argument("--no-access-log", action="store_true", help="log no request lines")
    parser.add_argument("--reuse-port", action="store_true", help="bind with SO_REUSEPORT")
    args = parser.parse_args(argv)
    host, sep, port = args.bind.rpartition(":")
    if not sep or not port.isdigit():
        parser.error(f"--bind must be HOST:PORT, not {args.bind!r}")
    host = host.strip("[]")
    app = _load_app(args.app)
    server = WSGIServer(
        (host, int(port)),
        app,
        log=None if args.no_access_log else "default",
        certfile=args.certfile,
        keyfile=args.keyfile,
        reuse_port=args.reuse_port,
    )
    import signal

    from corolib.hub import signal_handler

    signal_handler(signal.SIGTERM, server.stop)
    server.start()
    scheme = "https" if server.ssl_context is not None else "http"
    print(f"corolib.pywsgi: serving {args.app} on {scheme}://{args.bind}", file=sys.stderr)
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
