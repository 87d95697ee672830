"""StreamServer with ssl_context=: TLS per connection, handshakes in the handler greenlets.

Skipped until corolib.ssl exists (it is written in parallel).
"""

from __future__ import annotations

import logging
import shutil
import ssl as stdssl
import subprocess
from typing import Any

import pytest

import corolib
from corolib import socket
from corolib.server import StreamServer

cossl = pytest.importorskip("corolib.ssl", reason="corolib.ssl is not merged yet")

LOCAL = ("127.0.0.1", 0)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: Any) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    key, crt = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", crt],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, crt


def server_context(cert: tuple[str, str]) -> Any:
    ctx = cossl.SSLContext(stdssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert[1], cert[0])
    return ctx


def client_context(cert: tuple[str, str]) -> Any:
    ctx = cossl.SSLContext(stdssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert[1])
    return ctx


def echo(sock: Any, address: Any) -> None:
    while True:
        data = sock.recv(4096)
        if not data:
            return
        sock.sendall(data)


def tls_connect(server: StreamServer, cert: tuple[str, str]) -> Any:
    raw = socket.create_connection(("127.0.0.1", server.server_port), timeout=10)
    return client_context(cert).wrap_socket(raw, server_hostname="127.0.0.1")


def test_tls_echo_many_clients(cert: tuple[str, str]) -> None:
    seen: list[Any] = []

    def handle(sock: Any, address: Any) -> None:
        seen.append(type(sock))
        echo(sock, address)

    with StreamServer(LOCAL, handle, ssl_context=server_context(cert)) as server:

        def client(i: int) -> bytes:
            with tls_connect(server, cert) as sock:
                out = b""
                for j in range(10):
                    payload = b"tls %d %d" % (i, j)
                    sock.sendall(payload)
                    out = sock.recv(100)
                    assert out == payload
                return out

        corolib.joinall([corolib.spawn(client, i) for i in range(20)], raise_error=True)
    assert seen and all(t is cossl.SSLSocket for t in seen)


def test_stalled_handshake_does_not_hold_up_others(cert: tuple[str, str]) -> None:
    with StreamServer(LOCAL, echo, ssl_context=server_context(cert)) as server:
        # Connects, never says a word: its handshake waits in its own greenlet.
        with socket.create_connection(("127.0.0.1", server.server_port)):
            with tls_connect(server, cert) as sock:
                sock.sendall(b"hello")
                assert sock.recv(10) == b"hello"
        server.stop(timeout=0.1)


def test_failed_handshake_is_logged_not_raised(cert: tuple[str, str], caplog: Any) -> None:
    called = []

    def handle(sock: Any, address: Any) -> None:
        called.append(address)

    with caplog.at_level(logging.INFO, logger="corolib.server"):
        with StreamServer(LOCAL, handle, ssl_context=server_context(cert)) as server:
            with socket.create_connection(("127.0.0.1", server.server_port)) as sock:
                sock.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not TLS
                try:
                    assert sock.recv(100) == b""  # the server closes the connection
                except ConnectionResetError:
                    pass  # closed with our request unread: a reset
    assert not called
    assert any("TLS handshake" in r.getMessage() for r in caplog.records)


def test_stdlib_context_is_refused(cert: tuple[str, str]) -> None:
    ctx = stdssl.SSLContext(stdssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(TypeError, match="corolib.ssl.SSLContext"):
        StreamServer(LOCAL, echo, ssl_context=ctx)
