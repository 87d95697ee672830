"""Every core test doubles as a leak test for greenlet objects.

After each test (and a collection) no greenlet created by it may remain
alive, and the number of main greenlets must be back where it was.  A test
that leaks on purpose (a documented limitation) asks for the
``allow_greenlet_leaks`` fixture.
"""

import gc

import pytest

import corolib.greenlet as greenlet


def live_greenlets():
    gc.collect()
    return {id(o): o for o in gc.get_objects() if isinstance(o, greenlet.greenlet)}


@pytest.fixture
def allow_greenlet_leaks():
    """Opt out of the per-test greenlet leak check."""


@pytest.fixture(autouse=True)
def no_greenlet_leaks(request):
    if "allow_greenlet_leaks" in request.fixturenames:
        yield
        return
    greenlet.getcurrent()  # this thread's main greenlet is not a leak
    before = set(live_greenlets())
    mains = greenlet.get_total_main_greenlets()
    yield
    leaked = [repr(g) for i, g in live_greenlets().items() if i not in before]
    assert not leaked, f"greenlets outlived the test: {leaked}"
    assert greenlet.get_total_main_greenlets() == mains, "main greenlets leaked"
