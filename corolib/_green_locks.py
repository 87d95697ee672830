"""Green locks and green thread identity: what :mod:`corolib.thread` exports.

See :mod:`corolib.thread` for how they wait; kept apart so that the
per-version thread modules can use them without an import cycle.
"""

from __future__ import annotations

import _thread as _real
import sys
from collections import deque
from time import monotonic as _monotonic
from types import TracebackType
from typing import Any, TypeVar

from corolib._core import (
    WaitQueue,
    get_hub as _get_hub,
    get_hub_if_exists,
    getcurrent,
    sleep as _sleep,
)
from corolib._reentrant import Reentrant

__all__ = ["get_ident", "LockType", "RLock", "allocate_lock", "CROSS_THREAD_SLICE"]

_real_allocate_lock = _real.allocate_lock
_real_get_ident = _real.get_ident
_real_count = _real._count
TIMEOUT_MAX: float = _real.TIMEOUT_MAX

#: Longest a lock waiter parks at a time while other OS threads exist
#: (a wake-up from another thread can race with the waiter's parking).
CROSS_THREAD_SLICE = 0.05

#: A failed try-lock yields when its count of failures has these bits clear.
_SPINS_PER_YIELD = 7

_NEGATIVE_TIMEOUT = (
    "timeout value must be a non-negative number"
    if sys.version_info >= (3, 13)
    else "timeout value must be positive"
)


def get_ident() -> int:
    """Return the identifier of the current green thread.

    The OS thread's identifier in its main greenlet, ``id(greenlet)`` in any
    other greenlet.
    """
    g = getcurrent()
    if g.parent is None:
        return _real_get_ident()
    return id(g)


class _LockWaiter(WaitQueue):
    """One greenlet waiting for a lock: its own queue, and the hub it parks in."""

    __slots__ = ("hub",)

    hub: Any


_W = TypeVar("_W")


def _discard(waiters: deque[_W], w: _W) -> None:
    """Remove ``w`` if a waker has not popped it already (corolib.sync uses it too)."""
    try:
        waiters.remove(w)
    except ValueError:
        pass


def _acquire_timeout(blocking: Any, timeout: Any) -> float:
    """Validate ``acquire``'s arguments as ``_thread.lock`` does; return the timeout."""
    if timeout is None:
        return -1.0
    if timeout != -1:
        if not blocking:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0:
            raise ValueError(_NEGATIVE_TIMEOUT)
        if timeout > TIMEOUT_MAX:
            raise OverflowError("timeout value is too large")
    return float(timeout)


class LockType:
    """A lock whose waiters are greenlets: ``_thread.LockType`` for green threads.

    ``acquire(blocking=True, timeout=-1)``, ``release()``, ``locked()`` and
    the context-manager protocol, with the stdlib's arguments, results and
    errors.  See the module docstring for how it waits.
    """

    __slots__ = ("_inner", "_waiters", "_spins", "__weakref__")

    def __init__(self) -> None:
        self._inner = _real_allocate_lock()
        #: failed try-locks (every few of them yield)
        self._spins = 0
        #: made on the first contended acquire (most locks never are)
        self._waiters: deque[_LockWaiter] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Like _thread.lock (3.13's threading.Lock): not a base class.
        raise TypeError(f"type '{__name__}.LockType' is not an acceptable base type")

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Lock it: True, or False if it stayed locked (``blocking=False``, or ``timeout``).

        Switches only when it is locked and the call may wait.
        """
        if timeout == -1 and self._inner.acquire(False):
            return True
        return self._acquire(blocking, timeout)

    def _acquire(self, blocking: Any, timeout: Any) -> bool:
        seconds = _acquire_timeout(blocking, timeout)
        inner = self._inner
        if inner.acquire(False):
            return True
        if not blocking or seconds == 0:
            # Every few failed try-locks yield: a greenlet spinning on
            # acquire(False) would otherwise never let the holder run (gevent
            # yields on each; a single probe such as Thread.is_alive() does
            # not switch here).  Never in the hub, which must not switch away.
            self._spins += 1
            if not self._spins & _SPINS_PER_YIELD and getcurrent() is not get_hub_if_exists():
                _sleep(0)
            return False
        deadline = None if seconds < 0 else _monotonic() + seconds
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = deque()
        w = _LockWaiter()
        w.hub = _get_hub()
        while True:
            # Queue first, then retry: a release after the retry finds us.
            waiters.append(w)
            if inner.acquire(False):
                _discard(waiters, w)
                return True
            wait: float | None = None
            if deadline is not None:
                wait = deadline - _monotonic()
                if wait <= 0:
                    _discard(waiters, w)
                    self._pass_on()
                    return False
            if _real_count():
                wait = CROSS_THREAD_SLICE if wait is None else min(wait, CROSS_THREAD_SLICE)
            try:
                w.wait(wait)
            except BaseException:
                _discard(waiters, w)
                self._pass_on()  # a wake-up meant for us must not be lost
                raise
            _discard(waiters, w)

    def release(self) -> None:
        """Unlock it and wake a waiter; ``RuntimeError`` if it is not locked.  Never switches."""
        self._inner.release()
        if self._waiters:
            self._wake_one()

    def _pass_on(self) -> None:
        """A waiter leaves: if the lock is free, let the next waiter try."""
        if self._waiters and not self._inner.locked():
            self._wake_one()

    def _wake_one(self) -> None:
        waiters = self._waiters
        hub = get_hub_if_exists()
        while waiters:  # (not None: only called when there are waiters)
            try:
                w = waiters.popleft()
            except IndexError:
                return
            if w.hub is hub:
                if w.wake():
                    return
            elif w.wake_threadsafe():
                return

    def locked(self) -> bool:
        """Tell whether it is locked."""
        return self._inner.locked()

    def _at_fork_reinit(self) -> None:
        self._inner = _real_allocate_lock()
        self._waiters = None

    acquire_lock = acquire
    release_lock = release
    locked_lock = locked
    __enter__ = acquire

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "locked" if self._inner.locked() else "unlocked"
        cls = type(self)
        return f"<{state} {cls.__module__}.{cls.__qualname__} object at {id(self):#x}>"


class RLock(Reentrant):
    """A re-entrant lock owned by a greenlet: ``_thread.RLock`` for green threads.

    The owner may acquire it again; it is free once released as many
    times.  Only the owner may release it.  Has what ``threading.Condition``
    needs (``_is_owned``, ``_release_save``, ``_acquire_restore``).
    ``acquire(blocking=True, timeout=-1)`` is :meth:`LockType.acquire`'s,
    plus re-entry.
    """

    __slots__ = ("__weakref__",)
    _block: LockType

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Arguments are ignored, as _thread.RLock does (threading.RLock warns).
        self._block = LockType()
        self._owner = None
        self._count = 0

    def locked(self) -> bool:
        """Tell whether some greenlet owns it."""
        return self._block.locked()

    def _at_fork_reinit(self) -> None:
        self._block._at_fork_reinit()
        self._owner = None
        self._count = 0

    def __repr__(self) -> str:
        owner = self._owner
        if owner is None:
            ident = 0
        elif owner is getcurrent():
            ident = get_ident()
        else:
            ident = id(owner)
        state = "locked" if self._block.locked() else "unlocked"
        cls = type(self)
        return (
            f"<{state} {cls.__module__}.{cls.__qualname__} object owner={ident} "
            f"count={self._count} at {id(self):#x}>"
        )


#: ``_thread.allocate_lock()``: the class itself, so that, like the builtin, it
#: does not become a method when stored as a class attribute.
allocate_lock = LockType


allocate = allocate_lock
