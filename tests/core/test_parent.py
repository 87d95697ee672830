"""The parent attribute: re-assignment, cycles, wrong types, main, delete."""

import gc
import sys

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import getcurrent


def test_reassign_parent_changes_where_result_goes():
    def collector(*args):
        return ("collector", args)

    other = greenlet.greenlet(collector)
    g = greenlet.greenlet(lambda: "result")
    g.parent = other
    assert g.parent is other
    assert g.switch() == ("collector", ("result",))


def test_reassign_parent_of_suspended_greenlet():
    def waiter():
        return ("waiter got", getcurrent().parent.switch("waiting"))

    w = greenlet.greenlet(waiter)
    assert w.switch() == "waiting"

    def run():
        getcurrent().parent.switch("suspended")
        return "finished"

    g = greenlet.greenlet(run)
    g.switch()
    g.parent = w
    assert g.switch() == ("waiter got", "finished")


def test_parent_cycle_refused():
    a = greenlet.greenlet()
    b = greenlet.greenlet(parent=a)
    c = greenlet.greenlet(parent=b)
    with pytest.raises(ValueError, match="cyclic parent chain"):
        a.parent = c
    with pytest.raises(ValueError, match="cyclic parent chain"):
        a.parent = a
    assert a.parent is getcurrent()


def test_parent_cycle_refused_in_constructor():
    a = greenlet.greenlet()
    with pytest.raises(ValueError, match="cyclic parent chain"):
        a.__init__(parent=a)


@pytest.mark.parametrize("bad", [None, 1, "x", object(), greenlet])
def test_parent_wrong_type(bad):
    g = greenlet.greenlet()
    with pytest.raises(TypeError, match="GreenletChecker: Expected any type of greenlet"):
        g.parent = bad
    assert g.parent is getcurrent()


def test_parent_delete_refused():
    g = greenlet.greenlet()
    with pytest.raises(AttributeError, match="can't delete attribute"):
        del g.parent
    assert g.parent is getcurrent()


def test_main_greenlet_parent_cannot_be_set():
    main = getcurrent()
    other = greenlet.greenlet()
    with pytest.raises(AttributeError, match="cannot set the parent of a main greenlet"):
        main.parent = other
    with pytest.raises(AttributeError, match="can't delete attribute"):
        del main.parent
    assert main.parent is None


def test_parent_can_be_main_greenlet():
    def run():
        inner = greenlet.greenlet(lambda: "inner")
        inner.parent = main
        return inner

    main = getcurrent()
    g = greenlet.greenlet(run)
    inner = g.switch()
    assert inner.parent is main
    assert inner.switch() == "inner"


def test_subclass_instance_is_accepted_as_parent():
    class Sub(greenlet.greenlet):
        pass

    p = Sub(lambda *a: ("sub parent", a))
    g = greenlet.greenlet(lambda: 1, parent=p)
    assert g.switch() == ("sub parent", (1,))


def test_parent_refcounts(leakcheck):
    p = greenlet.greenlet()
    before = sys.getrefcount(p)

    def once():
        g = greenlet.greenlet(parent=p)
        g.parent = getcurrent()
        g.parent = p
        try:
            p.parent = g
        except ValueError:
            pass
        del g

    once()
    assert sys.getrefcount(p) == before
    leakcheck(once, calls=500)


def test_parent_kept_alive_by_child():
    p = greenlet.greenlet(lambda *a: ("parent", a))
    g = greenlet.greenlet(lambda: "v", parent=p)
    del p
    gc.collect()
    assert g.switch() == ("parent", ("v",))
