"""Interleavings that stress the saved interpreter state: data stacks that
span several chunks, C recursion, bad input to every entry point."""

import sys
import threading

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import getcurrent


def test_interleaved_deep_greenlets_keep_their_frames():
    # Each greenlet suspends at every level of a deep recursion, so many
    # data-stack chunks (3.11+) / large C-stack slices (3.10) are live and
    # interleaved at once.
    depth = 400

    def down(tag, n):
        local = (tag, n)
        if n == 0:
            getcurrent().parent.switch((tag, "bottom"))
            return 0
        if n % 25 == 0:
            getcurrent().parent.switch((tag, n))
        r = down(tag, n - 1)
        assert local == (tag, n)
        return r + 1

    gs = {tag: greenlet.greenlet(down) for tag in "abcdef"}
    pending = {tag: g.switch(tag, depth) for tag, g in gs.items()}
    rounds = 0
    while gs:
        rounds += 1
        for tag in list(gs):
            g = gs[tag]
            r = g.switch()
            if g.dead:
                assert r == depth
                del gs[tag]
            else:
                assert r[0] == tag
                pending[tag] = r
    assert rounds > depth // 25


def test_deep_python_in_main_between_switches():
    def parked(n):
        if n == 0:
            return getcurrent().parent.switch("parked")
        return parked(n - 1) + 0

    def recurse(n):
        return 0 if n == 0 else recurse(n - 1) + 1

    gs = [greenlet.greenlet(parked) for _ in range(5)]
    for i, g in enumerate(gs):
        assert g.switch(100 * (i + 1)) == "parked"
        assert recurse(600) == 600
    for g in gs:
        assert g.switch(7) == 7
        assert g.dead


class Bottom:
    def __init__(self, where):
        self.where = where

    def __repr__(self):
        self.where.parent.switch("inside repr")
        return "B"


def nested(depth, leaf):
    x = [leaf]
    for _ in range(depth):
        x = [x]
    return x


def test_c_recursion_depth_is_per_greenlet():
    # repr() of nested lists recurses in C; a greenlet parked deep inside
    # it must not use up the C recursion budget of the others.
    depth = min(400, sys.getrecursionlimit() // 3)

    def run():
        return repr(nested(depth, Bottom(getcurrent())))

    parked = []
    for _ in range(4):
        g = greenlet.greenlet(run)
        assert g.switch() == "inside repr"
        parked.append(g)
    # each of these is as deep as a parked one; together they would
    # overflow any shared counter
    for _ in range(4):
        assert repr(nested(depth, 1)).count("[") == depth + 1
    for g in parked:
        assert g.switch().count("[") == depth + 1


def test_recursion_error_inside_c_recursion_in_greenlet():
    def run():
        try:
            repr(nested(100_000, 1))
        except RecursionError:
            return "recursion error"
        return "no error"

    assert greenlet.greenlet(run).switch() == "recursion error"
    assert repr(nested(100, 1)).count("[") == 101


def test_setrecursionlimit_below_depth_of_suspended_greenlet():
    old = sys.getrecursionlimit()

    def deep(n):
        if n == 0:
            getcurrent().parent.switch()
            return deep_more(50)
        return deep(n - 1)

    def deep_more(n):
        return 0 if n == 0 else deep_more(n - 1)

    g = greenlet.greenlet(deep)
    g.switch(300)
    sys.setrecursionlimit(200)
    try:
        with pytest.raises(RecursionError):
            g.switch()
    finally:
        sys.setrecursionlimit(old)
    assert g.dead


def test_bad_input_to_module_functions():
    with pytest.raises(TypeError):
        greenlet.getcurrent(1)
    with pytest.raises(TypeError):
        greenlet.gettrace(1)
    with pytest.raises(TypeError):
        greenlet.settrace()
    with pytest.raises(TypeError):
        greenlet.settrace(1, 2)
    with pytest.raises(TypeError):
        greenlet.get_pending_cleanup_count(1)
    with pytest.raises(TypeError):
        greenlet.get_total_main_greenlets(1)


def test_bad_input_to_methods_and_attributes():
    g = greenlet.greenlet(lambda: None)
    with pytest.raises(TypeError):
        greenlet.greenlet.switch()
    with pytest.raises(TypeError):
        greenlet.greenlet.switch(1)
    with pytest.raises(TypeError):
        greenlet.greenlet.throw(g, 1, 2, 3, 4)
    with pytest.raises(AttributeError):
        g.dead = True
    with pytest.raises(AttributeError):
        g.gr_frame = None
    g.run = 42  # accepted, as in greenlet: the first switch says it is not callable
    with pytest.raises((TypeError, AttributeError)):
        del g.__dict__
    with pytest.raises(TypeError, match="not callable"):
        g.switch()


def test_gr_frame_of_suspended_greenlet_in_live_other_thread():
    ready = threading.Event()
    release = threading.Event()
    box = {}

    def in_other_thread():
        def level_two():
            getcurrent().parent.switch()

        def level_one():
            level_two()

        g = greenlet.greenlet(level_one)
        g.switch()
        box["g"] = g
        ready.set()
        release.wait(10)
        g.switch()
        del box["g"]

    t = threading.Thread(target=in_other_thread)
    t.start()
    try:
        assert ready.wait(10)
        f = box["g"].gr_frame
        names = []
        while f is not None:
            names.append(f.f_code.co_name)
            f = f.f_back
        assert names == ["level_two", "level_one"]
        assert box["g"] and not box["g"].dead
    finally:
        release.set()
        t.join(10)


def test_many_greenlets_alive_at_once(scaled):
    n = scaled(10_000)
    gs = [greenlet.greenlet(lambda i: getcurrent().parent.switch(i) * 2) for _ in range(n)]
    for i, g in enumerate(gs):
        assert g.switch(i) == i
    assert sum(g.switch(i) for i, g in enumerate(gs)) == 2 * sum(range(n))


def test_switch_between_siblings_without_returning_to_main():
    n = 200
    log = []

    def run(i):
        log.append(i)
        if i + 1 < n:
            chain[i + 1].switch(i + 1)
        return "last" if i + 1 == n else None

    chain = [greenlet.greenlet(run) for _ in range(n)]
    main = getcurrent()
    for g in chain:
        g.parent = main
    # each child switches to the next without finishing; the last one
    # returns to main, leaving the others suspended
    assert chain[0].switch(0) == "last"
    assert log == list(range(n))
    assert sum(1 for g in chain if g) == n - 1
    for g in chain[:-1]:
        assert g.switch() is None


def make_big_frame_function(n_locals):
    """A recursive function whose frame holds n_locals locals."""
    names = [f"v{i}" for i in range(n_locals)]
    body = "".join(f"    {v} = n + {i}\n" for i, v in enumerate(names))
    src = (
        "def big(n, peer):\n"
        + body
        + "    if n > 0:\n        r = big(n - 1, peer)\n"
        + "    else:\n        r = 0\n        peer.switch('bottom')\n"
        + f"    assert {names[-1]} == n + {n_locals - 1}\n"
        + "    return r + 1\n"
    )
    namespace = {}
    exec(src, namespace)  # noqa: S102 - generated test code
    return namespace["big"]


def test_frames_larger_than_a_data_stack_chunk():
    # Frames of several KiB do not fit a greenlet's first data-stack chunk
    # (3.11+); the spilled chunks must be switched and released correctly.
    big = make_big_frame_function(800)
    for _ in range(3):
        gs = [greenlet.greenlet(big) for _ in range(5)]
        for i, g in enumerate(gs):
            assert g.switch(i * 3, getcurrent()) == "bottom"
        for i, g in enumerate(gs):
            assert g.switch() == i * 3 + 1
        small = [greenlet.greenlet(lambda: getcurrent().parent.switch(1)) for _ in range(50)]
        assert sum(g.switch() for g in small) == 50
        for g in small:
            g.switch()
            assert g.dead


def test_big_frames_do_not_leak(leakcheck):
    big = make_big_frame_function(400)

    def once():
        g = greenlet.greenlet(big)
        g.switch(2, getcurrent())
        g.switch()
        g2 = greenlet.greenlet(big)
        g2.switch(1, getcurrent())
        del g2

    leakcheck(once, calls=50)
