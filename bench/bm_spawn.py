"""Nanoseconds per spawned task: spawn N tasks that each sleep(0) once, then join them all.

The timed region runs from the first spawn to the return of the join, so each task's
figure covers creating it, starting it in the hub, one round trip through the hub for its
sleep(0), finishing, and being joined:

- corolib, gevent: `spawn(task)` N times, then `joinall(tasks)`;
- eventlet: `eventlet.spawn(task)` N times, then `t.wait()` for each (it has no joinall);
- asyncio, uvloop: `create_task(task())` N times, then `await gather(*tasks)`, with
  `await asyncio.sleep(0)` as the task's yield.

Figure = elapsed / N.  N = 100,000 (quick: 10,000); a warm-up round of N/10, then one
timed round (quick: three, and their median); the spread comes from the repetitions.
"""

from __future__ import annotations

import gc
import time
from types import ModuleType

from _common import emit, load, parse_args

DESCRIPTION = (
    "ns per task: spawn 100,000 tasks that each `sleep(0)` once, then join them all "
    "(asyncio/uvloop: `create_task` + `await asyncio.sleep(0)` + `gather`; eventlet: "
    "`spawn` + `sleep(0)` + `wait()` on each); elapsed from the first spawn to the join's "
    "return, divided by the count."
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
CASES = ("sleep0_join",)
TARGETS = {"sleep0_join": [("gevent", "<=", 0.25), ("uvloop", "<", 1.0)]}


def green_round(api: ModuleType, count: int) -> int:
    """Nanoseconds to spawn `count` tasks that sleep(0) once and join them (greenlets)."""
    sleep, spawn = api.sleep, api.spawn

    def task() -> None:
        sleep(0)

    gc.collect()
    t0 = time.perf_counter_ns()
    tasks = [spawn(task) for _ in range(count)]
    api.joinall(tasks)
    return time.perf_counter_ns() - t0


def async_round(api: ModuleType, count: int) -> int:
    """The same with coroutines: create_task, await sleep(0), gather."""
    import asyncio

    sleep = api.sleep

    async def task() -> None:
        await sleep(0)

    async def main() -> int:
        create_task = asyncio.get_running_loop().create_task
        gc.collect()
        t0 = time.perf_counter_ns()
        tasks = [create_task(task()) for _ in range(count)]
        await api.gather(*tasks)
        return time.perf_counter_ns() - t0

    return api.run(main)


def main() -> None:
    args = parse_args(IMPLS)
    api = load(IMPLS, args.impl)
    count, samples = (10_000, 3) if args.quick else (100_000, 1)
    round_ns = green_round if api.KIND == "green" else async_round
    round_ns(api, count // 10)  # warm-up
    ns = [round_ns(api, count) / count for _ in range(samples)]
    emit("spawn", "sleep0_join", args.impl, api.PACKAGE, ns, "ns", count=count)


if __name__ == "__main__":
    main()
