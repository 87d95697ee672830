"""``_core.sock_watch``: a callback, not a greenlet, waits for an fd (real sockets)."""

from __future__ import annotations

import gc
import sys
import time
import weakref
from typing import Any

import pytest
from hubutil import run_py

import corolib
from corolib import socket
from corolib._core import sock_watch
from corolib.hub import get_hub


def wait_for(results: list[Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not results:
        assert time.monotonic() < deadline, "the watch never fired"
        corolib.sleep(0.001)


def stats() -> dict[str, Any]:
    return get_hub().statistics()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_called_once_when_readable_with_no_greenlet_parked(pair) -> None:
    a, b = pair
    got: list[Any] = []
    sock_watch(a.fileno(), lambda arg, r: got.append((arg, r)), "x")
    assert stats()["watches"] == 1 and stats()["parked"] == 0
    corolib.sleep(0.01)
    assert got == []  # nothing to read yet
    b.sendall(b"hi")
    wait_for(got)
    assert got == [("x", True)] and stats()["watches"] == 0
    assert a.recv(10) == b"hi"  # the watch read nothing
    corolib.sleep(0.01)
    assert got == [("x", True)]  # one-shot


def test_timeout_gives_false(pair) -> None:
    a, _ = pair
    got: list[Any] = []
    sock_watch(a.fileno(), lambda arg, r: got.append(r), None, 0.02)
    assert stats()["timers"] == 1
    wait_for(got)
    assert got == [False] and stats()["watches"] == 0 and stats()["timers"] == 0


def test_hangup_is_readable(pair) -> None:
    a, b = pair
    got: list[Any] = []
    sock_watch(a.fileno(), lambda arg, r: got.append(r), None, 10)
    b.close()
    wait_for(got)
    assert got == [True] and stats()["timers"] == 0


def test_closing_the_socket_gives_the_exception(pair) -> None:
    a, _ = pair
    got: list[Any] = []
    sock_watch(a.fileno(), lambda arg, r: got.append(r), None, 10)
    a.close()
    wait_for(got)
    assert isinstance(got[0], OSError) and stats()["watches"] == 0


def test_a_greenlet_and_a_watch_share_the_fd(pair) -> None:
    a, b = pair
    got: list[Any] = []
    reader = corolib.spawn(a.recv, 10)
    corolib.sleep(0)
    sock_watch(a.fileno(), lambda arg, r: got.append(r), None)
    assert stats()["parked"] == 1 and stats()["watches"] == 1 and stats()["fds"] == 1
    b.sendall(b"both")
    assert reader.get(timeout=10) == b"both"
    wait_for(got)
    assert got == [True]


def test_an_exception_in_the_callback_is_reported(pair, capsys) -> None:
    a, b = pair

    def bad(arg: Any, r: Any) -> None:
        raise ValueError("boom in a watch")

    sock_watch(a.fileno(), bad, None)
    b.sendall(b"x")
    deadline = time.monotonic() + 10
    while stats()["watches"]:
        assert time.monotonic() < deadline
        corolib.sleep(0.001)
    corolib.sleep(0)
    assert "boom in a watch" in capsys.readouterr().err


def test_bad_arguments(pair) -> None:
    a, _ = pair
    with pytest.raises(TypeError):
        sock_watch(a.fileno(), 42, None)
    with pytest.raises(TypeError):
        sock_watch(a.fileno(), print)
    with pytest.raises(ValueError):
        sock_watch(a.fileno(), print, None, -1)
    r, w = socket.socketpair()
    fd = r.fileno()
    r.close()
    w.close()
    with pytest.raises(OSError):
        sock_watch(fd, print, None)
    assert stats()["watches"] == 0


def test_destroy_drops_pending_watches_uncalled() -> None:
    hub = get_hub()
    ref = weakref.ref(hub)
    a, b = socket.socketpair()
    arg = object()
    got: list[Any] = []

    def fn(x: Any, r: Any) -> None:
        got.append(r)

    before = sys.getrefcount(arg), sys.getrefcount(fn)
    sock_watch(a.fileno(), fn, arg, 30)
    sock_watch(b.fileno(), fn, arg)
    a.sendall(b"x")  # b's watch fires in the next pass, if there is one
    hub.destroy()
    del hub
    gc.collect()
    assert got == []
    assert (sys.getrefcount(arg), sys.getrefcount(fn)) == before
    assert ref() is None
    a.close()
    b.close()


def test_destroy_drops_a_watch_already_queued() -> None:
    # A greenlet woken in the same loop pass as the watch, before it, destroys
    # the hub: the queued watch is dropped uncalled, its references released.
    proc = run_py(
        """
        import corolib, sys, gc
        from corolib import socket
        from corolib._core import sock_watch, get_hub
        hub = get_hub()
        a, b = socket.socketpair()
        c, d = socket.socketpair()
        got, arg = [], object()
        before = sys.getrefcount(arg)
        def first():
            a.recv(1)
            s = hub.statistics()
            print("queued watch", s["watches"], s["ready"])
            hub.destroy()
        corolib.spawn(first)
        corolib.sleep(0)  # its poll is registered first, so it is reported first
        sock_watch(c.fileno(), lambda x, r: got.append(r), arg)
        b.sendall(b"1")
        d.sendall(b"2")
        try:
            corolib.sleep(30)
        except RuntimeError as exc:
            print("main:", exc)
        gc.collect()
        print("called", got, "refs", sys.getrefcount(arg) - before)
        print("watches", hub.statistics()["watches"])
        """
    )
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    assert proc.stdout.splitlines() == [
        "queued watch 1 1",
        "main: the hub has been destroyed",
        "called [] refs 0",
        "watches 0",
    ], proc.stdout
