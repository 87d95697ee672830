"""The one path by which corolib's networking modules wait for a file descriptor.

Every cooperative wait in ``corolib.socket``, ``corolib.select`` and
``corolib.selectors`` (and, later, ``corolib.ssl`` and the servers) goes
through :func:`wait_fd` -- except the socket hot paths (flag-less ``recv``,
``recv_into``, ``send``, ``sendall``), which do the same try/park/retry in C
(``corolib._core.sock_*``).  Every close or detach of an fd the hub may have
watched goes through :func:`forget_fd` first.  Keeping it to these
functions makes the switch points countable and the close rule (wake the
waiters, release the hub's poll handle, *then* close) impossible to miss.

Switch points: :func:`wait_fd` always parks the calling greenlet (it is only
called after the syscall said "would block").  :func:`forget_fd` never
switches.

Also here: the stdlib's exact timeout-argument validation, shared by
``socket.settimeout`` and ``select``/``poll``/``epoll``, so that bad
arguments raise the same exception with the same message as the stdlib.
"""

from __future__ import annotations

import builtins
import errno
import math
import operator
import os
import sys
import time
from typing import Any

from corolib._core import get_hub_if_exists, wait_readable, wait_writable

__all__ = [
    "wait_fd",
    "forget_fd",
    "ebadf",
    "fd_of",
    "parse_seconds",
    "parse_socket_timeout",
    "deadline_after",
    "blocking_flag",
    "HAS_EXCEPTION_GROUP",
    "exception_group",
]

_monotonic = time.monotonic
_EBADF_MESSAGE = os.strerror(errno.EBADF)


def wait_fd(fd: int, writable: bool, deadline: float | None) -> bool:
    """Park the current greenlet until ``fd`` is readable (or writable).

    ``deadline`` is a :func:`time.monotonic` value, or None for no limit.
    Returns True when the hub says the fd is ready -- which may be spurious
    (level-triggered polls, a poll error, another greenlet consumed the
    data): callers always retry their syscall and wait again on EAGAIN.
    Returns False once the deadline has passed, without parking if it
    already had.  Raises ``OSError(EBADF)`` when the fd is closed by another
    greenlet meanwhile (see :func:`forget_fd`), and whatever a
    ``corolib.Timeout`` or ``kill`` throws in.  Always switches unless the
    deadline had passed.

    Regular files are always ready (the hub cannot poll them; the kernel's
    select/poll says so too): this returns True at once for them.
    """
    wait = wait_writable if writable else wait_readable
    if deadline is None:
        return bool(wait(fd))
    remaining = deadline - _monotonic()
    if remaining <= 0.0:
        return False
    return bool(wait(fd, remaining))


def forget_fd(fd: int) -> None:
    """Call before closing or detaching ``fd``: wake its waiters with EBADF, drop its watcher.

    Greenlets of this thread parked on ``fd`` get ``OSError(EBADF)`` (the
    error the stdlib raises for an operation on a closed socket); the hub's
    poll handle for ``fd`` is stopped and closed, so no stale watcher is left
    to meet the next file that gets this fd number.  Does nothing if this
    thread has no hub (then nothing here can be watching).  Never switches.
    """
    if fd < 0:
        return
    hub = get_hub_if_exists()
    if hub is not None:
        hub.cancel_wait(fd, ebadf())


def ebadf() -> OSError:
    """Return a fresh ``OSError(EBADF)``, the error the stdlib raises for a closed socket."""
    return OSError(errno.EBADF, _EBADF_MESSAGE)


def fd_of(obj: object) -> int:
    """Return the fd of an int or of an object with ``fileno()`` (already validated)."""
    if isinstance(obj, int):
        return int(obj)
    return int(obj.fileno())  # type: ignore[attr-defined]


def deadline_after(seconds: float | None) -> float | None:
    """``time.monotonic() + seconds``, or None for None."""
    if seconds is None:
        return None
    return _monotonic() + seconds


# ---- the stdlib's timeout parsing -----------------------------------------------
#
# CPython converts timeouts with _PyTime_FromSecondsObject(..., ROUND_TIMEOUT):
# floats are rounded away from zero to whole nanoseconds, ints are exact, and
# anything else fails like int(), via __index__.  The messages below are the
# stdlib's, so code that checks them behaves the same under corolib.

_NS = 10**9
_MAX_NS = 2**63 - 1


def _to_ns(value: Any) -> int:
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError("Invalid value NaN (not a number)")
        scaled = value * 1e9
        if math.isinf(scaled) or abs(scaled) > _MAX_NS:
            raise OverflowError("timestamp too large to convert to C _PyTime_t")
        return math.ceil(scaled) if scaled >= 0 else math.floor(scaled)
    ns = operator.index(value) * _NS
    if abs(ns) > _MAX_NS:
        raise OverflowError("timestamp too large to convert to C _PyTime_t")
    return ns


def _ns_to_seconds(ns: int) -> float:
    if ns % _NS == 0:
        return float(ns // _NS)
    return ns / 1e9


def parse_socket_timeout(value: object) -> float | None:
    """Validate and normalise a ``socket.settimeout`` argument exactly as the stdlib does."""
    if value is None:
        return None
    ns = _to_ns(value)
    if ns < 0:
        raise ValueError("Timeout value out of range")
    return _ns_to_seconds(ns)


def parse_seconds(value: object, type_message: str, negative: str | None) -> float | None:
    """Validate a select/poll/epoll timeout in seconds as the stdlib does.

    None means no limit.  ``type_message`` is the stdlib's TypeError text for
    a non-number.  ``negative``: the ValueError text for a negative value, or
    None when a negative value means "no limit" (epoll).
    """
    if value is None:
        return None
    try:
        ns = _to_ns(value)
    except TypeError:
        raise TypeError(type_message) from None
    if ns < 0:
        if negative is not None:
            raise ValueError(negative)
        return None
    return _ns_to_seconds(ns)


# ---- version differences ---------------------------------------------------------
# (the only Python-version branch in the networking modules)

if sys.version_info >= (3, 12):

    def blocking_flag(value: Any) -> bool:
        """Read a ``setblocking`` argument as the stdlib does: any truth value (3.12+)."""
        return bool(value)

else:

    def blocking_flag(value: Any) -> bool:
        """Read a ``setblocking`` argument as the stdlib does: an integer (before 3.12)."""
        return bool(operator.index(value))


#: ExceptionGroup exists (3.11+): ``create_connection(all_errors=True)`` too.
HAS_EXCEPTION_GROUP = sys.version_info >= (3, 11)


def exception_group(message: str, exceptions: list[OSError]) -> BaseException:
    """Return ``ExceptionGroup(message, exceptions)`` (3.11+ only)."""
    group: Any = getattr(builtins, "ExceptionGroup")  # noqa: B009 - absent before 3.11
    return group(message, exceptions)  # type: ignore[no-any-return]
