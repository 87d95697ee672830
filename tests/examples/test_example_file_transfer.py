"""examples/file_transfer.py against hostile clients: the server in its own process.

The clients here are plain stdlib sockets (threads where two must overlap),
playing the attacker: uploads named after temporary files, two uploads of
one name at once, symlinks planted in the store, uploads cut off, headers
of every wrong shape, a SIGTERM in the middle of an upload.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exampleutil import EXAMPLES, example_env


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int, store: Path) -> None:
        self.proc, self.port, self.store = proc, port, store
        self.first_lines: list[str] = []

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def stop(self, sig: int | None = signal.SIGTERM) -> tuple[int, str, str]:
        """Signal the server (unless ``sig`` is None) and wait; (exit status, stdout, stderr)."""
        if sig is not None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def run(*args: str, store: Path | None = None, preexec: Any = None) -> Server:
        store = store or tmp_path / "store"
        store.mkdir(exist_ok=True)
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "file_transfer.py"), "serve", str(store)]
            + ["--port", "0", *args],
            env=example_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec,
        )
        assert proc.stdout is not None
        lines = []
        while True:
            line = proc.stdout.readline()
            assert line, f"the server did not start: {lines} {proc.communicate()}"
            lines.append(line)
            if line.startswith("file server on 127.0.0.1:"):
                break
        server = Server(proc, int(line.rsplit(":", 1)[1]), store)
        server.first_lines = lines
        started.append(server)
        return server

    yield run
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
        server.proc.communicate(timeout=10)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_header(name: str, data: bytes, size: int | None = None) -> bytes:
    header = {"name": name, "size": len(data) if size is None else size, "sha256": sha(data)}
    return b"PUT " + json.dumps(header).encode() + b"\n"


def reply(sock: socket.socket) -> str:
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line.decode("utf-8", "replace").strip()


def put(server: Server, name: str, data: bytes) -> str:
    with server.connect() as s:
        s.sendall(put_header(name, data) + data)
        return reply(s)


def get(server: Server, name: str) -> tuple[str, bytes | None]:
    """(header or ERR line, body or None), the body checked against the announced digest."""
    with server.connect() as s:
        s.sendall(b"GET " + json.dumps({"name": name}).encode() + b"\n")
        f = s.makefile("rb")
        header = f.readline().decode().strip()
        if header.startswith("ERR"):
            return header, None
        info = json.loads(header)
        body = f.read(info["size"])
        assert sha(body) == info["sha256"]
        return header, body


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def parts(store: Path) -> list[str]:
    """The server's temporary files (hidden: names starting with a dot)."""
    return [n for n in os.listdir(store) if n.startswith(".")]


def test_an_upload_named_like_a_temporary_file_cannot_replace_another(start: Any) -> None:
    server = start()
    victim_data = b"%PDF genuine report " + os.urandom(100_000)
    evil = b"%PDF the attacker's forged report\n"
    with server.connect() as victim:
        victim.sendall(put_header("report.pdf", victim_data) + victim_data[:50_000])
        wait_for(lambda: parts(server.store), "the victim's upload has its temporary file")
        # The attacker names its upload after the file it guesses is the temporary one.
        assert put(server, "report.pdf.part", evil) == f"OK {sha(evil)}"
        for name in parts(server.store):
            assert put(server, name, evil).startswith("ERR refusing file name")
        victim.sendall(victim_data[50_000:])
        assert reply(victim) == f"OK {sha(victim_data)}"
    assert (server.store / "report.pdf").read_bytes() == victim_data
    assert get(server, "report.pdf")[1] == victim_data
    assert server.stop()[0] == 0


def test_two_uploads_of_one_name_the_last_to_finish_wins_whole(start: Any) -> None:
    server = start()
    a, b = b"A" * (4 << 20), b"B" * (4 << 20)
    sa, sb = server.connect(), server.connect()
    try:
        sa.sendall(put_header("same.bin", a) + a[: 1 << 20])
        sb.sendall(put_header("same.bin", b))
        wait_for(lambda: len(parts(server.store)) == 2, "two temporary files")
        sb.sendall(b)  # B finishes first...
        assert reply(sb) == f"OK {sha(b)}"
        assert (server.store / "same.bin").read_bytes() == b
        sa.sendall(a[1 << 20 :])  # ...then A, which replaces it whole
        assert reply(sa) == f"OK {sha(a)}"
    finally:
        sa.close()
        sb.close()
    assert (server.store / "same.bin").read_bytes() == a
    assert parts(server.store) == []


def test_symlinks_in_the_store_are_never_followed(start: Any, tmp_path: Path) -> None:
    server = start()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious data outside the store\n")
    (server.store / "link_out").symlink_to(outside)
    (server.store / "etc").symlink_to("/etc")
    (server.store / "victim").symlink_to(outside)
    assert get(server, "link_out") == ("ERR no such file", None)
    assert get(server, "etc") == ("ERR no such file", None)
    # A PUT of a name that is a symlink replaces the link, never writes through it.
    data = b"uploaded\n"
    assert put(server, "victim", data) == f"OK {sha(data)}"
    assert outside.read_bytes() == b"precious data outside the store\n"
    assert not (server.store / "victim").is_symlink()
    assert (server.store / "victim").read_bytes() == data
    for name in ("../outside.txt", "/etc/passwd", "a/../../outside.txt", "sub/x", ".hidden"):
        assert put(server, name, data).startswith("ERR refusing file name"), name
        assert get(server, name)[0].startswith("ERR refusing file name"), name


def test_partial_uploads_are_removed_and_never_served(start: Any) -> None:
    server = start()
    store = server.store
    server.stop()
    # Left by a crashed run: removed at start-up.
    (store / ".upload-0123456789abcdef.part").write_bytes(b"half of something")
    server = start(store=store)
    assert "removed 1 partial upload(s) left by an earlier run\n" in server.first_lines
    assert parts(store) == []
    data = os.urandom(4 << 20)
    # Reset halfway through.
    s = server.connect()
    s.sendall(put_header("big.bin", data) + data[: 2 << 20])
    wait_for(lambda: parts(store), "the upload's temporary file")
    leftover = parts(store)[0]
    assert get(server, leftover)[0].startswith("ERR refusing file name")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    wait_for(lambda: not parts(store), "the reset upload's temporary file removed")
    # Cut short with an end of input: told so, nothing left.
    with server.connect() as s:
        s.sendall(put_header("short.bin", data) + data[:10])
        s.shutdown(socket.SHUT_WR)
        assert reply(s) == f"ERR connection closed with {len(data) - 10} bytes still to come"
    # A wrong digest: refused, nothing left.
    with server.connect() as s:
        s.sendall(put_header("bad.bin", data)[:-1].replace(sha(data).encode(), b"0" * 64))
        s.sendall(b"\n" + data)
        assert reply(s) == f"ERR sha256 mismatch: received {sha(data)}"
    assert parts(store) == [] and sorted(os.listdir(store)) == []
    assert server.stop()[0] == 0


def test_size_limit(start: Any) -> None:
    server = start("--max-size", "1000")
    assert put(server, "ok.bin", b"x" * 1000) == f"OK {sha(b'x' * 1000)}"
    with server.connect() as s:
        s.sendall(put_header("big.bin", b"", size=10**15))
        assert reply(s) == f"ERR too large: {10**15} bytes, the limit is 1000"
    assert parts(server.store) == []


def test_a_file_size_limit_is_an_error_not_a_crash(start: Any) -> None:
    def limit() -> None:  # ulimit -f 1024 (KiB): a write past it fails (SIGXFSZ ignored)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    server = start(preexec=limit)
    data = os.urandom(2 << 20)
    assert put(server, "huge.bin", data) == "ERR File too large"
    assert parts(server.store) == []
    assert put(server, "small.bin", b"fits") == f"OK {sha(b'fits')}"


def test_every_bad_header_is_answered_with_err(start: Any) -> None:
    server = start()
    headers = [
        b"PUT []\n", b'PUT "x"\n', b"PUT 5\n", b"PUT null\n",
        b'PUT {"name": "a", "size": 1e999, "sha256": "' + b"0" * 64 + b'"}\n',
        b'PUT {"name": "a", "size": -5, "sha256": "' + b"0" * 64 + b'"}\n',
        b'PUT {"name": "a", "size": "12", "sha256": "' + b"0" * 64 + b'"}\n',
        b'PUT {"name": "a", "size": true, "sha256": "' + b"0" * 64 + b'"}\n',
        b'PUT {"name": "a", "size": 1, "sha256": "xyz"}\n',
        b'PUT {"name": "a", "size": 1}\n',
        b"PUT " + b"[" * 3000 + b"\n", b"PUT {" + b"x" * 5000 + b"\n",
        b'DEL {"name": "a"}\n', b'GET {"name": ["a"]}\n', b'GET {"name": {"$ne": 1}}\n',
        b"GET {}\n", b"\n", b"\xff\xfe\n", b'GET {"name": "x\\u0000y"}\n',
    ]  # fmt: skip
    for header in headers:
        with server.connect() as s:
            s.sendall(header)
            answer = reply(s)
        assert answer.startswith("ERR ") and len(answer) > 4, (header, answer)
    assert get(server, "nothing-here")[0] == "ERR no such file"
    status, out, err = server.stop()
    assert status == 0, err
    assert "Traceback" not in err, err


def test_concurrent_gets_of_a_file_put_there_by_hand(start: Any) -> None:
    server = start()
    data = os.urandom(3 << 20)
    (server.store / "by-hand.bin").write_bytes(data)  # its digest is not known yet
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(get(server, "by-hand.bin")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8
    for header, body in results:
        assert json.loads(header)["sha256"] == sha(data) and body == data


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_lets_the_upload_in_flight_finish(start: Any, sig: int) -> None:
    server = start("--grace", "30")
    data = os.urandom(10 << 20)
    with server.connect() as s:
        s.sendall(put_header("doc.bin", data) + data[: 2 << 20])
        wait_for(lambda: parts(server.store), "the upload started")
        server.proc.send_signal(sig)
        # The listener closes: no new transfers...
        wait_for(lambda: refused(server.port), "the listener closed")
        # ...but this one goes on to the end.
        for i in range(2, 10):
            s.sendall(data[i << 20 : (i + 1) << 20])
        assert reply(s) == f"OK {sha(data)}"
    status, out, err = server.stop(None)  # it stops by itself once the transfer is done
    assert status == 0, err
    assert "stopped in" in out and "1 file(s) received" in out, out
    assert "Traceback" not in err, err
    assert (server.store / "doc.bin").read_bytes() == data


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_fifo_in_the_store_does_not_block_the_server(start: Any) -> None:
    server = start()
    os.mkfifo(server.store / "fifo")
    assert get(server, "fifo") == ("ERR no such file", None)  # and the server still answers
    assert put(server, "after.bin", b"x") == f"OK {sha(b'x')}"


def test_a_header_dribbled_byte_by_byte_times_out_as_a_whole(start: Any) -> None:
    server = start("--timeout", "1")
    with server.connect() as s:
        s.settimeout(0.2)
        deadline = time.monotonic() + 20
        answer = b""
        for byte in iter(lambda: b"P", None):  # one byte every 0.2 s: never a full second idle
            assert time.monotonic() < deadline, "the header never timed out"
            try:
                s.sendall(byte)
                answer = s.recv(100)
                break
            except TimeoutError:
                continue
            except ConnectionResetError:
                pytest.fail("reset without an answer")
        assert answer == b"ERR timed out reading the header\n"
