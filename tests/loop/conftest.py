"""Fixtures for the libuv binding tests: every test gets its own loop, and
leaves no libuv handle behind once that loop is closed."""

import gc

import pytest

from corolib import uv


@pytest.fixture
def loop():
    gc.collect()
    before = uv.live_handles()
    lp = uv.Loop()
    try:
        yield lp
    finally:
        lp.close()
    assert lp.closed
    assert uv.live_handles() == before


def _run_until(loop, predicate, timeout=5.0):
    """Run ONCE passes until predicate() is true; fail after timeout seconds."""
    guard = uv.Timer(loop)
    expired = []
    guard.start(lambda t: expired.append(True), timeout)
    try:
        while not predicate():
            assert not expired, "timed out waiting for the loop"
            loop.run(uv.UV_RUN_ONCE)
    finally:
        guard.close()


@pytest.fixture
def run_until():
    """The _run_until helper (a fixture: test modules cannot import conftest
    reliably when several test directories have one)."""
    return _run_until
