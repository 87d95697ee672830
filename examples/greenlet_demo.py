"""corolib's greenlet core in action.

1. The classic ping-pong from the greenlet documentation: two greenlets
   hand control back and forth and print 12, 56, 34.
2. A million greenlets: each starts, suspends itself half-way, and waits.
   We count them, show the memory they take, then resume each one so it
   finishes, and show how long every step took.
"""

import os
import sys
import time

from corolib.greenlet import getcurrent, greenlet


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def ping_pong() -> None:
    print("-- ping-pong between two greenlets")

    def test1():
        print(12)
        gr2.switch()
        print(34)

    def test2():
        print(56)
        gr1.switch()
        print(78)  # never printed: nobody switches back to gr2

    gr1 = greenlet(test1)
    gr2 = greenlet(test2)
    gr1.switch()


def a_million(n: int) -> None:
    print(f"-- {n:,} greenlets")
    main = getcurrent()
    finished = 0

    def task(i: int) -> None:
        nonlocal finished
        main.switch()  # suspend half-way; resumed below
        finished += 1

    before = rss_bytes()
    t0 = time.perf_counter()
    tasks = [greenlet(task) for _ in range(n)]
    for i, g in enumerate(tasks):
        g.switch(i)
    t1 = time.perf_counter()
    suspended = sum(1 for g in tasks if g)  # bool(g): started and not dead
    used = rss_bytes() - before
    print(
        f"started and suspended: {suspended:,} in {t1 - t0:.2f} s "
        f"({(t1 - t0) / n * 1e9:.0f} ns each)"
    )
    print(f"memory: {used / 2**20:.0f} MiB, {used / n:.0f} bytes per suspended greenlet")
    t2 = time.perf_counter()
    for g in tasks:
        g.switch()
    t3 = time.perf_counter()
    print(
        f"resumed to completion: {finished:,} in {t3 - t2:.2f} s "
        f"({(t3 - t2) / n * 1e9:.0f} ns each); dead: {sum(1 for g in tasks if g.dead):,}"
    )
    assert finished == n


if __name__ == "__main__":
    ping_pong()
    a_million(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
