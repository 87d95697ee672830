"""``patch_asyncio``: asyncio's default loop is corolib's (see :mod:`corolib.asyncio`)."""

from __future__ import annotations

from corolib.monkey import _state
from corolib.monkey._modules import patch_module

__all__ = ["patch_asyncio"]


def patch_asyncio() -> bool:
    """Make the loops asyncio creates by default :class:`corolib.asyncio.EventLoop`.

    ``asyncio.DefaultEventLoopPolicy`` becomes
    :class:`corolib.asyncio.EventLoopPolicy`, so ``asyncio.run()``,
    ``asyncio.Runner()``, ``asyncio.new_event_loop()`` and
    ``asyncio.get_event_loop()`` make corolib loops: plain asyncio code and
    greenlets then run side by side in one thread, and a greenlet that
    gives the loop work (``call_soon``, resolving a future) wakes it.  A
    policy already made from the stdlib's default class (someone asked for
    it before patching) is dropped, with the loop it held; any other policy
    (uvloop's, a test's) is left alone, as is code that builds
    ``asyncio.SelectorEventLoop`` itself.  Imports :mod:`asyncio`.
    """
    import asyncio
    import asyncio.events as asyncio_events

    from corolib import asyncio as coasyncio

    std_policy = _state.get_original("asyncio", "DefaultEventLoopPolicy")

    def apply() -> None:
        _state.patch_item(asyncio, "DefaultEventLoopPolicy", coasyncio.EventLoopPolicy)
        current = getattr(asyncio_events, "_event_loop_policy", None)
        if current is not None and type(current) is std_policy:
            asyncio.set_event_loop_policy(None)  # made anew, as corolib's, when next asked for

    return patch_module("asyncio", asyncio, coasyncio, apply)
