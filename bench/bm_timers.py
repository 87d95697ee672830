"""Timer accuracy under load: N tasks, each sleeping its own random delay up to 0.5 s.

The delays are the same for every implementation (a fixed seed).  Each task notes
`time.monotonic()` (CLOCK_MONOTONIC, the clock every loop here uses) right before its
sleep and right after it; lateness = actual sleep - requested delay.

- `overhead`: wall time from the first spawn to the return of the join, minus 0.5 s;
- `late_p50`, `late_p99`: percentiles of the lateness over the N tasks;
- `early`: how many tasks woke before their delay had passed (negative lateness).

N = 100,000 (quick: 10,000); one round per process after a warm-up of 1,000 timers
up to 50 ms.
"""

from __future__ import annotations

import gc
import math
import random
import time
from types import ModuleType

from _common import emit, load, parse_args

DESCRIPTION = (
    "100,000 tasks each sleeping a random delay up to 0.5 s (same delays for everyone): "
    "`overhead` = wall time from the first spawn to the join's return − 0.5 s; "
    "`late_p50`/`late_p99` = lateness (actual − requested sleep) percentiles; "
    "`early` = wake-ups before the requested delay (must be 0 for corolib)."
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
CASES = ("overhead", "late_p50", "late_p99", "early")
TARGETS = {
    "late_p99": [(None, "<", 20.0)],
    "early": [(None, "==", 0, "max")],
}
# No ratios for these: a count of events (often 0) is compared as it is.
ABSOLUTE = ("early",)
MAX_DELAY = 0.5
SEED = 3


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of sorted values, nearest rank."""
    rank = max(1, min(len(sorted_values), math.ceil(q * len(sorted_values))))
    return sorted_values[rank - 1]


def delays(count: int, longest: float) -> list[float]:
    rng = random.Random(SEED)
    return [rng.random() * longest for _ in range(count)]


def green_round(api: ModuleType, requested: list[float]) -> tuple[float, list[float]]:
    """(wall seconds, per-task lateness) for greenlets sleeping the requested delays."""
    sleep, spawn = api.sleep, api.spawn
    clock = time.monotonic
    late = [0.0] * len(requested)

    def task(i: int, delay: float) -> None:
        t = clock()
        sleep(delay)
        late[i] = clock() - t - delay

    gc.collect()
    t0 = clock()
    api.joinall([spawn(task, i, d) for i, d in enumerate(requested)])
    return clock() - t0, late


def async_round(api: ModuleType, requested: list[float]) -> tuple[float, list[float]]:
    """The same with coroutines and `await asyncio.sleep(delay)`."""
    import asyncio

    sleep = api.sleep
    clock = time.monotonic
    late = [0.0] * len(requested)

    async def task(i: int, delay: float) -> None:
        t = clock()
        await sleep(delay)
        late[i] = clock() - t - delay

    async def main() -> float:
        create_task = asyncio.get_running_loop().create_task
        gc.collect()
        t0 = clock()
        await api.gather(*[create_task(task(i, d)) for i, d in enumerate(requested)])
        return clock() - t0

    wall = api.run(main)
    return wall, late


def main() -> None:
    args = parse_args(IMPLS)
    api = load(IMPLS, args.impl)
    count = 10_000 if args.quick else 100_000
    round_ = green_round if api.KIND == "green" else async_round
    round_(api, delays(1_000, MAX_DELAY / 10))  # warm-up
    wall, late = round_(api, delays(count, MAX_DELAY))
    late.sort()
    ms = 1e3
    emit(
        "timers",
        "overhead",
        args.impl,
        api.PACKAGE,
        [(wall - MAX_DELAY) * ms],
        "ms",
        count=count,
        wall_s=round(wall, 4),
    )
    for case, q in (("late_p50", 0.5), ("late_p99", 0.99)):
        emit(
            "timers",
            case,
            args.impl,
            api.PACKAGE,
            [percentile(late, q) * ms],
            "ms",
            count=count,
            worst_ms=round(late[-1] * ms, 3),
        )
    early = [x for x in late if x < 0]
    emit(
        "timers",
        "early",
        args.impl,
        api.PACKAGE,
        [len(early)],
        "count",
        count=count,
        earliest_ms=round(min(early, default=0.0) * ms, 4),
    )


if __name__ == "__main__":
    main()
