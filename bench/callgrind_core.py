"""Instructions per greenlet switch, create and parked task, under callgrind.

    cd /tmp && PYTHONHASHSEED=0 python <repo>/bench/callgrind_core.py [--python PY]

Not part of the suite (needs valgrind; ~1 minute).  Runs each operation N times in a
process under ``valgrind --tool=callgrind`` and once with N = 0, and prints
(instructions - instructions with N = 0) / N: a switch round trip between two
greenlets, a greenlet's create + first switch + finish, and a task spawned, parked on a
corolib.sync.Event, woken and joined.  Deterministic (with a fixed hash seed) where
bm_switch's and bm_create's times are not on a loaded machine: the way to compare two
builds of the core (issue 19 used it against main's).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

OPS = {"switch": 200_000, "create": 50_000, "park": 20_000}


def run(op: str, n: int) -> None:
    """The measured process: `op` n times."""
    import corolib
    import corolib.sync
    from corolib.greenlet import getcurrent, greenlet

    if op == "switch":
        main = getcurrent()

        def body() -> None:
            while True:
                main.switch()

        g = greenlet(body)
        for _ in range(n):
            g.switch()
    elif op == "create":
        for _ in range(n):
            greenlet(lambda: None).switch()
    else:
        ev = corolib.sync.Event()
        tasks = [corolib.spawn(ev.wait) for _ in range(n)]
        corolib.sleep(0)
        ev.set()
        corolib.joinall(tasks)


def instructions(python: str, op: str, n: int) -> int:
    """Instructions callgrind counts for `op` n times (the whole process)."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         python, __file__, "--run", op, str(n)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise RuntimeError(proc.stderr)
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure")
    parser.add_argument("--run", nargs=2, metavar=("OP", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run(args.run[0], int(args.run[1]))
        return
    for op, n in OPS.items():
        per = (instructions(args.python, op, n) - instructions(args.python, op, 0)) / n
        print(f"{op:<8} {per:>9,.0f} instructions")


if __name__ == "__main__":
    main()
