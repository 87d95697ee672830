"""The backdoor: a console per connection over loopback, output per connection."""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest

import corolib
from corolib import socket as csocket
from corolib.backdoor import BackdoorServer, BackdoorWarning

PROMPT = b">>> "


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        corolib.sleep(0.005)


class Client:
    """A console session driven from a greenlet (corolib socket)."""

    def __init__(self, address):
        self.sock = csocket.create_connection(address, timeout=10)
        self.buf = b""

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        head, _, self.buf = self.buf.partition(marker)
        return head

    def run(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\n")
        return self.read_until(PROMPT).decode().replace("\r\n", "\n")

    def close(self):
        self.sock.close()


@pytest.fixture
def server():
    srv = BackdoorServer(("", 0), locals={"answer": 21})
    srv.start()
    yield srv
    srv.stop()


def test_evaluates_an_expression_over_loopback(server, capsys):
    host, port = server.server_address
    assert host == "127.0.0.1"
    c = Client((host, port))
    try:
        banner = c.read_until(PROMPT).decode()
        assert "corolib backdoor" in banner and "answer" in banner
        assert c.run("answer * 2") == "42\n"
        assert c.run("print('to the connection', answer)") == "to the connection 21\n"
        out = c.run("1/0")
        assert "ZeroDivisionError" in out and "Traceback" in out
        assert c.run("import corolib; corolib.sleep(0.01); 'cooperative'") == "'cooperative'\n"
    finally:
        c.close()
    wait_until(lambda: server.sessions == 0)
    # Nothing the session printed reached the process's own streams, which
    # are back in place once no session is left.
    captured = capsys.readouterr()
    assert "to the connection" not in captured.out + captured.err
    assert not type(sys.stdout).__name__.startswith("_Router")


def test_sessions_have_their_own_locals_and_exit_ends_only_one(server):
    a, b = Client(server.server_address), Client(server.server_address)
    try:
        a.read_until(PROMPT)
        b.read_until(PROMPT)
        assert a.run("mine = 'a'") == ""
        assert "NameError" in b.run("mine")
        a.sock.sendall(b"exit()\n")
        with pytest.raises(EOFError):
            a.read_until(PROMPT)
        assert b.run("answer") == "21\n"
    finally:
        a.close()
        b.close()


def test_stop_ends_sessions_and_closes_the_listener():
    srv = BackdoorServer(0)
    srv.start()
    address = srv.server_address
    c = Client(address)
    c.read_until(PROMPT)
    srv.stop()
    with pytest.raises(EOFError):
        c.read_until(PROMPT)
    c.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5).close()


def test_too_many_sessions_are_refused():
    srv = BackdoorServer(("127.0.0.1", 0), max_connections=1)
    srv.start()
    first = Client(srv.server_address)
    try:
        first.read_until(PROMPT)
        second = Client(srv.server_address)
        with pytest.raises(EOFError) as info:
            second.read_until(PROMPT)
        assert b"too many sessions" in info.value.args[0]
        second.close()
    finally:
        first.close()
        srv.stop()


@pytest.mark.parametrize("listener", [("", 0), (None, 0), 0, ("localhost", 0), ("::1", 0)])
def test_loopback_unless_told_otherwise(listener, recwarn):
    if listener == ("::1", 0) and not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        srv = BackdoorServer(listener)
    except OSError as exc:  # ::1 may be unavailable in a container
        pytest.skip(f"cannot bind {listener}: {exc}")
    try:
        host = srv.server_address[0]
        assert host in ("127.0.0.1", "::1")
    finally:
        srv.stop()
    assert not [w for w in recwarn if issubclass(w.category, BackdoorWarning)]


def test_explicit_other_address_warns():
    # Never actually exposed here: the port is invalid, so bind fails after the warning.
    with pytest.warns(BackdoorWarning, match="0.0.0.0"):
        with pytest.raises(OverflowError):
            BackdoorServer(("0.0.0.0", 70000))


def test_unix_socket_is_private_and_removed_on_stop(tmp_path):
    path = str(tmp_path / "backdoor.sock")
    srv = BackdoorServer(path, locals={"answer": 21})
    srv.start()
    try:
        assert os.stat(path).st_mode & 0o777 == 0o600
        sock = csocket.socket(csocket.AF_UNIX, csocket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(path)
        c = Client.__new__(Client)
        c.sock, c.buf = sock, b""
        c.read_until(PROMPT)
        assert c.run("answer + 1") == "22\n"
        c.close()
    finally:
        srv.stop()
    assert not os.path.exists(path)
