"""Echo servers on corolib: TCP (StreamServer) and UDP (DatagramServer).

    python examples/echo.py                      # TCP echo on 127.0.0.1:7000 until Ctrl-C
    python examples/echo.py --udp --port 7001    # the same over UDP
    python examples/echo.py --port 0 --clients 100 --rounds 50

With ``--clients N`` it starts the server on a free port (``--port 0``) or
the one given, runs N concurrent clients -- each a greenlet with its own
connection, sending ``--rounds`` messages and checking every echo -- then
prints the round trips per second and stops the server.  Try it with
``nc 127.0.0.1 7000`` (``nc -u`` for UDP) while it runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

import corolib
from corolib import socket
from corolib.server import DatagramServer, StreamServer


def handle_tcp(sock: socket.socket, address: Any) -> None:
    """One connection: send back everything, until the peer closes."""
    try:
        while data := sock.recv(65536):
            sock.sendall(data)
    except ConnectionResetError:
        pass


class UDPEcho(DatagramServer):
    def handle(self, data: bytes, address: Any) -> None:
        self.sendto(data, address)


def tcp_client(address: tuple[str, int], rounds: int, index: int) -> int:
    with socket.create_connection(address, timeout=30) as sock:
        for i in range(rounds):
            message = b"client %d says %d\n" % (index, i)
            sock.sendall(message)
            echoed = b""
            while len(echoed) < len(message):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                echoed += chunk
            if echoed != message:
                raise AssertionError(f"sent {message!r}, got {echoed!r}")
    return rounds


def udp_client(address: tuple[str, int], rounds: int, index: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect(address)
        for i in range(rounds):
            message = b"client %d says %d" % (index, i)
            for _attempt in range(5):  # UDP may lose a datagram: ask again
                sock.send(message)
                try:
                    echoed = sock.recv(65536)
                except TimeoutError:
                    continue
                if echoed == message:
                    break
            else:
                raise AssertionError(f"no echo of {message!r}")
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TCP and UDP echo servers on corolib.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default 7000 (0: any free port)")
    parser.add_argument("--udp", action="store_true", help="a DatagramServer instead of TCP")
    parser.add_argument("--clients", type=int, default=0, help="run this many clients, then stop")
    parser.add_argument("--rounds", type=int, default=20, help="messages per client")
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else (0 if args.clients else 7000)
    server: StreamServer | DatagramServer
    if args.udp:
        server = UDPEcho((args.host, port))
    else:
        server = StreamServer((args.host, port), handle_tcp)
    server.start()
    kind = "UDP" if args.udp else "TCP"
    print(f"{kind} echo server on {server.server_host}:{server.server_port}", flush=True)
    if not args.clients:
        for signum in (signal.SIGINT, signal.SIGTERM):  # stop cleanly on Ctrl-C
            corolib.signal_handler(signum, server.stop)
        server.serve_forever()
        return 0
    client = udp_client if args.udp else tcp_client
    t0 = time.perf_counter()
    tasks = [corolib.spawn(client, server.address, args.rounds, i) for i in range(args.clients)]
    corolib.joinall(tasks, raise_error=True)
    elapsed = time.perf_counter() - t0
    total = sum(t.value for t in tasks)
    server.stop()
    print(
        f"{args.clients} clients, {total:,} round trips in {elapsed:.2f} s "
        f"({total / elapsed:,.0f} per second), every echo checked"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
