"""corolib.asyncio's C socket transport, against real sockets on 127.0.0.1 (and Unix sockets).

Every protocol here counts its ``connection_lost`` calls: exactly one, always.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import io
import os
import select
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import corolib.asyncio as ca
from corolib.asyncio._transport import SocketTransport

DEADLINE = 20.0


def run_checked(
    main: Callable[[], Coroutine[Any, Any, Any]], errors: list[dict[str, Any]] | None = None
) -> Any:
    """Run ``main()`` on a corolib loop; the loop's error reports go to ``errors`` (else: none)."""
    seen: list[dict[str, Any]] = []

    async def wrapper() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: seen.append(ctx))
        return await asyncio.wait_for(main(), DEADLINE)

    result = ca.run(wrapper())
    if errors is None:
        assert seen == []
    else:
        errors.extend(seen)
    return result


async def until(cond: Callable[[], bool], what: str) -> None:
    """Let the loop run until ``cond()`` holds (the caller's wait_for bounds it)."""
    while not cond():
        await asyncio.sleep(0.001)


class Recorder(asyncio.Protocol):
    """Records everything; connection_lost must come once."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.data = bytearray()
        self.events: list[str] = []
        self.lost: list[BaseException | None] = []
        self.eof_result: bool | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        assert self.transport is None
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        self.data += data

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        return self.eof_result

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)
        assert len(self.lost) == 1, "connection_lost called twice"
        if not self.closed.done():
            self.closed.set_result(exc)


async def pair(
    server_factory: Callable[[], asyncio.BaseProtocol] = Recorder,
    client_factory: Callable[[], asyncio.BaseProtocol] = Recorder,
) -> tuple[Any, Any, Any, asyncio.Server]:
    """(client protocol, server protocol, client transport, server) over TCP."""
    loop = asyncio.get_running_loop()
    made: asyncio.Future[Any] = loop.create_future()

    def factory() -> asyncio.BaseProtocol:
        proto = server_factory()
        made.set_result(proto)
        return proto

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, client = await loop.create_connection(client_factory, "127.0.0.1", port)
    srv = await made
    await until(lambda: srv.transport is not None, "server connection_made")
    return client, srv, transport, server


async def finish(*protos: Any, server: asyncio.Server | None = None) -> None:
    for p in protos:
        if p.transport is not None:
            p.transport.close()
    for p in protos:
        await p.closed
    if server is not None:
        server.close()
        await server.wait_closed()


def test_echo_type_and_extra_info() -> None:
    async def main() -> None:
        client, srv, tr, server = await pair()
        assert isinstance(tr, SocketTransport)
        assert isinstance(srv.transport, SocketTransport)
        assert isinstance(tr, asyncio.Transport)
        assert tr.get_extra_info("peername") == server.sockets[0].getsockname()
        assert srv.transport.get_extra_info("peername") == tr.get_extra_info("sockname")
        sock = tr.get_extra_info("socket")
        assert sock.fileno() == tr._sock_fd
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert tr.get_extra_info("nope", 42) == 42
        assert tr.can_write_eof() and tr.is_reading() and not tr.is_closing()
        assert tr.get_write_buffer_limits() == (16384, 65536)
        tr.write(b"hello")
        tr.writelines([b" ", bytearray(b"wor"), memoryview(b"ld")])
        await until(lambda: bytes(srv.data) == b"hello world", "data")
        with pytest.raises(TypeError, match="bytes-like"):
            tr.write("text")
        srv.transport.write(b"back")
        await until(lambda: bytes(client.data) == b"back", "reply")
        assert "read=polling" in repr(tr)
        await finish(client, srv, server=server)
        assert client.lost == [None] and srv.lost == [None]
        assert "closed" in repr(tr)

    run_checked(main)


def test_large_writes_arrive_intact() -> None:
    payload = os.urandom(1 << 20) * 24  # 24 MiB

    async def main() -> None:
        client, srv, tr, server = await pair()
        tr.write(payload)
        assert tr.get_write_buffer_size() > 0  # the kernel did not take it all
        await until(lambda: len(srv.data) >= len(payload), "all data")
        assert hashlib.sha256(srv.data).digest() == hashlib.sha256(payload).digest()
        await until(lambda: tr.get_write_buffer_size() == 0, "buffer drained")
        await finish(client, srv, server=server)

    run_checked(main)


def test_flow_control_with_a_slow_reader() -> None:
    async def main() -> None:
        client, srv, tr, server = await pair()
        srv.transport.pause_reading()
        assert not srv.transport.is_reading()
        tr.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        chunk = b"x" * 65536
        sent = 0
        while "pause" not in client.events:
            tr.write(chunk)
            sent += len(chunk)
            assert sent < 256 << 20, "pause_writing never came"
        assert tr.get_write_buffer_size() > 64 * 1024
        assert client.events.count("pause") == 1
        srv.transport.resume_reading()
        await until(lambda: "resume" in client.events, "resume_writing")
        assert tr.get_write_buffer_size() <= 16 * 1024
        await until(lambda: len(srv.data) == sent, "everything")
        assert client.events == ["made", "pause", "resume"]
        with pytest.raises(ValueError):
            tr.set_write_buffer_limits(high=1, low=2)
        await finish(client, srv, server=server)

    run_checked(main)


def test_pause_reading_stops_data_received() -> None:
    async def main() -> None:
        client, srv, tr, server = await pair()
        srv.transport.pause_reading()
        srv.transport.pause_reading()  # idempotent
        tr.write(b"held back")
        fd = srv.transport._sock_fd
        # the bytes are in the server's socket: it is readable, yet not read
        assert select.select([fd], [], [], DEADLINE)[0] == [fd]
        for _ in range(50):
            await asyncio.sleep(0)
        assert bytes(srv.data) == b""
        assert "read=idle" in repr(srv.transport)
        srv.transport.resume_reading()
        assert srv.transport.is_reading()
        await until(lambda: bytes(srv.data) == b"held back", "data after resume")
        await finish(client, srv, server=server)

    run_checked(main)


def test_eof_half_close_and_write_after_eof() -> None:
    async def main() -> None:
        client, srv, tr, server = await pair()
        srv.eof_result = True  # keep the connection open to answer
        tr.write(b"question")
        tr.write_eof()
        with pytest.raises(RuntimeError, match="write_eof"):
            tr.write(b"more")
        await until(lambda: "eof" in srv.events, "eof_received")
        assert bytes(srv.data) == b"question"
        assert not srv.transport.is_closing()
        srv.transport.write(b"answer")
        srv.transport.close()
        await until(lambda: "eof" in client.events, "client eof")
        assert bytes(client.data) == b"answer"
        # the client's eof_received returned None: it closed itself
        await client.closed
        await srv.closed
        assert client.lost == [None] and srv.lost == [None]
        server.close()
        await server.wait_closed()

    run_checked(main)


def test_abort_with_pending_data() -> None:
    async def main() -> None:
        client, srv, tr, server = await pair()
        srv.transport.pause_reading()
        tr.write(b"y" * (32 << 20))
        assert tr.get_write_buffer_size() > 0
        tr.abort()
        assert tr.is_closing() and tr.get_write_buffer_size() == 0
        tr.abort()  # a second abort changes nothing
        tr.close()
        assert await client.closed is None
        for _ in range(10):
            tr.write(b"after")  # ignored once the connection is lost
        srv.transport.resume_reading()
        # the server sees the end (a reset or an EOF after what had been sent)
        await srv.closed
        assert len(srv.lost) == 1 and client.lost == [None]
        server.close()
        await server.wait_closed()

    run_checked(main)


def test_close_inside_data_received() -> None:
    class CloseOnData(Recorder):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.transport.write(b"bye")
            self.transport.close()
            self.transport.close()
            self.transport.write(b"dropped")  # closing: nothing more goes out

    async def main() -> None:
        client, srv, tr, server = await pair(server_factory=CloseOnData)
        tr.write(b"hi")
        await srv.closed
        await until(lambda: "eof" in client.events, "client eof")
        assert bytes(client.data) == b"bye"
        await client.closed
        assert srv.lost == [None] and client.lost == [None]
        server.close()
        await server.wait_closed()

    run_checked(main)


def test_protocol_error_is_reported_and_closes() -> None:
    class Failing(Recorder):
        def data_received(self, data: bytes) -> None:
            raise ValueError("protocol bug")

    errors: list[dict[str, Any]] = []

    async def main() -> None:
        client, srv, tr, server = await pair(server_factory=Failing)
        tr.write(b"boom")
        exc = await srv.closed
        assert isinstance(exc, ValueError)
        await client.closed
        server.close()
        await server.wait_closed()

    run_checked(main, errors)
    assert [e["message"] for e in errors] == ["Fatal error: protocol.data_received() call failed."]
    assert isinstance(errors[0]["exception"], ValueError)


def test_peer_reset_while_reading_and_writing() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        protos: list[Recorder] = []

        def factory() -> Recorder:
            protos.append(Recorder())
            return protos[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for mode in ("reading", "writing"):
            before = len(protos)
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.connect(("127.0.0.1", port))
            await until(lambda b=before: len(protos) > b and protos[-1].transport, "made")
            proto = protos[-1]
            if mode == "writing":
                proto.transport.write(b"z" * (8 << 20))  # more than the peer will take
                assert proto.transport.get_write_buffer_size() > 0
            else:
                raw.sendall(b"some data")
                await until(lambda p=proto: bool(p.data), "data")
            # close with RST
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()
            exc = await proto.closed
            assert exc is None or isinstance(exc, ConnectionError), exc
            assert len(proto.lost) == 1
            assert proto.transport.is_closing()
        server.close()
        await server.wait_closed()

    run_checked(main)


def test_buffered_protocol() -> None:
    class Buffered(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buf = bytearray(1000)
            self.got = bytearray()
            self.sizes: list[int] = []
            self.transport: Any = None
            self.lost: list[BaseException | None] = []
            self.closed = asyncio.get_running_loop().create_future()

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def get_buffer(self, sizehint: int) -> bytearray:
            assert sizehint == -1
            return self.buf

        def buffer_updated(self, nbytes: int) -> None:
            self.sizes.append(nbytes)
            self.got += self.buf[:nbytes]

        def eof_received(self) -> None:
            return None

        def connection_lost(self, exc: BaseException | None) -> None:
            self.lost.append(exc)
            self.closed.set_result(exc)

    payload = os.urandom(100_000)

    async def main() -> None:
        client, srv, tr, server = await pair(server_factory=Buffered)
        tr.write(payload)
        await until(lambda: len(srv.got) == len(payload), "all data")
        assert bytes(srv.got) == payload
        assert max(srv.sizes) <= 1000
        tr.close()
        await srv.closed
        await client.closed
        assert srv.lost == [None]
        server.close()
        await server.wait_closed()

    run_checked(main)


def test_buffered_protocol_empty_buffer_is_fatal() -> None:
    class Empty(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.transport: Any = None
            self.closed = asyncio.get_running_loop().create_future()

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def get_buffer(self, sizehint: int) -> bytearray:
            return bytearray()

        def buffer_updated(self, nbytes: int) -> None:
            raise AssertionError("not reached")

        def connection_lost(self, exc: BaseException | None) -> None:
            self.closed.set_result(exc)

    errors: list[dict[str, Any]] = []

    async def main() -> None:
        client, srv, tr, server = await pair(server_factory=Empty)
        tr.write(b"data")
        exc = await srv.closed
        assert isinstance(exc, RuntimeError) and "empty buffer" in str(exc)
        await client.closed
        server.close()
        await server.wait_closed()

    run_checked(main, errors)
    assert [e["message"] for e in errors] == ["Fatal error: protocol.get_buffer() call failed."]


def test_unix_socket_streams(tmp_path: Any) -> None:
    path = str(tmp_path / "s.sock")

    async def main() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(echo, path)
        reader, writer = await asyncio.open_unix_connection(path)
        assert isinstance(writer.transport, SocketTransport)
        for i in range(20):
            writer.write(b"msg %d" % i)
            await writer.drain()
            assert await reader.readexactly(len(b"msg %d" % i)) == b"msg %d" % i
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run_checked(main)


def test_sendfile_native_and_fallback(tmp_path: Any) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        client, srv, tr, server = await pair()
        with open(path, "rb") as f:
            assert await loop.sendfile(tr, f) == len(data)
        # no native path for a file object without an fd: the stdlib's fallback
        assert await loop.sendfile(tr, io.BytesIO(data)) == len(data)
        await until(lambda: len(srv.data) == 2 * len(data), "both copies")
        assert bytes(srv.data) == data * 2
        tr.write(b"!")
        await until(lambda: len(srv.data) == 2 * len(data) + 1, "after sendfile")
        await finish(client, srv, server=server)

    run_checked(main)


def test_many_connections_leave_nothing_behind(rss: Callable[[], int]) -> None:
    """A leak loop: connections opened and closed, objects and memory flat."""

    async def rounds(n: int) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.read(100))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for _ in range(n):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping" * 100)
            assert await reader.read() == b"ping" * 25
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()

    def transports() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, SocketTransport))

    run_checked(lambda: rounds(50))
    base_objects, base_rss = len(gc.get_objects()), rss()
    for _ in range(4):
        run_checked(lambda: rounds(100))
    assert transports() == 0
    assert len(gc.get_objects()) - base_objects < 500
    assert rss() - base_rss < 8 * 1024  # KiB


# ---- the loop's call_soon path in C ------------------------------------------------


def test_call_soon_handles_and_errors() -> None:
    import contextvars
    import sys

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    errors: list[dict[str, Any]] = []

    def boom() -> None:
        raise KeyError("in callback")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        seen: list[Any] = []
        h = loop.call_soon(seen.append, 1)
        assert isinstance(h, asyncio.Handle) and not h.cancelled()
        assert "append" in repr(h)
        loop.call_soon(seen.append, 2).cancel()
        ctx = contextvars.copy_context()
        ctx.run(var.set, "given")
        loop.call_soon(lambda: seen.append(var.get()), context=ctx)
        var.set("caller")
        loop.call_soon(lambda: seen.append(var.get()))
        loop.call_soon(boom)
        with pytest.raises(TypeError):
            loop.call_soon(seen.append, 1, bogus=True)
        with pytest.raises(TypeError):
            loop.call_soon()
        fut = loop.create_future()
        assert isinstance(fut, asyncio.Future) and fut.get_loop() is loop
        assert loop.get_debug() is False
        await asyncio.sleep(0)
        assert seen == [1, "given", "caller"]
        # no reference is kept or lost per call
        cb = object()
        before = sys.getrefcount(cb)
        for _ in range(1000):
            loop.call_soon(id, cb)
        await asyncio.sleep(0)
        assert sys.getrefcount(cb) == before

    run_checked(main, errors)
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Exception in callback")
    assert "boom" in errors[0]["message"]
    assert isinstance(errors[0]["exception"], KeyError)
    assert isinstance(errors[0]["handle"], asyncio.Handle)


def test_call_soon_debug_mode_and_closed_loop() -> None:
    loop = ca.new_event_loop()
    try:
        loop.set_debug(True)
        h = loop.call_soon(print)
        # debug mode: the stdlib's handle, with a traceback ending here
        assert h._source_traceback[-1].name == "test_call_soon_debug_mode_and_closed_loop"
        with pytest.raises(TypeError, match="coroutines cannot be used"):
            loop.call_soon(asyncio.sleep)
        loop.set_debug(False)
        h.cancel()
    finally:
        loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon(print)


def test_abort_and_write_after_a_draining_close() -> None:
    """close() with data buffered: connection_lost once the buffer is sent, then no-ops."""

    async def main() -> None:
        client, srv, tr, server = await pair()
        srv.transport.pause_reading()
        tr.write(b"w" * (8 << 20))
        assert tr.get_write_buffer_size() > 0
        tr.close()
        assert tr.is_closing() and not client.lost  # waits for the buffer
        srv.transport.resume_reading()
        assert await client.closed is None
        tr.abort()
        tr.write(b"late")
        tr.close()
        await until(lambda: len(srv.data) == 8 << 20, "everything")
        await srv.closed
        assert client.lost == [None] and srv.lost == [None]
        server.close()
        await server.wait_closed()

    run_checked(main)


def test_transports_and_selector_fds_share_one_epoll() -> None:
    # The transports' sockets are registered in the selector's own epoll
    # (one epoll_wait per iteration); a reader added through the selector
    # and a transport ready at once are both served, and after what was
    # already scheduled, as on the stdlib loop.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        client, srv, transport, server = await pair()
        assert transport._sock_fd not in selector._fd_to_key
        assert srv.transport._sock_fd not in selector._fd_to_key
        order: list[str] = []
        a, b = socket.socketpair()
        a.setblocking(False)
        got_raw = loop.create_future()

        def on_readable() -> None:
            order.append("reader")
            a.recv(100)
            loop.remove_reader(a.fileno())
            got_raw.set_result(None)

        loop.add_reader(a.fileno(), on_readable)
        srv_received = srv.data_received

        def data_received(data: bytes) -> None:
            order.append("data")
            srv_received(data)

        srv.data_received = data_received

        def make_both_ready() -> None:
            transport.write(b"to the server")
            b.send(b"raw")
            loop.call_soon(order.append, "soon")

        loop.call_soon(make_both_ready)
        await got_raw
        await until(lambda: bytes(srv.data) == b"to the server", "data_received")
        assert order[0] == "soon", order
        assert sorted(order) == ["data", "reader", "soon"], order
        a.close()
        b.close()
        await finish(client, srv, server=server)

    run_checked(main)
