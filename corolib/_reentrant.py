"""The re-entrant part of an RLock, over any lock with ``acquire``/``release``.

:class:`corolib.sync.RLock` (over :class:`corolib.sync.Lock`) and the green
``_thread.RLock`` of :mod:`corolib.thread` (over its ``LockType``, which OS
threads can share) differ only in the lock underneath; the owner and depth
bookkeeping, and the helpers ``threading.Condition`` calls, live here once.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from corolib._core import getcurrent

__all__ = ["Reentrant"]


class Reentrant:
    """Owner + depth over ``self._block``, which a subclass sets in ``__init__``."""

    __slots__ = ("_block", "_owner", "_count")

    _block: Any
    _owner: Any
    _count: int

    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        """Acquire it (again, if the current greenlet owns it); as the lock underneath."""
        me = getcurrent()
        if self._owner is me:
            self._count += 1
            return True
        if not self._block.acquire(blocking, timeout):
            return False
        self._owner = me
        self._count = 1
        return True

    __enter__ = acquire

    def release(self) -> None:
        """Release one level; the last one frees it.  ``RuntimeError`` unless owned."""
        if self._owner is not getcurrent():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._owner = None
            self._block.release()

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _is_owned(self) -> bool:
        return self._owner is getcurrent()

    def _recursion_count(self) -> int:
        return self._count if self._owner is getcurrent() else 0

    def _release_save(self) -> tuple[int, Any]:
        if not self._count:
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, self._owner)
        self._count = 0
        self._owner = None
        self._block.release()
        return state

    def _acquire_restore(self, state: tuple[int, Any]) -> None:
        self._block.acquire()
        self._count, self._owner = state
