"""Waiting for many things: ``joinall``, ``killall``, ``wait``, ``iwait``, ``idle``."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from corolib._core import GreenletExit, WaitQueue, sleep
from corolib.hub._greenlet import kill
from corolib.hub._hub import get_hub
from corolib.hub._timeout import Timeout

__all__ = ["joinall", "killall", "wait", "iwait", "idle"]


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not timeout >= 0:
        raise ValueError("timeout must be non-negative")


class _Collector:
    """A rawlink callback that queues what became ready and wakes the waiter."""

    __slots__ = ("done", "queue")

    def __init__(self) -> None:
        self.done: deque[Any] = deque()
        self.queue = WaitQueue()

    def __call__(self, obj: Any) -> None:
        self.done.append(obj)
        self.queue.wake()


def iwait(
    objects: Iterable[Any], timeout: float | None = None, count: int | None = None
) -> Iterator[Any]:
    """Yield each object as it becomes ready (greenlets, events, results).

    Stops after ``count`` objects, or when ``timeout`` seconds have passed.
    Objects need ``ready()``, ``rawlink(cb)`` and ``unlink(cb)``.
    """
    _check_timeout(timeout)
    objects = list(objects)
    if count is None:
        count = len(objects)
    collector = _Collector()
    linked = []
    for obj in objects:
        if obj.ready():
            collector.done.append(obj)
        else:
            obj.rawlink(collector)
            linked.append(obj)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        yielded = 0
        while yielded < count:
            if not collector.done:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if collector.queue.wait(remaining) is False and not collector.done:
                    return
                continue
            yield collector.done.popleft()
            yielded += 1
    finally:
        for obj in linked:
            obj.unlink(collector)


def joinall(
    greenlets: Iterable[Any],
    timeout: float | None = None,
    raise_error: bool = False,
    count: int | None = None,
) -> list[Any]:
    """Wait for the greenlets to finish; return those that did.

    ``raise_error``: re-raise the first failure as soon as it happens.
    ``count``: return once that many finished.
    """
    _check_timeout(timeout)
    greenlets = list(greenlets)
    if not raise_error and count is None:
        # Waiting for each in turn finds the same set, with one park per
        # unfinished greenlet and no link bookkeeping.
        deadline = None if timeout is None else time.monotonic() + timeout
        for g in greenlets:
            if g.ready():
                continue
            if deadline is None:
                g.join()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                g.join(remaining)
        return [g for g in greenlets if g.ready()]
    done = []
    for g in iwait(greenlets, timeout, count):
        if raise_error and getattr(g, "exception", None) is not None:
            raise g.exception
        done.append(g)
    return done


def killall(
    greenlets: Iterable[Any],
    exception: type[BaseException] | BaseException = GreenletExit,
    block: bool = True,
    timeout: float | None = None,
) -> None:
    """Kill every greenlet; with ``block``, wait for them (raising Timeout after ``timeout``)."""
    greenlets = list(greenlets)
    for g in greenlets:
        kill(g, exception)
    if not block:
        return
    with Timeout(timeout):
        joinall([g for g in greenlets if hasattr(g, "ready")])


def wait(
    objects: Iterable[Any] | None = None, timeout: float | None = None, count: int | None = None
) -> Any:
    """With objects: a list of those ready (see :func:`iwait`).

    Without: run the hub until it has nothing left to do, like
    ``get_hub().join(timeout)`` (True if so, False on timeout).
    """
    _check_timeout(timeout)
    if objects is None:
        return get_hub().join(timeout)
    return list(iwait(objects, timeout, count))


def idle() -> None:
    """Wait until the hub has nothing else queued to run."""
    hub = get_hub()
    sleep(0)
    while hub.statistics()["ready"] > 0:
        sleep(0)
