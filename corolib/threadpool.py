"""Real OS threads for blocking work that cannot be made cooperative.

``ThreadPool(maxsize)`` runs functions in up to ``maxsize`` native threads
(started with the real ``_thread`` module, captured when this module is
imported, so monkey-patching never turns them into greenlets).
:meth:`ThreadPool.spawn` returns an :class:`corolib.sync.AsyncResult` the
calling greenlet waits on cooperatively; the result (or the exception, with
its traceback) is delivered to the pool's hub with
``Hub.run_callback_threadsafe``.  :func:`get_threadpool` gives each hub a
default pool of ``corolib.config.config.threadpool_size`` threads
(``COROLIB_THREADPOOL_SIZE``, default 10).

While jobs are outstanding the pool holds its hub (``Hub.hold()``), so a
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
import os
import time
import weakref
from _queue import Empty as _RealEmpty
from _queue import SimpleQueue as _RealQueue
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from corolib._core import WaitQueue, get_hub_if_exists
from corolib.config import config
from corolib.hub import Greenlet, get_hub
from corolib.sync import AsyncResult, InvalidThreadUseError

__all__ = ["ThreadPool", "get_threadpool", "DEFAULT_SIZE"]

# The real primitives, whatever is patched later.
_start_new_thread = _thread.start_new_thread
_allocate_lock = _thread.allocate_lock

#: threads in the pool get_threadpool() makes for each hub
DEFAULT_SIZE = 10

_Job = tuple[AsyncResult, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class ThreadPool:
    """Up to ``maxsize`` native threads running jobs for the greenlets of one hub.

    ``ThreadPool(maxsize=10, hub=None, idle_timeout=5.0)``; ``hub`` defaults
    to the current thread's.  Threads start on demand.
    """

    def __init__(
        self, maxsize: int = DEFAULT_SIZE, hub: Any = None, idle_timeout: float = 5.0
    ) -> None:
        if maxsize < 1:
            raise ValueError("max_workers must be greater than 0")
        hub = get_hub() if hub is None else hub
        self._hub_ref = weakref.ref(hub)
        self._maxsize = maxsize
        self.idle_timeout = idle_timeout
        self._init_threads()
        #: jobs spawned whose result is not delivered yet (hub thread only);
        #: while there are any, the hub is held (no LoopExit)
        self._pending = 0
        self._joiners = WaitQueue()
        _all_pools.add(self)

    def _init_threads(self) -> None:
        self._jobs: _RealQueue[_Job | None] = _RealQueue()
        self._lock = _allocate_lock()
        self._nthreads = 0  # alive or starting; under _lock
        self._to_stop = 0  # threads asked to exit by kill(); under _lock

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} at {id(self):#x} threads={self._nthreads}/{self._maxsize} "
            f"pending={self._pending}>"
        )

    @property
    def maxsize(self) -> int:
        """The most threads it runs at once (settable; shrinking lets busy threads finish)."""
        return self._maxsize

    @maxsize.setter
    def maxsize(self, value: int) -> None:
        if value < 1:
            raise ValueError("max_workers must be greater than 0")
        with self._lock:
            self._maxsize = value
            extra = self._nthreads - self._to_stop - value
            if extra > 0:
                self._to_stop += extra
                for _ in range(extra):
                    self._jobs.put(None)

    size = maxsize

    def statistics(self) -> dict[str, Any]:
        """``{'maxsize', 'threads', 'pending', 'queued', 'joiners'}``.

        ``threads`` running or idle, ``pending`` jobs not delivered yet,
        ``queued`` jobs not started yet, ``joiners`` greenlets in :meth:`join`.
        """
        return {
            "maxsize": self._maxsize,
            "threads": self._nthreads - self._to_stop,
            "pending": self._pending,
            "queued": self._jobs.qsize(),
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

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> AsyncResult:
        """Run ``fn(*args, **kwargs)`` in a pool thread; return the AsyncResult it will fill."""
        hub = self._hub()
        result = AsyncResult()
        if not self._pending:
            hub.hold()
        self._pending += 1
        with self._lock:
            self._jobs.put((result, fn, args, kwargs))
            start = self._pending > self._nthreads - self._to_stop and (
                self._nthreads - self._to_stop < self._maxsize
            )
            if start:
                self._nthreads += 1
        if start:
            try:
                _start_new_thread(self._work, ())
            except BaseException:
                with self._lock:
                    self._nthreads -= 1
                raise
        return result

    def _work(self) -> None:
        """Run jobs (a pool thread) until idle for ``idle_timeout`` or asked to stop."""
        jobs, lock = self._jobs, self._lock
        while True:
            try:
                job = jobs.get(timeout=self.idle_timeout)
            except _RealEmpty:
                with lock:
                    if jobs.empty():
                        self._nthreads -= 1
                        return
                continue
            if job is None:
                with lock:
                    if self._to_stop > 0:
                        self._to_stop -= 1
                        self._nthreads -= 1
                        return
                continue
            result, fn, args, kwargs = job
            del job
            try:
                value = fn(*args, **kwargs)
                ok = True
            except BaseException as exc:  # noqa: BLE001 - delivered to the waiter
                value = exc
                ok = False
            del fn, args, kwargs
            hub = self._hub_ref()
            if hub is not None and not hub.dead:  # (dead: its thread exited)
                try:
                    hub.run_callback_threadsafe(self._deliver, result, ok, value)
                except RuntimeError:
                    pass  # the hub was destroyed: nobody waits any more
            del hub, result, value

    def _deliver(self, result: AsyncResult, ok: bool, value: Any) -> None:
        """In the hub: hand a job's outcome to its AsyncResult."""
        self._pending -= 1
        if not self._pending:
            hub = self._hub_ref()
            if hub is not None:
                hub.unhold()
            if self._joiners:
                self._joiners.wake_all()
        if ok:
            result.set(value)
        else:
            result.set_exception(value)

    def apply(
        self,
        fn: Callable[..., Any],
        args: Iterable[Any] = (),
        kwds: dict[str, Any] | None = None,
    ) -> Any:
        """``fn(*args, **kwds)`` in a pool thread, waiting (cooperatively) for the result."""
        return self.spawn(fn, *args, **(kwds or {})).get()

    def apply_async(
        self,
        fn: Callable[..., Any],
        args: Iterable[Any] = (),
        kwds: dict[str, Any] | None = None,
        callback: Callable[[Any], object] | None = None,
    ) -> AsyncResult:
        """:meth:`spawn` with ``callback(value)`` run in a new greenlet on success."""
        result = self.spawn(fn, *args, **(kwds or {}))
        if callback is not None:

            def call_back(source: AsyncResult) -> None:
                if source.successful():
                    Greenlet.spawn(callback, source.value)

            result.rawlink(call_back)
        return result

    def map(self, fn: Callable[..., Any], iterable: Iterable[Any]) -> list[Any]:
        """``[fn(x) for x in iterable]`` computed in pool threads (first error raised)."""
        results = [self.spawn(fn, item) for item in iterable]
        return [r.get() for r in results]

    def imap(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
        """``map(fn, *iterables)`` lazily, in order, keeping the threads busy."""
        window: deque[AsyncResult] = deque()
        ahead = 2 * self._maxsize
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
        cancelled = []
        with self._lock:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except _RealEmpty:
                    break
                if job is not None:
                    cancelled.append(job[0])
            stopping = self._nthreads - self._to_stop
            self._to_stop += stopping
            for _ in range(stopping):
                self._jobs.put(None)
        for result in cancelled:
            error = RuntimeError("the thread pool was killed before this job ran")
            self._deliver(result, False, error)

    def _after_fork_in_child(self) -> None:
        self._init_threads()
        self._pending = 0  # (the child's hub forgot its holds as well)


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
