"""TLS behaviour in one world at a time (corolib greenlets, stdlib threads): scale, deadlines.

These need what a mixed pairing cannot give: events shared by both sides,
or many concurrent peers in the same world.
"""

from __future__ import annotations

import ssl as std_ssl
import threading
import time

import pytest
from sslutil import raise_nofile, recv_exactly


class Barrier:
    """Wait until ``n`` parties arrived (threading.Barrier is not cooperative)."""

    def __init__(self, world, n: int) -> None:
        self.n, self.arrived, self.event = n, 0, world.event()
        self.lock = threading.Lock()  # for the thread world; never contended by greenlets

    def wait(self) -> None:
        with self.lock:
            self.arrived += 1
            if self.arrived == self.n:
                self.event.set()
        assert self.event.wait(60)


def test_200_concurrent_tls_echo_clients(world) -> None:
    n = 200
    raise_nofile(4 * n + 100)
    sctx, cctx = world.server_context(), world.client_context()
    lsock = world.listener(backlog=n)
    address = lsock.getsockname()
    tls_listener = sctx.wrap_socket(lsock, server_side=True, do_handshake_on_connect=False)
    connected, echoed = Barrier(world, n), Barrier(world, n)
    state = {"open": 0, "peak": 0}
    lock = threading.Lock()

    def handle(conn):
        with conn:
            conn.do_handshake()  # in the handler, not in the accept loop
            with lock:
                state["open"] += 1
                state["peak"] = max(state["peak"], state["open"])
            while data := conn.recv(65536):
                conn.sendall(data)
            with lock:
                state["open"] -= 1

    def server():
        handlers = []
        for _ in range(n):
            conn, _addr = tls_listener.accept()
            handlers.append(world.spawn(handle, conn))
        world.join_all(handlers)

    def client(i: int) -> bool:
        with cctx.wrap_socket(world.connect(address), server_hostname="localhost") as c:
            connected.wait()
            msg = b"hello %d " % i * 300
            c.sendall(msg)
            got = recv_exactly(c, len(msg))
            echoed.wait()  # every connection stays open until all are served
            return got == msg

    with tls_listener:
        server_task = world.spawn(server)
        clients = [world.spawn(client, i) for i in range(n)]
        assert all(world.join_all(clients))
        world.join_all([server_task])
    assert state["peak"] == n  # all n TLS connections were open at once


def test_read_deadline_covers_the_whole_call(world) -> None:
    # The server hand-feeds one TLS record a byte at a time: data keeps
    # arriving, yet recv() gives up when its timeout is spent, as the C
    # module does (one deadline per call, not per wait).
    sctx, cctx = world.server_context(), world.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with conn:
            incoming, outgoing = std_ssl.MemoryBIO(), std_ssl.MemoryBIO()
            tls = sctx.wrap_bio(incoming, outgoing, server_side=True)
            assert type(tls) is std_ssl.SSLObject  # wrap_bio is the stdlib's
            while True:
                try:
                    tls.do_handshake()
                    break
                except std_ssl.SSLWantReadError:
                    conn.sendall(outgoing.read())
                    incoming.write(conn.recv(65536))
            conn.sendall(outgoing.read())  # the last flight and session tickets
            tls.write(b"x" * 100)
            record = outgoing.read()
            try:
                for i in range(25):  # 25 bytes of a 122-byte record, over 1.25 s
                    conn.sendall(record[i : i + 1])
                    world.sleep(0.05)
            except OSError:
                pass  # the client gave up and closed

    def client(address):
        with cctx.wrap_socket(world.connect(address), server_hostname="localhost") as tls:
            tls.settimeout(0.3)
            t0 = time.monotonic()
            with pytest.raises(TimeoutError, match="read operation timed out"):
                tls.recv(100)
            return time.monotonic() - t0

    lsock = world.listener()
    with lsock:
        server_task = world.spawn(server, lsock)
        elapsed = world.join_all([world.spawn(client, lsock.getsockname())])[0]
        world.join_all([server_task])
    assert 0.25 <= elapsed < 0.9
