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


# ---- hostile clients, against the server in its own process -------------------------------


def test_a_half_closing_client_gets_every_reply(server_process: Any) -> None:
    _, port = server_process
    # printf '/who\n' | nc -N HOST PORT: the replies must come before the close.
    for commands, replies in (
        (b"/who\r\n", ["*** in #lobby"]),
        (b"/help\r\n/rooms\r\n/who\r\n", ["*** commands:", "*** rooms:", "*** in #lobby"]),
        (b"/who\r\n/quit\r\n", ["*** in #lobby", "*** bye"]),
        (b"/who\r\n/rooms", ["*** in #lobby", "*** your last line had no end: not sent"]),
    ):
        for _ in range(10):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(commands)
                s.shutdown(socket.SHUT_WR)
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            lines = data.decode().splitlines()
            assert lines[0].startswith("*** welcome, guest"), lines
            assert lines[1].startswith("*** you are in #lobby"), lines
            assert len(lines) == 2 + len(replies), lines
            assert [line[: len(r)] for line, r in zip(lines[2:], replies, strict=True)] == replies


def test_terminal_controls_are_shown_not_obeyed(server_process: Any) -> None:
    _, port = server_process
    victim = join(("127.0.0.1", port), "victim", "tea")
    evil = join(("127.0.0.1", port), "evil", "tea")
    try:
        evil.sock.sendall(
            b"\x1b[2J\x1b[31mscreen cleared\x1b[0m\n"
            b"hi\r*** admin: your session expired, type your password\x1b[K\n"
            b"a\x00b\x07bell\x7f \xe2\x80\xaeevil\n"
        )
        got = victim.expect("bell")
        assert got[-3:] == [
            "[#tea] evil: ^[[2J^[[31mscreen cleared^[[0m",
            "[#tea] evil: hi^M*** admin: your session expired, type your password^[[K",
            "[#tea] evil: a^@b^Gbell^? <U+202E>evil",
        ]
        # The bundled client escapes too, whatever a server sends it.
        client = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "chat.py"), "client", "127.0.0.1", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=example_env(),
        )
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write(b"/nick watcher\n/join tea\n")
        client.stdin.flush()
        victim.expect("watcher joined #tea")
        evil.sock.sendall(b"\x1b]0;pwned title\x07\x1b[2J spoof\r*** fake\n")
        victim.expect("pwned title")
        out, err = client.communicate(b"/who\n", timeout=30)
        assert client.returncode == 0, err
        assert b"[#tea] evil: ^[]0;pwned title^G^[[2J spoof^M*** fake\n" in out, out
        assert b"\x1b" not in out and b"\r" not in out and b"\x07" not in out, out
    finally:
        victim.close()
        evil.close()


def test_an_over_long_line_is_refused_with_a_notice(server_process: Any) -> None:
    _, port = server_process
    watcher = join(("127.0.0.1", port), "watcher", "tea")
    talker = join(("127.0.0.1", port), "talker", "tea")
    try:
        talker.sock.sendall(b"x" * 10_000 + b"\r\nafter the long one\r\n")
        assert talker.expect("line too long")[-1] == "*** line too long (over 2048 bytes): not sent"
        seen = watcher.expect("after the long one")
        assert [line for line in seen if "talker:" in line] == ["[#tea] talker: after the long one"]
        # Far over the limit (what was 51,209 messages of 2 KiB for 100 MB): the
        # sender is told and disconnected; the room hears nothing of it.
        talker.sock.settimeout(30)
        try:
            talker.sock.sendall(b"y" * (4 << 20))
        except OSError:
            pass  # the server hung up while we were still sending
        lines = []
        try:
            while True:
                lines.append(talker.line())
        except (EOFError, OSError):
            pass
        assert "*** a line of over 1048576 bytes: disconnected" in lines, lines[-3:]
        seen = watcher.expect("talker left #tea")
        assert not [line for line in seen if "talker:" in line], seen
    finally:
        watcher.close()
        talker.close()


def test_unterminated_lines_of_users_leaving_are_not_said(server_process: Any) -> None:
    # The 2.8 s stall: 2,000 users each holding half a line disconnected at
    # once, and each half line was said to the whole lobby (4 million
    # deliveries).  A line counts once it ends.
    _, port = server_process
    watcher = join(("127.0.0.1", port), "watcher")
    users = []
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"half a line without its end")
            users.append(s)
        for s in users:
            s.shutdown(socket.SHUT_WR)
        for s in users:  # each is told, then closed
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            assert b"*** your last line had no end: not sent" in data
            s.close()
        watcher.say("/who")
        seen = watcher.expect("*** in #lobby")
        assert seen[-1] == "*** in #lobby (1): watcher"
        assert not [line for line in seen if "half a line" in line]
    finally:
        watcher.close()
        for s in users:
            s.close()


def test_a_stop_answers_the_lines_already_sent(server_process: Any) -> None:
    proc, port = server_process
    user = join(("127.0.0.1", port), "busy")
    try:
        user.say(*["/who"] * 2000)
        proc.send_signal(signal.SIGTERM)
        lines = []
        try:
            while True:
                lines.append(user.line())
        except EOFError:
            pass
        assert len([line for line in lines if line.startswith("*** in #lobby (1)")]) == 2000
        assert "*** the server is shutting down" in lines
    finally:
        user.close()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped: 0 messages said" in out
    assert "Traceback" not in err, err
