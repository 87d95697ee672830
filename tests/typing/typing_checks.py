"""Checked by ``mypy --strict`` (tests/typing/test_typing.py), never run.

What users' code sees: results typed by the function that produces them.
"""

from __future__ import annotations

from collections.abc import Iterator

from typing_extensions import assert_type

import corolib
from corolib.pool import Group, IMap, IMapUnordered, Pool
from corolib.queue import Channel, LifoQueue, PriorityQueue, Queue, SimpleQueue
from corolib.sync import AsyncResult
from corolib.threadpool import ThreadPool


def add(a: int, b: int) -> int:
    return a + b


def name(n: int) -> str:
    return str(n)


def greenlets() -> None:
    g = corolib.spawn(add, 1, 2)
    assert_type(g, corolib.Greenlet[int])
    assert_type(g.get(), int)
    assert_type(g.get(timeout=1.0), int)
    assert_type(g.value, int)
    later = corolib.spawn_later(0.1, name, 3)
    assert_type(later, corolib.Greenlet[str])
    made = corolib.Greenlet(name, 1)
    assert_type(made, corolib.Greenlet[str])
    done: list[corolib.Greenlet[int]] = corolib.joinall([g])
    assert_type(done, list[corolib.Greenlet[int]])


def results() -> None:
    r: AsyncResult[int] = AsyncResult()
    r.set(5)
    assert_type(r.get(), int)
    assert_type(r.value, int | None)
    assert_type(r.result(), int)
    assert_type(ThreadPool(2).spawn(name, 1), AsyncResult[str])


def queues() -> None:
    q: Queue[int] = Queue()
    q.put(1)
    assert_type(q.get(), int)
    assert_type(q.get_nowait(), int)
    assert_type(q.peek(), int)
    for item in q:
        assert_type(item, int)
    s: SimpleQueue[str] = SimpleQueue()
    assert_type(s.get(), str)
    assert_type(LifoQueue[bytes]().get(), bytes)
    assert_type(PriorityQueue[float]().get(), float)
    c: Channel[int] = Channel()
    assert_type(c.get(), int)


def pools() -> None:
    pool = Pool(4)
    assert_type(pool.map(name, [1, 2]), list[str])
    assert_type(pool.imap(name, [1, 2]), IMap[str])
    assert_type(pool.imap(add, [1], [2]), IMap[int])
    assert_type(pool.imap_unordered(name, range(3)), IMapUnordered[str])
    it: Iterator[str] = iter(pool.imap(name, [1]))
    assert_type(next(it), str)
    assert_type(pool.apply(add, (1, 2)), int)
    assert_type(Group().map(name, [1]), list[str])
