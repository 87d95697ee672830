"""The gevent idioms of gevent_idioms.py, run on corolib.

Each idiom is plain gevent code (it passes on gevent 26.9 too, with
``python gevent_idioms.py --gevent``); here it runs against corolib's
modules.  The ones corolib deliberately does not support are listed with
the reason (docs/porting-from-gevent.md); any other failure is a defect.
"""

from __future__ import annotations

import os

import pytest
from gevent_idioms import COROLIB, IDIOMS, load

import corolib


def _release_closed_fds() -> None:
    """Drop the hub's records of fds an idiom waited on and then closed with ``os.close``.

    gevent code closes raw fds behind the hub's back; corolib keeps a record
    per waited-on fd until it is cancelled (a new socket on the same number
    drops a stale one), which the suite's clean-hub check would report.
    """
    hub = corolib.get_hub()
    for fd in range(1024):
        try:
            os.fstat(fd)
        except OSError:  # closed: any record of it is stale
            hub.cancel_wait(fd)


#: idiom -> why corolib differs (see the porting guide)
DIFFERENT = {
    "queue_subclass_protocol": "corolib's queues keep their items in C-read containers",
    "two_recv_waiters_refused": "corolib lets several greenlets wait on one socket",
}


@pytest.mark.parametrize("idiom", IDIOMS, ids=[fn.__name__ for fn in IDIOMS])
def test_gevent_idiom_runs_on_corolib(idiom):
    ns = load(COROLIB)
    if idiom.__name__ in DIFFERENT:
        with pytest.raises(Exception):  # noqa: B017,PT011 - any failure: it is unsupported
            idiom(ns)
        pytest.xfail(DIFFERENT[idiom.__name__])
    try:
        idiom(ns)
    finally:
        _release_closed_fds()
