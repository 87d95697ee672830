"""What every bench/bm_*.py shares: the command line, loading an implementation, output.

A benchmark script measures one implementation per process and prints one JSON object
per measurement on stdout; bench/run.py adds the run's metadata (repetition, machine,
timestamps) and stores them.  Nothing here times anything: each benchmark times itself,
so that the timed region holds exactly the operations it claims to measure.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
from types import ModuleType


def parse_args(impls: dict[str, str], argv: list[str] | None = None) -> argparse.Namespace:
    """The command line every benchmark script accepts."""
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__)
    parser.add_argument("--impl", required=True, choices=list(impls), help="implementation")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter samples")
    return parser.parse_args(argv)


def load(impls: dict[str, str], impl: str) -> ModuleType:
    """Import the module that stands for `impl` in this benchmark (e.g. corolib.greenlet)."""
    return importlib.import_module(impls[impl])


def version_of(module_name: str) -> str:
    """The installed version of the distribution providing `module_name` (stdlib: Python's)."""
    top = module_name.partition(".")[0]
    dists = importlib.metadata.packages_distributions().get(top)
    if not dists:
        return platform.python_version()
    return importlib.metadata.version(dists[0])


def rss_bytes() -> int:
    """Resident set size of this process now, from /proc/self/statm (Linux)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def emit(
    benchmark: str,
    case: str,
    impl: str,
    module_name: str,
    samples: list[float],
    unit: str,
    better: str = "lower",
    **params: object,
) -> None:
    """Print one measurement: the median of this process's samples, with the samples."""
    record = {
        "benchmark": benchmark,
        "case": case,
        "impl": impl,
        "impl_version": version_of(module_name),
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "value": statistics.median(samples),
        "unit": unit,
        "better": better,
        "samples": [round(s, 3) for s in samples],
        "params": params,
    }
    print(json.dumps(record), flush=True)


def emit_censored(
    benchmark: str,
    case: str,
    impl: str,
    module_name: str,
    above: float,
    unit: str,
    note: str,
    better: str = "lower",
    **params: object,
) -> None:
    """Print a measurement that was cut off: its value is more than `above` (unit).

    For a peer too slow for the time budget; the report shows "> above" and `note`
    (e.g. how far it got), and computes no ratio from it.
    """
    record = {
        "benchmark": benchmark,
        "case": case,
        "impl": impl,
        "impl_version": version_of(module_name),
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "value": None,
        "censored": {"above": above, "note": note},
        "unit": unit,
        "better": better,
        "samples": [],
        "params": params,
    }
    print(json.dumps(record), flush=True)
