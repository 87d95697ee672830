"""Events around monkey patching, for plugins that patch more (database drivers...).

Append a callable to :data:`subscribers`; it is called with each event
object, in order, on the thread that patches::

    from corolib.monkey import events

    def on_patch(event):
        if isinstance(event, events.DidPatchAll):
            import psycopg_green_for_corolib
            psycopg_green_for_corolib.patch()

    events.subscribers.append(on_patch)

Events, in the order :func:`corolib.monkey.patch_all` sends them:

- :class:`WillPatchAll` once, before anything is patched;
- for each module, :class:`WillPatchModule` then :class:`DidPatchModule`
  (also sent by a ``patch_<name>()`` called on its own);
- :class:`DidPatchAll` once, after everything.

Vetoing: a subscriber may raise :class:`DoNotPatch` from a ``Will...``
event.  For :class:`WillPatchAll`, nothing is patched and ``patch_all()``
returns False; for :class:`WillPatchModule`, that module is left alone
(its :class:`DidPatchModule` is not sent) and the others go on.  Any
other exception from a subscriber propagates to the caller of the patch
function (patching stops there).  Subscribers must not patch the module an
event is about while handling it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = [
    "subscribers",
    "notify",
    "DoNotPatch",
    "PatchEvent",
    "WillPatchAll",
    "DidPatchAll",
    "WillPatchModule",
    "DidPatchModule",
]

#: Callables called with every event, in order.
subscribers: list[Callable[[PatchEvent], object]] = []


class DoNotPatch(BaseException):  # noqa: N818 - gevent's name for the same thing
    """Raise from a ``Will...`` event subscriber to veto that patching."""


@dataclass
class PatchEvent:
    """Base class of every event."""


@dataclass
class WillPatchAll(PatchEvent):
    """``patch_all()`` is about to patch; ``arguments`` are its effective arguments."""

    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class DidPatchAll(PatchEvent):
    """``patch_all()`` is done; ``arguments`` are its effective arguments."""

    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class WillPatchModule(PatchEvent):
    """A module is about to be patched.

    ``name``: what is patched (``"socket"``, ``"thread"``...); ``target``:
    the stdlib module object; ``source``: the corolib module its
    replacements come from (None when there is no single one).
    """

    name: str = ""
    target: ModuleType | None = None
    source: ModuleType | None = None


@dataclass
class DidPatchModule(PatchEvent):
    """A module was patched (same fields as :class:`WillPatchModule`)."""

    name: str = ""
    target: ModuleType | None = None
    source: ModuleType | None = None


def notify(event: PatchEvent) -> None:
    """Call every subscriber with ``event`` (a :class:`DoNotPatch` propagates)."""
    for subscriber in list(subscribers):
        subscriber(event)
