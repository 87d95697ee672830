"""Greenlets and coroutines calling each other through corolib.asyncio."""

from __future__ import annotations

import asyncio
import contextvars
import os
import time

import pytest

import corolib
import corolib.asyncio as ca
from corolib import socket as gsocket

DEADLINE = 10.0


def test_to_greenlet_runs_green_blocking_code_while_the_loop_runs() -> None:
    ticks: list[str] = []

    def green() -> str:
        for _ in range(3):
            corolib.sleep(0.01)
            ticks.append("green")
        return "result"

    async def ticker() -> None:
        for _ in range(3):
            await asyncio.sleep(0.01)
            ticks.append("coro")

    async def main() -> str:
        task = asyncio.ensure_future(ticker())
        value = await ca.to_greenlet(green)
        await task
        return value

    assert ca.run(main()) == "result"
    assert sorted(ticks) == ["coro"] * 3 + ["green"] * 3
    # interleaved, not one world after the other
    assert ticks != ["green"] * 3 + ["coro"] * 3 and ticks != ["coro"] * 3 + ["green"] * 3


def test_to_greenlet_exception_and_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    def fails() -> None:
        assert var.get() == "set-in-task"
        raise KeyError("boom")

    async def main() -> None:
        var.set("set-in-task")
        with pytest.raises(KeyError, match="boom"):
            await ca.to_greenlet(fails)

    ca.run(main())


def test_to_greenlet_cancelled_kills_the_greenlet() -> None:
    state: list[str] = []

    def sleeper() -> None:
        try:
            corolib.sleep(30)
        except corolib.GreenletExit:
            state.append("killed")
            raise

    async def main() -> None:
        task = asyncio.ensure_future(ca.to_greenlet(sleeper))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + DEADLINE
        while not state and time.monotonic() < deadline:
            await asyncio.sleep(0.001)

    ca.run(main())
    assert state == ["killed"]


def test_await_from_greenlets_while_loop_runs() -> None:
    async def slow(n: int) -> int:
        await asyncio.sleep(0.01 * n)
        return n * 10

    async def main() -> list[int]:
        greenlets = [corolib.spawn(ca.await_, slow(n)) for n in range(5)]
        # the coroutine waits for the greenlets, green-style, through to_greenlet
        await ca.to_greenlet(corolib.joinall, greenlets, raise_error=True)
        return [g.value for g in greenlets]

    assert ca.run(main()) == [0, 10, 20, 30, 40]


def test_await_without_a_running_loop_drives_one() -> None:
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0.01)
        return a + b

    fds_before = len(os.listdir("/proc/self/fd"))
    results = corolib.joinall(
        [corolib.spawn(ca.await_, add(i, i)) for i in range(4)], raise_error=True
    )
    assert sorted(g.value for g in results) == [0, 2, 4, 6]
    assert ca.await_(add(1, 2)) == 3  # from the main greenlet too
    # the last waiter has stopped the loop await_ started, and, nothing being
    # left on it, it was closed: its epoll fd and self-pipe are gone
    assert asyncio._get_running_loop() is None
    assert len(os.listdir("/proc/self/fd")) == fds_before


def test_await_propagates_exceptions_and_kill_cancels() -> None:
    async def fails() -> None:
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        ca.await_(fails())

    cancelled = corolib.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    g = corolib.spawn(ca.await_, forever())
    corolib.sleep(0.05)
    g.kill()
    keeper = corolib.spawn(ca.await_, asyncio.sleep(0.05))  # keeps the loop turning
    assert cancelled.wait(DEADLINE)
    keeper.join()


def test_await_refused_inside_the_loop_greenlet() -> None:
    async def main() -> None:
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="use 'await'"):
            ca.await_(coro)
        coro.close()

    ca.run(main())


def test_to_greenlet_needs_a_corolib_loop() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="corolib loop"):
            await ca.to_greenlet(lambda: None)

    asyncio.run(main())


def test_green_socket_server_and_asyncio_client_in_one_thread() -> None:
    """A greenlet server (corolib sockets) answers an asyncio streams client."""
    listener = gsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data.upper())

    async def main() -> bytes:
        server = corolib.spawn(serve)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        await writer.drain()
        reply = await reader.readexactly(5)
        writer.close()
        await writer.wait_closed()
        await ca.to_greenlet(server.join)
        return reply

    try:
        assert ca.run(main()) == b"HELLO"
    finally:
        listener.close()


def test_nested_both_ways_and_a_task_created_from_a_greenlet() -> None:
    """coroutine -> greenlet -> coroutine -> greenlet, and loop.create_task in a greenlet."""

    def innermost(x: int) -> int:
        corolib.sleep(0.001)
        return x + 1

    async def middle(x: int) -> int:
        await asyncio.sleep(0.001)
        return await ca.to_greenlet(innermost, x * 2)

    def green(x: int) -> tuple[int, str]:
        nested = ca.await_(middle(x))
        loop = asyncio.get_running_loop()  # the thread's running loop, seen from a greenlet
        task = loop.create_task(asyncio.sleep(0.001, result="task"))
        return nested, ca.await_(task)

    async def main() -> tuple[int, str]:
        return await ca.to_greenlet(green, 20)

    assert ca.run(main()) == (41, "task")


def test_many_greenlets_and_tasks_interleave() -> None:
    """500 greenlets each awaiting a coroutine, against 500 tasks each running a greenlet."""
    n = 500

    async def coro(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    def green(i: int) -> int:
        corolib.sleep(0.001)
        return -i

    async def main() -> tuple[int, int]:
        greenlets = [corolib.spawn(ca.await_, coro(i)) for i in range(n)]
        tasks = [asyncio.ensure_future(ca.to_greenlet(green, i)) for i in range(n)]
        values = await asyncio.gather(*tasks)
        await ca.to_greenlet(corolib.joinall, greenlets, raise_error=True)
        return sum(g.value for g in greenlets), sum(values)

    total = n * (n - 1) // 2
    assert ca.run(main()) == (total, -total)


def test_killing_the_loop_greenlet_right_after_giving_it_work() -> None:
    """The wake-up never displaces the kill: the loop's greenlet dies, the loop stops."""
    loop = ca.new_event_loop()
    try:
        never = loop.create_future()
        g = corolib.spawn(loop.run_until_complete, never)
        deadline = time.monotonic() + DEADLINE
        while not loop._parked and time.monotonic() < deadline:
            corolib.sleep(0.001)
        assert loop._parked
        loop.call_soon(lambda: None)  # wakes the parked loop...
        g.kill(block=True, timeout=DEADLINE)  # ...and the kill in the same hub round
        assert g.dead
        assert not loop.is_running()
        assert asyncio._get_running_loop() is None
    finally:
        loop.close()


def test_await_keeps_a_loop_whose_transport_is_still_open() -> None:
    # A protocol's transport lives on the await_ loop with no task: the
    # loop is not idle, so it is neither closed nor replaced between calls.
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    class Proto(asyncio.Protocol):
        def __init__(self) -> None:
            self.data = bytearray()

        def data_received(self, data: bytes) -> None:
            self.data += data

    async def connect() -> tuple[asyncio.Transport, Proto]:
        return await asyncio.get_running_loop().create_connection(Proto, "127.0.0.1", port)

    async def until_received(proto: Proto, expected: bytes) -> bytes:
        async def poll() -> None:
            while bytes(proto.data) != expected:
                await asyncio.sleep(0.001)

        await asyncio.wait_for(poll(), DEADLINE)
        return bytes(proto.data)

    transport, proto = ca.await_(connect())
    conn, _ = listener.accept()
    try:
        assert not transport._loop.is_closed()  # type: ignore[attr-defined]
        conn.sendall(b"hello")
        assert ca.await_(until_received(proto, b"hello")) == b"hello"
    finally:
        transport.close()
        conn.close()
        listener.close()
    ca.await_(asyncio.sleep(0))  # the close runs; the loop is then idle and closed
