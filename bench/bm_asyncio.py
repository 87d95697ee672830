"""asyncio loops: streams echo and a raw-protocol HTTP hello world, server CPU per message.

Run: ``python bench/bm_asyncio.py --impl corolib`` (or asyncio, uvloop);
``bench/run.py --bench asyncio`` runs them all.

The same asyncio program on three event loops: ``corolib.asyncio``'s
``EventLoop`` (``corolib.asyncio.run``), the standard library's default loop
(``asyncio.run``) and uvloop (``uvloop.run``):

- ``echo``: ``asyncio.start_server``; per connection a coroutine doing
  ``await reader.read(65536)``, ``writer.write(data)``, ``await
  writer.drain()``.  Load: ``bench/loadgen.c`` (as bm_net: 100 connections,
  64-byte messages, one in flight each).
- ``http``: ``loop.create_server`` with an ``asyncio.Protocol`` answering
  every request (a block ending in a blank line) of a keep-alive
  connection with the same 13-byte "Hello, World!" response from
  ``data_received`` (bm_net's asyncio server).  Load: ``wrk -t1 -c100``.

Server and load generator are separate processes pinned to separate cores
(bm_net's machinery).  Figures: requests per second and, the one the
targets are about, the server process's CPU time per message (user +
system from ``/proc/PID/schedstat`` over the sample, divided by the
messages answered).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

import bm_net
from _common import emit, load, parse_args

DESCRIPTION = (
    "The same asyncio servers on corolib.asyncio's EventLoop, the default asyncio loop and "
    "uvloop: `echo_*` = a streams echo server (start_server, read/write/drain) under "
    "bench/loadgen.c (100 connections, 64-byte messages); `http_*` = a raw asyncio.Protocol "
    "HTTP/1.1 keep-alive hello world under `wrk -t1 -c100`. `*_rps` = messages per second "
    "(higher is better); `*_cpu` = the server process's CPU time per message in us (lower "
    "is better). Server and load are separate processes pinned to separate cores. Targets "
    "(issue 16): server CPU per message at most 1.0x uvloop's and 0.5x the default loop's."
)
IMPLS = {"corolib": "corolib.asyncio", "asyncio": "asyncio", "uvloop": "uvloop"}
CASES = ("echo_rps", "echo_cpu", "http_rps", "http_cpu")
REPS = {"quick": 1, "full": 3}
GOALS = [("uvloop", "<=", 1.0), ("asyncio", "<=", 0.5)]  # issue 16
TARGETS = {"echo_cpu": GOALS, "http_cpu": GOALS}
SIZE = "{connections} connections"

HOST = bm_net.HOST
RESPONSE = bm_net.RESPONSE
END = bm_net.END


def serve(impl: str, kind: str) -> None:
    """The server child: pin to CPU 0, serve until SIGTERM."""
    import asyncio

    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {0})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    async def echo(reader: Any, writer: Any) -> None:
        read, write, drain = reader.read, writer.write, writer.drain
        try:
            while data := await read(65536):
                write(data)
                await drain()
        except OSError:
            pass  # the load generator resets its connections when it is done
        writer.close()

    class Http(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.pending = b""

        def data_received(self, data: bytes) -> None:
            pending = self.pending + data if self.pending else data
            n = pending.count(END)
            if n:
                self.pending = pending[pending.rfind(END) + 4 :]
                self.transport.write(RESPONSE if n == 1 else RESPONSE * n)
            else:
                self.pending = pending

    async def main() -> None:
        if kind == "echo":
            server = await asyncio.start_server(echo, HOST, 0, backlog=1024)
        else:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(Http, HOST, 0, backlog=1024)
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()

    if impl == "corolib":
        import corolib.asyncio

        corolib.asyncio.run(main())
    elif impl == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def start_server(impl: str, kind: str) -> tuple[Any, int]:
    import subprocess

    cmd = [sys.executable, __file__, "--serve", kind, "--impl", impl]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the {impl} {kind} server did not start (said {line!r})")
    return proc, int(line.split()[1])


def measure(impl: str, kind: str, quick: bool) -> tuple[list[float], list[float]]:
    """Samples of (messages per second, server CPU us per message)."""
    warmup, seconds, count = (0.3, 1, 1) if quick else (0.5, 1, 3)
    proc, port = start_server(impl, kind)
    try:
        load_once = bm_net.LOADS[kind]
        time.sleep(0.05)
        load_once(port, warmup)
        rps, cpu = [], []
        for _ in range(count):
            cpu0 = bm_net.cpu_ns(proc.pid)
            r, _, messages = load_once(port, seconds)
            cpu.append((bm_net.cpu_ns(proc.pid) - cpu0) / 1e3 / max(1, messages))
            rps.append(r)
        if proc.poll() is not None:
            raise RuntimeError(f"the {impl} {kind} server died ({proc.returncode})")
        return rps, cpu
    finally:
        bm_net.stop_server(proc)


def main() -> None:
    if "--serve" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--serve", choices=("echo", "http"), required=True)
        parser.add_argument("--impl", choices=list(IMPLS), required=True)
        ns = parser.parse_args()
        serve(ns.impl, ns.serve)
        return
    args = parse_args(IMPLS)
    load(IMPLS, args.impl)  # fail here, not in the child, if it is not installed
    module = IMPLS[args.impl]
    for kind in ("echo", "http"):
        rps, cpu = measure(args.impl, kind, args.quick)
        params = {
            "connections": bm_net.CONNECTIONS,
            "load": "wrk -t1" if kind == "http" else "loadgen",
        }
        emit("asyncio", f"{kind}_rps", args.impl, module, rps, "msg/s", better="higher", **params)
        emit("asyncio", f"{kind}_cpu", args.impl, module, cpu, "us", better="lower", **params)


if __name__ == "__main__":
    main()
