"""Interleaved A/B runs of one benchmark script under two environments.

For changes whose cost is below the noise of a shared machine (the monitor
thread, a configuration setting): the same script runs alternately under
environment A and B, ``--runs`` times each, and the report gives, per case,
each side's median and range and the median (and quartiles) of the paired
ratios B/A -- run i of B against run i of A, so drifts in machine load
cancel.  Example (the monitor thread's cost on the hub benchmarks)::

    python bench/ab_env.py --runs 15 \\
        --a off=.venv/bin/python,COROLIB_MONITOR_THREAD=0 \\
        --b on=.venv/bin/python,COROLIB_MONITOR_THREAD=1 \\
        -- bench/bm_sleep0.py --impl corolib

A side is ``LABEL=PYTHON[,VAR=VALUE...]``.  The script must print the JSON
lines of bench/_common.py's ``emit``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys


def parse_side(spec: str) -> tuple[str, str, dict[str, str]]:
    """``LABEL=PYTHON[,VAR=VALUE...]`` -> (label, python, environment)."""
    label, _, rest = spec.partition("=")
    python, *assignments = rest.split(",")
    if os.sep in python:
        python = os.path.abspath(python)  # the script runs from its own directory
    env = dict(os.environ)
    for item in assignments:
        name, _, value = item.partition("=")
        env[name] = value
    return label, python, env


def main() -> int:
    """Run the A/B comparison and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--a", required=True, help="LABEL=PYTHON[,VAR=VALUE...]")
    parser.add_argument("--b", required=True, help="LABEL=PYTHON[,VAR=VALUE...]")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- script.py [args]")
    args = parser.parse_args()
    command = [c for c in args.command if c != "--"]
    if not command:
        parser.error("no benchmark script given")
    script = os.path.abspath(command[0])
    sides = [parse_side(args.a), parse_side(args.b)]
    values: dict[str, dict[str, list[float]]] = {}
    for i in range(args.runs):
        for label, python, env in sides if i % 2 == 0 else sides[::-1]:
            proc = subprocess.run(
                [python, script, *command[1:]],
                env=env,
                capture_output=True,
                text=True,
                cwd=os.path.dirname(script),
                timeout=600,
            )
            if proc.returncode:
                sys.stderr.write(proc.stderr)
                return 1
            for line in proc.stdout.splitlines():
                record = json.loads(line)
                values.setdefault(record["case"], {}).setdefault(label, []).append(
                    float(record["value"])
                )
    (la, _, _), (lb, _, _) = sides
    for case, by in values.items():
        for label in (la, lb):
            v = by[label]
            print(
                f"{case:24s} {label:6s} median {statistics.median(v):12.2f}"
                f"  range {min(v):.2f}..{max(v):.2f}  n={len(v)}"
            )
        ratios = [b / a for a, b in zip(by[la], by[lb], strict=True) if a]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (0, 0, 0)
        print(
            f"{case:24s} {lb}/{la} paired: median {statistics.median(ratios):.3f}"
            f"  quartiles {q1:.3f}..{q3:.3f}  range {min(ratios):.3f}..{max(ratios):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
