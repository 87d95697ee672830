"""Every blocking call: it honours a timeout, and a greenlet killed in it leaves nothing behind.

Each case builds an object on which the call must wait, and gives:
``timed(t)`` (the call with a timeout of ``t``, returning what it returns
or the exception it raises), ``blocking()`` (the call without a timeout),
``waiters()`` (what ``statistics()`` says waits) and ``cleanup()``.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import corolib
from corolib import (
    AsyncResult,
    BoundedSemaphore,
    Event,
    Lock,
    RLock,
    Semaphore,
    Timeout,
    sleep,
    spawn,
)
from corolib.pool import Group, Pool, PoolFull
from corolib.queue import Channel, Empty, Full, LifoQueue, PriorityQueue, Queue, SimpleQueue
from corolib.threadpool import ThreadPool


@dataclass
class Case:
    timed: Callable[[float], Any]
    blocking: Callable[[], Any]
    waiters: Callable[[], int]
    cleanup: Callable[[], None] = lambda: None


def outcome(fn, *args):
    try:
        return fn(*args)
    except (Timeout, Empty, Full, PoolFull) as exc:
        return type(exc)


def event():
    e = Event()
    return Case(lambda t: e.wait(t), e.wait, lambda: e.statistics()["waiters"])


def async_result_get():
    r = AsyncResult()
    return Case(lambda t: outcome(r.get, True, t), r.get, lambda: r.statistics()["waiters"])


def async_result_wait():
    r = AsyncResult()
    return Case(lambda t: r.wait(t), r.wait, lambda: r.statistics()["waiters"])


def semaphore(cls):
    def make():
        s = cls(1)
        s.acquire()
        return Case(
            lambda t: s.acquire(timeout=t), s.acquire, lambda: s.statistics()["waiters"], s.release
        )

    return make


def lock():
    lk = Lock()
    lk.acquire()
    return Case(
        lambda t: lk.acquire(timeout=t), lk.acquire, lambda: lk.statistics()["waiters"], lk.release
    )


def rlock():
    lk = RLock()
    lk.acquire()
    return Case(
        lambda t: lk.acquire(timeout=t), lk.acquire, lambda: lk.statistics()["waiters"], lk.release
    )


def semaphore_wait():
    s = Semaphore(0)
    return Case(lambda t: s.wait(t), s.wait, lambda: s.statistics()["waiters"])


def queue_get(cls):
    def make():
        q = cls()
        return Case(lambda t: outcome(q.get, True, t), q.get, lambda: q.statistics()["getters"])

    return make


def queue_put():
    q = Queue(1)
    q.put(0)
    return Case(
        lambda t: outcome(q.put, 1, True, t),
        lambda: q.put(1),
        lambda: q.statistics()["putters"],
    )


def queue_peek():
    q = Queue()
    return Case(lambda t: outcome(q.peek, True, t), q.peek, lambda: q.statistics()["peekers"])


def queue_join():
    q = Queue()
    q.put(0)
    return Case(lambda t: q.join(t), q.join, lambda: q.statistics()["joiners"])


def channel_get():
    ch = Channel()
    return Case(lambda t: outcome(ch.get, True, t), ch.get, lambda: ch.statistics()["getters"])


def channel_put():
    ch = Channel()
    return Case(
        lambda t: outcome(ch.put, 1, True, t), lambda: ch.put(1), lambda: ch.statistics()["putters"]
    )


def pool_full():
    pool = Pool(1)
    pool.spawn(sleep, 10)
    return pool


def pool_spawn():
    pool = pool_full()
    return Case(
        lambda t: outcome(pool.add, corolib.Greenlet(sleep, 0), True, t),
        lambda: pool.spawn(sleep, 0),
        lambda: pool.statistics()["waiters"],
        pool.kill,
    )


def pool_wait_available():
    pool = pool_full()
    return Case(
        lambda t: pool.wait_available(t),
        pool.wait_available,
        lambda: pool.statistics()["waiters"],
        pool.kill,
    )


def group_join():
    group = Group()
    group.spawn(sleep, 10)
    return Case(
        lambda t: group.join(t), group.join, lambda: group.statistics()["joiners"], group.kill
    )


def threadpool_job():
    pool = ThreadPool(1)
    gate = threading.Event()
    r = pool.spawn(gate.wait, 10)

    def cleanup():
        gate.set()
        r.get()
        pool.kill()

    return Case(
        lambda t: outcome(r.get, True, t), r.get, lambda: r.statistics()["waiters"], cleanup
    )


def threadpool_join():
    pool = ThreadPool(1)
    gate = threading.Event()
    r = pool.spawn(gate.wait, 10)

    def cleanup():
        gate.set()
        r.get()
        pool.kill()

    return Case(lambda t: pool.join(t), pool.join, lambda: pool.statistics()["joiners"], cleanup)


CASES = {
    "Event.wait": (event, False),
    "AsyncResult.get": (async_result_get, Timeout),
    "AsyncResult.wait": (async_result_wait, None),
    "Semaphore.acquire": (semaphore(Semaphore), False),
    "BoundedSemaphore.acquire": (semaphore(BoundedSemaphore), False),
    "Lock.acquire": (lock, False),
    "RLock.acquire": (rlock, None),  # (the owner is main: another greenlet waits)
    "Semaphore.wait": (semaphore_wait, 0),
    "Queue.get": (queue_get(Queue), Empty),
    "SimpleQueue.get": (queue_get(SimpleQueue), Empty),
    "LifoQueue.get": (queue_get(LifoQueue), Empty),
    "PriorityQueue.get": (queue_get(PriorityQueue), Empty),
    "Queue.put": (queue_put, Full),
    "Queue.peek": (queue_peek, Empty),
    "Queue.join": (queue_join, False),
    "Channel.get": (channel_get, Empty),
    "Channel.put": (channel_put, Full),
    "Pool.add/spawn": (pool_spawn, PoolFull),
    "Pool.wait_available": (pool_wait_available, 0),
    "Group.join": (group_join, False),
    "ThreadPool result": (threadpool_job, Timeout),
    "ThreadPool.join": (threadpool_join, False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_timeout(name):
    make, expected = CASES[name]
    case = make()
    if name == "RLock.acquire":
        result = spawn(case.timed, 0.02).get()  # the owner would just re-enter
        expected = False
    else:
        start = time.monotonic()
        result = case.timed(0.02)
        assert time.monotonic() - start >= 0.02
    assert result == expected
    assert case.waiters() == 0
    case.cleanup()


@pytest.mark.parametrize("name", list(CASES))
def test_killed_waiter_leaves_nothing_behind(name):
    make, _ = CASES[name]
    case = make()
    waiters = [spawn(case.blocking) for _ in range(3)]
    sleep(0)
    assert case.waiters() == 3, name
    corolib.killall(waiters)
    assert case.waiters() == 0, name
    assert all(g.dead for g in waiters)
    case.cleanup()
