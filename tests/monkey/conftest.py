"""Every test here runs its case in a fresh interpreter (``run_python`` / ``patched``).

Patching is process-wide and cannot be undone, so a case is a small script
that patches first and prints what it checks; the test compares.  The
scripts run with the interpreter running the tests, on the installed
corolib, from a temporary directory.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

PRELUDE = """\
import faulthandler, sys
faulthandler.dump_traceback_later(50, exit=True)
from corolib import monkey
monkey.patch_all()
"""


@pytest.fixture
def patched(run_python) -> Callable[..., object]:
    """``patched(source, **kw)``: run ``source`` after ``patch_all()`` in a fresh interpreter."""

    def run(source: str, **kwargs: object) -> object:
        return run_python(PRELUDE + textwrap.dedent(source), **kwargs)

    return run
