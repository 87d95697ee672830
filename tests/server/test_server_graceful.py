"""Graceful stop in a real process: SIGTERM/SIGINT with requests in flight.

The server runs in a child process written the way the examples are
(``signal_handler(SIGTERM, server.stop)`` then ``serve_forever()``, or plain
Ctrl-C handling through ``KeyboardInterrupt``); this process is its clients
(plain blocking stdlib sockets).  The child prints a line when each handler
has its request, so the signal is sent with every request in flight.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

SERVER = textwrap.dedent(
    """
    import signal, sys
    import corolib
    from corolib.server import StreamServer

    # SIGINT may start ignored in a background shell: Ctrl-C as a terminal has it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mode, work, stop_timeout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])

    def handle(sock, address):
        line = sock.makefile("rb").readline()
        print("in flight", flush=True)
        corolib.sleep(work)  # the work of the request
        sock.sendall(b"reply to " + line)

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    if mode == "handler":
        for signum in (signal.SIGINT, signal.SIGTERM):
            corolib.signal_handler(signum, server.stop)
    print(f"serving on {server.server_port}", flush=True)
    server.serve_forever(stop_timeout=stop_timeout)
    print("serve_forever returned", flush=True)
    """
)


class Child:
    def __init__(self, mode: str, work: float, stop_timeout: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, mode, str(work), str(stop_timeout)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd="/",  # not the checkout: the installed package
        )
        line = self.readline()
        match = re.match(rb"serving on (\d+)", line)
        assert match, line + self.proc.stderr.read()  # type: ignore[union-attr]
        self.port = int(match.group(1))

    def readline(self) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def requests(self, n: int) -> list[socket.socket]:
        clients = []
        for i in range(n):
            c = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            c.sendall(b"request %d\n" % i)
            clients.append(c)
        for _ in range(n):
            assert self.readline() == b"in flight\n"
        return clients

    def listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
        except ConnectionRefusedError:
            return False
        return True

    def wait_stopping(self) -> None:
        """Wait until the first signal was acted on: the listener is closed."""
        deadline = time.monotonic() + 10
        while self.listening():
            assert time.monotonic() < deadline, "the first signal did not stop the listener"
            time.sleep(0.01)

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"the server did not exit: {out!r} {err!r}")
        return self.proc.returncode, out.decode(), err.decode()


def read_reply(c: socket.socket) -> bytes:
    try:
        return c.recv(100)
    except ConnectionResetError:
        return b""
    finally:
        c.close()


SIGNALS = [
    ("handler", signal.SIGTERM),  # signal_handler(SIGTERM, server.stop)
    ("handler", signal.SIGINT),  # signal_handler(SIGINT, server.stop)
    ("keyboardinterrupt", signal.SIGINT),  # Ctrl-C, nothing installed
]


@pytest.mark.parametrize("mode, sig", SIGNALS)
def test_signal_lets_requests_in_flight_finish(mode: str, sig: Any) -> None:
    child = Child(mode, work=0.5, stop_timeout=20)
    clients = child.requests(5)
    t0 = time.monotonic()
    os.kill(child.proc.pid, sig)
    replies = [read_reply(c) for c in clients]
    rc, out, err = child.finish()
    elapsed = time.monotonic() - t0
    assert replies == [b"reply to request %d\n" % i for i in range(5)], err
    if mode == "handler":
        assert "serve_forever returned" in out, err
        assert rc == 0, err
        assert "Traceback" not in err
    else:  # Ctrl-C: serve_forever raises KeyboardInterrupt once the stop is complete
        assert rc == -signal.SIGINT, (rc, err)
        assert err.rstrip().endswith("KeyboardInterrupt"), err
        assert err.count("Traceback") == 1, err  # no handler was interrupted
    assert elapsed < 20  # the handlers finished: no wait for the stop timeout


def test_handlers_over_the_stop_timeout_are_killed_at_it() -> None:
    child = Child("handler", work=60, stop_timeout=1.0)
    clients = child.requests(3)
    t0 = time.monotonic()
    os.kill(child.proc.pid, signal.SIGTERM)
    replies = [read_reply(c) for c in clients]
    rc, out, err = child.finish()
    elapsed = time.monotonic() - t0
    assert replies == [b"", b"", b""]  # closed, not answered
    assert rc == 0 and "serve_forever returned" in out, err
    assert 1.0 <= elapsed < 15, elapsed  # at the timeout, not before


@pytest.mark.parametrize("mode, sig", SIGNALS)
def test_second_signal_stops_now(mode: str, sig: Any) -> None:
    child = Child(mode, work=60, stop_timeout=60)
    clients = child.requests(3)
    t0 = time.monotonic()
    os.kill(child.proc.pid, sig)
    child.wait_stopping()
    os.kill(child.proc.pid, sig)
    replies = [read_reply(c) for c in clients]
    rc, out, err = child.finish()
    elapsed = time.monotonic() - t0
    assert replies == [b"", b"", b""]
    assert elapsed < 30, elapsed  # well before the 60 s stop timeout
    if mode == "handler":
        assert rc == 0 and "serve_forever returned" in out, err
    else:  # the second Ctrl-C ends the program at once
        assert rc == -signal.SIGINT, (rc, err)
        assert err.rstrip().endswith("KeyboardInterrupt"), err
