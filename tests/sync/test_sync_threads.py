"""Cross-thread use: Event, AsyncResult and Queue fed from other OS threads."""

import sys
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


@pytest.fixture
def tiny_switch_interval():
    """Make the GIL change hands as often as possible, to provoke races."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_no_lost_wakeup_between_check_and_park(tiny_switch_interval):
    # A setter racing with a greenlet that is about to park: it may never
    # sleep through the set (a lost wake-up would show as a 5 s wait).
    start = time.monotonic()
    for _ in range(300):
        e = Event()
        t = threading.Thread(target=e.set)
        t.start()
        assert e.wait(5) is True
        t.join()
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("maxsize", [None, 1])
def test_queue_no_lost_wakeup_between_check_and_park(tiny_switch_interval, maxsize):
    q = Queue(maxsize)
    start = time.monotonic()
    for i in range(300):
        t = threading.Thread(target=q.put_nowait, args=(i,))
        t.start()
        assert q.get(timeout=5) == i
        t.join()
    # and the other way round: a full queue emptied by a thread
    q = Queue(1)
    for i in range(300):
        q.put_nowait("old")
        t = threading.Thread(target=q.get_nowait)
        t.start()
        q.put(i, timeout=5)
        t.join()
        assert q.get_nowait() == i
    assert time.monotonic() - start < 5


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


def run_in_thread(fn):
    """Run fn() in a new OS thread; return what it returned or raised."""
    out = []

    def body():
        try:
            out.append(("ok", fn()))
        except BaseException as exc:  # noqa: BLE001
            out.append(("raised", exc))

    t = threading.Thread(target=body)
    t.start()
    t.join(10)
    return out[0]


def test_waiting_in_two_threads_at_once_is_refused():
    from corolib import InvalidThreadUseError, Lock
    from corolib.queue import Channel

    lock = Lock()
    lock.acquire()
    q = Queue()
    ch = Channel()
    waiters = [spawn(lock.acquire), spawn(q.get), spawn(ch.get)]
    sleep(0)
    for fn in (lock.acquire, q.get, ch.get, lambda: ch.put(1)):
        kind, value = run_in_thread(fn)
        assert kind == "raised" and isinstance(value, InvalidThreadUseError), (fn, value)
    assert q.statistics()["getters"] == 1 and ch.statistics()["getters"] == 1
    lock.release()
    q.put(1)
    ch.put(2)
    assert [g.get() for g in waiters] == [True, 1, 2]


def test_a_lock_can_move_to_another_thread_once_nobody_waits():
    from corolib import Lock

    lock = Lock()
    lock.acquire()
    assert spawn(lock.acquire, timeout=0.001).get() is False
    lock.release()

    def elsewhere():
        lock.acquire()
        g = spawn(lock.acquire, timeout=0.001)  # waits in this thread's hub
        return g.get()

    assert run_in_thread(elsewhere) == ("ok", False)


def test_task_done_from_a_thread_wakes_join():
    q = Queue()
    q.put(1)
    q.get()
    joiner = spawn(q.join, timeout=10)
    sleep(0)
    assert run_in_thread(q.task_done) == ("ok", None)
    assert joiner.get() is True


def test_queue_put_from_thread_racing_a_getter_about_to_park():
    # Force the worst interleaving: the thread has looked at the queue (no
    # waiter yet) but not put its item in when the greenlet starts waiting.
    # The thread must still see the waiter once its item is in.
    from collections import deque

    main_thread = threading.get_ident()
    looked, go_on = threading.Event(), threading.Event()

    class SlowToMeasure(deque):
        def __len__(self):
            if threading.get_ident() != main_thread and not looked.is_set():
                looked.set()
                go_on.wait(5)
            return deque.__len__(self)

    class RacyQueue(Queue):
        def _make_container(self, items):
            Queue._make_container(self, items)
            self._items = SlowToMeasure()
            self._push, self._pop = self._items.append, self._items.popleft
            self._putback = self._items.appendleft

    q = RacyQueue()
    t = threading.Thread(target=q.put_nowait, args=("item",))
    t.start()
    assert looked.wait(5)
    spawn(go_on.set)  # runs once the getter below has parked
    assert q.get(timeout=2) == "item"
    t.join()


def test_shutdown_from_a_thread_releases_waiting_greenlets():
    q = Queue(1)
    getter = spawn(q.get, timeout=10)
    sleep(0)
    full = Queue(1)
    full.put(0)
    putter = spawn(full.put, 1, timeout=10)
    sleep(0)
    run_in_thread(q.shutdown)
    run_in_thread(full.shutdown)
    with pytest.raises(ShutDown):
        getter.get(timeout=10)
    with pytest.raises(ShutDown):
        putter.get(timeout=10)


def test_join_in_a_thread_task_done_in_the_hub():
    q = Queue()
    for i in range(3):
        q.put(i)

    def join_elsewhere():
        return q.join(timeout=10)

    out = []
    t = threading.Thread(target=lambda: out.append(join_elsewhere()))
    t.start()
    time.sleep(0.01)
    for _ in range(3):
        q.get()
        q.task_done()
    t.join(10)
    assert out == [True]


def test_set_after_the_waiters_thread_exited():
    # The event's waiters lived in a thread that is gone: setting it from
    # here must neither fail nor queue work for that dead hub.
    e = Event()
    assert run_in_thread(lambda: e.wait(0.001)) == ("ok", False)
    hub = e._hub
    assert hub.dead
    for _ in range(3):
        e.set()
        e.clear()
    assert e.wait(0) is False
