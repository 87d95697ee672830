"""bm_blocked.py with 1,000,000 tasks, for corolib, gevent and uvloop only.

The other peers are left out to keep `make bench` within its time budget (gevent alone
needs about 8 GB and over a minute per process here, its wake cut off); see
bm_blocked.py for what is measured.  One repetition per Python, for the same reason.
Quick mode: 50,000 tasks.
"""

from __future__ import annotations

from bm_blocked import measure

DESCRIPTION = (
    "as `blocked`, with 1,000,000 tasks; run for corolib, gevent and uvloop only (the "
    "other peers would not fit the time budget), one repetition per Python."
)
IMPLS = {"corolib": "impl_corolib", "gevent": "impl_gevent", "uvloop": "impl_uvloop"}
REPS = {"quick": 1, "full": 1}
SIZE = "{count:,} tasks per process"
MAX_REPS = {"gevent": 1}  # over a minute and 8 GB per process, even with --reps
CASES = ("rss", "wake")
TARGETS = {"rss": ("gevent", 0.5), "wake": [(None, "<", 3.0)]}
COUNT, QUICK_COUNT = 1_000_000, 50_000


def main() -> None:
    measure("blocked_1m", IMPLS, COUNT, QUICK_COUNT)


if __name__ == "__main__":
    main()
