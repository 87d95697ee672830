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
- ``reuse_port=False``: bind with ``SO_REUSEPORT`` so that several processes
  can serve one port.
- ``start_on_data=True``: a connection gets its handler greenlet only once
  the client has sent something (an HTTP client always speaks first); until
  then the hub watches the socket, for at most ``header_timeout``.  A plain
  (not TLS) keep-alive connection idle between requests for
  :attr:`WSGIServer.park_after` seconds (1), with nothing pipelined, goes
  back to the hub the same way: its handler ends, and the hub watches the
  socket for the rest of ``keepalive_timeout``.  (The default with
  ``spawn=None``, where the accept greenlet serves one connection at a
  time, is False.)  So an idle connection holds no greenlet and
  no buffers.  False keeps a greenlet per connection from the accept to
  the end.

The bytes of a request head still unfinished are bounded too (the two size
limits plus one 64 KiB read): httptools holds a header field until it ends,
so an endless field is refused with 431 instead of growing.

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
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

import httptools

from corolib import socket as _cosocket
from corolib._core import GreenletExit, getcurrent, sock_recv_into as _sock_recv_into
from corolib._wsgi_common import (
    _FORBIDDEN_TRAILERS,
    FileWrapper,
    Input,
    LoggingLogAdapter,
    _as_log,
    _ClientGone,
    _environ_key,
    _HTTPError,
    _Request,
)
from corolib._wsgi_response import _Responder
from corolib.server import StreamServer
from corolib.sync import Event

__all__ = ["WSGIServer", "WSGIHandler", "LoggingLogAdapter", "Input", "FileWrapper", "main"]
# Defined in corolib._wsgi_common; public here.
for _cls in (Input, FileWrapper, LoggingLogAdapter):
    _cls.__module__ = __name__

_monotonic = time.monotonic
_IPPROTO_TCP = _stdsocket.IPPROTO_TCP
_TCP_NODELAY = _stdsocket.TCP_NODELAY
_HttpParserError = httptools.HttpParserError
_HttpParserUpgrade = httptools.HttpParserUpgrade
_HttpParserCallbackError = httptools.HttpParserCallbackError


class WSGIHandler(_Responder):
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
        if isinstance(address, tuple):
            self._remote = {"REMOTE_ADDR": str(address[0]), "REMOTE_PORT": str(address[1])}
        else:
            self._remote = {"REMOTE_ADDR": str(address or "")}
        self._head_limit = server.max_request_line + server.max_header_size + len(self._buf) + 1024
        self._view = memoryview(self._buf)
        self._eof = False
        self._error: _HTTPError | None = None
        self._idle = False
        self._timeout: float | None = None
        self._park_for: float | None = None  # set when the connection goes back to the hub
        # A plain corolib socket is driven through its fd by the C calls that
        # its own methods use, with our timeout per call; a TLS one by its methods.
        self._fd = sock.fileno() if type(sock) is _cosocket.socket else -1
        self.close_connection = False
        self._reset()

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
        if version == "1.0" or not (request.content_length or request.chunked):
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
        else:
            # httptools holds a header field until its end, so one endless field
            # would grow without bound: count what arrived while the head is
            # unfinished (at most one buffer of it belongs to earlier requests).
            request = self._cur
            if request is not None and not request.headers_done:
                request.head_bytes += n
                if request.head_bytes > self._head_limit:
                    self._fail(_HTTPError(431, "request head too large"))
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
        # Idle this long between requests, the connection goes back to the hub.
        park_at = now + server.park_after if not started and self._parkable() else None
        try:
            while True:
                if queue and queue[0].headers_done and not queue[0].failed:
                    return queue[0]
                if self._error is not None:
                    self._send_error(self._error.code)
                    return None
                if self._eof or server._stopping and not queue:
                    return None
                if not started and queue:
                    started = True
                    self._idle = False
                    park_at = None
                    deadline = _monotonic() + server.header_timeout
                now = _monotonic()
                remaining = deadline - now
                if remaining <= 0:
                    raise TimeoutError
                if park_at is not None and park_at <= now:
                    if self._parkable():
                        self._park_for = remaining
                        return None
                    park_at = None
                if park_at is not None and park_at - now < remaining:
                    self._settimeout(park_at - now)
                else:
                    self._settimeout(remaining)
                try:
                    self._fill()
                except (ConnectionError, OSError) as exc:
                    if isinstance(exc, TimeoutError):
                        if park_at is not None:
                            continue  # time to park (the loop decides)
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
                    if self._park_for is not None and self._wait_again():
                        # Idle: the hub waits for the next request; a new handler serves
                        # it.  The parser refers to us: break the cycle now.
                        self._parser = None  # type: ignore[assignment]
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

    def _wait_again(self) -> bool:
        # True: the hub now waits for the next request (False: close as usual).
        try:
            return self.server._wait_again(self.socket, self.client_address, self._park_for)
        except OSError:
            return False

    def _parkable(self) -> bool:
        """Tell whether the connection can wait for its next request in the hub, without us.

        Only a plain socket (TLS may hold decrypted bytes the fd does not
        show) between requests: nothing of a next request arrived, the
        parser has no partial message, no error, no end of stream.
        """
        server = self.server
        return (
            server.start_on_data
            and self._fd >= 0
            and not self._queue
            and not self._eof
            and self._error is None
            and not server._stopping
            and type(self).handle is WSGIHandler.handle
        )

    def handle_one_response(self, request: _Request) -> None:
        """Run the application for ``request`` and send its response; then log it."""
        self.time_start = time.time()
        self.request = request
        server = self.server
        if not request.keep_alive or server._stopping or not server.keepalive_timeout:
            self.close_connection = True
        self._timeout = server.io_timeout
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
        environ.update(self._remote)
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
        start_on_data: bool | None = None,
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
            start_on_data=spawn is not None if start_on_data is None else start_on_data,
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

    _log_no_data = False  # as a handler that times out before a request: no log line
    #: seconds a keep-alive connection stays idle with its handler before the
    #: hub takes it over (``start_on_data``; plain sockets only)
    park_after: float = 1.0

    def _data_timeout(self) -> float | None:
        """A new connection waits for its first bytes at most ``header_timeout``."""
        return self.header_timeout

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
