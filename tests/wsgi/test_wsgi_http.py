"""HTTP/1.1 behaviour of corolib.pywsgi, driven by raw sockets, http.client, requests and curl.

The application runs under ``wsgiref.validate.validator`` (PEP 3333
conformance, warnings are errors in the server), except where a test needs
what the validator forbids (sendfile, broken applications).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import subprocess
import time

import pytest
import requests
from serve import pattern
from wsgiutil import Server, connect, curl, read_response, recv_all


def test_hello_http_client(plain: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", plain.port, timeout=10)
    conn.request("GET", "/hello")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.read() == b"Hello, world!\n"
    assert resp.getheader("Date")
    conn.close()


def test_single_item_body_gets_content_length(raw: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", raw.port, timeout=10)
    conn.request("GET", "/hello")
    resp = conn.getresponse()
    assert resp.read() == b"Hello, world!\n"
    assert resp.getheader("Content-Length") == "14"
    assert resp.getheader("Transfer-Encoding") is None
    conn.close()


def test_keepalive_many_requests_one_connection(plain: Server) -> None:
    with requests.Session() as s:
        for i in range(50):
            r = s.get(plain.url(f"/environ?i={i}"), timeout=10)
            assert r.status_code == 200
            assert r.json()["QUERY_STRING"] == f"i={i}"
    # one connection: the server logged 50 requests from one client port
    log = plain.wait_log("i=49")
    assert len(re.findall(r'"GET /environ\?i=\d+ HTTP/1.1" 200', log)) >= 50


def test_access_log_format(plain: Server) -> None:
    requests.get(plain.url("/hello?log=format"), timeout=10)
    log = plain.wait_log("log=format")
    line = [x for x in log.splitlines() if "log=format" in x][-1]
    assert re.fullmatch(
        r"127\.0\.0\.1 - - \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] "
        r'"GET /hello\?log=format HTTP/1\.1" 200 14 \d+\.\d{6}',
        line,
    ), line


def test_pipelining(plain: Server) -> None:
    with connect(plain.port) as sock:
        reqs = (
            b"".join(b"GET /environ?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(20))
            + b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        )
        reqs += b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        sock.sendall(reqs)
        f = sock.makefile("rb")
        for i in range(20):
            code, _, body = read_response(f)
            assert code == 200 and json.loads(body)["QUERY_STRING"] == f"n={i}"
        assert read_response(f)[2] == b"hello"
        code, headers, body = read_response(f)
        assert body == b"Hello, world!\n" and headers["connection"] == "close"
        assert f.read() == b""


def test_pipelined_bytes_split_everywhere(plain: Server) -> None:
    data = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" * 3
    with connect(plain.port) as sock:
        sock.setsockopt(6, 1, 1)  # TCP_NODELAY: many small segments
        for i in range(len(data)):
            sock.send(data[i : i + 1])
        f = sock.makefile("rb")
        for _ in range(3):
            assert read_response(f)[2] == b"abc"


def test_chunked_request_body(plain: Server) -> None:
    payload = os.urandom(300_000)

    def gen():  # requests sends a generator chunked
        for i in range(0, len(payload), 7000):
            yield payload[i : i + 7000]

    r = requests.post(plain.url("/sha"), data=gen(), timeout=30)
    assert r.text == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"


def test_chunked_request_with_extensions_and_trailer(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: yes\r\n\r\n"
            b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        f = sock.makefile("rb")
        assert read_response(f)[2] == b"abcde"
        assert read_response(f)[2] == b"Hello, world!\n"


def test_chunked_response(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(b"GET /stream?n=50&size=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        code, headers, body = read_response(sock.makefile("rb"))
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    assert body == pattern(50_000)


def test_http10_no_keepalive_streamed_body_closes(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(b"GET /stream?n=4&size=10 HTTP/1.0\r\n\r\n")
        data = recv_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"chunked" not in head.lower() and body == pattern(40)


def test_http10_keepalive(raw: Server) -> None:
    with connect(raw.port) as sock:
        f = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            code, headers, body = read_response(f)
            assert code == 200 and body == b"Hello, world!\n"
            assert headers["connection"].lower() == "keep-alive"
        sock.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        code, headers, body = read_response(f)
        assert headers["connection"] == "close"
        assert f.read() == b""


def test_head(raw: Server) -> None:
    with connect(raw.port) as sock:
        sock.sendall(
            b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = recv_all(sock)
    parts = data.split(b"\r\n\r\n")
    assert parts[0].startswith(b"HTTP/1.1 200") and b"Content-Length: 14" in parts[0]
    assert parts[1].startswith(b"HTTP/1.1 200") and b"chunked" not in parts[1]
    assert parts[2].startswith(b"HTTP/1.1 200") and parts[3] == b"Hello, world!\n"


def test_204_has_no_body(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(
            b"GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = recv_all(sock)
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 204") and b"Content-Length" not in first
    assert b"Transfer-Encoding" not in first and rest.startswith(b"HTTP/1.1 200")


def test_expect_100_continue(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        f = sock.makefile("rb")
        assert f.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert f.readline() == b"\r\n"
        sock.sendall(b"data")
        code, _, body = read_response(f)
        assert code == 200 and body == b"data"


def test_expect_100_continue_chunked(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        f = sock.makefile("rb")
        assert f.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert f.readline() == b"\r\n"
        sock.sendall(b"4\r\ndata\r\n0\r\n\r\n")
        code, _, body = read_response(f)
        assert code == 200 and body == b"data"


def test_expect_100_continue_not_read_closes(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(
            b"POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        data = recv_all(sock)
    assert b"100 Continue" not in data
    assert data.startswith(b"HTTP/1.1 200") and b"Connection: close" in data


def test_expect_100_curl(plain: Server, tmp_path) -> None:
    payload = os.urandom(2_000_000)
    path = tmp_path / "up.bin"
    path.write_bytes(payload)
    out = subprocess.run(
        [curl(), "-sS", "--data-binary", f"@{path}", "-H", "Expect: 100-continue",
         plain.url("/sha")],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    assert out.stdout.decode() == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"


def test_unread_body_is_drained_and_connection_kept(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(
            b"POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
            + b"x" * 1000
            + b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        f = sock.makefile("rb")
        assert read_response(f)[0] == 200
        assert read_response(f)[2] == b"Hello, world!\n"


def test_large_unread_body_closes(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(b"POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
        sock.sendall(b"x" * 100_000)
        f = sock.makefile("rb")
        code, headers, _ = read_response(f)
        assert code == 200 and headers["connection"] == "close"


def test_readline_and_iteration(plain: Server) -> None:
    body = b"first line\nsecond\n\nlast no newline"
    r = requests.post(plain.url("/lines"), data=body, timeout=10)
    assert r.json() == ["first line\n", "second\n", "\n", "last no newline"]
    r = requests.post(plain.url("/readline"), data=body, timeout=10)
    assert r.json() == ["first", [" line\n", "second\n", "\n", "last no newline"]]


@pytest.mark.parametrize("size", [0, 1, 65536, 5_000_000])
def test_large_upload_checksum(plain: Server, size: int) -> None:
    payload = os.urandom(size)
    r = requests.post(plain.url("/sha"), data=payload, timeout=30)
    assert r.text == f"{size} {hashlib.sha256(payload).hexdigest()}"


def test_large_download_checksum(plain: Server) -> None:
    size = 20_000_003
    r = requests.get(plain.url(f"/download?size={size}"), timeout=30)
    assert r.headers["Content-Length"] == str(size)
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(pattern(size)).digest()


def test_file_wrapper_sendfile(raw: Server) -> None:
    server = raw  # no validator: it would hide the FileWrapper
    size = 3_000_001
    for offset in (0, 1000):
        r = requests.get(server.url(f"/file?size={size}&offset={offset}"), timeout=30)
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(size - offset)
        assert r.content == pattern(size)[offset:]
    out = subprocess.run(
        [curl(), "-sS", server.url(f"/file?size={size}")], capture_output=True, check=True,
        timeout=30,
    )  # fmt: skip
    assert out.stdout == pattern(size)


def test_environ_pep3333(plain: Server) -> None:
    r = requests.get(
        plain.url("/environ/caf%C3%A9/a%2Fb?x=%20y&z"),
        headers={"X-Custom": "v1", "Cookie": "a=1"},
        timeout=10,
    )
    env = r.json()
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    # PEP 3333: bytes decoded as latin-1, percent-decoded (so %2F becomes "/")
    assert env["PATH_INFO"] == "/environ/caf\u00c3\u00a9/a/b"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/environ/café/a/b"
    assert env["QUERY_STRING"] == "x=%20y&z"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(plain.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_X_CUSTOM"] == "v1" and env["HTTP_COOKIE"] == "a=1"
    assert env["HTTP_HOST"] == f"127.0.0.1:{plain.port}"
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] == ""


def test_environ_headers_joined_and_underscores_dropped(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(
            b"GET /environ HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n"
            b"X_Forwarded_For: evil\r\nX-Forwarded-For: good\r\n"
            b"Content-Type: text/x\r\nConnection: close\r\n\r\n"
        )
        env = json.loads(read_response(sock.makefile("rb"))[2])
    assert env["HTTP_X_A"] == "1,2"
    assert env["HTTP_X_FORWARDED_FOR"] == "good"
    assert env["CONTENT_TYPE"] == "text/x" and "HTTP_CONTENT_TYPE" not in env


def test_absolute_form_target(plain: Server) -> None:
    with connect(plain.port) as sock:
        sock.sendall(
            b"GET http://example.com/environ/p%41th?q=1 HTTP/1.1\r\nHost: example.com\r\n"
            b"Connection: close\r\n\r\n"
        )
        env = json.loads(read_response(sock.makefile("rb"))[2])
    assert env["PATH_INFO"] == "/environ/pAth" and env["QUERY_STRING"] == "q=1"


def test_app_error_500_no_traceback(raw: Server) -> None:
    server = raw
    r = requests.get(server.url("/error"), timeout=10)
    assert r.status_code == 500
    assert "Traceback" not in r.text and "boom" not in r.text
    log = server.wait_log("boom in the app")
    assert log.count("RuntimeError: boom in the app") == 1
    assert "GET /error HTTP/1.1" in log
    assert requests.get(server.url("/hello"), timeout=10).status_code == 200


def test_app_error_after_headers_closes(raw: Server) -> None:
    server = raw
    with connect(server.port) as sock:
        sock.sendall(b"GET /error-after HTTP/1.1\r\nHost: x\r\n\r\n")
        data = recv_all(sock)
    assert data.startswith(b"HTTP/1.1 200") and b"partial" in data
    assert not data.endswith(b"0\r\n\r\n")  # no clean end: the client sees a truncated body
    server.wait_log("boom after the headers")


@pytest.mark.parametrize(
    "path,expect",
    [
        ("/str-body", b"500"),
        ("/twice", b"500"),
    ],
)
def test_start_response_protocol_errors(raw: Server, path: str, expect: bytes) -> None:
    server = raw
    with connect(server.port) as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        data = recv_all(sock)
    assert data.split(b" ")[1] == expect


def test_content_length_mismatch(raw: Server) -> None:
    server = raw
    with connect(server.port) as sock:
        sock.sendall(b"GET /too-long HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\n\r\n")
        data = recv_all(sock)
    assert data.endswith(b"\r\n\r\n12345")  # cut at the length, then closed
    with connect(server.port) as sock:
        sock.sendall(b"GET /too-short HTTP/1.1\r\nHost: x\r\n\r\n")
        data = recv_all(sock)
    assert data.endswith(b"\r\n\r\n12345")
    server.wait_log("more than its Content-Length")
    server.wait_log("less than its Content-Length")


def test_client_disconnect_mid_response_no_traceback(raw: Server) -> None:
    server = raw
    before = len(server.log())
    for _ in range(5):
        sock = connect(server.port)
        sock.sendall(b"GET /download?size=50000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(1000)
        sock.close()
    assert requests.get(server.url("/hello"), timeout=10).status_code == 200
    server.wait_log("/download?size=50000000")
    time.sleep(0.2)  # the log is checked for what is *not* there: give it a moment
    assert "Traceback" not in server.log()[before:]


def test_connection_close_from_app(raw: Server) -> None:
    with connect(raw.port) as sock:
        sock.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\n\r\n")
        data = recv_all(sock)
    assert data.count(b"HTTP/1.1 ") == 1 and data.endswith(b"bye\n")


def test_curl_keepalive_and_methods(plain: Server) -> None:
    out = subprocess.run(
        [curl(), "-sS", "-v", plain.url("/hello"), plain.url("/hello"),
         "-X", "PUT", "-d", "body"],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    assert out.stdout.count(b"Hello") == 2 or out.stdout.count(b"not found") == 0
    assert b"Re-using existing connection" in out.stderr or b"Reusing" in out.stderr


def test_start_response_exc_info(raw: Server) -> None:
    # Before the headers went out, exc_info replaces the response...
    r = requests.get(raw.url("/exc-before"), timeout=10)
    assert r.status_code == 503 and r.text == "sorry\n"
    # ...after, start_response re-raises it: the connection is cut, the error logged.
    with connect(raw.port) as sock:
        sock.sendall(b"GET /exc-after HTTP/1.1\r\nHost: x\r\n\r\n")
        data = recv_all(sock)
    assert data.startswith(b"HTTP/1.1 200") and b"started" in data and b"never" not in data
    raw.wait_log("ValueError: too late to change")
