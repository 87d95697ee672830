"""Nanoseconds per one-way switch from a deep Python stack, and the cost of the depth.

Greenlet A sits `depth` Python frames deep and ping-pongs with greenlet B (shallow); the
figure is the timed loop's duration divided by the number of one-way switches. On
CPython 3.12+ a switch must keep the leaving greenlet's suspended frames walkable: done
by walking its whole frame chain, a switch costs O(depth) (issue 11). `depth_cost` is
depth 2000's figure over depth 5's, measured back to back in the same process.
"""

from __future__ import annotations

import sys
import time
from types import ModuleType

from _common import emit, load, parse_args

DESCRIPTION = (
    "ns per one-way switch between two greenlets ping-ponging, one of them sitting 5 "
    "(`depth5`) or 2,000 (`depth2000`) Python frames deep; `depth_cost` = depth2000 / "
    "depth5 in the same process (×)."
)
IMPLS = {"corolib": "corolib.greenlet", "greenlet": "greenlet"}
TARGETS = {"depth_cost": [(None, "<=", 1.5)]}
ABSOLUTE = ("depth_cost",)
DEPTHS = {"depth5": 5, "depth2000": 2000}
CASES = (*DEPTHS, "depth_cost")
UNROLL = 10


def at_depth(depth: int, fn):  # type: ignore[no-untyped-def]
    """Call fn() under `depth` more Python frames."""
    if depth == 0:
        return fn()
    return at_depth(depth - 1, fn)


def ping_pong_ns(api: ModuleType, rounds: int, depth: int) -> int:
    """Nanoseconds taken by rounds * UNROLL round trips, A at `depth`, B shallow."""
    clock = time.perf_counter_ns

    def ping() -> int:
        to_b = b.switch
        to_b()  # starts B, which switches back: not timed
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
    b = api.greenlet(pong)
    elapsed: int = a.switch()
    b.throw()  # GreenletExit ends B's loop
    return elapsed


def main() -> None:
    args = parse_args(IMPLS)
    api = load(IMPLS, args.impl)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    rounds, samples = (2_000, 3) if args.quick else (5_000, 5)
    slices = 10  # each sample alternates the depths ten times: drift falls on both alike
    switches = rounds * UNROLL * 2
    per_case: dict[str, list[float]] = {case: [] for case in DEPTHS}
    for depth in DEPTHS.values():
        ping_pong_ns(api, rounds, depth)  # warm-up
    for _ in range(samples):
        total = dict.fromkeys(DEPTHS, 0)
        for _ in range(slices):
            for case, depth in DEPTHS.items():
                total[case] += ping_pong_ns(api, rounds // slices, depth)
        for case in DEPTHS:
            per_case[case].append(total[case] / switches)
    for case, depth in DEPTHS.items():
        emit(
            "switch_depth",
            case,
            args.impl,
            IMPLS[args.impl],
            per_case[case],
            "ns",
            switches=switches,
            depth=depth,
        )
    cost = [
        deep / shallow
        for shallow, deep in zip(per_case["depth5"], per_case["depth2000"], strict=True)
    ]
    emit("switch_depth", "depth_cost", args.impl, IMPLS[args.impl], cost, "x")


if __name__ == "__main__":
    main()
