"""Run CPython's own test modules under ``corolib.monkey.patch_all()``, one process each.

    python tests/stdlib/runner.py --python .venv/bin/python [--jobs 2] [--timeout 300]
                                  [--logs DIR] [--verbose] [test_module ...]

``--python`` is an interpreter with corolib installed (its ``test`` package
provides the modules).  Each module runs in a fresh interpreter
(``harness.py``) with a per-module timeout: a module that hangs is killed
(its whole process group) and reported, never left hanging.  Modules run in
``--jobs`` parallel workers, the slowest first.  Prints one line per module
(passed / skipped, of which by the skip list / failed, seconds) and exits
non-zero if any module failed, crashed or timed out.  Each module's full
output is kept in ``--logs`` (default: a directory under the system temp
dir named after the Python version).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "harness.py")
MARKER = "##corolib-stdlib##"

#: The modules of issue 6, slowest first (better packing on few workers).
MODULES = [
    "test_socket",
    "test_subprocess",
    "test_threading",
    "test_ssl",
    "test_httpservers",
    "test_socketserver",
    "test_thread",
    "test_selectors",
    "test_queue",
    "test_urllib2_localnet",
    "test_httplib",
    "test_ftplib",
    "test_poplib",
    "test_wsgiref",
    "test_select",
    "test_timeout",
]

#: ``--asyncio``: test_asyncio's modules against corolib's EventLoop, slowest first.
ASYNCIO_MODULES = [
    "test_tasks",
    "test_ssl",
    "test_subprocess",
    "test_events",
    "test_futures",
    "test_taskgroups",
    "test_sslproto",
    "test_sock_lowlevel",
    "test_sendfile",
    "test_base_events",
    "test_streams",
    "test_unix_events",
    "test_locks",
    "test_timeouts",
    "test_queues",
    "test_runners",
    "test_server",
]


@dataclass
class Outcome:
    """How one module ended."""

    module: str
    status: str = "ok"  # ok, failed, crashed, timeout, missing
    summary: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0
    log: str = ""
    tail: str = ""

    def line(self) -> str:
        s = self.summary
        if not s:
            status = self.status.upper()
            return f"{self.module:<24} {status:<8} ({self.seconds:5.1f} s)  log: {self.log}"
        counts = (
            f"{s['passed']:>4} passed  {s['skipped']:>3} skipped "
            f"({s['corolib_skips']} by skip list)  {s['failed']:>3} failed"
        )
        note = "" if self.status == "ok" else f"  {self.status.upper()}"
        if "corolib_loops" in s:
            note += f"  [{s['corolib_loops']} corolib loops]"
        return f"{self.module:<24} {counts}  ({self.seconds:5.1f} s){note}"


def _python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _available(python: str, modules: list[str]) -> tuple[list[str], list[str]]:
    code = (
        "import importlib.util, sys\n"
        "for m in sys.argv[1:]:\n"
        "    print(m if importlib.util.find_spec('test.' + m) else '-' + m)\n"
    )
    out = subprocess.run(
        [python, "-c", code, *modules], capture_output=True, text=True, check=True
    ).stdout.split()
    return [m for m in out if not m.startswith("-")], [m[1:] for m in out if m.startswith("-")]


#: process groups of the modules running now (killed if the runner is)
_running: set[int] = set()


def _kill_running(signum: int, frame: object) -> None:
    for pgid in list(_running):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sys.exit(128 + signum)


def run_module(
    python: str, module: str, timeout: float, logdir: str, verbose: bool, asyncio: bool = False
) -> Outcome:
    """Run one module in its own process (group); kill it after ``timeout`` seconds."""
    log = os.path.join(logdir, f"{'asyncio-' if asyncio else ''}{module}.log")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONFAULTHANDLER"] = "1"
    env["COROLIB_STDLIB_DUMP_AFTER"] = str(max(timeout - 15, 5))
    cmd = [python, "-u", HARNESS, module] + (["--verbose"] if verbose else [])
    if asyncio:
        cmd.append("--asyncio")
    outcome = Outcome(module, log=log)
    started = time.monotonic()
    with open(log, "w") as out, tempfile.TemporaryDirectory(prefix="corolib-stdlib-") as cwd:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        _running.add(proc.pid)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            outcome.status = "timeout"
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        finally:
            _running.discard(proc.pid)
    outcome.seconds = time.monotonic() - started
    with open(log, errors="replace") as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith(MARKER):
            outcome.summary = json.loads(line[len(MARKER) :])
    if outcome.status == "timeout":
        if outcome.summary:
            outcome.status = "timeout"  # the tests ran, the exit hung
    elif not outcome.summary:
        outcome.status = "crashed"
    elif outcome.summary.get("failed") or proc.returncode not in (0, 1):
        outcome.status = "failed" if outcome.summary.get("failed") else "crashed"
    outcome.tail = "\n".join(text.splitlines()[-80:])
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--logs", default=None)
    parser.add_argument("--verbose", action="store_true", help="unittest verbosity 2 in the logs")
    parser.add_argument(
        "--asyncio",
        action="store_true",
        help="test_asyncio's modules against corolib.asyncio (no patch_all)",
    )
    parser.add_argument("modules", nargs="*")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _kill_running)
    signal.signal(signal.SIGINT, _kill_running)
    if os.sep in args.python:
        args.python = os.path.abspath(args.python)  # the modules run from a temp dir
    version = _python_version(args.python)
    wanted = args.modules or (ASYNCIO_MODULES if args.asyncio else MODULES)
    prefix = "test_asyncio." if args.asyncio else ""
    modules, missing = _available(args.python, [prefix + m for m in wanted])
    modules = [m[len(prefix) :] for m in modules]
    missing = [m[len(prefix) :] for m in missing]
    logdir = args.logs or os.path.join(tempfile.gettempdir(), f"corolib-stdlib-{version}")
    os.makedirs(logdir, exist_ok=True)
    print(
        f"corolib stdlib suite{' (test_asyncio on corolib.asyncio)' if args.asyncio else ''}: "
        f"CPython {version}, {len(modules)} modules, "
        f"{args.jobs} workers, {args.timeout:.0f} s per module; logs in {logdir}",
        flush=True,
    )
    for m in missing:
        print(f"{m:<24} not in this Python's test package, skipped")

    started = time.monotonic()
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(
                run_module, args.python, m, args.timeout, logdir, args.verbose, args.asyncio
            )
            for m in modules
        ]
        for future in futures:
            outcome = future.result()
            outcomes.append(outcome)
            print(outcome.line(), flush=True)

    bad = [o for o in outcomes if o.status != "ok"]
    for o in bad:
        print(f"\n==== {o.module}: {o.status.upper()} (log: {o.log})")
        for test_id in o.summary.get("failed_ids", []) or []:
            print(f"  failed: {test_id}")
        print(o.tail)
    total = {
        k: sum(int(o.summary.get(k, 0) or 0) for o in outcomes)
        for k in ("passed", "skipped", "corolib_skips", "failed")
    }
    print(
        f"\nCPython {version}: {total['passed']} passed, {total['skipped']} skipped "
        f"({total['corolib_skips']} by skip list), {total['failed']} failed, "
        f"{len(bad)} module(s) not ok, in {time.monotonic() - started:.0f} s"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
