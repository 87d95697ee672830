"""Nanoseconds per one-way greenlet switch: ping-pong between two greenlets.

Greenlets A and B each recurse to a given Python depth, then switch to each other in a
loop; the figure is the timed loop's duration divided by the number of one-way switches
(half a round trip).  The loop is unrolled ten times, so a Python loop iteration adds
well under 1 ns per switch; the bound-method call to switch() is part of what is timed.
"""

from __future__ import annotations

import time
from types import ModuleType

from _common import emit, load, parse_args

DESCRIPTION = (
    "ns per one-way switch (half a round trip) between two greenlets ping-ponging, "
    "each at Python recursion depth 0 (`shallow`) or 100 (`depth100`)."
)
IMPLS = {"corolib": "corolib.greenlet", "greenlet": "greenlet"}
TARGETS = {"shallow": ("greenlet", 0.8), "depth100": ("greenlet", 0.8)}
CASES = {"shallow": 0, "depth100": 100}
UNROLL = 10


def at_depth(depth: int, fn):  # type: ignore[no-untyped-def]
    """Call fn() under `depth` more Python frames."""
    if depth == 0:
        return fn()
    return at_depth(depth - 1, fn)


def ping_pong_ns(api: ModuleType, rounds: int, depth: int) -> int:
    """Nanoseconds taken by rounds * UNROLL round trips between two greenlets."""
    clock = time.perf_counter_ns

    def ping() -> int:
        to_b = b.switch
        to_b()  # starts B, which recurses and switches back: not timed
        t0 = clock()
        for _ in range(rounds):
            to_b()
            to_b()
            to_b()
            to_b()
            to_b()
            to_b()
            to_b()
            to_b()
            to_b()
            to_b()
        return clock() - t0

    def pong() -> None:
        to_a = a.switch
        while True:
            to_a()

    a = api.greenlet(lambda: at_depth(depth, ping))
    b = api.greenlet(lambda: at_depth(depth, pong))
    elapsed: int = a.switch()
    b.throw()  # GreenletExit ends B's loop
    return elapsed


def main() -> None:
    args = parse_args(IMPLS)
    api = load(IMPLS, args.impl)
    rounds, samples = (5_000, 3) if args.quick else (10_000, 5)
    switches = rounds * UNROLL * 2
    for case, depth in CASES.items():
        ping_pong_ns(api, rounds, depth)  # warm-up
        ns = [ping_pong_ns(api, rounds, depth) / switches for _ in range(samples)]
        emit("switch", case, args.impl, IMPLS[args.impl], ns, "ns", switches=switches, depth=depth)


if __name__ == "__main__":
    main()
