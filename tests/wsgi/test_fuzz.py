"""Fuzzing the request path with hypothesis: no crash, no hang, no 5xx, the server goes on.

Requests are built from parts (method, target, version, header lines,
framing, body), some of them broken on purpose, then maybe mutated byte by
byte, and sent whole to a real server over a socket, which is then
half-closed.  Every answer must be a well-formed status line below 500 (or
the connection simply closed), within the deadline; afterwards the server
must still answer a plain request.

The default run is bounded to a few seconds (``WSGI_FUZZ_EXAMPLES``, 150);
``make test-wsgi-fuzz`` runs the ``slow`` variant for ``WSGI_FUZZ_SECONDS``.
"""

from __future__ import annotations

import os
import re
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from wsgiutil import Server, connect

STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")

METHODS = st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"OPTIONS", b"DELETE", b"PATCH",
                           b"CONNECT", b"G T", b"", b"get", b"\x00"])  # fmt: skip
TARGETS = st.one_of(
    st.sampled_from(
        [
            b"/hello",
            b"/echo",
            b"/sha",
            b"/lines",
            b"/nope",
            b"*",
            b"/%",
            b"/%zz",
            b"http://h/echo",
            b"/a?b=c&d",
            b"//x",
            b"/\xff\xfe",
            b"",
        ]
    ),  # fmt: skip
    st.binary(max_size=40).map(lambda b: b"/" + b),
)
VERSIONS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/0.9", b"HTTP/2.0", b"HTTP/1.2",
                            b"http/1.1", b"HTTP/1.1 ", b""])  # fmt: skip
NAMES = st.one_of(
    st.sampled_from([b"Host", b"Content-Length", b"Transfer-Encoding", b"Expect", b"Connection",
                     b"X_Under", b"X-A", b"Content-Type", b"Trailer", b" Host", b"Host "]),
    st.binary(min_size=0, max_size=12),
)  # fmt: skip
VALUES = st.one_of(
    st.sampled_from([b"chunked", b"100-continue", b"close", b"keep-alive", b"5", b"0", b"-1",
                     b"1_0", b"+3", b"chunked, identity", b"gzip", b"", b"a\r\n b", b"x\x00y"]),
    st.binary(max_size=20),
)  # fmt: skip
EOLS = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"\r\r\n"])


@st.composite
def requests_(draw: st.DrawFn) -> bytes:
    eol = draw(EOLS)
    line = draw(METHODS) + b" " + draw(TARGETS) + b" " + draw(VERSIONS)
    headers = [b"Host: x"] if draw(st.booleans()) else []
    for name, value in draw(st.lists(st.tuples(NAMES, VALUES), max_size=6)):
        headers.append(name + draw(st.sampled_from([b": ", b":", b" : "])) + value)
    body = draw(st.binary(max_size=64))
    framing = draw(st.sampled_from(["none", "cl", "chunked", "bad-chunk", "cl-wrong"]))
    if framing == "cl":
        headers.append(b"Content-Length: %d" % len(body))
    elif framing == "cl-wrong":
        headers.append(b"Content-Length: %d" % (len(body) + draw(st.integers(-5, 5))))
    elif framing in ("chunked", "bad-chunk"):
        headers.append(b"Transfer-Encoding: chunked")
        size = b"%x" % len(body) if framing == "chunked" else draw(st.binary(max_size=6))
        body = (size + b"\r\n" + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    raw = eol.join([line, *headers]) + eol + eol + body
    for _ in range(draw(st.integers(0, 3))):  # a few byte mutations
        if raw:
            i = draw(st.integers(0, len(raw) - 1))
            raw = raw[:i] + draw(st.binary(min_size=0, max_size=3)) + raw[i + 1 :]
    if draw(st.booleans()):  # pipelined with a second, valid request
        raw += b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
    return raw


def exchange(port: int, raw: bytes) -> bytes:
    with connect(port, timeout=10) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        deadline = time.monotonic() + 10
        try:
            while data := sock.recv(65536):
                chunks.append(data)
                assert time.monotonic() < deadline, "the server did not close the connection"
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def check(server: Server, raw: bytes) -> None:
    data = exchange(server.port, raw)
    if data:
        assert data.startswith(b"HTTP/1.1 "), (raw, data[:200])
        codes = [int(c) for c in STATUS.findall(data)]
        assert codes and all(100 <= c < 500 for c in codes), (raw, data[:500])
    assert server.alive(), server.log()


@pytest.fixture(scope="module")
def fuzz_server(server_factory) -> Server:
    return server_factory(
        "plain",
        "--no-log",
        "--limit=max_request_line=512",
        "--limit=max_header_size=2048",
        "--limit=max_header_count=16",
        "--limit=max_body_size=4096",
        "--limit=header_timeout=2.0",
        "--limit=keepalive_timeout=2.0",
        "--limit=io_timeout=2.0",
    )


def _run(server: Server, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests_())
    def fuzz(raw: bytes) -> None:
        check(server, raw)

    fuzz()
    data = exchange(server.port, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"Hello, world!\n")
    assert "Traceback" not in server.log(), server.log()


def test_fuzz_request_path(fuzz_server: Server) -> None:
    _run(fuzz_server, int(os.environ.get("WSGI_FUZZ_EXAMPLES", "150")))


@pytest.mark.slow
def test_fuzz_request_path_long(fuzz_server: Server) -> None:
    seconds = float(os.environ.get("WSGI_FUZZ_SECONDS", "120"))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _run(fuzz_server, 500)
