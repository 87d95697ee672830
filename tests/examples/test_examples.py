"""echo.py, file_transfer.py, crawler.py, chat_demo.py and greenlet_demo.py, end to end."""

from __future__ import annotations

import os
import shutil
import signal
import socket as stdsocket
import subprocess
import sys
import time
from typing import Any

import pytest
from exampleutil import EXAMPLES, example_env


def test_echo_tcp(run_example: Any) -> None:
    r = run_example("echo.py", "--port", "0", "--clients", "50", "--rounds", "20")
    assert r.returncode == 0, r
    assert "50 clients, 1,000 round trips" in r.stdout, r
    assert "every echo checked" in r.stdout
    assert r.stderr == "", r


def test_echo_udp(run_example: Any) -> None:
    r = run_example("echo.py", "--udp", "--port", "0", "--clients", "20", "--rounds", "10")
    assert r.returncode == 0, r
    assert r.stdout.startswith("UDP echo server on 127.0.0.1:"), r
    assert "20 clients, 200 round trips" in r.stdout, r


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_echo_tls(run_example: Any) -> None:
    r = run_example("echo.py", "--tls", "--port", "0", "--clients", "10", "--rounds", "5")
    assert r.returncode == 0, r
    assert r.stdout.startswith("TLS echo server on 127.0.0.1:"), r
    assert "10 clients, 50 round trips" in r.stdout, r
    assert r.stderr == "", r


def test_file_transfer_demo(run_example: Any) -> None:
    r = run_example("file_transfer.py", "demo", "--files", "6", "--max-mib", "3")
    assert r.returncode == 0, r
    assert "every SHA-256 matches" in r.stdout, r
    assert r.stdout.count("sha256 ok") == 12, r  # 6 sent, 6 fetched back
    assert r.stderr == "", r


def test_file_transfer_put_and_get_against_serve(run_example: Any, tmp_path: Any) -> None:
    store = tmp_path / "store"
    files = []
    for i, size in enumerate((0, 1, 300_000, 2_000_000)):
        path = tmp_path / f"f{i}.dat"
        path.write_bytes(os.urandom(size))
        files.append(path)
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "file_transfer.py"), "serve", str(store), "--port", "0"],
        env=example_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().rsplit(":", 1)[1].strip()
        r = run_example("file_transfer.py", "put", "127.0.0.1", port, *map(str, files))
        assert r.returncode == 0, r
        assert r.stdout.count("sha256 ok") == 4, r
        for path in files:
            assert (store / path.name).read_bytes() == path.read_bytes()
        into = tmp_path / "back"
        into.mkdir()
        names = [p.name for p in files]
        r = run_example("file_transfer.py", "get", "127.0.0.1", port, *names, "--into", str(into))
        assert r.returncode == 0, r
        for path in files:
            assert (into / path.name).read_bytes() == path.read_bytes()
        r = run_example("file_transfer.py", "get", "127.0.0.1", port, "nope.bin")
        assert r.returncode != 0 and "no such file" in r.stderr + r.stdout, r
    finally:
        server.terminate()
        server.communicate(timeout=10)


def test_crawler(run_example: Any) -> None:
    r = run_example("crawler.py", "--pages", "150", "--concurrency", "10", "--delay", "0.01")
    assert r.returncode == 0, r
    assert "every page found, each fetched once" in r.stdout, r
    assert "with at most 10 at once (the server saw up to 10 in flight)" in r.stdout, r
    assert r.stderr == "", r


def test_chat_demo_small(run_example: Any) -> None:
    # Part two (two servers, a real redis-server) as well: what `make demo` runs, smaller.
    r = run_example(
        "chat_demo.py", "--users", "120", "--rooms", "6", "--messages", "5",
        "--spread", "0.05", "--lurkers", "3", "--flood", "4000", "--federated-users", "120",
    )  # fmt: skip
    assert r.returncode == 0, r
    assert r.stdout.count("every message reached every member of its room") == 2, r
    assert r.stdout.count("delivered 11,400 of 11,400 expected") == 2, r  # 120 * 5 * 19
    assert "3 of them were told lines were dropped" in r.stdout, r
    assert r.stdout.count("latency (said -> heard): p50") == 2, r
    assert "120 users on 2 servers in 6 rooms" in r.stdout, r
    assert "server 1: stopped: 300 messages said" in r.stdout, r
    assert "server 2: stopped: 300 messages said" in r.stdout, r


def test_greenlet_demo_still_runs(run_example: Any) -> None:
    r = run_example("greenlet_demo.py", "10000")
    assert r.returncode == 0, r
    assert "12\n56\n34\n" in r.stdout, r


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_echo_stop_lets_open_connections_finish(sig: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "echo.py"), "--port", "0", "--grace", "60"],
        env=example_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        with stdsocket.create_connection(("127.0.0.1", port), timeout=30) as s:
            data = os.urandom(1 << 20)
            s.sendall(data[: 1 << 19])
            proc.send_signal(sig)
            # The listener closes at once...
            deadline = time.monotonic() + 30
            while True:
                try:
                    stdsocket.create_connection(("127.0.0.1", port), timeout=5).close()
                except ConnectionRefusedError:
                    break
                assert time.monotonic() < deadline, "the listener stayed open"
                time.sleep(0.02)
            # ...while this connection is served to its end (well within the grace).
            s.sendall(data[1 << 19 :])
            got = b""
            while len(got) < len(data):
                chunk = s.recv(1 << 20)
                assert chunk, "closed before the echo was complete"
                got += chunk
            assert got == data
        out, err = proc.communicate(timeout=30)  # the last connection closed: it exits
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped in" in out, out
    assert err == "", err


def test_echo_second_signal_cuts_the_grace_short() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "echo.py"), "--port", "0", "--grace", "600"],
        env=example_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        with stdsocket.create_connection(("127.0.0.1", port), timeout=30) as idle:
            idle.sendall(b"ping")
            assert idle.recv(10) == b"ping"  # served: its handler runs
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(0.5)  # waiting for the idle connection, up to 600 s
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
            assert idle.recv(10) == b""  # closed by the server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped in" in out and err == "", (out, err)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_echo_tls_bad_clients_cost_one_line_each(tmp_path: Any) -> None:
    """A failed handshake, a stalled one and a bad record after a good
    handshake: one line each on stderr, no traceback; SIGTERM then stops it."""
    import re
    import signal
    import socket
    import ssl
    import time

    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "echo.py"), "--tls", "--port", "0"]
        + ["--handshake-timeout", "0.5"],
        cwd=tmp_path,
        env=example_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        match = re.search(r":(\d+)$", proc.stdout.readline().strip())
        assert match, proc.stderr.read()
        address = ("127.0.0.1", int(match.group(1)))
        lines: list[str] = []

        def next_line() -> str:
            line = proc.stderr.readline()  # type: ignore[union-attr]
            lines.append(line)
            return line

        # 1. Not TLS at all.
        with socket.create_connection(address, timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert "TLS handshake" in next_line() and "failed" in lines[-1]
        # 2. A handshake that never finishes.
        with socket.create_connection(address, timeout=10) as s:
            s.sendall(b"\x16\x03\x01")
            assert "timed out" in next_line()
        # 3. A good handshake, then a record that is not valid TLS.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(address, timeout=10) as raw:
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(b"ping")
                assert tls.recv(10) == b"ping"
                os.write(tls.fileno(), b"\x17\x03\x03\x00\x05hello")  # no valid MAC
                line = next_line()
                assert "127.0.0.1:" in line and "SSL" in line.upper()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(30) == 0
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
    assert "Traceback" not in "".join(lines) + rest, lines + [rest]
    assert rest == "", rest
    assert len(lines) == 3
