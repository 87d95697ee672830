"""Smoke tests of the example programs: each runs as a user would run it.

The examples are run from the repository's examples/ directory with the
interpreter running the tests (so with the installed corolib), in a fresh
process each, and must exit 0 and print what they promise.  Tests that run
an example's classes in this process (test_chat.py) must leave no greenlet
parked, no fd watched and no fd open, as in tests/server.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from exampleutil import EXAMPLES, example_env

import corolib


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def __repr__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


@pytest.fixture
def run_example(tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(name: str, *args: str, timeout: float = 120, stdin: str | None = None) -> Run:
        proc = subprocess.run(
            [sys.executable, str(EXAMPLES / name), *args],
            cwd=tmp_path,
            env=example_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Run(proc)

    return run


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_leaks() -> Any:
    corolib.get_hub()
    gc.collect()
    before = open_fds()
    yield
    hub = corolib.get_hub()
    for _ in range(3):
        corolib.sleep(0)
    gc.collect()
    stats = hub.statistics()
    assert stats["parked"] == 0, hub.describe_parked()
    assert stats["fds"] == 0, "the hub still watches fds after the test (stale watchers)"
    leaked = open_fds() - before
    deadline = time.monotonic() + 2
    while leaked and time.monotonic() < deadline:
        time.sleep(0.01)
        gc.collect()
        leaked = open_fds() - before
    assert not leaked, f"fds leaked: {sorted(leaked, key=int)}"
