"""eventlet for the hub benchmarks (its default hub)."""

import warnings

# eventlet warns on import that it is in maintenance mode; that is not news here.
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")

import eventlet  # noqa: E402
import eventlet.event  # noqa: E402

PACKAGE = "eventlet"
KIND = "green"
spawn = eventlet.spawn
sleep = eventlet.sleep


def joinall(threads) -> None:  # type: ignore[no-untyped-def]
    """eventlet has no joinall: wait for each GreenThread in turn."""
    for t in threads:
        t.wait()


def event() -> tuple:
    """(wait, set_all) of a fresh eventlet.event.Event (send() wakes every waiter)."""
    ev = eventlet.event.Event()
    return ev.wait, ev.send


def run(main):  # type: ignore[no-untyped-def]
    """Run main() as the program's main greenlet would."""
    return main()


def finished(thread) -> bool:  # type: ignore[no-untyped-def]
    """Whether a GreenThread has finished (read from another thread, racy on purpose)."""
    return bool(thread.dead)
