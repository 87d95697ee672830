"""Events corolib sends to subscribers: blocking detected, memory, patching.

Append a callable to :data:`subscribers`; it is called with each event
object, in order::

    from corolib import events

    def on_event(event):
        if isinstance(event, events.EventLoopBlocked):
            metrics.increment("loop.blocked", event.blocking_time)

    events.subscribers.append(on_event)

What is sent, and from where:

- :class:`EventLoopBlocked` -- a greenlet ran longer than
  ``config.max_blocking_time`` without yielding.  Sent by the hub's monitor
  thread (see :mod:`corolib.config`), *in that thread*: a subscriber must
  not call hub functions (spawn, sleep, socket I/O) and should be quick.
  Sent before the report is printed; a subscriber may edit ``info``, the
  lines about to be printed.
- :class:`MemoryUsageThresholdExceeded` / :class:`MemoryUsageUnderThreshold`
  -- the process's resident memory went over ``config.max_memory_usage``,
  and back under it.  Also from the monitor thread.
- The monkey-patching events (:class:`WillPatchAll`,
  :class:`WillPatchModule`, :class:`DidPatchModule`, :class:`DidPatchAll`)
  -- sent by :mod:`corolib.monkey`, on the thread that patches; see
  :mod:`corolib.monkey.events` for their order and for vetoing with
  :class:`DoNotPatch`.

An exception raised by a subscriber of a monitor event is printed and the
other subscribers still get the event; one raised by a subscriber of a
patch event propagates to the code that patches (that is how
:class:`DoNotPatch` vetoes).

This module imports nothing else from corolib, so anything may import it,
and nothing costly (no dataclasses: ``import corolib`` imports it).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = [
    "subscribers",
    "notify",
    "notify_quietly",
    "Event",
    "EventLoopBlocked",
    "MemoryUsageThresholdExceeded",
    "MemoryUsageUnderThreshold",
    "DoNotPatch",
    "PatchEvent",
    "WillPatchAll",
    "DidPatchAll",
    "WillPatchModule",
    "DidPatchModule",
]

#: Callables called with every event, in order.
subscribers: list[Callable[[Any], object]] = []


def notify(event: object) -> None:
    """Call every subscriber with ``event``; an exception propagates at once."""
    for subscriber in list(subscribers):
        subscriber(event)


def notify_quietly(event: object) -> None:
    """Call every subscriber with ``event``; exceptions are printed, never raised."""
    for subscriber in list(subscribers):
        try:
            subscriber(event)
        except Exception:  # noqa: BLE001 - one bad subscriber must not stop the others
            try:
                sys.stderr.write(
                    f"corolib.events: subscriber {subscriber!r} failed on {type(event).__name__}\n"
                )
                traceback.print_exc(file=sys.stderr)
            except Exception:  # noqa: BLE001, S110 - reporting must never raise
                pass


class _Record:
    """Base of the event classes: repr and equality from ``_fields``."""

    _fields: tuple[str, ...] = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value


class Event(_Record):
    """Base class of the events corolib's monitor sends."""


class EventLoopBlocked(Event):
    """A greenlet ran ``blocking_time`` seconds (so far) without yielding.

    ``greenlet``: the one running; ``hub``: the hub it kept from running;
    ``info``: the report's lines (a subscriber may change them before they
    are printed); ``function``: the name of the function it runs;
    ``stack``: its current stack, formatted.
    """

    _fields = ("greenlet", "blocking_time", "info", "hub", "function", "stack")

    def __init__(
        self,
        greenlet: Any = None,
        blocking_time: float = 0.0,
        info: list[str] | None = None,
        hub: Any = None,
        function: str = "",
        stack: list[str] | None = None,
    ) -> None:
        self.greenlet = greenlet
        self.blocking_time = blocking_time
        self.info: list[str] = [] if info is None else info
        self.hub = hub
        self.function = function
        self.stack: list[str] = [] if stack is None else stack


class MemoryUsageThresholdExceeded(Event):
    """Resident memory ``mem_usage`` (bytes) went over ``max_allowed``."""

    _fields = ("mem_usage", "max_allowed", "memory_info")

    def __init__(
        self, mem_usage: int = 0, max_allowed: int = 0, memory_info: dict[str, int] | None = None
    ) -> None:
        self.mem_usage = mem_usage
        self.max_allowed = max_allowed
        self.memory_info: dict[str, int] = {} if memory_info is None else memory_info


class MemoryUsageUnderThreshold(Event):
    """Resident memory went back under ``max_allowed``; it peaked at ``max_memory_usage``."""

    _fields = ("mem_usage", "max_allowed", "max_memory_usage", "memory_info")

    def __init__(
        self,
        mem_usage: int = 0,
        max_allowed: int = 0,
        max_memory_usage: int = 0,
        memory_info: dict[str, int] | None = None,
    ) -> None:
        self.mem_usage = mem_usage
        self.max_allowed = max_allowed
        self.max_memory_usage = max_memory_usage
        self.memory_info: dict[str, int] = {} if memory_info is None else memory_info


# ---- monkey patching (sent by corolib.monkey) ---------------------------------


class DoNotPatch(BaseException):  # noqa: N818 - gevent's name for the same thing
    """Raise from a ``Will...`` event subscriber to veto that patching."""


class PatchEvent(_Record):
    """Base class of every patching event."""


class _AllPatchEvent(PatchEvent):
    _fields = ("arguments",)

    def __init__(self, arguments: dict[str, Any] | None = None) -> None:
        self.arguments: dict[str, Any] = {} if arguments is None else arguments


class WillPatchAll(_AllPatchEvent):
    """``patch_all()`` is about to patch; ``arguments`` are its effective arguments."""


class DidPatchAll(_AllPatchEvent):
    """``patch_all()`` is done; ``arguments`` are its effective arguments."""


class _ModulePatchEvent(PatchEvent):
    _fields = ("name", "target", "source")

    def __init__(
        self, name: str = "", target: ModuleType | None = None, source: ModuleType | None = None
    ) -> None:
        self.name = name
        self.target = target
        self.source = source


class WillPatchModule(_ModulePatchEvent):
    """A module is about to be patched.

    ``name``: what is patched (``"socket"``, ``"thread"``...); ``target``:
    the stdlib module object; ``source``: the corolib module its
    replacements come from (None when there is no single one).
    """


class DidPatchModule(_ModulePatchEvent):
    """A module was patched (same fields as :class:`WillPatchModule`)."""
