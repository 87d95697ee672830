"""Exceptions across switches, throw() in every argument form, GreenletExit."""

import sys
import traceback

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import GreenletExit, getcurrent


class Boom(Exception):
    pass


def suspended(catch=()):
    """A greenlet suspended once, that records what it receives."""
    log = []

    def run():
        try:
            log.append(("value", getcurrent().parent.switch("suspended")))
        except catch as e:  # noqa: B030 - empty tuple catches nothing
            log.append(("caught", e))
            return ("handled", e)
        return "returned"

    g = greenlet.greenlet(run)
    assert g.switch() == "suspended"
    return g, log


def test_exception_from_run_is_raised_in_parent():
    def run():
        raise Boom("from run")

    g = greenlet.greenlet(run)
    with pytest.raises(Boom, match="from run"):
        g.switch()
    assert g.dead


def test_exception_from_run_reaches_nonmain_parent():
    def child_run():
        raise Boom("child")

    def parent_run():
        child = greenlet.greenlet(child_run)
        try:
            child.switch()
        except Boom as e:
            return ("parent caught", str(e))

    assert greenlet.greenlet(parent_run).switch() == ("parent caught", "child")


def test_exception_traceback_includes_greenlet_frames():
    def deep(n):
        if n == 0:
            raise Boom("deep")
        deep(n - 1)

    def run():
        deep(3)

    g = greenlet.greenlet(run)
    with pytest.raises(Boom) as info:
        g.switch()
    names = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert names[-5:] == ["run", "deep", "deep", "deep", "deep"]


def test_exception_in_suspended_then_resumed_greenlet():
    def run():
        getcurrent().parent.switch()
        raise Boom("after resume")

    g = greenlet.greenlet(run)
    g.switch()
    with pytest.raises(Boom, match="after resume"):
        g.switch()


def test_greenlet_exit_from_run_becomes_return_value():
    def run():
        raise GreenletExit("bye")

    g = greenlet.greenlet(run)
    r = g.switch()
    assert isinstance(r, GreenletExit)
    assert r.args == ("bye",)
    assert g.dead


def test_greenlet_exit_subclass_from_run_becomes_return_value():
    class MyExit(GreenletExit):
        pass

    g = greenlet.greenlet(lambda: (_ for _ in ()).throw(MyExit()))
    assert isinstance(g.switch(), MyExit)


def test_throw_default_is_greenlet_exit_returned():
    g, log = suspended()
    r = g.throw()
    assert isinstance(r, GreenletExit)
    assert g.dead
    assert log == []


def test_throw_class():
    g, log = suspended(catch=Boom)
    r = g.throw(Boom)
    assert r[0] == "handled" and type(r[1]) is Boom and r[1].args == ()


def test_throw_instance():
    exc = Boom("inst")
    g, log = suspended(catch=Boom)
    assert g.throw(exc) == ("handled", exc)


def test_throw_class_and_value():
    g, log = suspended(catch=Boom)
    r = g.throw(Boom, "val")
    assert r[1].args == ("val",)


def test_throw_class_and_tuple_value():
    g, log = suspended(catch=Boom)
    r = g.throw(Boom, (1, 2))
    assert r[1].args == (1, 2)


def test_throw_class_and_instance_value():
    exc = Boom("given")
    g, log = suspended(catch=Boom)
    assert g.throw(Boom, exc)[1] is exc


def test_throw_class_and_none_value_and_none_tb():
    g, log = suspended(catch=Boom)
    r = g.throw(Boom, None, None)
    assert type(r[1]) is Boom


def test_throw_with_traceback():
    try:
        raise Boom("with tb")
    except Boom as e:
        tb = e.__traceback__
    g, log = suspended(catch=Boom)
    r = g.throw(Boom, "x", tb)
    caught = r[1]
    frames = traceback.extract_tb(caught.__traceback__)
    assert "test_throw_with_traceback" in [f.name for f in frames]


def test_throw_uncaught_propagates_to_thrower():
    g, log = suspended()
    with pytest.raises(Boom, match="through"):
        g.throw(Boom("through"))
    assert g.dead


def test_throw_uncaught_traceback_shows_greenlet_frame():
    g, log = suspended()
    with pytest.raises(Boom) as info:
        g.throw(Boom)
    assert "run" in [f.name for f in traceback.extract_tb(info.value.__traceback__)]


@pytest.mark.parametrize(
    ("args", "exc_type", "message"),
    [
        ((42,), TypeError, "exceptions must be classes, or instances, not int"),
        ((object,), TypeError, "exceptions must be classes, or instances"),
        ((Boom("x"), "value"), TypeError, "instance exception may not have a separate value"),
        ((Boom, None, 42), TypeError, "throw() third argument must be a traceback object"),
        ((Boom, None, None, None), TypeError, None),
    ],
)
def test_throw_bad_arguments(args, exc_type, message):
    g, log = suspended()
    with pytest.raises(exc_type) as info:
        g.throw(*args)
    if message is not None:
        assert message in str(info.value)
    # nothing was delivered: the greenlet is still suspended and usable
    assert g and not g.dead
    assert log == []
    assert g.switch("after") == "returned"
    assert log == [("value", "after")]


def test_throw_keyword_arguments_refused():
    g, log = suspended()
    with pytest.raises(TypeError):
        g.throw(typ=Boom)
    g.switch()


def test_throw_exception_constructor_fails():
    class Picky(Exception):
        def __init__(self, a, b):
            super().__init__(a, b)

    g, log = suspended(catch=Exception)
    with pytest.raises(TypeError):
        g.throw(Picky, "only one")
    assert g and log == []
    assert g.throw(Picky, (1, 2))[1].args == (1, 2)


def test_throw_into_unstarted_kills_without_running():
    ran = []
    g = greenlet.greenlet(lambda: ran.append(1))
    with pytest.raises(Boom):
        g.throw(Boom)
    assert ran == []
    assert g.dead


def test_throw_greenlet_exit_into_unstarted_returns_it():
    ran = []
    g = greenlet.greenlet(lambda: ran.append(1))
    r = g.throw()
    assert isinstance(r, GreenletExit)
    assert ran == [] and g.dead


def test_throw_into_unstarted_then_switch_goes_to_parent():
    g = greenlet.greenlet(lambda: "never")
    g.throw()
    assert g.switch(5) == 5


def test_throw_into_unstarted_with_nonmain_parent():
    def parent_run():
        child = greenlet.greenlet(lambda: "never", parent=getcurrent())
        try:
            child.throw(Boom("into child"))
        except Boom as e:
            return str(e)

    assert greenlet.greenlet(parent_run).switch() == "into child"


def test_throw_into_dead_greenlet():
    g = greenlet.greenlet(lambda: None)
    g.switch()
    r = g.throw()
    assert isinstance(r, GreenletExit)
    with pytest.raises(Boom):
        g.throw(Boom)


def test_throw_into_dead_greenlet_goes_to_live_parent():
    def parent_run():
        try:
            getcurrent().parent.switch("parent waiting")
        except Boom:
            return "parent got Boom"

    parent = greenlet.greenlet(parent_run)
    parent.switch()
    child = greenlet.greenlet(lambda: getcurrent().parent.switch(), parent=parent)
    child.parent = getcurrent()
    child.switch()
    child.switch()
    assert child.dead
    child.parent = parent
    assert child.throw(Boom) == "parent got Boom"


def test_throw_into_self_raises_here():
    def run():
        try:
            getcurrent().throw(Boom("self"))
        except Boom as e:
            return ("self-throw", str(e))

    assert greenlet.greenlet(run).switch() == ("self-throw", "self")


def test_throw_from_child_into_parent():
    def run():
        getcurrent().parent.throw(Boom("up"))

    g = greenlet.greenlet(run)
    with pytest.raises(Boom, match="up"):
        g.switch()
    assert g and not g.dead  # suspended in its throw() call
    g.throw()  # clean up


def test_greenlet_catches_greenlet_exit_and_keeps_running():
    def run():
        try:
            getcurrent().parent.switch("first")
        except GreenletExit:
            pass
        return getcurrent().parent.switch("still alive")

    g = greenlet.greenlet(run)
    g.switch()
    assert g.throw() == "still alive"
    assert g and not g.dead
    assert g.switch("final") == "final"
    assert g.dead


def test_exception_chaining_context_across_switch():
    def run():
        try:
            raise KeyError("inner")
        except KeyError:
            getcurrent().parent.switch()
            raise Boom("outer")  # noqa: B904 - the implicit context is the point

    g = greenlet.greenlet(run)
    g.switch()
    with pytest.raises(Boom) as info:
        g.switch()
    assert isinstance(info.value.__context__, KeyError)


def test_base_exceptions_propagate():
    def run():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        greenlet.greenlet(run).switch()

    def run2():
        raise SystemExit(3)

    with pytest.raises(SystemExit) as info:
        greenlet.greenlet(run2).switch()
    assert info.value.code == 3


def test_throw_keyboard_interrupt_into_greenlet():
    g, log = suspended(catch=KeyboardInterrupt)
    r = g.throw(KeyboardInterrupt)
    assert type(r[1]) is KeyboardInterrupt


def test_throw_refcounts(leakcheck):
    exc = Boom("ref")
    before = sys.getrefcount(exc)

    def once():
        g, log = suspended(catch=Boom)
        g.throw(exc)
        log.clear()
        g2, _ = suspended()
        try:
            g2.throw(exc)
        except Boom:
            pass
        exc.__traceback__ = None
        exc.__context__ = None

    once()
    assert sys.getrefcount(exc) == before
    leakcheck(once, calls=200)


def test_pending_exception_survives_killing_a_greenlet():
    # Dropping a suspended greenlet while an exception is being handled
    # must not clobber the one being handled.
    def run():
        try:
            getcurrent().parent.switch()
        finally:
            pass

    try:
        raise Boom("handled")
    except Boom:
        g = greenlet.greenlet(run)
        g.switch()
        del g
        assert sys.exc_info()[0] is Boom
        assert str(sys.exc_info()[1]) == "handled"


def test_child_throws_greenlet_exit_into_main():
    main = getcurrent()

    def run():
        main.throw()
        return "resumed"

    g = greenlet.greenlet(run)
    with pytest.raises(GreenletExit):
        g.switch()
    assert g and not g.dead
    assert g.switch() == "resumed"


def test_throw_into_unstarted_parent_from_child():
    log = []
    parent = greenlet.greenlet(lambda *a: log.append(("parent ran", a)))

    def run():
        parent.throw(KeyError("into parent"))

    child = greenlet.greenlet(run, parent=parent)
    child.parent = getcurrent()
    # parent dies unstarted; the KeyError goes to parent's parent (main)
    with pytest.raises(KeyError):
        child.switch()
    assert parent.dead and log == []
    child.throw()
