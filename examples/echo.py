"""Echo servers on corolib: TCP (StreamServer), TLS, and UDP (DatagramServer).

    python examples/echo.py                      # TCP echo on 127.0.0.1:7000 until Ctrl-C
    python examples/echo.py --udp --port 7001    # the same over UDP
    python examples/echo.py --port 0 --clients 100 --rounds 50
    python examples/echo.py --tls --clients 20   # over TLS (StreamServer(ssl_context=...))

With ``--clients N`` it starts the server on a free port (``--port 0``) or
the one given, runs N concurrent clients -- each a greenlet with its own
connection, sending ``--rounds`` messages and checking every echo -- then
prints the round trips per second and stops the server.  Try it with
``nc 127.0.0.1 7000`` (``nc -u`` for UDP) while it runs.

With ``--tls`` the server wraps each connection in TLS
(``StreamServer(..., ssl_context=...)`` with a :mod:`corolib.ssl` context;
each handshake runs in that connection's greenlet).  It uses
``--cert``/``--key`` if given, else a throwaway self-signed certificate for
127.0.0.1 made with the ``openssl`` command; the clients verify it.
Try it with ``openssl s_client -connect 127.0.0.1:7000``.

A client that fails its TLS handshake (or never finishes it: ``--handshake-
timeout``, 10 s), sends a bad TLS record, resets its connection or stays
silent longer than ``--idle-timeout`` (300 s) costs one line on stderr, not
a traceback.  Ctrl-C or SIGTERM stops the server gracefully: no new
connections, and those open get ``--grace`` seconds to finish (a second
Ctrl-C cuts that short) before they are closed; the process then exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl as stdssl
import subprocess
import sys
import tempfile
import time
from typing import Any

from graceful import serve_until_signalled

import corolib
from corolib import socket, ssl as cossl
from corolib.pool import Group
from corolib.server import DatagramServer, StreamServer


def handle_tcp(sock: socket.socket, address: Any) -> None:
    """One connection: send back everything, until the peer closes."""
    try:
        while data := sock.recv(65536):
            sock.sendall(data)
    except TimeoutError:
        raise  # the server's idle timeout: the server says so in one line
    except OSError as exc:  # a reset, a bad TLS record (ssl.SSLError), ...
        print(f"{address[0]}:{address[1]}: {exc}", file=sys.stderr, flush=True)


class UDPEcho(DatagramServer):
    def handle(self, data: bytes, address: Any) -> None:
        self.sendto(data, address)


def self_signed(directory: str) -> tuple[str, str]:
    """(certificate, key) files for 127.0.0.1, made with the openssl command."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def tcp_client(address: tuple[str, int], rounds: int, index: int, tls: Any = None) -> int:
    raw = socket.create_connection(address, timeout=30)
    sock = tls.wrap_socket(raw, server_hostname=address[0]) if tls is not None else raw
    with sock:
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
    parser.add_argument("--tls", action="store_true", help="TCP over TLS")
    parser.add_argument("--cert", help="with --tls: certificate chain file (PEM)")
    parser.add_argument("--key", help="with --tls: private key file (PEM)")
    parser.add_argument("--grace", type=float, default=5.0, help="on a stop, s left to clients")
    parser.add_argument(
        "--handshake-timeout", type=float, default=10.0, help="with --tls: seconds (default 10)"
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=300.0, help="close silent clients (default 300 s)"
    )
    args = parser.parse_args(argv)
    if args.tls and args.udp:
        parser.error("--tls is for TCP")
    with tempfile.TemporaryDirectory() as tmp:
        if args.tls and not args.cert:
            args.cert, args.key = self_signed(tmp)
        return run(args)


def run(args: argparse.Namespace) -> int:
    port = args.port if args.port is not None else (0 if args.clients else 7000)
    # The server's own notices (a failed or timed-out handshake, an idle
    # client closed): one line each.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    server: StreamServer | DatagramServer
    client_tls = None
    if args.udp:
        server = UDPEcho((args.host, port), spawn=Group())
    elif args.tls:
        server_tls = cossl.SSLContext(stdssl.PROTOCOL_TLS_SERVER)
        server_tls.load_cert_chain(args.cert, args.key)
        server = StreamServer(
            (args.host, port),
            handle_tcp,
            Group(),
            ssl_context=server_tls,
            handshake_timeout=args.handshake_timeout,
            idle_timeout=args.idle_timeout,
        )
        client_tls = cossl.SSLContext(stdssl.PROTOCOL_TLS_CLIENT)
        client_tls.load_verify_locations(args.cert)
    else:
        server = StreamServer(
            (args.host, port), handle_tcp, spawn=Group(), idle_timeout=args.idle_timeout
        )
    kind = "UDP" if args.udp else "TLS" if args.tls else "TCP"

    def started() -> None:
        print(f"{kind} echo server on {server.server_host}:{server.server_port}", flush=True)

    if not args.clients:
        took = serve_until_signalled(server, args.grace, started=started)
        print(f"stopped in {took:.2f} s", flush=True)
        return 0
    server.start()
    started()
    t0 = time.perf_counter()
    if args.udp:
        tasks = [
            corolib.spawn(udp_client, server.address, args.rounds, i) for i in range(args.clients)
        ]
    else:
        tasks = [
            corolib.spawn(tcp_client, server.address, args.rounds, i, client_tls)
            for i in range(args.clients)
        ]
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
