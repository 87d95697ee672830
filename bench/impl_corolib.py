"""corolib for the hub benchmarks: the greenlet-style API, from the top-level package."""

import corolib
from corolib._core import WaitQueue

PACKAGE = "corolib"
KIND = "green"
spawn = corolib.spawn
sleep = corolib.sleep
joinall = corolib.joinall


def event() -> tuple:
    """(wait, set_all) of a fresh event; corolib.sync.Event does not exist yet, so a
    WaitQueue: wait() parks, wake_all() resumes every waiter."""
    queue = WaitQueue()
    return queue.wait, queue.wake_all


def run(main):  # type: ignore[no-untyped-def]
    """Run main() as the program's main greenlet would."""
    return main()


def finished(task) -> bool:  # type: ignore[no-untyped-def]
    """Whether a spawned task has finished (read from another thread, racy on purpose)."""
    return bool(task.ready())
