# The loop extends asyncio's selector loop through its private attributes, which
# typeshed does not describe: those checks are off here.
# mypy: disable-error-code="attr-defined,misc,override,union-attr,unused-ignore"
"""Greenlets and coroutines calling each other on one thread.

``await_(aw)`` (from a greenlet): runs ``aw`` on the thread's corolib loop
and parks the calling greenlet until it is done; the loop and every other
greenlet run meanwhile.  ``await to_greenlet(fn, *args)`` (from a
coroutine): runs ``fn`` in a new greenlet and gives back its result; the
loop runs on while ``fn`` blocks green-style.

Cancellation crosses over: a greenlet killed inside ``await_`` cancels the
awaited task; a cancelled ``to_greenlet`` kills its greenlet.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from corolib import _core
from corolib.asyncio._loop import EventLoop
from corolib.hub import Greenlet

__all__ = ["await_", "to_greenlet"]

_T = TypeVar("_T")


def _thread_loop() -> EventLoop:
    """The loop ``await_`` drives itself when none runs in this thread."""
    hub = _core.get_hub()
    loop: EventLoop | None = getattr(hub, "_corolib_asyncio_loop", None)
    if loop is None or loop.is_closed():
        loop = EventLoop()
        hub._corolib_asyncio_loop = loop  # type: ignore[attr-defined]
    return loop


def _idle(loop: EventLoop) -> bool:
    """Nothing but the loop itself lives on it: no task, callback, timer or fd."""
    if asyncio.all_tasks(loop) or loop._ready:
        return False
    if any(not timer.cancelled() for timer in loop._scheduled):
        return False
    selector = loop._selector
    if selector.reactor is not None and len(selector.reactor):
        return False  # a transport watched for reading or writing
    return len(selector.get_map()) <= 1  # its own self-pipe


def _drive(loop: EventLoop) -> None:
    """Run the thread's await_ loop while greenlets wait on it; then close it if idle.

    When the last waiter has left and nothing else lives on the loop (no
    task, callback, timer, server or other watched fd), it ends as
    ``asyncio.run`` ends one (async generators finalized, then closed), so
    nothing stays open; the next ``await_`` makes a new one.  Otherwise it
    is kept, stopped, for the next ``await_`` to run on.
    """
    state = loop._co
    try:
        while True:
            loop.run_forever()
            if state.bridge_waiters:
                continue  # a greenlet came in while the loop was stopping
            if not _idle(loop):
                return
            loop.run_until_complete(loop.shutdown_asyncgens())
            if state.bridge_waiters:
                continue
            hub = _core.get_hub()
            if getattr(hub, "_corolib_asyncio_loop", None) is loop:
                hub._corolib_asyncio_loop = None  # type: ignore[attr-defined]
            loop.close()
            return
    finally:
        state.bridge_driven = False
        state.bridge_driver = None


def await_(awaitable: Awaitable[_T]) -> _T:
    """Wait, from a greenlet, for a coroutine, task or future; return its result.

    The awaitable runs on the running corolib loop of this thread; if no
    loop runs, on a per-thread corolib loop that runs (in its own greenlet)
    for as long as some greenlet waits in ``await_``.  Raises
    ``RuntimeError`` when called from the loop's own greenlet (inside a
    coroutine or callback: ``await`` there) or when the running loop is not
    a corolib loop.  Killing the waiting greenlet cancels the awaitable.
    """
    current = _core.getcurrent()
    running = asyncio._get_running_loop()
    if running is None:
        loop = _thread_loop()
    elif isinstance(running, EventLoop):
        loop = running
        if loop._co.greenlet is current:
            raise RuntimeError(
                "corolib.asyncio.await_() called from the loop's own greenlet "
                "(inside a coroutine or callback): use 'await' there"
            )
    else:
        raise RuntimeError(
            f"corolib.asyncio.await_() needs a corolib loop; the running loop is {running!r}"
        )
    future = asyncio.ensure_future(awaitable, loop=loop)
    if not future.done():
        waiter = _core.WaitQueue()

        def wake(_: object) -> None:
            waiter.wake()

        future.add_done_callback(wake)
        loop._co.bridge_waiters += 1
        if loop._co.bridge_driven:
            loop._stopping = False  # a stop() requested when the last waiter left
        elif running is None:
            loop._co.bridge_driven = True
            loop._co.bridge_driver = Greenlet.spawn(_drive, loop)
        try:
            while not future.done():
                waiter.wait()
        except BaseException:
            future.remove_done_callback(wake)
            future.cancel()
            raise
        finally:
            loop._co.bridge_waiters -= 1
            if loop._co.bridge_waiters == 0 and loop._co.bridge_driven:
                # The last waiter stops the loop await_ started, and returns once
                # it has stopped: no loop stays "running" in this thread after.
                loop.stop()
                driver = loop._co.bridge_driver
                if driver is not None and driver is not current:
                    driver.join()
    return future.result()


async def to_greenlet(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """Run ``fn(*args, **kwargs)`` in a new greenlet; return (or raise) what it does.

    ``fn`` may block green-style (corolib sockets, ``corolib.sleep``, code
    under ``patch_all()``) while the loop runs on.  It runs in a copy of
    the caller's context variables.  Cancelling the awaiting task kills the
    greenlet.  Needs a running corolib loop.
    """
    loop = asyncio.get_running_loop()
    if not isinstance(loop, EventLoop):
        raise RuntimeError(
            f"corolib.asyncio.to_greenlet() needs a corolib loop; the running loop is {loop!r}"
        )
    future: asyncio.Future[_T] = loop.create_future()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            result = context.run(fn, *args, **kwargs)
        except _core.GreenletExit:
            if not future.done():
                future.cancel()
        except StopIteration as exc:
            if not future.done():
                future.set_exception(RuntimeError(f"{fn!r} raised StopIteration"))
                future.exception().__cause__ = exc  # type: ignore[union-attr]
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)

    g = Greenlet.spawn(run)
    try:
        return await future
    except asyncio.CancelledError:
        if not g.dead:
            g.kill(block=False)
        raise
