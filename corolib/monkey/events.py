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

The event classes and the subscriber list live in :mod:`corolib.events`
(with corolib's other events: one list gets them all); this module is
their name from the monkey side.
"""

from __future__ import annotations

from corolib.events import (
    DidPatchAll as DidPatchAll,
    DidPatchModule as DidPatchModule,
    DoNotPatch as DoNotPatch,
    PatchEvent as PatchEvent,
    WillPatchAll as WillPatchAll,
    WillPatchModule as WillPatchModule,
    notify as notify,
    subscribers as subscribers,
)

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
