"""The chat demo's message rate: lines delivered per second by a broadcast chat server.

Run: ``python bench/bm_chat.py --impl corolib`` (or gevent, eventlet, asyncio, uvloop,
threads); ``bench/run.py --bench chat`` runs them all.

The server (a child of this process, ``bm_chat.py --serve IMPL``, pinned to CPU 0):

- corolib: ``examples/chat.py``'s ``ChatServer`` itself, the server ``make demo`` runs
  (one ``StreamServer``; per connection a greenlet reading lines and one writing them
  from the user's bounded queue, several lines per ``sendall``).
- gevent, eventlet: the same server's hot path ported line for line (``StreamServer`` /
  ``eventlet.serve``, ``sock.makefile("rb").readline``, the library's bounded
  ``Queue`` per user, a writer greenlet batching up to 512 lines, ``Timeout`` around
  each write, ``sleep(0)`` every 50 lines read).
- asyncio, uvloop: the same with ``asyncio.start_server``: a reading coroutine on
  ``StreamReader.readline``, an ``asyncio.Queue`` and a writing task per user
  (``writer.write`` + ``await drain()`` under ``asyncio.timeout``).
- threads: the same with the standard library only: ``socketserver.ThreadingTCPServer``,
  a reading thread and a writing thread per connection, ``queue.Queue``.

Every line a user says goes to every other user in the room as ``[#lobby] nick: text``.

The load (another child, ``bm_chat.py --load``, pinned to CPU 1): 50 clients on one
``selectors`` loop, all in the one room.  Each says short lines, closed-loop: a client
may say a new line only while it is fewer than 4 lines ahead of what it has heard from
the others on average (``said - heard / 49 < 4``), so the server is kept busy but its
queues never fill and nothing is dropped.  After a settling pause and a warm-up window
it counts the lines its clients receive in timed windows.  Figures: lines delivered per
second (``msg_rate``, higher is better) and the server process's CPU time per delivered
line (``msg_cpu``, ns, from ``/proc/PID/schedstat``: the steadiest figure on a shared
machine).
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from queue import Empty, Full
from typing import Any

from _common import emit, load, parse_args

DESCRIPTION = (
    "The chat demo's broadcast server (corolib: `examples/chat.py` itself; the peers: its "
    "hot path ported to each, threads: a reading and a writing thread per connection) with "
    "50 clients in one room, driven by a separate `selectors` load process: each client "
    "says short lines, at most 4 ahead of what it has heard, and every line goes to the 49 "
    "others. `msg_rate` = lines delivered to clients per second (higher is better); "
    "`msg_cpu` = the server process's CPU time per delivered line in ns (lower is better; "
    "hardly depends on what else the machine runs). Server and load are separate processes "
    "pinned to separate cores."
)
IMPLS = {
    "corolib": "corolib",
    "gevent": "gevent",
    "eventlet": "eventlet",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "threads": "threading",
}
CASES = ("msg_rate", "msg_cpu")
REPS = {"quick": 1, "full": 3}
TARGETS: dict[str, object] = {}  # the issue sets none for the chat
SIZE = "{clients} clients, at most {window} lines ahead each"

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
CLIENTS = 50
WINDOW = 4  # lines a client may be ahead of the others
ROOM = "lobby"
QUEUE_SIZE = 1000  # outgoing lines kept per user (examples/chat.py's default)
MAX_LINE = 2048
BATCH = 512
WRITE_TIMEOUT = 30.0


def announce(port: int) -> None:
    print(f"PORT {port}", flush=True)


# ---- the servers (the child: `bm_chat.py --serve IMPL`) -----------------------------------


def serve_corolib() -> None:
    sys.path.insert(0, str(BENCH_DIR.parent / "examples"))
    from chat import ChatServer  # examples/chat.py, as `make demo` runs it

    chat = ChatServer(HOST, 0, queue_size=QUEUE_SIZE, write_timeout=WRITE_TIMEOUT)
    chat.start()
    announce(chat.address[1])
    chat.serve_forever()


class GreenChat:
    """examples/chat.py's hot path on gevent or eventlet: rooms of users, a bounded
    outgoing queue and a writer greenlet per user, lines read with readline()."""

    def __init__(self, lib: str) -> None:
        if lib == "gevent":
            import gevent
            from gevent.queue import Queue

            self.spawn, self.sleep, self.Timeout = gevent.spawn, gevent.sleep, gevent.Timeout
        else:
            import eventlet
            from eventlet.queue import Queue

            self.spawn, self.sleep, self.Timeout = eventlet.spawn, eventlet.sleep, eventlet.Timeout
        self.Queue = Queue
        self.members: dict[int, None] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.guests = 0

    def send(self, user: dict[str, Any], line: str) -> None:
        try:
            user["queue"].put_nowait(line)
        except Full:
            user["dropped"] += 1

    def write_loop(self, user: dict[str, Any]) -> None:
        queue, sock = user["queue"], user["sock"]
        while True:
            line = queue.get()
            if line is None:
                return
            lines = [line]
            while len(lines) < BATCH:
                try:
                    line = queue.get_nowait()
                except Empty:
                    break
                if line is None:
                    break
                lines.append(line)
            data = ("\r\n".join(lines) + "\r\n").encode("utf-8", "replace")
            try:
                with self.Timeout(WRITE_TIMEOUT):
                    sock.sendall(data)
            except OSError:
                return

    def handle(self, sock: Any, address: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.guests += 1
        user = {"nick": f"guest{self.guests}", "sock": sock, "dropped": 0}
        user["queue"] = self.Queue(QUEUE_SIZE)
        writer = self.spawn(self.write_loop, user)
        key = id(user)
        self.members[key] = None
        users = self.users
        users[key] = user
        rfile = sock.makefile("rb")
        lines = 0
        try:
            while True:
                raw = rfile.readline(MAX_LINE)
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    if line.startswith("/"):
                        break  # /quit; the load sends no other command
                    text = f"[#{ROOM}] {user['nick']}: {line}"
                    for k in self.members:
                        if k != key:
                            self.send(users[k], text)
                lines += 1
                if lines % 50 == 0:
                    self.sleep(0)
        except OSError:
            pass
        finally:
            rfile.close()
            del self.members[key]
            del users[key]
            writer.kill()


def serve_gevent() -> None:
    from gevent.server import StreamServer

    chat = GreenChat("gevent")
    server = StreamServer((HOST, 0), chat.handle, backlog=2048)
    server.start()
    announce(server.server_port)
    server.serve_forever()


def serve_eventlet() -> None:
    import warnings

    warnings.simplefilter("ignore")  # eventlet's deprecation notice
    import eventlet

    chat = GreenChat("eventlet")
    sock = eventlet.listen((HOST, 0), backlog=2048)
    announce(sock.getsockname()[1])
    eventlet.serve(sock, chat.handle, concurrency=10000)


def serve_asyncio(use_uvloop: bool) -> None:
    import asyncio

    members: dict[int, dict[str, Any]] = {}
    guests = 0

    async def write_loop(user: dict[str, Any], writer: Any) -> None:
        queue = user["queue"]
        while True:
            line = await queue.get()
            if line is None:
                return
            lines = [line]
            while len(lines) < BATCH:
                try:
                    line = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if line is None:
                    break
                lines.append(line)
            writer.write(("\r\n".join(lines) + "\r\n").encode("utf-8", "replace"))
            try:
                async with asyncio.timeout(WRITE_TIMEOUT):
                    await writer.drain()
            except (OSError, TimeoutError):
                return

    async def handle(reader: Any, writer: Any) -> None:
        nonlocal guests
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        guests += 1
        user: dict[str, Any] = {"nick": f"guest{guests}", "dropped": 0}
        user["queue"] = asyncio.Queue(QUEUE_SIZE)
        task = asyncio.create_task(write_loop(user, writer))
        key = id(user)
        members[key] = user
        lines = 0
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    if line.startswith("/"):
                        break
                    text = f"[#{ROOM}] {user['nick']}: {line}"
                    for k, other in members.items():
                        if k != key:
                            try:
                                other["queue"].put_nowait(text)
                            except asyncio.QueueFull:
                                other["dropped"] += 1
                lines += 1
                if lines % 50 == 0:
                    await asyncio.sleep(0)
        except (OSError, ValueError):
            pass
        finally:
            del members[key]
            task.cancel()
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, HOST, 0, backlog=2048, limit=MAX_LINE * 2)
        announce(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def serve_threads() -> None:
    import queue
    import socketserver
    import threading

    members: dict[int, dict[str, Any]] = {}
    lock = threading.Lock()

    def write_loop(user: dict[str, Any], sock: socket.socket) -> None:
        q = user["queue"]
        while True:
            line = q.get()
            if line is None:
                return
            lines = [line]
            while len(lines) < BATCH:
                try:
                    line = q.get_nowait()
                except Empty:
                    break
                if line is None:
                    break
                lines.append(line)
            try:
                sock.sendall(("\r\n".join(lines) + "\r\n").encode("utf-8", "replace"))
            except OSError:
                return

    class Handler(socketserver.BaseRequestHandler):
        guests = 0

        def handle(self) -> None:
            sock = self.request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with lock:
                Handler.guests += 1
                user: dict[str, Any] = {"nick": f"guest{Handler.guests}", "dropped": 0}
            user["queue"] = queue.Queue(QUEUE_SIZE)
            writer = threading.Thread(target=write_loop, args=(user, sock), daemon=True)
            writer.start()
            key = id(user)
            with lock:
                members[key] = user
            rfile = sock.makefile("rb")
            try:
                while True:
                    raw = rfile.readline(MAX_LINE)
                    if not raw:
                        break
                    line = raw.decode("utf-8", "replace").strip()
                    if line:
                        if line.startswith("/"):
                            break
                        text = f"[#{ROOM}] {user['nick']}: {line}"
                        with lock:
                            others = [u for k, u in members.items() if k != key]
                        for other in others:
                            try:
                                other["queue"].put_nowait(text)
                            except Full:
                                other["dropped"] += 1
            except OSError:
                pass
            finally:
                rfile.close()
                with lock:
                    del members[key]
                user["queue"].put(None)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 2048

    server = Server((HOST, 0), Handler)
    announce(server.server_address[1])
    server.serve_forever()


def serve(impl: str) -> None:
    """The server child: pin to CPU 0, serve until SIGTERM."""
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {0})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if impl == "corolib":
        serve_corolib()
    elif impl in ("gevent", "eventlet"):
        {"gevent": serve_gevent, "eventlet": serve_eventlet}[impl]()
    elif impl == "threads":
        serve_threads()
    else:
        serve_asyncio(use_uvloop=impl == "uvloop")


# ---- the load (the other child: `bm_chat.py --load PORT ...`) ------------------------------


class Client:
    __slots__ = ("sock", "said", "heard", "seq", "prefix")

    def __init__(self, sock: socket.socket, index: int) -> None:
        self.sock = sock
        self.said = 0
        self.heard = 0
        self.seq = 0
        self.prefix = f"hello from client {index} line ".encode()


def run_load(port: int, clients: int, window: int, warmup: float, seconds: float, samples: int):  # type: ignore[no-untyped-def]
    """Drive the server; print WINDOW when the timed windows start, then the figures."""
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {1})
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(clients):
        sock = socket.create_connection((HOST, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        client = Client(sock, i)
        conns.append(client)
        sel.register(sock, selectors.EVENT_READ, client)
    others = clients - 1
    limit = window * others

    def pump(until: float, talk: bool) -> int:
        """Read what arrives (and say lines when allowed) until `until`; lines heard."""
        heard = 0
        if talk:
            for c in conns:
                say(c)
        while (now := time.monotonic()) < until:
            for key, _ in sel.select(until - now):
                c = key.data
                try:
                    data = c.sock.recv(262144)
                except BlockingIOError:
                    continue
                if not data:
                    raise SystemExit("bm_chat load: the server closed a connection")
                n = data.count(b"\n")
                c.heard += n
                heard += n
                if talk:
                    say(c)
        return heard

    def say(c: Client) -> None:
        # Closed loop: fewer than `window` lines ahead of the others' average.
        burst = []
        while c.said * others - c.heard < limit:
            burst.append(c.prefix + str(c.seq).encode() + b"\r\n")
            c.seq += 1
            c.said += 1
        if burst:
            c.sock.sendall(b"".join(burst))  # a few dozen bytes: the buffer has room

    pump(time.monotonic() + 0.3, talk=False)  # welcome lines and join notices
    for c in conns:
        c.heard = c.said = 0
    pump(time.monotonic() + warmup, talk=True)
    print("WINDOW", flush=True)
    rates, total = [], 0
    busy0, wall0 = time.process_time(), time.monotonic()
    for _ in range(samples):
        t0 = time.monotonic()
        n = pump(t0 + seconds, talk=True)
        rates.append(n / (time.monotonic() - t0))
        total += n
    busy = (time.process_time() - busy0) / (time.monotonic() - wall0)
    said = sum(c.said for c in conns)
    result = {"rates": rates, "delivered": total, "said": said, "load_busy": round(busy, 3)}
    print(json.dumps(result), flush=True)
    for c in conns:
        c.sock.close()


# ---- the benchmark (parent) -----------------------------------------------------------------


def start(cmd: list[str], expect: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(expect):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{cmd[2:]} did not start (said {line!r})")
    return proc, line


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_ns(pid: int) -> int:
    """CPU time (user + system) a process's threads have used so far, in ns: the sum of
    /proc/PID/task/*/schedstat (the threads server has a thread per connection)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that has just ended
    return total


def parse_load_output(out: str) -> tuple[list[float], int, float]:
    """(rates per window, lines delivered in them, the load process's CPU share) from
    the load process's last line."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("the load process printed nothing")
    result = json.loads(lines[-1])
    rates = [float(r) for r in result["rates"]]
    delivered = int(result["delivered"])
    if not rates or delivered <= 0 or min(rates) <= 0:
        raise ValueError(f"no lines were delivered: {lines[-1]!r}")
    return rates, delivered, float(result.get("load_busy", 0.0))


def measure(impl: str, quick: bool) -> tuple[list[float], list[float], float]:
    """(lines delivered per second per window, [server CPU ns per delivered line], the
    load process's CPU share: near 1.0 would mean the load, not the server, limits)."""
    warmup, seconds, samples = (0.3, 0.5, 2) if quick else (0.5, 1.0, 3)
    server, line = start([sys.executable, __file__, "--serve", impl], "PORT ")
    try:
        port = line.split()[1]
        load_cmd = [sys.executable, __file__, "--load", port, str(CLIENTS), str(WINDOW)]
        load_cmd += [str(warmup), str(seconds), str(samples)]
        loader, _ = start(load_cmd, "WINDOW")
        cpu0 = cpu_ns(server.pid)
        assert loader.stdout is not None
        out = loader.stdout.readline()  # the figures, printed before it disconnects
        cpu1 = cpu_ns(server.pid)  # so that every connection's threads are still there
        out += loader.stdout.read()
        if loader.wait() != 0:
            raise RuntimeError(f"the load process failed ({loader.returncode})")
        if server.poll() is not None:
            raise RuntimeError(f"the {impl} chat server died ({server.returncode})")
        rates, delivered, busy = parse_load_output(out)
        return rates, [(cpu1 - cpu0) / delivered], busy
    finally:
        stop(server)


def main() -> None:
    if "--serve" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--serve", choices=list(IMPLS), required=True)
        serve(parser.parse_args().serve)
        return
    if "--load" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--load", type=int, required=True, metavar="PORT")
        parser.add_argument("numbers", nargs=5, type=float)
        ns = parser.parse_args()
        clients, window, warmup, seconds, samples = ns.numbers
        run_load(ns.load, int(clients), int(window), warmup, seconds, int(samples))
        return
    args = parse_args(IMPLS)
    load(IMPLS, args.impl)  # fail here, not in the child, if it is not installed
    module = IMPLS[args.impl]
    rates, cpu, busy = measure(args.impl, args.quick)
    params = {"clients": CLIENTS, "window": WINDOW, "load_busy": busy}
    emit("chat", "msg_rate", args.impl, module, rates, "msg/s", better="higher", **params)
    emit("chat", "msg_cpu", args.impl, module, cpu, "ns", better="lower", **params)


if __name__ == "__main__":
    main()
