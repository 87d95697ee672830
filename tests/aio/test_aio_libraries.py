"""Real asyncio libraries on corolib.asyncio, called from greenlets through await_.

aiohttp's server and client and httpx's async client, in one process and
one thread with greenlets (installed by ``make aio-deps``, which ``make
test`` runs).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import corolib
import corolib.asyncio as ca
from corolib import socket as gsocket

aiohttp = pytest.importorskip("aiohttp")
httpx = pytest.importorskip("httpx")
from aiohttp import web  # noqa: E402


async def _start_app() -> tuple[Any, int]:
    async def hello(request: Any) -> Any:
        await asyncio.sleep(0.001)
        return web.Response(text="hello " + request.match_info["name"])

    async def echo(request: Any) -> Any:
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_get("/hello/{name}", hello)
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, port


def test_aiohttp_server_with_aiohttp_httpx_and_green_clients_from_greenlets() -> None:
    async def main() -> list[tuple[str, str, bytes, bytes]]:
        runner, port = await _start_app()
        base = f"http://127.0.0.1:{port}"

        async def with_aiohttp(i: int) -> str:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{base}/hello/aiohttp{i}") as response:
                    assert response.status == 200
                    return await response.text()

        async def with_httpx(i: int) -> tuple[str, bytes]:
            async with httpx.AsyncClient() as client:
                got = await client.get(f"{base}/hello/httpx{i}")
                body = bytes(range(256)) * 400
                posted = await client.post(f"{base}/echo", content=body)
                assert posted.content == body
                return got.text, posted.content[:4]

        def green_raw(i: int) -> bytes:
            # a plain green socket, blocking style, against the aiohttp server
            with gsocket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(
                    f"GET /hello/raw{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                )
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            return data.rsplit(b"\r\n\r\n", 1)[1]

        def green_worker(i: int) -> tuple[str, str, bytes, bytes]:
            a = ca.await_(with_aiohttp(i))
            h, prefix = ca.await_(with_httpx(i))
            return a, h, prefix, green_raw(i)

        greenlets = [corolib.spawn(green_worker, i) for i in range(4)]
        await ca.to_greenlet(corolib.joinall, greenlets, raise_error=True)
        await runner.cleanup()
        return [g.value for g in greenlets]

    results = ca.run(main())
    assert results == [
        (f"hello aiohttp{i}", f"hello httpx{i}", b"\x00\x01\x02\x03", f"hello raw{i}".encode())
        for i in range(4)
    ]


def test_httpx_from_greenlets_without_a_running_loop() -> None:
    """await_ drives a loop itself; the server runs on it too, from a greenlet."""
    runner, port = ca.await_(_start_app())

    async def fetch(name: str) -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{port}/hello/{name}")).text

    greenlets = [corolib.spawn(ca.await_, fetch(f"g{i}")) for i in range(3)]
    corolib.joinall(greenlets, raise_error=True)
    ca.await_(runner.cleanup())
    assert asyncio._get_running_loop() is None  # stopped: asyncio.run() may follow
    assert [g.value for g in greenlets] == ["hello g0", "hello g1", "hello g2"]
