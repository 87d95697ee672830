"""Green replacements for names of the standard :mod:`threading` module.

:func:`corolib.monkey.patch_thread` puts these into ``threading`` (and the
green ``_thread`` of :mod:`corolib.thread` underneath), so that
``threading.Thread`` runs in a greenlet and every lock, condition, event,
semaphore and barrier parks greenlets instead of blocking the OS thread.
The stdlib's pure-Python classes (``Thread``, ``Condition``,
``Semaphore``, ``Barrier``, ``Timer``) stay the stdlib's: they become green
because the primitives under them are.

- :class:`Event`: :class:`corolib.sync.Event` with ``threading.Event``'s
  extras (``_at_fork_reinit``, its ``repr``).  It may be set from any OS
  thread.
- :data:`Lock`, :data:`RLock`, :func:`get_ident`: from :mod:`corolib.thread`.
- :data:`local`: :class:`corolib.local.local` (per greenlet).

Switch points: ``Event.wait`` when the flag is not set; lock acquisition
when the lock is taken (see :mod:`corolib.thread`).
"""

from __future__ import annotations

import warnings
from time import monotonic as _monotonic
from typing import Any

from corolib._green_locks import LockType, RLock as _RLockType, _real_count, get_ident as get_ident
from corolib.local import local as local
from corolib.sync import Event as _SyncEvent, _Notifier

__all__ = ["Event", "Lock", "RLock", "get_ident", "local"]

Lock = LockType
RLock = _RLockType

#: Longest an Event waiter parks at a time while other OS threads exist: a
#: set() from another thread cannot keep this thread's hub from deciding
#: that nothing will ever wake it.
_CROSS_THREAD_SLICE = 0.05


class Event(_SyncEvent):
    """``threading.Event`` for green threads: a flag greenlets (and threads) wait for."""

    __slots__ = ()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set or ``timeout`` seconds passed; return the flag."""
        if self._flag:
            return True
        if not _real_count():
            return _SyncEvent.wait(self, timeout)
        return self._wait_sliced(timeout)

    def _wait_sliced(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else _monotonic() + max(timeout, 0.0)
        while True:
            wait = _CROSS_THREAD_SLICE
            if deadline is not None:
                wait = min(wait, max(deadline - _monotonic(), 0.0))
            if _SyncEvent.wait(self, wait):
                return True
            if deadline is not None and _monotonic() >= deadline:
                return False

    def isSet(self) -> bool:  # noqa: N802 - the deprecated spelling, with its warning
        """Deprecated alias of :meth:`is_set` (as ``threading.Event.isSet``)."""
        warnings.warn(
            "isSet() is deprecated, use is_set() instead", DeprecationWarning, stacklevel=2
        )
        return self.is_set()

    def _at_fork_reinit(self) -> None:
        flag = self._flag
        _Notifier.__init__(self)
        self._flag = flag

    def __repr__(self) -> str:
        cls = type(self)
        # What threading.Event is once patched; a subclass says its own name.
        name = "threading.Event" if cls is Event else f"{cls.__module__}.{cls.__qualname__}"
        status = "set" if self._flag else "unset"
        return f"<{name} at {id(self):#x}: {status}>"

    def __reduce__(self) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")
