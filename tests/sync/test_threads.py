"""Cross-thread use: Event, AsyncResult and Queue fed from other OS threads."""

import threading
import time

import pytest

import corolib
from corolib import AsyncResult, Event, sleep, spawn
from corolib.queue import Empty, Full, Queue, ShutDown

N_THREADS = 8


def start_threads(target, n=N_THREADS, *args):
    threads = [threading.Thread(target=target, args=(i, *args)) for i in range(n)]
    for t in threads:
        t.start()
    return threads


def join_threads(threads):
    for t in threads:
        t.join(10)
        assert not t.is_alive()


def test_event_set_from_8_threads():
    # Each thread sets its own event; greenlets wait on all of them.
    events = [Event() for _ in range(N_THREADS)]
    barrier = threading.Barrier(N_THREADS)
    woken = []

    def waiter(i):
        assert events[i].wait(10) is True  # the timeout also keeps the hub alive
        woken.append(i)

    greenlets = [spawn(waiter, i) for i in range(N_THREADS)]
    sleep(0)

    def setter(i):
        barrier.wait()
        events[i].set()

    threads = start_threads(setter)
    corolib.joinall(greenlets, timeout=10)
    join_threads(threads)
    assert sorted(woken) == list(range(N_THREADS))
    assert all(e.statistics()["waiters"] == 0 for e in events)


def test_one_event_set_by_8_racing_threads_wakes_everyone_once():
    for _ in range(20):
        e = Event()
        greenlets = [spawn(e.wait, 10) for _ in range(20)]
        sleep(0)
        threads = start_threads(lambda i, e=e: e.set())
        corolib.joinall(greenlets, timeout=10)
        join_threads(threads)
        assert [g.value for g in greenlets] == [True] * 20


def test_no_lost_wakeup_between_check_and_park():
    # A setter racing with greenlets that are about to park: none may sleep
    # through the set (each round bounded by a generous timeout).
    for _ in range(200):
        e = Event()
        t = threading.Thread(target=e.set)
        t.start()
        assert e.wait(5) is True
        t.join()


def test_async_result_from_a_thread():
    results = [AsyncResult() for _ in range(N_THREADS)]

    def worker(i):
        time.sleep(0.001 * i)
        if i % 2:
            results[i].set(i)
        else:
            results[i].set_exception(KeyError(i))

    threads = start_threads(worker)
    for i, r in enumerate(results):
        if i % 2:
            assert r.get(timeout=10) == i
        else:
            with pytest.raises(KeyError):
                r.get(timeout=10)
    join_threads(threads)


def test_queue_put_nowait_from_8_threads():
    q = Queue()
    per_thread = 2000
    got = []

    def consumer():
        while True:
            item = q.get(timeout=10)
            if item is None:
                return
            got.append(item)
            q.task_done()

    consumers = [spawn(consumer)]  # one, so that arrival order is observable
    sleep(0)

    def producer(i):
        for j in range(per_thread):
            q.put_nowait((i, j))
            if j % 100 == 0:
                time.sleep(0)

    threads = start_threads(producer)
    deadline = time.monotonic() + 20
    while len(got) < N_THREADS * per_thread and time.monotonic() < deadline:
        sleep(0.001)
    join_threads(threads)
    assert len(got) == N_THREADS * per_thread
    for i in range(N_THREADS):  # each thread's items arrive in its order
        assert [j for t, j in got if t == i] == list(range(per_thread))
    assert q.join(timeout=1) is True
    for _ in consumers:
        q.put(None)
    corolib.joinall(consumers)
    assert q.statistics()["getters"] == 0


def test_bounded_queue_from_threads_frees_waiting_putters():
    q = Queue(2)
    q.put(1)
    q.put(2)
    putter = spawn(q.put, 3, timeout=10)
    sleep(0)
    assert q.statistics()["putters"] == 1
    taken = []
    t = threading.Thread(target=lambda: taken.append(q.get_nowait()))
    t.start()
    t.join()
    putter.get(timeout=10)  # the thread's get made room; the hub admitted us
    assert taken == [1] and q.qsize() == 2
    t = threading.Thread(target=lambda: taken.append(pytest.raises(Full, q.put_nowait, 4)))
    t.start()
    t.join()


def test_waiters_in_several_threads_on_one_event():
    e = Event()
    ready = threading.Barrier(4)
    out = []

    def thread_body(i):
        def waiter():
            return e.wait(10)

        g = spawn(waiter)
        ready.wait()
        out.append(g.get())

    threads = start_threads(thread_body, 3)
    ready.wait()
    time.sleep(0.01)
    e.set()
    join_threads(threads)
    assert out == [True, True, True]


def test_queue_get_from_another_thread_and_shutdown():
    q = Queue()
    out = []

    def thread_body(i):
        try:
            while True:
                out.append(q.get(timeout=10))
        except ShutDown:
            out.append("shut")

    t = threading.Thread(target=thread_body, args=(0,))
    t.start()
    time.sleep(0.01)
    q.put_nowait("a")
    q.put_nowait("b")
    deadline = time.monotonic() + 10
    while len(out) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    q.shutdown()
    t.join(10)
    assert out == ["a", "b", "shut"]
    with pytest.raises(Empty):
        Queue().get_nowait()
