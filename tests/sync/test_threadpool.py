"""ThreadPool: real threads, cooperative waiting, errors with tracebacks, no LoopExit."""

import threading
import time

import pytest

import corolib
from corolib import AsyncResult, InvalidThreadUseError, sleep, spawn
from corolib.threadpool import DEFAULT_SIZE, ThreadPool, get_threadpool


def test_runs_in_real_threads_while_greenlets_keep_running():
    pool = ThreadPool(2)
    main_thread = threading.get_ident()
    gate = threading.Event()

    def ticker():
        for _ in range(5):
            sleep(0.001)
        gate.set()  # only greenlets running meanwhile can release the thread

    g = spawn(ticker)
    result = pool.spawn(lambda: (gate.wait(10), threading.get_ident()))
    assert isinstance(result, AsyncResult)
    released, ident = result.get()
    assert released and ident != main_thread
    g.join()
    pool.kill()


def test_waiting_for_a_job_never_raises_loop_exit():
    # Nothing but the thread can wake us: the pool keeps the hub alive.
    pool = ThreadPool(1)
    assert pool.apply(time.sleep, (0.05,)) is None
    assert corolib.get_hub().statistics()["timers"] == 0  # keep-alive gone
    pool.kill()


def test_thousand_jobs_some_raising():
    pool = ThreadPool(8)

    def job(i):
        if i % 7 == 0:
            raise ValueError(i)
        return i * i

    results = [pool.spawn(job, i) for i in range(1000)]
    assert pool.statistics()["threads"] <= 8
    for i, r in enumerate(results):
        if i % 7 == 0:
            with pytest.raises(ValueError) as info:
                r.get()
            assert info.value.args == (i,)
            # the traceback shows where it was raised, in the worker
            assert any(entry.name == "job" for entry in info.traceback)
        else:
            assert r.get() == i * i
    assert pool.join(timeout=1) is True
    assert pool.statistics()["pending"] == 0
    pool.kill()


def test_map_imap_apply_async():
    pool = ThreadPool(4)
    assert pool.map(abs, [-1, -2, 3]) == [1, 2, 3]
    assert list(pool.imap(pow, range(20), [2] * 20)) == [x * x for x in range(20)]
    got = []
    r = pool.apply_async(divmod, (9, 4), callback=got.append)
    assert r.get() == (2, 1)
    sleep(0.001)
    assert got == [(2, 1)]
    with pytest.raises(ZeroDivisionError):
        pool.map(lambda x: 1 / x, [1, 0])
    pool.kill()


def test_get_timeout_and_join_timeout():
    pool = ThreadPool(1)
    gate = threading.Event()
    r = pool.spawn(gate.wait, 5)
    with pytest.raises(corolib.Timeout):
        r.get(timeout=0.01)
    assert pool.join(timeout=0.01) is False
    gate.set()
    assert r.get() is True
    assert pool.join() is True
    pool.kill()


def test_kill_cancels_queued_jobs():
    pool = ThreadPool(1)
    gate = threading.Event()
    running = pool.spawn(gate.wait, 5)
    queued = [pool.spawn(lambda: "never") for _ in range(3)]
    sleep(0.01)
    pool.kill()
    for r in queued:
        with pytest.raises(RuntimeError, match="killed"):
            r.get()
    gate.set()
    assert running.get() is True
    assert pool.apply(lambda: "again") == "again"  # usable after kill
    pool.kill()


def test_a_job_spawned_right_after_kill_does_not_wait_for_the_running_ones():
    pool = ThreadPool(1)
    gate = threading.Event()
    running = pool.spawn(gate.wait, 30)
    deadline = time.monotonic() + 10
    while pool.statistics()["queued"] and time.monotonic() < deadline:
        sleep(0.005)
    pool.kill()  # the running job goes on; its thread leaves after it
    with corolib.Timeout(10):
        assert pool.apply(abs, (-5,)) == 5  # a new thread, not the busy one
    assert not running.ready()
    gate.set()
    assert running.get() is True
    pool.kill()


def test_idle_threads_exit():
    pool = ThreadPool(3, idle_timeout=0.01)
    pool.map(time.sleep, [0.001] * 3)
    deadline = time.monotonic() + 2
    while pool.statistics()["threads"] and time.monotonic() < deadline:
        sleep(0.01)
    assert pool.statistics()["threads"] == 0
    assert pool.apply(lambda: 1) == 1


def test_maxsize_can_change():
    pool = ThreadPool(4)
    pool.map(time.sleep, [0.005] * 4)
    pool.maxsize = 1
    assert pool.maxsize == pool.size == 1
    assert pool.map(abs, [-1, -2]) == [1, 2]
    pool.kill()
    with pytest.raises(ValueError):
        pool.maxsize = -1


def test_default_pool_per_hub():
    pool = get_threadpool()
    assert pool is get_threadpool() and pool.maxsize == DEFAULT_SIZE
    assert pool.apply(sum, ([1, 2, 3],)) == 6
    other = []
    t = threading.Thread(target=lambda: other.append(get_threadpool()))
    t.start()
    t.join()
    assert other[0] is not pool


def test_spawn_from_another_thread_is_refused():
    pool = ThreadPool(1)
    errors = []

    def other():
        try:
            pool.spawn(abs, 1)
        except InvalidThreadUseError as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1


def test_bad_size_like_concurrent_futures():
    # ThreadPool(0) is allowed, as in gevent (jobs wait until it grows); the
    # executor refuses what concurrent.futures refuses, with its message.
    from concurrent.futures import ThreadPoolExecutor

    from corolib.threadpool import ThreadPoolExecutor as GreenExecutor

    for size in (0, -1):
        with pytest.raises(ValueError) as expected:
            ThreadPoolExecutor(size)
        with pytest.raises(ValueError) as got:
            GreenExecutor(size)
        assert str(got.value) == str(expected.value)
    with pytest.raises(ValueError):
        ThreadPool(-1)


def test_pool_works_in_a_forked_child(run_python):
    # The child has none of the parent's threads: its pool must start over.
    result = run_python(
        """
        import os
        import warnings
        from corolib.threadpool import get_threadpool

        # 3.12+ warns about forking a process with threads: that is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        pool = get_threadpool()
        assert pool.apply(abs, (-1,)) == 1
        pid = os.fork()
        if pid == 0:
            ok = pool.apply(abs, (-2,)) == 2 and pool.map(abs, [-3, -4]) == [3, 4]
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), pool.apply(abs, (-5,)))
        """,
        timeout=60,
    )
    result.expect(stdout="0 5\n")


def test_waiting_thread_job_at_exit_of_main_is_not_loop_exit(run_python):
    result = run_python(
        """
        import time
        import corolib
        from corolib.threadpool import ThreadPool

        pool = ThreadPool(2)
        r = pool.spawn(time.sleep, 0.05)
        corolib.wait()  # runs the hub until nothing is left: waits for the job
        print(r.ready())
        """
    )
    result.expect(stdout="True\n")
