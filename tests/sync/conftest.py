"""Shared fixtures for the synchronisation tests.

Every test must leave the hub as it found it: nothing parked, nothing
queued.  Tests marked ``slow`` (million-cycle leak runs, about a minute
and a half) only run when asked for, with ``-m slow`` or
``COROLIB_SLOW_TESTS=1``, so that the default run of this directory stays
within about 20 seconds.  ``scaled`` comes from tests/conftest.py.
"""

import os

import pytest

import corolib

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    if os.environ.get("COROLIB_SLOW_TESTS") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or COROLIB_SLOW_TESTS=1")
    for item in items:
        if "slow" in item.keywords and str(item.path).startswith(HERE):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def hub_left_clean():
    """Fail a test that leaves greenlets parked or callbacks queued in the hub."""
    hub = corolib.get_hub()
    yield hub
    corolib.sleep(0)  # let links and rawlink callbacks run
    stats = hub.statistics()
    assert stats["parked"] == 0, hub.describe_parked()
    assert stats["ready"] == 0, stats
