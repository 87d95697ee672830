"""The response half of corolib.pywsgi's ``WSGIHandler``: start_response, framing, errors, logs."""

from __future__ import annotations

import os
import stat
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from corolib._core import sock_sendall as _sock_sendall
from corolib._wsgi_common import (
    _REASONS,
    FileWrapper,
    _ClientGone,
    _http_date,
    _HTTPError,
    _Request,
)

if TYPE_CHECKING:
    from corolib.pywsgi import WSGIServer


class _Responder:
    """The methods of ``WSGIHandler`` that answer a request (a mixin of it)."""

    socket: Any
    client_address: Any
    server: WSGIServer
    application: Callable[..., Any]
    environ: dict[str, Any]
    request: _Request | None
    status: str | None
    code: int | None
    response_headers: list[tuple[str, str]]
    headers_sent: bool
    response_length: int
    time_start: float
    time_finish: float
    close_connection: bool
    result: Any
    _length: int | None
    _has_date: bool
    _has_connection: bool
    _chunked: bool
    _no_body: bool
    _timeout: float | None
    _fd: int
    _error: _HTTPError | None

    @property
    def requestline(self) -> str:
        """The request line as received (latin-1), for logs; "" before one arrives."""
        request = self.request
        if request is None:
            return ""
        return f"{request.method} {request.url.decode('latin-1')} HTTP/{request.version}"

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
