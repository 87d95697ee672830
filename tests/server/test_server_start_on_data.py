"""``start_on_data``: the hub waits for a connection's first bytes, no greenlet does.

StreamServer (opt-in) and WSGIServer (the default, and between keep-alive
requests).  What is asserted is the hub's own count of watches and parked
greenlets, and the server's count of waiting connections -- never a sleep.
"""

from __future__ import annotations

import logging
import socket as stdsocket
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

import corolib
from corolib import socket
from corolib.pool import Pool
from corolib.pywsgi import WSGIServer
from corolib.server import StreamServer

LOCAL = ("127.0.0.1", 0)


def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Let the hub run until ``cond()`` holds; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        corolib.sleep(0.005)


def stats() -> dict[str, Any]:
    return corolib.get_hub().statistics()


def connect(server: Any) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.server_port), timeout=10)


class Echo:
    """An echo handler that counts how many times it was started."""

    def __init__(self) -> None:
        self.started = 0

    def __call__(self, sock: Any, address: Any) -> None:
        self.started += 1
        assert isinstance(address, tuple) and address[0] == "127.0.0.1"
        while data := sock.recv(4096):
            sock.sendall(data)


def test_the_handler_starts_only_when_data_comes() -> None:
    handler = Echo()
    with StreamServer(LOCAL, handler, start_on_data=True) as server:
        wait_until(lambda: stats()["parked"] >= 1, what="the accept greenlet to park")
        parked = stats()["parked"]
        clients = [connect(server) for _ in range(3)]
        wait_until(lambda: server.waiting == 3, what="three waiting connections")
        corolib.sleep(0)
        s = stats()
        assert s["watches"] == 3 and s["parked"] == parked  # no greenlet per connection
        assert handler.started == 0 and server.active == 3
        clients[1].sendall(b"hello")
        assert clients[1].recv(100) == b"hello"
        assert handler.started == 1 and server.waiting == 2
        assert stats()["watches"] == 2 and stats()["parked"] == parked + 1  # the handler, in recv
        for c in clients:
            c.close()
        wait_until(lambda: server.active == 0, what="the connections to end")
        assert handler.started == 3  # a client that hangs up starts its handler, which sees EOF
        assert stats()["watches"] == 0


def test_data_already_there_starts_the_handler_without_a_watch() -> None:
    fds_seen: list[int] = []

    def handle(sock: Any, address: Any) -> None:
        fds_seen.append(stats()["fds"])  # no poll was made for sock
        Echo()(sock, address)

    with StreamServer(LOCAL, handle, start_on_data=True) as server:
        wait_until(lambda: stats()["fds"] == 1, what="the accept greenlet to wait")
        server.stop_accepting()
        with connect(server) as client:
            client.sendall(b"early")  # in the kernel before the server accepts
            base = stats()["fds"]
            server.start_accepting()
            wait_until(lambda: bool(fds_seen), what="the handler to start")
            assert fds_seen == [base] and server.waiting == 0
            assert client.recv(10) == b"early"
        wait_until(lambda: server.active == 0)


def test_a_silent_client_is_closed_by_the_idle_timeout(caplog: pytest.LogCaptureFixture) -> None:
    handler = Echo()
    with caplog.at_level(logging.INFO, logger="corolib.server"):
        with StreamServer(LOCAL, handler, start_on_data=True, idle_timeout=0.2) as server:
            with connect(server) as client:
                wait_until(lambda: server.waiting == 1, what="the connection to wait")
                assert client.recv(100) == b""  # closed by the server
                wait_until(lambda: server.active == 0, what="the connection to be released")
            assert handler.started == 0 and stats()["watches"] == 0
    assert "nothing received in 0.2 s" in caplog.text


def test_a_client_that_hangs_up_is_cleaned_up() -> None:
    handler = Echo()
    with StreamServer(LOCAL, handler, start_on_data=True) as server:
        for _ in range(20):
            connect(server).close()
        wait_until(lambda: server.active == 0 and handler.started == 20, what="all 20 handled")
        assert server.waiting == 0 and stats()["watches"] == 0
    # hub_clean (tests/_support/plugin.py) checks that no fd is left open or watched


def test_stop_closes_the_waiting_connections_at_once() -> None:
    handler = Echo()
    server = StreamServer(LOCAL, handler, start_on_data=True, stop_timeout=30)
    server.start()
    clients = [connect(server) for _ in range(4)]
    busy = connect(server)
    busy.sendall(b"x")
    assert busy.recv(10) == b"x"
    wait_until(lambda: server.waiting == 4, what="four waiting connections")
    stopper = corolib.spawn(server.stop)
    for c in clients:  # closed at once, without waiting for the stop timeout
        assert c.recv(10) == b""
        c.close()
    assert server.closed_waiting == 4 and server.waiting == 0
    assert not stopper.ready() and server.active == 1  # the running handler may finish
    busy.close()
    stopper.join(timeout=10)
    assert stopper.ready() and server.active == 0 and stats()["watches"] == 0


def test_many_idle_clients_are_bounded_by_max_connections() -> None:
    handler = Echo()
    with StreamServer(LOCAL, handler, start_on_data=True, max_connections=5) as server:
        clients = [connect(server) for _ in range(30)]
        wait_until(lambda: server.waiting == 5, what="five waiting connections")
        for _ in range(5):
            corolib.sleep(0.01)
        assert server.waiting == 5 and stats()["watches"] == 5  # the rest: kernel backlog
        for c in clients[:5]:
            c.close()
        wait_until(lambda: handler.started == 5, what="the first five to end")
        wait_until(lambda: server.waiting == 5, what="the next five to be taken on")
        for c in clients[5:]:
            c.close()
        wait_until(lambda: server.active == 0 and handler.started == 30, what="all to end")


def test_a_full_pool_delays_the_handler_not_the_hub() -> None:
    handler = Echo()
    pool = Pool(1)
    with StreamServer(LOCAL, handler, spawn=pool, start_on_data=True) as server:
        first, second = connect(server), connect(server)
        wait_until(lambda: server.waiting == 2)
        first.sendall(b"1")
        assert first.recv(10) == b"1"
        second.sendall(b"2")  # the pool is full: its handler waits for room
        wait_until(lambda: server.waiting == 0)
        first.close()
        assert second.recv(10) == b"2"
        second.close()
        wait_until(lambda: server.active == 0 and len(pool) == 0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="spawn=None"):
        StreamServer(LOCAL, Echo(), spawn=None, start_on_data=True)
    with pytest.raises(TypeError, match="callable"):
        corolib._core.sock_watch(0, None, None)


def _traced_per_connection(start_on_data: bool, n: int = 200) -> float:
    """Bytes traced by tracemalloc per idle connection, server side only."""
    handler = Echo()
    clients = [stdsocket.socket() for _ in range(n)]  # made before the first measure
    for c in clients:
        c.setblocking(False)
    server = StreamServer(LOCAL, handler, start_on_data=start_on_data, max_connections=None)
    server.start()
    address = ("127.0.0.1", server.server_port)
    try:
        corolib.sleep(0.01)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for c in clients:
                c.connect_ex(address)
            if start_on_data:
                wait_until(lambda: server.waiting == n, what="all connections waiting")
            else:
                wait_until(lambda: stats()["parked"] >= n + 1, what="all handlers in recv")
            corolib.sleep(0)
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        return (after - before) / n
    finally:
        for c in clients:
            c.close()
        server.stop()


def test_an_idle_connection_costs_no_greenlet_in_memory() -> None:
    # Deterministic: what the allocators hand out, not resident memory.  A
    # waiting connection is a socket object, its address, the hub's fd record
    # and watch node; a handler parked in recv adds a task and its frames.
    lazy = _traced_per_connection(True)
    eager = _traced_per_connection(False)
    assert lazy < 1200, lazy
    assert eager > lazy + 500, (eager, lazy)


# ---- WSGIServer --------------------------------------------------------------------------


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["PATH_INFO"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def request(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while not data.endswith(b"\r\n\r\n" + path.encode()):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


def test_wsgi_waits_in_the_hub_before_and_between_requests() -> None:
    server = WSGIServer(LOCAL, app, log=None)
    server.park_after = 0.05
    server.start()
    try:
        with connect(server) as client:
            wait_until(lambda: server.waiting == 1, what="the new connection to wait")
            assert not server._handlers and stats()["watches"] == 1
            assert request(client, "/one").startswith(b"HTTP/1.1 200 OK\r\n")
            # idle after its response: the handler ends, the hub waits again
            wait_until(lambda: server.waiting == 1 and not server._handlers, what="a park")
            assert server.active == 1
            assert request(client, "/two").startswith(b"HTTP/1.1 200 OK\r\n")
            for path in ("/3", "/4", "/5"):  # back to back: no park in between needed
                assert request(client, path).endswith(path.encode())
        wait_until(lambda: server.active == 0, what="the connection to end")
    finally:
        server.stop()
    assert stats()["watches"] == 0


def test_wsgi_keepalive_timeout_and_header_timeout_still_apply() -> None:
    server = WSGIServer(LOCAL, app, log=None, header_timeout=0.2, keepalive_timeout=0.3)
    server.park_after = 0.05
    server.start()
    try:
        with connect(server) as silent, connect(server) as idle:
            request(idle, "/x")
            t0 = time.monotonic()
            assert silent.recv(100) == b""  # nothing sent: closed after header_timeout
            assert idle.recv(100) == b""  # idle after a request: closed after keepalive_timeout
            assert time.monotonic() - t0 < 5
        wait_until(lambda: server.active == 0)
    finally:
        server.stop()


def test_wsgi_stop_closes_parked_keepalive_connections() -> None:
    server = WSGIServer(LOCAL, app, log=None)
    server.park_after = 0.05
    server.start()
    with connect(server) as client, connect(server) as fresh:
        request(client, "/x")
        wait_until(lambda: server.waiting == 2, what="both connections to wait in the hub")
        server.stop()
        assert client.recv(10) == b"" and fresh.recv(10) == b""
    assert server.closed_waiting == 2 and server.active == 0


def test_wsgi_with_spawn_none_serves_inline() -> None:
    server = WSGIServer(LOCAL, app, log=None, spawn=None)
    assert not server.start_on_data
    server.start()
    try:
        with connect(server) as client:
            request(client, "/inline")
    finally:
        server.stop()
    with pytest.raises(ValueError, match="spawn=None"):
        WSGIServer(LOCAL, app, spawn=None, start_on_data=True)


def test_wsgi_start_on_data_false_keeps_a_greenlet() -> None:
    server = WSGIServer(LOCAL, app, log=None, start_on_data=False)
    server.start()
    try:
        with connect(server) as client:
            wait_until(lambda: len(server._handlers) == 1, what="the handler to start")
            assert server.waiting == 0 and stats()["watches"] == 0
            request(client, "/x")
    finally:
        server.stop()
