"""CPU nanoseconds per greenlet resume, all threads counted: the monitor thread's cost.

100 greenlets ping through the hub with ``sleep(0)`` for ``SECONDS`` (argument,
default 2); prints the process's CPU time (every thread: the hub's and, when
``COROLIB_MONITOR_THREAD=1``, the monitor's) divided by the greenlets the hub
resumed.  CPU time rather than elapsed time, so that other processes on a
shared machine add little noise.  Compare with and without the monitor, e.g.::

    for i in $(seq 15); do for v in 0 1; do
        echo "$v $(COROLIB_MONITOR_THREAD=$v .venv/bin/python bench/monitor_cost.py 2)"
    done; done

Linux only (per-thread CPU from /proc/self/task).
"""

from __future__ import annotations

import os
import sys

import corolib


def process_cpu() -> float:
    """CPU seconds used by every thread of this process so far."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    """Measure and print ns of CPU per resume."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0

    def worker() -> None:
        while True:
            corolib.sleep(0)

    workers = [corolib.spawn(worker) for _ in range(100)]
    hub = corolib.get_hub()
    corolib.sleep(0.2)  # warm up
    cpu0, resumed0 = process_cpu(), hub.statistics()["switches"]
    corolib.sleep(seconds)
    cpu1, resumed1 = process_cpu(), hub.statistics()["switches"]
    print(f"{(cpu1 - cpu0) / (resumed1 - resumed0) * 1e9:.1f}")
    corolib.killall(workers)


if __name__ == "__main__":
    main()
