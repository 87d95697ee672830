# The transport extends a C base made at run time from asyncio's private
# _FlowControlMixin, whose attributes typeshed does not describe.
# mypy: disable-error-code="attr-defined,valid-type,has-type,assignment,var-annotated"
"""corolib.asyncio's TCP and Unix stream socket transport.

Its hot path is C (``corolib._core.aio_transport_base``): the socket is
registered by the loop's ``AioReactor`` in the selector's own epoll, whose
one ``epoll_wait`` per loop iteration (the selector's ``select()``, in C)
keeps the transports' events aside for one callback per iteration,
which reads from every ready socket and calls the protocols'
``data_received`` (or ``get_buffer``/``buffer_updated``) directly, and
``write()`` sends at once, in C.  This module holds the rest -- the rare
paths, with the stdlib's ``_SelectorSocketTransport`` semantics, which the
C part calls by name (``_fatal_error``, ``_read_ready__on_eof``,
``_call_connection_lost``, ``_maybe_pause_protocol``,
``_maybe_resume_protocol``, ``_lost_write``).
"""

from __future__ import annotations

import inspect
import logging
import socket
import warnings
from asyncio import base_events, constants, futures, protocols, transports, trsock
from typing import Any

from corolib import _core

__all__ = ["SocketTransport", "make_reactor"]

logger = logging.getLogger("asyncio")

_Base = _core.aio_transport_base(transports._FlowControlMixin)


class SocketTransport(_Base):  # type: ignore[misc]
    """A stream socket transport (``asyncio.Transport``) whose I/O is C on an epoll of its own."""

    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE
    max_size = 256 * 1024

    def __init__(
        self,
        loop: Any,
        reactor: Any,
        sock: socket.socket,
        protocol: Any,
        waiter: Any = None,
        extra: Any = None,
        server: Any = None,
    ) -> None:
        super().__init__(extra, loop)
        self._extra["socket"] = trsock.TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._sock = sock
        self._attach_reactor(reactor, sock.fileno())
        self._protocol_connected = False
        self.set_protocol(protocol)
        self._server = server
        if server is not None:
            _server_attach(server, self)
        loop._transports[self._sock_fd] = self
        base_events._set_nodelay(sock)
        loop.call_soon(protocol.connection_made, self)
        # reading starts once connection_made() has run
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self) -> str:
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._sock_fd}")
        if self._loop is not None and not self._loop.is_closed():
            reading, writing = self._polling()
            info.append("read=polling" if reading else "read=idle")
            state = "polling" if writing else "idle"
            info.append(f"write=<{state}, bufsize={self.get_write_buffer_size()}>")
        return "<{}>".format(" ".join(info))

    def _start_reading(self) -> None:
        if self.is_reading():
            self._add_reader()

    # ---- the protocol ----------------------------------------------------------

    def set_protocol(self, protocol: Any) -> None:
        """Make ``protocol`` the one that gets this transport's events."""
        self._buffered = isinstance(protocol, protocols.BufferedProtocol)
        self._protocol = protocol
        self._protocol_connected = True

    def get_protocol(self) -> Any:
        """The current protocol."""
        return self._protocol

    # ---- reading -------------------------------------------------------------

    def is_reading(self) -> bool:
        """True while the transport receives (not paused, not closing)."""
        return not self._closing and not self._paused

    def pause_reading(self) -> None:
        """Stop calling the protocol's ``data_received`` until ``resume_reading()``."""
        if not self.is_reading():
            return
        self._paused = True
        self._remove_reader()
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self) -> None:
        """Receive again after ``pause_reading()``."""
        if self._closing or not self._paused:
            return
        self._paused = False
        self._add_reader()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def _read_ready__on_eof(self) -> None:
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # the protocol may still write, but nothing more can be read
            self._remove_reader()
        else:
            self.close()

    # ---- writing -------------------------------------------------------------

    def writelines(self, list_of_data: Any) -> None:
        """Write each bytes-like object of ``list_of_data``, in order."""
        if self._eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to writelines; sendfile is in progress")
        data = b"".join(list_of_data)
        if data:
            self.write(data)

    def get_write_buffer_size(self) -> int:
        """Bytes buffered, not yet taken by the socket."""
        return len(self._buffer)

    def write_eof(self) -> None:
        """Shut the sending side down once the buffer is sent."""
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer:
            self._sock.shutdown(socket.SHUT_WR)

    def can_write_eof(self) -> bool:
        """Always true: stream sockets can half-close."""
        return True

    def _lost_write(self) -> None:
        logger.warning("socket.send() raised exception.")

    # ---- closing ---------------------------------------------------------------

    def close(self) -> None:
        """Close once the buffer is sent; the protocol's ``connection_lost(None)`` follows."""
        if self._closing:
            return
        self._closing = True
        self._remove_reader()
        if not self._buffer:
            self._conn_lost += 1
            self._remove_writer()
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self) -> None:
        """Close at once, dropping buffered data."""
        self._force_close(None)

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()
            if self._server is not None:
                _server_detach(self._server, self)

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost or self._sock is None:
            return
        if self._buffer:
            self._buffer.clear()
            self._remove_writer()
        if not self._closing:
            self._closing = True
            self._remove_reader()
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        if self._sock is None:
            return
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            self._remove_reader()
            self._remove_writer()
            self._sock.close()
            self._sock = None
            self._protocol = None
            self._loop = None
            server = self._server
            if server is not None:
                _server_detach(server, self)
                self._server = None
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(ConnectionError("Connection is closed by peer"))

    # ---- sendfile ---------------------------------------------------------------

    def _make_empty_waiter(self) -> Any:
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if not self._buffer:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self) -> None:
        self._empty_waiter = None


# Server._attach/_detach take the transport since 3.13 (Server.close_clients).
if len(inspect.signature(base_events.Server._attach).parameters) > 1:

    def _server_attach(server: Any, transport: Any) -> None:
        server._attach(transport)

    def _server_detach(server: Any, transport: Any) -> None:
        server._detach(transport)

else:

    def _server_attach(server: Any, transport: Any) -> None:
        server._attach()

    def _server_detach(server: Any, transport: Any) -> None:
        server._detach()


def make_reactor(loop: Any, epfd: int) -> Any:
    """The ``AioReactor`` of ``loop``, sharing its selector's epoll ``epfd``."""

    def on_error(exc: BaseException, transport: Any) -> None:
        loop.call_exception_handler(
            {
                "message": "Exception in a transport's I/O handler",
                "exception": exc,
                "transport": transport,
            }
        )

    return _core.AioReactor(None, on_error, epfd)
