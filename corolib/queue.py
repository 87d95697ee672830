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
``get`` that finds an item), ``qsize``, ``empty``, ``full`` and
``shutdown`` may be called from any OS thread; greenlets waiting in another
thread's hub are served by that hub.  (For ``PriorityQueue``, only with
items that compare in C: tuples of numbers and strings, not objects with a
Python ``__lt__``.)  Waiting (a blocking ``put``/``get``/``peek``) must
happen in one thread at a time; ``task_done`` and ``join`` belong to the
waiters' thread; ``Channel`` belongs to one thread.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Iterable
from functools import partial
from heapq import heapify, heappop, heappush
from queue import Empty, Full
from typing import Any

from corolib._core import WaitQueue, get_hub_if_exists
from corolib._core import get_hub as _get_hub
from corolib.sync import InvalidThreadUseError, _bind_lock, _call_threadsafe, _discard, _Waiter

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


class SimpleQueue:
    """A FIFO queue of items between greenlets, without task tracking.

    ``SimpleQueue(maxsize=None, items=())``: ``maxsize`` None, 0 or negative
    means unbounded; otherwise ``put`` waits while ``maxsize`` items are in.
    """

    __slots__ = (
        "maxsize",
        "_maxsize",
        "_items",
        "_push",
        "_pop",
        "_putback",
        "_getters",
        "_putters",
        "_peekers",
        "_hub",
        "_tasks",
        "_joiners",
        "is_shutdown",
        "__weakref__",
    )

    def __init__(self, maxsize: int | None = None, items: Iterable[Any] = ()) -> None:
        #: as given (None, or <= 0: unbounded)
        self.maxsize = maxsize
        self._maxsize = maxsize if maxsize is not None and maxsize > 0 else _UNBOUNDED
        self._make_container(items)
        self._getters: deque[_Waiter] = deque()
        self._putters: deque[_Waiter] = deque()
        self._peekers: WaitQueue | None = None
        #: the hub of the waiters while there are any
        self._hub: Any = None
        #: one entry per unfinished task (Queue), None for SimpleQueue
        self._tasks: deque[None] | None = None
        self._joiners: WaitQueue | None = None
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

    # -- sizes ---------------------------------------------------------------

    def qsize(self) -> int:
        """How many items are in the queue (not counting waiting putters)."""
        return len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return True  # a queue is an object, not a container, in tests of truth

    def empty(self) -> bool:
        """Tell whether no item is in the queue."""
        return not self._items

    def full(self) -> bool:
        """Tell whether ``put`` would wait."""
        return len(self._items) >= self._maxsize

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
            "peekers": len(self._peekers) if self._peekers is not None else 0,
            "unfinished_tasks": len(self._tasks) if self._tasks is not None else 0,
            "shutdown": self.is_shutdown,
        }

    # -- put -------------------------------------------------------------------

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put ``item`` in; while full, wait (up to ``timeout``, then ``Full``).

        Without ``block``, raise ``Full`` at once if full.  ``ShutDown`` after
        :meth:`shutdown`.
        """
        items = self._items
        if self._hub is None and timeout is None and len(items) < self._maxsize:
            items.append(item)  # (the fast paths inline the FIFO container's methods)
            return
        self._put(item, block, timeout)

    def put_nowait(self, item: Any) -> None:
        """``put(item, block=False)``: ``Full`` if there is no room."""
        self.put(item, False)

    def _count_task(self) -> None:
        tasks = self._tasks
        if tasks is not None:
            tasks.append(None)

    def _put(self, item: Any, block: bool, timeout: float | None) -> None:
        if self.is_shutdown:
            raise ShutDown
        if block and timeout is not None and timeout < 0 and self._maxsize != _UNBOUNDED:
            raise _negative_timeout()
        hub = self._hub
        if hub is not None and hub is not get_hub_if_exists():
            return self._put_from_thread(hub, item, block)
        if self._serve_getter(item):
            self._count_task()
            return
        if len(self._items) < self._maxsize:
            self._push(item)
            self._count_task()
            if self._peekers:
                self._peekers.wake_all()
            return
        if not block:
            raise Full
        self._wait_to_put(item, timeout)

    def _put_from_thread(self, hub: Any, item: Any, block: bool) -> None:
        """``put`` while the waiters live in another thread's ``hub``."""
        if len(self._items) >= self._maxsize:
            if not block:
                raise Full
            raise InvalidThreadUseError(
                f"{self!r}: a greenlet would wait in put() while others wait in another thread"
            )
        self._push(item)
        self._count_task()
        self._poke(hub)

    def _poke(self, hub: Any) -> None:
        """Have ``hub`` (the waiters' hub, in another thread) serve its waiters."""
        try:
            hub.run_callback_threadsafe(self._rebalance)
        except RuntimeError:
            self._hub = None  # that thread's hub is gone, with its waiters

    def _wait_to_put(self, item: Any, timeout: float | None) -> None:
        self._bind()
        putters = self._putters
        if not putters and len(self._items) < self._maxsize:
            # Room appeared (a get from another thread) while we bound.
            self._push(item)
            self._count_task()
            self._settle()
            return
        w = _Waiter()
        w.item = item
        putters.append(w)
        try:
            woken = w.wait(timeout)
        except BaseException:
            if w.item is not _DONE and w.item is not _SHUT:
                self._leave(putters, w)
            raise
        if woken is False:
            self._leave(putters, w)
            raise Full
        if w.item is _SHUT:
            raise ShutDown

    # -- get -------------------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Take the next item; while empty, wait (up to ``timeout``, then ``Empty``).

        Without ``block``, raise ``Empty`` at once if empty.  After
        :meth:`shutdown`, items still in are returned, then ``ShutDown``.
        """
        if self._hub is None and timeout is None:
            try:
                return self._items.popleft()
            except IndexError:
                pass
        return self._get(block, timeout)

    def get_nowait(self) -> Any:
        """``get(block=False)``: ``Empty`` if there is no item."""
        return self.get(False)

    def _get(self, block: bool, timeout: float | None) -> Any:
        if block and timeout is not None and timeout < 0:
            raise _negative_timeout()
        hub = self._hub
        if hub is not None and hub is not get_hub_if_exists():
            return self._get_from_thread(hub, block)
        try:
            item = self._pop()
        except IndexError:
            pass
        else:
            if self._putters:
                self._rebalance()
            return item
        if self.is_shutdown:
            raise ShutDown
        if not block:
            raise Empty
        return self._wait_to_get(timeout)

    def _get_from_thread(self, hub: Any, block: bool) -> Any:
        """``get`` while the waiters live in another thread's ``hub``."""
        try:
            item = self._pop()
        except IndexError:
            if self.is_shutdown:
                raise ShutDown from None
            if not block:
                raise Empty from None
            raise InvalidThreadUseError(
                f"{self!r}: a greenlet would wait in get() while others wait in another thread"
            ) from None
        self._poke(hub)
        return item

    def _wait_to_get(self, timeout: float | None) -> Any:
        self._bind()
        getters = self._getters
        if not getters:
            # An item may have come from another thread while we bound.
            try:
                item = self._pop()
            except IndexError:
                pass
            else:
                self._settle()
                return item
        w = _Waiter()
        getters.append(w)
        try:
            woken = w.wait(timeout)
        except BaseException:
            item = getattr(w, "item", _UNSET)
            if item is _UNSET:
                self._leave(getters, w)
            elif item is not _SHUT:
                self._putback(item)  # served, then killed: it goes back in front
                self._rebalance()
            raise
        if woken is False:
            self._leave(getters, w)
            raise Empty
        item = w.item
        if item is _SHUT:
            raise ShutDown
        return item

    # -- peek ------------------------------------------------------------------

    def peek(self, block: bool = True, timeout: float | None = None) -> Any:
        """Return the next item, leaving it in the queue; waits like :meth:`get`."""
        if self._items:
            return self._peek()
        if not block:
            raise Empty
        if timeout is not None and timeout < 0:
            raise _negative_timeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.is_shutdown:
                raise ShutDown
            self._bind()
            if self._items:
                self._settle()
                return self._peek()
            peekers = self._peekers
            if peekers is None:
                peekers = self._peekers = WaitQueue()
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                woken = peekers.wait(remaining)
            finally:
                self._settle()
            if self._items:
                return self._peek()
            if woken is False:
                raise Empty

    def peek_nowait(self) -> Any:
        """``peek(block=False)``."""
        return self.peek(False)

    # -- waiters ---------------------------------------------------------------

    def _bind(self) -> None:
        """Make the current hub the one the waiters live in (published before re-checking)."""
        hub = _get_hub()
        if self._hub is hub:
            return
        with _bind_lock:
            if self._hub is None:
                self._hub = hub
                return
        raise InvalidThreadUseError(
            f"{self!r} already has waiters in another thread; waiting on a queue must "
            "happen in one thread at a time"
        )

    def _settle(self) -> None:
        """Forget the waiters' hub once no greenlet waits (fast paths again)."""
        if not self._getters and not self._putters and not self._peekers:
            self._hub = None

    def _leave(self, waiters: deque[_Waiter], w: _Waiter) -> None:
        _discard(waiters, w)
        self._settle()

    def _serve_getter(self, item: Any) -> bool:
        """Hand ``item`` to the oldest waiting getter; False if there is none."""
        getters = self._getters
        while getters:
            w = getters.popleft()
            if w.wake():
                w.item = item
                if not getters:
                    self._settle()
                return True
        return False

    def _rebalance(self) -> None:
        """Serve waiters from what the queue holds (in the waiters' hub)."""
        getters, putters, items = self._getters, self._putters, self._items
        while True:
            if getters and items:
                try:
                    item = self._pop()
                except IndexError:  # taken by another thread meanwhile
                    continue
                if not self._serve_getter(item):
                    self._putback(item)
                continue
            if putters and len(items) < self._maxsize:
                w = putters.popleft()
                if w.wake():
                    self._push(w.item)
                    self._count_task()
                    w.item = _DONE
                continue
            break
        if self._peekers and items:
            self._peekers.wake_all()
        self._settle()

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
            tasks = self._tasks
            while True:
                try:
                    self._pop()
                except IndexError:
                    break
                if tasks:
                    tasks.pop()
        hub = self._hub
        if hub is not None and hub is not get_hub_if_exists():
            _call_threadsafe(hub, self._release_waiters, immediate)
        else:
            self._release_waiters(immediate)

    def _release_waiters(self, immediate: bool) -> None:
        getters, putters = self._getters, self._putters
        self._rebalance()  # remaining items to remaining getters
        for waiters in (getters, putters):
            while waiters:
                w = waiters.popleft()
                if w.wake():
                    w.item = _SHUT
        if self._peekers:
            self._peekers.wake_all()
        if immediate and self._joiners:
            self._joiners.wake_all()
        self._settle()

    # -- iteration ---------------------------------------------------------------

    def __iter__(self) -> SimpleQueue:
        return self

    def __next__(self) -> Any:
        """Return the next item; stop at a ``StopIteration`` item, or once shut down and empty."""
        try:
            item = self.get()
        except ShutDown:
            raise StopIteration from None
        if item is StopIteration:
            raise StopIteration
        return item


class Queue(SimpleQueue):
    """A FIFO queue with task tracking: ``put`` counts a task, ``task_done`` finishes one.

    ``join`` waits until every task put so far is done.  ``Queue(maxsize=None,
    items=())``; see :class:`SimpleQueue` for the rest.
    """

    __slots__ = ()

    def __init__(self, maxsize: int | None = None, items: Iterable[Any] = ()) -> None:
        SimpleQueue.__init__(self, maxsize, items)
        self._tasks = deque([None] * len(self._items))
        self._joiners = WaitQueue()

    @property
    def unfinished_tasks(self) -> int:
        """Items put and not yet marked done with :meth:`task_done`."""
        assert self._tasks is not None
        return len(self._tasks)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put ``item`` in (one more unfinished task); see :meth:`SimpleQueue.put`."""
        items = self._items
        if self._hub is None and timeout is None and len(items) < self._maxsize:
            items.append(item)
            self._tasks.append(None)  # type: ignore[union-attr]
            return
        self._put(item, block, timeout)

    def task_done(self) -> None:
        """One item taken earlier is fully processed; ``ValueError`` if more than were put."""
        tasks = self._tasks
        assert tasks is not None
        try:
            tasks.pop()
        except IndexError:
            raise ValueError("task_done() called too many times") from None
        if not tasks and self._joiners:
            self._joiners.wake_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every item put has been marked done; False if ``timeout`` passed first."""
        tasks = self._tasks
        joiners = self._joiners
        assert tasks is not None and joiners is not None
        if not tasks:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while tasks:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if joiners.wait(remaining) is False:
                return not tasks
        return True

    def statistics(self) -> dict[str, Any]:
        """As :meth:`SimpleQueue.statistics`, plus ``joiners``."""
        stats = SimpleQueue.statistics(self)
        stats["joiners"] = len(self._joiners) if self._joiners is not None else 0
        return stats


JoinableQueue = Queue


class LifoQueue(Queue):
    """A last-in, first-out :class:`Queue` (a stack)."""

    __slots__ = ()

    def _make_container(self, items: Iterable[Any]) -> None:
        container = self._items = list(items)  # type: ignore[assignment]
        self._push = container.append
        self._pop = container.pop
        self._putback = container.append

    def _peek(self) -> Any:
        return self._items[-1]

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Take the most recent item; see :meth:`SimpleQueue.get`."""
        if self._hub is None and timeout is None:
            try:
                return self._pop()
            except IndexError:
                pass
        return self._get(block, timeout)


class PriorityQueue(Queue):
    """A :class:`Queue` that returns the smallest item first (a heap).

    Items are often ``(priority, data)`` tuples.
    """

    __slots__ = ()

    def _make_container(self, items: Iterable[Any]) -> None:
        container = self._items = list(items)  # type: ignore[assignment]
        heapify(container)
        self._push = partial(heappush, container)
        self._pop = partial(heappop, container)
        self._putback = self._push

    def _peek(self) -> Any:
        return self._items[0]

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put ``item`` in (one more unfinished task); see :meth:`SimpleQueue.put`."""
        if self._hub is None and timeout is None and len(self._items) < self._maxsize:
            self._push(item)
            self._tasks.append(None)  # type: ignore[union-attr]
            return
        self._put(item, block, timeout)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Take the smallest item; see :meth:`SimpleQueue.get`."""
        if self._hub is None and timeout is None:
            try:
                return self._pop()
            except IndexError:
                pass
        return self._get(block, timeout)


class Channel:
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

    def _bind(self) -> None:
        hub = _get_hub()
        if self._hub is hub:
            return
        with _bind_lock:
            if self._hub is None:
                self._hub = hub
                return
        raise InvalidThreadUseError(f"{self!r} is used by greenlets of another thread")

    def _leave(self, waiters: deque[_Waiter], w: _Waiter) -> None:
        _discard(waiters, w)
        if not self._getters and not self._putters:
            self._hub = None

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Hand ``item`` to a getter, waiting for one (up to ``timeout``, then ``Full``)."""
        getters = self._getters
        while getters:
            w = getters.popleft()
            if w.wake():
                w.item = item
                if not getters and not self._putters:
                    self._hub = None
                return
        if not block:
            raise Full
        if timeout is not None and timeout < 0:
            raise _negative_timeout()
        self._bind()
        w = _Waiter()
        w.item = item
        self._putters.append(w)
        try:
            woken = w.wait(timeout)
        except BaseException:
            if w.item is not _DONE:
                self._leave(self._putters, w)
            raise
        if woken is False:
            self._leave(self._putters, w)
            raise Full

    def put_nowait(self, item: Any) -> None:
        """``put(item, block=False)``: ``Full`` unless a getter is waiting."""
        self.put(item, False)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Take an item from a putter, waiting for one (up to ``timeout``, then ``Empty``)."""
        if self._returned:
            return self._returned.popleft()
        putters = self._putters
        while putters:
            w = putters.popleft()
            if w.wake():
                item = w.item
                w.item = _DONE
                if not putters and not self._getters:
                    self._hub = None
                return item
        if not block:
            raise Empty
        if timeout is not None and timeout < 0:
            raise _negative_timeout()
        self._bind()
        w = _Waiter()
        self._getters.append(w)
        try:
            woken = w.wait(timeout)
        except BaseException:
            item = getattr(w, "item", _UNSET)
            if item is _UNSET:
                self._leave(self._getters, w)
            else:
                self._returned.append(item)  # served, then killed: the next get has it
            raise
        if woken is False:
            self._leave(self._getters, w)
            raise Empty
        return w.item

    def get_nowait(self) -> Any:
        """``get(block=False)``: ``Empty`` unless a putter is waiting."""
        return self.get(False)

    def __iter__(self) -> Channel:
        return self

    def __next__(self) -> Any:
        """Return the next item; stop at a ``StopIteration`` item."""
        item = self.get()
        if item is StopIteration:
            raise StopIteration
        return item
