"""Timeouts: ``Timeout`` and ``with_timeout``, as in gevent.

A ``Timeout`` is an exception that arms a deadline in the hub; when it
passes, the greenlet that started it gets the exception raised from
whatever it is waiting on.  Deadlines never fire early.  A timeout can only
interrupt code that waits (parks); a CPU loop or a blocking C call runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from corolib._core import getcurrent
from corolib.hub._hub import get_hub

__all__ = ["Timeout", "with_timeout"]

T = TypeVar("T")
_NONE: Any = object()
#: what ``float(Timeout(None))`` gives: far enough to mean "never"
_FOREVER = 3.0e9


class Timeout(BaseException):
    """Raise an exception in the current greenlet after ``seconds``.

    ``Timeout(None)`` never fires.  ``exception`` is what gets raised: None
    (the default) raises this Timeout itself; an exception class or
    instance raises that; ``False`` raises this Timeout but makes the
    ``with`` block swallow it.  Use as a context manager, or with
    :meth:`start` and :meth:`cancel`.  Nested timeouts each fire at their
    own time and each is caught by the block that set it::

        with Timeout(5) as t:
            ...
    """

    def __init__(
        self,
        seconds: float | None = None,
        exception: type[BaseException] | BaseException | str | bool | None = None,
        ref: bool = True,
    ) -> None:
        BaseException.__init__(self, seconds)
        if isinstance(seconds, Timeout):
            seconds = seconds.seconds
        if seconds is not None and not isinstance(seconds, (int, float)):
            raise TypeError(f"Timeout seconds must be a number or None, not {seconds!r}")
        if seconds is not None and seconds < 0:
            raise ValueError("Timeout seconds must be non-negative")
        self.seconds = seconds
        self.exception = exception
        self.ref = ref
        self._handle: Any = None

    @classmethod
    def start_new(
        cls,
        timeout: float | Timeout | None = None,
        exception: type[BaseException] | BaseException | str | bool | None = None,
        ref: bool = True,
    ) -> Timeout:
        """Create and start a Timeout (or start the given one)."""
        if isinstance(timeout, Timeout):
            if not timeout.pending:
                timeout.start()
            return timeout
        t = cls(timeout, exception, ref)
        t.start()
        return t

    @property
    def pending(self) -> bool:
        """True while armed and not yet fired or cancelled."""
        return self._handle is not None and self._handle.pending

    def _raises(self) -> BaseException:
        # An exception class or instance is raised; anything else (None,
        # False, a message string) raises this Timeout, as in gevent.
        exc = self.exception
        if isinstance(exc, type) and issubclass(exc, BaseException):
            return exc()
        if isinstance(exc, BaseException):
            return exc
        return self

    # A Timeout may be given where a number of seconds is expected
    # (``event.wait(timeout=Timeout(5))``, as gevent allows): it stands for
    # its seconds there; ``Timeout(None)`` for "no limit" (a century).
    def __float__(self) -> float:
        return _FOREVER if self.seconds is None else float(self.seconds)

    def __lt__(self, other: Any) -> bool:
        return float(self) < other  # type: ignore[no-any-return]

    def __le__(self, other: Any) -> bool:
        return float(self) <= other  # type: ignore[no-any-return]

    def __gt__(self, other: Any) -> bool:
        return float(self) > other  # type: ignore[no-any-return]

    def __ge__(self, other: Any) -> bool:
        return float(self) >= other  # type: ignore[no-any-return]

    def __add__(self, other: Any) -> float:
        return float(self) + other  # type: ignore[no-any-return]

    __radd__ = __add__

    def __sub__(self, other: Any) -> float:
        return float(self) - other  # type: ignore[no-any-return]

    def __rsub__(self, other: Any) -> float:
        return other - float(self)  # type: ignore[no-any-return]

    def start(self) -> None:
        """Arm the deadline for the current greenlet."""
        if self.pending:
            raise AssertionError(f"{self!r} is already started; to restart it, cancel it first")
        if self.seconds is None:
            return
        self._handle = get_hub().interrupt_later(
            self.seconds, getcurrent(), self._raises(), ref=self.ref
        )

    def cancel(self) -> None:
        """Disarm it (nothing happens if it already fired)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    close = cancel

    def __enter__(self) -> Timeout:
        if not self.pending:
            self.start()
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self.cancel()
        return value is self and self.exception is False

    def __repr__(self) -> str:
        exc = "" if self.exception is None else f" exception={self.exception!r}"
        name = type(self).__name__
        return f"<{name} at {id(self):#x} seconds={self.seconds}{exc} pending={self.pending}>"

    def __str__(self) -> str:
        if self.seconds is None:
            return ""
        suffix = "" if self.seconds == 1 else "s"
        if self.exception is None or self.exception is True:
            return f"{self.seconds} second{suffix}"
        if self.exception is False:
            return f"{self.seconds} second{suffix} (silent)"
        return f"{self.seconds} second{suffix}: {self.exception}"


def with_timeout(seconds: float | None, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``function(*args, **kwargs)`` under a :class:`Timeout` of ``seconds``.

    With ``timeout_value=...`` given, return it instead of raising when the
    timeout fires.
    """
    timeout_value = kwargs.pop("timeout_value", _NONE)
    timeout = Timeout.start_new(seconds)
    try:
        return function(*args, **kwargs)
    except Timeout as t:
        if t is timeout and timeout_value is not _NONE:
            return timeout_value  # type: ignore[no-any-return]
        raise
    finally:
        timeout.cancel()
