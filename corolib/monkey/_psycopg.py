"""``patch_psycopg``: the PostgreSQL drivers' cooperative waits (see :mod:`corolib.psycopg`)."""

from __future__ import annotations

from corolib import psycopg as _copsycopg
from corolib.monkey import _state

__all__ = ["patch_psycopg"]


def patch_psycopg() -> bool:
    """Make psycopg2 and psycopg 3 wait in the hub, those that are importable.

    psycopg2 gets corolib's wait callback; psycopg 3 is made to choose its
    ``wait_poll`` (cooperative once ``select`` is patched, which
    ``patch_all`` does first).  Returns True if either driver was found.
    """
    done2 = _copsycopg.patch_psycopg2()
    done3 = _copsycopg.patch_psycopg3()
    if done2:
        _state.patched_modules.add("psycopg2")
    if done3:
        _state.patched_modules.add("psycopg")
    return done2 or done3
