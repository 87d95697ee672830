"""Nanoseconds per sleep(0): tasks that do nothing but yield to the hub, round robin.

`tasks1`: one task loops `sleep(0)`; `tasks1000`: 1,000 tasks each loop `sleep(0)`
(asyncio, uvloop: `await asyncio.sleep(0)`).  The loop body is unrolled ten times.
Every task first yields once to warm up; the clock starts when the last task has done
so (every task is running by then, so spawning is not timed) and stops when the last
task finishes.  Figure = elapsed / (tasks x sleeps per task).  Counting from the first
task's first timed sleep overstates the sleeps by at most one per task (< 0.5%).
"""

from __future__ import annotations

import time
from types import ModuleType

from _common import emit, load, parse_args

DESCRIPTION = (
    "ns per `sleep(0)` (asyncio/uvloop: `await asyncio.sleep(0)`), in tasks that loop on "
    "it: one task (`tasks1`) or 1,000 tasks round robin (`tasks1000`); spawning is not "
    "timed; figure = elapsed / total sleeps."
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
SIZE = "{sleeps:,} sleeps per round"
CASES = {"tasks1": 1, "tasks1000": 1_000}
TARGETS = {"tasks1": ("gevent", 0.4), "tasks1000": ("gevent", 0.4)}
UNROLL = 10


class Clock:
    """Start when the last of `tasks` is ready; stop when the last one is done."""

    def __init__(self, tasks: int) -> None:
        self.waiting = self.running = tasks
        self.t0 = self.t1 = 0

    def ready(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.t0 = time.perf_counter_ns()

    def done(self) -> None:
        self.running -= 1
        if self.running == 0:
            self.t1 = time.perf_counter_ns()


def green_round(api: ModuleType, tasks: int, rounds: int) -> int:
    """Nanoseconds for `tasks` greenlets to do rounds * UNROLL sleep(0) each."""
    sleep = api.sleep
    clock = Clock(tasks)

    def task() -> None:
        sleep(0)
        clock.ready()
        for _ in range(rounds):
            sleep(0)
            sleep(0)
            sleep(0)
            sleep(0)
            sleep(0)
            sleep(0)
            sleep(0)
            sleep(0)
            sleep(0)
            sleep(0)
        clock.done()

    api.joinall([api.spawn(task) for _ in range(tasks)])
    return clock.t1 - clock.t0


def async_round(api: ModuleType, tasks: int, rounds: int) -> int:
    """The same with coroutines and `await asyncio.sleep(0)`."""
    import asyncio

    sleep = api.sleep
    clock = Clock(tasks)

    async def task() -> None:
        await sleep(0)
        clock.ready()
        for _ in range(rounds):
            await sleep(0)
            await sleep(0)
            await sleep(0)
            await sleep(0)
            await sleep(0)
            await sleep(0)
            await sleep(0)
            await sleep(0)
            await sleep(0)
            await sleep(0)
        clock.done()

    async def main() -> None:
        create_task = asyncio.get_running_loop().create_task
        await api.gather(*[create_task(task()) for _ in range(tasks)])

    api.run(main)
    return clock.t1 - clock.t0


def main() -> None:
    args = parse_args(IMPLS)
    api = load(IMPLS, args.impl)
    total, samples = (20_000, 3) if args.quick else (100_000, 3)
    round_ns = green_round if api.KIND == "green" else async_round
    for case, tasks in CASES.items():
        rounds = total // (tasks * UNROLL)
        round_ns(api, tasks, rounds // 10)  # warm-up
        sleeps = tasks * rounds * UNROLL
        ns = [round_ns(api, tasks, rounds) / sleeps for _ in range(samples)]
        emit("sleep0", case, args.impl, api.PACKAGE, ns, "ns", tasks=tasks, sleeps=sleeps)


if __name__ == "__main__":
    main()
