"""Run a corolib server until Ctrl-C or SIGTERM, then stop it gracefully.

Shared by the example servers (echo.py, chat.py, file_transfer.py)::

    server = StreamServer(address, handle, spawn=Group())
    serve_until_signalled(server, grace=5.0)

The signal handler only *asks* for the stop; the main greenlet does it:

1. it closes the listener (no new connections; ``server.close()``);
2. it calls ``on_stop()`` if given -- a chat server tells its users here;
3. it waits up to ``grace`` seconds for the handlers still running (the
   server's own :class:`~corolib.pool.Group`, passed as ``spawn``), so
   that requests and transfers in flight finish;
4. it kills whatever is still running after that, and returns.

A second Ctrl-C or SIGTERM during the grace period cuts it short.  The
waiting is the example's own, so it behaves the same whatever
``StreamServer.stop`` itself does with its handlers.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import corolib
from corolib.pool import Group
from corolib.sync import Event


def serve_until_signalled(
    server: Any,
    grace: float,
    on_stop: Callable[[], object] | None = None,
    started: Callable[[], object] | None = None,
) -> float:
    """Serve until SIGINT/SIGTERM; stop as described above; return the seconds the stop took.

    ``server`` must have been made with ``spawn=`` a :class:`Group` (its
    ``pool``): those are the handlers waited for.  ``started`` runs once
    the server is accepting (print the address there).
    """
    handlers = server.pool
    if not isinstance(handlers, Group):
        raise TypeError("serve_until_signalled needs a server made with spawn=Group()")
    requested = Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        corolib.signal_handler(signum, requested.set)
    server.start()
    if started is not None:
        started()
    requested.wait()
    requested.clear()
    t0 = time.monotonic()
    server.close()  # stop accepting; the handlers go on
    if on_stop is not None:
        on_stop()

    def impatient() -> None:  # a second signal: no more grace
        requested.wait()
        handlers.kill(block=False)

    second = corolib.spawn(impatient)
    try:
        if not handlers.join(timeout=grace):
            handlers.kill(block=True, timeout=2.0)
    finally:
        second.kill()
    return time.monotonic() - t0
