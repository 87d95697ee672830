"""Fixtures for the server tests.

Every test is also a leak test (as in tests/net): the process's open fds
must be the same after it as before, no greenlet may be left parked in the
hub, and the hub must watch no fd.  Servers bind 127.0.0.1 only.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

import pytest

import corolib


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


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
