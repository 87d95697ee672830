"""Nanoseconds per getcurrent() call, from the main greenlet.

The loop is unrolled ten times, so the figure is close to the cost of the call itself
(a module-level C function through a local name).
"""

from __future__ import annotations

import time
from types import ModuleType

from _common import emit, load, parse_args

DESCRIPTION = "ns per `getcurrent()` call in the main greenlet."
IMPLS = {"corolib": "corolib.greenlet", "greenlet": "greenlet"}
CASES = ("main",)
TARGETS: dict[str, tuple[str, float]] = {}
UNROLL = 10


def getcurrent_ns(api: ModuleType, rounds: int) -> int:
    """Nanoseconds taken by rounds * UNROLL getcurrent() calls."""
    getcurrent = api.getcurrent
    t0 = time.perf_counter_ns()
    for _ in range(rounds):
        getcurrent()
        getcurrent()
        getcurrent()
        getcurrent()
        getcurrent()
        getcurrent()
        getcurrent()
        getcurrent()
        getcurrent()
        getcurrent()
    return time.perf_counter_ns() - t0


def main() -> None:
    args = parse_args(IMPLS)
    api = load(IMPLS, args.impl)
    rounds, samples = (20_000, 3) if args.quick else (50_000, 5)
    calls = rounds * UNROLL
    getcurrent_ns(api, rounds)  # warm-up
    ns = [getcurrent_ns(api, rounds) / calls for _ in range(samples)]
    emit("getcurrent", "main", args.impl, IMPLS[args.impl], ns, "ns", calls=calls)


if __name__ == "__main__":
    main()
