"""Regressions found while building the hub, and the C socket I/O helpers."""

import socket
import time

import pytest

import corolib
from corolib import _core


def test_short_timeout_with_an_active_poll_does_not_block_forever():
    # A deadline already due when uv_run starts its iteration fired inside
    # uv_run's timer phase, after which UV_RUN_ONCE blocked in epoll_wait
    # with no timeout because an fd poll kept the loop alive.
    a, b = socket.socketpair()
    with a, b:
        for delay in (0.0, 1e-6, 0.0002, 0.0009):
            t0 = time.monotonic()
            assert _core.wait_readable(a, delay) is False
            assert time.monotonic() - t0 >= delay
            assert time.monotonic() - t0 < 1.0
        _core.cancel_wait(a)


def test_sock_helpers_round_trip_and_timeouts():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    def echo():
        while True:
            data = _core.sock_recv(b.fileno(), 1024)
            if not data:
                return
            _core.sock_sendall(b.fileno(), data)

    g = corolib.spawn(echo)
    try:
        for size in (1, 100, 65536, 1 << 20):
            payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            # Send from another greenlet: the echo cannot write back more
            # than the socket buffers hold until we read.
            sender = corolib.spawn(_core.sock_sendall, a.fileno(), payload)
            got = bytearray()
            while len(got) < len(payload):
                buf = bytearray(4096)
                n = _core.sock_recv_into(a.fileno(), buf)
                got += buf[:n]
            assert bytes(got) == payload
            sender.join()
            assert sender.successful()
        with pytest.raises(TimeoutError, match="timed out"):
            _core.sock_recv(a.fileno(), 10, 0, 0.01)
        with pytest.raises(BlockingIOError):
            _core.sock_recv(a.fileno(), 10, 0, 0)
        with pytest.raises(ValueError):
            _core.sock_recv(a.fileno(), -1)
        with pytest.raises(ValueError):
            _core.sock_recv(a.fileno(), 10, 0, -1)
    finally:
        _core.cancel_wait(a)
        a.close()
        g.join(1)
        _core.cancel_wait(b)
        b.close()
    assert g.dead


def test_sock_send_on_closed_peer_raises_instead_of_hanging():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.close()
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        for _ in range(1000):
            _core.sock_sendall(a.fileno(), b"x" * 65536)
    _core.cancel_wait(a)
    a.close()
