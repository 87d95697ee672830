"""What each greenlet keeps to itself: exc_info, contextvars, recursion depth."""

import contextvars
import gc
import sys
import threading

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import getcurrent

VAR = contextvars.ContextVar("VAR", default="default")


# ---- sys.exc_info ---------------------------------------------------------


def test_exc_info_is_per_greenlet():
    seen = []

    def run():
        seen.append(sys.exc_info())
        try:
            raise KeyError("child")
        except KeyError:
            getcurrent().parent.switch()
            seen.append(sys.exc_info()[0])
        seen.append(sys.exc_info())

    g = greenlet.greenlet(run)
    try:
        raise ValueError("main")
    except ValueError:
        g.switch()
        assert sys.exc_info()[0] is ValueError
        g.switch()
        assert sys.exc_info()[0] is ValueError
    assert sys.exc_info() == (None, None, None)
    assert seen[0] == (None, None, None)  # nothing leaked in from main
    assert seen[1] is KeyError
    assert seen[2] == (None, None, None)


def test_exc_info_not_leaked_out_of_greenlet():
    def run():
        try:
            raise KeyError
        except KeyError:
            getcurrent().parent.switch()

    g = greenlet.greenlet(run)
    g.switch()
    assert sys.exc_info() == (None, None, None)
    g.switch()
    assert sys.exc_info() == (None, None, None)


def test_exc_info_in_generator_inside_greenlet():
    def gen():
        try:
            raise KeyError("gen")
        except KeyError:
            yield sys.exc_info()[0]
            getcurrent().parent.switch("gen-suspended")
            yield sys.exc_info()[0]

    def run():
        it = gen()
        first = next(it)
        second = next(it)
        return first, second, sys.exc_info()[0]

    g = greenlet.greenlet(run)
    try:
        raise ValueError
    except ValueError:
        assert g.switch() == "gen-suspended"
        assert sys.exc_info()[0] is ValueError
        assert g.switch() == (KeyError, KeyError, None)
        assert sys.exc_info()[0] is ValueError


def test_bare_raise_in_greenlet_uses_its_own_exception():
    def run():
        try:
            raise KeyError("mine")
        except KeyError:
            getcurrent().parent.switch()
            raise

    g = greenlet.greenlet(run)
    g.switch()
    try:
        raise ValueError
    except ValueError:
        with pytest.raises(KeyError, match="mine"):
            g.switch()


# ---- contextvars ----------------------------------------------------------


def test_new_greenlet_starts_with_empty_context():
    VAR.set("main value")

    def run():
        before = VAR.get()
        VAR.set("child value")
        return before, VAR.get()

    assert greenlet.greenlet(run).switch() == ("default", "child value")
    assert VAR.get() == "main value"


def test_context_values_kept_apart_across_switches():
    VAR.set("main")

    def run(name):
        VAR.set(name)
        for _ in range(3):
            getcurrent().parent.switch(VAR.get())
        return VAR.get()

    gs = [greenlet.greenlet(run) for _ in range(5)]
    for i, g in enumerate(gs):
        assert g.switch(f"g{i}") == f"g{i}"
        assert VAR.get() == "main"
    for _ in range(3):
        for i, g in enumerate(gs):
            assert g.switch() == f"g{i}"
            assert VAR.get() == "main"


def test_gr_context_assigned_before_start():
    ctx = contextvars.copy_context()
    ctx.run(VAR.set, "from ctx")
    g = greenlet.greenlet(lambda: VAR.get())
    assert g.gr_context is None
    g.gr_context = ctx
    assert g.gr_context is ctx
    assert g.switch() == "from ctx"


def test_gr_context_shared_between_greenlets():
    ctx = contextvars.Context()

    def run():
        VAR.set(VAR.get() + "+")
        return VAR.get()

    a = greenlet.greenlet(run)
    b = greenlet.greenlet(run)
    a.gr_context = ctx
    b.gr_context = ctx
    a.switch()
    assert b.switch() == "default++"
    assert ctx[VAR] == "default++"


def test_gr_context_of_running_and_suspended():
    def run():
        assert g.gr_context is None
        VAR.set(1)
        ctx = g.gr_context
        assert isinstance(ctx, contextvars.Context)
        assert ctx[VAR] == 1
        g.gr_context = None  # while running
        assert VAR.get() == "default"
        getcurrent().parent.switch(ctx)
        return VAR.get()

    g = greenlet.greenlet(run)
    ctx = g.switch()
    # reading a variable does not create a context
    assert g.gr_context is None
    g.gr_context = ctx  # while suspended
    assert g.gr_context is ctx
    assert g.switch() == 1


def test_gr_context_of_current_greenlet_is_thread_context():
    main = getcurrent()
    VAR.set("visible")
    assert main.gr_context is not None
    assert main.gr_context[VAR] == "visible"


def test_gr_context_on_dead_greenlet():
    def run():
        VAR.set("was set")

    g = greenlet.greenlet(run)
    g.switch()
    assert g.dead
    assert g.gr_context is not None
    assert g.gr_context[VAR] == "was set"
    ctx = contextvars.Context()
    g.gr_context = ctx
    assert g.gr_context is ctx
    g.gr_context = None
    assert g.gr_context is None


def test_gr_context_wrong_type_and_delete():
    g = greenlet.greenlet()
    with pytest.raises(TypeError, match="greenlet context must be a contextvars.Context or None"):
        g.gr_context = {}
    with pytest.raises(AttributeError, match="can't delete context attribute"):
        del g.gr_context


def test_gr_context_of_greenlet_running_in_other_thread():
    ready = threading.Event()
    release = threading.Event()
    holder = []

    def thread_main():
        holder.append(getcurrent())
        VAR.set("other thread")
        ready.set()
        release.wait(10)

    t = threading.Thread(target=thread_main)
    t.start()
    try:
        assert ready.wait(10)
        other_main = holder[0]
        with pytest.raises(ValueError, match="running in a different thread"):
            other_main.gr_context  # noqa: B018
        with pytest.raises(ValueError, match="running in a different thread"):
            other_main.gr_context = None
        with pytest.raises(ValueError, match="running in a different thread"):
            other_main.gr_context = contextvars.Context()
    finally:
        release.set()
        t.join(10)


def test_context_run_inside_greenlet():
    def run():
        ctx = contextvars.copy_context()

        def inside():
            VAR.set("in run")
            getcurrent().parent.switch("suspended inside ctx.run")
            return VAR.get()

        return ctx.run(inside), VAR.get()

    g = greenlet.greenlet(run)
    assert g.switch() == "suspended inside ctx.run"
    assert VAR.get() != "in run"
    assert g.switch() == ("in run", "default")


def test_context_refcounts_after_assignment():
    old = contextvars.Context()
    new = contextvars.Context()
    base_old, base_new = sys.getrefcount(old), sys.getrefcount(new)

    def run():
        getcurrent().parent.switch()
        getcurrent().gr_context = new
        getcurrent().parent.switch()

    g = greenlet.greenlet(run)
    g.gr_context = old
    g.switch()
    g.gr_context = new
    g.gr_context = old
    g.switch()
    g.switch()
    assert g.dead
    del g
    gc.collect()
    assert sys.getrefcount(old) == base_old
    assert sys.getrefcount(new) == base_new


# ---- recursion depth ------------------------------------------------------


def recurse(n):
    if n == 0:
        return 0
    return recurse(n - 1) + 1


def depth_now():
    """Python frames on this greenlet's stack, down to its first."""
    n = 0
    f = sys._getframe(0)
    while f is not None:
        n += 1
        f = f.f_back
    return n


def test_deep_recursion_in_one_greenlet_does_not_affect_another():
    limit = sys.getrecursionlimit()

    def deep_then_switch(n):
        if n == 0:
            getcurrent().parent.switch("deep")
            return 0
        return deep_then_switch(n - 1) + 1

    deep = greenlet.greenlet(deep_then_switch)
    assert deep.switch(limit - 100) == "deep"
    # main and a fresh greenlet can still use (almost) the whole limit
    assert recurse(limit - 100) == limit - 100
    assert greenlet.greenlet(recurse).switch(limit - 150) == limit - 150
    assert deep.switch() == limit - 100


def test_recursion_error_is_per_greenlet():
    limit = sys.getrecursionlimit()

    def infinite(n=0):
        return infinite(n + 1)

    def run():
        try:
            infinite()
        except RecursionError:
            return "recursion error"

    assert greenlet.greenlet(run).switch() == "recursion error"
    # and afterwards the main greenlet's own depth is intact
    assert recurse(limit - 100) == limit - 100


def test_recursion_error_while_other_greenlets_are_deep():
    limit = sys.getrecursionlimit()

    def deep_then_switch(n):
        if n == 0:
            return getcurrent().parent.switch("deep")
        return deep_then_switch(n - 1)

    parked = [greenlet.greenlet(deep_then_switch) for _ in range(3)]
    for g in parked:
        g.switch(limit - 100)

    def count_until_error():
        n = 0

        def down():
            nonlocal n
            n += 1
            down()

        try:
            down()
        except RecursionError:
            return n

    # the depth reachable in a fresh greenlet does not shrink with the
    # number of parked deep greenlets
    reach = greenlet.greenlet(count_until_error).switch()
    assert reach > limit - 200
    for g in parked:
        g.switch()


def test_setrecursionlimit_applies_to_suspended_greenlet():
    old = sys.getrecursionlimit()

    def run():
        getcurrent().parent.switch()
        try:
            recurse(old + 500)
        except RecursionError:
            return "too deep"
        return "fine"

    g = greenlet.greenlet(run)
    g.switch()
    sys.setrecursionlimit(old + 1000)
    try:
        assert g.switch() == "fine"
    finally:
        sys.setrecursionlimit(old)

    g2 = greenlet.greenlet(run)
    g2.switch()
    assert g2.switch() == "too deep"


def test_lower_recursion_limit_applies_after_switch():
    old = sys.getrecursionlimit()

    def run():
        getcurrent().parent.switch()
        try:
            recurse(300)
        except RecursionError:
            return "limited"
        return "unlimited"

    g = greenlet.greenlet(run)
    g.switch()
    sys.setrecursionlimit(200)
    try:
        assert g.switch() == "limited"
    finally:
        sys.setrecursionlimit(old)


def test_frame_depth_in_new_greenlet_starts_at_run():
    g = greenlet.greenlet(depth_now)
    assert g.switch() == 1


def test_context_run_exited_in_other_order_in_two_greenlets():
    main = getcurrent()
    first = greenlet.greenlet(contextvars.copy_context().run)
    second = greenlet.greenlet(contextvars.copy_context().run)
    first.switch(main.switch)
    second.switch(main.switch)
    # each greenlet leaves its own Context.run(); no "cannot exit context"
    first.switch()
    second.switch()
    assert first.dead and second.dead


def test_context_run_in_main_around_switches():
    ctx = contextvars.copy_context()

    def inside():
        VAR.set("inside ctx")
        g = greenlet.greenlet(lambda: (VAR.get(), getcurrent().parent.switch()))
        g.switch()
        assert VAR.get() == "inside ctx"
        g.switch()
        return VAR.get()

    assert ctx.run(inside) == "inside ctx"
    assert ctx[VAR] == "inside ctx"
