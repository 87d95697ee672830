"""tests/_support/plugin.py itself: its checks fail what they should, its switch skips.

A small test directory using the plugin runs in a fresh pytest process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
pytest_plugins = ["_support.plugin"]

def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long")
"""

CASES = """
import os
import pytest
import corolib

def test_leaves_a_parked_greenlet():
    corolib.spawn(corolib.sleep, 100)
    corolib.sleep(0)

def test_leaves_a_deadline():
    corolib.get_hub().call_later(100, print)

def test_clean():
    corolib.spawn(corolib.sleep, 0).join()

def test_old_names_still_work(no_leaks, clean_hub, hub_left_clean):
    assert hub_left_clean is corolib.get_hub()

def test_no_hub_no_check():
    pass

@pytest.mark.slow
def test_slow():
    pass
"""

FD_CONFTEST = """
import pytest

@pytest.fixture
def fd_leak_check():
    return True
"""

FD_CASES = """
import os

KEEP = []

def test_leaks_an_fd():
    KEEP.append(os.pipe())

def test_closes_its_fds():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
"""


def run_pytest(tmp_path: Path, *args: str) -> str:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_cases.py").write_text(textwrap.dedent(CASES))
    (tmp_path / "fds").mkdir(exist_ok=True)
    (tmp_path / "fds" / "conftest.py").write_text(textwrap.dedent(FD_CONFTEST))
    (tmp_path / "fds" / "test_fd_cases.py").write_text(textwrap.dedent(FD_CASES))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.stdout + proc.stderr


def test_checks_and_default_skip(tmp_path: Path) -> None:
    out = run_pytest(tmp_path)
    assert "ERROR test_cases.py::test_leaves_a_parked_greenlet" in out, out
    assert "the test left the hub dirty: {'parked': 1, 'timers': 1}" in out, out
    assert "ERROR test_cases.py::test_leaves_a_deadline" in out, out
    assert "PASSED test_cases.py::test_clean" in out, out
    assert "PASSED test_cases.py::test_old_names_still_work" in out, out
    assert "PASSED test_cases.py::test_no_hub_no_check" in out, out
    assert "SKIPPED [1] test_cases.py:" in out and "slow: run with -m slow" in out, out
    assert "ERROR fds/test_fd_cases.py::test_leaks_an_fd" in out, out
    assert "fds leaked: " in out, out
    assert "PASSED fds/test_fd_cases.py::test_closes_its_fds" in out, out


def test_minus_m_slow_runs_the_slow_ones(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, "-m", "slow")
    assert "PASSED test_cases.py::test_slow" in out, out
    assert "1 passed" in out, out
