"""Fixtures for the gevent-compatibility tests (issue: gevent code moves over unchanged).

Each test here is a gevent idiom or a gevent semantic, run against corolib.
Tests that patch run their case in a fresh interpreter (``run_python``).
"""

import pytest

import corolib


@pytest.fixture(autouse=True)
def hub_left_clean():
    """Fail a test that leaves greenlets parked or callbacks queued in the hub."""
    hub = corolib.get_hub()
    yield hub
    corolib.sleep(0)
    corolib.sleep(0)
    stats = hub.statistics()
    assert stats["parked"] == 0, hub.describe_parked()
    assert stats["ready"] == 0, stats
