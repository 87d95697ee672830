"""Helpers for the example smoke tests (a module of its own: ``conftest`` is ambiguous)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The examples import their shared helper (examples/graceful.py) as a sibling,
# as they do when run as scripts; tests that load an example in-process need it.
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


def example_env() -> dict[str, str]:
    """The environment an example runs in: ours, without PYTHONPATH, with faulthandler."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONFAULTHANDLER"] = "1"
    return env
