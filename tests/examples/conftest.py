"""Smoke tests of the example programs: each runs as a user would run it.

The examples are run from the repository's examples/ directory with the
interpreter running the tests (so with the installed corolib), in a fresh
process each, and must exit 0 and print what they promise.  Tests that run
an example's classes in this process (test_example_chat.py) must leave the
hub empty and no fd open (``hub_clean`` with ``fd_leak_check``, from
tests/_support/plugin.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from exampleutil import EXAMPLES, example_env


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


@pytest.fixture
def fd_leak_check() -> bool:
    """``hub_clean`` (tests/_support/plugin.py) also checks that no fd leaked."""
    return True
