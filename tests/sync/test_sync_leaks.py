"""No memory or reference growth over many cycles of every primitive.

Each case runs a warm-up, measures ``sys.getallocatedblocks()`` (and the
primitive's own reference count), runs the cycles, and measures again.
"""

import gc
import sys
import threading

import pytest

import corolib
from corolib import Event, Lock, RLock, Semaphore, sleep, spawn
from corolib.local import local
from corolib.pool import Pool
from corolib.queue import Channel, Queue
from corolib.threadpool import ThreadPool

#: Allowed growth in allocated blocks: allocator noise, never per-cycle growth.
SLACK = 200


def blocks():
    gc.collect()
    return sys.getallocatedblocks()


def assert_no_growth(cycle, n, *watched):
    cycle(max(1, n // 10))  # warm-up: caches, free lists, interned names
    refs = [sys.getrefcount(obj) for obj in watched]
    before = blocks()
    cycle(n)
    after = blocks()
    assert after - before < SLACK, f"{after - before} blocks more after {n} cycles"
    assert [sys.getrefcount(obj) for obj in watched] == refs


def lock_cycles(lock):
    def cycle(n):
        acquire, release = lock.acquire, lock.release
        for _ in range(n):
            acquire()
            release()

    return cycle


@pytest.mark.parametrize("cls", [Lock, Semaphore, RLock])
def test_million_acquire_release(cls, scaled):
    lock = cls()
    assert_no_growth(lock_cycles(lock), scaled(1_000_000), lock)


def test_million_queue_put_get(scaled):
    q = Queue()

    def cycle(n):
        put, get, done = q.put, q.get, q.task_done
        for i in range(n):
            put(i)
            get()
            done()

    assert_no_growth(cycle, scaled(1_000_000), q)
    assert q.unfinished_tasks == 0


def contended_lock_cycles(n):
    lock = Lock()

    def user():
        for _ in range(n):
            with lock:
                sleep(0)

    corolib.joinall([spawn(user), spawn(user)])


def bounded_queue_cycles(n):
    q = Queue(1)

    def producer():
        for i in range(n):
            q.put(i)

    def consumer():
        for _ in range(n):
            q.get()

    corolib.joinall([spawn(producer), spawn(consumer)])


def event_round_trips(n):
    ping, pong = Event(), Event()

    def a():
        for _ in range(n):
            ping.set()
            pong.wait()
            pong.clear()

    def b():
        for _ in range(n):
            ping.wait()
            ping.clear()
            pong.set()

    corolib.joinall([spawn(b), spawn(a)])


def channel_cycles(n):
    ch = Channel()

    def producer():
        for i in range(n):
            ch.put(i)

    g = spawn(producer)
    for _ in range(n):
        ch.get()
    g.join()


def timeout_cycles(n):
    lock, q, e = Lock(), Queue(), Event()
    lock.acquire()
    for _ in range(n):
        lock.acquire(timeout=0)
        e.wait(0)
        try:
            q.get(timeout=0)
        except corolib.queue.Empty:
            pass


def kill_cycles(n):
    lock, q = Lock(), Queue()
    lock.acquire()
    for _ in range(n):
        waiters = [spawn(lock.acquire), spawn(q.get)]
        sleep(0)
        corolib.killall(waiters)
    lock.release()


def local_cycles(n):
    loc = local()

    def worker(i):
        loc.value = [i]

    for _ in range(n // 100):
        corolib.joinall([spawn(worker, i) for i in range(100)])


def pool_imap_cycles(n):
    pool = Pool(20)
    for _ in pool.imap_unordered(abs, range(n)):
        pass


#: name: (cycle, count in the default run, count in the slow run)
CASES = {
    "contended lock": (contended_lock_cycles, 100_000, 1_000_000),
    "bounded queue": (bounded_queue_cycles, 100_000, 1_000_000),
    "event round trips": (event_round_trips, 100_000, 1_000_000),
    "channel": (channel_cycles, 100_000, 1_000_000),
    "timeouts": (timeout_cycles, 20_000, 200_000),
    "kills": (kill_cycles, 10_000, 100_000),
    "local": (local_cycles, 50_000, 1_000_000),
    "pool imap": (pool_imap_cycles, 50_000, 1_000_000),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_growth_with_switches(case, scaled):
    cycle, n, _ = CASES[case]
    assert_no_growth(cycle, scaled(n))


def test_no_growth_threadpool(scaled):
    pool = ThreadPool(4)

    def cycle(n):
        pool.map(abs, range(n))

    assert_no_growth(cycle, scaled(10_000))
    pool.kill()


def test_no_growth_event_set_from_threads(scaled):
    def cycle(n):
        for _ in range(n):
            e = Event()
            t = threading.Thread(target=e.set)
            t.start()
            e.wait(5)
            t.join()

    assert_no_growth(cycle, scaled(300))


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_no_growth_with_switches_long(case, scaled):
    cycle, _, n = CASES[case]
    assert_no_growth(cycle, scaled(n))
