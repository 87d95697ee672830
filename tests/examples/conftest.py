"""Smoke tests of the example programs: each runs as a user would run it.

The examples are run from the repository's examples/ directory with the
interpreter running the tests (so with the installed corolib), in a fresh
process each, and must exit 0 and print what they promise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def __repr__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def example_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONFAULTHANDLER"] = "1"
    return env


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
