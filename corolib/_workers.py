"""Real OS worker threads: the one implementation behind corolib.dns and corolib.threadpool.

A :class:`Workers` object is a pool of native threads, started with the
real ``_thread`` module (captured when this module is imported, so monkey
patching cannot turn them into greenlets).  Greenlets hand it jobs from
their hub's thread; a worker runs each and delivers the outcome back to
that hub with ``Hub.run_callback_threadsafe``, where ``deliver(token, ok,
value)`` runs (``ok`` False: ``value`` is the exception, traceback and
all).  Its users differ only in their limits and in what ``deliver`` does:

- :mod:`corolib.dns`: one pool per process, sized for waiting (a lookup on
  a slow name server holds its thread), ``MAX_THREADS`` threads;
- :mod:`corolib.threadpool`: one per ``ThreadPool``, ``maxsize`` threads.

Threads start on demand (at most one per job: when there are more jobs in
flight than threads and the pool is below its limit), exit after
``idle_timeout`` seconds without a job, and exit when the limit is lowered
below the number running or the pool is stopped (after their current
job).  Jobs beyond the limit wait in FIFO order.  A thread takes no lock
to take or finish a job.

Keeping the hub alive: the hub raises ``LoopExit`` when nothing it knows of
can wake a parked greenlet, and a worker thread is invisible to it.  Every
job therefore holds its hub (``Hub.hold()``) from submission until the
worker has queued the outcome (``Hub.unhold()``, from the worker; the
queued callback keeps the hub alive from there on), or until the job is
dropped by :meth:`Workers.stop`.  An outcome for a hub whose thread has
exited or that was destroyed is dropped: nobody waits for it any more.

After ``os.fork()`` every pool starts over in the child, with no threads
and no jobs (the workers did not survive the fork; jobs queued at the fork
are lost in the child, whose hub forgot its holds as well).
"""

from __future__ import annotations

import _thread
import os
import sys
import weakref
from _queue import Empty, SimpleQueue
from collections.abc import Callable
from typing import Any

# The real primitives, whatever is patched later.
_start_new_thread = _thread.start_new_thread
_allocate_lock = _thread.allocate_lock
_get_ident = _thread.get_ident

#: ``deliver(token, ok, value)``: run in the submitter's hub with a job's outcome
Deliver = Callable[[Any, bool, Any], object]

# A queued job: (hub, fn, args, kwargs, deliver, token).  None in the queue
# wakes an idle thread to see whether it should exit.
_Job = tuple[Any, Callable[..., Any], tuple[Any, ...], dict[str, Any], Deliver, Any]


class Workers:
    """Up to ``max_threads`` real OS threads running jobs for greenlets.

    ``idle_timeout`` (seconds, settable) is how long a thread waits for a
    job before it exits.  Submit from the thread of the hub given.
    """

    def __init__(self, max_threads: int, idle_timeout: float) -> None:
        if max_threads < 0:
            raise ValueError(f"a worker pool's size must be >= 0, not {max_threads}")
        self._max = max_threads
        self.idle_timeout = idle_timeout
        self._start_over()
        _every_pool.add(self)

    def _start_over(self) -> None:
        """No threads, no jobs: a new pool (and what a forked child needs)."""
        self._lock = _allocate_lock()
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        # All under _lock.  A thread is "stale" when it was running at the
        # last stop(): it exits once its current job is done.  A worker takes
        # no lock for a job: it appends to _finished after each (a list
        # append is atomic), and whoever holds the lock settles the count.
        self._generation = 0  # bumped by stop(); a thread knows the one it started in
        self._threads = 0  # started and not exited
        self._stale = 0  # of those, stale
        self._in_flight = 0  # jobs submitted and not finished (queued or running)
        self._finished: list[None] = []  # one None per job finished, not yet counted
        self._marks = 0  # wake-up marks (None) in _jobs
        #: the running threads' identifiers (the same set for the pool's life)
        self.idents: set[int] = getattr(self, "idents", set())
        self.idents.clear()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} at {id(self):#x} threads={self._threads}/{self._max} "
            f"in_flight={self._in_flight}>"
        )

    @property
    def max_threads(self) -> int:
        """The most threads it runs at once (see :meth:`set_max_threads`)."""
        return self._max

    def set_max_threads(self, n: int) -> None:
        """Run up to ``n`` (>= 0) threads from now on.

        Threads beyond a lowered limit exit once their current job is done
        (idle ones at once); a raised limit starts threads for the jobs
        waiting right away.
        """
        if n < 0:
            raise ValueError(f"a worker pool's size must be >= 0, not {n}")
        with self._lock:
            self._max = n
            self._wake(self._threads - self._stale - n)  # each sees it is one too many
            start, generation = self._to_start(), self._generation
            self._threads += start
        self._start(start, generation)

    def _wake(self, n: int) -> None:
        """Put ``n`` wake-up marks (under _lock): a waiting thread gets one and looks around."""
        for _ in range(n):
            self._jobs.put(None)
        self._marks += max(0, n)

    def _settle(self) -> None:
        """Count the jobs finished since last time out of _in_flight (under _lock)."""
        finished = self._finished
        n = len(finished)
        if n:
            del finished[:n]  # (atomic: appends meanwhile stay)
            self._in_flight -= n

    def _to_start(self) -> int:
        """How many threads to start now for the jobs in flight (under _lock).

        Enough that every job has a thread that will stay, up to the limit;
        it may start one that turns out not to be needed (a thread about to
        finish), never too few.
        """
        self._settle()
        staying = self._threads - self._stale
        return max(0, min(self._in_flight - staying, self._max - staying))

    def _start(self, n: int, generation: int) -> None:
        """Start ``n`` threads of ``generation`` (already counted in _threads)."""
        for started in range(n):
            try:
                _start_new_thread(self._work, (generation,))
            except BaseException:
                with self._lock:
                    self._threads -= n - started
                    if generation != self._generation:  # stop() counted them stale
                        self._stale -= n - started
                raise

    # -- jobs ----------------------------------------------------------------------------

    def submit(
        self,
        hub: Any,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deliver: Deliver,
        token: Any,
    ) -> None:
        """Run ``fn(*args, **kwargs)`` in a worker; then ``deliver(token, ok, value)`` in ``hub``.

        Call it from ``hub``'s thread; ``hub`` is held until the outcome is
        queued to it.  If no thread can be started for it the job is not
        queued and the error propagates.
        """
        job = (hub, fn, args, kwargs, deliver, token)
        hub.hold()  # a worker will wake someone here: no LoopExit meanwhile
        with self._lock:
            self._settle()
            staying = self._threads - self._stale
            if self._in_flight < staying or staying >= self._max:  # (_to_start() == 0)
                # Under the lock: an idle thread sees it before it times out.
                self._in_flight += 1
                self._jobs.put(job)
                return
            self._threads += 1
            generation = self._generation
        try:
            self._start(1, generation)
        except BaseException:
            hub.unhold()
            raise
        with self._lock:
            self._in_flight += 1
            self._jobs.put(job)

    def stop(self) -> list[tuple[Deliver, Any]]:
        """Drop the jobs not started yet; every thread exits after its current job.

        Returns the dropped jobs' ``(deliver, token)`` pairs (their holds on
        their hubs are released; nothing is delivered for them).  The pool
        stays usable: a job submitted from now on gets a new thread.
        """
        dropped: list[tuple[Any, Deliver, Any]] = []
        with self._lock:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except Empty:
                    break
                if job is None:
                    self._marks -= 1
                else:
                    self._in_flight -= 1
                    dropped.append((job[0], job[4], job[5]))
            self._generation += 1
            self._stale = self._threads
            self._wake(self._threads)  # the idle ones exit now
        for hub, _deliver, _token in dropped:
            hub.unhold()
        return [(deliver, token) for _hub, deliver, token in dropped]

    def owns_current_thread(self) -> bool:
        """True in one of this pool's threads (a job running here)."""
        return _get_ident() in self.idents

    def statistics(self) -> dict[str, int]:
        """Return the counts.

        ``threads`` running (busy or idle, including those about to exit),
        ``idle`` not running a job, ``queued`` jobs not taken by a thread
        yet, ``stopping`` threads that exit after their current job
        (stopped, or beyond a lowered limit), ``max_threads`` the limit.
        """
        with self._lock:
            self._settle()
            queued = max(0, self._jobs.qsize() - self._marks)
            staying = self._threads - self._stale
            return {
                "threads": self._threads,
                "idle": max(0, self._threads - (self._in_flight - queued)),
                "queued": queued,
                "stopping": self._stale + max(0, staying - self._max),
                "max_threads": self._max,
            }

    # -- a worker thread -----------------------------------------------------------------

    def _work(self, generation: int) -> None:
        me = _get_ident()
        self.idents.add(me)
        try:
            self._work_loop(generation)
        finally:
            self.idents.discard(me)

    def _leaving(self, generation: int) -> bool:
        """Whether this thread exits now: stopped, or one too many (under _lock)."""
        if generation != self._generation:
            self._stale -= 1
        elif self._threads - self._stale <= self._max:
            return False
        self._threads -= 1
        return True

    def _work_loop(self, generation: int) -> None:
        # Tracers and profilers installed with threading.settrace/setprofile
        # (debuggers, coverage) see the jobs, as in a threading.Thread.
        threading = sys.modules.get("threading")
        if threading is not None:
            trace, profile = threading.gettrace(), threading.getprofile()
            if trace is not None:
                sys.settrace(trace)
            if profile is not None:
                sys.setprofile(profile)
        jobs, lock, finished = self._jobs, self._lock, self._finished
        while True:
            try:
                job = jobs.get(timeout=self.idle_timeout)
            except Empty:
                with lock:
                    # Nothing queued (checked under the lock jobs are queued
                    # under): this thread is not needed.
                    if generation != self._generation or jobs.empty():
                        if generation != self._generation:
                            self._stale -= 1
                        self._threads -= 1
                        return
                continue
            if job is None:  # a wake-up mark
                with lock:
                    self._marks -= 1
                    if self._leaving(generation):
                        return
                continue
            hub, fn, args, kwargs, deliver, token = job
            del job
            try:
                value = fn(*args, **kwargs)
                ok = True
            except BaseException as exc:  # noqa: BLE001 - delivered to the waiter
                value = exc
                ok = False
            del fn, args, kwargs
            try:
                if not hub.dead:  # (dead: its thread exited)
                    hub.run_callback_threadsafe(deliver, token, ok, value)
            except Exception:  # noqa: BLE001 - the hub was destroyed: nobody waits
                pass
            # The queued callback now keeps the hub alive by itself.
            hub.unhold()
            del hub, deliver, token, value
            finished.append(None)
            # (Read without the lock; a stop or a lower limit that this misses
            # puts a wake-up mark that this thread or another gets.)
            if generation != self._generation or self._threads - self._stale > self._max:
                with lock:
                    if self._leaving(generation):
                        return


_every_pool: weakref.WeakSet[Workers] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The workers did not survive the fork; their locks may be held.
    for pool in list(_every_pool):
        pool._start_over()


os.register_at_fork(after_in_child=_after_fork_in_child)
