"""corolib._workers: the one pool of OS worker threads behind corolib.dns and corolib.threadpool."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import corolib
import corolib.dns as dns
import corolib.thread as green_thread
from corolib._core import WaitQueue
from corolib._workers import Workers
from corolib.threadpool import ThreadPool


def wait_until(cond: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll ``cond`` (in this OS thread, the hub not running) until true; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


class Answer:
    """What a job delivers, and a WaitQueue to park on until it does."""

    def __init__(self) -> None:
        self.queue = WaitQueue()
        self.outcome: tuple[bool, Any] | None = None

    def get(self) -> Any:
        while self.outcome is None:
            self.queue.wait()
        ok, value = self.outcome
        if not ok:
            raise value
        return value


def deliver(answer: Answer, ok: bool, value: Any) -> None:
    answer.outcome = (ok, value)
    answer.queue.wake()


def submit(pool: Workers, fn: Callable[..., Any], *args: Any) -> Answer:
    answer = Answer()
    pool.submit(corolib.get_hub(), fn, args, {}, deliver, answer)
    return answer


# ---- one implementation, two users ------------------------------------------------------


def test_dns_and_threadpool_run_on_the_same_worker_implementation() -> None:
    pool = ThreadPool(2)
    try:
        assert type(dns._pool) is Workers
        assert type(pool._workers) is Workers
        assert pool._workers is not dns._pool  # two users, each with its own limit
        # A lookup's job and a thread pool's job each run in a thread their
        # own Workers started (not some other pool's thread).
        assert dns._run(dns._pool.owns_current_thread) is True
        assert dns._run(pool._workers.owns_current_thread) is False
        assert pool.apply(pool._workers.owns_current_thread) is True
        assert pool.apply(dns._pool.owns_current_thread) is False
        assert pool.statistics()["maxsize"] == pool._workers.statistics()["max_threads"] == 2
        assert dns.statistics()["threads"] == dns._pool.statistics()["threads"] >= 1
    finally:
        pool.kill()


def test_no_other_module_starts_a_pool_of_os_threads() -> None:
    # The real _thread.start_new_thread is captured by the worker pool and by
    # the monitor's single thread; a module that captures it too is growing a
    # thread pool of its own again.
    spec = importlib.util.find_spec("corolib")
    assert spec is not None and spec.submodule_search_locations
    root = pathlib.Path(next(iter(spec.submodule_search_locations)))
    capture = re.compile(r"^\s*\w+ = _thread\.start_new_thread\b|import start_new_thread", re.M)
    users = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if capture.search(path.read_text(encoding="utf-8"))
    }
    assert users == {"_workers.py", "_monitor.py"}


# ---- the pool's behaviour ----------------------------------------------------------------


def test_outcomes_and_exceptions_come_back_to_the_hub() -> None:
    pool = Workers(2, idle_timeout=10)
    assert submit(pool, divmod, 7, 2).get() == (3, 1)

    def boom() -> None:
        raise KeyError("in the worker")

    with pytest.raises(KeyError, match="in the worker") as info:
        submit(pool, boom).get()
    assert any(entry.name == "boom" for entry in info.traceback)
    pool.stop()


def test_threads_start_on_demand_up_to_the_limit_and_a_raised_limit_starts_more() -> None:
    pool = Workers(2, idle_timeout=10)
    assert pool.statistics()["threads"] == 0
    gate = threading.Event()
    answers = [submit(pool, gate.wait, 30) for _ in range(5)]
    wait_until(lambda: pool.statistics()["queued"] == 3, "two jobs taken, three waiting")
    assert pool.statistics()["threads"] == 2
    pool.set_max_threads(4)  # the waiting jobs get threads now, not at the next submit
    wait_until(lambda: pool.statistics()["queued"] == 1, "two more jobs taken")
    assert pool.statistics()["threads"] == 4
    gate.set()
    assert [a.get() for a in answers] == [True] * 5
    assert pool.statistics()["threads"] == 4  # idle, not gone yet
    pool.stop()


def test_a_lowered_limit_stops_the_extra_threads_and_the_rest_still_work() -> None:
    pool = Workers(4, idle_timeout=30)
    barrier = threading.Barrier(4, timeout=20)
    assert sorted(a.get() for a in [submit(pool, barrier.wait) for _ in range(4)]) == [0, 1, 2, 3]
    pool.set_max_threads(1)
    wait_until(lambda: pool.statistics()["threads"] == 1, "three threads to exit")
    assert pool.statistics()["stopping"] == 0
    assert [a.get() for a in [submit(pool, abs, -i) for i in range(10)]] == list(range(10))
    assert pool.statistics()["threads"] == 1
    pool.stop()


def test_idle_threads_exit() -> None:
    pool = Workers(3, idle_timeout=0.05)
    barrier = threading.Barrier(3, timeout=20)
    answers = [submit(pool, barrier.wait) for _ in range(3)]
    assert sorted(a.get() for a in answers) == [0, 1, 2]
    wait_until(lambda: pool.statistics()["threads"] == 0, "idle threads to exit")
    assert submit(pool, abs, -1).get() == 1  # and new ones start on demand


def test_the_hub_is_held_while_a_job_is_in_flight_and_released_after() -> None:
    # Only this greenlet, parked, and a worker that answers when another OS
    # thread lets it: without the hold the hub would raise LoopExit at once.
    pool = Workers(1, idle_timeout=10)
    started, gate = threading.Event(), threading.Event()

    def job() -> str:
        started.set()
        gate.wait(30)
        return "answer"

    def opener() -> None:
        started.wait(30)
        gate.set()

    opener_thread = threading.Thread(target=opener)
    opener_thread.start()
    assert submit(pool, job).get() == "answer"
    opener_thread.join(30)
    wait_until(lambda: pool.statistics()["idle"] == 1, "the worker to drop its hold")
    with pytest.raises(corolib.LoopExit):
        WaitQueue().wait()  # nothing holds the hub any more
    pool.stop()


def test_stop_drops_waiting_jobs_and_releases_their_holds() -> None:
    pool = Workers(0, idle_timeout=10)  # no thread may take them
    answers = [submit(pool, abs, -1) for _ in range(3)]
    assert pool.statistics()["queued"] == 3
    dropped = pool.stop()
    assert [token for _deliver, token in dropped] == answers
    assert pool.statistics()["queued"] == 0
    with pytest.raises(corolib.LoopExit):
        WaitQueue().wait()  # their holds are gone with them
    assert all(a.outcome is None for a in answers)  # nothing was delivered for them


def test_a_job_submitted_right_after_stop_gets_a_new_thread() -> None:
    pool = Workers(2, idle_timeout=10)
    gate = threading.Event()
    busy = [submit(pool, gate.wait, 30) for _ in range(2)]
    wait_until(lambda: pool.statistics()["queued"] == 0, "both jobs taken")
    assert pool.stop() == []  # both threads will exit after their job
    after = submit(pool, abs, -5)  # must not wait for (or be eaten by) a stopping thread
    assert after.get() == 5
    gate.set()
    assert [a.get() for a in busy] == [True, True]
    wait_until(lambda: pool.statistics()["threads"] == 1, "the stopped threads to exit")
    pool.stop()


def test_an_answer_for_a_thread_that_has_exited_is_dropped() -> None:
    # The asker gives up and its OS thread ends (its hub dies with it); the
    # worker finishes later and must neither crash nor keep anything alive.
    pool = Workers(1, idle_timeout=10)
    gate = threading.Event()
    outcome: list[str] = []

    def asker() -> None:
        try:
            with corolib.Timeout(0.01):
                submit(pool, gate.wait, 30).get()
        except corolib.Timeout:
            outcome.append("gave up")

    t = threading.Thread(target=asker)
    t.start()
    t.join(30)
    assert outcome == ["gave up"]
    gate.set()
    wait_until(lambda: pool.statistics()["idle"] == 1, "the worker to finish")
    assert submit(pool, abs, -2).get() == 2
    pool.stop()


def test_resolver_threads_are_not_counted_as_threads_but_pool_threads_are() -> None:
    # As before the two pools were one: with the stdlib a lookup starts no
    # thread (test.support's thread-leak checks count _thread._count()).
    dns._run(abs, 1)  # a resolver thread exists now (idle for IDLE_SECONDS)
    pool = ThreadPool(1, idle_timeout=30)
    before = green_thread._count()
    assert pool.apply(abs, (-1,)) == 1
    assert green_thread._count() == before + 1
    assert dns._run(abs, -2) == 2
    assert green_thread._count() == before + 1
    pool.kill()
    wait_until(lambda: green_thread._count() == before, "the pool's thread to exit")


def test_many_hubs_at_once_while_the_limit_moves() -> None:
    # Four OS threads, each with its own hub and 50 greenlets, share one pool
    # whose limit keeps changing: every job is answered in its own hub, and
    # the counts come back to rest.
    pool = Workers(3, idle_timeout=0.2)
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def user(k: int) -> None:
        try:
            lookups = [corolib.spawn(lambda i=i: submit(pool, abs, -i).get()) for i in range(50)]
            results[k] = [g.get(timeout=60) for g in lookups]
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            corolib.get_hub().destroy()

    users = [threading.Thread(target=user, args=(k,)) for k in range(4)]
    for t in users:
        t.start()
    sizes = iter([1, 4, 2, 0, 5, 3] * 1000)
    while any(t.is_alive() for t in users):
        pool.set_max_threads(next(sizes))
        time.sleep(0.001)
        if pool.max_threads == 0:
            pool.set_max_threads(1)  # (0 only for a moment: jobs wait meanwhile)
    for t in users:
        t.join(60)
    assert not errors and results == {k: list(range(50)) for k in range(4)}
    wait_until(lambda: pool.statistics()["threads"] == 0, "the threads to go idle and exit")
    stats = pool.statistics()
    assert (stats["queued"], stats["idle"], stats["stopping"]) == (0, 0, 0), stats


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        Workers(-1, idle_timeout=1)
    pool = Workers(1, idle_timeout=1)
    with pytest.raises(ValueError):
        pool.set_max_threads(-1)


# ---- process life: fork, exit --------------------------------------------------------------


def test_every_pool_starts_over_in_a_forked_child(run_python) -> None:
    run_python(
        """
        import os
        import threading
        import warnings
        from corolib import dns
        from corolib._workers import Workers
        from corolib.threadpool import ThreadPool

        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pool = ThreadPool(2)
        assert pool.apply(abs, (-1,)) == 1 and dns._run(abs, -1) == 1
        gate = threading.Event()
        busy = pool.spawn(gate.wait, 30)  # a job in flight at the fork
        pid = os.fork()
        if pid == 0:
            for workers in (pool._workers, dns._pool):
                stats = workers.statistics()
                if (stats["threads"], stats["idle"], stats["queued"]) != (0, 0, 0):
                    os._exit(2)
            ok = pool.apply(abs, (-2,)) == 2 and dns._run(abs, -3) == 3
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        gate.set()
        print(os.waitstatus_to_exitcode(status), busy.get(), pool.apply(abs, (-5,)))
        """,
        timeout=60,
    ).expect(stdout="0 True 5\n")


def test_interpreter_exit_with_workers_busy_and_idle_is_prompt(run_python) -> None:
    result = run_python(
        """
        import threading
        from corolib import dns
        from corolib.threadpool import ThreadPool

        pool = ThreadPool(3)
        assert pool.apply(abs, (-1,)) == 1 and dns._run(abs, -1) == 1  # idle threads
        never = threading.Event()
        pool.spawn(never.wait)  # busy until the process ends
        print("exiting")
        """,
        timeout=60,
    )
    result.expect(stdout="exiting\n")
