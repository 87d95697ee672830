"""asyncio on the corolib hub: one thread, greenlets and coroutines side by side.

    import corolib.asyncio

    async def main():
        # blocking-style green code, run in its own greenlet:
        page = await corolib.asyncio.to_greenlet(fetch_with_requests, url)
        ...

    corolib.asyncio.run(main())

    # and from any greenlet, an asyncio-only library:
    rows = corolib.asyncio.await_(client.get(url))

``EventLoop`` is a complete asyncio event loop whose waiting parks on the
corolib hub of its thread, so greenlets spawned there keep running while
the loop runs, and the loop keeps running while they do.  Use it as
``corolib.asyncio.run(main)``, ``asyncio.Runner(loop_factory=
corolib.asyncio.new_event_loop)`` (3.11+), ``asyncio.run(main,
loop_factory=...)`` (3.12+), or ``install()`` (sets the policy).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from corolib.asyncio._bridge import await_ as await_, to_greenlet as to_greenlet
from corolib.asyncio._loop import (
    EventLoop as EventLoop,
    EventLoopPolicy as EventLoopPolicy,
    new_event_loop as new_event_loop,
)

__all__ = [
    "EventLoop",
    "EventLoopPolicy",
    "new_event_loop",
    "run",
    "install",
    "await_",
    "to_greenlet",
]

_T = TypeVar("_T")


def install() -> None:
    """Make corolib's ``EventLoop`` the loop asyncio creates (sets the policy)."""
    asyncio.set_event_loop_policy(EventLoopPolicy())


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """``asyncio.run(main)`` on a new corolib ``EventLoop``; closes it afterwards."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
            return runner.run(main)
    return _run_310(main, debug)


def _run_310(main: Coroutine[Any, Any, _T], debug: bool | None) -> _T:
    if asyncio._get_running_loop() is not None:
        raise RuntimeError("asyncio.run() cannot be called from a running event loop")
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    loop.call_exception_handler(
                        {
                            "message": "unhandled exception during corolib.asyncio.run() shutdown",
                            "exception": task.exception(),
                            "task": task,
                        }
                    )
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
