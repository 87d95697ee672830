"""What only corolib's TLS sockets do: cooperate, and close safely under waiters."""

from __future__ import annotations

import errno
import fcntl
import http.client
import os
import socket as std_socket
import ssl as std_ssl
import time

import pytest
from sslutil import World, recv_exactly

import corolib
import corolib.socket
import corolib.ssl


def switches() -> int:
    return corolib.get_hub().statistics()["switches"]


def connected_pair(co: World, **client_kwargs):
    """Return ``(server_tls, client_tls)``: a finished handshake over loopback."""
    sctx, cctx = co.server_context(), co.client_context()
    with co.listener() as lsock:
        client_raw = co.connect(lsock.getsockname())
        conn, _ = lsock.accept()
    server = corolib.spawn(sctx.wrap_socket, conn, server_side=True)
    client = cctx.wrap_socket(client_raw, server_hostname="localhost", **client_kwargs)
    return server.get(timeout=10), client


# ---- identity ---------------------------------------------------------------------------


def test_wrapping_a_stdlib_socket_gives_a_cooperative_one(co: World) -> None:
    sctx, cctx = co.server_context(), co.client_context()
    with co.listener() as lsock:
        raw = std_socket.create_connection(lsock.getsockname())  # a blocking fd
        assert not fcntl.fcntl(raw.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
        conn, _ = lsock.accept()
    server = corolib.spawn(sctx.wrap_socket, conn, server_side=True)
    fd = raw.fileno()
    with cctx.wrap_socket(raw, server_hostname="localhost") as tls, server.get(timeout=10):
        assert raw.fileno() == -1  # detached: the TLS socket owns the fd
        assert tls.fileno() == fd
        assert type(tls) is corolib.ssl.SSLSocket
        assert isinstance(tls, corolib.socket.socket)
        assert isinstance(tls, std_socket.socket)
        assert not isinstance(tls, std_ssl.SSLSocket)
        assert tls.gettimeout() is None  # the wrapped socket's timeout is kept ...
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK  # ... in Python
        assert isinstance(tls.context, std_ssl.SSLContext)
        assert "corolib.ssl.SSLSocket" in repr(tls)


# ---- cooperation ----------------------------------------------------------------------


def test_a_slow_handshake_blocks_only_its_greenlet(co: World) -> None:
    sctx, cctx = co.server_context(), co.client_context()
    ticks = []

    def ticker():
        for _ in range(10):
            ticks.append(time.monotonic())
            corolib.sleep(0.02)

    with co.listener() as lsock:

        def server():
            conn, _ = lsock.accept()
            corolib.sleep(0.3)  # the client's handshake waits meanwhile
            with sctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"done")
                assert tls.recv(1) == b""

        s, t = corolib.spawn(server), corolib.spawn(ticker)
        t0 = time.monotonic()
        with cctx.wrap_socket(co.connect(lsock.getsockname()), server_hostname="localhost") as c:
            handshake_time = time.monotonic() - t0
            assert c.recv(10) == b"done"
        s.get(timeout=10)
        t.get(timeout=10)
    assert handshake_time >= 0.25
    assert sum(1 for tick in ticks if tick - t0 < handshake_time) >= 5


def test_no_switch_when_data_is_ready(co: World) -> None:
    server, client = connected_pair(co)
    with server, client:
        server.sendall(b"x" * 100)
        while not client.pending():
            assert client.recv(1) == b"x"  # the first read may wait for the record
        before = switches()
        assert client.recv(1000) == b"x" * 99  # decrypted already: no wait, no switch
        assert client.send(b"y") == 1  # room in the socket buffer: no switch
        assert switches() == before


def test_reader_and_writer_greenlets_share_one_tls_socket(co: World) -> None:
    server, client = connected_pair(co)
    size = 8 * 1024 * 1024
    payload = os.urandom(size)

    def echo():
        with server:
            while data := server.recv(65536):
                server.sendall(data)

    def write():
        client.sendall(payload)  # waits for room while the reader drains the echo

    with client:
        e, w = corolib.spawn(echo), corolib.spawn(write)
        got = recv_exactly(client, size)
        w.get(timeout=30)
    e.get(timeout=30)
    assert got == payload


# ---- closing under waiters ----------------------------------------------------------------


def test_close_by_another_greenlet_wakes_a_reader(co: World) -> None:
    server, client = connected_pair(co)
    with server:
        reader = corolib.spawn(client.recv, 100)
        corolib.sleep(0.05)
        assert not reader.ready()
        client.close()
        with pytest.raises(OSError) as info:
            reader.get(timeout=5)
        assert info.value.errno == errno.EBADF
        assert client.fileno() == -1
        with pytest.raises(OSError):  # like the stdlib's closed SSLSocket
            client.recv(10)
        with pytest.raises(ValueError, match="Read on closed"):
            client.read(10)


def test_close_by_another_greenlet_wakes_a_handshake(co: World) -> None:
    cctx = co.client_context()
    with co.listener() as lsock:
        raw = co.connect(lsock.getsockname())
        conn, _ = lsock.accept()
        with conn:
            tls = cctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
            waiter = corolib.spawn(tls.do_handshake)  # the server never answers
            corolib.sleep(0.05)
            assert not waiter.ready()
            tls.close()
            with pytest.raises(OSError) as info:
                waiter.get(timeout=5)
            assert info.value.errno == errno.EBADF


def test_close_by_another_greenlet_wakes_a_writer(co: World) -> None:
    server, client = connected_pair(co)
    with server:
        writer = corolib.spawn(client.sendall, bytes(32 * 1024 * 1024))  # nobody reads
        corolib.sleep(0.1)
        assert not writer.ready()
        client.close()
        with pytest.raises(OSError) as info:
            writer.get(timeout=5)
        assert info.value.errno == errno.EBADF


def test_a_corolib_timeout_interrupts_a_read(co: World) -> None:
    server, client = connected_pair(co)
    with server, client:
        t0 = time.monotonic()
        with corolib.Timeout(0.1):
            with pytest.raises(corolib.Timeout):
                client.recv(10)
        assert 0.08 <= time.monotonic() - t0 < 2
        # The TLS state is intact: the wait was between two C calls.
        server.sendall(b"still fine")
        assert recv_exactly(client, 10) == b"still fine"


def test_unwrap_on_a_non_blocking_socket(co: World) -> None:
    server, client = connected_pair(co)
    with server, client:
        client.setblocking(False)
        with pytest.raises(std_ssl.SSLWantReadError):
            client.unwrap()  # close_notify sent; the peer's not there yet
        unwrapper = corolib.spawn(server.unwrap)
        while True:
            corolib.wait_readable(client.fileno(), 5)
            try:
                assert client.unwrap() is client
                break
            except std_ssl.SSLWantReadError:
                pass
        assert unwrapper.get(timeout=5) is server
        assert client.version() is None


def test_handshakes_do_not_leak(co: World, leakcheck) -> None:
    sctx, cctx = co.server_context(), co.client_context()
    lsock = co.listener()
    address = lsock.getsockname()

    def once() -> None:
        raw = co.connect(address)
        conn, _ = lsock.accept()
        server = corolib.spawn(sctx.wrap_socket, conn, server_side=True)
        with cctx.wrap_socket(raw, server_hostname="localhost") as tls:
            with server.get(timeout=10) as s:
                s.sendall(b"hi")
                assert tls.recv(2) == b"hi"

    with lsock:
        leakcheck(once, calls=30)


def test_a_stdlib_client_library_over_a_corolib_context(co: World) -> None:
    # http.client connects with the stdlib's (blocking) create_connection,
    # which the kernel completes without the server accepting; from then on
    # the corolib context's socket makes the handshake and the HTTP exchange
    # (makefile, readline) cooperative, while the server greenlet runs.
    sctx, cctx = co.server_context(), co.client_context()
    with co.listener() as lsock:
        host, port = lsock.getsockname()

        def server():
            conn, _ = lsock.accept()
            with sctx.wrap_socket(conn, server_side=True) as tls, tls.makefile("rb") as f:
                request = [f.readline()]
                while request[-1] not in (b"\r\n", b""):
                    request.append(f.readline())
                body = b"hello over corolib TLS"
                tls.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (len(body), body)
                )
                return request[0]

        s = corolib.spawn(server)
        conn = http.client.HTTPSConnection("localhost", port, context=cctx, timeout=10)
        try:
            conn.request("GET", "/path")
            assert type(conn.sock) is corolib.ssl.SSLSocket
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == b"hello over corolib TLS"
        finally:
            conn.close()
        assert s.get(timeout=10) == b"GET /path HTTP/1.1\r\n"
