"""Leak measurement and fresh-interpreter scripts; imports no corolib.

- :func:`check_leaks` runs a function repeatedly and fails if the
  interpreter's allocated blocks, the number of GC-tracked objects or the
  process RSS keep growing.
- :func:`run_script` runs a script with the interpreter running the tests
  (so the *installed* package is used), in a given directory, and returns a
  :class:`ScriptResult` whose ``expect()`` checks exit status and output.
- :func:`open_fds`, :func:`describe_fds`, :func:`rss_kib`,
  :func:`raise_nofile`, :func:`scaled_count`.
"""

from __future__ import annotations

import gc
import os
import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import pytest

#: Under AddressSanitizer (make sanitize) freed memory sits in its
#: quarantine, so resident memory grows by design; RSS checks are disabled
#: there and the refcount/object-count checks carry the leak tests.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")

#: COROLIB_TEST_SCALE (default 1; sanitizer and valgrind runs set it lower).
TEST_SCALE = float(os.environ.get("COROLIB_TEST_SCALE", "1"))


def scaled_count(n: int) -> int:
    """``n`` times COROLIB_TEST_SCALE, at least 1: loop counts of long tests."""
    return max(1, int(n * TEST_SCALE))


def rss_kib() -> int:
    """Resident set size of this process in KiB (Linux /proc); 0 under ASan."""
    if UNDER_ASAN:
        return 0
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def open_fds() -> set[str]:
    """The fd numbers open in this process."""
    return set(os.listdir("/proc/self/fd"))


def describe_fds(fds: set[str]) -> str:
    """``fd -> target`` for each fd (what a leaked fd was)."""
    described = []
    for fd in sorted(fds, key=int):
        try:
            described.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            described.append(fd)
    return ", ".join(described)


def raise_nofile(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (capped by the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _snapshot() -> tuple[int, int]:
    gc.collect()
    gc.collect()
    return sys.getallocatedblocks(), len(gc.get_objects())


@dataclass
class LeakReport:
    blocks: int
    objects: int
    rss_kib: int

    def __str__(self) -> str:
        return (
            f"growth: {self.blocks} allocated blocks, {self.objects} GC objects, "
            f"{self.rss_kib} KiB RSS"
        )


def check_leaks(
    fn: Callable[[], object],
    *,
    calls: int = 100,
    warmup: int = 2,
    attempts: int = 3,
    max_blocks: int | None = None,
    max_objects: int | None = None,
    max_rss_kib: int | None = None,
) -> LeakReport:
    """Run ``fn`` ``calls`` times per measurement and fail on growth.

    A leak of one block per call grows the count by ``calls`` per attempt,
    far above the default allowance (``calls // 4``); caches warming up
    grow it once.  Each attempt is measured on its own, and the check
    passes as soon as one attempt stays within every limit, so one-off
    noise (an interned string, a free-list refill) does not fail it while a
    per-call leak fails every attempt.
    """
    if max_blocks is None:
        max_blocks = max(10, calls // 4)
    if max_objects is None:
        max_objects = max(5, calls // 10)
    for _ in range(warmup):
        for _ in range(calls):
            fn()
    last: LeakReport | None = None
    for _ in range(attempts):
        blocks0, objects0 = _snapshot()
        rss0 = rss_kib()
        for _ in range(calls):
            fn()
        blocks1, objects1 = _snapshot()
        last = LeakReport(blocks1 - blocks0, objects1 - objects0, rss_kib() - rss0)
        if (
            last.blocks <= max_blocks
            and last.objects <= max_objects
            and (max_rss_kib is None or last.rss_kib <= max_rss_kib)
        ):
            return last
    pytest.fail(f"{fn!r} leaks: {last} over {calls} calls")


@dataclass
class ScriptResult:
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"exit status {self.returncode}\n--- stdout ---\n{self.stdout}"
            f"--- stderr ---\n{self.stderr}"
        )

    def expect(
        self,
        returncode: int = 0,
        *,
        stdout: str | None = None,
        stderr_contains: tuple[str, ...] = (),
        stderr_clean: bool = True,
    ) -> None:
        """Fail unless the script ended as described.

        ``stderr_clean`` (the default unless ``stderr_contains`` is given)
        means nothing at all was written to stderr.
        """
        problems = []
        if self.returncode != returncode:
            problems.append(f"exit status {self.returncode}, expected {returncode}")
        if stdout is not None and self.stdout != stdout:
            problems.append(f"stdout {self.stdout!r}, expected {stdout!r}")
        for text in stderr_contains:
            if text not in self.stderr:
                problems.append(f"stderr lacks {text!r}")
        if stderr_clean and not stderr_contains and self.stderr:
            problems.append("stderr is not empty")
        if problems:
            pytest.fail("; ".join(problems) + "\n" + self.describe(), pytrace=False)


def run_script(
    source: str,
    *,
    cwd: str | os.PathLike[str],
    timeout: float = 60,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> ScriptResult:
    """Run ``source`` (dedented) as a script with this interpreter.

    The script is written to ``cwd`` and run from there, so the package
    under test is the installed one, never the source tree.
    """
    path = os.path.join(os.fspath(cwd), "script_under_test.py")
    with open(path, "w") as f:
        f.write(textwrap.dedent(source))
    full_env = dict(os.environ)
    full_env.pop("PYTHONPATH", None)
    full_env["PYTHONFAULTHANDLER"] = "1"
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, *args, path],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return ScriptResult(proc.returncode, proc.stdout, proc.stderr)
