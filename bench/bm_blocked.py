"""Memory per task blocked on an event, and the time to wake them all.

N tasks each wait on one shared event: corolib `corolib.sync.Event().wait()`, gevent
`gevent.event.Event().wait()`, eventlet
`eventlet.event.Event().wait()`, asyncio and uvloop `await asyncio.Event().wait()`.
Each task counts itself in before waiting; the main task yields until all N have, so
every one is parked.

- `rss`: growth of the resident set (/proc/self/statm) from before the first spawn
  to that point, divided by N: task objects, stacks or frames, the waiters' entries in
  the event, and the list holding the tasks;
- `wake`: seconds from the event's set (eventlet: send()) to the
  return of the join of every task (each resumes, returns, and is joined).

One round per process: RSS only grows once.  N = 100,000 (quick: 10,000).  A wake
still running after WAKE_LIMIT_S is cut off: the process prints `wake` as "more than
WAKE_LIMIT_S", with how many tasks were done by then, and exits.
`bm_blocked_1m.py` runs the same with 1,000,000 tasks for a subset of the peers.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from types import ModuleType

from _common import emit, emit_censored, load, parse_args, rss_bytes

DESCRIPTION = (
    "100,000 tasks blocked on one event (corolib, gevent, eventlet: "
    "`Event().wait()`; asyncio, uvloop: `await asyncio.Event().wait()`): `rss` = resident-set "
    "growth per blocked task; `wake` = seconds from setting the event to the return of "
    "the join of every task."
)
IMPLS = {
    "corolib": "impl_corolib",
    "gevent": "impl_gevent",
    "eventlet": "impl_eventlet",
    "asyncio": "impl_asyncio",
    "uvloop": "impl_uvloop",
}
# Fewer repetitions than the greenlet benchmarks: five peers, 100,000 tasks each.
REPS = {"quick": 1, "full": 3}
SIZE = "{count:,} tasks per process"
CASES = ("rss", "wake")
TARGETS = {"rss": ("gevent", 0.5)}
COUNT, QUICK_COUNT = 100_000, 10_000
# A wake still running after this long is cut off and reported as "> 15 s" (gevent's
# Event.set pops its waiters off the front of a list: quadratic, minutes for 1,000,000).
WAKE_LIMIT_S = 15.0


class Counter:
    """How many tasks got as far as waiting."""

    def __init__(self) -> None:
        self.n = 0


class Cutoff:
    """Ends the process if waking takes longer than `limit` seconds.

    A thread (the measured tasks never see it) calls `report` with how many tasks had
    finished, then exits the process; the caller prints the `wake` measurement as
    censored ("more than `limit` s") from there.
    """

    def __init__(self, limit: float, report: Callable[[str], None]) -> None:
        self.limit = limit
        self.report = report
        self.tasks: list[object] = []
        self.finished: Callable[[object], bool] = bool
        self.timer: threading.Timer | None = None

    def start(self, tasks: list[object], finished: Callable[[object], bool]) -> None:
        self.tasks, self.finished = tasks, finished
        self.timer = threading.Timer(self.limit, self.fire)
        self.timer.daemon = True
        self.timer.start()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def fire(self) -> None:
        done = sum(1 for t in self.tasks if self.finished(t))
        self.report(f"{done:,} of {len(self.tasks):,} finished after {self.limit:g} s")
        os._exit(0)


Parked = Callable[[float], None]


def green_round(
    api: ModuleType, count: int, parked_cb: Parked | None = None, cutoff: Cutoff | None = None
) -> float:
    """Seconds to wake and join `count` greenlets blocked on one event.

    `parked_cb(bytes per task)` is called once all are blocked, before the wake.
    """
    sleep, spawn = api.sleep, api.spawn
    wait, set_all = api.event()
    parked = Counter()

    def task() -> None:
        parked.n += 1
        wait()

    gc.collect()
    before = rss_bytes()
    tasks = [spawn(task) for _ in range(count)]
    while parked.n < count:
        sleep(0)
    if parked_cb:
        parked_cb((rss_bytes() - before) / count)
    if cutoff:
        cutoff.start(tasks, api.finished)
    t0 = time.perf_counter()
    set_all()
    api.joinall(tasks)
    wake_s = time.perf_counter() - t0
    if cutoff:
        cutoff.cancel()
    return wake_s


def async_round(
    api: ModuleType, count: int, parked_cb: Parked | None = None, cutoff: Cutoff | None = None
) -> float:
    """The same with coroutines awaiting one asyncio.Event."""
    import asyncio

    sleep = api.sleep
    parked = Counter()

    async def main() -> float:
        wait, set_all = api.event()

        async def task() -> None:
            parked.n += 1
            await wait()

        create_task = asyncio.get_running_loop().create_task
        gc.collect()
        before = rss_bytes()
        tasks = [create_task(task()) for _ in range(count)]
        while parked.n < count:
            await sleep(0)
        if parked_cb:
            parked_cb((rss_bytes() - before) / count)
        if cutoff:
            cutoff.start(tasks, api.finished)
        t0 = time.perf_counter()
        set_all()
        await api.gather(*tasks)
        wake_s = time.perf_counter() - t0
        if cutoff:
            cutoff.cancel()
        return wake_s

    return api.run(main)


def measure(name: str, impls: dict[str, str], count: int, quick_count: int) -> None:
    """Parse the command line, run one round, print `rss` (before the wake) and `wake`."""
    args = parse_args(impls)
    api = load(impls, args.impl)
    n = quick_count if args.quick else count
    round_ = green_round if api.KIND == "green" else async_round
    round_(api, 1_000)  # warm-up: first-use allocations (its memory is kept)

    def parked(per_task: float) -> None:
        emit(name, "rss", args.impl, api.PACKAGE, [per_task], "bytes", count=n)

    def cut_off(note: str) -> None:
        emit_censored(name, "wake", args.impl, api.PACKAGE, WAKE_LIMIT_S, "s", note, count=n)

    wake_s = round_(api, n, parked, Cutoff(WAKE_LIMIT_S, cut_off))
    emit(name, "wake", args.impl, api.PACKAGE, [wake_s], "s", count=n)


def main() -> None:
    measure("blocked", IMPLS, COUNT, QUICK_COUNT)


if __name__ == "__main__":
    main()
