# The loop extends asyncio's selector loop through its private attributes, which
# typeshed does not describe: those checks are off here.
# mypy: disable-error-code="attr-defined,has-type,misc,override,union-attr,unused-ignore"
"""The asyncio event loop that runs on the corolib hub of its thread.

``EventLoop`` is the stdlib's Unix selector loop (so its TLS, sendfile,
subprocess, pipe and datagram support are CPython's own, tested code) with
its hot paths in C -- TCP and Unix stream transports (``_transport.py``)
and ``call_soon`` (``_core.AioLoopBase``) -- and one change underneath:
its selector never blocks the thread.
When the loop has nothing ready it parks its greenlet on its epoll fd
through the hub (a trusted fd wait, with the loop's next timer as the
timeout), so every other greenlet of the thread runs meanwhile; when the
loop is busy it polls without parking and lets the hub have a turn every
``_HUB_TURN_EVERY`` passes.  A greenlet that schedules work on the parked
loop (``call_soon``, ``call_at``, ``stop``, a finished ``to_greenlet``)
wakes it at once, through the loop's self-pipe.

After ``fork()`` the child follows the stdlib's rule -- a loop running in
the parent is not running in the child -- and nothing of the parent's
loops is shared in a way that takes the parent's events: see
``_after_fork_in_child``.
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import inspect
import math
import os
import select as _select_mod
import selectors
import signal
import socket
import sys
import weakref
from asyncio import format_helpers
from collections.abc import Callable
from typing import Any

from corolib import _core, dns
from corolib.asyncio._transport import SocketTransport, make_reactor
from corolib.select import _std_epoll

__all__ = ["EventLoop", "EventLoopPolicy", "new_event_loop"]

#: passes without parking after which the loop gives the hub one turn
_HUB_TURN_EVERY = 32

_EPOLLIN = _select_mod.EPOLLIN
_EPOLLOUT = _select_mod.EPOLLOUT
_EVENT_READ = selectors.EVENT_READ
_EVENT_WRITE = selectors.EVENT_WRITE


class _HubSelector(selectors._PollLikeSelector):
    """An epoll selector whose waiting parks the loop's greenlet on the hub.

    Built on the kernel's epoll (``patch_all()`` hides ``select.epoll`` and
    ``selectors.EpollSelector`` from everyone else; this one never blocks).
    """

    _selector_cls = _std_epoll
    _EVENT_READ = _EPOLLIN
    _EVENT_WRITE = _EPOLLOUT

    def fileno(self) -> int:
        """The epoll fd."""
        return self._epfd

    def __init__(self) -> None:
        super().__init__()
        self._epfd: int = self._selector.fileno()
        self._turns = _HUB_TURN_EVERY
        self.owner: EventLoop | None = None
        #: set in a forked child when the loop ran in another greenlet at fork
        self.frozen = False
        #: the loop's socket transports (C), registered in this selector's epoll
        self.reactor: Any = None
        #: reported readable when transports are ready: its data holds reactor.run's handle
        self._reactor_key: Any = None

    def attach(self, loop: EventLoop) -> None:
        """Tie the selector to its loop, with the reactor sharing its epoll."""
        self.owner = loop
        self.reactor = make_reactor(loop, self._epfd)
        handle = asyncio.Handle(self.reactor.run, (), loop, None)
        self._reactor_key = selectors.SelectorKey(self.reactor, -1, _EVENT_READ, (handle, None))

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Return the ready keys; park on the hub (not the thread) while none are."""
        if self.frozen:
            _freeze()
        reactor = self.reactor
        if reactor is not None:
            # One epoll_wait for the transports (C: kept for reactor.run,
            # reported through _reactor_key) and the selector's own fds.
            ready: list[tuple[selectors.SelectorKey, int]]
            ready = reactor.poll(self._fd_to_key, self._reactor_key)
            if ready or (timeout is not None and timeout <= 0):
                self._turns -= 1
                if self._turns <= 0:
                    self._turns = _HUB_TURN_EVERY
                    _core.sleep(0)
                    if self.frozen:
                        _freeze()
                return ready
            self._park(timeout)
            ready = reactor.poll(self._fd_to_key, self._reactor_key)
            return ready
        poll = self._selector.poll
        max_ev = max(len(self._fd_to_key), 1)
        try:
            fd_event_list = poll(0, max_ev)
        except InterruptedError:
            fd_event_list = []
        if fd_event_list or (timeout is not None and timeout <= 0):
            self._turns -= 1
            if self._turns <= 0:
                # A busy loop still lets the hub run greenlets and their I/O.
                self._turns = _HUB_TURN_EVERY
                _core.sleep(0)
                if self.frozen:
                    _freeze()
        else:
            self._park(timeout)
            try:
                fd_event_list = poll(0, max_ev)
            except InterruptedError:
                return []
        ready = []
        key_from_fd = self._fd_to_key.get
        for fd, event in fd_event_list:
            events = 0
            if event & ~_EPOLLIN:
                events |= _EVENT_WRITE
            if event & ~_EPOLLOUT:
                events |= _EVENT_READ
            key = key_from_fd(fd)
            if key:
                ready.append((key, events & key.events))
        return ready

    def _park(self, timeout: float | None) -> None:
        # Nothing ready: the loop's greenlet waits on the epoll fd through the hub.
        self._turns = _HUB_TURN_EVERY
        if timeout is not None:
            timeout = math.ceil(timeout * 1e3) * 1e-3
        owner = self.owner
        if owner is not None:
            owner._set_parked(True)
        try:
            _core.sock_wait(self._epfd, False, timeout)
        except _ForkedAway:
            _freeze()
        finally:
            if owner is not None:
                owner._set_parked(False)

    def _renew_after_fork(self) -> None:
        """In a forked child: a private epoll with the same registrations.

        The inherited epoll fd is the parent's epoll instance, so a change
        made through it in the child (a reader removed, a server closed)
        would change the parent's loop.  A greenlet parked on it (the
        loop's own, which the caller freezes) is woken with ``_ForkedAway``.
        """
        old = self._selector
        fresh = _std_epoll()
        for fd, key in self._fd_to_key.items():
            mask = (_EPOLLIN if key.events & _EVENT_READ else 0) | (
                _EPOLLOUT if key.events & _EVENT_WRITE else 0
            )
            try:
                fresh.register(fd, mask)
            except OSError:
                pass  # closed without being unregistered: nothing to watch
        if self.reactor is not None:
            self.reactor.renew(fresh.fileno())  # the transports' registrations too
        try:
            _core.cancel_wait(self._epfd, _ForkedAway())
        except Exception:  # noqa: S110 - no hub in this thread
            pass
        self._selector = fresh
        self._epfd = fresh.fileno()
        old.close()  # the child's reference only; the parent's instance lives on

    def close(self) -> None:
        """Release the hub's watch on the epoll fd, then close it (and the reactor's)."""
        if self.reactor is not None:
            self.reactor.close()
        if self._epfd >= 0:
            try:
                _core.cancel_wait(self._epfd)
            except Exception:  # noqa: S110 - no hub any more (thread exiting)
                pass
            self._epfd = -1
        self._selector.close()
        super().close()


_StdLoop = asyncio.SelectorEventLoop


class _LoopState:
    """What corolib keeps per loop, in one attribute of it."""

    __slots__ = ("greenlet", "hub", "bridge_waiters", "bridge_driven", "bridge_driver")

    def __init__(self) -> None:
        #: the greenlet running the loop (None when it is not running) and its hub
        self.greenlet: Any = None
        self.hub: Any = None
        #: greenlets parked in await_() on this loop, whether await_ runs it, and how
        self.bridge_waiters = 0
        self.bridge_driven = False
        self.bridge_driver: Any = None


def _slow_call_soon(
    loop: EventLoop, callback: Callable[..., object], args: Any, context: Any, check: bool
) -> asyncio.Handle:
    # call_soon/_call_soon in debug mode (the C versions do the rest): the
    # stdlib's checks, and a source traceback ending at the caller.
    if check:
        loop._check_thread()
        loop._check_callback(callback, "call_soon")
    handle = asyncio.Handle(callback, args, loop, context)
    if handle._source_traceback:
        del handle._source_traceback[-1]
    loop._ready.append(handle)
    if loop._parked:
        loop._wake()
    return handle


_FORMAT_TAKES_DEBUG = (
    "debug" in inspect.signature(format_helpers._format_callback_source).parameters
)


def _handle_failed(handle: asyncio.Handle, exc: BaseException) -> None:
    # A callback run by a C handle raised: reported as the stdlib's Handle._run does.
    loop = handle._loop
    kw = {"debug": loop.get_debug()} if _FORMAT_TAKES_DEBUG else {}
    source = format_helpers._format_callback_source(handle._callback, handle._args, **kw)
    context = {"message": f"Exception in callback {source}", "exception": exc, "handle": handle}
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    loop.call_exception_handler(context)


# The C handle class that call_soon makes (asyncio.Handle with _run in C).
_core.aio_loop_setup(asyncio.Handle, asyncio.Future, _slow_call_soon, _handle_failed)


class EventLoop(_core.AioLoopBase, _StdLoop):  # type: ignore[misc,valid-type]
    """A complete asyncio event loop running on the corolib hub of its thread.

    Greenlets of the thread keep running while the loop runs (and waits),
    and the loop keeps running while they do.  Use it like any asyncio
    loop (``asyncio.Runner(loop_factory=EventLoop)``,
    ``corolib.asyncio.run``), and bridge the two worlds with
    ``corolib.asyncio.await_`` and ``corolib.asyncio.to_greenlet``.
    """

    def __init__(self) -> None:
        selector = _HubSelector()
        # Two attributes only: the stdlib loop has 24 and CPython keeps
        # attribute access fast (shared keys) only up to 30 per class.
        self._parked = False
        self._co = _LoopState()
        super().__init__(selector)
        selector.attach(self)
        _live_loops.add(self)

    # ---- running -----------------------------------------------------------

    def run_forever(self) -> None:
        """Run until ``stop()``; the calling greenlet drives the loop."""
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        current = _core.getcurrent()
        hub = _core.get_hub()
        if current is hub:
            raise RuntimeError("corolib.asyncio: the loop cannot run in the hub greenlet")
        self._co.greenlet = current
        self._co.hub = hub
        try:
            super().run_forever()
        finally:
            self._co.greenlet = None
            self._set_parked(False)

    def _wake(self) -> None:
        # Through the self-pipe, which is in the epoll the loop's greenlet
        # waits on: an ordinary fd wake-up, so it can never displace an
        # interrupt (a kill, a Timeout) meant for that greenlet.  Once per park.
        self._parked = False
        self._write_to_self()

    # The three ways to give the loop work from a greenlet while the loop's
    # greenlet is parked in select(): each also wakes it.  call_soon (and
    # _call_soon, get_debug, create_future) are C, from _core.AioLoopBase;
    # call_at and stop are the stdlib's few lines with that one check added
    # (no super() call: the running loop's hot path stays as short as the
    # stdlib's, and the instance dict is never touched, which would cost
    # every attribute access its specialization).

    def _set_parked(self, parked: bool) -> None:
        self._parked = parked

    def call_at(
        self, when: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        """Schedule ``callback(*args)`` at loop time ``when`` (as the stdlib's)."""
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer = asyncio.TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        if self._parked:
            self._wake()
        return timer

    def stop(self) -> None:
        """Stop after the current iteration (as the stdlib's); wakes a parked loop."""
        self._stopping = True
        if self._parked:
            self._wake()

    def _check_thread(self) -> None:
        # Debug mode: the stdlib compares threading.get_ident(), which is per
        # greenlet under patch_all(); what matters is the OS thread (its hub).
        if self._thread_id is None:
            return
        if self._co.hub is not None and _core.get_hub_if_exists() is not self._co.hub:
            raise RuntimeError(
                "Non-thread-safe operation invoked on an event loop other than the current one"
            )

    # ---- stream sockets: transports in C ---------------------------------------

    def _make_socket_transport(
        self, sock: Any, protocol: Any, waiter: Any = None, *, extra: Any = None, server: Any = None
    ) -> Any:
        # TCP and Unix stream sockets (TLS too: sslproto runs over this) get
        # the C transport, registered in the reactor instead of the selector.
        return SocketTransport(self, self._selector.reactor, sock, protocol, waiter, extra, server)

    async def _sendfile_native(self, transp: Any, file: Any, offset: int, count: Any) -> Any:
        if not isinstance(transp, SocketTransport):
            return await super()._sendfile_native(transp, file, offset, count)
        # The socket leaves the transport for the duration: reading paused,
        # the buffer drained, then sock_sendfile() on the loop's selector.
        fd = transp._sock_fd
        del self._transports[fd]
        was_reading = transp.is_reading()
        transp.pause_reading()
        await transp._make_empty_waiter()
        try:
            return await self.sock_sendfile(transp._sock, file, offset, count, fallback=False)
        finally:
            transp._reset_empty_waiter()
            if was_reading:
                transp.resume_reading()
            self._transports[fd] = transp

    # ---- name resolution through corolib.dns ---------------------------------

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, Any, int, str, tuple[Any, ...]]]:
        """Resolve like ``socket.getaddrinfo`` with corolib's resolver; never blocks the loop."""
        if dns._needs_no_lookup(host, port, family, flags):
            return dns.getaddrinfo(host, port, family, type, proto, flags)
        from corolib.asyncio._bridge import to_greenlet  # cycle: _bridge imports this module

        return await to_greenlet(dns.getaddrinfo, host, port, family, type, proto, flags)

    async def getnameinfo(self, sockaddr: tuple[Any, ...], flags: int = 0) -> tuple[str, str]:
        """Reverse-resolve like ``socket.getnameinfo`` with corolib's resolver."""
        from corolib.asyncio._bridge import to_greenlet  # cycle: _bridge imports this module

        return await to_greenlet(dns.getnameinfo, sockaddr, flags)

    # ---- signals: Python handlers, the hub's wakeup fd left alone --------------

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop when ``sig`` arrives (main thread only).

        Unlike the stdlib loop this does not take ``signal.set_wakeup_fd``
        over: the hub owns it and wakes on every signal, and the Python-level
        handler hands the callback to the loop.
        """
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        handle = asyncio.Handle(callback, args, self, None)
        self._signal_handlers[sig] = handle
        try:
            signal.signal(sig, self._on_signal)
            signal.siginterrupt(sig, False)
        except ValueError as exc:  # not the main thread
            del self._signal_handlers[sig]
            raise RuntimeError(str(exc)) from None
        except OSError as exc:
            del self._signal_handlers[sig]
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise

    def _on_signal(self, signum: int, frame: object) -> None:
        self._handle_signal(signum)

    def remove_signal_handler(self, sig: int) -> bool:
        """Remove the handler of ``sig``; return whether there was one."""
        self._check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False
        handler = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise
        return True

    def _after_fork(self, forking: Any) -> None:
        """In a forked child: a private epoll and self-pipe; frozen if it ran elsewhere."""
        if self.is_closed():
            return
        selector = self._selector
        if self._co.greenlet is not None and self._co.greenlet is not forking:
            # Running in another greenlet (or thread) of the parent: in the
            # child it is not running, as a loop of a thread that fork did
            # not copy; its greenlet parks for good when it next looks for
            # events, rather than running the parent's callbacks here.  Its
            # tasks never finish here: no "destroyed but pending" at exit.
            selector.frozen = True
            for task in asyncio.all_tasks(self):
                task._log_destroy_pending = False
        ssock, csock = getattr(self, "_ssock", None), getattr(self, "_csock", None)
        if ssock is not None and csock is not None and ssock.fileno() >= 0:
            # The self-pipe is the parent's socketpair: a wake-up written by
            # one process could be read by the other.  Fresh sockets under
            # the same fd numbers keep the loop's objects valid.
            a, b = socket.socketpair()
            try:
                a.setblocking(False)
                b.setblocking(False)
                os.dup2(a.fileno(), ssock.fileno(), inheritable=False)
                os.dup2(b.fileno(), csock.fileno(), inheritable=False)
            finally:
                a.close()
                b.close()
        selector._renew_after_fork()


#: every open corolib loop of the process, for the fork handling
_live_loops: weakref.WeakSet[EventLoop] = weakref.WeakSet()


class _ForkedAway(BaseException):
    """Wakes, in a forked child, a loop greenlet parked on the parent's epoll."""


#: (greenlet, queue) of loops frozen in a forked child: kept so that neither is collected
_frozen: list[tuple[Any, Any]] = []


def _freeze() -> None:
    """Park the calling loop greenlet for good (forked child; see ``_after_fork``).

    Nothing wakes it.  An exception thrown in (a kill) unwinds it; the
    loop's frames then only clean up after themselves, since a frozen loop
    re-entered parks again before running any callback.  When it is the
    greenlet the hub returns to (the main one) and the hub has nothing else
    left to run, the child's own work is over: it exits, status 0.
    """
    queue = _core.WaitQueue()
    _frozen.append((_core.getcurrent(), queue))
    try:
        while True:
            queue.wait()
    except _core.LoopExit:
        raise SystemExit(0) from None


def _after_fork_in_child() -> None:
    """The child's asyncio state after ``fork()`` (registered with ``os.register_at_fork``).

    As asyncio does itself since 3.12 (and here on 3.10 and 3.11 too): no
    loop is running and the policy's per-thread loops are forgotten, so the
    child can start afresh (``corolib.asyncio.run``, ``await_``: the
    thread's ``await_`` loop is forgotten too).  Every corolib loop the
    child inherited gets a private epoll and self-pipe, and one that was
    running in another greenlet than the forking one is frozen.  asyncio's
    own hook (3.12+) also clears ``signal.set_wakeup_fd``; the hub puts its
    own back on its next pass.
    """
    asyncio._set_running_loop(None)
    if sys.version_info < (3, 12):
        policy = asyncio.events._event_loop_policy
        if isinstance(policy, asyncio.events.BaseDefaultEventLoopPolicy):
            policy._local = asyncio.events.BaseDefaultEventLoopPolicy._Local()
    hub = _core.get_hub_if_exists()
    if hub is not None and getattr(hub, "_corolib_asyncio_loop", None) is not None:
        hub._corolib_asyncio_loop = None
    forking = _core.getcurrent()
    failed: Exception | None = None
    for loop in list(_live_loops):
        try:
            loop._after_fork(forking)
        except Exception as exc:  # noqa: BLE001 - the other loops still get theirs
            failed = failed or exc
    if failed is not None:
        raise failed  # CPython reports it (an at-fork hook cannot fail the fork)


os.register_at_fork(after_in_child=_after_fork_in_child)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):  # type: ignore[misc,valid-type]
    """The default policy, with corolib's ``EventLoop`` as the loop it makes."""

    _loop_factory = EventLoop


def new_event_loop() -> EventLoop:
    """A new corolib ``EventLoop`` (the ``loop_factory`` to give asyncio)."""
    return EventLoop()
