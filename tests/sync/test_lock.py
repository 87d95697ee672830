"""Semaphores and locks: hand-over order, timeouts, kills, misuse (as in threading)."""

import threading

import pytest

import corolib
from corolib import (
    BoundedSemaphore,
    DummySemaphore,
    Lock,
    RLock,
    Semaphore,
    Timeout,
    getcurrent,
    sleep,
    spawn,
)

ALL = [Semaphore, BoundedSemaphore, Lock]


def holders(sem, n, log):
    def hold(i):
        with sem:
            log.append(("in", i))
            sleep(0.001)
            log.append(("out", i))

    return [spawn(hold, i) for i in range(n)]


@pytest.mark.parametrize("cls", ALL)
def test_uncontended_acquire_never_switches(cls):
    lock = cls()
    hub = corolib.get_hub()
    before = hub.statistics()["switches"]
    for _ in range(100):
        assert lock.acquire() is True
        assert lock.locked()
        lock.release()
    assert not lock.locked()
    assert hub.statistics()["switches"] == before


def test_semaphore_counts():
    sem = Semaphore(3)
    assert [sem.acquire(False) for _ in range(4)] == [True, True, True, False]
    assert sem.counter == 0 and sem.locked()
    sem.release()
    assert sem.counter == 1 and sem.statistics() == {"counter": 1, "waiters": 0}


@pytest.mark.parametrize("cls", ALL)
def test_waiters_are_served_in_fifo_order(cls):
    lock = cls()
    lock.acquire()
    order = []

    def waiter(i):
        with lock:
            order.append(i)

    greenlets = [spawn(waiter, i) for i in range(20)]
    sleep(0)
    assert lock.statistics()["waiters"] == 20
    lock.release()
    corolib.joinall(greenlets)
    assert order == list(range(20))
    assert lock.statistics()["waiters"] == 0 and not lock.locked()


def test_release_hands_over_no_barging():
    # A greenlet that releases and re-acquires at once queues behind the waiter.
    lock = Lock()
    log = []

    def greedy():
        for _ in range(3):
            with lock:
                log.append("greedy")
                sleep(0)

    def polite():
        with lock:
            log.append("polite")

    g1 = spawn(greedy)
    g2 = spawn(polite)
    corolib.joinall([g1, g2])
    assert log == ["greedy", "polite", "greedy", "greedy"]


def test_semaphore_bounds_concurrency():
    sem = Semaphore(3)
    active, peak = [0], [0]

    def work():
        with sem:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            sleep(0.001)
            active[0] -= 1

    corolib.joinall([spawn(work) for _ in range(30)])
    assert peak[0] == 3 and sem.counter == 3


@pytest.mark.parametrize("cls", ALL)
def test_acquire_timeout(cls):
    lock = cls(0) if cls is Semaphore else cls()
    if cls is not Semaphore:
        lock.acquire()
    assert lock.acquire(timeout=0.01) is False
    assert lock.acquire(timeout=0) is False
    assert lock.acquire(blocking=False) is False
    assert lock.statistics()["waiters"] == 0


def test_lock_timeout_minus_one_means_forever():
    lock = Lock()
    lock.acquire()
    g = spawn(lock.acquire, True, -1)
    sleep(0.005)
    assert not g.ready()
    lock.release()
    assert g.get() is True


def test_semaphore_negative_timeout_does_not_wait():
    sem = Semaphore(0)
    assert sem.acquire(timeout=-1) is False  # as threading.Semaphore


@pytest.mark.parametrize("cls", ALL)
def test_killed_waiter_leaves_no_waiter_behind(cls):
    lock = cls()
    lock.acquire()
    greenlets = [spawn(lock.acquire) for _ in range(10)]
    sleep(0)
    assert lock.statistics()["waiters"] == 10
    for g in greenlets:
        g.kill()
    assert lock.statistics()["waiters"] == 0
    lock.release()
    assert not lock.locked()


@pytest.mark.parametrize("cls", ALL)
def test_waiter_killed_after_hand_over_passes_it_on(cls):
    lock = cls()
    lock.acquire()
    first = spawn(lock.acquire)
    second = spawn(lock.acquire)
    sleep(0)
    lock.release()  # handed to `first`, which has not run yet
    first.kill()  # ... and dies before it does: the unit must go to `second`
    assert second.get() is True
    assert first.value.__class__ is corolib.GreenletExit
    assert lock.locked() and lock.statistics()["waiters"] == 0
    lock.release()
    assert not lock.locked()


def test_timeout_context_while_waiting():
    lock = Lock()
    lock.acquire()
    with pytest.raises(Timeout):
        with Timeout(0.01):
            lock.acquire()
    assert lock.statistics()["waiters"] == 0
    lock.release()


def test_semaphore_wait_does_not_take_a_unit():
    sem = Semaphore(0)
    g = spawn(sem.wait)
    sleep(0)
    sem.release()
    assert g.get() == 1
    assert sem.counter == 1
    assert Semaphore(0).wait(0.01) == 0


# ---- RLock ----------------------------------------------------------------------------


def test_rlock_reentrant_and_owned():
    lock = RLock()
    with lock:
        with lock:
            assert lock.statistics()["owner"] is getcurrent()
            assert lock.statistics()["count"] == 2
            assert lock._is_owned()
        assert lock.locked()
    assert not lock.locked()
    assert lock.statistics() == {"owner": None, "count": 0, "waiters": 0}


def test_rlock_other_greenlet_waits_fifo():
    lock = RLock()
    order = []

    def user(i):
        with lock:
            with lock:
                order.append(i)
                sleep(0)

    corolib.joinall([spawn(user, i) for i in range(10)])
    assert order == list(range(10))


def test_rlock_release_by_non_owner_raises():
    lock = RLock()
    lock.acquire()
    g = spawn(lock.release)
    with pytest.raises(RuntimeError, match="cannot release un-acquired lock"):
        g.get()
    lock.release()


def test_rlock_timeout_and_kill():
    lock = RLock()
    lock.acquire()
    assert spawn(lock.acquire, timeout=0.01).get() is False
    g = spawn(lock.acquire)
    sleep(0)
    assert lock.statistics()["waiters"] == 1
    g.kill()
    assert lock.statistics()["waiters"] == 0
    lock.release()


def test_rlock_condition_helpers():
    lock = RLock()
    lock.acquire()
    lock.acquire()
    state = lock._release_save()
    assert not lock.locked()
    lock._acquire_restore(state)
    assert lock.statistics()["count"] == 2
    lock.release()
    lock.release()


def test_dummy_semaphore():
    d = DummySemaphore(5)
    assert d.acquire() and d.acquire(False) and not d.locked() and d.wait() == 1
    d.release()
    with d:
        pass
    assert d.statistics() == {"counter": 1, "waiters": 0}


# ---- misuse: the same exceptions as threading --------------------------------------------

MISUSE = {
    "negative semaphore": lambda m: m.Semaphore(-1),
    "bounded over-release": lambda m: m.BoundedSemaphore(1).release(),
    "release unlocked lock": lambda m: m.Lock().release(),
    "release unowned rlock": lambda m: m.RLock().release(),
    "lock timeout without blocking": lambda m: m.Lock().acquire(False, 1),
    "lock negative timeout": lambda m: m.Lock().acquire(True, -2),
    "semaphore timeout without blocking": lambda m: m.Semaphore().acquire(False, 1),
}


@pytest.mark.parametrize("case", sorted(MISUSE))
def test_misuse_raises_like_threading(case):
    with pytest.raises(Exception) as expected:
        MISUSE[case](threading)
    with pytest.raises(type(expected.value)) as got:
        MISUSE[case](corolib)
    if case != "lock negative timeout":  # the message changed in 3.13
        assert str(got.value) == str(expected.value)


def test_release_from_another_thread_while_waited_on_raises():
    lock = Lock()
    lock.acquire()
    g = spawn(lock.acquire)
    sleep(0)
    errors = []

    def other():
        try:
            lock.release()
        except corolib.InvalidThreadUseError as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1
    lock.release()
    assert g.get() is True
    lock.release()
