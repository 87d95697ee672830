"""Synchronisation primitives: event round trips, queue throughput, pool imap.

Run: ``python bench/bm_sync.py --impl corolib`` (or gevent, eventlet, asyncio,
uvloop, threads); ``bench/run.py --bench sync`` runs them all.

Every implementation runs the same four programs with its own primitives
(``threads``: OS threads with ``threading.Event``, ``queue.Queue`` and
``multiprocessing.pool.ThreadPool``):

- ``event_round_trip``: two tasks ping-pong through two events (A sets ping
  and waits for pong; B waits for ping, clears it and sets pong).  Figure:
  ns per round trip (two wake-ups, two switches through the scheduler).
- ``queue_unbounded``: a producer puts N items into an unbounded queue and
  a consumer gets them, each with the blocking API (``put``/``get``; asyncio:
  ``await q.put``/``await q.get``).  Figure: ns per item (put + get).
- ``queue_maxsize1``: the same through a queue of size 1, so producer and
  consumer alternate.  Figure: ns per item.
- ``pool_imap``: ``Pool(100).imap(f, range(N))`` with a trivial ``f``,
  reading every result in order (eventlet: ``GreenPool(100).imap``; asyncio:
  a feeder task starting one task per item under a ``Semaphore(100)`` into a
  queue, the reader awaiting them in order).  Figure: ns per item.

asyncio and uvloop run the same coroutines, on the default loop and on
uvloop's.  The timed region is the program only (tasks started inside it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from _common import emit, load, parse_args

DESCRIPTION = (
    "ns per operation: `event_round_trip` (set/wait ping-pong between two tasks), "
    "`queue_unbounded` and `queue_maxsize1` (one put + one get between a producer and a "
    "consumer), `pool_imap` (one item of `Pool(100).imap(f, range(N))`, f trivial)."
)
IMPLS = {
    "corolib": "corolib",
    "gevent": "gevent",
    "eventlet": "eventlet",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "threads": "threading",
}
CASES = ("event_round_trip", "queue_unbounded", "queue_maxsize1", "pool_imap")
TARGETS = {case: ("gevent", 0.4) for case in CASES}
# Six implementations: 3 repetitions keep `make bench` within its 15 minutes.
REPS = {"full": 3}
POOL_SIZE = 100

clock = time.perf_counter_ns


def identity(x: int) -> int:
    return x


# ---- greenlet-based implementations (corolib, gevent, eventlet) -------------------------


class Greenlets:
    """The few calls the programs need, mapped onto a greenlet library."""

    def __init__(self, impl: str) -> None:
        if impl == "corolib":
            import corolib
            from corolib.pool import Pool
            from corolib.queue import Queue

            self.spawn, self.joinall = corolib.spawn, corolib.joinall
            self.Event, self.Queue, self.Pool = corolib.Event, Queue, Pool
            self.clear = "clear"
        elif impl == "gevent":
            import gevent
            from gevent.event import Event
            from gevent.pool import Pool
            from gevent.queue import Queue

            self.spawn, self.joinall = gevent.spawn, gevent.joinall
            self.Event, self.Queue, self.Pool = Event, Queue, Pool
            self.clear = "clear"
        else:
            import eventlet
            from eventlet.event import Event
            from eventlet.queue import Queue

            self.spawn = eventlet.spawn
            self.joinall = lambda threads: [t.wait() for t in threads]
            self.Event, self.Queue, self.Pool = Event, Queue, eventlet.GreenPool
            self.clear = "reset"  # eventlet's Event: wait/send/reset

    def event_round_trips(self, n: int) -> int:
        ping, pong = self.Event(), self.Event()
        set_ping = getattr(ping, "set", None) or ping.send
        set_pong = getattr(pong, "set", None) or pong.send
        clear_ping, clear_pong = getattr(ping, self.clear), getattr(pong, self.clear)
        wait_ping, wait_pong = ping.wait, pong.wait

        def a() -> None:
            for _ in range(n):
                set_ping()
                wait_pong()
                clear_pong()

        def b() -> None:
            for _ in range(n):
                wait_ping()
                clear_ping()
                set_pong()

        t0 = clock()
        self.joinall([self.spawn(b), self.spawn(a)])
        return clock() - t0

    def queue_items(self, n: int, maxsize: int | None) -> int:
        q = self.Queue(maxsize)
        put, get = q.put, q.get

        def producer() -> None:
            for i in range(n):
                put(i)

        def consumer() -> None:
            for _ in range(n):
                get()

        t0 = clock()
        self.joinall([self.spawn(consumer), self.spawn(producer)])
        return clock() - t0

    def pool_imap(self, n: int) -> int:
        pool = self.Pool(POOL_SIZE)
        total = 0

        def reader() -> None:
            nonlocal total
            for value in pool.imap(identity, range(n)):
                total += value

        t0 = clock()
        self.joinall([self.spawn(reader)])
        elapsed = clock() - t0
        assert total == n * (n - 1) // 2
        return elapsed


class Threads(Greenlets):
    """The same programs on OS threads: threading.Event, queue.Queue and
    multiprocessing.pool.ThreadPool (whose imap has the same contract as Pool.imap)."""

    def __init__(self) -> None:  # no super().__init__(): no greenlet library
        import queue
        import threading
        from multiprocessing.pool import ThreadPool

        def spawn(fn: Callable[[], None]) -> threading.Thread:
            t = threading.Thread(target=fn)
            t.start()
            return t

        self.spawn = spawn
        self.joinall = lambda threads: [t.join() for t in threads]
        self.Event, self.Queue, self.Pool = threading.Event, queue.Queue, ThreadPool
        self.clear = "clear"

    def queue_items(self, n: int, maxsize: int | None) -> int:
        return super().queue_items(n, maxsize or 0)  # queue.Queue(None) is not unbounded

    def pool_imap(self, n: int) -> int:
        pool = self.Pool(POOL_SIZE)  # starts its 100 threads here, outside the clock
        total = 0
        try:
            t0 = clock()
            for value in pool.imap(identity, range(n)):
                total += value
            elapsed = clock() - t0
        finally:
            pool.terminate()
        assert total == n * (n - 1) // 2
        return elapsed


# ---- asyncio and uvloop --------------------------------------------------------------------


def aio_programs(impl: str) -> dict[str, Callable[[int], int]]:
    """The programs as coroutines, each run on a fresh asyncio or uvloop loop."""
    import asyncio

    def run(make: Callable[[], Any]) -> int:
        if impl == "uvloop":
            import uvloop

            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        try:
            return int(loop.run_until_complete(make()))
        finally:
            loop.close()

    async def event_round_trips(n: int) -> int:
        ping, pong = asyncio.Event(), asyncio.Event()

        async def a() -> None:
            for _ in range(n):
                ping.set()
                await pong.wait()
                pong.clear()

        async def b() -> None:
            for _ in range(n):
                await ping.wait()
                ping.clear()
                pong.set()

        t0 = clock()
        await asyncio.gather(asyncio.ensure_future(b()), asyncio.ensure_future(a()))
        return clock() - t0

    async def queue_items(n: int, maxsize: int | None) -> int:
        q: asyncio.Queue[int] = asyncio.Queue(maxsize or 0)

        async def producer() -> None:
            for i in range(n):
                await q.put(i)

        async def consumer() -> None:
            for _ in range(n):
                await q.get()

        t0 = clock()
        await asyncio.gather(asyncio.ensure_future(consumer()), asyncio.ensure_future(producer()))
        return clock() - t0

    async def pool_imap(n: int) -> int:
        async def work(x: int, sem: asyncio.Semaphore) -> int:
            try:
                return identity(x)
            finally:
                sem.release()

        async def reader() -> int:
            sem = asyncio.Semaphore(POOL_SIZE)
            tasks: asyncio.Queue[asyncio.Task[int] | None] = asyncio.Queue()

            async def feeder() -> None:
                for x in range(n):
                    await sem.acquire()
                    await tasks.put(asyncio.ensure_future(work(x, sem)))
                await tasks.put(None)

            feed = asyncio.ensure_future(feeder())
            total = 0
            while (task := await tasks.get()) is not None:
                total += await task
            await feed
            return total

        t0 = clock()
        total = await asyncio.ensure_future(reader())
        elapsed = clock() - t0
        assert total == n * (n - 1) // 2
        return elapsed

    return {
        "event_round_trip": lambda n: run(lambda: event_round_trips(n)),
        "queue_unbounded": lambda n: run(lambda: queue_items(n, None)),
        "queue_maxsize1": lambda n: run(lambda: queue_items(n, 1)),
        "pool_imap": lambda n: run(lambda: pool_imap(n)),
    }


# ---- driver -------------------------------------------------------------------------------------


def programs(impl: str) -> dict[str, Callable[[int], int]]:
    """Case -> function(n) returning the nanoseconds the program took."""
    if impl in ("asyncio", "uvloop"):
        return aio_programs(impl)
    g = Threads() if impl == "threads" else Greenlets(impl)
    return {
        "event_round_trip": g.event_round_trips,
        "queue_unbounded": lambda n: g.queue_items(n, None),
        "queue_maxsize1": lambda n: g.queue_items(n, 1),
        "pool_imap": g.pool_imap,
    }


def main() -> None:
    args = parse_args(IMPLS)
    module: ModuleType = load(IMPLS, args.impl)
    del module  # imported for its version; the programs import what they use
    sizes = {
        "event_round_trip": 20_000,
        "queue_unbounded": 100_000,
        "queue_maxsize1": 20_000,
        "pool_imap": 100_000,
    }
    # pool_imap takes seconds per sample on the slower peers: one sample per
    # process (the repetitions give the spread), after a 1/10 warm-up.
    samples = {case: 3 if args.quick else 5 for case in CASES} | {"pool_imap": 1}
    scale = 5 if args.quick else 1
    for case, run in programs(args.impl).items():
        n = sizes[case] // scale
        run(max(1, n // 10))  # warm-up
        ns = [run(n) / n for _ in range(samples[case])]
        emit("sync", case, args.impl, IMPLS[args.impl], ns, "ns", n=n, pool_size=POOL_SIZE)


if __name__ == "__main__":
    main()
