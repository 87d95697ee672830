"""Socket behaviour written once, run in both worlds (corolib greenlets, stdlib threads).

Whatever the stdlib does here with threads, corolib must do with greenlets:
same results, same exceptions, same timeouts.
"""

from __future__ import annotations

import errno
import itertools
import os
import struct
import sys
import tempfile
import threading
import time
import zlib

import pytest
from netutil import World, listener

# ---- echo -------------------------------------------------------------------------


def echo_server(world: World, lsock, count: int) -> int:
    """Accept ``count`` connections, echo each until EOF; return the peak concurrency."""
    state = {"open": 0, "peak": 0}
    lock = threading.Lock()  # for the thread world; never contended by greenlets

    def handle(conn):
        with conn:
            with lock:
                state["open"] += 1
                state["peak"] = max(state["peak"], state["open"])
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            with lock:
                state["open"] -= 1

    handlers = []
    for _ in range(count):
        conn, _addr = lsock.accept()
        handlers.append(world.spawn(handle, conn))
    world.join_all(handlers)
    return state["peak"]


@pytest.mark.parametrize("family", ["tcp", "unix"])
def test_echo_concurrent(world: World, family: str, tmp_path) -> None:
    n = 200
    S = world.socket
    if family == "tcp":
        lsock = listener(S, backlog=n)
        address = lsock.getsockname()
    else:
        lsock = S.socket(S.AF_UNIX, S.SOCK_STREAM)
        address = str(tmp_path / "echo.sock")
        lsock.bind(address)
        lsock.listen(n)
    connected, echoed = Barrier(world, n), Barrier(world, n)

    def client(i: int) -> bytes:
        fam = S.AF_INET if family == "tcp" else S.AF_UNIX
        with S.socket(fam, S.SOCK_STREAM) as c:
            c.connect(address)
            connected.wait()
            msg = b"hello %d " % i * 50
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = c.recv(4096)
                assert chunk
                got += chunk
            echoed.wait()  # every connection stays open until all are served
            return got == msg

    with lsock:
        server = world.spawn(echo_server, world, lsock, n)
        clients = [world.spawn(client, i) for i in range(n)]
        assert all(world.join_all(clients))
        assert server.get(timeout=30) == n  # all n connections were open at once


class Barrier:
    """Wait until ``n`` parties arrived (threading.Barrier is not cooperative)."""

    def __init__(self, world: World, n: int) -> None:
        self.n, self.arrived, self.event = n, 0, world.event()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            self.arrived += 1
            if self.arrived == self.n:
                self.event.set()
        assert self.event.wait(60)


# ---- half-close, reset, refused -------------------------------------------------------


def test_half_close(world: World) -> None:
    S = world.socket

    def server(lsock):
        conn, _ = lsock.accept()
        with conn:
            data = b""
            while True:
                chunk = conn.recv(1000)
                if not chunk:
                    break
                data += chunk
            # The client's write side is shut; ours is still open.
            conn.sendall(b"got %d bytes" % len(data))

    with listener(S) as lsock:
        t = world.spawn(server, lsock)
        with S.create_connection(lsock.getsockname()) as c:
            c.sendall(b"x" * 100_000)
            c.shutdown(S.SHUT_WR)
            reply = b""
            while True:
                chunk = c.recv(1000)
                if not chunk:
                    break
                reply += chunk
            assert reply == b"got 100000 bytes"
            with pytest.raises(BrokenPipeError):
                c.send(b"more")
        t.get()


def _reset_close(S, conn) -> None:
    conn.setsockopt(S.SOL_SOCKET, S.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # abortive close: the peer gets RST


def test_reset_while_receiving(world: World) -> None:
    S = world.socket

    def server(lsock):
        conn, _ = lsock.accept()
        conn.recv(100)
        _reset_close(S, conn)

    with listener(S) as lsock:
        t = world.spawn(server, lsock)
        with S.create_connection(lsock.getsockname()) as c:
            c.sendall(b"request")
            with pytest.raises(ConnectionResetError):
                c.recv(100)  # waiting when the RST arrives
        t.get()


def test_reset_mid_transfer(world: World) -> None:
    S = world.socket

    def server(lsock):
        conn, _ = lsock.accept()
        got = 0
        while got < 1_000_000:
            got += len(conn.recv(65536))
        _reset_close(S, conn)

    with listener(S) as lsock:
        t = world.spawn(server, lsock)
        with S.create_connection(lsock.getsockname()) as c:
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                c.sendall(b"y" * 200_000_000)  # far more than the server reads
        t.get()


def test_connection_refused(world: World) -> None:
    S = world.socket
    with S.socket() as holder:  # bound, not listening: nothing accepts on this port
        holder.bind(("127.0.0.1", 0))
        address = holder.getsockname()
        with S.socket() as c:
            with pytest.raises(ConnectionRefusedError) as info:
                c.connect(address)
            assert info.value.errno == errno.ECONNREFUSED
        with S.socket() as c:
            assert c.connect_ex(address) == errno.ECONNREFUSED
        with S.socket() as c:
            c.settimeout(5)
            assert c.connect_ex(address) == errno.ECONNREFUSED
        with pytest.raises(ConnectionRefusedError):
            S.create_connection(address, timeout=5)


def test_connect_nonblocking(world: World) -> None:
    S = world.socket
    with listener(S) as lsock, S.socket() as c:
        c.setblocking(False)
        with pytest.raises(BlockingIOError) as info:
            c.connect(lsock.getsockname())
        assert info.value.errno == errno.EINPROGRESS
        conn, _ = lsock.accept()
        conn.close()


# ---- timeouts ------------------------------------------------------------------------


def _assert_took(started: float, timeout: float) -> None:
    elapsed = time.monotonic() - started
    assert timeout * 0.9 <= elapsed < timeout + 2.0, elapsed


@pytest.fixture
def pair(world: World):
    a, b = world.socket.socketpair()
    with a, b:
        yield a, b


RECV_OPS = {
    "recv": lambda s: s.recv(10),
    "recv_into": lambda s: s.recv_into(bytearray(10)),
    "recvfrom": lambda s: s.recvfrom(10),
    "recvfrom_into": lambda s: s.recvfrom_into(bytearray(10)),
    "recvmsg": lambda s: s.recvmsg(10),
    "recvmsg_into": lambda s: s.recvmsg_into([bytearray(10)]),
    "makefile.read": lambda s: s.makefile("rb").read(1),
}


@pytest.mark.parametrize("op", sorted(RECV_OPS))
def test_receive_timeout(world: World, pair, op: str) -> None:
    a, _b = pair
    a.settimeout(0.2)
    started = time.monotonic()
    with pytest.raises(world.socket.timeout) as info:
        RECV_OPS[op](a)
    _assert_took(started, 0.2)
    assert str(info.value) == "timed out"
    assert isinstance(info.value, TimeoutError)


@pytest.mark.parametrize("op", sorted(RECV_OPS))
def test_receive_nonblocking(world: World, pair, op: str) -> None:
    a, _b = pair
    a.setblocking(False)
    if op == "makefile.read":
        assert a.makefile("rb").read(1) is None  # the stdlib's non-blocking read
        return
    with pytest.raises(BlockingIOError) as info:
        RECV_OPS[op](a)
    assert info.value.errno in (errno.EAGAIN, errno.EWOULDBLOCK)


SEND_OPS = {
    "send": lambda s, data: s.send(data),
    "sendall": lambda s, data: s.sendall(data),
    "sendmsg": lambda s, data: s.sendmsg([data]),
}


@pytest.mark.parametrize("op", sorted(SEND_OPS))
def test_send_timeout(world: World, pair, op: str) -> None:
    a, _b = pair
    a.settimeout(0.2)
    chunk = b"z" * 65536
    started = time.monotonic()
    with pytest.raises(world.socket.timeout):
        while True:  # until the buffers are full and the peer does not read
            SEND_OPS[op](a, chunk)
            started = time.monotonic()
    _assert_took(started, 0.2)


@pytest.mark.parametrize("op", sorted(SEND_OPS))
def test_send_nonblocking(world: World, pair, op: str) -> None:
    a, _b = pair
    a.setblocking(False)
    with pytest.raises(BlockingIOError):
        while True:
            SEND_OPS[op](a, b"z" * 65536)


def test_sendall_timeout_is_total(world: World, pair) -> None:
    # 3.5+: the timeout bounds the whole sendall, not each chunk.
    a, b = pair
    a.settimeout(0.5)

    def trickle():
        # Slowly, so that sendall keeps making progress but cannot finish.
        for i in itertools.count():
            if i < 20:
                world.sleep(0.05)
            if not b.recv(65536):
                return

    t = world.spawn(trickle)
    started = time.monotonic()
    with pytest.raises(world.socket.timeout):
        a.sendall(b"q" * 50_000_000)
    _assert_took(started, 0.5)
    a.shutdown(world.socket.SHUT_WR)
    t.get()


def test_accept_timeout(world: World) -> None:
    with listener(world.socket) as lsock:
        lsock.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(world.socket.timeout):
            lsock.accept()
        _assert_took(started, 0.2)
        lsock.setblocking(False)
        with pytest.raises(BlockingIOError):
            lsock.accept()


def test_connect_timeout_full_backlog(world: World) -> None:
    S = world.socket
    # listen(0): one connection completes into the accept queue, after that
    # SYNs are dropped and connect() waits -- deterministically, locally.
    with listener(S, backlog=0) as lsock:
        address = lsock.getsockname()
        fillers = []
        try:
            for _ in range(2):
                f = S.socket()
                f.setblocking(False)
                f.connect_ex(address)
                fillers.append(f)
            time.sleep(0.05)
            with S.socket() as c:
                c.settimeout(0.3)
                started = time.monotonic()
                with pytest.raises(S.timeout):
                    c.connect(address)
                _assert_took(started, 0.3)
            with S.socket() as c:
                c.settimeout(0.2)
                assert c.connect_ex(address) in (errno.EAGAIN, errno.EWOULDBLOCK)
            started = time.monotonic()
            with pytest.raises(S.timeout):
                S.create_connection(address, timeout=0.2)
            _assert_took(started, 0.2)
        finally:
            for f in fillers:
                f.close()


def test_closed_socket_errors(world: World) -> None:
    S = world.socket
    s = S.socket()
    s.close()
    for call in [
        lambda: s.settimeout(1),
        lambda: s.setblocking(True),
        lambda: s.recv(1),
        lambda: s.send(b"x"),
        lambda: s.sendall(b"x"),
        lambda: s.sendto(b"x", ("127.0.0.1", 9)),
        lambda: s.connect(("127.0.0.1", 9)),
        lambda: s.accept(),
    ]:
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EBADF
    assert s.connect_ex(("127.0.0.1", 9)) == errno.EBADF
    assert s.fileno() == -1 and s.detach() == -1
    assert s.gettimeout() is None and s.getblocking()


def test_timeout_value_reported(world: World) -> None:
    S = world.socket
    with S.socket() as s:
        assert s.gettimeout() is None and s.getblocking() and s.timeout is None
        s.settimeout(2)
        assert s.gettimeout() == 2.0 and isinstance(s.gettimeout(), float) and s.getblocking()
        s.settimeout(0)
        assert s.gettimeout() == 0.0 and not s.getblocking()
        s.setblocking(True)
        assert s.gettimeout() is None
        s.settimeout(1e-10)
        assert s.gettimeout() == 1e-09
        for bad, exc, msg in [
            (-1, ValueError, "Timeout value out of range"),
            ("1", TypeError, "'str' object cannot be interpreted as an integer"),
            (float("nan"), ValueError, "Invalid value NaN (not a number)"),
        ]:
            with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)")):
                s.settimeout(bad)
        with pytest.raises(AttributeError):
            s.timeout = 5
        if sys.version_info < (3, 12):
            with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
                s.setblocking(None)
        else:  # any truth value since 3.12
            s.setblocking(None)
            assert s.gettimeout() == 0.0
            s.setblocking("yes")
            assert s.gettimeout() is None
    with S.socket(S.AF_INET, S.SOCK_STREAM | S.SOCK_NONBLOCK) as s:
        assert s.gettimeout() == 0.0
        assert s.type == S.SOCK_STREAM
    S.setdefaulttimeout(3.5)
    try:
        with S.socket() as s, listener(S) as lsock:
            assert s.gettimeout() == 3.5
            s.connect(lsock.getsockname())
            conn, _ = lsock.accept()
            with conn:
                assert conn.gettimeout() == 3.5
    finally:
        S.setdefaulttimeout(None)


# ---- streams -------------------------------------------------------------------------


def test_makefile_lines(world: World) -> None:
    S = world.socket
    lines = [f"line {i} {'é' * (i % 7)}\n" for i in range(2000)]

    def server(lsock):
        conn, _ = lsock.accept()
        with conn, conn.makefile("w", encoding="utf-8", newline="\n") as out:
            for i, line in enumerate(lines):
                out.write(line)
                if i % 100 == 0:
                    out.flush()
                    world.sleep(0.001)

    with listener(S) as lsock:
        t = world.spawn(server, lsock)
        with S.create_connection(lsock.getsockname()) as c, c.makefile("r", encoding="utf-8") as f:
            got = [f.readline() for _ in lines]
            assert f.readline() == ""
            assert got == lines
        t.get()


def test_makefile_rwb(world: World) -> None:
    S = world.socket

    def server(lsock):
        conn, _ = lsock.accept()
        with conn, conn.makefile("rwb") as f:
            for line in f:
                f.write(line.upper())
                f.flush()

    with listener(S) as lsock:
        t = world.spawn(server, lsock)
        with S.create_connection(lsock.getsockname()) as c:
            f = c.makefile("rwb")
            for word in (b"alpha\n", b"beta\n", b"gamma\n"):
                f.write(word)
                f.flush()
                assert f.readline() == word.upper()
            f.close()
            c.shutdown(S.SHUT_WR)
        t.get()


def test_makefile_keeps_socket_open(world: World) -> None:
    a, b = world.socket.socketpair()
    f = a.makefile("rb")
    a.close()  # the file still holds it
    b.sendall(b"still here\n")
    assert f.readline() == b"still here\n"
    f.close()  # now the socket really closes
    assert a.fileno() == -1
    b.close()


def _receive_all(conn) -> tuple[int, int]:
    crc, total = 0, 0
    buf = bytearray(1 << 16)
    view = memoryview(buf)
    while True:
        n = conn.recv_into(buf)
        if not n:
            return total, crc
        crc = zlib.crc32(view[:n], crc)
        total += n


def _accept_and_receive_all(lsock) -> tuple[int, int]:
    conn, _ = lsock.accept()
    with conn:
        return _receive_all(conn)


@pytest.mark.parametrize("use_file", [True, False], ids=["regular-file", "bytesio"])
def test_sendfile(world: World, use_file: bool) -> None:
    import io

    S = world.socket
    payload = os.urandom(3 * 1024 * 1024 + 17)
    with tempfile.TemporaryFile() as tmp:
        tmp.write(payload)
        tmp.flush()
        src = tmp if use_file else io.BytesIO(payload)
        with listener(S) as lsock:
            t = world.spawn(_accept_and_receive_all, lsock)
            with S.create_connection(lsock.getsockname()) as c:
                assert c.sendfile(src, offset=10, count=2_000_000) == 2_000_000
                assert src.tell() == 2_000_010
                assert c.sendfile(src, offset=2_000_010) == len(payload) - 2_000_010
            total, crc = t.get()
            assert total == len(payload) - 10
            assert crc == zlib.crc32(payload[10:])


def test_sendfile_timeout_and_nonblocking(world: World, pair) -> None:
    a, _b = pair
    with tempfile.TemporaryFile() as tmp:
        tmp.write(b"f" * 20_000_000)
        tmp.flush()
        a.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(world.socket.timeout):
            a.sendfile(tmp)
        _assert_took(started, 0.2)
        a.setblocking(False)
        with pytest.raises(ValueError, match="non-blocking sockets are not supported"):
            a.sendfile(tmp)


def test_large_transfer_checksum(world: World) -> None:
    S = world.socket
    size = 100 * 1024 * 1024
    block = os.urandom(1 << 20)

    def sender(conn):
        with conn:
            crc = 0
            for _ in range(size // len(block)):
                conn.sendall(block)
                crc = zlib.crc32(block, crc)
            return crc

    with listener(S) as lsock:
        with S.create_connection(lsock.getsockname()) as c:
            conn, _ = lsock.accept()
            t = world.spawn(sender, conn)
            total, crc = _receive_all(c)
        assert total == size
        assert crc == t.get()


# ---- UDP ------------------------------------------------------------------------------


def test_udp_echo(world: World) -> None:
    S = world.socket
    server = S.socket(S.AF_INET, S.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def serve():
        for _ in range(100):
            data, addr = server.recvfrom(2048)
            server.sendto(data[::-1], addr)
        buf = bytearray(100)
        n, addr = server.recvfrom_into(buf)
        server.sendto(bytes(buf[:n]), 0, addr)

    with server:
        t = world.spawn(serve)
        with S.socket(S.AF_INET, S.SOCK_DGRAM) as c:
            c.settimeout(10)
            for i in range(100):
                msg = b"datagram %d" % i
                c.sendto(msg, server.getsockname())
                data, addr = c.recvfrom(2048)
                assert data == msg[::-1] and addr == server.getsockname()
            c.connect(server.getsockname())
            c.send(b"connected")
            assert c.recv(100) == b"connected"
        t.get()


def test_udp_timeouts(world: World) -> None:
    S = world.socket
    with S.socket(S.AF_INET, S.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(S.timeout):
            s.recvfrom(100)
        _assert_took(started, 0.2)
        s.setblocking(False)
        with pytest.raises(BlockingIOError):
            s.recvfrom(100)


def test_unix_dgram_sendto_timeout(world: World, tmp_path) -> None:
    S = world.socket
    path = str(tmp_path / "dgram.sock")
    with S.socket(S.AF_UNIX, S.SOCK_DGRAM) as receiver, S.socket(S.AF_UNIX, S.SOCK_DGRAM) as a:
        receiver.bind(path)
        a.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(S.timeout):
            while True:  # the receiver never reads: its queue fills up
                a.sendto(b"d" * 1000, path)
                started = time.monotonic()
        _assert_took(started, 0.2)
        a.setblocking(False)
        with pytest.raises(BlockingIOError):
            a.sendto(b"d" * 1000, path)


def test_msg_dontwait(world: World, pair) -> None:
    # A blocking socket does not wait for a MSG_DONTWAIT call; a socket with
    # a timeout polls before each try, so it waits (and times out) anyway.
    S = world.socket
    a, b = pair
    with pytest.raises(BlockingIOError):
        a.recv(10, S.MSG_DONTWAIT)
    with pytest.raises(BlockingIOError):
        while True:
            a.send(b"d" * 65536, S.MSG_DONTWAIT)
    with pytest.raises(BlockingIOError):
        a.sendall(b"d" * 65536, S.MSG_DONTWAIT)
    a.settimeout(0.1)
    with pytest.raises(S.timeout):
        a.recv(10, S.MSG_DONTWAIT)
    with pytest.raises(S.timeout):
        a.send(b"d", S.MSG_DONTWAIT)
    b.sendall(b"ready")
    assert a.recv(10, S.MSG_DONTWAIT) == b"ready"


def test_udp_sendto_a_host_name(world: World) -> None:
    S = world.socket
    with S.socket(S.AF_INET, S.SOCK_DGRAM) as rx, S.socket(S.AF_INET, S.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(10)
        tx.sendto(b"by name", ("localhost", rx.getsockname()[1]))
        tx.sendto(b"with flags", 0, ("localhost", rx.getsockname()[1]))
        assert rx.recvfrom(100)[0] == b"by name"
        assert rx.recvfrom(100)[0] == b"with flags"
        with pytest.raises(S.gaierror):
            tx.sendto(b"x", ("does-not-exist.invalid", 9))


def test_create_connection_all_errors(world: World) -> None:
    S = world.socket
    with S.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        address = holder.getsockname()
        if sys.version_info < (3, 11):
            with pytest.raises(TypeError):
                S.create_connection(address, all_errors=True)
            return
        with pytest.raises(ExceptionGroup) as info:  # noqa: F821 - 3.11+
            S.create_connection(address, all_errors=True)
        assert all(isinstance(e, ConnectionRefusedError) for e in info.value.exceptions)
