"""TCP and UDP servers: ``StreamServer`` and ``DatagramServer``, as in gevent.

A server owns a listening socket and one *accept greenlet* that takes new
connections (or datagrams) off it and hands each to ``handle`` in a greenlet
of its own::

    def handle(sock, address):
        while data := sock.recv(4096):
            sock.sendall(data)

    server = StreamServer(("127.0.0.1", 0), handle)
    signal_handler(signal.SIGTERM, server.stop)
    server.serve_forever()  # returns once stop() has finished with the handlers

Limits, so that no client can hold the server hostage (all keyword
arguments; the defaults are class attributes of the same name):

- ``max_connections`` (:class:`StreamServer`, default 10,000) /
  ``max_handlers`` (:class:`DatagramServer`, default 1,000): the most
  handlers running at once.  When the server is full the accept greenlet
  stops taking connections (datagrams) off the listener until a handler
  finishes: new callers wait in the kernel's backlog (UDP: in the socket's
  receive buffer) and are served in turn.  None means no limit.  The same
  back-pressure applies while a :class:`~corolib.pool.Pool` given as
  ``spawn`` is full, and whenever an overridden :meth:`BaseServer.full`
  says so.
- ``handshake_timeout`` (TLS only, default 10 s): the whole TLS handshake
  must be over within this time -- a deadline, not a per-read timeout, so a
  client sending a byte every few seconds is cut off too.  A handshake that
  fails or times out is logged as one line at INFO level to the
  ``corolib.server`` logger; ``handle`` is not called.
- ``idle_timeout`` (default None: off): the connection socket's timeout, so
  any ``recv``/``send`` in ``handle`` that waits longer than this for the
  peer raises ``TimeoutError``.  The server closes the connection and logs
  one line at INFO level (no traceback) when ``handle`` lets that
  ``TimeoutError`` out.  Servers facing untrusted clients should set it.
- ``stop_timeout`` (default 1 s, gevent's): how long :meth:`BaseServer.stop`
  lets running handlers finish before it kills them.
- ``start_on_data`` (:class:`StreamServer`, default False; True for
  :class:`corolib.pywsgi.WSGIServer`): start a connection's handler only
  once the client has sent something (or hung up).  Until then the hub
  watches the socket and no greenlet exists for it, so an idle connection
  costs a socket and an fd watch (~1 KB less than a handler parked in
  ``recv``).  Only for protocols where the client speaks first: a
  connection whose client waits for the server would wait until the
  timeout.  The wait is bounded by ``idle_timeout`` (with TLS:
  ``handshake_timeout``); a connection that sends nothing in that time is
  closed without its handler (and logged at INFO level).  Waiting
  connections count against ``max_connections`` and are closed at once by
  :meth:`BaseServer.stop`/:meth:`BaseServer.close`.  Needs ``spawn`` other
  than None; ignored by a subclass that overrides ``do_handle``.

How connections are spawned (``spawn=``, gevent's values):

- ``"default"`` (the default): one new :class:`~corolib.hub.Greenlet` per
  connection.  The server still tracks them (in a
  :class:`~corolib.pool.Group`) so that :meth:`BaseServer.stop` can wait
  for them and kill the rest.
- an ``int`` ``n``: a :class:`~corolib.pool.Pool` of size ``n``.
- a :class:`~corolib.pool.Pool` or :class:`~corolib.pool.Group`: used as
  given.
- any other callable ``spawn(fn, *args)``: called per connection; such
  handlers are not tracked, so ``stop`` cannot wait for them (they still
  count against ``max_connections``).
- ``None``: ``handle`` runs in the accept greenlet itself, one connection at
  a time (stopping the server kills the accept greenlet, and so that handler).

The accept loop.  The listening fd is non-blocking.  Each time it becomes
readable the accept greenlet accepts up to :attr:`BaseServer.max_accept`
connections in a row (fewer if the server becomes full), then yields once
(``sleep(0)``) so that the handlers it started can run before it accepts
more.  An ``accept`` that fails for a reason other than "would block"
(EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED, ...) is logged to the
``corolib.server`` logger and survived: the accept greenlet sleeps
:attr:`BaseServer.min_delay` seconds, doubling per consecutive failure up
to :attr:`BaseServer.max_delay`, and goes on.  Only the errors
:meth:`BaseServer.is_fatal_error` accepts (by default the errnos in
:attr:`BaseServer.fatal_errors`: the listener is not a usable socket any
more: EBADF, EINVAL, ENOTSOCK) stop the server.
:meth:`BaseServer.stop_accepting` pauses the loop (the listener stays
open, callers queue in the backlog); :meth:`BaseServer.start_accepting`
resumes it.

gevent's override hooks, for subclasses: ``handle`` (the handler),
``do_read()`` (take one connection or datagram off the listener without
waiting: the arguments for ``handle``, or None when there is none),
``do_handle(*args)`` (hand them to ``spawn``; an override must end up
calling ``self._handle(*args)``, which runs the handler and the
bookkeeping), ``do_close(*args)`` (release a connection: called once per
connection after its handler, or when handing it over failed),
``wrap_socket_and_handle(sock, address)`` (TLS: handshake, then
``handle``), ``is_fatal_error(exc)`` and ``full()``.

Stopping.  :meth:`BaseServer.close` stops accepting and closes the listener
at once, leaving running handlers alone.  :meth:`BaseServer.stop` does the
same, then waits up to ``timeout`` seconds (default
:attr:`BaseServer.stop_timeout`, 1 s) for the handlers to finish, then
kills the ones still running and waits (briefly,
:attr:`BaseServer.kill_timeout`) for them to die.  Whichever greenlet calls ``stop`` -- the
main one, a handler, or the greenlet :func:`corolib.signal_handler` runs a
signal handler in -- :meth:`BaseServer.serve_forever` returns only once
that stop is complete, so ``signal_handler(SIGTERM, server.stop)`` followed
by ``serve_forever()`` lets the requests in flight finish.  A second
``stop()`` while one is under way means *stop now*: the remaining handlers
are killed at once (so a second SIGTERM or SIGINT delivered through
``signal_handler`` ends a drain early).  Ctrl-C needs nothing installed:
while SIGINT has Python's default handler, ``serve_forever`` replaces it
with one that stops the servers serving forever the same way, and raises
``KeyboardInterrupt`` once the drain is over (a second Ctrl-C: at once).
A server that was stopped or closed cannot be started again.  A
connection's socket is closed when its handler returns (or fails, or is
killed, or the server gives up on it).

Switch points: :meth:`BaseServer.serve_forever` (until stopped),
:meth:`BaseServer.stop`, and :meth:`DatagramServer.sendto` when the
socket's send buffer is full.  :meth:`BaseServer.start`,
:meth:`BaseServer.close`, :meth:`BaseServer.start_accepting`,
:meth:`BaseServer.stop_accepting` and the constructors never switch; a
listener given as an address is bound in the constructor, which resolves
a host name cooperatively first (and so switches, unless the host is a
literal address, ``""`` or None).  Everything else happens in the accept
greenlet and the handler greenlets.  A server belongs to the thread that
made it.

The listener: an address tuple (bound with ``SO_REUSEADDR`` and listened on
with ``backlog``, in :meth:`BaseServer.start` at the latest), or a bound
socket (a stdlib socket is taken over: its fd moves into a corolib socket,
the object given is left detached).  Either way the server owns it and
closes it when stopped.  TLS: with ``ssl_context=`` (a
:class:`corolib.ssl.SSLContext`), or with gevent's ``keyfile=``,
``certfile=``, ``ca_certs=``, ``cert_reqs=``, ``ssl_version=``,
``ciphers=``, ``do_handshake_on_connect=``, ``suppress_ragged_eofs=``
keyword arguments (a context is made from them), :class:`StreamServer`
wraps each accepted connection in the handler's greenlet (the handshake
never holds up the accept loop).
"""

from __future__ import annotations

import socket as _stdsocket
from collections.abc import Callable
from typing import Any

from corolib import socket as _cosocket
from corolib._core import sock_watch as _sock_watch
from corolib._server_base import (
    _UNSET,
    BaseServer,
    _check_limit,
    _positive_seconds,
    log,
)
from corolib._socket_common import wait_fd
from corolib.hub import Greenlet, Timeout, get_hub

__all__ = ["BaseServer", "StreamServer", "DatagramServer"]

_csock: Any = _stdsocket.socket
_c_accept = _csock._accept  # -> (fd, address), the fd not yet a socket object
_c_recvfrom = _csock.recvfrom
_c_fileno = _csock.fileno
_CoSocket = _cosocket.socket
_MISSING: Any = object()


def _bind_new(
    address: tuple[Any, ...], family: int | None, socktype: int, reuse_port: bool = False
) -> _cosocket.socket:
    """A new corolib socket of ``socktype`` bound to ``address``, with SO_REUSEADDR.

    With ``reuse_port``, also ``SO_REUSEPORT`` (several processes may then
    bind the same address; the kernel spreads connections among them).

    A host name is resolved cooperatively first (``corolib.dns``; literal
    addresses, ``""`` and None need no lookup and do not switch); the first
    address it resolves to (of ``family``, if given) is bound.
    """
    if len(address) != 2:  # an IPv6 (host, port, flowinfo, scope_id): bind as given
        fam = family if family is not None else _stdsocket.AF_INET6
        sockaddr: Any = address
    else:
        host, port = address
        if not host and family is None:
            family = _stdsocket.AF_INET  # "" means INADDR_ANY, as in the stdlib
        infos = _cosocket.getaddrinfo(
            host or None, port, family or 0, socktype, 0, _stdsocket.AI_PASSIVE
        )
        if not infos:
            raise OSError(f"getaddrinfo found no address for {address!r}")
        fam, _, _, _, sockaddr = infos[0]
    sock = _CoSocket(fam, socktype)
    try:
        sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


#: gevent's TLS keyword arguments for StreamServer (besides ``ssl_context``)
_SSL_ARGS = frozenset(
    {
        "keyfile",
        "certfile",
        "ca_certs",
        "cert_reqs",
        "ssl_version",
        "ciphers",
        "server_side",
        "do_handshake_on_connect",
        "suppress_ragged_eofs",
    }
)


class StreamServer(BaseServer):
    """A TCP (or other stream) server: ``handle(sock, address)`` per connection.

    ``StreamServer(listener, handle=None, spawn="default", backlog=None,
    ssl_context=None, *, family=None, max_connections=10000,
    handshake_timeout=10.0, idle_timeout=None, stop_timeout=None,
    reuse_port=False, start_on_data=False, **ssl_args)``.  ``handle`` gets a
    :class:`corolib.socket.socket` (a :class:`corolib.ssl.SSLSocket` with TLS) whose timeout is
    ``idle_timeout`` (None: blocking) and the peer's address; the socket is
    closed when ``handle`` returns.  A subclass may define a ``handle``
    method instead of passing one.  ``ssl_args`` are gevent's TLS keyword
    arguments (``keyfile``, ``certfile``, ``ca_certs``, ``cert_reqs``,
    ``ssl_version``, ``ciphers``, ``do_handshake_on_connect``,
    ``suppress_ragged_eofs``); see the module documentation for the rest.
    ``reuse_port=True`` binds an address listener with ``SO_REUSEPORT`` too,
    so that several processes can serve one port (the kernel spreads the
    connections).  ``start_on_data=True`` starts each handler only once its
    client has sent something (see the module documentation).
    """

    #: the most connections handled at once by default (None: no limit)
    max_connections: int | None = 10_000
    #: the deadline for a whole TLS handshake by default, in seconds
    handshake_timeout: float | None = 10.0
    #: the connection sockets' timeout by default, in seconds (None: none)
    idle_timeout: float | None = None
    #: start a handler only once its client sent something (see the module doc)
    start_on_data: bool = False
    #: log a connection closed for sending nothing within the timeout
    _log_no_data = True

    def __init__(
        self,
        listener: tuple[Any, ...] | _stdsocket.socket,
        handle: Callable[[_cosocket.socket, Any], Any] | None = None,
        spawn: Any = "default",
        backlog: int | None = None,
        ssl_context: Any = None,
        *,
        family: int | None = None,
        max_connections: int | None = _UNSET,
        handshake_timeout: float | None = _UNSET,
        idle_timeout: float | None = _UNSET,
        stop_timeout: float | None = None,
        reuse_port: bool = False,
        start_on_data: bool | None = None,
        **ssl_args: Any,
    ) -> None:
        self.reuse_port = reuse_port
        if start_on_data is not None:
            self.start_on_data = bool(start_on_data)
        if self.start_on_data and spawn is None:
            raise ValueError("start_on_data needs handlers in greenlets of their own (spawn=None)")
        unknown = set(ssl_args) - _SSL_ARGS
        if unknown:
            raise TypeError(
                f"StreamServer() got unexpected keyword argument(s): {', '.join(sorted(unknown))}"
            )
        wrap_args: dict[str, Any] = {}
        for name in ("do_handshake_on_connect", "suppress_ragged_eofs"):
            if name in ssl_args:
                wrap_args[name] = bool(ssl_args.pop(name))
        ssl_args.pop("server_side", None)  # always server side
        if ssl_args:
            if ssl_context is not None:
                raise TypeError(
                    f"pass either ssl_context or {', '.join(sorted(ssl_args))}, not both"
                )
            ssl_context = _context_from_args(**ssl_args)
        if ssl_context is not None:
            # A stdlib context would wrap our non-blocking fds in a stdlib
            # SSLSocket that raises SSLWantReadError instead of waiting.
            socket_class = getattr(ssl_context, "sslsocket_class", None)
            if not (isinstance(socket_class, type) and issubclass(socket_class, _CoSocket)):
                raise TypeError(
                    "ssl_context must be a corolib.ssl.SSLContext (its wrap_socket must "
                    f"make corolib sockets), not {type(ssl_context).__module__}."
                    f"{type(ssl_context).__qualname__}"
                )
        elif wrap_args:
            raise TypeError(f"{', '.join(sorted(wrap_args))} need TLS (ssl_context or certfile)")
        self.ssl_context = ssl_context
        self._wrap_args = wrap_args
        if max_connections is not _UNSET:
            self.max_connections = _check_limit("max_connections", max_connections)
        if handshake_timeout is not _UNSET:
            self.handshake_timeout = _positive_seconds("handshake_timeout", handshake_timeout)
        if idle_timeout is not _UNSET:
            self.idle_timeout = _positive_seconds("idle_timeout", idle_timeout)
        self._conns: set[_cosocket.socket] = set()
        # Connections the hub watches for their first bytes (start_on_data):
        # socket -> address.  They count as active.
        self._waiting: dict[_cosocket.socket, Any] = {}
        #: connections closed by stop()/close() while the hub waited for their first bytes
        self.closed_waiting = 0
        BaseServer.__init__(
            self,
            listener,
            handle,
            spawn,
            backlog=backlog,
            family=family,
            max_active=self.max_connections,
            stop_timeout=stop_timeout,
        )

    @property
    def ssl_enabled(self) -> bool:
        """True when connections are wrapped in TLS."""
        return self.ssl_context is not None

    def _make_listener(self, address: tuple[Any, ...], family: int | None) -> _cosocket.socket:
        return _bind_new(address, family, _stdsocket.SOCK_STREAM, self.reuse_port)

    def _prepare(self) -> None:
        """Listen on the listener with :attr:`backlog` (run by :meth:`start`)."""
        # Listening again is harmless; it also applies our backlog to a
        # socket given bound but not yet listening.
        if (
            self._address is not None
            or self.socket.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_ACCEPTCONN) == 0
        ):
            self.socket.listen(self.backlog)

    def do_read(self) -> tuple[Any, ...] | None:
        """Accept one connection: ``(socket, address)``, or None if none is waiting."""
        sock = self.socket
        try:
            fd, address = _c_accept(sock)
        except BlockingIOError:
            return None
        conn = _CoSocket(sock.family, sock.type, sock.proto, fd)
        self._conns.add(conn)
        return conn, address

    def do_close(self, *args: Any) -> None:
        """Close the connection's socket (unless it went back to waiting for data)."""
        conn = args[0]
        if conn in self._waiting:
            return
        self._conns.discard(conn)
        conn.close()

    # -- start_on_data: the hub waits for a connection's first bytes ---------------------

    def do_handle(self, *args: Any) -> None:
        """Hand one connection to ``spawn``; with ``start_on_data``, once it sent something."""
        if self.start_on_data and self._spawn is not None:
            # Look once the hub has run what is queued (as late as a handler
            # spawned now would first read): the bytes are often there by then.
            get_hub().run_callback(self._look, *args)
        else:
            BaseServer.do_handle(self, *args)

    def _look(self, conn: _cosocket.socket, address: Any) -> None:
        # In the hub: bytes (or EOF, or an error) there start the handler,
        # else the hub watches for them.
        if self._closed:
            self._release(conn, address)
            return
        try:
            _c_recv(conn, 1, _PEEK_NOW)
        except BlockingIOError:
            try:
                self._watch(conn, address, self._data_timeout())
            except BaseException:
                self._release(conn, address)
                raise
            return
        except OSError:
            pass  # the handler's first call will say what it is
        self._ready(conn, address)

    def _ready(self, conn: _cosocket.socket, address: Any) -> None:
        # In the hub, where nothing may wait: start the handler.
        pool = self.pool
        if pool is not None and not pool.full():  # its spawn will not wait
            self._start_handler(conn, address)
        else:
            # spawn may wait (a full pool, a callable of the program's own)
            Greenlet.spawn(self._start_handler, conn, address)

    def _data_timeout(self) -> float | None:
        """How long a new connection may stay silent before it is closed."""
        return self.handshake_timeout if self.ssl_context is not None else self.idle_timeout

    @property
    def waiting(self) -> int:
        """How many connections the hub watches for their first bytes (``start_on_data``)."""
        return len(self._waiting)

    def _watch(self, conn: _cosocket.socket, address: Any, timeout: float | None) -> None:
        # The caller counted the connection as active; it stays so until its
        # handler ends or the wait does.  Never switches.
        self._waiting[conn] = address
        try:
            _sock_watch(_c_fileno(conn), self._on_data, conn, timeout)
        except BaseException:
            del self._waiting[conn]
            raise

    def _wait_again(self, conn: _cosocket.socket, address: Any, timeout: float | None) -> bool:
        """From a handler about to return: let the hub wait for the connection's next bytes.

        Returns False (the handler closes it as usual) once the server is
        closing.  The connection is not closed when the handler returns;
        a new handler starts when data comes.
        """
        if self._closed or self._spawn is None:
            return False
        self._active += 1
        try:
            self._watch(conn, address, timeout)
        except BaseException:
            self._active -= 1
            raise
        return True

    def _on_data(self, conn: _cosocket.socket, result: Any) -> None:
        # Called in the hub (it must not block): data came, the wait timed
        # out, or the socket was closed.
        address = self._waiting.pop(conn, _MISSING)
        if address is _MISSING:
            return  # closed by close()/stop(): already released
        if result is True:
            self._ready(conn, address)
            return
        if result is False and self._log_no_data:
            log.info(
                "%r: closing the connection from %s: nothing received in %g s",
                self,
                address,
                self._data_timeout(),
            )
        self._release(conn, address)

    def _start_handler(self, conn: _cosocket.socket, address: Any) -> None:
        if self._closed:  # (in a greenlet of its own, it may run after close())
            self._release(conn, address)
            return
        started = self._started
        try:
            self._spawn(self._handle, conn, address)  # type: ignore[misc]
        except BaseException:
            if self._started == started:
                self._release(conn, address)
            raise

    def _release(self, conn: _cosocket.socket, address: Any) -> None:
        # A connection whose handler will never run: close it, free its place.
        self._active -= 1
        self.do_close(conn, address)
        if self._paused:
            self._wakeup.set()

    def close(self) -> None:
        """Stop accepting, close the listener and the connections waiting for data.

        Running handlers go on.  Never switches.
        """
        if self._closed:
            return
        try:
            BaseServer.close(self)
        finally:
            waiting, self._waiting = self._waiting, {}
            if waiting:
                log.info("%r: closing %d connection(s) waiting for data", self, len(waiting))
                self.closed_waiting += len(waiting)
            for conn, address in waiting.items():
                self._active -= 1
                self.do_close(conn, address)

    def _release_leftovers(self) -> None:
        # Accepted, but their handlers were killed before they ever ran.
        conns, self._conns = self._conns, set()
        for conn in conns:
            conn.close()

    def _run_handler(self, *args: Any) -> None:
        conn, address = args
        self._conns.discard(conn)  # its handler runs: closing it is the handler's now
        idle = self.idle_timeout
        if idle is not None:
            conn.settimeout(idle)
        try:
            if self.ssl_context is not None:
                self.wrap_socket_and_handle(conn, address)
            else:
                self.handle(conn, address)
        except TimeoutError as exc:
            if idle is None:
                raise
            log.info("%r: closing the connection from %s: %s", self, address, exc or "timed out")

    def wrap_socket_and_handle(self, client_socket: Any, address: Any) -> Any:
        """Do the TLS handshake (within :attr:`handshake_timeout`), then call ``handle``.

        A handshake that fails (``OSError``, which includes ``ssl.SSLError``)
        or times out is logged as one line at INFO level to the
        ``corolib.server`` logger, and ``handle`` is not called.  The TLS
        socket is closed when ``handle`` returns.
        """
        timer = Timeout.start_new(self.handshake_timeout)
        try:
            if self._wrap_args.get("do_handshake_on_connect", True):
                _await_first_record(client_socket)
            tls = self.wrap_socket(client_socket)
        except Timeout as exc:
            if exc is not timer:
                raise
            log.info(
                "%r: TLS handshake with %s timed out after %g s",
                self,
                address,
                self.handshake_timeout,
            )
            return None
        except OSError as exc:  # ssl.SSLError included: a failed handshake
            log.info("%r: TLS handshake with %s failed: %s", self, address, exc)
            return None
        finally:
            timer.cancel()
            # The Timeout's traceback holds this frame, which holds the
            # Timeout: break the cycle, or every timed-out handshake's
            # frames, TLS objects and socket wait for the cyclic GC.
            timer.__traceback__ = None
            del timer
        with tls:
            return self.handle(tls, address)

    def wrap_socket(self, conn: _cosocket.socket) -> Any:
        """Wrap an accepted connection in TLS (called in the handler's greenlet).

        The handshake happens here (unless ``do_handshake_on_connect=False``
        was given); the new socket owns the fd from then on.
        """
        return self.ssl_context.wrap_socket(conn, server_side=True, **self._wrap_args)

    handle: Callable[[_cosocket.socket, Any], Any]


# TLS records: type (0x16: handshake), version (2 bytes), length (2 bytes).
_HANDSHAKE = 0x16
_HEADER = 5
_MAX_RECORD = _HEADER + 16384 + 2048
_SOL_SOCKET = _stdsocket.SOL_SOCKET
_SO_RCVLOWAT: int = getattr(_stdsocket, "SO_RCVLOWAT", -1)
_PEEK_NOW = _stdsocket.MSG_PEEK | _stdsocket.MSG_DONTWAIT
_c_recv = _csock.recv
_lowat_works = _SO_RCVLOWAT != -1


def _await_first_record(conn: _cosocket.socket) -> None:
    """Wait until the client's first TLS record (its ClientHello) is all here.

    Only then is the TLS state made (OpenSSL's, some 50 KiB a connection):
    a client that trickles its hello a byte at a time, or sends nothing,
    costs a greenlet and a socket until the handshake deadline, not that.
    The bytes are only peeked at.  The wait is for the kernel to hold
    ``SO_RCVLOWAT`` bytes, so it takes no wake-up per byte; where that
    option does not work the TLS state is made at once, as before.
    Anything that is not a handshake record goes straight to OpenSSL,
    which rejects it.
    """
    global _lowat_works
    if not _lowat_works:
        return
    need = 1
    try:
        while True:
            try:
                have = _c_recv(conn, _MAX_RECORD, _PEEK_NOW)
            except BlockingIOError:
                have = b""
            else:
                if not have:
                    return  # closed: OpenSSL will say so
            if len(have) >= _HEADER:
                if have[0] != _HANDSHAKE:
                    return
                want = _HEADER + int.from_bytes(have[3:5], "big")
                if want > _MAX_RECORD or len(have) >= want:
                    return  # all here (the usual case: at the first look)
            else:
                want = _HEADER
            if want == need:
                # Woken without the bytes asked for: the option is not honoured here.
                _lowat_works = False
                return
            need = want
            conn.setsockopt(_SOL_SOCKET, _SO_RCVLOWAT, need)
            wait_fd(conn.fileno(), False, None)
    finally:
        if need != 1:
            try:
                conn.setsockopt(_SOL_SOCKET, _SO_RCVLOWAT, 1)
            except OSError:
                pass


def _context_from_args(
    keyfile: str | None = None,
    certfile: str | None = None,
    ca_certs: str | None = None,
    cert_reqs: int | None = None,
    ssl_version: int | None = None,
    ciphers: str | None = None,
) -> Any:
    """A server-side corolib.ssl.SSLContext from gevent's TLS keyword arguments."""
    import ssl as _stdssl

    from corolib import ssl as _cossl

    if certfile is None:
        raise TypeError("TLS keyword arguments need certfile= (the certificate chain)")
    protocol = _stdssl.PROTOCOL_TLS_SERVER if ssl_version is None else ssl_version
    context = _cossl.SSLContext(protocol)
    if protocol != _stdssl.PROTOCOL_TLS_SERVER:
        context.check_hostname = False
    context.load_cert_chain(certfile, keyfile)
    if ca_certs is not None:
        context.load_verify_locations(ca_certs)
    if cert_reqs is not None:
        context.verify_mode = _stdssl.VerifyMode(cert_reqs)
    if ciphers is not None:
        context.set_ciphers(ciphers)
    return context


class DatagramServer(BaseServer):
    """A UDP server: ``handle(data, address)`` per datagram received.

    ``DatagramServer(listener, handle=None, spawn="default", *,
    family=None, max_handlers=1000, stop_timeout=None)``.  Reply with
    :meth:`sendto`.  Each datagram gets its own greenlet (or, with
    ``spawn=None``, is handled in the receiving greenlet, in order); at most
    ``max_handlers`` run at once, and while that many do, datagrams wait in
    the socket's receive buffer (where the kernel drops what does not fit).
    """

    #: the largest datagram received whole (longer ones are truncated)
    max_datagram: int = 65536
    #: the most datagrams handled at once by default (None: no limit)
    max_handlers: int | None = 1000

    def __init__(
        self,
        listener: tuple[Any, ...] | _stdsocket.socket,
        handle: Callable[[bytes, Any], Any] | None = None,
        spawn: Any = "default",
        *,
        family: int | None = None,
        max_handlers: int | None = _UNSET,
        stop_timeout: float | None = None,
    ) -> None:
        if max_handlers is not _UNSET:
            self.max_handlers = _check_limit("max_handlers", max_handlers)
        BaseServer.__init__(
            self,
            listener,
            handle,
            spawn,
            family=family,
            max_active=self.max_handlers,
            stop_timeout=stop_timeout,
        )

    def _make_listener(self, address: tuple[Any, ...], family: int | None) -> _cosocket.socket:
        return _bind_new(address, family, _stdsocket.SOCK_DGRAM)

    def do_read(self) -> tuple[Any, ...] | None:
        """Receive one datagram: ``(data, address)``, or None if none is waiting."""
        try:
            return _c_recvfrom(self.socket, self.max_datagram)  # type: ignore[no-any-return]
        except BlockingIOError:
            return None

    def sendto(self, data: Any, address: Any) -> int:
        """Send ``data`` to ``address`` from the server's socket (waits if its buffer is full)."""
        return self.socket.sendto(data, address)

    handle: Callable[[bytes, Any], Any]
