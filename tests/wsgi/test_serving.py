"""Real frameworks served for real, TLS, the command line, graceful stop, reuse_port."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from wsgiutil import HERE, connect, curl, free_port, read_response, recv_all

REPO = os.path.dirname(os.path.dirname(HERE))


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", crt],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


def test_flask(server_factory) -> None:
    server = server_factory("flask")  # werkzeug reads input with read(): the validator forbids it
    with requests.Session() as s:
        for _ in range(3):
            assert s.get(server.url("/hello"), timeout=10).text == "Hello from Flask!\n"
        payload = os.urandom(3_000_000)
        r = s.post(server.url("/upload"), data=payload, timeout=30)
        assert r.text == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"
        r = s.post(
            server.url("/form"), data={"name": "zoé"}, files={"f": ("a.txt", b"file!")}, timeout=10
        )
        assert r.json() == {"name": "zoé", "file": "file!"}
        r = s.get(server.url("/stream"), timeout=10)
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert r.text == "".join(f"line {i}\n" for i in range(5))
        r = s.post(server.url("/json?a=1&b=%C3%A9"), json={"k": [1, 2]}, timeout=10)
        assert r.json() == {"got": {"k": [1, 2]}, "path": "/json", "args": {"a": "1", "b": "é"}}
        assert s.get(server.url("/missing"), timeout=10).status_code == 404
    out = subprocess.run(
        [curl(), "-sS", "-F", "name=curl", "-F", "f=@-", server.url("/form")],
        input=b"from stdin", capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    assert b'"name":"curl"' in out.stdout.replace(b" ", b"")


def test_django(server_factory) -> None:
    server = server_factory("django")
    with requests.Session() as s:
        assert s.get(server.url("/hello"), timeout=10).text == "Hello from Django!\n"
        payload = os.urandom(1_000_000)
        r = s.post(server.url("/upload"), data=payload, timeout=30)
        assert r.text == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"
        r = s.get(server.url("/stream"), timeout=10)
        assert r.text == "".join(f"row {i}\n" for i in range(5))
        assert s.get(server.url("/nope"), timeout=10).status_code == 404


def test_tls(server_factory, cert) -> None:
    server = server_factory("plain", "--validate", "--tls", *cert)
    with requests.Session() as s:
        for _ in range(3):
            r = s.get(server.url("/environ", "https"), verify=cert[0], timeout=10)
            assert r.json()["wsgi.url_scheme"] == "https"
        payload = os.urandom(2_000_000)
        r = s.post(server.url("/sha", "https"), data=payload, verify=cert[0], timeout=30)
        assert r.text == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"
    out = subprocess.run(
        [curl(), "-sS", "--cacert", cert[0], server.url("/hello", "https")],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    assert out.stdout == b"Hello, world!\n"
    # plain HTTP on the TLS port: the handshake fails, the server goes on
    with connect(server.port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            recv_all(sock)
        except ConnectionResetError:
            pass
    assert requests.get(server.url("/hello", "https"), verify=cert[0], timeout=10).ok


def test_tls_sendfile_falls_back(server_factory, cert) -> None:
    server = server_factory("plain", "--tls", *cert)
    r = requests.get(server.url("/file?size=300000", "https"), verify=cert[0], timeout=30)
    from serve import pattern

    assert r.content == pattern(300000)


def test_graceful_stop_answers_requests_in_flight(server_factory) -> None:
    server = server_factory("plain")
    results: list[object] = []

    def slow() -> None:
        try:
            r = requests.get(server.url("/sleep?s=1"), timeout=20)
            results.append((r.status_code, r.headers.get("Connection")))
        except Exception as exc:  # noqa: BLE001
            results.append(exc)

    threads = [threading.Thread(target=slow) for _ in range(5)]
    for t in threads:
        t.start()
    # An idle keep-alive connection too: closed at once by the stop.
    idle = connect(server.port)
    idle.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(idle.makefile("rb"))[0] == 200
    deadline = time.monotonic() + 20
    while server.log().count("sleeping") < 5:  # all 5 are in the app (for 1 s)
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.02)
    server.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(20)
    assert results == [(200, "close")] * 5
    assert idle.recv(100) == b""
    idle.close()
    assert server.proc.wait(10) == 0


def test_command_line(tmp_path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "corolib.pywsgi", "wsgi_app:app", "--bind", f"127.0.0.1:{port}"],
        cwd=os.path.join(REPO, "examples"),
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert b"serving wsgi_app:app on http://127.0.0.1:" in line, line
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).ok
        payload = os.urandom(500_000)
        r = requests.post(f"http://127.0.0.1:{port}/upload", data=payload, timeout=10)
        assert hashlib.sha256(payload).hexdigest() in r.text
        r = requests.get(f"http://127.0.0.1:{port}/stream?n=3", timeout=10)
        assert r.headers["Transfer-Encoding"] == "chunked" and r.text.count("\n") == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        if proc.stderr:
            proc.stderr.close()
    bad = subprocess.run(
        [sys.executable, "-m", "corolib.pywsgi", "no_such_module:app"],
        capture_output=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode != 0 and b"no_such_module" in bad.stderr


def test_reuse_port_two_processes(tmp_path) -> None:
    port = free_port()
    code = (
        "import os, sys\n"
        "from corolib.pywsgi import WSGIServer\n"
        "def app(e, s):\n"
        "    s('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [str(os.getpid()).encode()]\n"
        f"srv = WSGIServer(('127.0.0.1', {port}), app, log=None, reuse_port=True)\n"
        "srv.start(); print('ready', flush=True); srv.serve_forever()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=tmp_path)
        for _ in range(2)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        pids = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            with connect(port) as sock:  # a new connection each: the kernel spreads them
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                pids.add(recv_all(sock).rpartition(b"\r\n\r\n")[2])
        assert pids == {str(p.pid).encode() for p in procs}
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
            if p.stdout:
                p.stdout.close()


def test_bad_arguments(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-c",
         "from corolib.pywsgi import WSGIServer\n"
         "for kw in ({'max_header_count': 0}, {'header_timeout': -1}, {'keepalive_timeout': -1},"
         " {'max_body_size': -5}):\n"
         "    try:\n"
         "        WSGIServer(('127.0.0.1', 0), lambda e, s: [], **kw)\n"
         "    except ValueError as exc:\n"
         "        print('ValueError', exc)\n"
         "try:\n"
         "    WSGIServer(('127.0.0.1', 0), None)\n"
         "except TypeError as exc:\n"
         "    print('TypeError', exc)\n"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert out.stdout.count("ValueError") == 4 and "TypeError" in out.stdout, out


def test_logging_logger_and_adapter(tmp_path) -> None:
    code = (
        "import logging, sys, socket\n"
        "import corolib\n"
        "from corolib.pywsgi import WSGIServer, LoggingLogAdapter\n"
        "logging.basicConfig(stream=sys.stdout, level=logging.INFO,\n"
        "                    format='%(levelname)s %(message)s')\n"
        "def app(e, s):\n"
        "    if e['PATH_INFO'] == '/boom': raise ValueError('kaput')\n"
        "    s('200 OK', []); return [b'ok']\n"
        "srv = WSGIServer(('127.0.0.1', 0), app, log=logging.getLogger('access'),\n"
        "                 error_log=logging.getLogger('err'))\n"
        "assert isinstance(srv.log, LoggingLogAdapter)\n"
        "srv.start()\n"
        "def client():\n"
        "    from corolib import socket as cs\n"
        "    for path in ('/x', '/boom'):\n"
        "        c = cs.create_connection(srv.address)\n"
        "        c.sendall(b'GET ' + path.encode() + b' HTTP/1.1\\r\\nHost: x\\r\\n'\n"
        "                  b'Connection: close\\r\\n\\r\\n')\n"
        "        while c.recv(1000): pass\n"
        "        c.close()\n"
        "corolib.spawn(client).join()\n"
        "srv.stop()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "INFO 127.0.0.1 - - [" in out.stdout and '"GET /x HTTP/1.1" 200 2 ' in out.stdout
    assert "ERROR Error handling request 'GET /boom HTTP/1.1'" in out.stdout
    assert "ValueError: kaput" in out.stdout


def test_stream_server_reuse_port(tmp_path) -> None:
    code = (
        "from corolib.server import StreamServer\n"
        "a = StreamServer(('127.0.0.1', 0), lambda s, a: None, reuse_port=True)\n"
        "a.start()  # listening\n"
        "b = StreamServer(a.address, lambda s, a: None, reuse_port=True)\n"
        "b.start()\n"
        "assert b.server_port == a.server_port\n"
        "try:\n"
        "    StreamServer(a.address, lambda s, a: None)\n"
        "except OSError as exc:\n"
        "    print('without reuse_port:', exc.errno)\n"
        "a.close(); b.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("without reuse_port: 98"), out.stdout  # EADDRINUSE
