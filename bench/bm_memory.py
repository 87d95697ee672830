"""Bytes per suspended greenlet: 100,000 greenlets, each started and parked at once.

`rss`: growth of the resident set (/proc/self/statm) while the greenlets are created,
divided by their count, measured with tracemalloc off.  This is what the machine pays:
greenlet objects, saved C stack slices, Python frames and data-stack chunks, however
they were allocated.

`traced`: the same count made again with tracemalloc on, counting only memory that went
through Python's allocators.  It misses memory obtained another way (greenlet's
data-stack chunks come from the arena allocator, which tracemalloc does not see), so
compare implementations on `rss`; `traced` says where the bytes come from.
"""

from __future__ import annotations

import gc
import tracemalloc
from types import ModuleType

from _common import emit, load, parse_args, rss_bytes

DESCRIPTION = (
    "bytes per suspended greenlet (started, parked with a shallow stack), "
    "over 100,000 greenlets: `rss` = resident-set growth with tracemalloc off; "
    "`traced` = bytes tracemalloc sees (Python allocators only: it misses greenlet's "
    "data-stack chunks, which come from the arena allocator, and sees corolib's, which "
    "come from PyMem_RawMalloc; compare on `rss`)."
)
IMPLS = {"corolib": "corolib.greenlet", "greenlet": "greenlet"}
CASES = ("rss", "traced")
TARGETS = {"rss": ("greenlet", 1.0)}
# Resident-set growth is deterministic here (7 repetitions gave one value, twice): 3
# are enough, and leave the full run's time to the hub benchmarks.
REPS = {"full": 3}
COUNT = 100_000


def park_many(api: ModuleType, count: int) -> list[object]:
    """Start `count` greenlets that each switch straight back to this one."""
    park = api.getcurrent().switch

    def body() -> None:
        park()

    greenlet = api.greenlet
    kept: list[object] = [None] * count
    for i in range(count):
        g = greenlet(body)
        g.switch()
        kept[i] = g
    return kept


def main() -> None:
    args = parse_args(IMPLS)
    api = load(IMPLS, args.impl)
    warm = park_many(api, 1_000)  # first-use allocations, kept so nothing is reused
    gc.collect()
    before = rss_bytes()
    parked = park_many(api, COUNT)
    rss = (rss_bytes() - before) / COUNT
    stack_saved = sum(getattr(g, "_stack_saved", 0) for g in parked) / COUNT
    module = IMPLS[args.impl]
    emit("memory", "rss", args.impl, module, [rss], "bytes", count=COUNT, stack_saved=stack_saved)

    del parked  # each is killed with GreenletExit
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    parked = park_many(api, COUNT)
    traced = (tracemalloc.get_traced_memory()[0] - before) / COUNT
    tracemalloc.stop()
    emit("memory", "traced", args.impl, module, [traced], "bytes", count=COUNT)
    del parked, warm


if __name__ == "__main__":
    main()
