"""TCP and UDP servers: ``StreamServer`` and ``DatagramServer``, as in gevent.

A server owns a listening socket and one *accept greenlet* that takes new
connections (or datagrams) off it and hands each to ``handle`` in a greenlet
of its own::

    def handle(sock, address):
        while data := sock.recv(4096):
            sock.sendall(data)

    server = StreamServer(("127.0.0.1", 0), handle)
    server.serve_forever()

How connections are spawned (``spawn=``, gevent's values):

- ``"default"`` (the default): one new :class:`~corolib.hub.Greenlet` per
  connection, no limit.  The server still tracks them (in a
  :class:`~corolib.pool.Group`) so that :meth:`BaseServer.stop` can wait
  for them and kill the rest.
- an ``int`` ``n``: a :class:`~corolib.pool.Pool` of size ``n``.
- a :class:`~corolib.pool.Pool` or :class:`~corolib.pool.Group`: used as
  given.  While a pool is full the accept greenlet waits for a free slot
  and accepts nothing meanwhile (the kernel's backlog holds the callers).
- any other callable ``spawn(fn, *args)``: called per connection; such
  handlers are not tracked, so ``stop`` cannot wait for them.
- ``None``: ``handle`` runs in the accept greenlet itself, one connection at
  a time (stopping the server kills the accept greenlet, and so that handler).

The accept loop.  The listening fd is non-blocking.  Each time it becomes
readable the accept greenlet accepts up to :attr:`BaseServer.max_accept`
connections in a row, then yields once (``sleep(0)``) so that the handlers
it started can run before it accepts more.  An ``accept`` that fails for a
reason other than "would block" (EMFILE, ENFILE, ENOBUFS, ENOMEM,
ECONNABORTED, ...) is logged to the ``corolib.server`` logger and survived:
the accept greenlet sleeps :attr:`BaseServer.min_delay` seconds, doubling
per consecutive failure up to :attr:`BaseServer.max_delay`, and goes on.
Only the errors in :attr:`BaseServer.fatal_errors` (the listener is not a
usable socket any more: EBADF, EINVAL, ENOTSOCK) stop the server.

Stopping.  :meth:`BaseServer.close` stops accepting and closes the listener
at once, leaving running handlers alone.  :meth:`BaseServer.stop` does the
same, then waits up to ``timeout`` seconds (default
:attr:`BaseServer.stop_timeout`) for the handlers to finish, then kills
the ones still running and waits (briefly) for them to die.  A server that
was stopped or closed cannot be started again.  A connection's socket is
closed when its handler returns (or fails, or is killed).

Switch points: :meth:`BaseServer.serve_forever` (until stopped),
:meth:`BaseServer.stop`, and :meth:`DatagramServer.sendto` when the
socket's send buffer is full.  :meth:`BaseServer.start`,
:meth:`BaseServer.close` and the constructors never switch; a listener
given as an address is bound in the constructor, which resolves a host
name cooperatively first (and so switches, unless the host is a literal
address, ``""`` or None).  Everything else
happens in the accept greenlet and the handler greenlets.  A server
belongs to the thread that made it.

The listener: an address tuple (bound with ``SO_REUSEADDR`` and listened on
with ``backlog``, in :meth:`BaseServer.start` at the latest), or a bound
socket (a stdlib socket is taken over: its fd moves into a corolib socket,
the object given is left detached).  Either way the server owns it and
closes it when stopped.  With ``ssl_context=``, :class:`StreamServer`
wraps each accepted connection with ``ssl_context.wrap_socket(sock,
server_side=True)`` in the handler's greenlet (the handshake never holds up
the accept loop); this needs :mod:`corolib.ssl`'s ``SSLContext``.
"""

from __future__ import annotations

import errno
import logging
import socket as _stdsocket
from collections.abc import Callable
from typing import Any

from corolib import socket as _cosocket
from corolib._core import GreenletExit, getcurrent
from corolib._core import sleep as _sleep
from corolib._socket_common import wait_fd
from corolib.hub import Greenlet
from corolib.pool import Group, Pool
from corolib.sync import Event

__all__ = ["BaseServer", "StreamServer", "DatagramServer"]

log = logging.getLogger("corolib.server")

_csock: Any = _stdsocket.socket
_c_accept = _csock._accept  # -> (fd, address), the fd not yet a socket object
_c_recvfrom = _csock.recvfrom
_c_fileno = _csock.fileno
_CoSocket = _cosocket.socket


def _adopt(sock: _stdsocket.socket) -> _cosocket.socket:
    """Return ``sock`` as a corolib socket (a stdlib one is taken over, fd and all)."""
    if isinstance(sock, _CoSocket):
        return sock
    timeout = sock.gettimeout()
    new = _CoSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    new.settimeout(timeout)
    return new


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


class BaseServer:
    """What :class:`StreamServer` and :class:`DatagramServer` share: the loop and its life.

    Subclasses define :meth:`_make_listener` (bind a new socket for an
    address), :meth:`_read_one` (take one connection or datagram off the
    listener without waiting; ``BlockingIOError`` when there is none) and
    :meth:`_dispatch` (hand it to ``handle``).
    """

    #: the most connections (or datagrams) taken per wake-up before yielding
    max_accept: int = 100
    #: first back-off after a failed accept, in seconds (doubles per failure)
    min_delay: float = 0.01
    #: longest back-off after failed accepts, in seconds
    max_delay: float = 1.0
    #: errnos of accept/recvfrom that end the server instead of being survived
    fatal_errors: tuple[int, ...] = (errno.EBADF, errno.EINVAL, errno.ENOTSOCK)
    #: how long :meth:`stop` waits for handlers by default, in seconds
    stop_timeout: float = 1.0
    #: how long :meth:`stop` waits for killed handlers to die, in seconds
    kill_timeout: float = 1.0
    #: the listen backlog used when the server binds the listener itself
    backlog: int = 1024

    def __init__(
        self,
        listener: tuple[Any, ...] | _stdsocket.socket,
        handle: Callable[..., Any] | None = None,
        spawn: Any = "default",
        *,
        backlog: int | None = None,
        family: int | None = None,
    ) -> None:
        if backlog is not None:
            self.backlog = backlog
        if handle is not None:
            self.handle = handle
        elif not callable(getattr(self, "handle", None)):
            raise TypeError("a server needs a handle callable (argument or method)")
        self.pool: Group | None = None
        self._spawn: Callable[..., Any] | None = self._set_spawn(spawn)
        self._acceptor: Greenlet | None = None
        self._stop_event = Event()
        self._closed = False
        self.delay = self.min_delay  # the current back-off
        if isinstance(listener, _stdsocket.socket):
            self.socket: _cosocket.socket = _adopt(listener)
            self._address: Any = None
        else:
            if not isinstance(listener, tuple):
                raise TypeError(
                    f"listener must be an address tuple or a socket, not {type(listener).__name__}"
                )
            self._address = listener
            self.socket = self._make_listener(listener, family)

    # -- configuration ------------------------------------------------------------------

    def _set_spawn(self, spawn: Any) -> Callable[..., Any] | None:
        if spawn == "default":
            self.pool = Group()
            return self.pool.spawn
        if spawn is None:
            return None
        if isinstance(spawn, bool):
            raise TypeError(f"spawn must be 'default', a pool, a size or a callable, not {spawn!r}")
        if isinstance(spawn, int):
            if spawn < 1:
                raise ValueError(f"a pool size must be at least 1, not {spawn}")
            self.pool = Pool(spawn)
            return self.pool.spawn
        if isinstance(spawn, Group):
            self.pool = spawn
            return spawn.spawn
        if callable(spawn):
            return spawn  # type: ignore[no-any-return]
        raise TypeError(f"spawn must be 'default', a pool, a size or a callable, not {spawn!r}")

    def _make_listener(self, address: tuple[Any, ...], family: int | None) -> _cosocket.socket:
        raise NotImplementedError

    # -- what the server is ------------------------------------------------------------

    @property
    def address(self) -> Any:
        """The address the listener is bound to (the real port, when 0 was asked for)."""
        try:
            return self.socket.getsockname()
        except OSError:
            return self._address

    @property
    def server_host(self) -> Any:
        """The host part of :attr:`address`."""
        address = self.address
        return address[0] if isinstance(address, tuple) else None

    @property
    def server_port(self) -> Any:
        """The port part of :attr:`address`."""
        address = self.address
        return address[1] if isinstance(address, tuple) else None

    @property
    def started(self) -> bool:
        """True between :meth:`start` and :meth:`stop`/:meth:`close`."""
        return self._acceptor is not None and not self._closed

    @property
    def closed(self) -> bool:
        """True once :meth:`stop` or :meth:`close` was called."""
        return self._closed

    def __repr__(self) -> str:
        state = "started" if self.started else ("closed" if self._closed else "not started")
        return f"<{type(self).__name__} at {id(self):#x} {self.address!r} {state}>"

    # -- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start accepting in the background (an accept greenlet); never switches.

        Idempotent while started; a server that was stopped cannot be
        started again (``RuntimeError``).
        """
        if self._closed:
            raise RuntimeError(f"{self!r} was stopped; make a new server")
        if self._acceptor is not None:
            return
        self._prepare()
        self._acceptor = Greenlet.spawn(self._accept_loop)
        self._acceptor.name = f"{type(self).__name__}-accept-{self.server_port}"

    def _prepare(self) -> None:
        """Hook run by :meth:`start` before the accept greenlet starts."""

    def serve_forever(self, stop_timeout: float | None = None) -> None:
        """Start if needed, then wait until the server is stopped.

        If the wait ends any other way (``KeyboardInterrupt``, a kill), the
        server is stopped (with ``stop_timeout``) before the exception goes on.
        """
        if not self._closed:
            self.start()
        try:
            self._stop_event.wait()
        finally:
            if not self._closed:
                self.stop(stop_timeout)

    def close(self) -> None:
        """Stop accepting and close the listener now; running handlers go on.

        Never switches: the accept greenlet is killed without waiting.
        """
        if self._closed:
            return
        self._closed = True
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None and acceptor is not getcurrent():
            acceptor.kill(block=False)
        try:
            self.socket.close()
        finally:
            self._stop_event.set()

    def stop(self, timeout: float | None = None) -> None:
        """Close, then wait up to ``timeout`` s for handlers; kill the rest.

        ``timeout`` defaults to :attr:`stop_timeout`.  Handlers started
        through a plain callable ``spawn`` are not tracked and not waited for.
        """
        self.close()
        pool = self.pool
        if pool is None or not len(pool):
            return
        if getcurrent() in pool:
            # Called by a handler: it cannot wait for itself.  The waiting and
            # killing go on in a greenlet of their own (this one included).
            Greenlet.spawn(self._finish, timeout)
            return
        self._finish(timeout)

    def _finish(self, timeout: float | None) -> None:
        pool = self.pool
        assert pool is not None
        if timeout is None:
            timeout = self.stop_timeout
        pool.join(timeout=timeout)
        if len(pool):
            log.debug("%r: killing %d handler(s) still running", self, len(pool))
            pool.kill(block=True, timeout=self.kill_timeout)

    def __enter__(self) -> BaseServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the accept loop ------------------------------------------------------------------

    def _read_one(self, sock: Any) -> Any:
        raise NotImplementedError

    def _dispatch(self, item: Any) -> None:
        raise NotImplementedError

    def _accept_loop(self) -> None:
        sock = self.socket
        fd = _c_fileno(sock)
        max_accept = self.max_accept
        read_one = self._read_one
        dispatch = self._dispatch
        try:
            while not self._closed:
                for _ in range(max_accept):
                    try:
                        item = read_one(sock)
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        if not self._survive(exc):
                            return
                        break
                    self.delay = self.min_delay
                    dispatch(item)
                else:
                    # max_accept in a row: let the handlers started run first.
                    _sleep(0)
                    continue
                if not self._closed:
                    wait_fd(fd, False, None)
        except GreenletExit:
            pass
        except OSError as exc:
            # The listener was closed under us (EBADF from the wait).
            if not self._closed:
                log.error("%r: listener failed, stopping: %s", self, exc)
                self._acceptor = None
                self.close()

    def _survive(self, exc: OSError) -> bool:
        """Log a failed accept and back off; False if the server must stop instead."""
        if self._closed:
            return False
        if exc.errno in self.fatal_errors:
            log.error("%r: accept failed (%s), stopping the server", self, exc)
            self._acceptor = None
            self.close()
            return False
        delay = self.delay
        log.warning("%r: accept failed (%s); retrying in %.3g s", self, exc, delay)
        self.delay = min(self.max_delay, delay * 2)
        _sleep(delay)
        return True


class StreamServer(BaseServer):
    """A TCP (or other stream) server: ``handle(sock, address)`` per connection.

    ``StreamServer(listener, handle=None, spawn="default", backlog=None,
    ssl_context=None, *, reuse_port=False)``.  ``handle`` gets a :class:`corolib.socket.socket`
    in blocking mode (timeout None; set one if you need it) and the peer's
    address; the socket is closed when ``handle`` returns.  A subclass may
    define a ``handle`` method instead of passing one.  ``reuse_port=True``
    binds an address listener with ``SO_REUSEPORT`` too, so that several
    processes can serve one port (the kernel spreads the connections).
    """

    def __init__(
        self,
        listener: tuple[Any, ...] | _stdsocket.socket,
        handle: Callable[[_cosocket.socket, Any], Any] | None = None,
        spawn: Any = "default",
        backlog: int | None = None,
        ssl_context: Any = None,
        *,
        family: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.reuse_port = reuse_port
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
        self.ssl_context = ssl_context
        BaseServer.__init__(self, listener, handle, spawn, backlog=backlog, family=family)

    def _make_listener(self, address: tuple[Any, ...], family: int | None) -> _cosocket.socket:
        return _bind_new(address, family, _stdsocket.SOCK_STREAM, self.reuse_port)

    def _prepare(self) -> None:
        # Listening again is harmless; it also applies our backlog to a
        # socket given bound but not yet listening.
        if (
            self._address is not None
            or self.socket.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_ACCEPTCONN) == 0
        ):
            self.socket.listen(self.backlog)

    def _read_one(self, sock: Any) -> Any:
        return _c_accept(sock)

    def _dispatch(self, item: Any) -> None:
        fd, address = item
        sock = self.socket
        conn = _CoSocket(sock.family, sock.type, sock.proto, fd)
        spawn = self._spawn
        try:
            if spawn is None:
                self._handle_and_close(conn, address)
            else:
                spawn(self._handle_and_close, conn, address)
        except BaseException:
            conn.close()
            raise

    def _handle_and_close(self, conn: _cosocket.socket, address: Any) -> None:
        try:
            if self.ssl_context is not None:
                try:
                    conn = self.wrap_socket(conn)
                except OSError as exc:  # ssl.SSLError included: a failed handshake
                    log.info("%r: TLS handshake with %s failed: %s", self, address, exc)
                    return
            self.handle(conn, address)
        finally:
            conn.close()

    def wrap_socket(self, conn: _cosocket.socket) -> Any:
        """Wrap an accepted connection in TLS (called in the handler's greenlet).

        The handshake happens here; if it fails (``OSError``, which includes
        ``ssl.SSLError``), the failure is logged at INFO level to the
        ``corolib.server`` logger and the connection is closed without
        calling ``handle``.
        """
        return self.ssl_context.wrap_socket(conn, server_side=True)

    handle: Callable[[_cosocket.socket, Any], Any]


class DatagramServer(BaseServer):
    """A UDP server: ``handle(data, address)`` per datagram received.

    ``DatagramServer(listener, handle=None, spawn="default")``.  Reply with
    :meth:`sendto`.  Each datagram gets its own greenlet (or, with
    ``spawn=None``, is handled in the receiving greenlet, in order).
    """

    #: the largest datagram received whole (longer ones are truncated)
    max_datagram: int = 65536

    def __init__(
        self,
        listener: tuple[Any, ...] | _stdsocket.socket,
        handle: Callable[[bytes, Any], Any] | None = None,
        spawn: Any = "default",
        *,
        family: int | None = None,
    ) -> None:
        BaseServer.__init__(self, listener, handle, spawn, family=family)

    def _make_listener(self, address: tuple[Any, ...], family: int | None) -> _cosocket.socket:
        return _bind_new(address, family, _stdsocket.SOCK_DGRAM)

    def _read_one(self, sock: Any) -> Any:
        return _c_recvfrom(sock, self.max_datagram)

    def _dispatch(self, item: Any) -> None:
        spawn = self._spawn
        if spawn is None:
            self.handle(*item)
        else:
            spawn(self.handle, *item)

    def sendto(self, data: Any, address: Any) -> int:
        """Send ``data`` to ``address`` from the server's socket (waits if its buffer is full)."""
        return self.socket.sendto(data, address)

    handle: Callable[[bytes, Any], Any]
