"""DatagramServer: round trips, spawning, stopping."""

from __future__ import annotations

from typing import Any

import pytest

import corolib
from corolib import socket
from corolib.server import DatagramServer

LOCAL = ("127.0.0.1", 0)


class Echo(DatagramServer):
    def handle(self, data: bytes, address: Any) -> None:
        self.sendto(data.upper(), address)


def test_round_trips_many_clients(scaled: Any) -> None:
    clients, rounds = scaled(50), 20
    with Echo(LOCAL) as server:
        assert server.server_host == "127.0.0.1" and server.server_port > 0

        def client(i: int) -> int:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(5)
                sock.connect(server.address)
                for j in range(rounds):
                    payload = b"client %d message %d" % (i, j)
                    # UDP may drop: retry a few times (never on loopback in practice).
                    for _attempt in range(5):
                        sock.send(payload)
                        try:
                            reply = sock.recv(1024)
                            break
                        except TimeoutError:
                            continue
                    assert reply == payload.upper()
            return i

        tasks = [corolib.spawn(client, i) for i in range(clients)]
        corolib.joinall(tasks, raise_error=True)


def test_handle_function_and_spawn_none() -> None:
    seen: list[tuple[bytes, Any]] = []

    def handle(data: bytes, address: Any) -> None:
        seen.append((data, address))
        server.sendto(b"ack " + data, address)

    server = DatagramServer(LOCAL, handle, spawn=None)
    with server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind(LOCAL)
        for i in range(3):
            sock.sendto(b"%d" % i, server.address)
        replies = [sock.recvfrom(100) for _ in range(3)]
    assert [r[0] for r in replies] == [b"ack 0", b"ack 1", b"ack 2"]
    assert [d for d, _ in seen] == [b"0", b"1", b"2"]
    assert len({address for _, address in seen}) == 1


def test_pool_limited_datagrams() -> None:
    state = {"now": 0, "most": 0, "done": 0}

    def handle(data: bytes, address: Any) -> None:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        corolib.sleep(0.01)
        state["now"] -= 1
        state["done"] += 1

    with DatagramServer(LOCAL, handle, spawn=3) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(30):
                sock.sendto(b"%d" % i, server.address)
        server.pool.join(timeout=5)
        deadline = 50
        while state["done"] < 30 and deadline:
            corolib.sleep(0.02)
            deadline -= 1
    assert state["done"] == 30
    assert state["most"] == 3


def test_stop_kills_slow_datagram_handlers() -> None:
    outcome: list[str] = []

    def handle(data: bytes, address: Any) -> None:
        try:
            corolib.sleep(60)
        except corolib.GreenletExit:
            outcome.append("killed")
            raise

    server = DatagramServer(LOCAL, handle)
    server.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"x", server.address)
        sock.sendto(b"y", server.address)
        corolib.sleep(0.05)
    server.stop(timeout=0.1)
    assert outcome == ["killed", "killed"]


def test_large_datagram() -> None:
    with Echo(LOCAL) as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        payload = b"z" * 60000
        sock.sendto(payload, server.address)
        data, address = sock.recvfrom(65536)
        assert data == payload.upper() and address == server.address


def test_needs_a_handle() -> None:
    with pytest.raises(TypeError):
        DatagramServer(LOCAL)
