"""Shared fixtures for the synchronisation tests: each test leaves the hub as it found it."""

import os

import pytest

import corolib

#: Multiplies the large counts (sanitizer and valgrind runs set it below 1).
SCALE = float(os.environ.get("COROLIB_TEST_SCALE", "1"))


def _scaled(n: int) -> int:
    return max(1, int(n * SCALE))


@pytest.fixture
def scaled():
    """``scaled(n)``: n times COROLIB_TEST_SCALE, at least 1."""
    return _scaled


@pytest.fixture(autouse=True)
def hub_left_clean():
    """Fail a test that leaves greenlets parked or callbacks queued in the hub."""
    hub = corolib.get_hub()
    yield hub
    corolib.sleep(0)  # let links and rawlink callbacks run
    stats = hub.statistics()
    assert stats["parked"] == 0, hub.describe_parked()
    assert stats["ready"] == 0, stats
