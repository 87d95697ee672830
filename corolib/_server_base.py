"""``BaseServer``: what :mod:`corolib.server`'s servers share (see that module's doc).

The accept loop with its back-pressure, the handler bookkeeping, and the
life of a server: start, pause, close, the graceful stop, and
``serve_forever``'s own SIGINT handler.
"""

from __future__ import annotations

import _thread
import errno
import logging
import os
import signal as _signal
import socket as _stdsocket
import sys
from collections.abc import Callable
from typing import Any

from corolib import socket as _cosocket
from corolib._core import GreenletExit, getcurrent, sleep as _sleep
from corolib._socket_common import wait_fd
from corolib.hub import Greenlet, get_hub, signal_handler
from corolib.pool import Group, Pool
from corolib.sync import Event

__all__ = ["BaseServer"]

log = logging.getLogger("corolib.server")

_csock: Any = _stdsocket.socket
_c_fileno = _csock.fileno
_CoSocket = _cosocket.socket

#: "argument not given" (so that None can mean "no limit")
_UNSET: Any = object()


def _adopt(sock: _stdsocket.socket) -> _cosocket.socket:
    """Return ``sock`` as a corolib socket (a stdlib one is taken over, fd and all)."""
    if isinstance(sock, _CoSocket):
        return sock
    timeout = sock.gettimeout()
    new = _CoSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    new.settimeout(timeout)
    return new


def _positive_seconds(name: str, value: Any) -> float | None:
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
        Greenlet.spawn(server.stop)  # every server drains at the same time


def _in_main_thread() -> bool:
    # Signal handlers run in the main thread, and a server belongs to its
    # thread: only the main thread's servers are stopped by Ctrl-C.
    if sys.platform.startswith("linux"):
        return _thread.get_native_id() == os.getpid()  # unaffected by monkey patching
    import threading  # (not at import: corolib leaves threading to the program)

    return threading.current_thread() is threading.main_thread()


def _serving_add(server: BaseServer) -> None:
    global _sigint
    if not _in_main_thread():
        return
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
            self.stop_timeout = _positive_seconds("stop_timeout", stop_timeout)  # type: ignore[assignment]
        self._max_active = _check_limit("the handler limit", max_active)
        if handle is not None:
            self.set_handle(handle)
        elif not callable(getattr(self, "handle", None)):
            raise TypeError("a server needs a handle callable (argument or method)")
        self.pool: Group | None = None
        self._spawn: Callable[..., Any] | None = None
        self.set_spawn(spawn)
        self._acceptor: Greenlet[None] | None = None
        self._closed = False  # close() was called: no more accepting
        self._stop_begun = False  # stop() was called: draining the handlers
        self._close_event = Event()  # set by close()
        self._stopped_event = Event()  # set when stop() is complete
        self._accepting = True  # start_accepting()/stop_accepting()
        self._paused = False  # the accept greenlet waits on _wakeup
        self._wakeup = Event()
        self._active = 0  # handlers taken on and not finished
        self._started = 0  # handlers that began to run (ever)
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
        self._started += 1
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
        """Make the listener ready (gevent's name); run by :meth:`start`.

        Calls :meth:`_prepare`, the hook subclasses extend (listen, for TCP).
        """
        self._prepare()

    def _prepare(self) -> None:
        """Hook run by :meth:`init_socket` before the accept greenlet starts."""

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
            self.stop_timeout = _positive_seconds("stop_timeout", stop_timeout)  # type: ignore[assignment]
        if not self._closed:
            self.start()
        _serving_add(self)
        try:
            self._close_event.wait()
            if self._stop_begun:
                self._stopped_event.wait()
        finally:
            _serving_discard(self)
            if not self._stopped_event.is_set() and (self._stop_begun or not self._closed):
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
        if self._stop_begun:
            self._stop_now()
            return
        self._stop_begun = True
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
                    started = self._started
                    try:
                        self.do_handle(*args)
                    except GreenletExit:
                        if self._started == started:
                            self._give_up(args)
                        raise
                    except Exception:
                        if self._started == started:  # never ran: release it here
                            self._give_up(args)
                            log.exception("%r: could not start a handler", self)
                        else:  # ran inline (spawn=None) and failed: report, go on
                            get_hub().handle_error(self, *sys.exc_info())
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
        # do_handle failed before the handler ran: it never will.
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
