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
kills the ones still running and waits (briefly, :attr:`BaseServer.
kill_timeout`) for them to die.  Whichever greenlet calls ``stop`` -- the
main one, a handler, or the greenlet :func:`corolib.signal_handler` runs a
signal handler in -- :meth:`BaseServer.serve_forever` returns only once
that stop is complete, so ``signal_handler(SIGTERM, server.stop)`` followed
by ``serve_forever()`` lets the requests in flight finish.  A second
``stop()`` while one is under way means *stop now*: the remaining handlers
are killed at once (so a second SIGTERM or SIGINT delivered through
``signal_handler`` ends a drain early; so does a ``KeyboardInterrupt`` that
interrupts the drain in ``serve_forever``).  A server that was stopped or
closed cannot be started again.  A connection's socket is closed when its
handler returns (or fails, or is killed, or the server gives up on it).

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

import errno
import logging
import signal as _signal
import socket as _stdsocket
from collections.abc import Callable
from typing import Any

from corolib import socket as _cosocket
from corolib._core import GreenletExit, getcurrent
from corolib._core import sleep as _sleep
from corolib._socket_common import wait_fd
from corolib.hub import Greenlet, Timeout, signal_handler
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


_UNSET: Any = object()

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


def _check_timeout(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {value!r}")
    if not value > 0:
        raise ValueError(f"{name} must be positive, not {value!r}")
    return float(value)


def _check_limit(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


# The servers in serve_forever, and serve_forever's SIGINT handler while any is.
_serving: dict[BaseServer, None] = {}
_sigint: Any = None


def _on_sigint() -> None:
    # Runs in a greenlet of its own (corolib.signal_handler).
    for server in list(_serving):
        server._interrupted = True
        server.stop()


def _serving_add(server: BaseServer) -> None:
    global _sigint
    _serving[server] = None
    if _sigint is not None:
        return
    try:
        if _signal.getsignal(_signal.SIGINT) is not _signal.default_int_handler:
            return
        _sigint = signal_handler(_signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread
        pass


def _serving_discard(server: BaseServer) -> None:
    global _sigint
    _serving.pop(server, None)
    if _sigint is not None and not _serving:
        handler, _sigint = _sigint, None
        try:
            handler.cancel()
        except ValueError:
            pass


class BaseServer:
    """What :class:`StreamServer` and :class:`DatagramServer` share: the loop and its life.

    Subclasses define :meth:`_make_listener` (bind a new socket for an
    address), :meth:`do_read` and :meth:`do_close`; see the module
    documentation for the hooks a subclass may override.
    """

    #: the most connections (or datagrams) taken per wake-up before yielding
    max_accept: int = 100
    #: first back-off after a failed accept, in seconds (doubles per failure)
    min_delay: float = 0.01
    #: longest back-off after failed accepts, in seconds
    max_delay: float = 1.0
    #: errnos of accept/recvfrom that end the server instead of being survived
    fatal_errors: tuple[int, ...] = (errno.EBADF, errno.EINVAL, errno.ENOTSOCK)
    #: how long :meth:`stop` lets handlers finish by default, in seconds
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
        max_active: int | None = None,
        stop_timeout: float | None = None,
    ) -> None:
        if backlog is not None:
            self.backlog = backlog
        if stop_timeout is not None:
            self.stop_timeout = _check_timeout("stop_timeout", stop_timeout)  # type: ignore[assignment]
        self._max_active = _check_limit("the handler limit", max_active)
        if handle is not None:
            self.set_handle(handle)
        elif not callable(getattr(self, "handle", None)):
            raise TypeError("a server needs a handle callable (argument or method)")
        self.pool: Group | None = None
        self._spawn: Callable[..., Any] | None = None
        self.set_spawn(spawn)
        self._acceptor: Greenlet | None = None
        self._closed = False  # close() was called: no more accepting
        self._stopping = False  # stop() was called: draining the handlers
        self._close_event = Event()  # set by close()
        self._stopped_event = Event()  # set when stop() is complete
        self._accepting = True  # start_accepting()/stop_accepting()
        self._paused = False  # the accept greenlet waits on _wakeup
        self._wakeup = Event()
        self._active = 0  # handlers taken on and not finished
        self._interrupted = False  # stopped by serve_forever's own SIGINT handler
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

    def set_handle(self, handle: Callable[..., Any]) -> None:
        """Make ``handle`` the handler for connections taken from now on."""
        if not callable(handle):
            raise TypeError(f"handle must be callable, not {handle!r}")
        self.handle = handle

    def set_spawn(self, spawn: Any) -> None:
        """Change how handlers are started (see the module documentation for ``spawn``).

        Handlers already running stay where they are; a Group or Pool
        replaced here is no longer waited for by :meth:`stop`.
        """
        pool: Group | None = None
        fn: Callable[..., Any] | None
        if isinstance(spawn, str) and spawn == "default":
            pool = Group()
            fn = pool.spawn
        elif spawn is None:
            fn = None
        elif isinstance(spawn, bool):
            raise TypeError(f"spawn must be 'default', a pool, a size or a callable, not {spawn!r}")
        elif isinstance(spawn, int):
            if spawn < 1:
                raise ValueError(f"a pool size must be at least 1, not {spawn}")
            pool = Pool(spawn)
            fn = pool.spawn
        elif isinstance(spawn, Group):
            pool = spawn
            fn = spawn.spawn
        elif callable(spawn):
            fn = spawn
        else:
            raise TypeError(f"spawn must be 'default', a pool, a size or a callable, not {spawn!r}")
        self.pool = pool
        self._spawn = fn

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

    @property
    def active(self) -> int:
        """How many handlers are running (or handed over and about to run)."""
        return self._active

    @property
    def accepting(self) -> bool:
        """False after :meth:`stop_accepting` (until :meth:`start_accepting`)."""
        return self._accepting and not self._closed

    def __repr__(self) -> str:
        state = "started" if self.started else ("closed" if self._closed else "not started")
        return f"<{type(self).__name__} at {id(self):#x} {self.address!r} {state}>"

    # -- hooks --------------------------------------------------------------------------

    def full(self) -> bool:
        """Tell whether the server takes no more connections for now.

        True while the handler limit is reached or a :class:`~corolib.pool.Pool`
        given as ``spawn`` is full.  While it is, the accept greenlet takes
        nothing off the listener; it looks again when a handler finishes
        (and at least once a second, for overrides that depend on
        something else).
        """
        limit = self._max_active
        if limit is not None and self._active >= limit:
            return True
        pool = self.pool
        return pool is not None and pool.full()

    def is_fatal_error(self, exc: BaseException) -> bool:
        """Tell whether a failed accept (or recvfrom) must stop the server."""
        return isinstance(exc, OSError) and exc.errno in self.fatal_errors

    def do_read(self) -> tuple[Any, ...] | None:
        """Take one connection (datagram) off the listener without waiting.

        Returns the arguments for ``handle``, or None when there is none;
        raises ``OSError`` when the accept fails.
        """
        raise NotImplementedError

    def do_handle(self, *args: Any) -> None:
        """Hand one connection's ``args`` to ``spawn`` (or run it here, with ``spawn=None``)."""
        spawn = self._spawn
        if spawn is None:
            self._handle(*args)
        else:
            spawn(self._handle, *args)

    def do_close(self, *args: Any) -> None:
        """Release what one connection holds (after its handler, or if it never ran)."""

    def _handle(self, *args: Any) -> None:
        # What every handler greenlet runs: the handler, then the bookkeeping.
        try:
            self._run_handler(*args)
        finally:
            try:
                self.do_close(*args)
            finally:
                self._active -= 1
                if self._paused:
                    self._wakeup.set()

    def _run_handler(self, *args: Any) -> None:
        self.handle(*args)

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
        self.init_socket()
        self._acceptor = Greenlet.spawn(self._accept_loop)
        self._acceptor.name = f"{type(self).__name__}-accept-{self.server_port}"

    def init_socket(self) -> None:
        """Hook run by :meth:`start` before the accept greenlet starts (listen, for TCP)."""

    def start_accepting(self) -> None:
        """Resume taking connections off the listener (after :meth:`stop_accepting`).

        Starts the server if it was not started.  Never switches.
        """
        if self._closed:
            raise RuntimeError(f"{self!r} was stopped; make a new server")
        self._accepting = True
        if self._acceptor is None:
            self.start()
        elif self._paused:
            self._wakeup.set()

    def stop_accepting(self) -> None:
        """Stop taking connections off the listener, keeping it open; never switches.

        New callers wait in the kernel's backlog until :meth:`start_accepting`;
        running handlers go on.
        """
        self._accepting = False

    def serve_forever(self, stop_timeout: float | None = None) -> None:
        """Start if needed, then wait until the server is stopped.

        Returns once :meth:`close` was called, or once a :meth:`stop` --
        called by any greenlet -- is complete (its handlers finished or
        killed).  ``stop_timeout``, if given, becomes :attr:`stop_timeout`
        (what a ``stop()`` without an argument uses).

        Ctrl-C: while SIGINT has Python's default handler (the one that
        raises ``KeyboardInterrupt`` wherever the program happens to be --
        possibly in a handler, losing its request), ``serve_forever`` in the
        main thread puts a handler of its own in its place for as long as it
        serves: SIGINT then stops every server serving forever gracefully,
        and ``serve_forever`` raises ``KeyboardInterrupt`` once that stop is
        complete, as an unhandled Ctrl-C would.  A second SIGINT stops them
        now.  If the wait ends any other way (an exception thrown in, a
        kill), the server is stopped before the exception goes on --
        gracefully the first time, at once if a stop was already under way.
        """
        if stop_timeout is not None:
            self.stop_timeout = _check_timeout("stop_timeout", stop_timeout)  # type: ignore[assignment]
        if not self._closed:
            self.start()
        _serving_add(self)
        try:
            self._close_event.wait()
            if self._stopping:
                self._stopped_event.wait()
        finally:
            _serving_discard(self)
            if not self._stopped_event.is_set() and (self._stopping or not self._closed):
                self.stop()
        if self._interrupted:
            raise KeyboardInterrupt

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
            self._close_event.set()

    def stop(self, timeout: float | None = None) -> None:
        """Close, then wait up to ``timeout`` s for handlers; kill the rest.

        ``timeout`` defaults to :attr:`stop_timeout`.  Handlers started
        through a plain callable ``spawn`` are not tracked and not waited
        for.  Called again while a stop is under way (by any greenlet: a
        second signal, say), it kills the remaining handlers at once.
        Returns when the stop is complete, except when called from one of
        the handlers (which cannot wait for itself: the waiting and killing
        go on in a greenlet of their own, this handler included).
        """
        if self._stopped_event.is_set():
            return
        if self._stopping:
            self._stop_now()
            return
        self._stopping = True
        self.close()
        pool = self.pool
        if pool is not None and getcurrent() in pool:
            Greenlet.spawn(self._finish, timeout)
            return
        self._finish(timeout)

    def _stop_now(self) -> None:
        # A stop is draining in some greenlet: kill what is left; wait a little.
        log.info("%r: stopping now (a second stop)", self)
        pool = self.pool
        current = getcurrent()
        if pool is not None:
            for greenlet in list(pool):
                if greenlet is not current:
                    greenlet.kill(block=False)
        if pool is None or current not in pool:
            self._stopped_event.wait(self.kill_timeout)

    def _finish(self, timeout: float | None) -> None:
        pool = self.pool
        try:
            if pool is not None and len(pool):
                if timeout is None:
                    timeout = self.stop_timeout
                try:
                    pool.join(timeout=timeout)
                except BaseException:
                    # Interrupted (a second Ctrl-C): stop now, then go on.
                    for greenlet in list(pool):
                        greenlet.kill(block=False)
                    raise
                if len(pool):
                    log.info("%r: killing %d handler(s) still running", self, len(pool))
                    pool.kill(block=True, timeout=self.kill_timeout)
        finally:
            self._release_leftovers()
            self._stopped_event.set()

    def _release_leftovers(self) -> None:
        """Hook: release connections whose handlers were killed before they ran."""

    def __enter__(self) -> BaseServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the accept loop ------------------------------------------------------------------

    def _wait_for_room(self) -> None:
        """Park the accept greenlet while paused or full (back-pressure)."""
        wakeup = self._wakeup
        self._paused = True
        try:
            while not self._closed:
                wakeup.clear()
                if not self._accepting:
                    wakeup.wait()
                    continue
                if not self.full():
                    return
                pool = self.pool
                if isinstance(pool, Pool) and pool.full():
                    pool.wait_available(1.0)
                else:
                    wakeup.wait(1.0)
        finally:
            self._paused = False

    def _accept_loop(self) -> None:
        sock = self.socket
        fd = _c_fileno(sock)
        max_accept = self.max_accept
        try:
            while not self._closed:
                if not self._accepting or self.full():
                    self._wait_for_room()
                    continue
                for _ in range(max_accept):
                    try:
                        args = self.do_read()
                    except OSError as exc:
                        if not self._survive(exc):
                            return
                        args = None
                        break
                    if args is None:
                        break
                    self.delay = self.min_delay
                    self._active += 1
                    try:
                        self.do_handle(*args)
                    except GreenletExit:
                        self._give_up(args)
                        raise
                    except Exception:
                        self._give_up(args)
                        log.exception("%r: could not start a handler", self)
                    if self._closed or not self._accepting or self.full():
                        break
                else:
                    # max_accept in a row: let the handlers started run first.
                    _sleep(0)
                    continue
                if args is None and not self._closed:
                    wait_fd(fd, False, None)
        except GreenletExit:
            pass
        except OSError as exc:
            # The listener was closed under us (EBADF from the wait).
            if not self._closed:
                log.error("%r: listener failed, stopping: %s", self, exc)
                self._acceptor = None
                self.close()

    def _give_up(self, args: tuple[Any, ...]) -> None:
        # do_handle failed: the handler will not run (unless it was started
        # and failed later, in which case _handle already did this).
        self._active -= 1
        self.do_close(*args)

    def _survive(self, exc: OSError) -> bool:
        """Log a failed accept and back off; False if the server must stop instead."""
        if self._closed:
            return False
        if self.is_fatal_error(exc):
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
    ssl_context=None, *, family=None, max_connections=10000,
    handshake_timeout=10.0, idle_timeout=None, stop_timeout=None,
    reuse_port=False, **ssl_args)``.  ``handle`` gets a :class:`corolib.socket.socket` (a
    :class:`corolib.ssl.SSLSocket` with TLS) whose timeout is
    ``idle_timeout`` (None: blocking) and the peer's address; the socket is
    closed when ``handle`` returns.  A subclass may define a ``handle``
    method instead of passing one.  ``ssl_args`` are gevent's TLS keyword
    arguments (``keyfile``, ``certfile``, ``ca_certs``, ``cert_reqs``,
    ``ssl_version``, ``ciphers``, ``do_handshake_on_connect``,
    ``suppress_ragged_eofs``); see the module documentation for the rest.
    ``reuse_port=True`` binds an address listener with ``SO_REUSEPORT`` too,
    so that several processes can serve one port (the kernel spreads the
    connections).
    """

    #: the most connections handled at once by default (None: no limit)
    max_connections: int | None = 10_000
    #: the deadline for a whole TLS handshake by default, in seconds
    handshake_timeout: float | None = 10.0
    #: the connection sockets' timeout by default, in seconds (None: none)
    idle_timeout: float | None = None

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
        **ssl_args: Any,
    ) -> None:
        self.reuse_port = reuse_port
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
            self.handshake_timeout = _check_timeout("handshake_timeout", handshake_timeout)
        if idle_timeout is not _UNSET:
            self.idle_timeout = _check_timeout("idle_timeout", idle_timeout)
        self._conns: set[_cosocket.socket] = set()
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

    def init_socket(self) -> None:
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
        """Close the connection's socket."""
        conn = args[0]
        self._conns.discard(conn)
        conn.close()

    def _release_leftovers(self) -> None:
        conns, self._conns = self._conns, set()
        for conn in conns:
            conn.close()

    def _run_handler(self, *args: Any) -> None:
        conn, address = args
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
