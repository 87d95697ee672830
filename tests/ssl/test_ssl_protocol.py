"""TLS behaviour written once, run as corolib/corolib, stdlib/stdlib and mixed.

``pair`` tests run a server in one world and a client in another: both
corolib (greenlets), both the stdlib (threads: the reference behaviour),
and each corolib side against a stdlib peer in an OS thread.  Whatever the
stdlib does, corolib must do with the same results and exceptions.
"""

from __future__ import annotations

import hashlib
import os
import ssl as std_ssl
import time

import pytest
from sslutil import Pair, recv_exactly

# ---- handshake ------------------------------------------------------------------------


def test_handshake_and_echo(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            assert type(tls) is S.ssl.SSLSocket
            assert tls.getpeercert() is None  # no client certificate asked for
            info = tls.version(), tls.cipher()[0]
            while data := tls.recv(65536):
                tls.sendall(data)
            return info

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            assert type(tls) is C.ssl.SSLSocket
            assert isinstance(tls, C.socket.socket)
            cert = tls.getpeercert()
            assert ((("commonName", "localhost"),)) in cert["subject"]
            assert ("DNS", "localhost") in cert["subjectAltName"]
            assert isinstance(tls.getpeercert(binary_form=True), bytes)
            assert tls.server_hostname == "localhost" and not tls.server_side
            assert tls.selected_alpn_protocol() is None
            assert tls.session is not None and tls.session_reused is False
            message = b"ping %d " * 3000
            tls.sendall(message)
            assert recv_exactly(tls, len(message)) == message
            return tls.version(), tls.cipher()[0]

    server_info, client_info = pair.run(server, client)
    assert server_info == client_info
    assert client_info[0] in ("TLSv1.2", "TLSv1.3")


def _failing_server(S, sctx):
    def server(lsock):
        conn, _ = lsock.accept()
        try:
            with sctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(10)  # TLS 1.3: the client's verdict arrives after the handshake
        except (std_ssl.SSLError, OSError) as exc:
            return type(exc)
        return None

    return server


def test_untrusted_certificate(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx = S.server_context(cert=S.certs.rogue_cert, key=S.certs.rogue_key)
    cctx = C.client_context()

    def client(address):
        with C.connect(address) as sock:
            with pytest.raises(std_ssl.SSLCertVerificationError) as info:
                cctx.wrap_socket(sock, server_hostname="localhost")
        assert C.ssl.SSLCertVerificationError is std_ssl.SSLCertVerificationError
        assert info.value.verify_code == 18  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        assert "self-signed certificate" in info.value.verify_message
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)

    server_error, _ = pair.run(_failing_server(S, sctx), client)
    assert server_error is not None and issubclass(server_error, std_ssl.SSLError)


def test_wrong_host_name(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def client(address):
        with C.connect(address) as sock:
            with pytest.raises(std_ssl.SSLCertVerificationError) as info:
                cctx.wrap_socket(sock, server_hostname="example.org")
        assert info.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
        assert "Hostname mismatch" in info.value.verify_message

    server_error, _ = pair.run(_failing_server(S, sctx), client)
    assert server_error is not None and issubclass(server_error, std_ssl.SSLError)


def test_peer_closes_during_handshake(pair: Pair) -> None:
    C = pair.client
    cctx = C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with conn:
            assert conn.recv(65536)  # the ClientHello; then close without a word

    def client(address):
        with C.connect(address) as sock:
            with pytest.raises(std_ssl.SSLEOFError):
                cctx.wrap_socket(sock, server_hostname="localhost")

    pair.run(server, client)


def test_mutual_tls(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()
    sctx.verify_mode = std_ssl.CERT_REQUIRED
    sctx.load_verify_locations(S.certs.ca)
    cctx.load_cert_chain(C.certs.client_cert, C.certs.client_key)

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            subject = tls.getpeercert()["subject"]
            tls.sendall(b"hello")
            assert tls.recv(10) == b""
            return subject

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            return tls.recv(10)

    subject, greeting = pair.run(server, client)
    assert greeting == b"hello"
    assert (("commonName", "corolib client"),) in subject


# ---- SNI, ALPN --------------------------------------------------------------------------


def test_sni_callback_sees_the_name_and_can_switch_context(pair: Pair) -> None:
    S, C = pair.server, pair.client
    # The listening context has the untrusted certificate; the callback
    # switches to the good one for "localhost", so the client's verification
    # succeeds only if the switch took effect.
    rogue = S.server_context(cert=S.certs.rogue_cert, key=S.certs.rogue_key)
    good = S.server_context()
    seen = []

    def sni(sslsock, server_name, context):
        seen.append((type(sslsock), server_name, context is rogue))
        if server_name == "localhost":
            sslsock.context = good
        return None

    rogue.sni_callback = sni
    cctx = C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with rogue.wrap_socket(conn, server_side=True) as tls:
            assert tls.context is good
            tls.sendall(b"ok")
            assert tls.recv(10) == b""

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            return tls.recv(10)

    _, reply = pair.run(server, client)
    assert reply == b"ok"
    assert seen == [(S.ssl.SSLSocket, "localhost", True)]


def test_alpn(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()
    sctx.set_alpn_protocols(["h2", "http/1.1"])
    cctx.set_alpn_protocols(["spdy/2", "http/1.1"])

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"x")
            assert tls.recv(1) == b""
            return tls.selected_alpn_protocol()

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            assert tls.recv(1) == b"x"
            return tls.selected_alpn_protocol()

    assert pair.run(server, client) == ("http/1.1", "http/1.1")


# ---- connect, accept, explicit handshakes -----------------------------------------------


def test_accept_on_a_listening_tls_socket(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        with sctx.wrap_socket(lsock, server_side=True) as tls_listener:
            assert type(tls_listener) is S.ssl.SSLSocket
            for _ in range(2):
                conn, addr = tls_listener.accept()
                with conn:
                    assert type(conn) is S.ssl.SSLSocket and conn.server_side
                    assert conn.version() is not None  # handshake done by accept()
                    assert addr[0] == "127.0.0.1"
                    conn.sendall(conn.recv(100).upper())

    def client(address):
        replies = []
        for _ in range(2):
            with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
                tls.sendall(b"abc")
                replies.append(tls.recv(100))
        return replies

    assert pair.run(server, client)[1] == [b"ABC", b"ABC"]


def test_connect_and_connect_ex_handshake(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        for _ in range(3):
            conn, _ = lsock.accept()
            with sctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(tls.recv(100))

    def client(address):
        with cctx.wrap_socket(C.tcp_socket(), server_hostname="localhost") as tls:
            assert tls.version() is None and tls.cipher() is None
            tls.connect(address)  # connects, then handshakes
            assert tls.version() is not None
            with pytest.raises(ValueError, match="already-connected"):
                tls.connect(address)
            tls.sendall(b"one")
            assert tls.recv(100) == b"one"
        with cctx.wrap_socket(C.tcp_socket(), server_hostname="localhost") as tls:
            assert tls.connect_ex(address) == 0
            assert tls.version() is not None
            tls.sendall(b"two")
            assert tls.recv(100) == b"two"
        with cctx.wrap_socket(
            C.tcp_socket(), server_hostname="localhost", do_handshake_on_connect=False
        ) as tls:
            tls.connect(address)
            assert tls.version() is None
            with pytest.raises(ValueError):
                tls.getpeercert()  # handshake not done yet
            tls.do_handshake()
            assert tls.version() is not None
            tls.sendall(b"three")
            assert tls.recv(100) == b"three"

    pair.run(server, client)


def test_session_reuse(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        reused = []
        for _ in range(2):
            conn, _ = lsock.accept()
            with sctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hi")  # after the session tickets
                assert tls.recv(1) == b""
                reused.append(tls.session_reused)
        return reused

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            assert tls.recv(2) == b"hi"  # reading takes in the tickets
            session = tls.session
            assert session is not None and tls.session_reused is False
        with cctx.wrap_socket(C.tcp_socket(), server_hostname="localhost", session=session) as tls:
            tls.connect(address)
            assert tls.recv(2) == b"hi"
            return tls.session_reused

    assert pair.run(server, client) == ([False, True], True)


def test_server_side_restrictions(world) -> None:
    ctx = world.server_context()
    with world.listener() as lsock:
        with world.socket.socket() as s:
            with pytest.raises(ValueError, match="server_hostname can only be specified"):
                ctx.wrap_socket(s, server_side=True, server_hostname="x")
        with ctx.wrap_socket(world.socket.socket(), server_side=True) as tls:
            with pytest.raises(ValueError, match="can't connect in server-side mode"):
                tls.connect(lsock.getsockname())
    cctx = world.client_context()
    with world.socket.socket() as s:
        with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
            cctx.wrap_socket(s)
    udp = world.socket.socket(world.socket.AF_INET, world.socket.SOCK_DGRAM)
    with udp, pytest.raises(NotImplementedError, match="only stream sockets"):
        cctx.wrap_socket(udp, server_hostname="localhost")


# ---- data -----------------------------------------------------------------------------------

PAYLOAD_SIZE = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(PAYLOAD_SIZE)


def test_20mb_each_way_with_checksum(pair: Pair, payload: bytes) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()
    digest = hashlib.sha256(payload).hexdigest().encode()

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            h = hashlib.sha256()
            remaining = PAYLOAD_SIZE
            while remaining:
                chunk = tls.recv(min(remaining, 1 << 20))
                assert chunk
                h.update(chunk)
                remaining -= len(chunk)
            tls.sendall(h.hexdigest().encode())
            tls.sendall(payload)  # one call: 20 MB through one TLS write
            assert tls.recv(1) == b""

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            tls.sendall(payload)
            assert recv_exactly(tls, len(digest)) == digest
            buf = bytearray(1 << 20)
            h = hashlib.sha256()
            remaining = PAYLOAD_SIZE
            while remaining:
                n = tls.recv_into(buf)
                assert n
                h.update(memoryview(buf)[:n])
                remaining -= n
            return h.hexdigest().encode()

    assert pair.run(server, client, timeout=60)[1] == digest


def test_read_write_recv_into_pending(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.write(b"a" * 1000) == 1000  # one record
            assert tls.read() == b"done"

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            assert tls.pending() == 0
            assert tls.read(10) == b"a" * 10
            assert tls.pending() == 990  # the rest of the record, already decrypted
            buf = bytearray(100)
            assert tls.read(50, buf) == 50
            assert tls.recv_into(buf, 20) == 20
            big = bytearray(2000)
            assert tls.recv_into(big) == 920
            assert tls.pending() == 0
            with pytest.raises(ValueError, match="non-zero flags"):
                tls.recv(10, 1)
            with pytest.raises(ValueError, match="non-zero flags"):
                tls.send(b"x", 1)
            with pytest.raises(ValueError, match="recvfrom not allowed"):
                tls.recvfrom(10)
            with pytest.raises(ValueError, match="sendto not allowed"):
                tls.sendto(b"x", ("127.0.0.1", 9))
            with pytest.raises(NotImplementedError):
                tls.sendmsg([b"x"])
            with pytest.raises(NotImplementedError):
                tls.dup()
            tls.write(b"done")

    pair.run(server, client)


def test_makefile_lines(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()
    lines = [b"line %d %s\n" % (i, b"x" * (i * 37 % 5000)) for i in range(300)]

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls, tls.makefile("rwb") as f:
            count = 0
            for line in f:
                if line == b"QUIT\n":
                    break
                f.write(line.upper())
                count += 1
            f.flush()
            return count

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            with tls.makefile("wb") as w:
                w.writelines(lines)
                w.write(b"QUIT\n")
            with tls.makefile("r", encoding="ascii", newline="\n") as r:
                got = [r.readline() for _ in lines]
                assert r.readline() == ""  # the server closed: EOF
            assert tls.fileno() >= 0  # makefile objects closed first; the socket stays open
            return got

    count, got = pair.run(server, client)
    assert count == len(lines)
    assert got == [line.decode().upper() for line in lines]


def test_sendfile_over_tls(pair: Pair, tmp_path) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()
    data = os.urandom(300_000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            received = recv_exactly(tls, 200_000)
            tls.sendall(b"ok")
            assert tls.recv(1) == b""
            return received

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            with open(path, "rb") as f:
                sent = tls.sendfile(f, 1000, 200_000)
                assert f.tell() == 201_000
            # Read before closing: closing with unread data (the server's
            # session tickets) would reset the connection.
            assert tls.recv(2) == b"ok"
            return sent

    received, sent = pair.run(server, client)
    assert sent == 200_000 and received == data[1000:201_000]


# ---- ending TLS ------------------------------------------------------------------------------


def test_unwrap_back_to_plain_tcp(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        tls = sctx.wrap_socket(conn, server_side=True)
        assert tls.recv(100) == b"STOPTLS"
        plain = tls.unwrap()
        with plain:
            assert plain is tls
            assert tls.version() is None and tls.pending() == 0
            plain.sendall(b"plain text from the server")
            return plain.recv(100)

    def client(address):
        tls = cctx.wrap_socket(C.connect(address), server_hostname="localhost")
        tls.sendall(b"STOPTLS")
        plain = tls.unwrap()
        with plain:
            assert plain is tls
            with pytest.raises(ValueError, match="No SSL wrapper"):
                plain.unwrap()
            plain.sendall(b"plain text from the client")
            return recv_exactly(plain, len(b"plain text from the server"))

    assert pair.run(server, client) == (
        b"plain text from the client",
        b"plain text from the server",
    )


def test_clean_close_notify_is_not_a_ragged_eof(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        tls = sctx.wrap_socket(conn, server_side=True)
        tls.sendall(b"bye")
        tls.unwrap().close()  # close_notify, and wait for the client's

    def client(address):
        tls = cctx.wrap_socket(
            C.connect(address), server_hostname="localhost", suppress_ragged_eofs=False
        )
        with tls:
            assert recv_exactly(tls, 3) == b"bye"
            assert tls.recv(10) == b""  # a clean TLS EOF: no error even unsuppressed
            assert tls.read(10) == b""
            tls.unwrap()

    pair.run(server, client)


@pytest.mark.parametrize("suppress", [True, False], ids=["suppressed", "raised"])
def test_ragged_eof_mid_stream(pair: Pair, suppress: bool) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        tls = sctx.wrap_socket(conn, server_side=True)
        tls.sendall(b"partial answer")
        tls.close()  # TCP FIN without a TLS close_notify

    def client(address):
        with cctx.wrap_socket(
            C.connect(address), server_hostname="localhost", suppress_ragged_eofs=suppress
        ) as tls:
            assert recv_exactly(tls, 14) == b"partial answer"
            if suppress:
                assert tls.recv(10) == b""
                assert tls.recv_into(bytearray(10)) == 0
            else:
                with pytest.raises(std_ssl.SSLEOFError) as info:
                    tls.recv(10)
                assert info.value.errno == std_ssl.SSL_ERROR_EOF

    pair.run(server, client)


# ---- timeouts ---------------------------------------------------------------------------------


def test_handshake_timeout(pair: Pair) -> None:
    C = pair.client
    cctx = C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with conn:
            conn.recv(65536)  # the ClientHello, never answered
            assert conn.recv(65536) == b""  # until the client gives up

    def client(address):
        sock = C.connect(address, timeout=0.3)
        with sock:
            t0 = time.monotonic()
            with pytest.raises(TimeoutError, match="handshake operation timed out"):
                cctx.wrap_socket(sock, server_hostname="localhost")
            return time.monotonic() - t0

    _, elapsed = pair.run(server, client)
    assert 0.25 <= elapsed < 3


def test_read_timeout_keeps_the_connection_usable(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(10) == b"go"  # sent once the client timed out
            tls.sendall(b"late")
            assert tls.recv(10) == b""

    def client(address):
        with cctx.wrap_socket(C.connect(address), server_hostname="localhost") as tls:
            tls.settimeout(0.2)
            assert tls.gettimeout() == 0.2
            t0 = time.monotonic()
            with pytest.raises(TimeoutError, match="^The read operation timed out$"):
                tls.recv(10)
            elapsed = time.monotonic() - t0
            tls.sendall(b"go")
            tls.settimeout(10)
            assert tls.recv(10) == b"late"
            return elapsed

    _, elapsed = pair.run(server, client)
    assert 0.15 <= elapsed < 3


def test_write_timeout(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            done, _ = lsock.accept()  # the client's "I gave up": never read tls meanwhile
            done.close()
            tls.settimeout(10)

    def client(address):
        sock = C.connect(address)
        sock.setsockopt(C.socket.SOL_SOCKET, C.socket.SO_SNDBUF, 32768)
        with cctx.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.settimeout(0.3)
            t0 = time.monotonic()
            with pytest.raises(TimeoutError, match="^The write operation timed out$"):
                tls.sendall(bytes(16 * 1024 * 1024))
            elapsed = time.monotonic() - t0
            C.connect(address).close()
            return elapsed

    _, elapsed = pair.run(server, client)
    assert 0.25 <= elapsed < 5


# ---- non-blocking mode -------------------------------------------------------------------------


def test_non_blocking_mode(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        lsock.accept()[0].close()  # the client's first try, with the ValueError
        conn, _ = lsock.accept()
        # A peer in another thread may answer the ClientHello before the
        # client's first do_handshake() call even tries to read: delay, so
        # that the client certainly meets SSLWantReadError.
        S.sleep(0.05)
        with sctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(10) == b"ready"
            tls.sendall(b"x")
            done, _ = lsock.accept()  # the client filled its buffers
            done.close()

    def client(address):
        sock = C.connect(address)
        sock.setblocking(False)
        with pytest.raises(ValueError, match="do_handshake_on_connect should not be specified"):
            cctx.wrap_socket(sock, server_hostname="localhost")
        assert sock.fileno() == -1  # detached; the TLS socket was closed
        sock = C.connect(address)
        sock.setblocking(False)
        sock.setsockopt(C.socket.SOL_SOCKET, C.socket.SO_SNDBUF, 32768)
        tls = cctx.wrap_socket(sock, server_hostname="localhost", do_handshake_on_connect=False)
        with tls:
            assert tls.gettimeout() == 0.0
            wants = set()
            while True:
                try:
                    tls.do_handshake()
                    break
                except std_ssl.SSLWantReadError:
                    wants.add("read")
                    C.select.select([tls], [], [], 10)
                except std_ssl.SSLWantWriteError:
                    wants.add("write")
                    C.select.select([], [tls], [], 10)
            assert "read" in wants
            with pytest.raises(std_ssl.SSLWantReadError):
                tls.recv(10)
            tls.setblocking(True)
            tls.sendall(b"ready")
            tls.setblocking(False)
            data = b""
            while not data:
                C.select.select([tls], [], [], 10)
                try:
                    data = tls.recv(10)
                except std_ssl.SSLWantReadError:
                    pass
            assert data == b"x"
            chunk = bytes(65536)
            with pytest.raises(std_ssl.SSLWantWriteError):
                for _ in range(10_000):  # until the kernel buffers are full
                    tls.send(chunk)
        C.connect(address).close()

    pair.run(server, client)


def test_do_handshake_block_on_non_blocking_socket(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx, cctx = S.server_context(), C.client_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hi")
            assert tls.recv(1) == b""

    def client(address):
        sock = C.connect(address)
        sock.setblocking(False)
        tls = cctx.wrap_socket(sock, server_hostname="localhost", do_handshake_on_connect=False)
        with tls:
            tls.do_handshake(block=True)
            assert tls.gettimeout() == 0.0  # restored
            assert tls.version() is not None
            tls.setblocking(True)
            return tls.recv(10)

    assert pair.run(server, client)[1] == b"hi"


# ---- module functions -----------------------------------------------------------------------


def test_get_server_certificate(pair: Pair) -> None:
    S, C = pair.server, pair.client
    sctx = S.server_context()

    def server(lsock):
        conn, _ = lsock.accept()
        with sctx.wrap_socket(conn, server_side=True) as tls:
            try:
                tls.recv(10)
            except (std_ssl.SSLError, OSError):
                pass  # the client just closes

    def client(address):
        return C.ssl.get_server_certificate(address, ca_certs=C.certs.ca, timeout=10)

    _, pem = pair.run(server, client)
    with open(S.certs.server_cert) as f:
        expected = std_ssl.PEM_cert_to_DER_cert(f.read())
    assert std_ssl.PEM_cert_to_DER_cert(pem) == expected
