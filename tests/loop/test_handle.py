"""The shared handle lifecycle (csrc/loop/handle.c, csrc/uv/uv_handle.c):
close, use after close, keep-alive, references, threads, leaks."""

import gc
import os
import socket
import sys
import threading
import time
import weakref

import pytest

from corolib import uv


def _make_all(loop, sock):
    return [
        uv.Timer(loop),
        uv.Poll(loop, sock),
        uv.Async(loop, lambda h: None),
        uv.Prepare(loop),
        uv.Check(loop),
        uv.Idle(loop),
    ]


def test_common_attributes(loop):
    a, b = socket.socketpair()
    try:
        for h in _make_all(loop, a):
            assert isinstance(h, uv.Handle)
            assert h.loop is loop
            assert h.closed is False
            assert h.ref is True
            assert h.active is isinstance(h, uv.Async)
            h.close()
    finally:
        a.close()
        b.close()


def test_handle_base_is_not_instantiable():
    with pytest.raises(TypeError):
        uv.Handle()


def test_close_callback_runs_from_run(loop):
    t = uv.Timer(loop)
    t.start(lambda h: None, 10.0)
    closed = []
    t.close(closed.append)
    assert t.closed and not t.active
    assert closed == []  # uv_close completes inside the next pass
    assert loop.alive
    assert loop.run() is False
    assert closed == [t]


def test_close_inside_own_callback(loop):
    t = uv.Timer(loop)
    closed = []
    t.start(lambda h: h.close(closed.append), 0.001, 0.001)
    loop.run()
    assert closed == [t]


def test_close_drops_a_pending_event(loop):
    a, b = uv.Timer(loop), uv.Timer(loop)
    fired = []
    a.start(lambda h: (fired.append("a"), b.close()), 0)
    b.start(lambda h: fired.append("b"), 0)
    loop.run()
    assert fired == ["a"]
    a.close()


def test_use_after_close_raises(loop):
    a, b = socket.socketpair()
    try:
        handles = _make_all(loop, a)
        for h in handles:
            h.close()
        timer, poll, asyn, prepare, check, idle = handles
        calls = [
            lambda: timer.start(lambda h: None, 1),
            timer.stop,
            timer.again,
            lambda: timer.repeat,
            lambda: setattr(timer, "repeat", 1),
            lambda: poll.start(uv.UV_READABLE, lambda *a: None),
            poll.stop,
            poll.fileno,
            asyn.send,
            lambda: prepare.start(lambda h: None),
            prepare.stop,
            check.stop,
            idle.stop,
            lambda: timer.ref,
            lambda: setattr(idle, "ref", False),
            timer.close,
        ]
        for call in calls:
            with pytest.raises(uv.HandleClosedError):
                call()
        loop.run()
        for call in calls:  # also once the close completed
            with pytest.raises(uv.HandleClosedError):
                call()
        assert all(h.closed and not h.active for h in handles)
    finally:
        a.close()
        b.close()


def test_close_rejects_non_callable(loop):
    t = uv.Timer(loop)
    with pytest.raises(TypeError, match="callable"):
        t.close(3)
    assert not t.closed
    t.close()


def test_active_handle_lives_without_references(loop):
    fired = []
    t = uv.Timer(loop)
    ref = weakref.ref(t)
    t.start(fired.append, 0.001)
    del t
    gc.collect()
    assert ref() is not None
    loop.run()
    assert len(fired) == 1
    del fired[:]
    gc.collect()
    assert ref() is None  # inactive and unreferenced: freed


def test_inactive_handle_is_freed_with_its_last_reference(loop):
    before = uv.live_handles()
    t = uv.Timer(loop)
    ref = weakref.ref(t)
    assert uv.live_handles() == before + 1
    del t
    assert ref() is None
    assert uv.live_handles() == before + 1  # closing inside the next pass
    loop.run()
    assert uv.live_handles() == before


def test_closing_handle_lives_until_its_callback(loop):
    t = uv.Timer(loop)
    ref = weakref.ref(t)
    seen = []
    t.close(lambda h: seen.append(h is ref()))
    del t
    gc.collect()
    assert ref() is not None
    loop.run()
    assert seen == [True]
    gc.collect()
    assert ref() is None


def test_no_reference_leaks_on_callbacks(loop):
    def cb(h):
        pass

    t = uv.Timer(loop)
    base = sys.getrefcount(cb)
    for _ in range(100):
        t.start(cb, 0)
        loop.run()
    t.close(cb)
    loop.run()
    assert sys.getrefcount(cb) == base
    del t


# ASan keeps freed memory in quarantine: RSS says nothing there.
_flat_rss = pytest.mark.skipif(
    "asan" in os.environ.get("LD_PRELOAD", "")
    and "quarantine_size_mb=0" not in os.environ.get("ASAN_OPTIONS", ""),
    reason="RSS is meaningless under ASan's quarantine",
)


def _rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@pytest.mark.slow
@_flat_rss
def test_hundred_thousand_timers_flat_memory(loop):
    def cb(h):
        pass

    def batch(n):
        for i in range(n):
            t = uv.Timer(loop)
            t.start(cb, 1.0, 0.5)
            t.close()
            if i % 1000 == 999:
                loop.run(uv.UV_RUN_NOWAIT)
        loop.run()

    before_handles = uv.live_handles()
    refs = sys.getrefcount(cb)
    batch(20_000)  # warm up allocator pools
    gc.collect()
    rss = _rss_kib()
    batch(100_000)
    gc.collect()
    grown = _rss_kib() - rss
    assert grown < 2048, f"RSS grew by {grown} KiB over 100,000 timers"
    assert uv.live_handles() == before_handles
    assert sys.getrefcount(cb) == refs


@pytest.mark.slow
@_flat_rss
def test_hundred_thousand_dropped_handles_flat_memory(loop):
    # Never closed by the user: each is closed when its object dies.
    def batch(n):
        for i in range(n):
            uv.Timer(loop)
            uv.Idle(loop)
            if i % 1000 == 999:
                loop.run(uv.UV_RUN_NOWAIT)
        loop.run()

    before_handles = uv.live_handles()
    batch(20_000)
    rss = _rss_kib()
    batch(100_000)
    grown = _rss_kib() - rss
    assert grown < 2048, f"RSS grew by {grown} KiB"
    assert uv.live_handles() == before_handles


def _wait_until_loop_waits(loop):
    """From another thread: return once the loop's thread is inside uv_run
    (the loop then refuses this thread)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            loop.now()
        except RuntimeError:
            return
        time.sleep(0.001)
    raise AssertionError("the loop never entered uv_run")


def test_other_thread_is_refused_while_the_loop_waits(loop):
    t = uv.Timer(loop)
    t.start(lambda h: None, 10.0)
    results = {}
    woke = []
    a = uv.Async(loop, lambda h: woke.append(1))

    def other():
        _wait_until_loop_waits(loop)
        for name, call in [
            ("stop", t.stop),
            ("active", lambda: t.active),
            ("close", t.close),
            ("alive", lambda: loop.alive),
            ("update_time", loop.update_time),
            ("run", loop.run),
            ("new handle", lambda: uv.Timer(loop)),
        ]:
            try:
                call()
                results[name] = "ok"
            except RuntimeError as exc:
                results[name] = str(exc)
        a.send()  # the one thing allowed

    thread = threading.Thread(target=other)
    thread.start()
    while not woke:
        loop.run(uv.UV_RUN_ONCE)
    thread.join()
    for name in ("stop", "active", "close", "new handle"):
        assert results[name].startswith("the loop is running in another thread"), name
    for name in ("alive", "update_time", "run"):
        assert results[name] == "the loop is running in another thread", name
    assert t.active and not t.closed
    t.close()
    a.close()


def test_handle_dropped_on_another_thread_while_the_loop_waits(loop):
    before = uv.live_handles()
    victim = [uv.Timer(loop)]
    ref = weakref.ref(victim[0])
    a = uv.Async(loop, lambda h: None)

    def other():
        _wait_until_loop_waits(loop)
        victim.clear()  # frees the object while uv_run runs elsewhere
        assert ref() is None
        a.send()

    thread = threading.Thread(target=other)
    thread.start()
    loop.run(uv.UV_RUN_ONCE)
    thread.join()
    assert ref() is None
    a.close()
    loop.run()
    assert uv.live_handles() == before
