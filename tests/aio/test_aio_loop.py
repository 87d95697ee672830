"""corolib.asyncio.EventLoop itself: the asyncio surface on the hub, with real I/O.

(CPython's own test_asyncio modules also run against it: ``make test-stdlib``.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import corolib
import corolib.asyncio as ca

DEADLINE = 10.0


def run_checked(main: Callable[[], Coroutine[Any, Any, Any]], *, debug: bool = False) -> Any:
    """Run ``main()`` on a corolib loop; fail if the loop reported any error."""
    errors: list[dict[str, Any]] = []

    async def wrapper() -> Any:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ca.EventLoop)
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        return await main()

    result = ca.run(wrapper(), debug=debug)
    assert errors == []
    return result


def test_callbacks_timers_and_time() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        done = loop.create_future()
        start = loop.time()
        loop.call_later(0.03, order.append, "later")
        loop.call_at(start + 0.01, order.append, "at")
        loop.call_soon(order.append, "soon")
        loop.call_later(0.05, done.set_result, None)
        await done
        assert loop.time() - start >= 0.05
        return order

    assert run_checked(main) == ["soon", "at", "later"]


def test_loop_kinds_and_runner_forms() -> None:
    async def kind() -> str:
        return type(asyncio.get_running_loop()).__name__

    assert ca.run(kind()) == "EventLoop"
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=ca.new_event_loop) as runner:
            assert runner.run(kind()) == "EventLoop"
            assert isinstance(runner.get_loop(), ca.EventLoop)
    if sys.version_info >= (3, 12):
        assert asyncio.run(kind(), loop_factory=ca.new_event_loop) == "EventLoop"
    old = asyncio.get_event_loop_policy()
    try:
        ca.install()
        assert asyncio.run(kind()) == "EventLoop"
    finally:
        asyncio.set_event_loop_policy(old)


def test_call_soon_threadsafe_from_an_os_thread_wakes_the_loop() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        thread = threading.Thread(
            target=lambda: loop.call_soon_threadsafe(fut.set_result, "from thread")
        )
        thread.start()
        value = await asyncio.wait_for(fut, DEADLINE)
        thread.join()
        return value

    assert run_checked(main) == "from thread"


def test_run_in_executor_and_default_executor_shutdown() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, sum, range(10))

    assert run_checked(main) == 45


def test_greenlets_run_while_the_loop_is_busy_and_while_it_waits() -> None:
    green_ticks = 0

    def green() -> None:
        nonlocal green_ticks
        while True:
            corolib.sleep(0)
            green_ticks += 1

    async def main() -> None:
        g = corolib.spawn(green)
        # busy: the loop never waits, still the greenlet gets turns
        for _ in range(2000):
            await asyncio.sleep(0)
        busy_ticks = green_ticks
        assert busy_ticks > 10
        # waiting: the loop parks on the hub, the greenlet runs freely
        await asyncio.sleep(0.02)
        assert green_ticks > busy_ticks
        g.kill()

    run_checked(main)


def test_getaddrinfo_and_getnameinfo_through_corolib_dns() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        assert infos and all(info[1] == socket.SOCK_STREAM for info in infos)
        numeric = await loop.getaddrinfo("127.0.0.1", "80", family=socket.AF_INET)
        assert numeric[0][4] == ("127.0.0.1", 80)
        host, port = await loop.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST)
        assert host == "127.0.0.1" and port in ("80", "http")

    run_checked(main)


def test_tcp_server_client_and_sock_methods() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        handled = asyncio.Event()

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()
            handled.set()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # low-level sock_* methods as the client
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        payload = os.urandom(1 << 20)
        await loop.sock_sendall(sock, payload)
        got = bytearray()
        buf = bytearray(65536)
        while len(got) < len(payload):
            n = await loop.sock_recv_into(sock, buf)
            assert n
            got += buf[:n]
        assert bytes(got) == payload
        sock.close()
        await asyncio.wait_for(handled.wait(), DEADLINE)
        server.close()
        await server.wait_closed()

    run_checked(main)


def test_subprocess_transport() -> None:
    async def main() -> bytes:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; sys.stdout.write(sys.stdin.read().upper())",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate(b"green and async")
        assert proc.returncode == 0
        return out

    assert run_checked(main) == b"GREEN AND ASYNC"


def test_add_and_remove_signal_handler_with_a_real_signal() -> None:
    before = signal.getsignal(signal.SIGUSR1)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "usr1")
        os.kill(os.getpid(), signal.SIGUSR1)
        assert await asyncio.wait_for(got, DEADLINE) == "usr1"
        assert loop.remove_signal_handler(signal.SIGUSR1)
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
        assert not loop.remove_signal_handler(signal.SIGUSR1)

    try:
        run_checked(main)
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_debug_mode_accepts_greenlets_of_the_loop_thread() -> None:
    """Debug mode's thread check is per OS thread, not per greenlet."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        assert loop.get_debug()

        def green() -> int:
            handle = loop.call_soon(lambda: None)  # from a greenlet: allowed
            handle.cancel()
            return ca.await_(asyncio.sleep(0, result=7))

        return await ca.to_greenlet(green)

    assert run_checked(main, debug=True) == 7


def test_shutdown_asyncgens_finalizes_async_generators() -> None:
    finalized: list[str] = []

    async def agen() -> Any:
        try:
            yield 1
            yield 2
        finally:
            finalized.append("closed")

    async def main() -> None:
        gen = agen()
        assert await gen.__anext__() == 1
        # left suspended: the runner's shutdown_asyncgens must close it

    run_checked(main)
    assert finalized == ["closed"]


def test_closed_loop_refuses_work_and_releases_its_fds() -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        loop = ca.new_event_loop()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    assert len(os.listdir("/proc/self/fd")) <= fds_before
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(lambda: None)


def test_patch_all_program(run_python: Any) -> None:
    """Under patch_all(): an asyncio server, and blocking stdlib clients in greenlets."""
    run_python(
        """
        from corolib import monkey
        monkey.patch_all()
        import asyncio, socket, time
        import corolib.asyncio as ca

        def blocking_client(port, i):
            # plain stdlib calls, made green by patch_all()
            with socket.create_connection(("127.0.0.1", port)) as s:
                time.sleep(0.01)
                s.sendall(b"ping %d" % i)
                return s.recv(100)

        async def main():
            async def handle(reader, writer):
                writer.write((await reader.read(100)).replace(b"ping", b"pong"))
                await writer.drain()
                writer.close()
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            replies = await asyncio.gather(
                *(ca.to_greenlet(blocking_client, port, i) for i in range(10))
            )
            server.close()
            await server.wait_closed()
            return replies

        replies = ca.run(main())
        assert replies == [b"pong %d" % i for i in range(10)], replies
        print("ok")
        """,
        timeout=60,
    ).expect(stdout="ok\n")


def test_ctrl_c_cancels_the_main_task_of_run(run_python: Any) -> None:
    """SIGINT while the loop is parked on the hub: asyncio's Runner gets it at once."""
    run_python(
        """
        import asyncio, os, signal, time
        import corolib.asyncio as ca
        signal.signal(signal.SIGINT, signal.default_int_handler)  # may start ignored

        async def main():
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                print("cancelled")
                raise

        started = time.monotonic()
        try:
            ca.run(main())
        except KeyboardInterrupt:
            print("interrupted", time.monotonic() - started < 10)
        """,
        timeout=60,
    ).expect(stdout="cancelled\ninterrupted True\n")


def test_a_loop_per_os_thread_each_on_its_own_hub() -> None:
    results: dict[int, Any] = {}

    def thread_main(n: int) -> None:
        async def main() -> tuple[int, int]:
            def green() -> int:
                corolib.sleep(0.01)
                return ca.await_(asyncio.sleep(0.01, result=n))

            value = await ca.to_greenlet(green)
            return value, threading.get_ident()

        results[n] = ca.run(main())

    threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
        assert not t.is_alive()
    assert sorted(v for v, _ in results.values()) == [0, 1, 2]
    assert len({ident for _, ident in results.values()}) == 3
