"""gevent for the hub benchmarks (its default loop: libuv or libev, as installed)."""

import gevent
import gevent.event

PACKAGE = "gevent"
KIND = "green"
spawn = gevent.spawn
sleep = gevent.sleep
joinall = gevent.joinall


def event() -> tuple:
    """(wait, set_all) of a fresh gevent.event.Event."""
    ev = gevent.event.Event()
    return ev.wait, ev.set


def run(main):  # type: ignore[no-untyped-def]
    """Run main() as the program's main greenlet would."""
    return main()


def finished(task) -> bool:  # type: ignore[no-untyped-def]
    """Whether a spawned task has finished (read from another thread, racy on purpose)."""
    return bool(task.ready())
