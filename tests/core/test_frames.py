"""gr_frame and the f_back chains of suspended greenlets, on every version."""

import gc
import sys
import traceback

import corolib.greenlet as greenlet
from corolib.greenlet import getcurrent


def chain(frame):
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


def level3():
    getcurrent().parent.switch("parked")
    return "level3 done"


def level2():
    return level3()


def level1():
    return level2()


def deep_python(n):
    if n == 0:
        return getcurrent().parent.switch("deep parked")
    return deep_python(n - 1)


def test_gr_frame_chain_ends_at_first_frame_of_greenlet():
    g = greenlet.greenlet(level1)
    g.switch()
    assert chain(g.gr_frame) == ["level3", "level2", "level1"]
    assert g.gr_frame.f_code.co_name == "level3"
    assert g.gr_frame.f_lineno == level3.__code__.co_firstlineno + 1
    assert g.switch() == "level3 done"
    assert g.gr_frame is None


def test_gr_frame_of_nested_greenlets():
    def outer():
        inner = greenlet.greenlet(level1)
        inner.switch()
        getcurrent().parent.switch(inner)
        return "outer done"

    g = greenlet.greenlet(outer)
    inner = g.switch()
    assert chain(inner.gr_frame) == ["level3", "level2", "level1"]
    assert chain(g.gr_frame) == ["outer"]
    # finish both: a suspended pair referring to each other is never freed
    assert inner.switch() == "outer done"  # inner returns to outer, outer to us
    assert g.dead and inner.dead


def test_gr_frame_of_main_greenlet_seen_from_child():
    def marker_function_in_main(g):
        return g.switch()

    def run():
        return chain(getcurrent().parent.gr_frame)

    g = greenlet.greenlet(run)
    names = marker_function_in_main(g)
    assert names[0] == "marker_function_in_main"
    assert "test_gr_frame_of_main_greenlet_seen_from_child" in names


def test_gr_frame_walkable_after_other_greenlets_ran_deep():
    parked = greenlet.greenlet(level1)
    parked.switch()
    frame = parked.gr_frame
    for depth in (10, 200, 600):
        other = greenlet.greenlet(deep_python)
        assert other.switch(depth) == "deep parked"
        assert chain(frame) == ["level3", "level2", "level1"]
        assert chain(parked.gr_frame) == ["level3", "level2", "level1"]
        other.switch()
    assert parked.switch() == "level3 done"


def test_getframe_captured_inside_greenlet_walked_later():
    captured = []

    def inner():
        captured.append(sys._getframe())
        getcurrent().parent.switch()
        return "inner done"

    def middle():
        return inner()

    def top():
        return middle()

    g = greenlet.greenlet(top)
    g.switch()
    # other greenlets clobber the C stack where g's frames used to live
    for depth in (5, 100, 400):
        o = greenlet.greenlet(deep_python)
        o.switch(depth)
        assert chain(captured[0]) == ["inner", "middle", "top"]
        o.switch()
    traceback.format_stack(captured[0])
    assert g.switch() == "inner done"
    # after g finished, the frame object is still safe to inspect
    assert captured[0].f_code.co_name == "inner"
    captured[0].f_back  # noqa: B018


def test_getframe_captured_then_greenlet_killed():
    captured = []

    def inner():
        captured.append(sys._getframe())
        getcurrent().parent.switch()

    def top():
        inner()

    g = greenlet.greenlet(top)
    g.switch()
    del g
    gc.collect()
    f = captured.pop()
    assert f.f_code.co_name == "inner"
    chain(f)


def test_frames_through_c_calls_are_walkable():
    # C code calling back into Python (sorted with a key) puts C frames
    # between Python frames; the chain must skip them safely.
    def key(x):
        if x == 2:
            getcurrent().parent.switch("in key")
        return x

    def run():
        return sorted([3, 2, 1], key=key)

    g = greenlet.greenlet(run)
    assert g.switch() == "in key"
    names = chain(g.gr_frame)
    assert names == ["key", "run"]
    o = greenlet.greenlet(deep_python)
    o.switch(300)
    assert chain(g.gr_frame) == ["key", "run"]
    o.switch()
    assert g.switch() == [1, 2, 3]


def test_f_back_of_frame_captured_through_c_call():
    captured = []

    def key(x):
        captured.append(sys._getframe())
        getcurrent().parent.switch()
        return x

    def run():
        return list(map(key, [1]))

    g = greenlet.greenlet(run)
    g.switch()
    o = greenlet.greenlet(deep_python)
    o.switch(200)
    assert chain(captured[0]) == ["key", "run"]
    o.switch()
    assert g.switch() == [1]
    captured.clear()


def test_frame_locals_of_suspended_greenlet():
    def run(a, b):
        local_value = a + b  # noqa: F841
        getcurrent().parent.switch()

    g = greenlet.greenlet(run)
    g.switch(1, 2)
    f = g.gr_frame
    assert f.f_locals["local_value"] == 3
    assert f.f_locals["a"] == 1
    g.switch()


def test_traceback_format_of_suspended_greenlet():
    g = greenlet.greenlet(level1)
    g.switch()
    text = "".join(traceback.format_stack(g.gr_frame))
    assert "level1" in text and "level3" in text
    g.switch()


def test_frame_walk_in_many_greenlets_interleaved():
    gs = []
    for depth in range(0, 60, 3):
        g = greenlet.greenlet(deep_python)
        g.switch(depth)
        gs.append((depth, g))
    for depth, g in gs:
        names = chain(g.gr_frame)
        assert names == ["deep_python"] * (depth + 1)
    for _, g in gs:
        g.switch()
    for _, g in gs:
        assert g.gr_frame is None


def test_gr_frame_of_greenlet_suspended_in_generator():
    def gen():
        getcurrent().parent.switch()
        yield 1

    def run():
        return list(gen())

    g = greenlet.greenlet(run)
    g.switch()
    assert chain(g.gr_frame) == ["gen", "run"]
    g.switch()


def test_current_frame_chain_inside_greenlet_ends_at_run():
    def run():
        return chain(sys._getframe())

    assert greenlet.greenlet(run).switch() == ["run"]
    assert greenlet.greenlet(level2).switch() == "parked"


def test_gr_frame_of_greenlet_with_builtin_run_is_none():
    main = getcurrent()
    g = greenlet.greenlet(main.switch)
    assert g.switch("x") == "x"
    assert g and g.gr_frame is None
    g.switch()
    assert g.dead


class SwitchOnDel:
    """Its __del__ switches to ``walker`` (which inspects other frames)."""

    def __init__(self, walker):
        self.walker = walker

    def __del__(self):
        self.walker.switch()


def test_switch_from_del_of_local_while_frame_is_exiting():
    seen = []
    targets = []

    def walk_all():
        while True:
            for g in list(targets):
                seen.append(chain(g.gr_frame))
            getcurrent().parent.switch()

    walker = greenlet.greenlet(walk_all)
    walker.switch()  # parks in walk_all with nothing to walk
    walker.parent = getcurrent()

    def leaf():
        obj = SwitchOnDel(walker)  # noqa: F841 - freed as leaf() returns
        return "leaf returned"

    def middle():
        r = leaf()
        getcurrent().parent.switch("middle parked")
        return r

    def run():
        return middle()

    g = greenlet.greenlet(run)
    targets.append(g)
    walker.parent = g
    assert g.switch() == "middle parked"
    # while leaf() was exiting, the walker saw g suspended in it
    assert seen and seen[0][-2:] == ["middle", "run"]
    targets.clear()
    walker.parent = getcurrent()
    assert g.switch() == "leaf returned"
    walker.throw()
