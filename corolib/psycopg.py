"""Cooperative waits for the PostgreSQL drivers psycopg2 and psycopg 3.

Both drivers talk to the server through libpq in C, so patching ``socket``
does not reach them; each has its own hook for a cooperative wait:

- psycopg2: :func:`psycopg2_wait_callback` is a wait callback
  (``psycopg2.extensions.set_wait_callback``, what psycogreen provides for
  gevent).  With it, psycopg2 drives libpq's non-blocking API and calls the
  callback whenever it would block, for connecting as for queries; the
  callback parks the greenlet in the hub until the connection's socket is
  ready.  :func:`patch_psycopg2` installs it.
- psycopg 3: picks its wait function once, when ``psycopg`` is imported; it
  only recognises gevent's patching, so under corolib it would pick its C
  wait, which blocks the thread.  :func:`patch_psycopg3` makes it pick
  ``wait_poll`` (which polls through ``select.poll``, cooperative once
  :func:`corolib.monkey.patch_select` ran): through the
  ``PSYCOPG_WAIT_FUNC`` environment variable psycopg reads at import
  (only if the program did not set it), or, when psycopg is already
  imported, by setting ``psycopg.waiting.wait`` directly.

``corolib.monkey.patch_all()`` calls both (``patch_psycopg``) when the
driver is importable.  As with threads, a connection serves one query at a
time: use one connection per greenlet (or a pool).  If a greenlet is killed
or times out while waiting, psycopg2 closes the connection (it cannot be
recovered in the middle of a query).

Switch points: every query and connect, while the server has not answered.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

from corolib._core import wait_readable, wait_writable

__all__ = ["psycopg2_wait_callback", "patch_psycopg2", "patch_psycopg3"]

# psycopg2.extensions.POLL_* (fixed by its C API)
_POLL_OK, _POLL_READ, _POLL_WRITE = 0, 1, 2


def psycopg2_wait_callback(conn: Any, timeout: float | None = None) -> None:
    """psycopg2's wait callback: poll ``conn`` and park until its socket is ready.

    Returns when the operation is complete (``POLL_OK``); raises
    ``psycopg2.OperationalError`` on a bad poll state.  ``timeout`` (per
    wait, seconds) raises :class:`TimeoutError` when it passes.
    """
    while True:
        state = conn.poll()
        if state == _POLL_OK:
            return
        if state == _POLL_READ:
            ready = wait_readable(conn.fileno(), timeout)
        elif state == _POLL_WRITE:
            ready = wait_writable(conn.fileno(), timeout)
        else:
            raise _psycopg2_error(conn, f"bad state from poll: {state!r}")
        if ready is False:
            raise TimeoutError(f"psycopg2 connection not ready after {timeout} s")


def _psycopg2_error(conn: Any, message: str) -> BaseException:
    module = sys.modules.get("psycopg2")
    error = getattr(module, "OperationalError", None)
    return error(message) if error is not None else RuntimeError(message)


def patch_psycopg2() -> bool:
    """Install :func:`psycopg2_wait_callback` if psycopg2 is importable: True if so."""
    try:
        extensions = importlib.import_module("psycopg2.extensions")
    except ImportError:
        return False
    set_wait_callback = getattr(extensions, "set_wait_callback", None)
    if set_wait_callback is None:
        return False
    set_wait_callback(psycopg2_wait_callback)
    return True


def patch_psycopg3() -> bool:
    """Make psycopg 3 wait cooperatively (see the module docstring): True if it will."""
    waiting: Any = sys.modules.get("psycopg.waiting")
    if waiting is None:
        if importlib.util.find_spec("psycopg") is None:
            return False
        # Read by psycopg when it is imported; a choice of the program's own wins.
        os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_poll")
        return os.environ["PSYCOPG_WAIT_FUNC"] == "wait_poll"
    waiting.wait = waiting.wait_poll
    if hasattr(waiting, "_ready_poll"):
        waiting._ready = waiting._ready_poll
    # wait_conn (connecting) uses the DefaultSelector it imported: corolib's now.
    selectors = sys.modules.get("selectors")
    if selectors is not None and hasattr(waiting, "DefaultSelector"):
        waiting.DefaultSelector = selectors.DefaultSelector
    return True
