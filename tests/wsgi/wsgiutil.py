"""Helpers of the WSGI server tests (servers in subprocesses, raw HTTP clients).

Fixtures are in conftest.py.

The server runs in a subprocess (``serve.py``), as in production, and the
tests drive it from this process with real clients (raw sockets,
``http.client``, ``requests``, ``curl``).  ``make test`` installs what they
need (``make wsgi-deps``); without it a test fails saying what is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: str
    args: list[str] = field(default_factory=list)

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_log(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if text in log:
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared in the server log:\n{log}")
            time.sleep(0.02)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_server(tmp_path: str, *args: str) -> Server:
    log_path = os.path.join(tmp_path, f"server-{time.monotonic_ns()}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "serve.py"), *args],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=HERE,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        with open(log_path) as f:
            raise AssertionError(f"the server did not start ({proc.returncode}):\n{f.read()}")
    return Server(proc, int(line), log_path, list(args))


class _Sock(socket.socket):
    """A client socket whose makefile() objects are closed with it."""

    def makefile(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        f = super().makefile(*args, **kwargs)
        self.__dict__.setdefault("_files", []).append(f)
        return f

    def close(self) -> None:
        for f in self.__dict__.pop("_files", []):
            f.close()
        super().close()


def connect(port: int, timeout: float = 10) -> socket.socket:
    sock = _Sock(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def recv_all(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything until the server closes (fails after ``timeout``)."""
    sock.settimeout(timeout)
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def read_response(f: object) -> tuple[int, dict[str, str], bytes]:
    """One response from a socket's ``makefile('rb')`` (Content-Length or chunked)."""
    status_line = f.readline()  # type: ignore[attr-defined]
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    code = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := f.readline()) not in (b"\r\n", b""):  # type: ignore[attr-defined]
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))  # type: ignore[attr-defined]
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int(f.readline().strip(), 16)  # type: ignore[attr-defined]
            if size == 0:
                assert f.readline() == b"\r\n"  # type: ignore[attr-defined]
                break
            parts.append(f.read(size))  # type: ignore[attr-defined]
            assert f.readline() == b"\r\n"  # type: ignore[attr-defined]
        body = b"".join(parts)
    else:
        body = b""
    return code, headers, body


def curl() -> str:
    path = shutil.which("curl")
    if path is None:
        pytest.fail("curl is not installed (make wsgi-deps installs it with apt-get)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
