"""corolib.uv.Loop: run modes, stop, time, close (csrc/loop/loop.c)."""

import gc
import os
import time
import weakref

import pytest

from corolib import uv


def test_empty_loop_run_modes_return_false(loop):
    assert loop.run() is False
    assert loop.run(uv.UV_RUN_ONCE) is False
    assert loop.run(uv.UV_RUN_NOWAIT) is False
    assert loop.run(mode=uv.UV_RUN_DEFAULT) is False
    assert loop.alive is False


def test_nowait_with_pending_timer_returns_true_without_blocking(loop):
    t = uv.Timer(loop)
    fired = []
    t.start(fired.append, 10.0)
    start = time.monotonic()
    assert loop.run(uv.UV_RUN_NOWAIT) is True
    assert time.monotonic() - start < 0.5
    assert fired == []
    assert loop.alive is True
    t.close()


def test_once_blocks_until_the_timer_and_reports_no_work_left(loop):
    t = uv.Timer(loop)
    fired = []
    t.start(fired.append, 0.01)
    assert loop.run(uv.UV_RUN_ONCE) is False
    assert fired == [t]


def test_once_with_repeating_timer_reports_work_left(loop):
    t = uv.Timer(loop)
    fired = []
    t.start(fired.append, 0.001, 0.001)
    assert loop.run(uv.UV_RUN_ONCE) is True
    assert len(fired) >= 1
    t.stop()
    assert loop.run(uv.UV_RUN_NOWAIT) is False


def test_default_runs_until_no_work_is_left(loop):
    t = uv.Timer(loop)
    count = []

    def tick(timer):
        count.append(1)
        if len(count) == 5:
            timer.stop()

    t.start(tick, 0.001, 0.001)
    assert loop.run() is False
    assert len(count) == 5


def test_unreferenced_handle_does_not_keep_run_going(loop):
    t = uv.Timer(loop)
    fired = []
    t.start(fired.append, 0.001, 0.001)
    t.ref = False
    assert t.ref is False
    assert loop.alive is False
    assert loop.run() is False
    assert fired == []
    t.ref = True
    assert loop.alive is True
    t.close()


def test_invalid_mode(loop):
    with pytest.raises(ValueError, match="UV_RUN_DEFAULT"):
        loop.run(7)
    with pytest.raises(TypeError):
        loop.run("once")


def test_stop_from_a_callback_ends_run_after_the_pass(loop):
    t = uv.Timer(loop)
    count = []

    def tick(timer):
        count.append(1)
        if len(count) == 3:
            loop.stop()

    t.start(tick, 0.001, 0.001)
    assert loop.run() is True
    assert len(count) == 3
    # The stop was consumed: the next run goes on until stopped again.
    assert loop.run(uv.UV_RUN_ONCE) is True
    assert len(count) == 4
    t.close()


def test_stop_before_run_makes_one_nonblocking_pass(loop):
    t = uv.Timer(loop)
    t.start(lambda h: None, 10.0)
    loop.stop()
    start = time.monotonic()
    assert loop.run() is True
    assert time.monotonic() - start < 0.5
    t.close()


def test_now_and_update_time(loop):
    before = loop.now()
    assert isinstance(before, float)
    time.sleep(0.02)
    assert loop.now() == before  # cached
    loop.update_time()
    assert loop.now() - before >= 0.015


def test_run_is_not_reentrant(loop):
    t = uv.Timer(loop)
    errors = []

    def nested(timer):
        try:
            loop.run()
        except RuntimeError as exc:
            errors.append(str(exc))

    t.start(nested, 0)
    loop.run()
    assert errors == ["the loop is already running"]


def test_close_from_a_callback_is_refused(loop):
    t = uv.Timer(loop)
    errors = []

    def close_loop(timer):
        try:
            loop.close()
        except RuntimeError as exc:
            errors.append(str(exc))

    t.start(close_loop, 0)
    loop.run()
    assert errors == ["cannot close a running loop"]


def test_close_is_idempotent_and_later_use_raises():
    lp = uv.Loop()
    lp.close()
    lp.close()
    assert lp.closed and not lp.alive
    with pytest.raises(uv.HandleClosedError):
        lp.run()
    with pytest.raises(uv.HandleClosedError):
        lp.now()
    with pytest.raises(uv.HandleClosedError):
        lp.update_time()
    with pytest.raises(uv.HandleClosedError):
        uv.Timer(lp)
    lp.stop()  # harmless


def test_close_with_open_handles_closes_them_all():
    gc.collect()
    before = uv.live_handles()
    lp = uv.Loop()
    r, w = os.pipe()
    try:
        timer = uv.Timer(lp)
        timer.start(lambda h: None, 10.0, 1.0)
        poll = uv.Poll(lp, r)
        poll.start(uv.UV_READABLE, lambda *a: None)
        asyn = uv.Async(lp, lambda h: None)
        idle = uv.Idle(lp)
        idle.start(lambda h: None)
        stopped = uv.Prepare(lp)
        closing = uv.Check(lp)
        closed_cb = []
        closing.close(closed_cb.append)
        assert uv.live_handles() == before + 6
        lp.close()
        handles = [timer, poll, asyn, idle, stopped, closing]
        assert all(h.closed and not h.active for h in handles)
        assert closed_cb == [closing]  # a requested close callback still runs
        assert uv.live_handles() == before
        with pytest.raises(uv.HandleClosedError):
            timer.start(lambda h: None, 1)
    finally:
        os.close(r)
        os.close(w)


def test_collected_loop_warns_and_frees_its_handles():
    gc.collect()
    before = uv.live_handles()
    lp = uv.Loop()
    t = uv.Timer(lp)
    t.start(lambda h: None, 10.0)
    ref = weakref.ref(t)
    del t
    assert ref() is not None  # kept alive by the loop while active
    with pytest.warns(ResourceWarning, match="unclosed loop"):
        del lp
        gc.collect()
    assert ref() is None
    assert uv.live_handles() == before


def test_loop_takes_no_arguments():
    with pytest.raises(TypeError):
        uv.Loop(1)
    with pytest.raises(TypeError):
        uv.Loop(default=True)


def test_run_until_helper_guard(loop, run_until):
    # The helper's guard timer keeps a never-true wait from hanging.
    with pytest.raises(AssertionError, match="timed out"):
        run_until(loop, lambda: False, timeout=0.01)
