"""Servers started and stopped again and again leak no memory, greenlets or fds."""

from __future__ import annotations

from typing import Any

import corolib
from corolib import socket
from corolib.server import DatagramServer, StreamServer

LOCAL = ("127.0.0.1", 0)


def echo(sock: Any, address: Any) -> None:
    while data := sock.recv(100):
        sock.sendall(data)


def test_stream_server_life_cycle_leaks_nothing(leakcheck: Any) -> None:
    def cycle() -> None:
        with StreamServer(LOCAL, echo) as server:
            with socket.create_connection(server.address, timeout=10) as sock:
                sock.sendall(b"x")
                assert sock.recv(10) == b"x"

    leakcheck(cycle, calls=100, warmup=10)


def test_stop_killing_handlers_leaks_nothing(leakcheck: Any) -> None:
    def stuck(sock: Any, address: Any) -> None:
        corolib.sleep(60)

    def cycle() -> None:
        server = StreamServer(LOCAL, stuck, spawn=4)
        server.start()
        socks = [socket.create_connection(server.address, timeout=10) for _ in range(3)]
        corolib.sleep(0.001)
        server.stop(timeout=0)
        for s in socks:
            s.close()

    leakcheck(cycle, calls=50, warmup=10)


def test_datagram_server_life_cycle_leaks_nothing(leakcheck: Any) -> None:
    class Echo(DatagramServer):
        def handle(self, data: bytes, address: Any) -> None:
            self.sendto(data, address)

    def cycle() -> None:
        with Echo(LOCAL) as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(b"d", server.address)
            assert sock.recvfrom(10)[0] == b"d"

    leakcheck(cycle, calls=100, warmup=10)
