"""Users' code type-checks: ``mypy --strict`` on typing_checks.py, for 3.10-3.13.

mypy checks against the installed corolib (its py.typed and ``_core.pyi``),
with ``--python-version`` set to each supported version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _mypy() -> list[str]:
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.skip("mypy not installed (make compat-deps)")
    return [sys.executable, "-m", "mypy"]


@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13"])
def test_mypy_strict_accepts_the_typed_api(version, tmp_path):
    checks = tmp_path / "typing_checks.py"
    shutil.copy(os.path.join(HERE, "typing_checks.py"), checks)
    result = subprocess.run(
        [
            *_mypy(),
            "--strict",
            "--no-incremental",
            "--python-version",
            version,
            "--cache-dir",
            os.devnull,
            str(checks),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
