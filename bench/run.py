"""Run the benchmark suite: every benchmark x implementation x Python, repeated, interleaved.

    python bench/run.py --python .venv-bench-3.11/bin/python --out bench/results/x.jsonl

Each (benchmark, implementation, repetition) runs in a fresh process of the given
interpreter.  Within a repetition the implementations run back to back in a shuffled
order, so slow drift on a shared machine lands on all of them alike.  Every measurement
becomes one JSON line in --out, written as soon as it exists (a stopped run keeps what
it measured).  Needs only the standard library; the interpreters given with --python
need the implementations installed (see bench/bench.mk).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
MODES = {"quick": 3, "full": 7}  # repetitions per mode
TIMEOUT_S = 300


@dataclass(frozen=True)
class Job:
    """One process to run: a benchmark on one implementation under one interpreter."""

    repetition: int
    order: int
    python: str
    benchmark: str
    impl: str


def discover(names: list[str] | None = None) -> dict[str, ModuleType]:
    """The benchmark modules bench/bm_<name>.py, by name (all, or those named)."""
    found = sorted(p.stem[3:] for p in BENCH_DIR.glob("bm_*.py"))
    unknown = set(names or ()) - set(found)
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; have {found}")
    return {n: importlib.import_module(f"bm_{n}") for n in found if not names or n in names}


def schedule(
    reps: int,
    pythons: list[str],
    impls: dict[str, list[str]],
    seed: int,
    limits: dict[str, dict[str, int]] | None = None,
) -> list[Job]:
    """All jobs in run order: repetition, then Python, then benchmark, impls shuffled.

    `limits` caps the repetitions of some (benchmark, implementation) pairs:
    {benchmark: {impl or "*": reps}}; the others get `reps`, which is also the most
    anything gets.
    """
    rng = random.Random(seed)
    limits = limits or {}
    jobs = []
    for rep in range(reps):
        for python in pythons:
            for benchmark, names in impls.items():
                cap = limits.get(benchmark, {})
                order = [n for n in names if rep < cap.get(n, cap.get("*", reps))]
                rng.shuffle(order)
                jobs += [Job(rep, i, python, benchmark, impl) for i, impl in enumerate(order)]
    return jobs


def rep_limits(
    modules: dict[str, ModuleType], mode: str, forced: int | None = None
) -> tuple[int, dict[str, dict[str, int]]]:
    """(repetitions of the run, {benchmark: {impl or "*": reps}}) for `schedule`.

    A benchmark module may say REPS = {"quick": 1, "full": 3} (its repetitions per mode,
    instead of MODES') and MAX_REPS = {"gevent": 1} (never more than that for one
    implementation, because it is too slow for the time budget).  `forced` (--reps)
    replaces every REPS; MAX_REPS still holds.
    """
    limits = {}
    for name, mod in modules.items():
        reps = forced or getattr(mod, "REPS", {}).get(mode, MODES[mode])
        cap = {"*": reps}
        cap.update({impl: min(n, reps) for impl, n in getattr(mod, "MAX_REPS", {}).items()})
        limits[name] = cap
    run_reps = max((c["*"] for c in limits.values()), default=forced or MODES[mode])
    return run_reps, limits


def is_missing(record: dict[str, object]) -> bool:
    """A measurement that failed; a censored one ("more than X") is not missing."""
    return record.get("value") is None and not record.get("censored")


def parse_output(stdout: str) -> list[dict[str, object]]:
    """The measurements a benchmark process printed: one JSON object per non-blank line."""
    records = []
    for lineno, line in enumerate(stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {lineno} is not JSON ({exc}): {line[:200]!r}") from None
        if not isinstance(record, dict) or "value" not in record or "case" not in record:
            raise ValueError(f"line {lineno} is not a measurement: {line[:200]!r}")
        records.append(record)
    return records


def describe_exit(code: int) -> str:
    """'exit 1' or 'signal SIGSEGV' for a subprocess return code."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


def machine_info() -> dict[str, object]:
    """What the run's machine is: CPU, cores, memory, kernel."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
        with open("/proc/meminfo") as f:
            mem_kib = int(next(ln.split()[1] for ln in f if ln.startswith("MemTotal")))
    except (OSError, StopIteration):
        mem_kib = 0
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "mem_gib": round(mem_kib / 2**20, 1),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
    }


def source_revision() -> str:
    """The git commit of the tree being measured, with '+dirty' if it has changes."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True)
        return out.stdout.strip()

    rev = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return rev + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def python_version(python: str) -> str:
    """The version string of an interpreter, e.g. '3.11.7'."""
    code = "import platform; print(platform.python_version())"
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def run_job(job: Job, module: ModuleType, quick: bool) -> tuple[list[dict[str, object]], str]:
    """Run one job; its measurements (a failure record per missing case) and a status."""
    cmd = [job.python, str(BENCH_DIR / f"bm_{job.benchmark}.py"), "--impl", job.impl]
    cmd += ["--quick"] if quick else []
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        stdout, stderr = proc.stdout, proc.stderr
        status = "ok" if proc.returncode == 0 else describe_exit(proc.returncode)
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr, status = "", f"timeout after {TIMEOUT_S} s"
    try:
        records = parse_output(stdout)
    except ValueError as exc:
        records, status = [], f"{status}; bad output: {exc}"
    elapsed = round(time.monotonic() - start, 3)
    missing = [c for c in module.CASES if c not in {r["case"] for r in records}]
    records += [
        {
            "benchmark": job.benchmark,
            "case": case,
            "impl": job.impl,
            "value": None,
            "error": f"{status}: {stderr.strip()[-500:]}",
        }
        for case in missing
    ]
    for r in records:
        r.update(exit_status=status, process_s=elapsed)
    return records, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--python",
        action="append",
        required=True,
        help="interpreter to run the benchmarks with (repeatable)",
    )
    parser.add_argument("--out", required=True, type=Path, help="JSON-lines file to write")
    parser.add_argument("--quick", action="store_true", help="CI smoke mode, ~2 min")
    parser.add_argument(
        "--reps", type=int, help="repetitions (default: 3 quick, 7 full, or the benchmark's REPS)"
    )
    parser.add_argument("--bench", action="append", help="only this benchmark (repeatable)")
    parser.add_argument("--impl", action="append", help="only this implementation (repeatable)")
    parser.add_argument("--seed", type=int, default=None, help="shuffle seed (default: random)")
    args = parser.parse_args(argv)

    mode = "quick" if args.quick else "full"
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    modules = discover(args.bench)
    impls = {n: [i for i in m.IMPLS if not args.impl or i in args.impl] for n, m in modules.items()}
    reps, limits = rep_limits(modules, mode, args.reps)
    jobs = schedule(reps, args.python, impls, seed, limits)
    versions = {py: python_version(py) for py in args.python}
    started = dt.datetime.now(dt.timezone.utc)
    common = {
        "run_id": args.out.stem,  # make bench names it <UTC stamp>-full
        "started": started.isoformat(timespec="seconds"),
        "mode": mode,
        "seed": seed,
        "machine": machine_info(),
        "source": source_revision(),
        "command": os.environ.get("BENCH_COMMAND") or "",
        "runner": shlex.join(["python", "bench/run.py", *(argv or sys.argv[1:])]),
    }

    args.out.parent.mkdir(parents=True, exist_ok=True)
    problems = 0
    with args.out.open("w") as out:
        for n, job in enumerate(jobs, 1):
            load1 = os.getloadavg()[0]
            records, status = run_job(job, modules[job.benchmark], args.quick)
            stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            for r in records:
                r.setdefault("python", versions[job.python])
                r.update(
                    common,
                    repetition=job.repetition,
                    order=job.order,
                    timestamp=stamp,
                    loadavg_1m=load1,
                )
                out.write(json.dumps(r) + "\n")
            out.flush()
            failed = sum(is_missing(r) for r in records)
            problems += failed
            shown = ", ".join(
                f"{r['case']}={r['value']:.4g}"
                if r["value"] is not None
                else f"{r['case']}>{r['censored']['above']:.4g}"
                for r in records
                if not is_missing(r)
            )
            note = "" if status == "ok" else f"  [{status}]"
            print(
                f"[{n}/{len(jobs)}] rep {job.repetition} py{versions[job.python]} "
                f"{job.benchmark} {job.impl}: {shown or 'no result'}{note}",
                file=sys.stderr,
            )
    print(
        f"wrote {args.out} ({len(jobs)} processes, {problems} missing measurements)",
        file=sys.stderr,
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
