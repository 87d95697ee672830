"""Helpers for the TLS tests (see conftest.py for the fixtures).

A ``World`` (tests/_support/worlds.py) is one way of running concurrent
TLS code: corolib's modules with greenlets, or the stdlib's with OS
threads.  A ``Pair`` puts a server in one world and a client in another
(possibly the same), so one protocol test checks corolib against itself,
the stdlib against itself (the reference behaviour), and each corolib side
against a stdlib peer in a thread.

Certificates are made at test time with the ``openssl`` command line.
"""

from __future__ import annotations

import os
import shutil
import socket as std_socket
import ssl as std_ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from _support import worlds
from _support.leaks import open_fds as open_fds, raise_nofile as raise_nofile
from _support.worlds import ThreadTask as ThreadTask, join as join, listener

import corolib.select
import corolib.socket
import corolib.ssl

# ---- certificates -------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    """Paths of the PEM files made by :func:`make_certs`."""

    ca: str  # the test CA (trusted by the contexts below)
    server_cert: str  # CN=localhost, SAN DNS:localhost, IP:127.0.0.1, signed by ca
    server_key: str
    client_cert: str  # CN=corolib client, signed by ca
    client_key: str
    rogue_cert: str  # CN=localhost, same SANs, self-signed (not trusted)
    rogue_key: str


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(
        ["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    )


def make_certs(directory: str) -> Certs:
    """Make a CA, a server and a client certificate signed by it, and a self-signed one."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is needed to make test certificates")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
            "basicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
        )
    with open(os.path.join(directory, "client.ext"), "w") as f:
        f.write(
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n"
        )
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3",
        "-subj", "/CN=corolib test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    for name, subject in (("server", "/CN=localhost"), ("client", "/CN=corolib client")):
        _openssl(
            "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
            cwd=directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "3", "-extfile", f"{name}.ext",
            cwd=directory,
        )  # fmt: skip
    _openssl(
        "req", "-x509", *ec, "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "3",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        cwd=directory,
    )  # fmt: skip
    p = lambda name: os.path.join(directory, name)  # noqa: E731
    return Certs(
        ca=p("ca.pem"),
        server_cert=p("server.pem"),
        server_key=p("server.key"),
        client_cert=p("client.pem"),
        client_key=p("client.key"),
        rogue_cert=p("rogue.pem"),
        rogue_key=p("rogue.key"),
    )


# ---- worlds -------------------------------------------------------------------------


class World(worlds.World):
    """The socket and TLS modules and concurrency primitives of one world."""

    def __init__(self, name: str, certs: Certs) -> None:
        super().__init__(name)
        self.certs = certs
        self.socket: ModuleType = corolib.socket if self.coop else std_socket
        self.ssl: ModuleType = corolib.ssl if self.coop else std_ssl
        self.select: Any = corolib.select if self.coop else __import__("select")

    # -- TLS --

    def server_context(self, *, cert: str | None = None, key: str | None = None) -> Any:
        ctx = self.ssl.SSLContext(self.ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert or self.certs.server_cert, key or self.certs.server_key)
        return ctx

    def client_context(self, *, cafile: str | None = None) -> Any:
        return self.ssl.create_default_context(cafile=cafile or self.certs.ca)

    # TCP_NODELAY everywhere: with Nagle's algorithm, the server's two
    # small TLS 1.3 session-ticket writes meet the client's delayed ACK, and
    # each handshake costs 40 ms on loopback (in both worlds alike).

    def listener(self, backlog: int = 128) -> Any:
        return listener(self.socket, backlog, nodelay=True)  # accepted ones inherit it

    def connect(self, address: Any, timeout: Any = None) -> Any:
        s = self.socket.create_connection(address, timeout=timeout)
        s.setsockopt(self.socket.IPPROTO_TCP, self.socket.TCP_NODELAY, 1)
        return s

    def tcp_socket(self) -> Any:
        s = self.socket.socket(self.socket.AF_INET, self.socket.SOCK_STREAM)
        s.setsockopt(self.socket.IPPROTO_TCP, self.socket.TCP_NODELAY, 1)
        return s


class Pair:
    """A server world and a client world (the same one, or corolib against the stdlib)."""

    def __init__(self, server: World, client: World) -> None:
        self.server = server
        self.client = client
        self.mixed = server.name != client.name

    def run(
        self,
        server_fn: Callable[..., Any],
        client_fn: Callable[..., Any],
        *args: Any,
        timeout: float = 30,
    ) -> tuple[Any, Any]:
        """Run ``server_fn(lsock, *args)`` and ``client_fn(address, *args)``; return both results.

        ``lsock`` is a plain listening socket of the server's world.  The
        listener is closed afterwards.  The client's exception, if any, is
        raised after the server finished (the server is given ``timeout``).
        """
        lsock = self.server.listener()
        address = lsock.getsockname()
        try:
            server = self.server.spawn(server_fn, lsock, *args)
            client = self.client.spawn(client_fn, address, *args)
            client_error: BaseException | None = None
            try:
                client_value = join(client, timeout)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                client_error = exc
            try:
                server_value = join(server, timeout)
            except BaseException as exc:
                # The client's failure (if any) is usually the cause: chain it.
                if client_error is not None and exc.__context__ is None:
                    exc.__context__ = client_error
                raise
            if client_error is not None:
                raise client_error
            return server_value, client_value
        finally:
            lsock.close()

    def __repr__(self) -> str:
        return f"<Pair server={self.server.name} client={self.client.name}>"


def recv_exactly(sock: Any, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 65536))
        if not chunk:
            raise EOFError(f"{n} bytes short")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_all(sock: Any) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
