"""select(), poll and epoll: the stdlib's answers, waiting cooperatively."""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import time

import pytest
from netutil import World

import corolib
import corolib.select as CS
import corolib.socket as S


def _took(started: float, seconds: float) -> None:
    elapsed = time.monotonic() - started
    assert seconds * 0.9 <= elapsed < seconds + 2.0, elapsed


@pytest.fixture
def pair(world: World):
    a, b = world.socket.socketpair()
    with a, b:
        yield a, b


def _later(world: World, seconds: float, fn, *args):
    def run():
        world.sleep(seconds)
        fn(*args)

    return world.spawn(run)


# ---- select() ------------------------------------------------------------------------


def test_select_readiness_and_timeout(world: World, pair) -> None:
    sel = world.select.select
    a, b = pair
    assert sel([a], [], [], 0) == ([], [], [])
    started = time.monotonic()
    assert sel([a], [], [], 0.2) == ([], [], [])
    _took(started, 0.2)
    assert sel([a], [a, b.fileno()], [], 1) == ([], [a, b.fileno()], [])
    t = _later(world, 0.05, b.sendall, b"x")
    assert sel([a, b], [], [], 5) == ([a], [], [])
    t.get()
    assert sel((a,), (), (), None) == ([a], [], [])  # any iterable; None waits


def test_select_regular_file_always_ready(world: World) -> None:
    with tempfile.TemporaryFile() as f:
        assert world.select.select([f], [f], [], None) == ([f], [f], [])


@pytest.mark.parametrize(
    "args",
    [
        ([], [], [], "1"),
        ([], [], [], -1),
        ([], [], [], float("nan")),
        ([-1], [], [], 0),
        (["x"], [], [], 0),
        ([object()], [], [], 0),
        (5, [], [], 0),
    ],
    ids=repr,
)
def test_select_errors_match_stdlib(args) -> None:
    import select as std_select

    def outcome(fn):
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001
            return type(exc), str(exc)

    assert outcome(CS.select) == outcome(std_select.select)


def test_select_fd_setsize_limit_as_stdlib(world: World, pair) -> None:
    a, _b = pair
    high = fcntl.fcntl(a.fileno(), fcntl.F_DUPFD, 1100)
    try:
        with pytest.raises(ValueError, match="filedescriptor out of range in select"):
            world.select.select([high], [], [], 0)
    finally:
        os.close(high)


def test_select_exceptional_condition(world: World) -> None:
    S_ = world.socket
    lsock = S_.create_server(("127.0.0.1", 0))
    c = S_.create_connection(lsock.getsockname())
    conn, _ = lsock.accept()
    with lsock, c, conn:
        assert world.select.select([], [], [conn], 0.05) == ([], [], [])
        c.send(b"!", S_.MSG_OOB)
        assert world.select.select([], [], [conn], 5) == ([], [], [conn])


# ---- poll ----------------------------------------------------------------------------


def test_poll_register_modify_unregister(world: World, pair) -> None:
    sel = world.select
    a, b = pair
    p = sel.poll()
    p.register(a, sel.POLLIN)
    assert p.poll(0) == []
    started = time.monotonic()
    assert p.poll(200) == []
    _took(started, 0.2)
    p.modify(a, sel.POLLIN | sel.POLLOUT)
    assert p.poll(1000) == [(a.fileno(), sel.POLLOUT)]
    p.modify(a.fileno(), sel.POLLIN)
    t = _later(world, 0.05, b.sendall, b"x")
    assert p.poll(None) == [(a.fileno(), sel.POLLIN)]
    t.get()
    p.unregister(a)
    with pytest.raises(KeyError):
        p.unregister(a)
    with pytest.raises(FileNotFoundError):
        p.modify(a, sel.POLLIN)
    p.register(b)  # default mask: POLLIN|POLLPRI|POLLOUT
    assert p.poll(-1) == [(b.fileno(), sel.POLLOUT)]


def test_poll_hangup_and_invalid(world: World) -> None:
    sel = world.select
    a, b = world.socket.socketpair()
    p = sel.poll()
    p.register(a, sel.POLLIN)
    t = _later(world, 0.05, b.close)
    [(fd, events)] = p.poll(5000)
    assert fd == a.fileno() and events & sel.POLLHUP
    t.get()
    r, w = os.pipe()
    os.close(w)
    os.close(r)
    q = sel.poll()
    q.register(r, sel.POLLIN)
    assert q.poll(5000) == [(r, sel.POLLNVAL)]
    a.close()


def test_poll_timeout_argument(world: World) -> None:
    p = world.select.poll()
    with pytest.raises(TypeError, match="timeout must be an integer or None"):
        p.poll("1")
    assert p.poll(1.5) == []
    assert p.poll(0.0) == []


def test_poll_concurrent_invocation(world: World, pair) -> None:
    a, b = pair
    p = world.select.poll()
    p.register(a, world.select.POLLIN)
    t = world.spawn(p.poll, 5000)
    for _ in range(500):  # until the other one is inside poll()
        world.sleep(0.01)
        try:
            p.poll(0)
        except RuntimeError as exc:
            assert "concurrent poll" in str(exc)
            break
    else:
        pytest.fail("a second poll() never saw the first")
    b.sendall(b"wake")
    assert t.get() == [(a.fileno(), world.select.POLLIN)]


# ---- epoll ---------------------------------------------------------------------------


def test_epoll_cooperative(world: World, pair) -> None:
    sel = world.select
    a, b = pair
    with sel.epoll() as ep:
        ep.register(a, sel.EPOLLIN)
        started = time.monotonic()
        assert ep.poll(0.2) == []
        _took(started, 0.2)
        t = _later(world, 0.05, b.sendall, b"x")
        assert ep.poll(5, 10) == [(a.fileno(), sel.EPOLLIN)]
        assert ep.poll(-1) == [(a.fileno(), sel.EPOLLIN)]  # level-triggered
        t.get()
        ep.modify(a, sel.EPOLLIN | sel.EPOLLET)
        assert ep.poll(None) == [(a.fileno(), sel.EPOLLIN)]
        assert ep.poll(0.05) == []  # edge-triggered: no new edge
        ep.unregister(a)
        with pytest.raises(FileNotFoundError):
            ep.unregister(a)
        with pytest.raises(TypeError):
            ep.poll("x")
    assert ep.closed
    with pytest.raises(ValueError):
        ep.poll(0)
    with pytest.raises(ValueError):
        ep.fileno()


def test_epoll_fromfd(world: World) -> None:
    ep = world.select.epoll()
    other = world.select.epoll.fromfd(os.dup(ep.fileno()))
    with ep, other:
        assert isinstance(other, world.select.epoll)
        assert other.poll(0) == []


# ---- corolib only ------------------------------------------------------------------


def test_select_parks_once_and_others_run() -> None:
    socks = [S.socketpair() for _ in range(50)]
    ticks = []

    def ticker():
        for _ in range(5):
            ticks.append(1)
            corolib.sleep(0.01)
        socks[17][1].sendall(b"x")

    g = corolib.spawn(ticker)
    hub = corolib.get_hub()
    readers = [a for a, _ in socks]
    assert CS.select(readers, [], [], 5) == ([readers[17]], [], [])
    assert len(ticks) == 5
    g.get()
    assert hub.statistics()["fds"] == 0  # the private epoll was released
    for a, b in socks:
        a.close()
        b.close()


def test_select_does_not_spin_on_epoll_only_events() -> None:
    # A hung-up socket only in xlist: epoll reports HUP, select reports
    # nothing.  Edge-triggered registration keeps that from busy-looping.
    a, b = S.socketpair()
    b.close()
    hub = corolib.get_hub()
    before = hub.statistics()["switches"]
    started = time.monotonic()
    assert CS.select([], [], [a], 0.2) == ([], [], [])
    _took(started, 0.2)
    assert hub.statistics()["switches"] - before < 10
    a.close()


def test_closing_an_epoll_wakes_its_waiter() -> None:
    ep = CS.epoll()
    a, b = S.socketpair()
    ep.register(a, CS.EPOLLIN)

    def waiter():
        try:
            ep.poll(5)
        except OSError as exc:
            return exc.errno

    g = corolib.spawn(waiter)
    corolib.sleep(0.01)
    ep.close()
    assert g.get(timeout=5) == errno.EBADF
    a.close()
    b.close()


def test_module_mirrors_the_stdlib() -> None:
    import select as std_select

    for name in dir(std_select):
        if name.startswith("_"):
            continue
        assert hasattr(CS, name), name
        if name not in ("select", "poll", "epoll"):
            assert getattr(CS, name) is getattr(std_select, name), name
