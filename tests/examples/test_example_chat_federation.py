"""examples/chat.py --redis: two chat servers sharing their rooms through a real redis-server.

Users on both servers talk in one room, /who and /rooms see everyone, a
private message and a nick check cross servers; then one server is killed
(SIGKILL, no goodbye): its users disappear from the other's /who once their
presence expires, and only they do; the survivor goes on working.

``make test`` installs redis-server (apt) and redis-py (pip) first; run by
hand without them, the test fails and says what is missing.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exampleutil import EXAMPLES, example_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on 127.0.0.1 and a free port, for this test only."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (make test installs it with apt-get)")
    if subprocess.run([sys.executable, "-c", "import redis"], check=False).returncode:
        pytest.fail("redis-py is not installed in this venv (make test installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(100).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def chat_server(redis_url: str) -> Iterator[Callable[[], tuple[subprocess.Popen[str], int]]]:
    procs: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], int]:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "chat.py"), "serve", "--port", "0", "--quiet"]
            + ["--redis", redis_url, "--presence-ttl", "2"],
            env=example_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"(rooms shared through {redis_url})" in first, (first, proc.communicate())
        return proc, int(first.split()[3].rsplit(":", 1)[1])

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


class User:
    """A raw TCP user (stdlib socket), line by line."""

    def __init__(self, port: int, nick: str, room: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.rfile = self.sock.makefile("rb")
        self.say(f"/nick {nick}", f"/join {room}")
        self.expect(f"*** you are in #{room}")

    def say(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def expect(self, text: str) -> str:
        while True:
            raw = self.rfile.readline()
            assert raw, f"closed while waiting for {text!r}"
            line = raw.decode().rstrip("\r\n")
            if text in line:
                return line

    def ask(self, command: str, answer: str) -> str:
        self.say(command)
        return self.expect(answer)

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


def until(ask: Callable[[], str], want: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (got := ask()) != want:
        assert time.monotonic() < deadline, f"still {got!r}, not {want!r}"
        time.sleep(0.1)


def test_two_servers_one_chat_and_a_server_killed(chat_server: Any) -> None:
    a, port_a = chat_server()
    b, port_b = chat_server()
    users: list[User] = []
    try:
        alice = User(port_a, "alice", "tea")
        users.append(alice)
        bob = User(port_b, "bob", "tea")
        users.append(bob)
        carol = User(port_b, "carol", "tea")
        users.append(carol)
        alice.expect("*** carol joined #tea")  # a notice from the other server
        # What is said on one server reaches the room on both.
        alice.say("hello from a")
        assert bob.expect("hello from a") == "[#tea] alice: hello from a"
        assert carol.expect("hello from a") == "[#tea] alice: hello from a"
        bob.say("hello from b")
        assert alice.expect("hello from b") == "[#tea] bob: hello from b"
        assert carol.expect("hello from b") == "[#tea] bob: hello from b"

        # Everyone, wherever they are connected.
        def who_a() -> str:
            return alice.ask("/who", "*** in #tea")

        until(who_a, "*** in #tea (3): alice, bob, carol")
        until(lambda: bob.ask("/who", "*** in #tea"), "*** in #tea (3): alice, bob, carol")
        assert "#tea (3)" in alice.ask("/rooms", "*** rooms:")
        assert alice.ask("/msg carol psst", "*** sent to") == "*** sent to carol"
        assert carol.expect("psst") == "[pm] alice: psst"
        assert alice.ask("/nick bob", "bob") == "*** bob is taken"
        # Server b dies without a word: its users go, and only they.
        b.send_signal(signal.SIGKILL)
        b.wait(10)
        until(who_a, "*** in #tea (1): alice")
        dave = User(port_a, "dave", "tea")
        users.append(dave)
        assert alice.ask("/nick carol", "carol") == "*** you are now carol"  # free again
        dave.say("still here")
        assert alice.expect("still here") == "[#tea] dave: still here"
        until(who_a, "*** in #tea (2): carol, dave")
    finally:
        for user in users:
            user.close()
    a.send_signal(signal.SIGTERM)
    out, err = a.communicate(timeout=30)
    assert a.returncode == 0, err
    assert "stopped: 2 messages said" in out, out
    assert "Traceback" not in err, err


def test_no_redis_there_is_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / "chat.py"), "serve", "--port", "0"]
        + ["--redis", f"redis://127.0.0.1:{port}"],
        env=example_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1, r
    assert r.stderr.startswith(f"cannot join the federation at redis://127.0.0.1:{port}: "), r
    assert "Traceback" not in r.stderr, r.stderr
