"""Real OS threads for blocking work that cannot be made cooperative.

``ThreadPool(maxsize)`` runs functions in up to ``maxsize`` native threads
of its own (a :class:`corolib._workers.Workers`, the implementation
:mod:`corolib.dns` uses too: started with the real ``_thread`` module,
captured when it is imported, so monkey-patching never turns them into
greenlets).
:meth:`ThreadPool.spawn` returns an :class:`corolib.sync.AsyncResult` the
calling greenlet waits on cooperatively; the result (or the exception, with
its traceback) is delivered to the pool's hub with
``Hub.run_callback_threadsafe``.  :func:`get_threadpool` gives each hub a
default pool of ``corolib.config.config.threadpool_size`` threads
(``COROLIB_THREADPOOL_SIZE``, default 10).

While a job is outstanding it holds the pool's hub (``Hub.hold()``), so a
greenlet waiting for a result never gets ``LoopExit``.  Idle threads exit
after ``idle_timeout`` seconds.

Switch points: ``apply``, ``map``, ``join``, iterating ``imap``, and
``get``/``wait`` on a returned result.  ``spawn``, ``apply_async`` and
``kill`` never switch.  A pool belongs to the thread of its hub: spawn from
there.  After ``os.fork()`` the child's pools start over with no threads
(jobs outstanding at the fork are lost in the child).
"""

from __future__ import annotations

import _thread
import concurrent.futures as _futures
import os
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from corolib._core import WaitQueue, get_hub_if_exists
from corolib._workers import Workers
from corolib.config import config
from corolib.hub import Greenlet, get_hub, iwait
from corolib.sync import AsyncResult, InvalidThreadUseError

# The real one, whatever is patched later.
_get_ident = _thread.get_ident

__all__ = [
    "ThreadPool",
    "ThreadPoolExecutor",
    "ThreadResult",
    "get_threadpool",
    "DEFAULT_SIZE",
]

#: threads in the pool get_threadpool() makes for each hub
DEFAULT_SIZE = 10

T = TypeVar("T")
A = TypeVar("A")


class ThreadPool:
    """Up to ``maxsize`` native threads running jobs for the greenlets of one hub.

    ``ThreadPool(maxsize=10, hub=None, idle_timeout=5.0)``; ``hub`` defaults
    to the current thread's.  Threads start on demand.
    """

    def __init__(
        self, maxsize: int = DEFAULT_SIZE, hub: Any = None, idle_timeout: float = 5.0
    ) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        hub = get_hub() if hub is None else hub
        self._hub_ref = weakref.ref(hub)
        self._workers = Workers(maxsize, idle_timeout)
        self._worker_idents = self._workers.idents
        #: jobs spawned whose result is not delivered yet (hub thread only)
        self._pending = 0
        self._joiners = WaitQueue()
        _all_pools.add(self)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} at {id(self):#x} threads={self._threads()}/{self.maxsize} "
            f"pending={self._pending}>"
        )

    @property
    def maxsize(self) -> int:
        """The most threads it runs at once (settable; shrinking lets busy threads finish)."""
        return self._workers.max_threads

    @maxsize.setter
    def maxsize(self, value: int) -> None:
        if value < 0:
            raise ValueError("maxsize must be >= 0")
        self._workers.set_max_threads(value)  # (starts threads for jobs queued meanwhile)

    size = maxsize

    @property
    def idle_timeout(self) -> float:
        """Seconds a thread waits for a job before it exits (settable)."""
        return self._workers.idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, value: float) -> None:
        self._workers.idle_timeout = value

    def _threads(self) -> int:
        stats = self._workers.statistics()
        return stats["threads"] - stats["stopping"]

    def statistics(self) -> dict[str, Any]:
        """``{'maxsize', 'threads', 'pending', 'queued', 'joiners'}``.

        ``threads`` running or idle, ``pending`` jobs not delivered yet,
        ``queued`` jobs not started yet, ``joiners`` greenlets in :meth:`join`.
        """
        stats = self._workers.statistics()
        return {
            "maxsize": stats["max_threads"],
            "threads": stats["threads"] - stats["stopping"],
            "pending": self._pending,
            "queued": stats["queued"],
            "joiners": len(self._joiners),
        }

    # -- running jobs ------------------------------------------------------------

    def _hub(self) -> Any:
        hub = self._hub_ref()
        if hub is None or hub is not get_hub_if_exists():
            raise InvalidThreadUseError(
                f"{self!r} belongs to the hub of another thread (or a destroyed hub)"
            )
        return hub

    def __len__(self) -> int:
        """Jobs spawned and not delivered yet."""
        return self._pending

    def _in_worker(self) -> bool:
        return _get_ident() in self._worker_idents

    def spawn(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> AsyncResult[T]:
        """Run ``fn(*args, **kwargs)`` in a pool thread; return the AsyncResult it will fill.

        Called from one of this pool's own threads (a job using its pool),
        it runs ``fn`` right there: waiting for another thread of a full
        pool could deadlock.  With ``maxsize`` 0 jobs queue until it grows.
        """
        if self._in_worker():
            done: AsyncResult[T] = AsyncResult()
            try:
                done.set(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - delivered to the caller
                done.set_exception(exc)
            return done
        hub = self._hub()
        result: AsyncResult[T] = ThreadResult()
        self._workers.submit(hub, fn, args, kwargs, self._deliver, result)
        self._pending += 1
        return result

    def _deliver(self, result: AsyncResult[Any], ok: bool, value: Any) -> None:
        """In the hub: hand a job's outcome to its AsyncResult."""
        self._pending -= 1
        if not self._pending and self._joiners:
            self._joiners.wake_all()
        if ok:
            result.set(value)
        else:
            result.set_exception(value)

    def apply(
        self,
        fn: Callable[..., T],
        args: Iterable[Any] = (),
        kwds: dict[str, Any] | None = None,
    ) -> T:
        """``fn(*args, **kwds)`` in a pool thread, waiting (cooperatively) for the result."""
        return self.spawn(fn, *args, **(kwds or {})).get()

    def apply_cb(
        self,
        fn: Callable[..., T],
        args: Iterable[Any] = (),
        kwds: dict[str, Any] | None = None,
        callback: Callable[[T], object] | None = None,
    ) -> T:
        """:meth:`apply`, then ``callback(result)`` (in this greenlet)."""
        result = self.apply(fn, args, kwds)
        if callback is not None:
            callback(result)
        return result

    def apply_async(
        self,
        fn: Callable[..., T],
        args: Iterable[Any] = (),
        kwds: dict[str, Any] | None = None,
        callback: Callable[[T], object] | None = None,
    ) -> Greenlet[T]:
        """Start :meth:`apply_cb` in a new greenlet and return it (as gevent).

        ``callback(result)`` has run by the time the greenlet's ``get()``
        returns the result.
        """
        g: Greenlet[T] = Greenlet.spawn(self.apply_cb, fn, args, kwds, callback)
        return g

    def map(self, fn: Callable[[A], T], iterable: Iterable[A]) -> list[T]:
        """``[fn(x) for x in iterable]`` computed in pool threads (first error raised)."""
        results = [self.spawn(fn, item) for item in iterable]
        return [r.get() for r in results]

    def map_cb(
        self,
        fn: Callable[[A], T],
        iterable: Iterable[A],
        callback: Callable[[list[T]], object] | None = None,
    ) -> list[T]:
        """:meth:`map`, then ``callback(results)`` (in this greenlet)."""
        results = self.map(fn, iterable)
        if callback is not None:
            callback(results)
        return results

    def map_async(
        self,
        fn: Callable[[A], T],
        iterable: Iterable[A],
        callback: Callable[[list[T]], object] | None = None,
    ) -> Greenlet[list[T]]:
        """Start :meth:`map_cb` in a new greenlet and return it."""
        g: Greenlet[list[T]] = Greenlet.spawn(self.map_cb, fn, iterable, callback)
        return g

    def imap_unordered(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]:
        """``map(fn, *iterables)`` lazily, results in the order they finish."""
        window: set[AsyncResult[T]] = set()
        ahead = max(1, 2 * self.maxsize)
        items = zip(*iterables, strict=False)
        exhausted = False
        while True:
            while not exhausted and len(window) < ahead:
                args = next(items, None)
                if args is None:
                    exhausted = True
                    break
                window.add(self.spawn(fn, *args))
            if not window:
                return
            for done in iwait(list(window), count=1):
                window.discard(done)
                yield done.get()

    def imap(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]:
        """``map(fn, *iterables)`` lazily, in order, keeping the threads busy."""
        window: deque[AsyncResult[T]] = deque()
        ahead = max(1, 2 * self.maxsize)
        for args in zip(*iterables, strict=False):
            window.append(self.spawn(fn, *args))
            if len(window) >= ahead:
                yield window.popleft().get()
        while window:
            yield window.popleft().get()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every job spawned so far is finished; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._pending:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self._joiners.wait(remaining) is False:
                return not self._pending
        return True

    def kill(self) -> None:
        """Cancel the jobs not started yet (their results raise RuntimeError) and stop the threads.

        Running jobs finish and deliver their results; the pool can be used
        again (new threads start on demand).
        """
        for deliver, result in self._workers.stop():
            error = RuntimeError("the thread pool was killed before this job ran")
            deliver(result, False, error)

    def _after_fork_in_child(self) -> None:
        # (corolib._workers starts the threads over; the child's hub forgot its holds)
        self._pending = 0


class ThreadResult(AsyncResult[T]):
    """The result of a job run in another OS thread: an :class:`AsyncResult`.

    :meth:`ThreadPool.spawn` returns one; like every AsyncResult it may be
    set from any thread and waited on by greenlets.  (gevent's class of the
    same name is internal to its thread pool; here it is just the name.)
    """

    __slots__ = ()


class _GreenFuture(_futures.Future[T]):
    """A ``concurrent.futures.Future`` whose waits park the greenlet, not the thread."""

    def __init__(self, result: AsyncResult[T]) -> None:
        super().__init__()
        self._async = result
        result.rawlink(self._settle)

    def _settle(self, source: AsyncResult[T]) -> None:
        if self.done():  # settled already by a waiter that got there first
            return
        if not self.set_running_or_notify_cancel():
            return
        if source.successful():
            self.set_result(source.get())
        else:
            exc = source.exception
            assert exc is not None
            self.set_exception(exc)

    def _wait(self, timeout: float | None) -> None:
        if not self.done():
            self._async.wait(timeout)
            if not self._async.ready():
                raise _futures.TimeoutError()
            if not self.done():  # its rawlink has not run yet
                self._settle(self._async)

    def result(self, timeout: float | None = None) -> T:
        """The job's value (its exception raised), waiting cooperatively up to ``timeout``."""
        self._wait(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The job's exception (or None), waiting cooperatively up to ``timeout``."""
        self._wait(timeout)
        return super().exception(0)


class ThreadPoolExecutor(_futures.Executor):
    """``concurrent.futures.ThreadPoolExecutor`` on a corolib :class:`ThreadPool`.

    Jobs run in native threads; the futures' ``result()``/``exception()``
    park the calling greenlet instead of blocking the thread, and the
    futures are waitable with :func:`corolib.wait` (they wrap an
    :class:`AsyncResult`, ``future._async``).  ``concurrent.futures.wait``
    and ``as_completed`` block on real locks unless threading is patched.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        self._pool = ThreadPool(max_workers)
        self._initializer = initializer
        self._initargs = initargs
        self._initialized: set[int] = set()
        self._shutdown = False

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        if self._initializer is not None:
            me = _thread.get_ident()
            if me not in self._initialized:
                self._initialized.add(me)
                self._initializer(*self._initargs)
        return fn(*args, **kwargs)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> _futures.Future[T]:
        """Run ``fn(*args, **kwargs)`` in a pool thread; return its future."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        return _GreenFuture(self._pool.spawn(self._run, fn, args, kwargs))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new jobs; ``cancel_futures`` drops those not started; ``wait`` joins the rest."""
        self._shutdown = True
        if cancel_futures:
            self._pool.kill()
        if wait:
            self._pool.join()


_all_pools: weakref.WeakSet[ThreadPool] = weakref.WeakSet()
_default_pools: dict[int, ThreadPool] = {}


def get_threadpool() -> ThreadPool:
    """Return the current hub's default :class:`ThreadPool`, made on first use."""
    hub = get_hub()
    key = id(hub)
    pool = _default_pools.get(key)
    if pool is None or pool._hub_ref() is not hub:
        pool = ThreadPool(config.threadpool_size, hub)
        _default_pools[key] = pool
        weakref.finalize(hub, _default_pools.pop, key, None)
    return pool


def _reset_after_fork() -> None:
    for pool in list(_all_pools):
        pool._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_after_fork)
