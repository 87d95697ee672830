"""Memory per idle connection: a server holding N connections on which nothing arrives.

The server, in this process, accepts N TCP connections on 127.0.0.1 and waits on
each for its first bytes: `corolib` with a `StreamServer(start_on_data=True)` (the hub
watches each socket; the handler, which would `recv(4096)`, starts only when bytes
come); `corolib-recv` and gevent with their own accept loop and a greenlet per
connection parked in `sock.recv(4096)` on their own socket module; asyncio and uvloop
with a transport and a `Protocol` per connection (the loop reading for it).  The
clients are a separate process (plain blocking sockets, stdlib only) that opens the N
connections and holds them, so none of their memory is counted here.

- `rss`: growth of the server's resident set (/proc/self/statm) from before the first
  accept to the moment every connection is waiting, divided by N: the handler task (or
  protocol and transport), its socket object, the read it has pending, the loop's
  bookkeeping for the fd.  The kernel's socket buffers are not in the resident set.

One round per process.  N = 10,000 (quick: 1,000), plus a warm-up of 200 connections
opened and closed first.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
from types import ModuleType

from _common import emit, parse_args, rss_bytes

DESCRIPTION = (
    "10,000 idle TCP connections on 127.0.0.1, clients in another process (corolib: a "
    "`StreamServer(start_on_data=True)`, the hub watching each socket until its first "
    "bytes; corolib-recv, gevent: a greenlet per connection parked in `sock.recv(4096)`; "
    "asyncio, uvloop: a transport and a `Protocol` per connection): `rss` = server "
    "resident-set growth per connection."
)
IMPLS = {
    "corolib": "corolib",
    "corolib-recv": "corolib",
    "gevent": "gevent",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
}
REPS = {"quick": 1, "full": 3}
SIZE = "{count:,} connections per process"
CASES = ("rss",)
TARGETS = {"rss": ("uvloop", 1.0)}
COUNT, QUICK_COUNT, WARM = 10_000, 1_000, 200
DEADLINE_S = 120.0

# The client process: open argv[2] connections to 127.0.0.1:argv[1], say so, and hold
# them until stdin closes.
CLIENTS = """
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
print(len(held), flush=True)
sys.stdin.read()
"""


class Clients:
    """A child process holding `count` connections to `port` until closed."""

    def __init__(self, port: int, count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLIENTS, str(port), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=DEADLINE_S)


class Counter:
    """How many connections have got as far as waiting."""

    def __init__(self) -> None:
        self.n = 0


def green_server(package: str, count: int) -> float:
    """Bytes per idle connection on greenlets (corolib or gevent)."""
    if package == "corolib":
        import corolib as lib
        import corolib.socket as gsocket
    else:
        import gevent as lib  # type: ignore[no-redef]
        import gevent.socket as gsocket  # type: ignore[no-redef]

    listener = gsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    waiting = Counter()

    def handle(conn: object) -> None:
        waiting.n += 1
        conn.recv(4096)  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            lib.spawn(handle, conn)

    def round_(n: int) -> Clients:
        clients = Clients(port, n)
        deadline = time.monotonic() + DEADLINE_S
        while waiting.n < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {waiting.n} of {n} connections after {DEADLINE_S} s")
            lib.sleep(0.005)
        lib.sleep(0.05)  # the last ones reach their recv
        return clients

    acceptor = lib.spawn(accept)
    warm = round_(WARM)
    warm.close()
    lib.sleep(0.2)  # the warm-up handlers see EOF and finish
    waiting.n = 0
    gc.collect()
    before = rss_bytes()
    clients = round_(count)
    per_conn = (rss_bytes() - before) / count
    clients.close()
    acceptor.kill()
    return per_conn


def corolib_server(count: int) -> float:
    """Bytes per idle connection with corolib's StreamServer waiting for first bytes."""
    import corolib
    from corolib.server import StreamServer

    def handle(conn: object, address: object) -> None:
        conn.recv(4096)  # type: ignore[attr-defined]

    server = StreamServer(("127.0.0.1", 0), handle, start_on_data=True, max_connections=None)
    server.start()
    port = server.server_port

    def round_(n: int) -> Clients:
        clients = Clients(port, n)
        deadline = time.monotonic() + DEADLINE_S
        while server.waiting < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {server.waiting} of {n} connections after {DEADLINE_S} s")
            corolib.sleep(0.005)
        corolib.sleep(0.05)
        return clients

    warm = round_(WARM)
    warm.close()
    while server.active:  # the warm-up handlers see EOF and finish
        corolib.sleep(0.01)
    gc.collect()
    before = rss_bytes()
    clients = round_(count)
    per_conn = (rss_bytes() - before) / count
    clients.close()
    server.stop()
    return per_conn


def async_server(api: ModuleType, count: int) -> float:
    """Bytes per idle connection with asyncio Protocols (asyncio or uvloop loop)."""
    waiting = Counter()

    class Idle(asyncio.Protocol):
        """Holds its transport; nothing arrives."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            waiting.n += 1

        def data_received(self, data: bytes) -> None:
            self.transport.close()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Idle, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]

        async def round_(n: int) -> Clients:
            clients = Clients(port, n)
            deadline = time.monotonic() + DEADLINE_S
            while waiting.n < n:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {waiting.n} of {n} connections after {DEADLINE_S} s")
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            return clients

        warm = await round_(WARM)
        warm.close()
        await asyncio.sleep(0.2)
        waiting.n = 0
        gc.collect()
        before = rss_bytes()
        clients = await round_(count)
        per_conn = (rss_bytes() - before) / count
        clients.close()
        server.close()
        return per_conn

    if api.__name__ == "uvloop":
        with asyncio.Runner(loop_factory=api.new_event_loop) as runner:
            return runner.run(main())
    return asyncio.run(main())


def main() -> None:
    """Parse the command line, run one round, print `rss`."""
    args = parse_args(IMPLS)
    n = QUICK_COUNT if args.quick else COUNT
    if args.impl == "corolib":
        per_conn = corolib_server(n)
    elif args.impl in ("corolib-recv", "gevent"):
        per_conn = green_server(IMPLS[args.impl], n)
    else:
        import importlib

        per_conn = async_server(importlib.import_module(IMPLS[args.impl]), n)
    emit("idle", "rss", args.impl, IMPLS[args.impl], [per_conn], "bytes", count=n)


if __name__ == "__main__":
    main()
