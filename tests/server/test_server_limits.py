"""Servers that cannot be held hostage: back-pressure at the handler limit, idle
timeouts (slowloris), pausing the accept loop, and gevent's hooks and setters."""

from __future__ import annotations

import logging
import socket as stdsocket
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest

import corolib
from corolib import socket
from corolib.pool import Pool
from corolib.server import DatagramServer, StreamServer
from corolib.sync import Event

LOCAL = ("127.0.0.1", 0)


def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Let the hub run until ``cond()`` holds; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        corolib.sleep(0.005)


def accept_queue(server: StreamServer) -> int:
    """Connections waiting in the listener's accept queue (Linux: TCP_INFO tcpi_unacked)."""
    info = server.socket.getsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_INFO, 104)
    return int(struct.unpack_from("I", info, 24)[0])


def connect(server: Any) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.server_port), timeout=10)


def echo(sock: socket.socket, address: Any) -> None:
    while data := sock.recv(4096):
        sock.sendall(data)


# ---- back-pressure -----------------------------------------------------------------------


class Gated:
    """A handler that reports it started, then waits for its own release."""

    def __init__(self) -> None:
        self.started: list[Event] = []
        self.running = 0
        self.peak = 0

    def __call__(self, sock: Any, address: Any) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        gate = Event()
        self.started.append(gate)
        try:
            request = sock.recv(100)
            gate.wait()
            sock.sendall(b"re:" + request)
        finally:
            self.running -= 1


@pytest.mark.parametrize("how", ["max_connections", "pool"])
def test_connections_beyond_the_limit_wait_in_the_backlog(how: str) -> None:
    handler = Gated()
    if how == "pool":
        server = StreamServer(LOCAL, handler, spawn=Pool(2))
    else:
        server = StreamServer(LOCAL, handler, max_connections=2)
    with server:
        clients = [connect(server) for _ in range(5)]
        for i, c in enumerate(clients):
            c.sendall(b"%d" % i)
        # Two are handled; the other three were never accepted: they sit in
        # the kernel's accept queue, not in the server.
        wait_until(lambda: len(handler.started) == 2 and accept_queue(server) == 3)
        assert server.full() and server.active == 2
        # A slot frees: exactly one more is taken off the queue.
        handler.started[0].set()
        wait_until(lambda: len(handler.started) == 3 and accept_queue(server) == 2)
        assert server.active == 2
        while len(handler.started) < 5:
            for gate in handler.started:
                gate.set()
            corolib.sleep(0.005)
        for gate in handler.started:
            gate.set()
        replies = sorted(c.recv(100) for c in clients)
        assert replies == [b"re:%d" % i for i in range(5)]
        assert handler.peak == 2
        for c in clients:
            c.close()
        wait_until(lambda: server.active == 0)


def test_defaults_are_bounded() -> None:
    with StreamServer(LOCAL, echo) as server:
        assert server.max_connections == 10_000
        assert server.handshake_timeout == 10.0
        assert server.idle_timeout is None
        assert server.stop_timeout == 1.0
    with DatagramServer(LOCAL, lambda data, address: None) as udp:
        assert udp.max_handlers == 1000
    with pytest.raises(ValueError, match="max_connections"):
        StreamServer(LOCAL, echo, max_connections=0)
    with pytest.raises(ValueError, match="idle_timeout"):
        StreamServer(LOCAL, echo, idle_timeout=-1)
    with pytest.raises(TypeError, match="handshake_timeout"):
        StreamServer(LOCAL, echo, handshake_timeout="10")
    with pytest.raises(TypeError, match="unexpected keyword"):
        StreamServer(LOCAL, echo, keyfiel="x.pem")


def test_datagram_server_bounds_its_handlers() -> None:
    gates: list[Event] = []
    done: list[bytes] = []
    running = [0, 0]  # now, peak

    def handle(data: bytes, address: Any) -> None:
        running[0] += 1
        running[1] = max(running[1], running[0])
        gate = Event()
        gates.append(gate)
        gate.wait()
        done.append(data)
        running[0] -= 1

    with DatagramServer(LOCAL, handle, max_handlers=3) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for i in range(10):
                client.sendto(b"%d" % i, server.address)
            wait_until(lambda: len(gates) == 3)
            assert server.full()
            while len(done) < 10:
                for gate in gates:
                    gate.set()
                corolib.sleep(0.005)
    assert sorted(done) == sorted(b"%d" % i for i in range(10))
    assert running[1] == 3


# ---- pausing and resuming --------------------------------------------------------------


def test_stop_accepting_and_start_accepting() -> None:
    with StreamServer(LOCAL, echo) as server:
        with connect(server) as a:
            a.sendall(b"a")
            assert a.recv(10) == b"a"
        server.stop_accepting()
        assert not server.accepting
        with connect(server) as b:
            b.sendall(b"b")
            wait_until(lambda: accept_queue(server) == 1)
            server.start_accepting()
            assert server.accepting
            assert b.recv(10) == b"b"
        wait_until(lambda: server.active == 0)


def test_start_accepting_starts_a_server() -> None:
    server = StreamServer(LOCAL, echo)
    server.start_accepting()
    try:
        assert server.started
        with connect(server) as c:
            c.sendall(b"x")
            assert c.recv(10) == b"x"
    finally:
        server.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        server.start_accepting()


def test_full_override_pauses_accepting() -> None:
    class Server(StreamServer):
        busy = True

        def full(self) -> bool:
            return self.busy

    with Server(LOCAL, echo) as server:
        with connect(server) as c:
            c.sendall(b"x")
            wait_until(lambda: accept_queue(server) == 1)
            server.busy = False  # looked at again within a second
            assert c.recv(10) == b"x"


# ---- gevent's hooks and setters ----------------------------------------------------------


def test_hooks_and_setters() -> None:
    events: list[str] = []

    class Server(StreamServer):
        def do_handle(self, *args: Any) -> None:
            events.append("do_handle")
            StreamServer.do_handle(self, *args)

        def do_close(self, *args: Any) -> None:
            events.append("do_close")
            StreamServer.do_close(self, *args)

    def upper(sock: socket.socket, address: Any) -> None:
        sock.sendall(sock.recv(10).upper())

    spawned: list[Any] = []

    def my_spawn(fn: Any, *args: Any) -> Any:
        spawned.append(args[1])
        return corolib.spawn(fn, *args)

    with Server(LOCAL, echo) as server:
        server.set_handle(upper)
        with connect(server) as c:
            c.sendall(b"abc")
            assert c.recv(10) == b"ABC"
            assert c.recv(10) == b""
        assert events == ["do_handle", "do_close"]
        server.set_spawn(my_spawn)
        assert server.pool is None
        with connect(server) as c:
            c.sendall(b"def")
            assert c.recv(10) == b"DEF"
        assert len(spawned) == 1
        wait_until(lambda: server.active == 0)
        with pytest.raises(TypeError):
            server.set_handle(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            server.set_spawn("sometimes")


def test_is_fatal_error_decides() -> None:
    server = StreamServer(LOCAL, echo)
    assert server.is_fatal_error(OSError(9, "EBADF"))
    assert not server.is_fatal_error(OSError(24, "EMFILE"))
    assert not server.is_fatal_error(ValueError())
    server.close()


# ---- idle timeout: slowloris -------------------------------------------------------------


def test_slowloris_idle_connections_are_closed_normal_ones_served(
    caplog: Any, capsys: Any, scaled: Any
) -> None:
    """Many connections each send one byte then stall (or trickle a byte
    every 1.5 s, slower than the timeout): each is closed at the idle
    timeout, no earlier, while normal clients keep being served."""
    idle = 0.5
    count = scaled(150)
    closed_after: list[float] = []
    errors: list[BaseException] = []

    def slow_client(interval: float | None) -> None:
        try:
            with connect(server) as s:
                # (times from before each send: the server's wait starts later)
                last = give_up = time.monotonic()
                give_up += 10  # never closed: fail rather than hang
                s.sendall(b"a")
                assert s.recv(10) == b"a"
                while True:
                    if time.monotonic() > give_up:
                        raise AssertionError("a stalled connection was never closed")
                    s.settimeout(interval or 1.0)
                    try:
                        data = s.recv(10)
                    except TimeoutError:
                        if interval is None:
                            continue  # stalled: says nothing more
                        last = time.monotonic()
                        s.sendall(b"b")  # a trickle, too slow to count
                        continue
                    except ConnectionResetError:
                        data = b""
                    if not data:
                        closed_after.append(time.monotonic() - last)
                        return
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with caplog.at_level(logging.INFO, logger="corolib.server"):
        server = StreamServer(LOCAL, echo, idle_timeout=idle)
        with server:
            slow = [
                corolib.spawn(slow_client, None if i % 2 else 1.5 * idle * 2) for i in range(count)
            ]
            served = 0
            while not all(g.ready() for g in slow):
                with connect(server) as c:  # a normal client
                    c.sendall(b"ping")
                    assert c.recv(10) == b"ping"
                    served += 1
                corolib.sleep(0.05)
            corolib.joinall(slow)
    assert not errors, errors[:3]
    assert len(closed_after) == count
    assert min(closed_after) >= idle * 0.98  # never before the timeout
    assert max(closed_after) < idle + 5  # and at it (generously, on a loaded machine)
    assert served >= 3
    assert sum("closing the connection" in r.getMessage() for r in caplog.records) == count
    assert "Traceback" not in capsys.readouterr().err  # one log line each, no traceback


def test_handler_timeout_without_idle_timeout_is_the_handlers(capsys: Any) -> None:
    # A TimeoutError the handler got from a timeout of its own is not
    # swallowed: it is reported like any other failure.
    def handle(sock: socket.socket, address: Any) -> None:
        sock.settimeout(0.05)
        sock.recv(10)

    with StreamServer(LOCAL, handle) as server:
        with connect(server) as c:
            assert c.recv(10) == b""
    assert "TimeoutError" in capsys.readouterr().err


# ---- bookkeeping edge cases --------------------------------------------------------------


def test_spawn_none_failing_handler_is_reported_and_server_goes_on(capsys: Any) -> None:
    def handle(sock: socket.socket, address: Any) -> None:
        data = sock.recv(10)
        if data == b"boom":
            raise ValueError("handler failed")
        sock.sendall(data)

    with StreamServer(LOCAL, handle, spawn=None) as server:
        with connect(server) as c:
            c.sendall(b"boom")
            assert c.recv(10) == b""
        with connect(server) as c:
            c.sendall(b"fine")
            assert c.recv(10) == b"fine"
        wait_until(lambda: server.active == 0)
        assert server.started
    err = capsys.readouterr().err
    assert "ValueError: handler failed" in err
    assert "could not start" not in err


def test_connection_whose_handler_never_ran_is_closed_by_stop() -> None:
    ran = []
    server = StreamServer(LOCAL, lambda sock, address: ran.append(address))
    server.init_socket()  # listening, but no accept greenlet: we accept by hand
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as c:
        wait_until(lambda: accept_queue(server) == 1)
        args = server.do_read()
        assert args is not None
        server.do_handle(*args)  # spawned, not yet run
        assert server.pool is not None
        server.pool.kill(block=False)  # killed before it ran (as by a stop under load)
        server.stop()
        assert c.recv(10) == b""  # and its socket is closed all the same
    assert not ran


def test_stop_leaves_untracked_handlers_their_sockets() -> None:
    # Handlers started by a plain callable are not the server's to stop.
    gate = Event()

    def handle(sock: socket.socket, address: Any) -> None:
        gate.wait()
        sock.sendall(b"still here")

    server = StreamServer(LOCAL, handle, spawn=corolib.spawn)
    server.start()
    with connect(server) as c:
        wait_until(lambda: server.active == 1)
        server.stop(timeout=0.01)
        gate.set()
        assert c.recv(20) == b"still here"
    wait_until(lambda: server.active == 0)


def test_serve_forever_holds_sigint_only_while_serving() -> None:
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server = StreamServer(LOCAL, echo)
        serving = corolib.spawn(server.serve_forever)
        wait_until(lambda: server.started)
        # Its own handler (Ctrl-C drains the server) while it serves...
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        server.stop()
        serving.get(timeout=10)
        # ...and Python's back afterwards.
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        # A handler the program installed itself is left alone.
        mine = corolib.signal_handler(signal.SIGINT, lambda: None)
        try:
            installed = signal.getsignal(signal.SIGINT)
            server = StreamServer(LOCAL, echo)
            serving = corolib.spawn(server.serve_forever)
            wait_until(lambda: server.started)
            assert signal.getsignal(signal.SIGINT) is installed
            server.stop()
            serving.get(timeout=10)
        finally:
            mine.cancel()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_serve_forever_in_another_thread_leaves_sigint_alone() -> None:
    import signal
    import threading

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    seen: list[Any] = []
    try:

        def run() -> None:
            server = StreamServer(LOCAL, echo)
            serving = corolib.spawn(server.serve_forever)
            while not server.started:
                corolib.sleep(0.005)
            seen.append(signal.getsignal(signal.SIGINT))
            server.stop()
            serving.get(timeout=10)
            corolib.get_hub().destroy()

        t = threading.Thread(target=run)
        t.start()
        t.join(30)
        assert seen == [signal.default_int_handler]
    finally:
        signal.signal(signal.SIGINT, previous)
