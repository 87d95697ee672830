"""Queues: order, hand-over, timeouts, kills, task tracking, shutdown, misuse (as in queue)."""

import queue as stdlib_queue
import sys

import pytest

import corolib
from corolib import Timeout, sleep, spawn
from corolib.queue import (
    Channel,
    Empty,
    Full,
    JoinableQueue,
    LifoQueue,
    PriorityQueue,
    Queue,
    ShutDown,
    SimpleQueue,
)

QUEUES = [Queue, SimpleQueue, LifoQueue, PriorityQueue]


def test_standard_library_exceptions():
    assert Empty is stdlib_queue.Empty and Full is stdlib_queue.Full
    if sys.version_info >= (3, 13):
        assert ShutDown is stdlib_queue.ShutDown
    assert issubclass(ShutDown, Exception)
    assert JoinableQueue is Queue


ORDERS = [
    (Queue, [3, 1, 2]),
    (SimpleQueue, [3, 1, 2]),
    (LifoQueue, [2, 1, 3]),
    (PriorityQueue, [1, 2, 3]),
]


@pytest.mark.parametrize("cls, expected", ORDERS)
def test_order(cls, expected):
    q = cls()
    for item in (3, 1, 2):
        q.put(item)
    assert q.qsize() == len(q) == 3 and not q.empty() and not q.full()
    assert q.peek() == expected[0] and q.peek_nowait() == expected[0]
    twin = q.copy()
    assert type(twin) is cls and [twin.get() for _ in range(3)] == expected
    assert [q.get() for _ in range(3)] == expected
    assert q.empty() and bool(q)


def test_put_and_get_without_waiting_never_switch():
    q = Queue(10)
    hub = corolib.get_hub()
    before = hub.statistics()["switches"]
    for i in range(10):
        q.put(i)
    assert q.full()
    assert [q.get() for _ in range(10)] == list(range(10))
    assert hub.statistics()["switches"] == before


@pytest.mark.parametrize("cls", QUEUES)
def test_getters_served_in_fifo_order(cls):
    q = cls()
    got = []

    def getter(i):
        got.append((i, q.get()))

    greenlets = [spawn(getter, i) for i in range(10)]
    sleep(0)
    assert q.statistics()["getters"] == 10
    for item in range(10):
        q.put(item)  # each goes straight to the oldest getter
    assert q.qsize() == 0
    corolib.joinall(greenlets)
    assert got == [(i, i) for i in range(10)]
    assert q.statistics()["getters"] == 0


def test_putters_served_in_fifo_order():
    q = Queue(1)
    q.put("first")
    greenlets = [spawn(q.put, i) for i in range(10)]
    sleep(0)
    assert q.statistics()["putters"] == 10 and q.full()
    assert [q.get() for _ in range(11)] == ["first"] + list(range(10))
    corolib.joinall(greenlets)
    assert q.statistics()["putters"] == 0 and q.unfinished_tasks == 11


@pytest.mark.parametrize("cls", QUEUES)
def test_timeouts(cls):
    q = cls(1)
    with pytest.raises(Empty):
        q.get(timeout=0.01)
    with pytest.raises(Empty):
        q.get(block=False)
    with pytest.raises(Empty):
        q.get_nowait()
    with pytest.raises(Empty):
        q.peek(timeout=0.01)
    q.put(1)
    with pytest.raises(Full):
        q.put(2, timeout=0.01)
    with pytest.raises(Full):
        q.put_nowait(2)
    assert q.statistics()["getters"] == q.statistics()["putters"] == 0
    assert q.statistics()["peekers"] == 0


def test_join_timeout():
    q = Queue()
    q.put(1)
    assert q.join(timeout=0.01) is False
    q.get()
    q.task_done()
    assert q.join(timeout=0.01) is True


def test_killed_waiters_leave_nothing_behind():
    q = Queue(1)
    getters = [spawn(q.get) for _ in range(5)]
    peekers = [spawn(q.peek) for _ in range(2)]
    sleep(0)
    assert q.statistics()["getters"] == 5 and q.statistics()["peekers"] == 2
    corolib.killall(getters + peekers)
    assert q.statistics()["getters"] == 0 and q.statistics()["peekers"] == 0
    q.put(0)
    putters = [spawn(q.put, i) for i in range(5)]
    sleep(0)
    assert q.statistics()["putters"] == 5
    corolib.killall(putters)
    assert q.statistics()["putters"] == 0
    assert q.qsize() == 1


def test_getter_killed_after_hand_over_gives_the_item_back():
    q = Queue()
    first, second = spawn(q.get), spawn(q.get)
    sleep(0)
    q.put("a")  # handed to `first`...
    first.kill()  # ... which dies before it resumes: "a" goes to `second`
    assert second.get() == "a"
    assert q.statistics()["getters"] == 0 and q.qsize() == 0


def test_getter_killed_after_hand_over_item_returns_to_front():
    q = Queue()
    g = spawn(q.get)
    sleep(0)
    q.put("x")
    q.put("y")  # queued behind
    g.kill()
    assert [q.get(), q.get()] == ["x", "y"]


def test_putter_killed_after_admission_keeps_its_item():
    q = Queue(1)
    q.put("a")
    g = spawn(q.put, "b")
    sleep(0)
    assert q.get() == "a"  # admits "b"
    g.kill()
    assert q.get() == "b"


def test_timeout_context_while_waiting():
    q = Queue()
    with pytest.raises(Timeout):
        with Timeout(0.01):
            q.get()
    assert q.statistics()["getters"] == 0


def test_task_done_and_join():
    q = Queue()
    done = []

    def worker():
        for item in q:
            sleep(0)
            done.append(item)
            q.task_done()

    workers = [spawn(worker) for _ in range(3)]
    for i in range(20):
        q.put(i)
    assert q.unfinished_tasks == 20
    assert q.join() is True
    assert sorted(done) == list(range(20)) and q.unfinished_tasks == 0
    for _ in workers:
        q.put(StopIteration)
    corolib.joinall(workers)


def test_iteration_stops_at_stopiteration():
    q = SimpleQueue(items=[1, 2, StopIteration, 3])
    assert list(q) == [1, 2]
    assert q.get() == 3


def test_peek_waits_for_an_item():
    q = Queue()
    g = spawn(q.peek)
    sleep(0)
    q.put("p")
    assert g.get() == "p"
    assert q.get() == "p"


def test_maxsize_none_zero_negative_unbounded():
    for maxsize in (None, 0, -1):
        q = Queue(maxsize)
        for i in range(1000):
            q.put_nowait(i)
        assert not q.full() and q.maxsize == maxsize


def test_many_producers_and_consumers(scaled):
    n = scaled(10_000)
    q = Queue(100)
    total = [0]

    def producer(i):
        q.put(i)

    def consumer():
        item = q.get()
        total[0] += item
        q.task_done()

    greenlets = [spawn(consumer) for _ in range(n)] + [spawn(producer, i) for i in range(n)]
    corolib.joinall(greenlets)
    assert total[0] == n * (n - 1) // 2
    assert q.join(timeout=0) is True
    stats = q.statistics()
    assert stats["getters"] == stats["putters"] == stats["size"] == 0


# ---- shutdown -----------------------------------------------------------------------------


def test_shutdown_releases_waiters_and_refuses_puts():
    q = Queue(1)
    getters = [spawn(q.get) for _ in range(3)]
    sleep(0)
    q.shutdown()
    for g in getters:
        with pytest.raises(ShutDown):
            g.get()
    with pytest.raises(ShutDown):
        q.put(1)
    with pytest.raises(ShutDown):
        q.put_nowait(1)
    with pytest.raises(ShutDown):
        q.get()
    assert q.is_shutdown


def test_shutdown_lets_getters_drain_remaining_items():
    q = Queue(2)
    q.put(1)
    q.put(2)
    putter = spawn(q.put, 3)
    sleep(0)
    q.shutdown()
    with pytest.raises(ShutDown):
        putter.get()
    assert [q.get(), q.get()] == [1, 2]
    with pytest.raises(ShutDown):
        q.get(block=False)
    assert list(q) == []  # iteration ends at shutdown


def test_shutdown_immediate_empties_and_releases_join():
    q = Queue()
    for i in range(5):
        q.put(i)
    joiner = spawn(q.join)
    sleep(0)
    q.shutdown(immediate=True)
    assert joiner.get() is True
    assert q.qsize() == 0 and q.unfinished_tasks == 0
    with pytest.raises(ShutDown):
        q.get()


# ---- Channel --------------------------------------------------------------------------------


def test_channel_rendezvous():
    ch = Channel()
    log = []

    def producer():
        for i in range(3):
            ch.put(i)
            log.append(("put", i))

    g = spawn(producer)
    sleep(0)
    assert ch.statistics() == {"getters": 0, "putters": 1} and ch.balance == 1
    assert ch.qsize() == 0 and ch.empty() and ch.full()
    for i in range(3):
        assert ch.get() == i
        log.append(("got", i))
    g.join()
    assert ("put", 0) in log


def test_channel_timeouts_and_nowait():
    ch = Channel()
    with pytest.raises(Full):
        ch.put_nowait(1)
    with pytest.raises(Full):
        ch.put(1, timeout=0.01)
    with pytest.raises(Empty):
        ch.get_nowait()
    with pytest.raises(Empty):
        ch.get(timeout=0.01)
    getter = spawn(ch.get)
    sleep(0)
    ch.put_nowait("now")
    assert getter.get() == "now"
    assert ch.statistics() == {"getters": 0, "putters": 0}


def test_channel_killed_waiters():
    ch = Channel()
    g1, g2 = spawn(ch.get), spawn(ch.put, 1)
    sleep(0)
    g2.join()  # put met the waiting get
    assert g1.get() == 1
    waiters = [spawn(ch.get) for _ in range(3)]
    sleep(0)
    corolib.killall(waiters)
    assert ch.statistics() == {"getters": 0, "putters": 0}
    getter = spawn(ch.get)
    sleep(0)
    ch.put_nowait("lost?")
    getter.kill()
    assert ch.get() == "lost?"  # handed back, not lost


def test_channel_iteration():
    ch = Channel()

    def producer():
        for i in range(3):
            ch.put(i)
        ch.put(StopIteration)

    g = spawn(producer)
    assert list(ch) == [0, 1, 2]
    g.join()


# ---- misuse: the same exceptions as the queue module -------------------------------------------

MISUSE = {
    "task_done too often": lambda m: m.Queue().task_done(),
    "get negative timeout": lambda m: m.Queue().get(timeout=-1),
    "put negative timeout": lambda m: m.Queue(1).put(1, timeout=-1),
    "get_nowait empty": lambda m: m.Queue().get_nowait(),
    "put_nowait full": lambda m: (m.Queue(1).put(1), m.Queue(1).put_nowait(1)) and _full(m),
}


def _full(m):
    q = m.Queue(1)
    q.put(1)
    q.put_nowait(2)


@pytest.mark.parametrize("case", sorted(MISUSE))
def test_misuse_raises_like_the_queue_module(case):
    import corolib.queue

    with pytest.raises(Exception) as expected:
        MISUSE[case](stdlib_queue)
    with pytest.raises(type(expected.value)) as got:
        MISUSE[case](corolib.queue)
    assert str(got.value) == str(expected.value)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="queue.Queue.shutdown is new in 3.13")
def test_shutdown_misuse_like_the_queue_module():
    import corolib.queue

    for module in (stdlib_queue, corolib.queue):
        q = module.Queue()
        q.put(1)
        q.shutdown()
        with pytest.raises(stdlib_queue.ShutDown):
            q.put(2)
        assert q.get() == 1
        with pytest.raises(stdlib_queue.ShutDown):
            q.get()


def test_peek_after_shutdown_returns_remaining_items():
    q = Queue()
    q.put(1)
    q.shutdown()
    assert q.peek() == 1 and q.get() == 1
    with pytest.raises(ShutDown):
        q.peek()
    waiting = Queue()
    g = spawn(waiting.peek)
    sleep(0)
    waiting.shutdown()
    with pytest.raises(ShutDown):
        g.get()


def test_simple_queue_shutdown_immediate():
    q = SimpleQueue()
    q.put(1)
    q.shutdown(immediate=True)
    assert q.qsize() == 0
    with pytest.raises(ShutDown):
        q.get()
