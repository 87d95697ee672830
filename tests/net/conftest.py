"""Fixtures for the networking tests.

``world`` runs a test twice: once with corolib's modules and greenlets, once
with the stdlib's modules and OS threads (see ``netutil.World``).

Every test is also a leak test (``hub_clean`` from tests/_support/plugin.py,
with ``fd_leak_check``): the process's open fds must be the same after it as
before, nothing may be left parked, queued or timed in the hub, and the hub
must not be watching any fd (a watcher left behind would be a stale watcher
waiting for the next file to get that fd number).  Tests marked ``slow`` run
with ``-m slow``.
"""

from __future__ import annotations

import pytest
from netutil import World


@pytest.fixture(params=["corolib", "threads"])
def world(request: pytest.FixtureRequest) -> World:
    return World(request.param)


@pytest.fixture
def co() -> World:
    return World("corolib")


# ---- leak checks ------------------------------------------------------------------


@pytest.fixture
def fd_leak_check() -> bool:
    """``hub_clean`` (tests/_support/plugin.py) also checks that no fd leaked."""
    return True
