"""Synchronisation between greenlets: events, results, semaphores and locks.

gevent's names and semantics (``gevent.event`` and ``gevent.lock``), built
on the hub's one parking queue, :class:`corolib.hub.WaitQueue`:

- :class:`Event` and :class:`AsyncResult` wake every waiter at once: each
  keeps one ``WaitQueue`` per hub its waiters live in.
- :class:`Semaphore`, :class:`BoundedSemaphore`, :class:`Lock` and
  :class:`RLock` hand a released unit straight to the oldest waiter (FIFO,
  no barging): each waiter parks on its own small ``WaitQueue`` record
  (:class:`_Waiter`) that also carries what is handed to it, so a waiter
  killed right after being woken gives the unit back instead of losing it.

Switch points: ``Event.wait``, ``AsyncResult.wait``/``get`` and every
``acquire`` switch only when they have to wait (the object is not ready,
the unit is not free); with ``timeout=0`` they still pass through the hub
once.  ``set``, ``set_exception``, ``clear``, ``release``, ``rawlink`` and
``unlink`` never switch.

Threads: ``Event.set``/``clear``/``is_set``/``wait`` and
``AsyncResult.set``/``set_exception``/``get``/``wait`` may be called from
any OS thread; waiters in another thread are woken by their own hub (through
``Hub.run_callback_threadsafe``).  A greenlet waiting for something only
another thread will do must give its hub a reason to keep running (a
timeout, ``Hub.hold()``/``unhold()`` around the wait, or pending
:mod:`corolib.threadpool` jobs), or the hub raises ``LoopExit``.
Semaphores and locks belong to one thread at a time: their waiters must
all be in one hub, and releasing them from another thread while greenlets
wait raises :class:`InvalidThreadUseError` (use ``threading`` locks
between threads).
"""

from __future__ import annotations

import _thread
import os
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from corolib._core import (
    NotifierBase as _NotifierBase,
    WaitQueue,
    _event_wait,
    get_hub as _get_hub,
    get_hub_if_exists,
)
from corolib._green_locks import _discard as _discard  # queue.py takes it from here
from corolib._reentrant import Reentrant
from corolib.hub import Timeout

__all__ = [
    "Event",
    "AsyncResult",
    "Semaphore",
    "BoundedSemaphore",
    "DummySemaphore",
    "Lock",
    "RLock",
    "InvalidThreadUseError",
]

T = TypeVar("T")

#: Nothing handed over yet / no value yet.
_UNSET: Any = object()

# Guards the rare moment an object binds to a hub.  A real lock (not
# corolib's): it is held for a few bytecodes and never across a switch.
_bind_lock = _thread.allocate_lock()
# A fork while another thread held it must not leave the child locked out.
os.register_at_fork(after_in_child=_bind_lock._at_fork_reinit)  # type: ignore[attr-defined]


class InvalidThreadUseError(RuntimeError):
    """An object was used from a thread it does not belong to.

    Raised when a greenlet would wait on a semaphore, lock or queue whose
    waiters already live in another thread's hub, or when such an object is
    released from another thread while greenlets wait on it.
    """


class _Waiter(WaitQueue):
    """One parked greenlet of a hand-over primitive: its own ``WaitQueue``.

    ``item`` holds what the waker handed over (unset until then).  The waker
    calls ``wake()`` first and stores ``item`` only if that returned 1 (the
    waiter was still waiting), so a waiter that finds ``item`` set owns it,
    even if an exception (kill, Timeout) reached it before it resumed.
    """

    __slots__ = ("item",)
    item: Any


def _enqueue(owner: Any, waiters: deque[_Waiter], w: _Waiter) -> None:
    """Publish ``w`` in ``waiters``, the one waiter list of ``owner`` (a semaphore).

    All waiters live in one hub, ``owner._hub``: bound by the first, and
    changed only while nobody waits.
    """
    hub = _get_hub()
    if owner._hub is not hub:
        with _bind_lock:
            if owner._hub is not None and waiters:
                raise InvalidThreadUseError(
                    f"{owner!r} already has waiters in another thread; a semaphore or "
                    "lock belongs to one thread at a time"
                )
            owner._hub = hub
    waiters.append(w)
    if owner._hub is not hub:  # another thread bound it in between
        _discard(waiters, w)
        raise InvalidThreadUseError(f"{owner!r} is being waited on by another thread")


def _clamp_negative_timeout(timeout: float | None) -> float | None:
    """Negative timeouts mean "don't wait" (``threading.Event`` semantics)."""
    if timeout is not None and timeout < 0:
        return 0.0
    return timeout


# ---- Event and AsyncResult ---------------------------------------------------


class _Notifier(_NotifierBase):
    """What Event and AsyncResult share: waiters in one or more hubs, and links.

    ``_flag`` is the readiness the waiters wait for.  Waiters of the first
    hub that waits park on ``_waiters``; waiters of other hubs (other
    threads) park on a ``WaitQueue`` of their own hub in ``_others``.  A
    waiter publishes its queue before it re-checks ``_flag`` and parks; a
    setter sets ``_flag`` before it looks for queues; so under the GIL
    either the waiter sees the flag or the setter sees the queue.  A setter
    in another thread wakes through the waiters' hub, which runs only once
    the waiter has parked.

    ``_flag``, ``_waiters`` and ``_hub`` are fields of the compiled base,
    where :meth:`Event.wait` (compiled too) reads them.
    """

    __slots__ = ("_others", "_links", "__weakref__")

    def __init__(self) -> None:
        self._flag = False
        self._waiters = WaitQueue()
        #: the hub of ``_waiters`` (bound on first use, then fixed)
        self._hub: Any = None
        #: hub -> WaitQueue, for waiters in further threads
        self._others: dict[Any, WaitQueue] | None = None
        #: [(callback, hub)], called once, in the hub that linked them
        self._links: list[tuple[Callable[[Any], object], Any]] | None = None

    # -- waiting ------------------------------------------------------------

    def _queue_for(self, hub: Any) -> WaitQueue:
        """Return the queue waiters of ``hub`` park on (binding ``_hub`` on first use)."""
        with _bind_lock:
            if self._hub is None:
                self._hub = hub
            if self._hub is hub:
                return self._waiters
            others = self._others
            if others is None:
                others = self._others = {}
            queue = others.get(hub)
            if queue is None:
                queue = others[hub] = WaitQueue()
            return queue

    def _forget_queue(self, hub: Any, queue: WaitQueue) -> None:
        """Drop another hub's queue once empty (in that hub's thread)."""
        with _bind_lock:
            others = self._others
            if others is not None and not queue and others.get(hub) is queue:
                del others[hub]

    def _park(self, timeout: float | None) -> bool:
        """Wait until ``_flag`` is set: True, or False once ``timeout`` passed."""
        hub = _get_hub()
        if hub is self._hub:
            queue = self._waiters
            if self._flag:
                return True
            return queue.wait(timeout) is not False
        queue = self._queue_for(hub)
        if self._flag:
            return True
        try:
            return queue.wait(timeout) is not False
        finally:
            if queue is not self._waiters:
                self._forget_queue(hub, queue)

    def _wake_all(self) -> None:
        """Wake every waiter, each through its own hub (the flag is set)."""
        hub = self._hub
        if hub is not None:
            here = get_hub_if_exists()
            if hub is here:
                if self._waiters:
                    self._waiters.wake_all()
            else:
                _call_threadsafe(hub, self._waiters.wake_all)
            if self._others:
                with _bind_lock:
                    others = list(self._others.items())
                for other, queue in others:
                    if other is here:
                        queue.wake_all()
                    else:
                        _call_threadsafe(other, queue.wake_all)
        if self._links:
            self._schedule_links()

    # -- links (the protocol corolib.iwait/wait use) -----------------------

    def ready(self) -> bool:
        """Tell whether it is set."""
        return self._flag

    def rawlink(self, callback: Callable[[Any], object]) -> None:
        """Call ``callback(self)`` once, in this thread's hub, when this is set.

        Like every hub callback it must not block.  If already set, it is
        called soon.
        """
        if not callable(callback):
            raise TypeError(f"Expected callable: {callback!r}")
        hub = _get_hub()
        if self._links is None:
            self._links = []
        self._links.append((callback, hub))
        if self._flag:
            self._schedule_links()

    def unlink(self, callback: Callable[[Any], object]) -> None:
        """Forget every link to ``callback``."""
        if self._links:
            self._links = [link for link in self._links if link[0] != callback]

    def linkcount(self) -> int:
        """How many callbacks are linked."""
        return len(self._links) if self._links else 0

    def _schedule_links(self) -> None:
        links = self._links
        if not links:
            return
        here = get_hub_if_exists()
        hubs: list[Any] = []
        for _, hub in links:
            if hub not in hubs:
                hubs.append(hub)
        for hub in hubs:
            if here is not None and hub is here:
                here.run_callback(self._notify_links, hub)
            else:
                _call_threadsafe(hub, self._notify_links, hub)

    def _notify_links(self, hub: Any) -> None:
        """In ``hub``: call (and forget) the links it owns, oldest first.

        Every link registered when the object became ready is called, even
        if (an Event) it was cleared again since.
        """
        if not self._links:
            return
        # The links present now, in order; each is taken out of ``_links``
        # just before it is called, so a callback that unlinks a later one
        # (or links a new one, which waits for the next notification)
        # is honoured.
        mine = [link for link in self._links if link[1] is hub]
        for link in mine:
            links = self._links
            if not links:
                return
            index = next((n for n, other in enumerate(links) if other is link), -1)
            if index < 0:
                continue  # unlinked by an earlier callback
            del links[index]
            if not links and self._links is links:
                self._links = None
            try:
                link[0](self)
            except BaseException as exc:  # noqa: BLE001 - reported, never lost
                hub.handle_error((link[0], self), type(exc), exc, exc.__traceback__)

    def _waiter_count(self) -> int:
        count = len(self._waiters)
        if self._others:
            count += sum(len(q) for q in list(self._others.values()))
        return count


def _call_threadsafe(hub: Any, fn: Callable[..., object], *args: Any) -> None:
    """``hub.run_callback_threadsafe``, ignoring a hub that is gone."""
    if hub.dead:
        # Its thread exited.  (The hub would still accept the callback and
        # never run or free it, so do not hand it one.)
        return
    try:
        hub.run_callback_threadsafe(fn, *args)
    except RuntimeError:
        pass  # destroyed: nobody is left to wake there


class Event(_Notifier):
    """A flag greenlets can wait for: ``threading.Event`` for greenlets.

    ``set`` wakes every waiter, oldest first; ``clear`` resets the flag.
    Thread-safe: ``set``/``clear``/``is_set``/``wait`` may be called from any
    thread.

    ``set()`` at once followed by ``clear()`` wakes the greenlets already
    waiting (their ``wait`` returns True) but not those that only start
    waiting afterwards (e.g. spawned, not yet started): they wait for the
    next ``set()``.  gevent does the same.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        state = "set" if self._flag else "clear"
        return f"<{type(self).__name__} at {id(self):#x} {state} waiters={self._waiter_count()}>"

    def is_set(self) -> bool:
        """Tell whether the flag is set."""
        return self._flag

    isSet = is_set  # noqa: N815 - gevent/threading spelling

    def set(self) -> None:
        """Set the flag and wake every waiter (never switches)."""
        self._flag = True
        hub = self._hub
        if hub is not None and hub is get_hub_if_exists() and not self._others and not self._links:
            if self._waiters:  # the common case, inlined
                self._waiters.wake_all()
        elif hub is not None or self._links:
            self._wake_all()

    def clear(self) -> None:
        """Reset the flag; later ``wait`` calls block until ``set``."""
        self._flag = False

    if TYPE_CHECKING:

        def wait(self, timeout: float | None = None) -> bool:
            """Block until the flag is set, or ``timeout`` seconds passed (compiled)."""

    def statistics(self) -> dict[str, Any]:
        """``{'set': flag, 'waiters': parked greenlets, 'links': callbacks}``."""
        return {"set": self._flag, "waiters": self._waiter_count(), "links": self.linkcount()}


# Event.wait is compiled (corolib._core): the common case parks with no Python
# frame of its own, the rest calls _Notifier._park.  It is made a method of Event
# itself, not of a base class: CPython's fast call of a C method checks the exact type.
setattr(Event, "wait", _event_wait(Event))  # noqa: B010


class AsyncResult(_Notifier, Generic[T]):
    """A value (or an exception) that will be there later: a one-shot future.

    ``get`` waits for it and returns the value or raises the exception;
    ``set``/``set_exception`` store it and wake every waiter.  It is also a
    link callback: ``greenlet.link(result)`` (or ``rawlink``) makes it take
    the greenlet's value or exception.  Thread-safe: ``set``,
    ``set_exception``, ``get`` and ``wait`` may be called from any thread.
    """

    __slots__ = ("_value", "_exception", "_tb")

    def __init__(self) -> None:
        _Notifier.__init__(self)
        self._value: Any = _UNSET
        self._exception: BaseException | None = None
        #: the exception's traceback when it was stored: every ``get``
        #: raises it with this one, so repeated gets do not grow it
        self._tb: TracebackType | None = None

    def __repr__(self) -> str:
        if not self._flag:
            state = "unset"
        elif self._exception is not None:
            state = f"exception={self._exception!r}"
        else:
            state = f"value={self._value!r}"
        return f"<{type(self).__name__} at {id(self):#x} {state}>"

    @property
    def value(self) -> T | None:
        """The value given to :meth:`set`, else None."""
        return None if self._value is _UNSET else self._value

    @property
    def exception(self) -> BaseException | None:
        """The exception given to :meth:`set_exception`, else None."""
        return self._exception

    @property
    def exc_info(self) -> tuple[Any, ...]:
        """``(type, value, traceback)`` of the exception, or ``()``."""
        exc = self._exception
        if exc is None:
            return ()
        return (type(exc), exc, self._tb)

    def successful(self) -> bool:
        """Tell whether it holds a value (not an exception)."""
        return self._flag and self._exception is None

    def set(self, value: T = None) -> None:  # type: ignore[assignment]
        """Store ``value`` and wake every waiter (never switches)."""
        self._value = value
        self._exception = None
        self._tb = None
        self._flag = True
        self._wake_all()

    set_result = set

    def set_exception(
        self,
        exception: BaseException,
        exc_info: tuple[Any, BaseException, TracebackType | None] | None = None,
    ) -> None:
        """Store ``exception`` (``get`` will raise it) and wake every waiter.

        ``exc_info``, if given, supplies the traceback to raise it with.
        """
        if exc_info is not None and exc_info[2] is not None and exc_info[1] is exception:
            exception = exception.with_traceback(exc_info[2])
        self._value = _UNSET
        self._exception = exception
        self._tb = exception.__traceback__
        self._flag = True
        self._wake_all()

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """Return the value or raise the exception, waiting for one if not ready.

        Not ready: with ``block``, wait up to ``timeout`` seconds, then raise
        :class:`corolib.Timeout`; without, raise it at once.
        """
        if not self._flag:
            if not block:
                raise Timeout()
            if not self._park(_clamp_negative_timeout(timeout)):
                raise Timeout(timeout)
        exc = self._exception
        if exc is not None:
            raise exc.with_traceback(self._tb)
        return self._value

    def get_nowait(self) -> T:
        """``get(block=False)``."""
        return self.get(False)

    def wait(self, timeout: float | None = None) -> T | None:
        """Wait until ready (or ``timeout``); return the value (None if not ready or failed)."""
        if not self._flag:
            self._park(_clamp_negative_timeout(timeout))
        return self.value

    def result(self, timeout: float | None = None) -> T:
        """``concurrent.futures`` spelling of :meth:`get`."""
        return self.get(timeout=timeout)

    def done(self) -> bool:
        """``concurrent.futures`` spelling of :meth:`ready`."""
        return self._flag

    def cancel(self) -> bool:
        """Cannot be cancelled: always False."""
        return False

    def cancelled(self) -> bool:
        """Return False: it cannot be cancelled."""
        return False

    def __call__(self, source: Any) -> None:
        """Link protocol: take ``source``'s value or exception (e.g. a Greenlet)."""
        if source.successful():
            self.set(source.value)
        else:
            self.set_exception(source.exception)

    def statistics(self) -> dict[str, Any]:
        """``{'ready', 'successful', 'waiters', 'links'}``."""
        return {
            "ready": self._flag,
            "successful": self.successful(),
            "waiters": self._waiter_count(),
            "links": self.linkcount(),
        }


# ---- semaphores and locks ----------------------------------------------------


class Semaphore:
    """A counter of free units; ``acquire`` takes one, waiting while none is free.

    ``Semaphore(value=1)``.  Waiters are served oldest first, and a released
    unit goes straight to the oldest waiter, so a greenlet that releases and
    re-acquires in a loop cannot starve the others.  Belongs to one thread
    at a time (see the module docstring).
    """

    __slots__ = ("counter", "_waiters", "_hub", "_links", "__weakref__")

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        #: free units
        self.counter = value
        self._waiters: deque[_Waiter] = deque()
        #: the hub the waiters live in (bound by the first, changed only while none wait)
        self._hub: Any = None
        #: rawlink callbacks, called (once) when a unit is free
        self._links: list[Callable[[Any], object]] | None = None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} at {id(self):#x} counter={self.counter} "
            f"waiters={len(self._waiters)}>"
        )

    def locked(self) -> bool:
        """Tell whether ``acquire`` would block."""
        return self.counter <= 0

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take a unit: True, or False if none came in time.

        Without ``blocking``, return False at once if none is free.

        Switches only when it has to wait.
        """
        if self.counter > 0 and timeout is None:
            self.counter -= 1
            return True
        return self._acquire(blocking, timeout)

    def _acquire(self, blocking: bool, timeout: float | None) -> bool:
        if not blocking:
            if timeout is not None:
                raise ValueError("can't specify timeout for non-blocking acquire")
            if self.counter > 0:
                self.counter -= 1
                return True
            return False
        if timeout is not None and timeout < 0:
            timeout = 0.0
        if self.counter > 0:
            self.counter -= 1
            return True
        return self._wait_for_unit(timeout)

    def _wait_for_unit(self, timeout: float | None) -> bool:
        """Park until a unit is handed over (True) or ``timeout`` passed (False)."""
        waiters = self._waiters
        w = _Waiter()
        _enqueue(self, waiters, w)
        try:
            woken = w.wait(timeout)
        except BaseException:
            if getattr(w, "item", _UNSET) is not _UNSET:
                self.release()  # handed over, then killed: pass it on
            else:
                _discard(waiters, w)
            raise
        if woken is False:
            _discard(waiters, w)
            return False
        return True

    def release(self) -> None:
        """Free a unit: hand it to the oldest waiter, if any.  Never switches."""
        if not self._waiters:
            self.counter += 1
            if self._links:
                self._schedule_links()
            return
        self._hand_over()

    # -- the link protocol (corolib.wait/iwait, gevent's waitable semaphores) --

    def ready(self) -> bool:
        """Tell whether a unit is free (``acquire`` would not wait)."""
        return self.counter > 0

    def rawlink(self, callback: Callable[[Any], object]) -> None:
        """Call ``callback(self)`` once, in the hub, when a unit is free (soon, if one is)."""
        if not callable(callback):
            raise TypeError(f"Expected callable: {callback!r}")
        if self._links is None:
            self._links = []
        self._links.append(callback)
        if self.counter > 0:
            self._schedule_links()

    def unlink(self, callback: Callable[[Any], object]) -> None:
        """Forget every link to ``callback``."""
        if self._links:
            self._links = [link for link in self._links if link != callback]

    def linkcount(self) -> int:
        """How many callbacks are linked."""
        return len(self._links) if self._links else 0

    def _schedule_links(self) -> None:
        _get_hub().run_callback(self._notify_links)

    def _notify_links(self) -> None:
        # Oldest first, while a unit is still free (a callback may take it).
        hub: Any = _get_hub()
        while self._links and self.counter > 0:
            callback = self._links.pop(0)
            try:
                callback(self)
            except BaseException as exc:  # noqa: BLE001 - reported, never lost
                hub.handle_error((callback, self), type(exc), exc, exc.__traceback__)

    def _hand_over(self) -> None:
        if self._hub is not get_hub_if_exists():
            raise InvalidThreadUseError(
                f"{self!r} released from another thread while greenlets wait on it"
            )
        waiters = self._waiters
        while waiters:
            w = waiters.popleft()
            if w.wake():
                w.item = True
                return
        self.counter += 1
        if self._links:
            self._schedule_links()

    def wait(self, timeout: float | None = None) -> int:
        """Wait until a unit is free, without taking it; return ``counter``."""
        if self.counter > 0:
            return self.counter
        if self.acquire(True, timeout):
            self.release()
        return self.counter

    __enter__ = acquire

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def statistics(self) -> dict[str, Any]:
        """``{'counter': free units, 'waiters': parked greenlets}``."""
        return {"counter": self.counter, "waiters": len(self._waiters)}


class BoundedSemaphore(Semaphore):
    """A :class:`Semaphore` that refuses to go above its initial value.

    Releasing more often than acquiring raises ``ValueError``, as
    ``threading.BoundedSemaphore`` does.
    """

    __slots__ = ("_initial_value",)

    def __init__(self, value: int = 1) -> None:
        Semaphore.__init__(self, value)
        self._initial_value = value

    def release(self) -> None:
        """Free a unit; ``ValueError`` if that would exceed the initial value."""
        if not self._waiters:
            if self.counter >= self._initial_value:
                raise ValueError("Semaphore released too many times")
            self.counter += 1
            if self._links:
                self._schedule_links()
            return
        self._hand_over()


class Lock(Semaphore):
    """A mutual-exclusion lock without an owner: ``threading.Lock`` for greenlets.

    Any greenlet may release it; releasing it unlocked raises
    ``RuntimeError``.  ``acquire(timeout=-1)`` waits forever, as in
    ``threading``.
    """

    __slots__ = ()

    def __init__(self) -> None:
        Semaphore.__init__(self, 1)

    def __repr__(self) -> str:
        state = "locked" if self.counter <= 0 else "unlocked"
        return f"<{type(self).__name__} at {id(self):#x} {state} waiters={len(self._waiters)}>"

    def _acquire(self, blocking: bool, timeout: float | None) -> bool:
        if timeout is not None:
            if timeout == -1:
                timeout = None
            elif not blocking:
                raise ValueError("can't specify a timeout for a non-blocking call")
            elif timeout < 0:
                raise ValueError("timeout value must be a non-negative number")
        if self.counter > 0:
            self.counter -= 1
            return True
        if not blocking:
            return False
        return self._wait_for_unit(timeout)

    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        """Lock it: True, or False if it stayed locked for ``timeout`` seconds.

        ``timeout=-1`` (or None) waits as long as it takes.
        """
        if self.counter > 0:
            if timeout == -1 or timeout is None:
                self.counter = 0
                return True
        return self._acquire(blocking, timeout)

    __enter__ = acquire

    def release(self) -> None:
        """Unlock it (handing it to the oldest waiter); ``RuntimeError`` if unlocked."""
        if not self._waiters:
            if self.counter:
                raise RuntimeError("release unlocked lock")
            self.counter = 1
            if self._links:
                self._schedule_links()
            return
        self._hand_over()

    def statistics(self) -> dict[str, Any]:
        """``{'locked': bool, 'waiters': parked greenlets}``."""
        return {"locked": self.counter <= 0, "waiters": len(self._waiters)}


class RLock(Reentrant):
    """A re-entrant lock owned by a greenlet: ``threading.RLock`` for greenlets.

    The owner may acquire it again; it is free once released as many times.
    Only the owner may release it (else ``RuntimeError``).  Works with
    ``threading.Condition``-style helpers (``_is_owned``, ``_release_save``,
    ``_acquire_restore``).  ``acquire(blocking=True, timeout=-1)`` is
    :meth:`Lock.acquire`'s, plus re-entry.
    """

    __slots__ = ("__weakref__",)
    _block: Lock

    def __init__(self) -> None:
        self._block = Lock()
        self._owner = None
        self._count = 0

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} at {id(self):#x} owner={self._owner!r} "
            f"count={self._count} waiters={len(self._block._waiters)}>"
        )

    def locked(self) -> bool:
        """Tell whether some greenlet owns it."""
        return self._owner is not None

    def statistics(self) -> dict[str, Any]:
        """``{'owner': greenlet or None, 'count': depth, 'waiters': parked greenlets}``."""
        return {"owner": self._owner, "count": self._count, "waiters": len(self._block._waiters)}


class DummySemaphore:
    """A semaphore that never blocks (what an unbounded ``Pool`` uses).

    ``DummySemaphore(value=None)``; the value is ignored.
    """

    __slots__ = ()

    def __init__(self, value: int | None = None) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x}>"

    @property
    def counter(self) -> int:
        """Always 1: there is always a free unit."""
        return 1

    def locked(self) -> bool:
        """Return False: it never blocks."""
        return False

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Return True at once."""
        return True

    def release(self) -> None:
        """Nothing to do."""

    def wait(self, timeout: float | None = None) -> int:
        """Return 1 at once."""
        return 1

    def __enter__(self) -> bool:
        return True

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    def statistics(self) -> dict[str, Any]:
        """``{'counter': 1, 'waiters': 0}``."""
        return {"counter": 1, "waiters": 0}
