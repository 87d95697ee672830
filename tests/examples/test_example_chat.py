"""examples/chat.py: the commands, the slow-reader policy, the client mode, the server process."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from exampleutil import EXAMPLES, example_env

import corolib
from corolib import socket

spec = importlib.util.spec_from_file_location("chat_example", EXAMPLES / "chat.py")
assert spec is not None and spec.loader is not None
chat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chat)


class Line:
    """A test user: a raw TCP connection read line by line."""

    def __init__(self, address: Any, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(address)
        self.rfile = self.sock.makefile("rb")

    def say(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def line(self) -> str:
        raw = self.rfile.readline()
        if not raw:
            raise EOFError
        return raw.decode().rstrip("\r\n")

    def until(self, predicate: Any) -> list[str]:
        seen = []
        while True:
            line = self.line()
            seen.append(line)
            if predicate(line):
                return seen

    def expect(self, text: str) -> list[str]:
        return self.until(lambda line: text in line)

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


@pytest.fixture
def server() -> Iterator[Any]:
    s = chat.ChatServer(port=0)
    s.start()
    yield s
    s.stop(timeout=1)


def join(address: Any, nick: str, room: str | None = None) -> Line:
    user = Line(address)
    user.expect("welcome")
    user.say(f"/nick {nick}")
    user.expect(f"you are now {nick}")
    if room:
        user.say(f"/join {room}")
        user.expect(f"you are in #{room}")
    return user


def test_commands(server: Any) -> None:
    alice = join(server.address, "alice", "dev")
    bob = join(server.address, "bob")
    try:
        bob.say("/join #dev")
        assert "*** you are in #dev (2 here)" in bob.expect("you are in #dev")
        alice.expect("*** bob joined #dev")
        alice.say("hello bob")
        bob.expect("[#dev] alice: hello bob")
        bob.say("/who")
        assert bob.expect("*** in #dev")[-1] == "*** in #dev (2): alice, bob"
        bob.say("/rooms")
        assert bob.expect("*** rooms:")[-1] == "*** rooms: #dev (2), #lobby (0)"
        bob.say("/msg alice psst", "/msg carol hi", "/msg", "/nick alice", "/nick bad name!")
        alice.expect("[pm] bob: psst")
        bob.expect("*** sent to alice")
        bob.expect("*** no such user: carol")
        bob.expect("*** usage: /msg NICK text")
        bob.expect("*** alice is taken")
        bob.expect("*** usage: /nick NAME")
        bob.say("/frobnicate", "/help")
        bob.expect("*** unknown command /frobnicate")
        assert "/join ROOM" in bob.expect("*** commands:")[-1]
        bob.say("/nick robert")
        alice.expect("*** bob is now known as robert")
        bob.say("/quit")
        bob.expect("*** bye")
        with pytest.raises(EOFError):
            bob.line()
        alice.expect("*** robert left #dev")
        alice.say("/join dev")
        alice.expect("*** you are already in #dev")
    finally:
        alice.close()
        bob.close()


def test_messages_stay_in_their_room(server: Any) -> None:
    a, b, c = (join(server.address, n, r) for n, r in (("a", "x"), ("b", "x"), ("c", "y")))
    try:
        a.say("only for x")
        b.expect("[#x] a: only for x")
        c.say("/who")
        assert c.expect("*** in #y")[-1] == "*** in #y (1): c"  # nothing from #x before it
    finally:
        for u in (a, b, c):
            u.close()


def test_slow_reader_loses_lines_but_never_stalls_the_room() -> None:
    # Room for a reading user's backlog (it shares this process with the server),
    # far too little for one who never reads: 6,000 lines against 500 + 16 KiB.
    s = chat.ChatServer(port=0, queue_size=500, sndbuf=4096)
    s.start()
    lurker = Line(s.address, rcvbuf=4096)
    talker = join(s.address, "talker", "busy")
    reader = join(s.address, "reader", "busy")
    try:
        lurker.expect("welcome")
        lurker.say("/nick lurker", "/join busy")
        lurker.expect("you are in #busy")
        count = 6000

        def talk() -> None:  # fast, but in bursts a reading user keeps up with
            for start in range(0, count, 50):
                talker.say(*(f"line {i} " + "x" * 60 for i in range(start, start + 50)))
                corolib.sleep(0.01)

        # Talk in a greenlet of its own, so that this one reads meanwhile.
        talking = corolib.spawn(talk)
        t0 = time.monotonic()
        got = reader.until(lambda line: line.startswith(f"[#busy] talker: line {count - 1} "))
        talking.get()
        assert len([g for g in got if g.startswith("[#busy] talker: line")]) == count
        assert time.monotonic() - t0 < 30
        assert s.dropped > 0  # for the lurker only
        lines = lurker.until(lambda line: "dropped" in line)
        assert "message(s) dropped: you are reading too slowly" in lines[-1]
        assert len(lines) < count
    finally:
        for u in (lurker, talker, reader):
            u.close()
        s.stop(timeout=1)


def test_stuck_reader_is_disconnected_after_write_timeout() -> None:
    s = chat.ChatServer(port=0, queue_size=10, sndbuf=4096, write_timeout=0.3)
    s.start()
    stuck = Line(s.address, rcvbuf=4096)
    talker = join(s.address, "talker")
    try:
        stuck.expect("welcome")
        deadline = time.monotonic() + 10
        # Keep talking: the stuck user's writer stays blocked in one write.
        while len(s.users) > 1 and time.monotonic() < deadline:
            talker.say(*("y" * 200 for _ in range(20)))
            corolib.sleep(0.02)
        assert set(s.users) == {"talker"}
        assert time.monotonic() < deadline
    finally:
        stuck.close()
        talker.close()
        s.stop(timeout=1)


# ---- as separate processes: the server, the client mode -----------------------------------


@pytest.fixture
def server_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "chat.py"), "server", "--port", "0"],
        env=example_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("chat server on 127.0.0.1:"), first
    port = int(first.split()[3].rsplit(":", 1)[1])
    yield proc, port
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


def test_client_mode_and_server_process(server_process: Any) -> None:
    proc, port = server_process
    watcher = join(("127.0.0.1", port), "watcher", "tea")
    try:
        client = subprocess.run(
            [sys.executable, str(EXAMPLES / "chat.py"), "client", "127.0.0.1", str(port)],
            input="/nick pipe\n/join tea\nhello through a pipe\n",
            env=example_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert client.returncode == 0, client
        out = client.stdout.splitlines()
        assert out[0].startswith("*** welcome, guest")
        assert "*** you are now pipe" in out
        assert "*** you are in #tea (2 here)" in out
        assert out[-1] == "*** bye"  # stdin ended: the client said /quit
        watcher.expect("[#tea] pipe: hello through a pipe")
        watcher.expect("*** pipe left #tea")
    finally:
        watcher.close()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped: 1 messages said, 0 lines dropped for slow readers" in out
    assert "pipe left" in err  # the server's log of joins and leaves
    assert "Traceback" not in err, err


def test_client_to_nowhere(run_example: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connecting is refused
        r = run_example("chat.py", "client", "127.0.0.1", str(port), stdin="")
    assert r.returncode == 1, r
    assert "no chat server at" in r.stderr
