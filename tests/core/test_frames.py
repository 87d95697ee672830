"""gr_frame and the f_back chains of suspended greenlets, on every version."""

import gc
import sys
import traceback

import pytest

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


# ---- deep stacks: frames relinked incrementally (3.12+) -----------------------------


_DEEP_SWITCHING = r"""
import random
import sys

import corolib.greenlet as greenlet
from corolib.greenlet import getcurrent


def _walk_names(frame):
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


rnd = random.Random(1234)
main = getcurrent()
kept = []  # frame objects that outlive their frames

def py_call(fn, *a):
    return fn(*a)

def c_call(fn, *a):
    return list(map(lambda _: fn(*a), [0]))[0]

def gen_call(fn, *a):
    def gen():
        yield fn(*a)

    return next(gen())

callers = [py_call, c_call, gen_call]

def sub_path(path, caller, name):
    if caller is py_call:
        return path + ["py_call", name]
    if caller is c_call:
        return path + ["c_call", "<lambda>", name]
    return path + ["gen_call", "gen", name]

def descend(path, depth, other, leaf=False):
    # path: the names of the frames from the bottom up to this one.  A
    # deep descent makes a few short excursions from its bottom, each
    # switching at its end: the deep part stays, the top changes.
    if depth == 0 and not leaf:
        for _ in range(3):
            descend(path + ["descend"], rnd.choice([0, 1, 2, 5, 9]), other, True)
        return
    if depth == 0:
        if rnd.random() < 0.3:
            kept.append(sys._getframe())
        seen, want, main_want = other.switch(path[::-1])
        # Each side's chain, from its top, starts with what it recorded
        # (the frames below that are not ours to check).
        assert seen[: len(want)] == want, (seen[: len(want)], want)
        main_seen = _walk_names(main.gr_frame)
        assert main_seen[: len(main_want)] == main_want, (main_seen, main_want)
        return
    caller = rnd.choice(callers)
    caller(descend, sub_path(path, caller, "descend"), depth - 1, other, leaf)

def child():
    for _ in range(40):
        descend(["child", "descend"], rnd.choice([1, 3, 40, 70, 150]), main)
    return "child done"

g = greenlet.greenlet(child)
seen_by_main = []

def main_side():
    # Main answers each switch with the child's chain and what the
    # child expected, from its own deep, changing stacks.
    msg = g.switch()
    rounds = 0
    while not g.dead:
        msg = main_descend(msg, rnd.choice([2, 50, 120]), ["main_side", "main_descend"])
        rounds += 1
    return rounds

def main_descend(msg, depth, path, leaf=False):
    if depth == 0 and not leaf:
        for _ in range(3):
            if g.dead:
                break
            msg = main_descend(msg, rnd.choice([0, 1, 4, 8]), path + ["main_descend"], True)
        return msg
    if depth == 0:
        seen = _walk_names(g.gr_frame)
        seen_by_main.append(len(seen))
        return g.switch((seen, msg, path[::-1]))
    caller = rnd.choice([py_call, c_call])
    return caller(main_descend, msg, depth - 1, sub_path(path, caller, "main_descend"), leaf)

sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
rounds = main_side()
assert rounds >= 30
assert max(seen_by_main) > 150
for f in kept:
    _walk_names(f)  # frames that finished: f_back is whatever CPython kept
kept.clear()
print("ok")
"""


def test_deep_stacks_that_change_between_switches_stay_walkable(run_python):
    # Both sides switch from deep stacks whose upper parts change between
    # switches: frames returned from and pushed again (at the same data
    # stack addresses), C-to-Python re-entries (entry frames) at varying
    # depths, generators, frames whose objects were taken and outlive
    # them.  After every switch the other side's whole chain must read
    # exactly as the calls it made, and every return must land where it
    # should (a stale relink resumes the wrong frame or crashes: hence a
    # subprocess).
    r = run_python(_DEEP_SWITCHING, timeout=120)
    assert r.returncode == 0 and r.stdout == "ok\n", r.describe()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="the dealloc hook is 3.12+")
def test_long_chain_of_frame_objects_is_freed_without_deep_recursion(run_python):
    # corolib hooks the frame type's dealloc (3.12+); CPython frees a long
    # f_back chain through its trashcan only while its own dealloc is the
    # type's, so the hook must keep that up or this overflows the C stack.
    r = run_python(
        """
        import sys
        import corolib.greenlet
        sys.setrecursionlimit(1_000_000)
        def deep(n):
            if n == 0:
                raise ValueError
            deep(n - 1)
        try:
            deep(300_000)
        except ValueError as e:
            tb = e.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            last = tb.tb_frame
            del e, tb
        assert last.f_back is not None
        del last
        print("ok")
        """,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout == "ok\n", r.describe()
