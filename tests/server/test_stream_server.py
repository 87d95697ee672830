"""StreamServer: serving, spawning policies, stopping, errors."""

from __future__ import annotations

import logging
import socket as stdsocket
import time
from typing import Any

import pytest

import corolib
from corolib import socket
from corolib.pool import Group, Pool
from corolib.server import StreamServer
from corolib.sync import Event

LOCAL = ("127.0.0.1", 0)


def echo(sock: socket.socket, address: Any) -> None:
    while True:
        data = sock.recv(4096)
        if not data:
            return
        sock.sendall(data)


def connect(server: StreamServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.server_port), timeout=10)


def roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


# ---- serving -----------------------------------------------------------------------------


def test_echo_many_clients(scaled: Any) -> None:
    clients, rounds = scaled(300), 20
    with StreamServer(LOCAL, echo) as server:

        def client(i: int) -> int:
            with connect(server) as sock:
                for j in range(rounds):
                    payload = b"%d:%d|" % (i, j) * (j + 1)
                    assert roundtrip(sock, payload) == payload
            return i

        tasks = [corolib.spawn(client, i) for i in range(clients)]
        corolib.joinall(tasks, raise_error=True)
        assert sorted(t.value for t in tasks) == list(range(clients))
    assert not server.started and server.closed


def test_large_transfer() -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB: many partial sends and receives
    with StreamServer(LOCAL, echo) as server, connect(server) as sock:
        sender = corolib.spawn(sock.sendall, payload)
        got = bytearray()
        while len(got) < len(payload):
            got += sock.recv(65536)
        sender.get()
        assert got == payload


def test_properties() -> None:
    server = StreamServer(LOCAL, echo)
    try:
        assert not server.started
        assert server.server_host == "127.0.0.1"
        port = server.server_port
        assert isinstance(port, int) and port > 0  # bound in the constructor
        assert server.address == ("127.0.0.1", port)
        server.start()
        assert server.started
        server.start()  # idempotent
        assert "started" in repr(server)
    finally:
        server.stop()
    assert not server.started and server.closed
    with pytest.raises(RuntimeError, match="stopped"):
        server.start()
    server.stop()  # idempotent too
    server.close()


def test_handler_gets_cooperative_blocking_socket() -> None:
    seen: list[Any] = []

    def handle(sock: Any, address: Any) -> None:
        seen.append((type(sock), sock.gettimeout(), address))
        sock.sendall(b"hi")

    with StreamServer(LOCAL, handle) as server, connect(server) as sock:
        assert sock.recv(10) == b"hi"
        assert sock.recv(10) == b""  # closed when the handler returned
        assert seen[0][0] is socket.socket
        assert seen[0][1] is None
        assert seen[0][2][0] == "127.0.0.1"
        assert seen[0][2][1] == sock.getsockname()[1]


def test_subclass_handle_method() -> None:
    class Hello(StreamServer):
        def handle(self, sock: Any, address: Any) -> None:
            sock.sendall(b"hello from " + type(self).__name__.encode())

    with Hello(LOCAL) as server, connect(server) as sock:
        assert sock.recv(100) == b"hello from Hello"


def test_needs_a_handle() -> None:
    with pytest.raises(TypeError, match="handle"):
        StreamServer(LOCAL)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="listener"):
        StreamServer("127.0.0.1:0", echo)  # type: ignore[arg-type]
    for bad in (0, -1):
        with pytest.raises(ValueError, match="pool size"):
            StreamServer(LOCAL, echo, spawn=bad)
    for bad in (True, "threads", 1.5):
        with pytest.raises(TypeError, match="spawn"):
            StreamServer(LOCAL, echo, spawn=bad)


def test_listener_is_a_corolib_socket() -> None:
    listener = socket.socket()
    listener.bind(LOCAL)
    listener.listen(5)
    port = listener.getsockname()[1]
    server = StreamServer(listener, echo)
    assert server.socket is listener
    with server, connect(server) as sock:
        assert server.server_port == port
        assert roundtrip(sock, b"ping") == b"ping"
    assert listener.fileno() == -1  # the server owns it and closed it


def test_listener_is_a_stdlib_socket_bound_not_listening() -> None:
    listener = stdsocket.socket()
    listener.bind(LOCAL)
    port = listener.getsockname()[1]
    server = StreamServer(listener, echo, backlog=5)
    assert listener.fileno() == -1  # taken over
    assert isinstance(server.socket, socket.socket)
    with server, connect(server) as sock:
        assert server.server_port == port
        assert roundtrip(sock, b"ping") == b"ping"


def test_listener_host_name_is_resolved_cooperatively() -> None:
    with StreamServer(("localhost", 0), echo) as server, connect(server) as sock:
        assert server.server_host in ("127.0.0.1", "::1")
        assert roundtrip(sock, b"by name") == b"by name"


@pytest.mark.skipif(not stdsocket.has_ipv6, reason="no IPv6")
def test_ipv6_loopback() -> None:
    try:
        server = StreamServer(("::1", 0), echo)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with server, socket.create_connection(("::1", server.server_port), timeout=10) as sock:
        assert server.socket.family == socket.AF_INET6
        assert server.server_host == "::1"
        assert roundtrip(sock, b"v6") == b"v6"


def test_address_in_use() -> None:
    with StreamServer(LOCAL, echo) as first:
        with pytest.raises(OSError):
            StreamServer(("127.0.0.1", first.server_port), echo).start()


def test_failing_handler_is_reported_and_server_goes_on(capsys: Any) -> None:
    def handle(sock: Any, address: Any) -> None:
        if sock.recv(10) == b"boom":
            raise ValueError("handler failed on purpose")
        sock.sendall(b"fine")

    with StreamServer(LOCAL, handle) as server:
        with connect(server) as sock:
            sock.sendall(b"boom")
            assert sock.recv(10) == b""  # closed although the handler failed
        with connect(server) as sock:
            sock.sendall(b"ok")
            assert sock.recv(10) == b"fine"
    err = capsys.readouterr().err
    assert "ValueError: handler failed on purpose" in err


# ---- spawning ------------------------------------------------------------------------------


def _concurrency_probe() -> tuple[Any, dict[str, int], Event]:
    state = {"now": 0, "most": 0, "served": 0}
    release = Event()

    def handle(sock: Any, address: Any) -> None:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        try:
            release.wait()
            sock.sendall(b"done")
            state["served"] += 1
        finally:
            state["now"] -= 1

    return handle, state, release


@pytest.mark.parametrize("spawn", [2, "pool"])
def test_pool_limits_concurrent_handlers(spawn: Any) -> None:
    handle, state, release = _concurrency_probe()
    if spawn == "pool":
        spawn = Pool(2)
    with StreamServer(LOCAL, handle, spawn=spawn) as server:
        assert isinstance(server.pool, Pool) and server.pool.size == 2
        socks = [connect(server) for _ in range(6)]
        try:
            corolib.sleep(0.1)
            assert state["now"] == 2  # the others wait in the backlog
            release.set()
            for sock in socks:
                assert sock.recv(10) == b"done"
        finally:
            for sock in socks:
                sock.close()
        assert state["most"] == 2
        assert state["served"] == 6


def test_default_spawn_is_unlimited_and_tracked() -> None:
    handle, state, release = _concurrency_probe()
    with StreamServer(LOCAL, handle) as server:
        assert type(server.pool) is Group
        socks = [connect(server) for _ in range(50)]
        try:
            corolib.sleep(0.1)
            assert state["now"] == 50 == len(server.pool)
            release.set()
            for sock in socks:
                assert sock.recv(10) == b"done"
        finally:
            for sock in socks:
                sock.close()


def test_spawn_none_handles_inline_one_at_a_time() -> None:
    order: list[int] = []

    def handle(sock: Any, address: Any) -> None:
        n = int(sock.recv(10))
        order.append(n)
        sock.sendall(b"%d" % n)

    with StreamServer(LOCAL, handle, spawn=None) as server:
        assert server.pool is None
        socks = [connect(server) for _ in range(3)]
        try:
            for i, sock in enumerate(socks):
                sock.sendall(b"%d" % i)
            for i, sock in enumerate(socks):
                assert sock.recv(10) == b"%d" % i
        finally:
            for sock in socks:
                sock.close()
    assert order == [0, 1, 2]


def test_spawn_callable() -> None:
    spawned: list[Any] = []

    def spawn(fn: Any, *args: Any) -> Any:
        g = corolib.spawn(fn, *args)
        spawned.append(g)
        return g

    with StreamServer(LOCAL, echo, spawn=spawn) as server, connect(server) as sock:
        assert server.pool is None
        assert roundtrip(sock, b"x") == b"x"
    corolib.joinall(spawned)
    assert len(spawned) == 1


# ---- stopping ------------------------------------------------------------------------------


def test_stop_waits_for_handlers_that_finish_in_time() -> None:
    finished = []

    def handle(sock: Any, address: Any) -> None:
        sock.recv(10)
        corolib.sleep(0.2)
        finished.append(True)
        sock.sendall(b"bye")

    server = StreamServer(LOCAL, handle)
    server.start()
    with connect(server) as sock:
        sock.sendall(b"go")
        corolib.sleep(0.05)
        t0 = time.monotonic()
        server.stop(timeout=5)
        assert 0.1 < time.monotonic() - t0 < 2
        assert finished == [True]
        assert sock.recv(10) == b"bye"


def test_stop_timeout_kills_slow_handlers() -> None:
    outcome: list[str] = []

    def handle(sock: Any, address: Any) -> None:
        try:
            corolib.sleep(60)
            outcome.append("finished")
        except corolib.GreenletExit:
            outcome.append("killed")
            raise

    server = StreamServer(LOCAL, handle)
    server.start()
    socks = [connect(server) for _ in range(5)]
    try:
        corolib.sleep(0.05)
        assert len(server.pool) == 5
        t0 = time.monotonic()
        server.stop(timeout=0.2)
        elapsed = time.monotonic() - t0
        assert 0.15 < elapsed < 2, elapsed
        assert outcome == ["killed"] * 5
        assert len(server.pool) == 0
        for sock in socks:
            assert sock.recv(10) == b""  # their sockets were closed
    finally:
        for sock in socks:
            sock.close()


def test_stop_refuses_new_connections() -> None:
    server = StreamServer(LOCAL, echo)
    server.start()
    port = server.server_port
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_close_leaves_handlers_running() -> None:
    def handle(sock: Any, address: Any) -> None:
        sock.recv(10)
        sock.sendall(b"still here")

    server = StreamServer(LOCAL, handle)
    server.start()
    with connect(server) as sock:
        corolib.sleep(0.05)
        server.close()
        assert server.closed and len(server.pool) == 1
        sock.sendall(b"?")
        assert sock.recv(20) == b"still here"
    server.pool.join(timeout=5)


def test_serve_forever_until_stopped_from_another_greenlet() -> None:
    server = StreamServer(LOCAL, echo)

    def client() -> bytes:
        with connect(server) as sock:
            data = roundtrip(sock, b"hello")
        server.stop()
        return data

    task = corolib.spawn_later(0.05, client)
    server.serve_forever()
    assert task.get() == b"hello"
    assert server.closed


def test_serve_forever_stops_the_server_when_killed() -> None:
    server = StreamServer(LOCAL, echo)
    runner = corolib.spawn(server.serve_forever)
    corolib.sleep(0.05)
    assert server.started
    runner.kill()
    assert server.closed
    assert runner.successful()  # GreenletExit is a normal end


def test_stop_from_inside_a_handler() -> None:
    others: list[str] = []

    def handle(sock: Any, address: Any) -> None:
        command = sock.recv(10)
        if command == b"shutdown":
            server.stop(timeout=0.3)
            sock.sendall(b"stopping")
        else:
            try:
                corolib.sleep(60)
            except corolib.GreenletExit:
                others.append("killed")
                raise

    server = StreamServer(LOCAL, handle)
    server.start()
    idle = connect(server)
    try:
        idle.sendall(b"wait")
        with connect(server) as sock:
            sock.sendall(b"shutdown")
            assert sock.recv(10) == b"stopping"
        assert server.closed
        server.pool.join(timeout=5)
        assert others == ["killed"]
        assert idle.recv(10) == b""
    finally:
        idle.close()


def test_listener_closed_behind_the_servers_back_stops_it(caplog: Any) -> None:
    server = StreamServer(LOCAL, echo)
    server.start()
    corolib.sleep(0.01)
    with caplog.at_level(logging.ERROR, logger="corolib.server"):
        server.socket.close()
        corolib.sleep(0.05)
    assert server.closed and not server.started
    assert any("stopping" in r.getMessage() for r in caplog.records)
    server.stop()


def test_accept_loop_yields_to_handlers() -> None:
    # More connections than max_accept arrive at once: the handlers of the
    # first batch run before the whole backlog is accepted.
    accepted_when_first_ran: list[int] = []
    count = [0]

    class Server(StreamServer):
        max_accept = 5

        def handle(self, sock: Any, address: Any) -> None:
            if not accepted_when_first_ran:
                accepted_when_first_ran.append(count[0])
            sock.sendall(b"k")

    server = Server(LOCAL)
    original = server.do_handle

    def counting(*args: Any) -> None:
        count[0] += 1
        original(*args)

    server.do_handle = counting  # type: ignore[method-assign]
    socks = []
    try:
        # Fill the backlog before the accept greenlet ever runs.
        server.socket.listen(64)
        for _ in range(20):
            s = stdsocket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", server.server_port))
            socks.append(s)
        server.start()
        deadline = time.monotonic() + 30
        while count[0] < 20 and time.monotonic() < deadline:
            corolib.sleep(0.005)
        assert count[0] == 20
        assert accepted_when_first_ran == [5]
    finally:
        server.stop()
        for s in socks:
            s.close()
