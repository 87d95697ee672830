"""Waiting for many things: ``joinall``, ``killall``, ``wait``, ``iwait``, ``idle``."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from corolib._core import GreenletExit, WaitQueue, sleep
from corolib.hub._greenlet import kill
from corolib.hub._hub import get_hub
from corolib.hub._timeout import Timeout

__all__ = ["joinall", "killall", "wait", "iwait", "idle"]


def _reject_negative_timeout(timeout: float | None) -> None:
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


class _WaitIterator:
    """What :func:`iwait` returns: an iterator, and a context manager that unlinks."""

    __slots__ = ("_collector", "_linked", "_count", "_yielded", "_deadline")

    def __init__(self, objects: Iterable[Any], timeout: float | None, count: int | None) -> None:
        _reject_negative_timeout(timeout)
        objects = list(objects)
        self._count = len(objects) if count is None else count
        self._yielded = 0
        collector = self._collector = _Collector()
        self._linked: list[Any] = []
        for obj in objects:
            if obj.ready():
                collector.done.append(obj)
            else:
                obj.rawlink(collector)
                self._linked.append(obj)
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def __iter__(self) -> _WaitIterator:
        return self

    def __next__(self) -> Any:
        collector = self._collector
        if self._yielded >= self._count:
            self.close()
            raise StopIteration
        while not collector.done:
            deadline = self._deadline
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if collector.queue.wait(remaining) is False and not collector.done:
                self.close()
                raise StopIteration
        self._yielded += 1
        return collector.done.popleft()

    def close(self) -> None:
        """Stop: unlink from every object still linked (what leaving a ``with`` does)."""
        linked, self._linked = self._linked, []
        for obj in linked:
            obj.unlink(self._collector)
        self._count = 0

    def __enter__(self) -> _WaitIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_linked", None):  # (not set if __init__ failed)
            self.close()


def iwait(
    objects: Iterable[Any], timeout: float | None = None, count: int | None = None
) -> _WaitIterator:
    """Yield each object as it becomes ready (greenlets, events, results).

    Stops after ``count`` objects, or when ``timeout`` seconds have passed.
    Objects need ``ready()``, ``rawlink(cb)`` and ``unlink(cb)``.  Also a
    context manager: leaving the ``with`` block unlinks from the objects
    not yet yielded (as gevent's).
    """
    return _WaitIterator(objects, timeout, count)


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
    _reject_negative_timeout(timeout)
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
    _reject_negative_timeout(timeout)
    if objects is None:
        return get_hub().join(timeout)
    return list(iwait(objects, timeout, count))


def idle() -> None:
    """Wait until the hub has nothing else queued to run."""
    hub = get_hub()
    sleep(0)
    while hub.statistics()["ready"] > 0:
        sleep(0)
