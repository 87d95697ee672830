"""switch(): value passing, start, finish, dead and unstarted greenlets."""

import sys

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import getcurrent


def echo_back():
    """A run() that bounces every value it gets back to its parent."""
    value = getcurrent().parent.switch("started")
    while True:
        value = getcurrent().parent.switch(value)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((), {}, ()),
        ((1,), {}, 1),
        ((None,), {}, None),
        (((1, 2),), {}, (1, 2)),
        ((1, 2), {}, (1, 2)),
        ((1, 2, 3), {}, (1, 2, 3)),
        ((), {"a": 1}, {"a": 1}),
        ((), {"a": 1, "b": 2}, {"a": 1, "b": 2}),
        ((1,), {"a": 2}, ((1,), {"a": 2})),
        ((1, 2), {"a": 3}, ((1, 2), {"a": 3})),
    ],
)
def test_switch_packages_values_like_greenlet(args, kwargs, expected):
    g = greenlet.greenlet(echo_back)
    assert g.switch() == "started"
    assert g.switch(*args, **kwargs) == expected
    # and in the other direction: values switched to the parent
    assert g.switch(*args, **kwargs) == expected


def test_switch_into_new_greenlet_calls_run_with_arguments():
    seen = []

    def run(*args, **kwargs):
        seen.append((args, kwargs))
        return "done"

    for args, kwargs in [((), {}), ((1,), {}), ((1, 2), {"k": 3}), ((), {"k": 4})]:
        assert greenlet.greenlet(run).switch(*args, **kwargs) == "done"
    assert seen == [((), {}), ((1,), {}), ((1, 2), {"k": 3}), ((), {"k": 4})]


def test_identity_of_values_is_kept():
    obj = object()
    items = [object(), object()]
    g = greenlet.greenlet(echo_back)
    g.switch()
    assert g.switch(obj) is obj
    a, b = g.switch(*items)
    assert a is items[0] and b is items[1]
    kw = g.switch(x=obj)
    assert kw["x"] is obj


def test_switch_argument_refcounts_return_to_baseline(leakcheck):
    obj = object()
    before = sys.getrefcount(obj)

    def once():
        g = greenlet.greenlet(echo_back)
        g.switch()
        g.switch(obj)
        g.switch(obj, obj)
        g.switch(k=obj)
        g.switch(obj, k=obj)
        g.throw()

    once()
    assert sys.getrefcount(obj) == before
    leakcheck(once, calls=200)
    assert sys.getrefcount(obj) == before


def test_return_value_goes_to_parent():
    g = greenlet.greenlet(lambda x: x * 2)
    assert g.switch(21) == 42
    assert g.dead
    assert not g


def test_return_none_goes_to_parent():
    g = greenlet.greenlet(lambda: None)
    assert g.switch() is None


def test_switch_to_current_returns_arguments_at_once():
    me = getcurrent()
    assert me.switch() == ()
    assert me.switch(5) == 5
    assert me.switch(1, 2) == (1, 2)
    assert me.switch(a=1) == {"a": 1}
    assert me.switch(1, a=1) == ((1,), {"a": 1})


def test_states_unstarted_running_suspended_dead():
    states = []

    def run():
        states.append((bool(g), g.dead, g.gr_frame is None))
        getcurrent().parent.switch()

    g = greenlet.greenlet(run)
    assert not g and not g.dead and g.gr_frame is None
    g.switch()
    assert states == [(True, False, True)]
    assert g and not g.dead and g.gr_frame is not None
    g.switch()
    assert not g and g.dead and g.gr_frame is None


def test_main_greenlet_properties():
    main = getcurrent()
    assert isinstance(main, greenlet.greenlet)
    assert main.parent is None
    assert bool(main)
    assert not main.dead
    assert main.gr_frame is None  # running
    with pytest.raises(AttributeError):
        main.run  # noqa: B018


def test_dead_greenlet_switch_goes_to_parent():
    g = greenlet.greenlet(lambda: "first")
    assert g.switch() == "first"
    # from main: the parent of g is main itself, so the value comes back
    assert g.switch(7) == 7
    assert g.switch(1, 2) == (1, 2)
    assert g.switch() == ()


def test_dead_greenlet_value_reaches_suspended_ancestor():
    def parent_run():
        got = getcurrent().parent.switch("ready")
        return ("parent got", got)

    parent = greenlet.greenlet(parent_run)
    assert parent.switch() == "ready"

    child = greenlet.greenlet(lambda: "child result", parent=parent)
    # child runs and returns to parent; parent finishes and returns to main
    assert child.switch() == ("parent got", "child result")
    assert child.dead and parent.dead

    parent2 = greenlet.greenlet(parent_run)
    parent2.switch()
    grandchild = greenlet.greenlet(lambda: None, parent=child)
    # reparent dead child onto live parent2, then switch into the dead child
    child.parent = parent2
    assert child.switch("via dead") == ("parent got", "via dead")
    assert grandchild.parent is child


def test_switch_to_dead_greenlet_starts_unstarted_ancestor():
    got = []

    def run(*args):
        got.append(args)
        return "ancestor done"

    ancestor = greenlet.greenlet(run)
    dead = greenlet.greenlet(lambda: None, parent=ancestor)
    dead.parent = getcurrent()
    dead.switch()
    assert dead.dead
    dead.parent = ancestor
    assert dead.switch(1, 2) == "ancestor done"
    assert got == [(1, 2)]


def test_unstarted_parent_is_started_with_child_result():
    got = []

    def parent_run(*args, **kwargs):
        got.append((args, kwargs))
        return "parent ran"

    parent = greenlet.greenlet(parent_run)
    child = greenlet.greenlet(lambda: "value", parent=parent)
    assert child.switch() == "parent ran"
    assert got == [(("value",), {})]


def test_switch_resumes_after_long_chain():
    def make(n):
        if n == 0:
            return getcurrent().parent.switch("bottom")
        inner = greenlet.greenlet(make)
        return inner.switch(n - 1)

    g = greenlet.greenlet(make)
    assert g.switch(50) == "bottom"


def test_run_attribute():
    def f():
        return 1

    g = greenlet.greenlet(f)
    assert g.run is f
    g.run = len
    assert g.run is len
    with pytest.raises(AttributeError):
        greenlet.greenlet().run  # noqa: B018
    assert greenlet.greenlet(run=None).run is None
    g2 = greenlet.greenlet()
    g2.run = lambda: "set later"
    assert g2.switch() == "set later"
    with pytest.raises(AttributeError, match="run"):
        g2.run  # noqa: B018
    with pytest.raises(AttributeError, match="run cannot be set after the start"):
        g2.run = f


def test_run_attribute_unreadable_while_suspended():
    g = greenlet.greenlet(lambda: getcurrent().parent.switch())
    g.switch()
    with pytest.raises(AttributeError):
        g.run  # noqa: B018
    with pytest.raises(AttributeError, match="after the start"):
        g.run = print
    g.switch()


def test_missing_run_raises_attribute_error():
    g = greenlet.greenlet()
    with pytest.raises(AttributeError, match="run"):
        g.switch()
    assert not g.dead and not g
    # still startable once run is given
    g.run = lambda: "late"
    assert g.switch() == "late"


def test_non_callable_run_is_accepted_and_fails_at_the_first_switch():
    # As in greenlet: construction and the run setter take anything; the
    # first switch raises the call's TypeError and leaves the greenlet dead.
    g = greenlet.greenlet(run=42)
    assert not g.dead
    with pytest.raises(TypeError, match="'int' object is not callable"):
        g.switch()
    assert g.dead
    g = greenlet.greenlet()
    g.run = "text"
    with pytest.raises(TypeError, match="'str' object is not callable"):
        g.switch()
    assert g.dead


def test_run_none_raises_type_error_on_switch():
    g = greenlet.greenlet(run=None)
    with pytest.raises(TypeError):
        g.switch()


def test_constructor_argument_errors():
    with pytest.raises(TypeError):
        greenlet.greenlet(lambda: None, getcurrent(), 3)
    with pytest.raises(TypeError):
        greenlet.greenlet(bogus=1)
    with pytest.raises(TypeError):
        greenlet.greenlet(lambda: None, parent=3)
    with pytest.raises(TypeError):
        greenlet.greenlet(lambda: None, parent="not a greenlet")


def test_default_parent_is_creator():
    def run():
        inner = greenlet.greenlet(lambda: None)
        return inner.parent

    g = greenlet.greenlet(run)
    assert g.parent is getcurrent()
    assert g.switch() is g


def test_parent_given_explicitly():
    other = greenlet.greenlet(lambda *a: ("other", a))
    g = greenlet.greenlet(lambda: "x", parent=other)
    assert g.parent is other
    assert g.switch() == ("other", ("x",))


def test_parent_none_keeps_default():
    g = greenlet.greenlet(lambda: None, parent=None)
    assert g.parent is getcurrent()


def test_switch_from_nested_greenlet_to_sibling():
    log = []

    def a_run():
        log.append("a1")
        b.switch()
        log.append("a2")
        return "a done"

    def b_run():
        log.append("b1")
        a.switch()
        log.append("b2")

    a = greenlet.greenlet(a_run)
    b = greenlet.greenlet(b_run)
    assert a.switch() == "a done"
    assert log == ["a1", "b1", "a2"]
    assert a.dead and b and not b.dead
    b.switch()
    assert log == ["a1", "b1", "a2", "b2"]
    assert b.dead


def test_ping_pong_many_greenlets_keep_locals():
    n = 50
    gs = []

    def run(i):
        local = [i] * 10
        for round_ in range(20):
            v = getcurrent().parent.switch(i * 1000 + round_)
            assert v == ("go", i, round_)
            assert local == [i] * 10
        return ("end", i)

    for i in range(n):
        g = greenlet.greenlet(run)
        assert g.switch(i) == i * 1000
        gs.append(g)
    for round_ in range(20):
        for i, g in enumerate(gs):
            r = g.switch(("go", i, round_))
            if round_ < 19:
                assert r == i * 1000 + round_ + 1
            else:
                assert r == ("end", i)
    assert all(g.dead for g in gs)


def test_switch_rejects_non_greenlet_self():
    with pytest.raises(TypeError):
        greenlet.greenlet.switch(object())
    with pytest.raises(TypeError):
        greenlet.greenlet.throw(42)


def test_legacy_names_on_type():
    assert greenlet.greenlet.getcurrent() is getcurrent()
    assert greenlet.greenlet.GreenletExit is greenlet.GreenletExit
    assert greenlet.greenlet.error is greenlet.error
    assert greenlet.greenlet.settrace is greenlet.settrace
    assert greenlet.greenlet.gettrace is greenlet.gettrace


def test_module_surface():
    assert issubclass(greenlet.GreenletExit, BaseException)
    assert not issubclass(greenlet.GreenletExit, Exception)
    assert issubclass(greenlet.error, Exception)
    for name in (
        "greenlet",
        "getcurrent",
        "GreenletExit",
        "error",
        "settrace",
        "gettrace",
        "get_total_main_greenlets",
        "get_pending_cleanup_count",
    ):
        assert hasattr(greenlet, name), name
    assert greenlet.get_total_main_greenlets() >= 1
    assert greenlet.get_pending_cleanup_count() == 0


def test_switch_is_a_builtin_method():
    # profilers see c_call/c_return around it, as with the greenlet package
    assert type(getcurrent().switch).__name__ == "builtin_function_or_method"


def test_getcurrent_inside_greenlet():
    g = greenlet.greenlet(lambda: getcurrent())
    assert g.switch() is g


def test_switch_to_new_greenlet_from_its_own_run_lookup():
    # A `run` property that switches elsewhere while the greenlet is being
    # started must not corrupt anything.
    class Sneaky(greenlet.greenlet):
        calls = 0

        @property
        def run(self):
            type(self).calls += 1
            return lambda *a: ("ran", a)

    g = Sneaky()
    assert g.switch(1) == ("ran", (1,))
    assert Sneaky.calls == 1


def test_parent_that_cannot_start_passes_error_to_grandparent():
    # The child finishes; its parent has no run, so starting it fails and
    # that error goes on to the next ancestor (here: main).
    no_run = greenlet.greenlet()
    child = greenlet.greenlet(lambda: "result", parent=no_run)
    with pytest.raises(AttributeError, match="run"):
        child.switch()
    assert child.dead
    assert not no_run.dead and not no_run


def test_parent_that_cannot_start_with_exception_from_child():
    no_run = greenlet.greenlet()

    def run():
        raise KeyError("lost?")

    child = greenlet.greenlet(run, parent=no_run)
    # the parent cannot start; what reaches main is an error, not a crash
    with pytest.raises((AttributeError, KeyError)):
        child.switch()
    assert child.dead


def test_stack_saved_counts_bytes_in_heap():
    main = getcurrent()
    assert main._stack_saved == 0

    def run():
        main.switch(main._stack_saved)

    g = greenlet.greenlet(run)
    assert g._stack_saved == 0
    assert g.switch() > 0  # main's slice was copied away while g ran
    assert g._stack_saved > 0  # g is suspended below main's stack
    assert main._stack_saved == 0  # running
    g.switch()
    assert g._stack_saved == 0
