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


def test_gevent_ssl_keyword_arguments(cert: tuple[str, str]) -> None:
    key, crt = cert
    with StreamServer(LOCAL, echo, keyfile=key, certfile=crt) as server:
        assert server.ssl_enabled
        with tls_connect(server, cert) as sock:
            sock.sendall(b"kw")
            assert sock.recv(10) == b"kw"
    with pytest.raises(TypeError, match="certfile"):
        StreamServer(LOCAL, echo, keyfile=key)
    with pytest.raises(TypeError, match="not both"):
        StreamServer(LOCAL, echo, ssl_context=server_context(cert), certfile=crt)
    with pytest.raises(TypeError, match="need TLS"):
        StreamServer(LOCAL, echo, do_handshake_on_connect=False)


def test_handshake_deadline_cuts_off_a_trickling_client(cert: tuple[str, str], caplog: Any) -> None:
    """A client sending its ClientHello a byte at a time, each well within any
    per-read timeout, is cut off when the whole handshake's deadline passes."""
    import time

    called = []

    def handle(sock: Any, address: Any) -> None:
        called.append(address)

    deadline = 0.5
    with caplog.at_level(logging.INFO, logger="corolib.server"):
        with StreamServer(
            LOCAL, handle, ssl_context=server_context(cert), handshake_timeout=deadline
        ) as server:
            with socket.create_connection(("127.0.0.1", server.server_port)) as sock:
                t0 = time.monotonic()
                sock.settimeout(0.1)
                # A well-formed start of a ClientHello record (512 bytes long),
                # one byte at a time: nothing the server could reject early.
                hello = iter(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(500))
                while True:
                    try:
                        sock.sendall(bytes([next(hello)]))
                        if sock.recv(100) == b"":
                            break
                    except TimeoutError:
                        continue
                    except (ConnectionResetError, BrokenPipeError):
                        break
                    assert time.monotonic() - t0 < deadline + 10, "never cut off"
                elapsed = time.monotonic() - t0
    assert not called
    assert deadline * 0.95 <= elapsed < deadline + 10
    assert any("timed out" in r.getMessage() for r in caplog.records)


def test_client_hello_in_pieces_is_served(cert: tuple[str, str]) -> None:
    """The server waits for the whole first record before making its TLS state;
    a hello that arrives in pieces (header split, body split) is then served
    normally, and later reads are not held back by that wait."""
    import time

    client = stdssl.create_default_context(cafile=cert[1])
    incoming, outgoing = stdssl.MemoryBIO(), stdssl.MemoryBIO()
    tls = client.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with StreamServer(LOCAL, echo, ssl_context=server_context(cert)) as server:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
            try:
                tls.do_handshake()
            except stdssl.SSLWantReadError:
                pass
            hello = outgoing.read()
            assert hello[0] == 0x16 and len(hello) > 10
            for piece in (hello[:2], hello[2:7], hello[7:-1], hello[-1:]):
                sock.sendall(piece)
                corolib.sleep(0.05)  # the pieces arrive apart (the point of the test)

            def pump() -> None:
                if outgoing.pending:
                    sock.sendall(outgoing.read())
                data = sock.recv(65536)
                assert data, "the server closed the connection"
                incoming.write(data)

            deadline = time.monotonic() + 10
            while True:
                try:
                    tls.do_handshake()
                    break
                except stdssl.SSLWantReadError:
                    assert time.monotonic() < deadline
                    pump()
            if outgoing.pending:
                sock.sendall(outgoing.read())
            tls.write(b"a")  # one byte: must not wait for a low-water mark
            sock.sendall(outgoing.read())
            got = b""
            while not got:
                incoming.write(sock.recv(65536))
                try:
                    got = tls.read(10)
                except stdssl.SSLWantReadError:
                    pass
            assert got == b"a"


STALLED_SERVER = """
import ctypes, gc, os, resource, signal, ssl, sys
import corolib
from corolib import ssl as cossl
from corolib.server import StreamServer

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
ctx = cossl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])

def echo(sock, address):
    while data := sock.recv(4096):
        sock.sendall(data)

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

def report():
    # GC-tracked objects as they are (no collection: nothing may be left
    # waiting for the cyclic GC), fds, and the RSS once the C allocator has
    # handed its free pages back (glibc keeps them otherwise: reused, not lost).
    objects = len(gc.get_objects())
    ctypes.CDLL(None).malloc_trim(0)
    print(objects, len(os.listdir("/proc/self/fd")), rss(), flush=True)

corolib.signal_handler(signal.SIGUSR1, report)
server = StreamServer(("127.0.0.1", 0), echo, ssl_context=ctx, handshake_timeout=1.0,
                      backlog=4096)
server.start()
print(server.server_port, flush=True)
server.serve_forever()
"""


@pytest.mark.parametrize(
    "count", [pytest.param(300, id="300"), pytest.param(2000, id="2000", marks=pytest.mark.slow)]
)
def test_stalled_handshakes_are_closed_at_the_timeout(
    cert: tuple[str, str], count: int, scaled: Any
) -> None:
    """Many clients open a TLS handshake and stall: the server (a real child
    process) closes each at its 1 s deadline, keeps serving normal clients
    meanwhile, and gets back to its baseline objects, fds and memory."""
    import os
    import resource
    import selectors
    import signal
    import socket as stdsocket
    import ssl as stdssl_
    import sys
    import time

    count = scaled(count)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < count + 200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {count + 200}")
    if soft < count + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count + 200, hard))
    key, crt = cert
    child = subprocess.Popen(
        [sys.executable, "-c", STALLED_SERVER, crt, key], stdout=subprocess.PIPE, cwd="/"
    )
    assert child.stdout is not None
    client_ctx = stdssl_.create_default_context(cafile=crt)

    def normal_client() -> None:
        with stdsocket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"hello")
                assert s.recv(10) == b"hello"

    def fds() -> int:
        return len(os.listdir(f"/proc/{child.pid}/fd"))

    def report() -> tuple[int, int, int]:
        os.kill(child.pid, signal.SIGUSR1)
        objects, nfds, rss = map(int, child.stdout.readline().split())  # type: ignore[union-attr]
        return objects, nfds, rss

    def wait_for(cond: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, what
            time.sleep(0.01)

    stalled: list[stdsocket.socket] = []
    try:
        port = int(child.stdout.readline())
        for _ in range(3):
            normal_client()  # warm up
        wait_for(lambda: fds() <= 12, "the warm-up connections were not closed")
        base, base_fds = report(), fds()
        residue = []
        for _round in range(2):
            sel = selectors.DefaultSelector()
            t0 = time.monotonic()
            for _ in range(count):
                s = stdsocket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
                stalled.append(s)
            wait_for(lambda: fds() >= base_fds + count, "not all stalled connections accepted")
            peak = report()
            normal_client()  # still served while they stall
            open_ = len(stalled)
            first_close = None
            while open_:
                assert time.monotonic() < t0 + 60, f"{open_} stalled handshakes still open"
                for key_, _ in sel.select(1):
                    sock = key_.fileobj
                    try:
                        data = sock.recv(100)  # type: ignore[union-attr]
                    except ConnectionResetError:
                        data = b""
                    if data == b"":
                        first_close = first_close or time.monotonic()
                        sel.unregister(sock)
                        open_ -= 1
            sel.close()
            for s in stalled:
                s.close()
            stalled.clear()
            assert first_close is not None and first_close - t0 >= 0.95  # not before the deadline
            normal_client()
            wait_for(lambda: fds() == base_fds, "fds not back to the baseline")
            after = report()
            assert after[0] - base[0] < 200, (base, after)  # GC objects: nothing left behind
            residue.append(after[2] - base[2])
            # While stalled, a connection holds a socket and a greenlet, not
            # TLS state (that is made once the ClientHello is all here).
            assert (peak[2] - base[2]) / count < 20, (base, peak)  # KiB each
        # Memory: what the first round left (free lists and caches grown to
        # the high-water mark, heap fragmentation) is bounded, and the second
        # round, as large, adds nothing to it.
        assert residue[0] < 16 * 1024, residue  # KiB
        assert residue[1] - residue[0] < 4 * 1024, residue
    finally:
        for s in stalled:
            s.close()
        child.kill()
        child.wait()
        child.stdout.close()


def test_tls_start_on_data_waits_in_the_hub_within_the_handshake_deadline(
    cert: tuple[str, str],
) -> None:
    server = StreamServer(
        LOCAL, echo, ssl_context=server_context(cert), start_on_data=True, handshake_timeout=1.0
    )
    with server:
        silent = socket.create_connection(("127.0.0.1", server.server_port), timeout=10)
        with tls_connect(server, cert) as sock:  # the hello starts the handler
            sock.sendall(b"tls")
            assert sock.recv(10) == b"tls"
        assert silent.recv(10) == b""  # nothing sent: closed at the handshake deadline
        silent.close()
        deadline = corolib.Timeout(10)
        with deadline:
            while server.active:
                corolib.sleep(0.005)
        assert server.waiting == 0
