"""Green threads for CPython < 3.13: the thread-state "sentinel" lock.

Before 3.13, ``threading.Thread`` learns that its thread ended from a lock
that ``_thread._set_sentinel()`` returns: the thread acquires it when it
starts and the interpreter releases it when the thread state is deleted;
``join()`` and ``is_alive()`` acquire it.  For a green thread the lock is a
green one, released by :func:`corolib.thread._run_thread` when the
greenlet's function returns.
"""

from __future__ import annotations

from typing import Any

from corolib._core import getcurrent
from corolib._green_locks import LockType

__all__ = ["_set_sentinel", "_release_sentinels"]

#: id(greenlet) -> the sentinel locks it must release when it ends
_sentinels: dict[int, list[Any]] = {}


def _set_sentinel() -> Any:
    """Return a new green lock to be released when the current green thread ends."""
    lock = LockType()
    _sentinels.setdefault(id(getcurrent()), []).append(lock)
    return lock


def _release_sentinels() -> None:
    """Release the sentinel locks of the current green thread (it is ending)."""
    for lock in _sentinels.pop(id(getcurrent()), ()):
        if lock.locked():
            lock.release()
