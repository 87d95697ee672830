"""asyncio (the standard library's default event loop) for the hub benchmarks."""

import asyncio

PACKAGE = "asyncio"  # versioned as Python itself
KIND = "async"
sleep = asyncio.sleep
gather = asyncio.gather


def event() -> tuple:
    """(wait, set_all) of a fresh asyncio.Event; `await wait()`."""
    ev = asyncio.Event()
    return ev.wait, ev.set


def run(main):  # type: ignore[no-untyped-def]
    """Run the coroutine function main() to completion on a new default loop."""
    return asyncio.run(main())


def finished(task) -> bool:  # type: ignore[no-untyped-def]
    """Whether an asyncio Task is done (read from another thread, racy on purpose)."""
    return bool(task.done())
