"""Long-running create/switch/finish loops: memory and refcounts stay flat."""

import gc
import sys

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import getcurrent


def measure(rss_kib, fn, batches, per_batch):
    """Run fn per_batch times, batches times; return blocks and RSS after each."""
    blocks, rss = [], []
    for _ in range(batches):
        for _ in range(per_batch):
            fn()
        gc.collect()
        blocks.append(sys.getallocatedblocks())
        rss.append(rss_kib())
    return blocks, rss


def assert_flat(blocks, rss_values, *, block_slack=200, rss_slack_kib=2048):
    # the first batch warms caches up; from the second on nothing may grow
    assert max(blocks[1:]) - blocks[1] <= block_slack, blocks
    assert max(rss_values[1:]) - rss_values[1] <= rss_slack_kib, rss_values


def cycle_once():
    g = greenlet.greenlet(lambda x: getcurrent().parent.switch(x) + 1)
    g.switch(1)
    g.switch(2)


@pytest.mark.slow
def test_million_create_switch_finish_cycles_flat_memory(rss, scaled):
    obj = object()
    ref_before = sys.getrefcount(obj)

    def once():
        g = greenlet.greenlet(lambda x: getcurrent().parent.switch(x))
        g.switch(obj)
        g.switch(obj)

    blocks, rss_values = measure(rss, once, batches=10, per_batch=scaled(100_000))
    assert_flat(blocks, rss_values)
    assert sys.getrefcount(obj) == ref_before


def test_hundred_thousand_kills_flat_memory(rss, scaled):
    def once():
        g = greenlet.greenlet(lambda: getcurrent().parent.switch())
        g.switch()
        del g

    blocks, rss_values = measure(rss, once, batches=5, per_batch=scaled(20_000))
    assert_flat(blocks, rss_values)


def test_throw_into_unstarted_flat_memory(rss, scaled):
    def once():
        greenlet.greenlet(lambda: None).throw()

    blocks, rss_values = measure(rss, once, batches=5, per_batch=scaled(20_000))
    assert_flat(blocks, rss_values)


def test_exceptions_across_switches_flat_memory(rss, scaled):
    def run():
        raise ValueError("x")

    def once():
        try:
            greenlet.greenlet(run).switch()
        except ValueError:
            pass

    blocks, rss_values = measure(rss, once, batches=5, per_batch=scaled(20_000))
    assert_flat(blocks, rss_values)


def test_deep_stacks_flat_memory(rss, scaled):
    # deep Python stacks spill into extra data-stack chunks (3.11+) and
    # large C-stack copies (3.10): all of it must be returned.
    def deep(n):
        if n == 0:
            return getcurrent().parent.switch()
        return deep(n - 1)

    def once():
        g = greenlet.greenlet(deep)
        g.switch(300)
        g.switch()

    blocks, rss_values = measure(rss, once, batches=6, per_batch=scaled(500))
    assert_flat(blocks, rss_values, rss_slack_kib=4096)


def test_many_live_greenlets_released(leakcheck):
    def once():
        gs = [greenlet.greenlet(lambda: getcurrent().parent.switch()) for _ in range(200)]
        for g in gs:
            g.switch()
        for g in gs:
            g.switch()

    leakcheck(once, calls=20)


def test_suspended_greenlets_released_on_drop(leakcheck):
    def once():
        gs = [greenlet.greenlet(lambda: getcurrent().parent.switch()) for _ in range(200)]
        for g in gs:
            g.switch()
        del gs

    leakcheck(once, calls=20)


def test_switch_args_refcount_in_long_loop(scaled):
    a, b = object(), object()
    before = sys.getrefcount(a), sys.getrefcount(b)

    def run():
        v = getcurrent().parent.switch()
        while v is not None:
            v = getcurrent().parent.switch(v)

    g = greenlet.greenlet(run)
    g.switch()
    for _ in range(scaled(100_000)):
        g.switch(a, k=b)
    g.switch(None)
    assert g.dead
    del g
    assert (sys.getrefcount(a), sys.getrefcount(b)) == before


def test_settrace_loop_does_not_leak(leakcheck):
    def trace(event, args):
        pass

    def once():
        old = greenlet.settrace(trace)
        try:
            cycle_once()
        finally:
            greenlet.settrace(old)

    leakcheck(once, calls=200)
