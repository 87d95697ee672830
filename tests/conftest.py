"""Helpers shared by every test directory.

Kept small and general on purpose:

- ``leakcheck``: a fixture returning ``check(fn, ...)``, which runs ``fn``
  repeatedly and fails if the interpreter's allocated blocks, the number of
  GC-tracked objects or the process RSS keep growing.
- ``run_python``: a fixture returning ``run(source, ...)``, which runs a
  script with the interpreter running the tests (so the *installed* package
  is used), in a temporary directory, and returns a ``ScriptResult``
  whose ``expect()`` checks the exit status, stdout and stderr.
- ``scaled``: a fixture returning ``scaled(n)``: ``n`` times the
  ``COROLIB_TEST_SCALE`` environment variable (default 1; sanitizer and
  valgrind runs set it lower), at least 1.  For loop counts of long tests.
- ``rss``: a fixture returning ``rss_kib``, the resident set size of
  this process in KiB.

Nothing here imports corolib: other directories share this file.
"""

from __future__ import annotations

import gc
import os
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


def rss_kib() -> int:
    """Resident set size of this process in KiB (Linux /proc); 0 under ASan."""
    if UNDER_ASAN:
        return 0
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


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


TEST_SCALE = float(os.environ.get("COROLIB_TEST_SCALE", "1"))


def scaled_count(n: int) -> int:
    return max(1, int(n * TEST_SCALE))


@pytest.fixture
def scaled() -> Callable[[int], int]:
    """``scaled(n)``: a loop count scaled by COROLIB_TEST_SCALE."""
    return scaled_count


@pytest.fixture
def rss() -> Callable[[], int]:
    """``rss()``: this process's resident set size in KiB."""
    return rss_kib


@pytest.fixture
def leakcheck() -> Callable[..., LeakReport]:
    """``leakcheck(fn, calls=100, ...)``: see :func:`check_leaks`."""
    return check_leaks


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


@pytest.fixture
def run_python(tmp_path) -> Callable[..., ScriptResult]:
    """``run_python(source, timeout=60, env=None, args=())`` -> ScriptResult."""

    def run(source: str, **kwargs) -> ScriptResult:
        return run_script(source, cwd=tmp_path, **kwargs)

    return run
