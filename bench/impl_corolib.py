"""corolib for the hub benchmarks: the greenlet-style API, from the top-level package."""

import corolib
import corolib.sync

PACKAGE = "corolib"
KIND = "green"
spawn = corolib.spawn
sleep = corolib.sleep
joinall = corolib.joinall


def event() -> tuple:
    """(wait, set_all) of a fresh corolib.sync.Event, as the peers give their Event."""
    ev = corolib.sync.Event()
    return ev.wait, ev.set


def run(main):  # type: ignore[no-untyped-def]
    """Run main() as the program's main greenlet would."""
    return main()


def finished(task) -> bool:  # type: ignore[no-untyped-def]
    """Whether a spawned task has finished (read from another thread, racy on purpose)."""
    return bool(task.ready())
