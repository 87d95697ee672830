"""Nanoseconds per greenlet create + first switch + finish.

Times `greenlet(fn).switch()` where fn returns at once, in the main greenlet, so each
operation allocates a greenlet, starts it on a fresh stack slice, runs fn, finishes
back into the parent, and frees the dead greenlet when its last reference goes.
"""

from __future__ import annotations

import time
from types import ModuleType

from _common import emit, load, parse_args

DESCRIPTION = (
    "ns per `greenlet(fn).switch()` where fn returns at once: create, start, finish "
    "and free one greenlet."
)
IMPLS = {"corolib": "corolib.greenlet", "greenlet": "greenlet"}
CASES = ("run_to_finish",)
TARGETS = {"run_to_finish": ("greenlet", 0.2)}


def noop() -> None:
    pass


def create_run_finish_ns(api: ModuleType, count: int) -> int:
    """Nanoseconds taken by `count` create + switch + finish operations."""
    greenlet = api.greenlet
    fn = noop
    t0 = time.perf_counter_ns()
    for _ in range(count):
        greenlet(fn).switch()
    return time.perf_counter_ns() - t0


def main() -> None:
    args = parse_args(IMPLS)
    api = load(IMPLS, args.impl)
    count, samples = (2_000, 3) if args.quick else (5_000, 5)
    create_run_finish_ns(api, count)  # warm-up
    ns = [create_run_finish_ns(api, count) / count for _ in range(samples)]
    emit("create", "run_to_finish", args.impl, IMPLS[args.impl], ns, "ns", count=count)


if __name__ == "__main__":
    main()
