"""Smoke tests of the greenlet core: the paths every other test builds on."""

import sys

import pytest

from corolib import greenlet as gmod
from corolib.greenlet import GreenletExit, getcurrent, greenlet


def test_module_surface():
    for name in (
        "greenlet",
        "getcurrent",
        "GreenletExit",
        "error",
        "settrace",
        "gettrace",
        "get_pending_cleanup_count",
        "get_total_main_greenlets",
    ):
        assert hasattr(gmod, name), name
    assert issubclass(GreenletExit, BaseException)
    assert not issubclass(GreenletExit, Exception)
    assert issubclass(gmod.error, Exception)


def test_switch_round_trip_and_finish():
    main = getcurrent()
    seen = []

    def body(a):
        seen.append(a)
        b = main.switch(a + 1)
        seen.append(b)
        return b * 2

    g = greenlet(body)
    assert not g and not g.dead
    assert g.switch(1) == 2
    assert g and not g.dead
    assert g.switch(10) == 20
    assert g.dead and not g
    assert seen == [1, 10]


def test_exception_propagates_to_parent():
    def body():
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        greenlet(body).switch()


def test_greenletexit_becomes_value():
    def body():
        getcurrent().parent.switch()

    g = greenlet(body)
    g.switch()
    result = g.throw()
    assert isinstance(result, GreenletExit)
    assert g.dead


def test_finally_runs_when_last_reference_dropped():
    ran = []

    def body():
        try:
            getcurrent().parent.switch()
        finally:
            ran.append(True)

    g = greenlet(body)
    g.switch()
    del g
    assert ran == [True]


def test_many_greenlets_refcounts_flat():
    def body(x):
        getcurrent().parent.switch(x)
        return x

    obj = object()
    before = sys.getrefcount(obj)
    for _ in range(10000):
        g = greenlet(body)
        assert g.switch(obj) is obj
        assert g.switch() is obj
    del g
    assert sys.getrefcount(obj) == before
