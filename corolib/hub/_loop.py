"""``Hub.loop``: the part of gevent's loop interface that programs use, and ``Waiter``.

gevent exposes its libev/libuv loop as ``hub.loop`` with watcher objects
(``timer``, ``io``, ``async_``, ``run_callback``).  corolib's loop lives in C
and is never handed to Python; :class:`Loop` offers the same calls on top
of the hub's own primitives, so code written against gevent's loop runs:

- ``run_callback`` and ``async_`` callbacks run in the hub (they must not block);
- ``timer`` callbacks run in the hub too (through ``Hub.call_later``);
- ``io`` callbacks run in a small greenlet of the hub's that waits on the fd
  (libuv's poll handle is shared with every other waiter of that fd).

``check``, ``prepare`` and ``idle`` watchers, ``fork``/``child`` watchers and
the loop's own ``run``/``destroy`` are not offered: see the porting guide.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from corolib._core import WaitQueue, getcurrent, greenlet, wait_fds

__all__ = ["Loop", "Waiter", "READ", "WRITE"]

#: ``io`` event bits, as gevent's (libev's) ``READ`` and ``WRITE``
READ = 1
WRITE = 2


class _Watcher:
    """What every watcher has: ``start(callback, *args)``, ``stop``, ``close``, ``active``."""

    def __init__(self, hub: Any, ref: bool = True) -> None:
        self._hub = hub
        self.ref = ref
        self.callback: Callable[..., object] | None = None
        self.args: tuple[Any, ...] = ()

    @property
    def active(self) -> bool:
        """True between ``start`` and ``stop``."""
        return self.callback is not None

    def _call(self, *extra: Any) -> None:
        callback = self.callback
        if callback is None:
            return
        try:
            callback(*extra, *self.args)
        except BaseException as exc:  # noqa: BLE001 - reported, never lost
            self._hub.handle_error(self, type(exc), exc, exc.__traceback__)

    def stop(self) -> None:
        """Stop watching (the callback is not called again)."""
        self.callback = None
        self.args = ()

    def close(self) -> None:
        """Stop it for good."""
        self.stop()

    def __enter__(self) -> _Watcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Callback(_Watcher):
    """What ``loop.run_callback`` returns: ``stop()`` before it ran cancels it."""

    @property
    def pending(self) -> bool:
        """True until it ran (or was stopped)."""
        return self.callback is not None

    def _run(self) -> None:
        callback, args = self.callback, self.args
        self.stop()
        if callback is not None:
            try:
                callback(*args)
            except BaseException as exc:  # noqa: BLE001 - reported, never lost
                self._hub.handle_error(self, type(exc), exc, exc.__traceback__)


class _Timer(_Watcher):
    """``loop.timer(after, repeat=0.0)``: calls back after ``after`` s, then every ``repeat`` s."""

    def __init__(self, hub: Any, after: float, repeat: float, ref: bool) -> None:
        if after < 0 or repeat < 0:
            raise ValueError("timer values must be non-negative")
        _Watcher.__init__(self, hub, ref)
        self.after = after
        self.repeat = repeat
        self._handle: Any = None

    def start(self, callback: Callable[..., object], *args: Any, update: Any = None) -> None:
        """Arm it: ``callback(*args)`` in the hub after ``after`` seconds."""
        self.stop()
        self.callback, self.args = callback, args
        self._handle = self._hub.call_later(self.after, self._fire)

    def again(self, callback: Callable[..., object], *args: Any, update: bool = True) -> None:
        """Re-arm it from now."""
        self.start(callback, *args)

    def _fire(self) -> None:
        self._handle = None
        if self.repeat and self.callback is not None:
            self._handle = self._hub.call_later(self.repeat, self._fire)
        elif self.callback is not None:
            callback, args = self.callback, self.args
            self.callback, self.args = None, ()
            try:
                callback(*args)
            except BaseException as exc:  # noqa: BLE001 - reported, never lost
                self._hub.handle_error(self, type(exc), exc, exc.__traceback__)
            return
        self._call()

    @property
    def pending(self) -> bool:
        """True while armed."""
        return self._handle is not None and self._handle.pending

    def stop(self) -> None:
        """Disarm it."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        _Watcher.stop(self)


class _IO(_Watcher):
    """``loop.io(fd, events)``: calls back each time the fd is ready (``READ``/``WRITE``)."""

    def __init__(self, hub: Any, fd: int, events: int, ref: bool) -> None:
        if fd < 0:
            raise ValueError(f"fd must be non-negative: {fd!r}")
        if events & ~(READ | WRITE) or not events:
            raise ValueError(f"events must be READ, WRITE or both, not {events!r}")
        _Watcher.__init__(self, hub, ref)
        self.fd = fd
        self.events = events
        self._greenlet: greenlet | None = None
        self._pass_events = False

    def start(self, callback: Callable[..., object], *args: Any, pass_events: bool = False) -> None:
        """Call ``callback(*args)`` when ready (``callback(events, *args)``: ``pass_events``)."""
        self.callback, self.args, self._pass_events = callback, args, pass_events
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = greenlet(self._watch, self._hub)
            self._hub.start_greenlet(self._greenlet)

    def _watch(self) -> None:
        try:
            self._watch_loop()
        except _Stopped:
            pass  # stop(): the normal end

    def _watch_loop(self) -> None:
        readable = (self.fd,) if self.events & READ else ()
        writable = (self.fd,) if self.events & WRITE else ()
        while self.callback is not None:
            wait_fds(readable, writable)
            if self.callback is None:
                break
            if self._pass_events:
                self._call(self.events)
            else:
                self._call()
            if self.callback is not None:
                # Level-triggered, as libev's: a callback that did not
                # consume the readiness is called again, after the others.
                self._hub.sleep(0)

    def stop(self) -> None:
        """Stop watching; a greenlet it started ends."""
        _Watcher.stop(self)
        g, self._greenlet = self._greenlet, None
        if g is None or g.dead or g is getcurrent():
            return
        if not g:
            self._hub.cancel_start(g)  # never ran
        elif not self._hub.interrupt(g, _Stopped()):
            self._hub.run_callback(g.throw, _Stopped())


class _Stopped(BaseException):
    """Ends an ``io`` watcher's greenlet."""


class _Async(_Watcher):
    """``loop.async_()``: ``send()`` from any thread calls back in the hub."""

    def __init__(self, hub: Any, ref: bool) -> None:
        _Watcher.__init__(self, hub, ref)
        self._sent = False

    def start(self, callback: Callable[..., object], *args: Any) -> None:
        """Call ``callback(*args)`` in the hub after each ``send()``."""
        self.callback, self.args = callback, args

    def send(self) -> None:
        """Wake the hub (from any thread) to run the callback once."""
        if not self._sent:
            self._sent = True
            self._hub.run_callback_threadsafe(self._fire)

    send_ignoring_arg = send

    def _fire(self) -> None:
        self._sent = False
        self._call()

    @property
    def pending(self) -> bool:
        """True between ``send()`` and the callback."""
        return self._sent


class Loop:
    """gevent's ``hub.loop`` calls, on a corolib hub (see the module docstring)."""

    def __init__(self, hub: Any) -> None:
        # Weakly: the hub keeps its Loop (in a WeakKeyDictionary), which must
        # not keep the hub alive in turn.
        self._hub_ref = weakref.ref(hub)

    @property
    def _hub(self) -> Any:
        hub = self._hub_ref()
        if hub is None:
            raise RuntimeError("this loop's hub is gone")
        return hub

    def now(self) -> float:
        """The loop's idea of the time: ``time.monotonic()``."""
        return time.monotonic()

    def update_now(self) -> None:
        """Nothing to do: corolib refreshes the loop time before arming any timer."""

    def run_callback(self, func: Callable[..., object], *args: Any) -> _Callback:
        """Call ``func(*args)`` in the hub soon (FIFO); ``.stop()`` cancels it."""
        cb = _Callback(self._hub)
        cb.callback, cb.args = func, args
        self._hub.run_callback(cb._run)
        return cb

    def run_callback_threadsafe(self, func: Callable[..., object], *args: Any) -> _Callback:
        """:meth:`run_callback` from any thread."""
        cb = _Callback(self._hub)
        cb.callback, cb.args = func, args
        self._hub.run_callback_threadsafe(cb._run)
        return cb

    def timer(
        self, after: float, repeat: float = 0.0, ref: bool = True, priority: Any = None
    ) -> _Timer:
        """A timer watcher (not started)."""
        return _Timer(self._hub, after, repeat, ref)

    def io(self, fd: int, events: int, ref: bool = True, priority: Any = None) -> _IO:
        """An fd watcher for ``events`` (``READ``, ``WRITE``; not started)."""
        return _IO(self._hub, fd, events, ref)

    def async_(self, ref: bool = True, priority: Any = None) -> _Async:
        """A cross-thread wake-up watcher (not started)."""
        return _Async(self._hub, ref)

    def __repr__(self) -> str:
        return f"<corolib loop of {self._hub_ref()!r}>"


class Waiter:
    """gevent's ``Waiter``: one greenlet waits in ``get()`` for one ``switch``/``throw``.

    ``switch(value)`` (or calling it, as a link callback) makes ``get()``
    return ``value``; ``throw(exc)`` makes it raise.  Unlike gevent's, both
    may be called from any greenlet of the thread (they never switch).
    """

    __slots__ = ("_queue", "_value", "_exception", "_ready")

    def __init__(self, hub: Any = None) -> None:
        self._queue = WaitQueue()
        self._value: Any = None
        self._exception: BaseException | None = None
        self._ready = False

    def ready(self) -> bool:
        """True once switched or thrown."""
        return self._ready

    def successful(self) -> bool:
        """True once switched (not thrown)."""
        return self._ready and self._exception is None

    @property
    def value(self) -> Any:
        """What was switched in (None until then)."""
        return self._value

    @property
    def exception(self) -> BaseException | None:
        """What was thrown in, or None."""
        return self._exception

    def switch(self, value: Any = None) -> None:
        """Wake the waiter with ``value``."""
        self._value, self._ready = value, True
        self._queue.wake_all()

    def switch_args(self, *args: Any) -> None:
        """Wake the waiter with ``args``."""
        self.switch(args)

    def throw(self, *exc: Any) -> None:
        """Wake the waiter with an exception (a class, an instance or an exc_info triple)."""
        first = exc[0] if exc else None
        if len(exc) >= 2 and isinstance(exc[1], BaseException):
            error = exc[1]
        elif isinstance(first, BaseException):
            error = first
        elif isinstance(first, type) and issubclass(first, BaseException):
            error = first(*exc[1:2])
        else:
            raise TypeError(f"throw() needs an exception, not {exc!r}")
        self._exception, self._ready = error, True
        self._queue.wake_all()

    def get(self) -> Any:
        """Wait for ``switch``/``throw``; return the value or raise the exception."""
        while not self._ready:
            self._queue.wait()
        if self._exception is not None:
            raise self._exception
        return self._value

    def __call__(self, source: Any) -> None:
        """Link protocol: switch in ``source``'s value, or throw its exception."""
        exc = getattr(source, "exception", None)
        if exc is None:
            self.switch(source)
        else:
            self.throw(exc)
