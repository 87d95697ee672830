"""gevent's thread pool API: the rest of ThreadPool, ThreadPoolExecutor, ThreadResult."""

from __future__ import annotations

import sys
import threading
import time

import pytest

import corolib
from corolib.threadpool import ThreadPool, ThreadPoolExecutor, ThreadResult


@pytest.fixture
def pool():
    p = ThreadPool(3)
    yield p
    p.kill()


def test_imap_unordered_map_async_apply_cb_map_cb(pool):
    assert sorted(pool.imap_unordered(abs, [-3, -1, -2])) == [1, 2, 3]
    # finishes first, comes first
    order = list(pool.imap_unordered(lambda d: time.sleep(d) or d, [0.2, 0.01]))
    assert order == [0.01, 0.2]
    seen: list[object] = []
    g = pool.map_async(abs, [-1, -2], callback=seen.append)
    assert g.get(timeout=10) == [1, 2] and seen == [[1, 2]]
    assert pool.apply_cb(divmod, (7, 2), callback=seen.append) == (3, 1)
    assert seen[-1] == (3, 1)
    assert pool.map_cb(abs, [-5], callback=seen.append) == [5]
    assert seen[-1] == [5]


def test_apply_async_callback_has_run_when_get_returns(pool):
    seen: list[object] = []
    g = pool.apply_async(divmod, (9, 4), callback=seen.append)
    assert g.get(timeout=10) == (2, 1)
    assert seen == [(2, 1)]


def test_len_and_maxsize_zero():
    pool = ThreadPool(0)
    try:
        r = pool.spawn(abs, -4)
        assert len(pool) == 1
        corolib.sleep(0.05)
        assert not r.ready()  # no thread may run it
        pool.maxsize = 1
        assert r.get(timeout=10) == 4
        assert len(pool) == 0
    finally:
        pool.kill()


def test_nested_use_from_its_own_workers(pool):
    # A job that uses the pool it runs in (gevent runs the inner call inline).
    assert pool.apply(lambda: pool.apply(lambda: 6 * 7)) == 42
    assert pool.apply(lambda: pool.map(abs, [-1, -2])) == [1, 2]


def test_pool_threads_see_threading_settrace(pool):
    calls: list[str] = []

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "traced_job":
            calls.append(threading.current_thread().name)
        return None

    def traced_job() -> int:
        return 1

    threading.settrace(tracer)
    try:
        assert pool.apply(traced_job) == 1
    finally:
        threading.settrace(None)  # type: ignore[arg-type]
        sys.settrace(None)
    assert len(calls) == 1


def test_thread_pool_executor():
    with ThreadPoolExecutor(2) as ex:
        futures = [ex.submit(pow, 2, n) for n in range(5)]
        assert [f.result(timeout=10) for f in futures] == [1, 2, 4, 8, 16]
        bad = ex.submit(divmod, 1, 0)
        assert isinstance(bad.exception(timeout=10), ZeroDivisionError)
        assert list(ex.map(abs, [-1, -2])) == [1, 2]
        slow = ex.submit(time.sleep, 0.2)
        ticks = corolib.spawn(lambda: [corolib.sleep(0.01) for _ in range(5)])
        slow.result(timeout=10)  # parks this greenlet: the ticker ran meanwhile
        assert ticks.ready()
    with pytest.raises(RuntimeError):
        ex.submit(abs, 1)


def test_thread_result_is_what_spawn_returns(pool):
    r = pool.spawn(abs, -1)
    assert isinstance(r, ThreadResult)
    assert r.get(timeout=10) == 1
