"""User and kernel CPU time per message of bm_asyncio's servers, on each asyncio loop.

    python bench/cpu_split_asyncio.py [--rounds 3] [--seconds 3]

Not part of the suite: runs bm_asyncio's echo and HTTP servers (same code, same
load generators, same pinning) on corolib.asyncio, the default loop and uvloop,
rounds interleaved, and prints for each the server's user and system CPU time per
message (``/proc/PID/stat`` utime and stime, in clock ticks, over the whole load
run), medians over the rounds with their spread.  The system part is the kernel's
work for the socket syscalls and epoll: what no event loop can take away while it
makes one send and one recv per message.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import bm_asyncio
import bm_net

IMPLS = ("corolib", "asyncio", "uvloop")
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


def user_sys_ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) of a process so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def one(impl: str, kind: str, seconds: float) -> tuple[float, float]:
    """(user us, system us) per message of one load run."""
    proc, port = bm_asyncio.start_server(impl, kind)
    try:
        load_once = bm_net.LOADS[kind]
        time.sleep(0.05)
        load_once(port, 0.5)
        u0, s0 = user_sys_ticks(proc.pid)
        _, _, messages = load_once(port, seconds)
        u1, s1 = user_sys_ticks(proc.pid)
        n = max(1, messages)
        return (u1 - u0) * TICK_US / n, (s1 - s0) * TICK_US / n
    finally:
        bm_net.stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for kind in ("echo", "http"):
            for impl in IMPLS:
                results.setdefault((kind, impl), []).append(one(impl, kind, args.seconds))
    for (kind, impl), samples in results.items():
        users = [u for u, _ in samples]
        syss = [s for _, s in samples]
        print(
            f"{kind:<5} {impl:<8} user {statistics.median(users):5.2f} us "
            f"({min(users):.2f}-{max(users):.2f})  system {statistics.median(syss):5.2f} us "
            f"({min(syss):.2f}-{max(syss):.2f})",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
