"""Fixtures for the server tests.

Every test is also a leak test (``hub_clean`` from tests/_support/plugin.py,
with ``fd_leak_check``, as in tests/net): the process's open fds must be the
same after it as before, nothing may be left parked, queued or timed in the
hub, and the hub must watch no fd.  Servers bind 127.0.0.1 only.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def fd_leak_check() -> bool:
    """``hub_clean`` (tests/_support/plugin.py) also checks that no fd leaked."""
    return True
