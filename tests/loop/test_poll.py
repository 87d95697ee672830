"""corolib.uv.Poll (csrc/loop/poll.c) on real sockets, pipes and files."""

import errno
import os
import socket

import pytest

from corolib import uv


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_socketpair_readable_and_writable(loop, pair):
    a, b = pair
    events = []
    p = uv.Poll(loop, a)
    assert p.fileno() == a.fileno()
    p.start(uv.UV_READABLE | uv.UV_WRITABLE, lambda h, ev, err: events.append((h, ev, err)))
    loop.run(uv.UV_RUN_ONCE)
    assert events == [(p, uv.UV_WRITABLE, None)]
    events.clear()
    b.send(b"x")
    loop.run(uv.UV_RUN_ONCE)
    assert events == [(p, uv.UV_READABLE | uv.UV_WRITABLE, None)]
    p.stop()
    assert not p.active
    p.close()


def test_pipe_readable_and_writable(loop, run_until):
    r, w = os.pipe()
    try:
        got = {}
        pr = uv.Poll(loop, r)
        pw = uv.Poll(loop, w)
        pr.start(uv.UV_READABLE, lambda h, ev, err: got.setdefault("r", ev))
        pw.start(uv.UV_WRITABLE, lambda h, ev, err: got.setdefault("w", ev))
        run_until(loop, lambda: "w" in got)
        assert "r" not in got
        os.write(w, b"data")
        run_until(loop, lambda: "r" in got)
        assert got == {"r": uv.UV_READABLE, "w": uv.UV_WRITABLE}
        pr.close()
        pw.close()
        loop.run()
    finally:
        os.close(r)
        os.close(w)


def test_level_triggered_until_drained(loop, pair):
    a, b = pair
    count = []
    p = uv.Poll(loop, a)
    p.start(uv.UV_READABLE, lambda h, ev, err: count.append(ev))
    b.send(b"x")
    for _ in range(3):
        loop.run(uv.UV_RUN_ONCE)
    assert count == [uv.UV_READABLE] * 3
    a.recv(1)
    assert loop.run(uv.UV_RUN_NOWAIT) is True
    assert len(count) == 3
    p.close()


def test_disconnect(loop, pair):
    a, b = pair
    events = []
    p = uv.Poll(loop, a)
    p.start(uv.UV_READABLE | uv.UV_DISCONNECT, lambda h, ev, err: events.append(ev))
    b.close()
    loop.run(uv.UV_RUN_ONCE)
    assert events and events[0] & uv.UV_READABLE
    assert events[0] & uv.UV_DISCONNECT  # EPOLLRDHUP on Linux
    p.close()


def test_refused_connect_reports_ebadf_and_stops(loop, run_until):
    # Find a closed port: bind, note it, close.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    s = socket.socket()
    s.setblocking(False)
    try:
        with pytest.raises(BlockingIOError):
            s.connect(("127.0.0.1", port))
        calls = []
        p = uv.Poll(loop, s)
        p.start(uv.UV_WRITABLE, lambda h, ev, err: calls.append((ev, err)))
        run_until(loop, lambda: calls)
        # POLLERR: libuv stops the handle and reports EBADF with no events;
        # the real cause is the socket's pending error.
        assert calls == [(0, errno.EBADF)]
        assert not p.active
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
        p.close()
    finally:
        s.close()


def test_regular_file_is_eperm(loop, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with open(path, "rb") as f:
        with pytest.raises(uv.UVError) as info:
            uv.Poll(loop, f)
    exc = info.value
    assert isinstance(exc, OSError)
    assert exc.errno == errno.EPERM
    assert exc.name == "EPERM"
    assert exc.strerror == "operation not permitted"
    assert str(exc) == "EPERM: operation not permitted"


def test_closed_fd_is_ebadf(loop):
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(uv.UVError) as info:
        uv.Poll(loop, r)
    assert info.value.errno == errno.EBADF
    assert str(info.value) == "EBADF: bad file descriptor"


def test_init_sets_o_nonblock(loop, pair):
    a, _ = pair
    assert os.get_blocking(a.fileno())
    p = uv.Poll(loop, a)
    assert not os.get_blocking(a.fileno())
    p.close()


def test_second_active_poll_on_the_same_fd_is_eexist(loop, pair):
    a, _ = pair
    p = uv.Poll(loop, a)
    p.start(uv.UV_READABLE, lambda *args: None)
    with pytest.raises(uv.UVError) as info:
        uv.Poll(loop, a)
    assert info.value.name == "EEXIST"
    p.close()


def test_bad_arguments(loop, pair):
    a, _ = pair
    with pytest.raises(ValueError):
        uv.Poll(loop, -1)
    with pytest.raises(TypeError):
        uv.Poll(loop, "3")
    with pytest.raises(TypeError, match="Loop"):
        uv.Poll(None, a)
    p = uv.Poll(loop, a)
    with pytest.raises(ValueError, match="events"):
        p.start(0, lambda *args: None)
    with pytest.raises(ValueError, match="events"):
        p.start(0x100, lambda *args: None)
    with pytest.raises(TypeError, match="callable"):
        p.start(uv.UV_READABLE, 42)
    assert not p.active
    p.close()
    with pytest.raises(uv.HandleClosedError):
        p.fileno()
