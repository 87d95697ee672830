"""Fixtures for the networking tests.

``world`` runs a test twice: once with corolib's modules and greenlets, once
with the stdlib's modules and OS threads (see ``netutil.World``).

Every test is also a leak test: the process's open fds must be the same
after it as before, no greenlet may be left parked in the hub, and the hub
must not be watching any fd (a watcher left behind would be a stale watcher
waiting for the next file to get that fd number).
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

import pytest
from netutil import World, open_fds

import corolib


@pytest.fixture(params=["corolib", "threads"])
def world(request: pytest.FixtureRequest) -> World:
    return World(request.param)


@pytest.fixture
def co() -> World:
    return World("corolib")


# ---- leak checks ------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _hub_first() -> None:
    # The hub's own fds (epoll, eventfd, signal pipe) exist before any test.
    corolib.get_hub()


@pytest.fixture(autouse=True)
def no_leaks() -> Any:
    gc.collect()
    before = open_fds()
    yield
    hub = corolib.get_hub()
    # Let finished greenlets and callbacks settle, then look.
    for _ in range(3):
        corolib.sleep(0)
    gc.collect()
    stats = hub.statistics()
    assert stats["parked"] == 0, hub.describe_parked()
    assert stats["fds"] == 0, "the hub still watches fds after the test (stale watchers)"
    leaked = open_fds() - before
    # A thread-world test may still be tearing down a daemon thread's socket.
    deadline = time.monotonic() + 2
    while leaked and time.monotonic() < deadline:
        time.sleep(0.01)
        gc.collect()
        leaked = open_fds() - before
    assert not leaked, f"fds leaked: {sorted(leaked, key=int)}"


# ---- slow tests -----------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked slow unless asked for (``-m slow`` or COROLIB_SLOW=1)."""
    if os.environ.get("COROLIB_SLOW") == "1" or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or COROLIB_SLOW=1")
    here = os.path.dirname(__file__)
    for item in items:
        if "slow" in item.keywords and str(item.fspath).startswith(here):
            item.add_marker(skip)
