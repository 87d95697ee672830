"""Queues between greenlets: Queue, SimpleQueue, LifoQueue, PriorityQueue, Channel.

gevent's names and semantics (``gevent.queue``), with the standard
library's exceptions: ``queue.Full``, ``queue.Empty`` and, on every Python
version, ``ShutDown`` (``queue.ShutDown`` on 3.13+, an equivalent class
before).

An item put while greenlets wait in ``get`` goes straight to the oldest of
them; a slot freed while greenlets wait in ``put`` goes to the oldest of
those.  Each waiter parks on its own :class:`corolib.hub.WaitQueue` record
that carries the item, so a waiter killed just after being served gives the
item back (to the front of the queue) instead of losing it.

Switch points: ``put``, ``get``, ``peek`` and ``join`` switch only when they
have to wait (the queue is full, empty, or has unfinished tasks); with
``timeout=0`` they still pass through the hub once.  ``put_nowait``,
``get_nowait``, ``peek_nowait``, ``task_done`` and ``shutdown`` never
switch.  A producer that never has to wait never lets the consumer run: put
``sleep(0)`` in such loops if they must interleave.

Threads: ``put_nowait`` (and ``put`` that finds room), ``get_nowait`` (and
``get`` that finds an item), ``qsize``, ``empty``, ``full``, ``task_done``,
``join`` and ``shutdown`` may be called from any OS thread; greenlets
waiting in another thread's hub are served by that hub.  (For
``PriorityQueue``, only with items that compare in C: tuples of numbers and
strings, not objects with a Python ``__lt__``.)  Waiting in ``put``, ``get``
or ``peek`` must happen in one thread at a time (else
:class:`corolib.InvalidThreadUseError`); ``Channel`` belongs to one thread.
A greenlet waiting for another thread must give its hub a reason to keep
running (a timeout, or ``Hub.hold()``), or the hub raises ``LoopExit``.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Iterable
from functools import partial
from heapq import heapify, heappop, heappush
from queue import Empty, Full
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from corolib import _core
from corolib._core import (
    get_hub as _get_hub,
    get_hub_if_exists,
    getcurrent as _getcurrent,
    sleep as _sleep,
)
from corolib.sync import InvalidThreadUseError, _bind_lock, _call_threadsafe, _discard, _Waiter

T = TypeVar("T")

if sys.version_info >= (3, 13):
    from queue import ShutDown
else:

    class ShutDown(Exception):  # noqa: N818 - the standard library's name
        """Raised by ``put`` and ``get`` on a queue that was shut down (``queue.ShutDown``)."""


__all__ = [
    "Queue",
    "SimpleQueue",
    "LifoQueue",
    "PriorityQueue",
    "JoinableQueue",
    "Channel",
    "Empty",
    "Full",
    "ShutDown",
]

_UNSET: Any = object()
_DONE: Any = object()  # a waiting putter's item went in (or a getter took it)
_SHUT: Any = object()  # the waiter was released by shutdown()
_UNBOUNDED = sys.maxsize


def _negative_timeout() -> ValueError:
    return ValueError("'timeout' must be a non-negative number")


class SimpleQueue(_core.QueueBase, Generic[T]):
    """A FIFO queue of items between greenlets, without task tracking.

    ``SimpleQueue(maxsize=None, items=())``: ``maxsize`` None, 0 or negative
    means unbounded; otherwise ``put`` waits while ``maxsize`` items are in.
    """

    # _items, _getters, _putters, _peekers, _unfinished and _maxsize live in the
    # compiled base, whose put/get/put_nowait/get_nowait/qsize/empty/len are
    # the fast paths; the slow paths (_put, _get) are here.
    __slots__ = (
        "maxsize",
        "_push",
        "_pop",
        "_putback",
        "_hub",
        "_joiners",
        "is_shutdown",
    )

    def __init__(self, maxsize: int | None = None, items: Iterable[Any] = ()) -> None:
        #: as given (None, or <= 0: unbounded)
        self.maxsize = maxsize
        self._maxsize = maxsize if maxsize is not None and maxsize > 0 else _UNBOUNDED
        self._make_container(items)
        self._getters: deque[_Waiter] = deque()
        self._putters: deque[_Waiter] = deque()
        self._peekers: deque[_Waiter] = deque()
        #: the hub the waiters live in (bound by the first, changed only while none wait)
        self._hub: Any = None
        #: one entry per unfinished task (Queue), None for SimpleQueue
        self._unfinished: deque[None] | None = None
        #: greenlets in join(): records whose item is their hub (any thread)
        self._joiners: deque[_Waiter] | None = None
        #: set by shutdown()
        self.is_shutdown = False

    # -- the container (subclasses change the order) -------------------------

    def _make_container(self, items: Iterable[Any]) -> None:
        container = self._items = deque(items)
        self._push = container.append
        self._pop = container.popleft
        self._putback = container.appendleft

    def _peek(self) -> Any:
        return self._items[0]

    @property
    def queue(self) -> Any:
        """The container of the items (a ``deque``; a list for ``PriorityQueue``), as in gevent."""
        return self._items

    if TYPE_CHECKING:  # the compiled base's fast paths, typed by the item type

        def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
            """Put ``item`` in, waiting while the queue is full."""

        def get(self, block: bool = True, timeout: float | None = None) -> T:
            """Take the next item, waiting while there is none."""

        def put_nowait(self, item: T) -> None:
            """``put(item, block=False)``."""

        def get_nowait(self) -> T:
            """``get(block=False)``."""

    # -- sizes ---------------------------------------------------------------

    def __bool__(self) -> bool:
        return True  # a queue is an object, not a container, in tests of truth

    def full(self) -> bool:
        """Tell whether ``put`` would wait."""
        return len(self._items) >= self._maxsize

    def copy(self) -> SimpleQueue[T]:
        """Return a new queue of the same kind and size holding the same items."""
        return type(self)(self.maxsize, list(self._items))

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} at {id(self):#x} maxsize={self.maxsize!r} "
            f"size={len(self._items)} getters={len(self._getters)} "
            f"putters={len(self._putters)}{' shutdown' if self.is_shutdown else ''}>"
        )

    def statistics(self) -> dict[str, Any]:
        """Sizes and waiters.

        ``size``, ``maxsize``, ``getters``, ``putters``, ``peekers``,
        ``unfinished_tasks`` and ``shutdown``.
        """
        return {
            "size": len(self._items),
            "maxsize": self.maxsize,
            "getters": len(self._getters),
            "putters": len(self._putters),
            "peekers": len(self._peekers),
            "unfinished_tasks": len(self._unfinished) if self._unfinished is not None else 0,
            "shutdown": self.is_shutdown,
        }

    # -- put -------------------------------------------------------------------

    def _count_task(self) -> None:
        tasks = self._unfinished
        if tasks is not None:
            tasks.append(None)

    def _put(self, item: Any, block: bool, timeout: float | None) -> None:
        if self.is_shutdown:
            raise ShutDown
        if block and timeout is not None and timeout < 0 and self._maxsize != _UNBOUNDED:
            raise _negative_timeout()
        if self._waited_on_elsewhere():
            return self._put_from_thread(item, block)
        if self._serve_getter(item):
            self._count_task()
            return
        if len(self._items) < self._maxsize:
            self._push(item)
            self._count_task()
            if self._getters or self._peekers:  # (see put: item first, then waiters)
                self._serve_waiters()
            return
        if not block:
            raise Full
        self._wait_to_put(item, timeout)

    def _waited_on_elsewhere(self) -> bool:
        """Tell whether greenlets of another thread's hub wait on this queue."""
        return bool(self._getters or self._putters or self._peekers) and (
            self._hub is not get_hub_if_exists()
        )

    def _put_from_thread(self, item: Any, block: bool) -> None:
        """``put`` while the waiters live in another thread's hub."""
        if len(self._items) >= self._maxsize:
            if not block:
                raise Full
            raise InvalidThreadUseError(
                f"{self!r}: a greenlet would wait in put() while others wait in another thread"
            )
        self._push(item)
        self._count_task()
        self._poke()

    def _serve_waiters(self) -> None:
        """An item went in while greenlets wait: serve them (in their hub)."""
        if self._hub is get_hub_if_exists():
            self._rebalance()
        else:
            self._poke()

    def _poke(self) -> None:
        """Have the waiters' hub (another thread's) serve its waiters soon."""
        _call_threadsafe(self._hub, self._rebalance)

    def _wait_to_put(self, item: Any, timeout: float | None) -> None:
        putters = self._putters
        w = _Waiter()
        w.item = item
        self._enqueue(putters, w)
        if self.is_shutdown:  # by another thread, since we looked
            _discard(putters, w)
            raise ShutDown
        if len(self._items) < self._maxsize and putters[0] is w:
            # Room appeared (a get in another thread) since we looked.
            putters.popleft()
            self._push(item)
            self._count_task()
            return
        try:
            woken = w.wait(timeout)
        except BaseException:
            if w.item is not _DONE and w.item is not _SHUT:
                _discard(putters, w)
            raise
        if woken is False:
            _discard(putters, w)
            raise Full
        if w.item is _SHUT:
            raise ShutDown

    # -- get -------------------------------------------------------------------

    def _get(self, block: bool, timeout: float | None) -> Any:
        if block and timeout is not None and timeout < 0:
            raise _negative_timeout()
        try:
            item = self._pop()
        except IndexError:
            pass
        else:
            if self._putters:
                self._admit_putters()
            return item
        if self.is_shutdown:
            raise ShutDown
        if not block:
            raise Empty
        if self._waited_on_elsewhere():
            raise InvalidThreadUseError(
                f"{self!r}: a greenlet would wait in get() while others wait in another thread"
            )
        return self._wait_to_get(timeout)

    def _wait_to_get(self, timeout: float | None) -> Any:
        getters = self._getters
        w = _Waiter()
        self._enqueue(getters, w)
        if getters[0] is w:
            # An item may have come from another thread since we looked.
            try:
                item = self._pop()
            except IndexError:
                pass
            else:
                getters.popleft()
                return item
        if self.is_shutdown:  # by another thread, since we looked
            _discard(getters, w)
            raise ShutDown
        try:
            woken = w.wait(timeout)
        except BaseException:
            item = getattr(w, "item", _UNSET)
            if item is _UNSET:
                _discard(getters, w)
            elif item is not _SHUT:
                self._putback(item)  # served, then killed: it goes back in front
                self._rebalance()
            raise
        if woken is False:
            _discard(getters, w)
            raise Empty
        item = w.item
        if item is _SHUT:
            raise ShutDown
        return item

    # -- peek ------------------------------------------------------------------

    def peek(self, block: bool = True, timeout: float | None = None) -> T:
        """Return the next item, leaving it in the queue; waits like :meth:`get`."""
        if self._items:
            return self._peek()
        if not block:
            raise Empty
        if timeout is not None and timeout < 0:
            raise _negative_timeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        peekers = self._peekers
        while True:
            if self._items:
                return self._peek()
            if self.is_shutdown:
                raise ShutDown
            w = _Waiter()
            self._enqueue(peekers, w)
            if self._items or self.is_shutdown:  # (another thread, since we looked)
                _discard(peekers, w)
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                woken = w.wait(remaining)
            finally:
                _discard(peekers, w)
            if woken is False and not self._items:
                raise Empty

    def peek_nowait(self) -> Any:
        """``peek(block=False)``."""
        return self.peek(False)

    # -- waiters ---------------------------------------------------------------

    def _enqueue(self, waiters: deque[_Waiter], w: _Waiter) -> None:
        """Publish ``w`` as a waiter of the current hub (done before re-checking).

        The queue's waiters all live in one hub; it is bound by the first
        waiter and may change only while nobody waits.
        """
        hub = _get_hub()
        if self._hub is not hub:
            with _bind_lock:
                if self._hub is not None and (self._getters or self._putters or self._peekers):
                    raise InvalidThreadUseError(
                        f"{self!r} already has waiters in another thread; waiting on a "
                        "queue must happen in one thread at a time"
                    )
                self._hub = hub
        waiters.append(w)
        if self._hub is not hub:  # another thread bound it in between
            _discard(waiters, w)
            raise InvalidThreadUseError(f"{self!r} is being waited on by another thread")

    def _serve_getter(self, item: Any) -> bool:
        """Hand ``item`` to the oldest waiting getter; False if there is none."""
        getters = self._getters
        while getters:
            w = getters.popleft()
            if w.wake():
                w.item = item
                return True
        return False

    def _admit_putters(self) -> None:
        """Room was made: let waiting putters in (from the waiters' hub)."""
        putters, items = self._putters, self._items
        if not putters and not self._peekers:
            return
        if self._hub is not get_hub_if_exists():
            self._poke()
            return
        while putters and len(items) < self._maxsize:
            w = putters.popleft()
            if w.wake():
                self._push(w.item)
                self._count_task()
                w.item = _DONE
        if self._peekers and items:
            self._wake_peekers()

    def _wake_peekers(self) -> None:
        peekers = self._peekers
        while peekers:
            peekers.popleft().wake()

    def _rebalance(self) -> None:
        """Serve waiters from what the queue holds (in the waiters' hub)."""
        getters, items = self._getters, self._items
        while getters and items:
            try:
                item = self._pop()
            except IndexError:  # taken by another thread meanwhile
                break
            if not self._serve_getter(item):
                self._putback(item)
                break
        self._admit_putters()

    # -- shutting down ----------------------------------------------------------

    def shutdown(self, immediate: bool = False) -> None:
        """Refuse new items from now on (``put`` raises ``ShutDown``).

        Waiting putters get ``ShutDown``; getters get the items left, then
        ``ShutDown`` once it is empty.  With ``immediate``, the items left are
        dropped (each counting as a finished task) and ``join`` returns.
        """
        self.is_shutdown = True
        self._maxsize = -1  # every put takes the slow path, and finds it shut
        if immediate:
            tasks = self._unfinished
            while True:
                try:
                    self._pop()
                except IndexError:
                    break
                if tasks:
                    tasks.pop()
        if self._waited_on_elsewhere():
            _call_threadsafe(self._hub, self._release_waiters, immediate)
        else:
            self._release_waiters(immediate)

    def _release_waiters(self, immediate: bool) -> None:
        self._rebalance()  # remaining items to remaining getters
        for waiters in (self._getters, self._putters):
            while waiters:
                w = waiters.popleft()
                if w.wake():
                    w.item = _SHUT
        self._wake_peekers()
        if immediate:
            self._wake_joiners()

    def _wake_joiners(self) -> None:
        """Every task is done: wake join() callers, each through its own hub."""
        joiners = self._joiners
        here = get_hub_if_exists()
        while joiners:  # (None for a SimpleQueue)
            try:
                w = joiners.popleft()
            except IndexError:  # another thread emptied it meanwhile
                break
            if w.item is here:
                w.wake()
            else:  # it may not have parked yet: its hub runs the wake after it does
                _call_threadsafe(w.item, w.wake)

    # -- iteration ---------------------------------------------------------------

    def __iter__(self) -> SimpleQueue[T]:
        return self

    def __next__(self) -> T:
        """Return the next item; stop at a ``StopIteration`` item, or once shut down and empty."""
        try:
            item = self.get()
        except ShutDown:
            raise StopIteration from None
        if item is StopIteration:
            raise StopIteration
        return item


class Queue(SimpleQueue[T]):
    """A FIFO queue with task tracking: ``put`` counts a task, ``task_done`` finishes one.

    ``join`` waits until every task put so far is done.  ``Queue(maxsize=None,
    items=())``; see :class:`SimpleQueue` for the rest.
    """

    __slots__ = ()

    def __init__(self, maxsize: int | None = None, items: Iterable[Any] = ()) -> None:
        SimpleQueue.__init__(self, maxsize, items)
        self._unfinished = deque([None] * len(self._items))
        self._joiners = deque()

    @property
    def unfinished_tasks(self) -> int:
        """Items put and not yet marked done with :meth:`task_done`."""
        assert self._unfinished is not None
        return len(self._unfinished)

    def task_done(self) -> None:
        """One item taken earlier is fully processed; ``ValueError`` if more than were put."""
        tasks = self._unfinished
        assert tasks is not None
        try:
            tasks.pop()
        except IndexError:
            raise ValueError("task_done() called too many times") from None
        if not tasks and self._joiners:
            self._wake_joiners()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every item put has been marked done; False if ``timeout`` passed first.

        Any thread may wait here, and ``task_done`` may be called from any thread.
        """
        tasks = self._unfinished
        joiners = self._joiners
        assert tasks is not None and joiners is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while tasks:
            w = _Waiter()
            w.item = _get_hub()
            joiners.append(w)  # published before looking at the tasks again
            if not tasks:
                _discard(joiners, w)
                break
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                woken = w.wait(remaining)
            finally:
                _discard(joiners, w)
            if woken is False:
                return not tasks
        return True

    def statistics(self) -> dict[str, Any]:
        """As :meth:`SimpleQueue.statistics`, plus ``joiners``."""
        stats = SimpleQueue.statistics(self)
        stats["joiners"] = len(self._joiners) if self._joiners is not None else 0
        return stats


JoinableQueue = Queue


class _ListQueue(Queue[T]):
    """A :class:`Queue` kept in a list (a stack or a heap) instead of a deque.

    ``get`` takes the next item in the subclass's order through
    ``self._pop``; the compiled fast path of :class:`SimpleQueue` only knows
    deques.
    """

    __slots__ = ()

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """Take the next item (the most recent, or the smallest); see :meth:`SimpleQueue.get`."""
        if timeout is None:  # the start of _get, inlined: this runs once per item
            try:
                item = self._pop()
            except IndexError:
                pass
            else:
                if self._putters:
                    self._admit_putters()
                return item
        return self._get(block, timeout)


class LifoQueue(_ListQueue[T]):
    """A last-in, first-out :class:`Queue` (a stack)."""

    __slots__ = ()

    def _make_container(self, items: Iterable[Any]) -> None:
        container = self._items = list(items)
        self._push = container.append
        self._pop = container.pop
        self._putback = container.append

    def _peek(self) -> Any:
        return self._items[-1]


class PriorityQueue(_ListQueue[T]):
    """A :class:`Queue` that returns the smallest item first (a heap).

    Items are often ``(priority, data)`` tuples.
    """

    __slots__ = ()

    def _make_container(self, items: Iterable[Any]) -> None:
        container = self._items = list(items)
        heapify(container)
        self._push = partial(heappush, container)
        self._pop = partial(heappop, container)
        self._putback = self._push

    def _peek(self) -> Any:
        return self._items[0]

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """Put ``item`` in (one more unfinished task); see :meth:`SimpleQueue.put`."""
        if timeout is None and len(self._items) < self._maxsize:
            self._push(item)
            self._unfinished.append(None)  # type: ignore[union-attr]
            if self._getters or self._peekers:
                self._serve_waiters()
            return
        self._put(item, block, timeout)


class Channel(Generic[T]):
    """A rendezvous: ``put`` waits until a ``get`` takes the item (no buffer).

    Belongs to one thread.  ``Channel(maxsize=1)`` (only 1 is accepted, for
    gevent compatibility).
    """

    __slots__ = ("_getters", "_putters", "_returned", "_hub", "__weakref__")

    def __init__(self, maxsize: int = 1) -> None:
        if maxsize != 1:
            raise ValueError("Channel has no buffer; maxsize must be 1")
        self._getters: deque[_Waiter] = deque()
        self._putters: deque[_Waiter] = deque()
        #: items handed to a getter that was killed before it resumed
        self._returned: deque[Any] = deque()
        self._hub: Any = None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} at {id(self):#x} getters={len(self._getters)} "
            f"putters={len(self._putters)}>"
        )

    @property
    def balance(self) -> int:
        """Waiting putters minus waiting getters."""
        return len(self._putters) - len(self._getters)

    def qsize(self) -> int:
        """Return 0: a channel holds nothing."""
        return 0

    def empty(self) -> bool:
        """Return True: a channel holds nothing."""
        return True

    def full(self) -> bool:
        """Return True: a put always waits for a getter."""
        return True

    def statistics(self) -> dict[str, Any]:
        """``{'getters': waiting getters, 'putters': waiting putters}``."""
        return {"getters": len(self._getters), "putters": len(self._putters)}

    def _check_thread(self) -> None:
        if self._hub is not get_hub_if_exists():
            raise InvalidThreadUseError(f"{self!r} is used by greenlets of another thread")

    def _enqueue(self, waiters: deque[_Waiter], w: _Waiter) -> None:
        """Publish ``w`` as a waiter of the current hub (see SimpleQueue._enqueue)."""
        hub = _get_hub()
        if self._hub is not hub:
            with _bind_lock:
                if self._hub is not None and (self._getters or self._putters):
                    raise InvalidThreadUseError(f"{self!r} is used by greenlets of another thread")
                self._hub = hub
        waiters.append(w)
        if self._hub is not hub:
            _discard(waiters, w)
            raise InvalidThreadUseError(f"{self!r} is used by greenlets of another thread")

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """Hand ``item`` to a getter, waiting for one (up to ``timeout``, then ``Full``)."""
        getters = self._getters
        if getters:
            self._check_thread()
        while getters:
            w = getters.popleft()
            if w.wake():
                w.item = item
                if block and _getcurrent() is not self._hub:
                    # The getter runs before this putter goes on, as in
                    # gevent (where every put waits for the hand-over).
                    _sleep(0)
                return
        if not block:
            raise Full
        if timeout is not None and timeout < 0:
            raise _negative_timeout()
        putters = self._putters
        w = _Waiter()
        w.item = item
        self._enqueue(putters, w)
        try:
            woken = w.wait(timeout)
        except BaseException:
            if w.item is not _DONE:
                _discard(putters, w)
            raise
        if woken is False:
            _discard(putters, w)
            raise Full

    def put_nowait(self, item: T) -> None:
        """``put(item, block=False)``: ``Full`` unless a getter is waiting."""
        self.put(item, False)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """Take an item from a putter, waiting for one (up to ``timeout``, then ``Empty``)."""
        if self._returned:
            return self._returned.popleft()
        putters = self._putters
        if putters:
            self._check_thread()
            if block and _getcurrent() is not self._hub:
                # Let the greenlets already ready run first (a putter just
                # handed over may put again), as in gevent, where every get
                # waits for the hand-over: putters are served in turn.
                _sleep(0)
                if self._returned:
                    return self._returned.popleft()
        while putters:
            w = putters.popleft()
            if w.wake():
                item = w.item
                w.item = _DONE
                return item
        if not block:
            raise Empty
        if timeout is not None and timeout < 0:
            raise _negative_timeout()
        getters = self._getters
        w = _Waiter()
        self._enqueue(getters, w)
        try:
            woken = w.wait(timeout)
        except BaseException:
            item = getattr(w, "item", _UNSET)
            if item is _UNSET:
                _discard(getters, w)
            else:
                self._returned.append(item)  # served, then killed: the next get has it
            raise
        if woken is False:
            _discard(getters, w)
            raise Empty
        return w.item

    def get_nowait(self) -> T:
        """``get(block=False)``: ``Empty`` unless a putter is waiting."""
        return self.get(False)

    def __iter__(self) -> Channel[T]:
        return self

    def __next__(self) -> T:
        """Return the next item; stop at a ``StopIteration`` item."""
        item = self.get()
        if item is StopIteration:
            raise StopIteration
        return item
