"""Groups of greenlets: ``Group`` tracks them, ``Pool`` also limits how many run.

gevent's names and semantics (``gevent.pool``).  Both offer the mapping
helpers ``map``, ``imap``, ``imap_unordered`` (with ``maxsize`` for
back-pressure), ``apply``, ``apply_async`` and ``map_async``.

Switch points: ``Pool.spawn``, ``Pool.add``/``start`` (only while the pool
is full), ``join``, ``kill(block=True)``, ``killone(block=True)``,
``wait_available`` (while full), ``apply``, ``map`` and iterating an
``imap``/``imap_unordered`` result.  ``Group.spawn``, ``Group.add``,
``discard`` and ``kill(block=False)`` never switch.

A greenlet leaves its group when it finishes (a link the hub calls), which
also frees its pool slot.  Groups belong to one thread.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from queue import Full
from typing import Any, Generic, TypeVar, overload

from corolib._core import GreenletExit, WaitQueue, getcurrent
from corolib.hub import Greenlet, Timeout, joinall, kill as _kill
from corolib.sync import Semaphore

__all__ = ["Group", "Pool", "PoolFull", "IMap", "IMapUnordered"]


class PoolFull(Full):
    """``Pool.add(blocking=False)`` (or with a timeout) found no free slot."""


class _PassValue:
    """Link callback: call ``callback(source.value)`` if the source succeeded."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[Any], object]) -> None:
        self.callback = callback

    def __call__(self, source: Any) -> None:
        if source.successful():
            self.callback(source.value)


T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")


class IMapUnordered(Generic[T]):
    """Results of ``func`` over the input, in the order they finish.

    A feeder greenlet spawns one task per input item (through the group's
    ``spawn``, so a pool's size bounds how many run at once); with
    ``maxsize``, at most that many results wait for the reader before the
    feeder pauses.  An exception raised by ``func`` is raised by the
    iterator when its turn comes; one raised by the input ends it.
    """

    _ordered = False

    def __init__(
        self,
        func: Callable[..., Any],
        iterable: Iterable[tuple[Any, ...]],
        spawn: Callable[[Callable[..., Any], tuple[Any, ...]], Any],
        maxsize: int | None = None,
    ) -> None:
        if maxsize is not None and maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._func = func
        self._iterable = iterable
        self._spawn = spawn
        self._results: deque[Any] = deque()
        self._outstanding = 0  # spawned and not yet yielded
        self._limit = Semaphore(maxsize) if maxsize else None
        self._feeding = True
        self._error: BaseException | None = None
        self._wakeup = WaitQueue()
        #: the greenlet that iterates the input and spawns the tasks
        self.feeder = Greenlet.spawn(self._feed)

    def _on_result(self, task: Any) -> None:
        # rawlink callback, in the hub: a task finished
        self._results.append(task)
        if self._wakeup:
            self._wakeup.wake()

    def _feed(self) -> None:
        func, spawn, limit = self._func, self._spawn, self._limit
        ordered = self._ordered
        results, on_result = self._results, self._on_result
        wakeup = self._wakeup
        try:
            for args in self._iterable:
                if limit is not None:
                    limit.acquire()
                task = spawn(func, args)
                self._outstanding += 1
                if ordered:
                    results.append(task)
                    if wakeup:
                        wakeup.wake()
                else:
                    task.rawlink(on_result)
        except GreenletExit:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            self._error = exc
        finally:
            self._feeding = False
            self._iterable = self._func = self._spawn = None  # type: ignore[assignment]
            if wakeup:
                wakeup.wake()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        """Return the next result (switches while none is ready)."""
        results = self._results
        while not results:
            if not self._feeding and not self._outstanding:
                error, self._error = self._error, None
                if error is not None:
                    raise error
                raise StopIteration
            self._wakeup.wait()
        task = results.popleft()
        self._outstanding -= 1
        if self._limit is not None:
            self._limit.release()
        if not task.ready():
            task.join()
        exc = task.exception
        if exc is not None:
            raise exc
        return task.value

    def statistics(self) -> dict[str, Any]:
        """``{'outstanding': tasks not yet read, 'ready': results waiting, 'feeding': bool}``."""
        ready = self._results if not self._ordered else [t for t in self._results if t.ready()]
        return {"outstanding": self._outstanding, "ready": len(ready), "feeding": self._feeding}


class IMap(IMapUnordered[T]):
    """Results of ``func`` over the input, in input order (see :class:`IMapUnordered`)."""

    _ordered = True


class Group:
    """A set of running greenlets: each leaves it when it finishes.

    ``Group(greenlets=())``.  ``len``, ``in`` and iteration see the members;
    :meth:`join` waits until it is empty, :meth:`kill` kills them all.
    """

    #: what :meth:`spawn` creates
    greenlet_class: Any = Greenlet

    def __init__(self, *args: Iterable[Any]) -> None:
        if len(args) > 1:
            raise TypeError(f"Group() takes at most one iterable, got {len(args)}")
        self.greenlets: set[Any] = set()
        #: members being killed (killed once only)
        self.dying: set[Any] = set()
        self._joiners = WaitQueue()
        self._discard_link = self._discard
        for g in args[0] if args else ():
            self.add(g)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x} {len(self.greenlets)} greenlets>"

    def __len__(self) -> int:
        return len(self.greenlets)

    def __contains__(self, item: object) -> bool:
        return item in self.greenlets

    def __iter__(self) -> Iterator[Any]:
        return iter(self.greenlets)

    def add(self, greenlet: Any) -> None:
        """Track ``greenlet`` until it finishes (add it before starting it)."""
        rawlink = getattr(greenlet, "rawlink", None)
        if rawlink is not None:
            rawlink(self._discard_link)
        self.greenlets.add(greenlet)

    def _discard(self, greenlet: Any) -> bool:
        # The link each member gets; also called directly once a member is
        # seen dead, because the hub wakes a greenlet's joiners before it
        # calls its links: without this, `kill()` and `killone()` would
        # return with the dead member still counted.  Idempotent.
        greenlets = self.greenlets
        try:
            greenlets.remove(greenlet)
        except KeyError:
            return False
        if self.dying:
            self.dying.discard(greenlet)
        if not greenlets and self._joiners:
            self._joiners.wake_all()
        return True

    def discard(self, greenlet: Any) -> None:
        """Stop tracking ``greenlet`` (it keeps running)."""
        self._discard(greenlet)
        unlink = getattr(greenlet, "unlink", None)
        if unlink is not None:
            unlink(self._discard_link)

    def start(self, greenlet: Any) -> None:
        """Add the unstarted ``greenlet``, then start it."""
        self.add(greenlet)
        greenlet.start()

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Create a greenlet running ``func(*args, **kwargs)``, add it and start it."""
        greenlet = self.greenlet_class(func, *args, **kwargs)
        self.start(greenlet)
        return greenlet

    def _spawn_args(self, func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        # spawn(func, *args) for imap, without re-packing the arguments
        greenlet = self.greenlet_class(func, *args)
        self.start(greenlet)
        return greenlet

    def join(self, timeout: float | None = None, raise_error: bool = False) -> bool:
        """Wait until the group is empty (at least once); False if ``timeout`` passed first.

        With ``raise_error``, re-raise the exception of a member (one present
        when the call began) that failed.
        """
        members = list(self.greenlets) if raise_error else ()
        if self.greenlets:
            done = self._joiners.wait(timeout) is not False
        else:
            done = True
        for greenlet in members:
            exc = getattr(greenlet, "exception", None)
            if exc is not None:
                raise exc
        return done

    def kill(
        self,
        exception: type[BaseException] | BaseException = GreenletExit,
        block: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Kill every member; with ``block``, wait for them (up to ``timeout``)."""
        timer = Timeout.start_new(timeout)
        try:
            while self.greenlets:
                for greenlet in list(self.greenlets):
                    if greenlet in self.dying:
                        continue
                    kill = getattr(greenlet, "kill", None)
                    if kill is not None:
                        kill(exception, block=False)
                    else:
                        _kill(greenlet, exception)
                    self.dying.add(greenlet)
                if not block:
                    break
                for greenlet in joinall(list(self.greenlets)):
                    self._discard(greenlet)  # its link may not have run yet
        except Timeout as exc:
            if exc is not timer:
                raise
        finally:
            timer.cancel()

    def killone(
        self,
        greenlet: Any,
        exception: type[BaseException] | BaseException = GreenletExit,
        block: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Kill ``greenlet`` if it is a member; with ``block``, wait for it."""
        if greenlet not in self.dying and greenlet in self.greenlets:
            greenlet.kill(exception, block=False)
            self.dying.add(greenlet)
            if block:
                greenlet.join(timeout)
                if greenlet.ready():
                    self._discard(greenlet)

    def full(self) -> bool:
        """Whether :meth:`spawn` would wait: never, for a Group."""
        return False

    def wait_available(self, timeout: float | None = None) -> int | None:
        """Wait until :meth:`spawn` would not wait: at once, for a Group."""
        return None

    def statistics(self) -> dict[str, Any]:
        """``{'size': members, 'dying': being killed, 'joiners': waiting in join}``."""
        return {
            "size": len(self.greenlets),
            "dying": len(self.dying),
            "joiners": len(self._joiners),
        }

    # -- mapping -------------------------------------------------------------

    def apply(
        self,
        func: Callable[..., T],
        args: Iterable[Any] | None = None,
        kwds: dict[str, Any] | None = None,
    ) -> T:
        """``func(*args, **kwds)`` in a member greenlet, waiting for its result.

        Called from a member, it runs inline (a full pool would deadlock).
        """
        args = () if args is None else tuple(args)
        kwds = {} if kwds is None else kwds
        if getcurrent() in self.greenlets:
            return func(*args, **kwds)
        return self.spawn(func, *args, **kwds).get()

    def apply_cb(
        self,
        func: Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwds: dict[str, Any] | None = None,
        callback: Callable[[Any], object] | None = None,
    ) -> Any:
        """:meth:`apply`, then ``callback(result)`` in a new greenlet."""
        result = self.apply(func, args, kwds)
        if callback is not None:
            Greenlet.spawn(callback, result)
        return result

    def apply_async(
        self,
        func: Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwds: dict[str, Any] | None = None,
        callback: Callable[[Any], object] | None = None,
    ) -> Any:
        """Start ``func(*args, **kwds)`` and return its greenlet, never waiting.

        ``callback(result)`` runs (in a new greenlet) if it succeeds.  When
        the pool is full, the returned greenlet first waits for a slot.
        """
        if self.full():
            return Greenlet.spawn(self.apply_cb, func, args, kwds, callback)
        args = () if args is None else tuple(args)
        greenlet = self.spawn(func, *args, **(kwds or {}))
        if callback is not None:
            greenlet.link(_PassValue(callback))
        return greenlet

    @overload
    def imap(
        self, func: Callable[[A], T], iterable: Iterable[A], /, *, maxsize: int | None = None
    ) -> IMap[T]: ...

    @overload
    def imap(
        self,
        func: Callable[[A, B], T],
        iterable: Iterable[A],
        iterable2: Iterable[B],
        /,
        *,
        maxsize: int | None = None,
    ) -> IMap[T]: ...

    @overload
    def imap(
        self, func: Callable[..., T], *iterables: Iterable[Any], maxsize: int | None = None
    ) -> IMap[T]: ...

    def imap(
        self, func: Callable[..., T], *iterables: Iterable[Any], maxsize: int | None = None
    ) -> IMap[T]:
        """``map(func, *iterables)`` run in member greenlets; results in input order.

        ``maxsize``: at most that many results wait for the reader.
        """
        return IMap(func, zip(*iterables, strict=False), self._spawn_args, maxsize)

    @overload
    def imap_unordered(
        self, func: Callable[[A], T], iterable: Iterable[A], /, *, maxsize: int | None = None
    ) -> IMapUnordered[T]: ...

    @overload
    def imap_unordered(
        self, func: Callable[..., T], *iterables: Iterable[Any], maxsize: int | None = None
    ) -> IMapUnordered[T]: ...

    def imap_unordered(
        self, func: Callable[..., T], *iterables: Iterable[Any], maxsize: int | None = None
    ) -> IMapUnordered[T]:
        """Like :meth:`imap`, results in the order they finish."""
        return IMapUnordered(func, zip(*iterables, strict=False), self._spawn_args, maxsize)

    def map(self, func: Callable[[A], T], iterable: Iterable[A]) -> list[T]:
        """``list(imap(func, iterable))``: every result, in order (first error raised)."""
        return list(self.imap(func, iterable))

    def map_cb(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Any],
        callback: Callable[[Any], object] | None = None,
    ) -> list[Any]:
        """:meth:`map`, then ``callback(results)`` (in this greenlet)."""
        result = self.map(func, iterable)
        if callback is not None:
            callback(result)
        return result

    def map_async(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Any],
        callback: Callable[[list[Any]], object] | None = None,
    ) -> Greenlet[Any]:
        """Start a greenlet computing :meth:`map`; ``callback(results)`` runs when done."""
        return Greenlet.spawn(self.map_cb, func, iterable, callback)


class Pool(Group):
    """A :class:`Group` of at most ``size`` greenlets: ``spawn`` waits while it is full.

    ``Pool(size=None, greenlet_class=None)``; ``size=None`` means no limit,
    ``0`` a pool nothing can enter.
    """

    def __init__(self, size: int | None = None, greenlet_class: Any = None) -> None:
        if size is not None and size < 0:
            raise ValueError(f"size must not be negative: {size!r}")
        Group.__init__(self)
        self.size = size
        if greenlet_class is not None:
            self.greenlet_class = greenlet_class
        # Unbounded: a semaphore that never runs out (so spawn needs no branch).
        self._semaphore = Semaphore(sys.maxsize if size is None else size)

    def __repr__(self) -> str:
        size = f"{len(self.greenlets)}/{self.size}"
        return f"<{type(self).__name__} at {id(self):#x} {size} greenlets>"

    def free_count(self) -> int:
        """About how many more greenlets fit now (1 when unbounded)."""
        if self.size is None:
            return 1
        return max(0, self.size - len(self.greenlets))

    def full(self) -> bool:
        """Tell whether :meth:`spawn` would wait."""
        return self.free_count() <= 0

    def wait_available(self, timeout: float | None = None) -> int:
        """Wait until a slot is free (or ``timeout``); return how many are (1 if unbounded)."""
        if self.size is None:
            return 1
        return self._semaphore.wait(timeout)

    def add(self, greenlet: Any, blocking: bool = True, timeout: float | None = None) -> None:
        """Track ``greenlet``, first waiting for a slot; ``PoolFull`` if none came."""
        if not self._semaphore.acquire(blocking, timeout):
            raise PoolFull()
        try:
            Group.add(self, greenlet)
        except BaseException:
            self._semaphore.release()
            raise

    def start(self, greenlet: Any, blocking: bool = True, timeout: float | None = None) -> None:
        """Add the unstarted ``greenlet`` (see :meth:`add`), then start it."""
        self.add(greenlet, blocking, timeout)
        greenlet.start()

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Wait for a slot, then start ``func(*args, **kwargs)`` in a member greenlet."""
        semaphore = self._semaphore
        if semaphore.counter > 0:
            semaphore.counter -= 1  # Semaphore.acquire's fast path, inlined
        else:
            semaphore.acquire()
        try:
            greenlet = self.greenlet_class(func, *args, **kwargs)
            greenlet.rawlink(self._discard_link)
        except BaseException:
            semaphore.release()
            raise
        self.greenlets.add(greenlet)
        greenlet.start()
        return greenlet

    def _spawn_args(self, func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        # spawn(func, *args) for imap, without re-packing the arguments
        semaphore = self._semaphore
        if semaphore.counter > 0:
            semaphore.counter -= 1
        else:
            semaphore.acquire()
        try:
            greenlet = self.greenlet_class(func, *args)
            greenlet.rawlink(self._discard_link)
        except BaseException:
            semaphore.release()
            raise
        self.greenlets.add(greenlet)
        greenlet.start()
        return greenlet

    def _discard(self, greenlet: Any) -> bool:
        # Group._discard, inlined (it runs once per member), then free the slot.
        greenlets = self.greenlets
        try:
            greenlets.remove(greenlet)
        except KeyError:
            return False
        if self.dying:
            self.dying.discard(greenlet)
        if not greenlets and self._joiners:
            self._joiners.wake_all()
        self._semaphore.release()
        return True

    def statistics(self) -> dict[str, Any]:
        """Return Group figures plus ``capacity``, ``free``, ``waiters`` (waiting for a slot)."""
        stats = Group.statistics(self)
        stats["capacity"] = self.size
        stats["free"] = self.free_count()
        stats["waiters"] = self._semaphore.statistics()["waiters"]
        return stats
