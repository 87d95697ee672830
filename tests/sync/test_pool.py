"""Group and Pool: membership, limits, joins, kills, and the mapping helpers."""

import pytest

import corolib
from corolib import GreenletExit, Timeout, sleep, spawn
from corolib.pool import Group, IMap, IMapUnordered, Pool, PoolFull


def test_group_membership_and_join():
    group = Group()
    greenlets = [group.spawn(sleep, 0.001 * i) for i in range(5)]
    assert len(group) == 5 and all(g in group for g in greenlets)
    assert set(group) == set(greenlets)
    assert group.join() is True
    assert len(group) == 0
    assert group.join(timeout=0) is True  # empty: at once


def test_group_from_iterable_add_discard():
    g1, g2 = spawn(sleep, 0.01), spawn(sleep, 0.01)
    group = Group([g1])
    group.add(g2)
    group.discard(g1)
    assert list(group) == [g2]
    assert (
        not g1.has_links()
        or g1._links is None
        or all(link[0] != group._discard_link for link in g1._links)
    )
    group.join()
    corolib.joinall([g1, g2])


def test_group_join_timeout_and_raise_error():
    group = Group()
    group.spawn(sleep, 1)
    assert group.join(timeout=0.01) is False
    group.kill()
    assert len(group) == 0

    def fail():
        raise KeyError("member failed")

    group.spawn(fail)
    with pytest.raises(KeyError):
        group.join(raise_error=True)


def test_group_kill_and_killone():
    group = Group()
    a, b, c = (group.spawn(sleep, 10) for _ in range(3))
    group.killone(a)
    assert a.dead and a not in group and isinstance(a.value, GreenletExit)
    group.kill(block=False)
    assert len(group) == 2 and group.dying == {b, c}
    group.join()
    assert b.dead and c.dead and not group.dying


def test_group_kill_timeout():
    group = Group()

    def stubborn():
        while True:
            try:
                sleep(10)
            except GreenletExit:
                continue

    g = group.spawn(stubborn)
    sleep(0)
    group.kill(timeout=0.01)  # gives up quietly
    assert len(group) == 1
    g.kill(KeyboardInterrupt, block=False)
    with pytest.raises(KeyboardInterrupt):
        g.join()
        sleep(0)


def test_pool_never_runs_more_than_size():
    pool = Pool(10)
    active, peak = [0], [0]

    def work(i):
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        assert len(pool) <= 10
        sleep(0.0001 * (i % 3))
        active[0] -= 1
        return i

    greenlets = [pool.spawn(work, i) for i in range(200)]
    pool.join()
    assert peak[0] == 10
    assert [g.value for g in greenlets] == list(range(200))
    assert pool.free_count() == 10 and not pool.full()
    assert pool.statistics()["waiters"] == 0


def test_pool_spawn_waits_while_full_and_wait_available():
    pool = Pool(2)
    pool.spawn(sleep, 0.01)
    pool.spawn(sleep, 0.01)
    assert pool.full() and pool.free_count() == 0
    assert pool.wait_available(timeout=0) == 0
    assert pool.wait_available() >= 1
    pool.join()


def test_pool_add_blocking_false_raises_pool_full():
    pool = Pool(1)
    pool.spawn(sleep, 0.01)
    with pytest.raises(PoolFull):
        pool.add(corolib.Greenlet(sleep, 0), blocking=False)
    with pytest.raises(PoolFull):
        pool.add(corolib.Greenlet(sleep, 0), timeout=0.001)
    assert pool.statistics()["waiters"] == 0
    pool.join()


def test_pool_size_zero_and_negative():
    pool = Pool(0)
    assert pool.full() and pool.wait_available(timeout=0.001) == 0
    with pytest.raises(ValueError):
        Pool(-1)
    unbounded = Pool()
    assert unbounded.free_count() == 1 and not unbounded.full()
    for _ in range(100):
        unbounded.spawn(sleep, 0)
    unbounded.join()


def test_pool_killed_spawner_leaves_no_waiter():
    pool = Pool(1)
    pool.spawn(sleep, 1)
    spawners = [spawn(pool.spawn, sleep, 0) for _ in range(3)]
    sleep(0)
    assert pool.statistics()["waiters"] == 3
    corolib.killall(spawners)
    assert pool.statistics()["waiters"] == 0
    pool.kill()
    assert pool.free_count() == 1


def test_pool_kill_frees_slots():
    pool = Pool(3)
    for _ in range(3):
        pool.spawn(sleep, 10)
    pool.kill()
    assert len(pool) == 0 and pool.free_count() == 3
    assert pool._semaphore.counter == 3


def test_discard_of_non_member_does_not_over_release():
    pool = Pool(2)
    pool.discard(spawn(sleep, 0))
    assert pool._semaphore.counter == 2
    sleep(0)


# ---- mapping ------------------------------------------------------------------------------


def test_map_and_apply():
    pool = Pool(4)
    assert pool.map(lambda x: x * x, range(20)) == [x * x for x in range(20)]
    assert pool.apply(divmod, (7, 2)) == (3, 1)
    assert pool.apply(dict, kwds={"a": 1}) == {"a": 1}
    with pytest.raises(ZeroDivisionError):
        pool.map(lambda x: 1 / x, [1, 0, 2])


def test_apply_inline_from_a_member():
    pool = Pool(1)

    def outer():
        return pool.apply(lambda: "inner")  # would deadlock if it spawned

    assert pool.spawn(outer).get() == "inner"


def test_apply_cb_and_map_cb():
    pool = Pool(2)
    got = []
    assert pool.apply_cb(abs, (-3,), callback=got.append) == 3
    assert pool.map_cb(abs, [-1, -2], callback=got.append) == [1, 2]
    sleep(0)
    assert len(got) == 2 and 3 in got and [1, 2] in got


def test_apply_async_and_map_async():
    pool = Pool(2)
    got = []
    g = pool.apply_async(pow, (2, 10), callback=got.append)
    assert g.get() == 1024
    m = pool.map_async(str, range(3), callback=got.append)
    assert m.get() == ["0", "1", "2"]
    sleep(0)
    assert got == [1024, ["0", "1", "2"]]
    # Full: apply_async still returns at once.
    pool.spawn(sleep, 0.01)
    pool.spawn(sleep, 0.01)
    late = pool.apply_async(lambda: "late")
    assert late.get() == "late"
    pool.join()


def test_imap_keeps_order():
    pool = Pool(5)

    def slow_first(i):
        sleep(0.001 * (10 - i))
        return i

    result = pool.imap(slow_first, range(10))
    assert isinstance(result, IMap)
    assert list(result) == list(range(10))


def test_imap_unordered_does_not_wait_for_slow_items():
    pool = Pool(5)

    def work(i):
        sleep(0.5 if i == 0 else 0)
        return i

    it = pool.imap_unordered(work, range(5))
    assert isinstance(it, IMapUnordered)
    with Timeout(0.3):
        fast = [next(it) for _ in range(4)]
    assert sorted(fast) == [1, 2, 3, 4]
    pool.kill()
    assert isinstance(next(it), GreenletExit)  # the killed slow one
    with pytest.raises(StopIteration):
        next(it)


def test_imap_several_iterables_and_errors():
    pool = Pool(3)
    assert list(pool.imap(pow, [2, 3], [3, 2])) == [8, 9]
    it = pool.imap(lambda x: 10 // x, [5, 0, 2])
    assert next(it) == 2
    with pytest.raises(ZeroDivisionError):
        next(it)
    assert next(it) == 5

    def bad_input():
        yield 1
        raise ValueError("input failed")

    it = pool.imap_unordered(lambda x: x, bad_input())
    assert next(it) == 1
    with pytest.raises(ValueError, match="input failed"):
        next(it)


def test_imap_maxsize_gives_back_pressure():
    pool = Pool(100)
    started = []

    def work(i):
        started.append(i)
        return i

    it = pool.imap_unordered(work, range(50), maxsize=3)
    sleep(0.01)
    assert len(started) == 3  # the reader has taken nothing yet
    assert sorted(it) == list(range(50))
    with pytest.raises(ValueError):
        pool.imap(work, range(3), maxsize=0)


def test_imap_many_items():
    pool = Pool(50)
    n = 20_000
    assert sum(pool.imap(lambda x: x, range(n))) == n * (n - 1) // 2
    assert sum(pool.imap_unordered(lambda x: x, range(n))) == n * (n - 1) // 2
    assert len(pool) == 0


def test_group_mapping_without_limit():
    group = Group()
    assert group.map(abs, [-1, -2]) == [1, 2]
    assert not group.full() and group.wait_available() is None
