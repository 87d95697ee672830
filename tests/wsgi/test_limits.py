"""Limits, timeouts, smuggling and malformed requests: refused, closed, and the server goes on.

The ``strict`` server (conftest.py) has small limits: request target 200
bytes, headers 2000 bytes / 20 fields, body 100000 bytes, header timeout
1 s, keep-alive idle 1 s, I/O timeout 1.5 s, 5 connections at once.
"""

from __future__ import annotations

import socket
import time

import pytest
import requests
from wsgiutil import Server, connect, read_response, recv_all


def status_of(data: bytes) -> int:
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data.split()[1])


def exchange(server: Server, raw: bytes, timeout: float = 10) -> bytes:
    """Send ``raw``, read until the server closes (it must, within ``timeout``)."""
    with connect(server.port, timeout) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            pass  # closed on us mid-send: what it answered is still readable
        try:
            return recv_all(sock, timeout)
        except ConnectionResetError:
            return b""


def still_serving(server: Server) -> None:
    assert requests.get(server.url("/hello"), timeout=10).text == "Hello, world!\n"
    assert server.alive()


SMUGGLING = {
    "cl-and-te": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    "te-and-cl": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 4\r\n\r\n0\r\n\r\n",
    "two-cl-differ": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
    b"Content-Length: 30\r\n\r\nxGET /smuggled HTTP/1.1\r\n\r\n",
    "two-cl-same": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
    b"Content-Length: 1\r\n\r\nx",
    "cl-underscore": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1_0\r\n\r\n0123456789",
    "cl-plus": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
    "cl-negative": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "cl-empty": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
    "te-chunked-identity": b"POST /echo HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "te-gzip": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "te-twice": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-http10": b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "bad-chunk-size": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nabc\r\n0\r\n\r\n",
    "chunk-size-underscore": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
    b"\r\n\r\n6_0\r\nabc\r\n0\r\n\r\n",
    "chunk-no-crlf": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabcX0\r\n\r\n",
    "chunk-overflow": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"ffffffffffffffffff\r\nabc\r\n",
    "trailer-smuggles-cl": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\nContent-Length: 50\r\n\r\n",
    "obs-fold": b"GET /hello HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
    "space-before-colon": b"GET /hello HTTP/1.1\r\nHost: x\r\nX : 1\r\n\r\n",
    "bare-lf": b"GET /hello HTTP/1.1\nHost: x\n\n",
    "bare-cr": b"GET /hello HTTP/1.1\rHost: x\r\n\r\n",
    "nul-in-value": b"GET /hello HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
    "ctl-in-name": b"GET /hello HTTP/1.1\r\nHost: x\r\nX\x01Y: a\r\n\r\n",
    "bad-version": b"GET /hello HTTP/1.7\r\nHost: x\r\n\r\n",
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "bad-method": b"G\x00T /hello HTTP/1.1\r\nHost: x\r\n\r\n",
    "no-version": b"GET /hello\r\nHost: x\r\n\r\n",
    "duplicate-host": b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "space-in-target": b"GET /he llo HTTP/1.1\r\nHost: x\r\n\r\n",
    "upgrade": b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nxx",
    "expect-other": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
    b"Expect: something\r\n\r\nx",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_malformed_refused_and_closed(strict: Server, name: str) -> None:
    data = exchange(strict, SMUGGLING[name])
    assert b"/smuggled" not in data
    if data:
        # One answer only: 4xx, Connection: close, then the connection ends.
        code = status_of(data)
        if name == "upgrade":
            # The request itself is answered (upgrades are not served), then closed.
            assert code in (200, 400)
        else:
            assert 400 <= code < 500, data[:300]
            assert b"Connection: close" in data
            assert data.count(b"HTTP/1.1 ") == 1
    still_serving(strict)


def test_earlier_pipelined_requests_answered_before_the_bad_one(strict: Server) -> None:
    data = exchange(
        strict,
        b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
    )
    first, second = data.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200") and second.startswith(b"400")


def test_request_line_too_long_414(strict: Server) -> None:
    data = exchange(strict, b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(data) == 414
    data = exchange(strict, b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(data) == 404  # under the limit: served (and kept alive until idle)


def test_header_too_large_431(strict: Server) -> None:
    data = exchange(
        strict, b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 3000 + b"\r\n\r\n"
    )
    assert status_of(data) == 431
    still_serving(strict)


def test_too_many_headers_431(strict: Server) -> None:
    headers = b"".join(b"X-%d: v\r\n" % i for i in range(25))
    data = exchange(strict, b"GET /hello HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status_of(data) == 431


def test_body_too_large_413_before_reading(strict: Server) -> None:
    with connect(strict.port) as sock:
        sock.sendall(b"POST /sha HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n")
        data = recv_all(sock)  # answered without sending a byte of the body
    assert status_of(data) == 413 and b"Connection: close" in data
    r = requests.post(strict.url("/sha"), data=b"x" * 100000, timeout=10)
    assert r.status_code == 200 and r.text.startswith("100000 ")


def test_chunked_body_too_large_413(strict: Server) -> None:
    def gen():  # type: ignore[no-untyped-def]
        for _ in range(30):
            yield b"y" * 10000

    try:
        r = requests.post(strict.url("/sha"), data=gen(), timeout=10)
        assert r.status_code == 413
    except requests.ConnectionError:
        pass  # closed while still sending: also a refusal
    still_serving(strict)


def test_slowloris_header_timeout(strict: Server) -> None:
    with connect(strict.port) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /hello HTTP/1.1\r\n")
        # Trickle a header byte every 0.2 s: each send resets no clock.
        data = b""
        try:
            for _ in range(40):
                sock.sendall(b"X")
                time.sleep(0.2)
        except OSError:
            pass
        try:
            data = recv_all(sock, 10)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - start
    assert elapsed < 6, elapsed  # 1 s header timeout, generous slack
    if data:
        assert status_of(data) == 408


def test_idle_new_connection_closed(strict: Server) -> None:
    with connect(strict.port) as sock:
        start = time.monotonic()
        assert recv_all(sock, 10) == b""
        assert 0.5 < time.monotonic() - start < 6


def test_keepalive_idle_timeout(strict: Server) -> None:
    with connect(strict.port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        f = sock.makefile("rb")
        assert read_response(f)[0] == 200
        start = time.monotonic()
        assert f.read() == b""  # closed by the server once idle
        assert 0.5 < time.monotonic() - start < 6


def test_body_io_timeout(strict: Server) -> None:
    with connect(strict.port) as sock:
        sock.sendall(b"POST /sha HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        start = time.monotonic()
        recv_all(sock, 10)  # the app's read times out; the server closes
        assert time.monotonic() - start < 8
    still_serving(strict)


def test_max_connections_back_pressure(strict: Server) -> None:
    # 5 connections at once: a 6th is accepted by the kernel but not served
    # until one of the 5 ends; it is not refused.
    held = [connect(strict.port) for _ in range(5)]
    try:
        for sock in held:
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock.makefile("rb"))[0] == 200
        extra = connect(strict.port)
        extra.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        extra.settimeout(0.3)
        with pytest.raises(socket.timeout):
            extra.recv(100)
        held.pop().close()
        data = recv_all(extra, 10)
        assert status_of(data) == 200
        extra.close()
    finally:
        for sock in held:
            sock.close()


def test_many_bad_clients_then_good(strict: Server) -> None:
    for name in ("cl-and-te", "bare-lf", "garbage", "two-cl-differ"):
        for _ in range(5):
            exchange(strict, SMUGGLING[name])
    still_serving(strict)


def test_endless_header_field_431(strict: Server) -> None:
    # One header value that never ends: refused once the head passes its bound,
    # long before the header timeout, however fast it streams.
    with connect(strict.port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        start = time.monotonic()
        data = b""
        try:
            for _ in range(200):
                sock.sendall(b"a" * 16384)
        except OSError:
            pass
        try:
            data = recv_all(sock, 10)
        except ConnectionResetError:
            pass
        assert time.monotonic() - start < 5
    if data:
        assert status_of(data) == 431
    still_serving(strict)


def test_no_keepalive_says_close(server_factory) -> None:
    server = server_factory("plain", "--limit=keepalive_timeout=0")
    with connect(server.port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\n\r\n")
        data = recv_all(sock)
    assert data.count(b"HTTP/1.1 200") == 1 and b"Connection: close" in data
