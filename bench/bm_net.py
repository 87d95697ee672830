"""Networking: an HTTP/1.1 keep-alive hello world and a TCP echo server, under load.

Run: ``python bench/bm_net.py --impl corolib`` (or gevent, eventlet, asyncio,
uvloop); ``bench/run.py --bench net`` runs them all.

Each implementation serves the same two raw protocols on 127.0.0.1, with
no framework in between:

- ``http``: a keep-alive HTTP/1.1 server answering every request (a block
  ending in a blank line) with the same 13-byte "Hello, World!" response.
  corolib, gevent and eventlet run a handler per connection on their own
  server (``corolib.server.StreamServer``, ``gevent.server.StreamServer``,
  ``eventlet.serve``) doing ``recv``/``sendall`` on its socket; asyncio and
  uvloop run an ``asyncio.Protocol`` (``data_received`` / ``transport.write``).
  Load: ``wrk -t1 -c100`` (100 connections, one request in flight each).
- ``echo``: a TCP echo server (the same handlers, sending back what they
  receive).  Load: ``bench/loadgen.c``, compiled here with gcc, 100
  connections each sending a 64-byte message and waiting for its echo.

The server runs in a child process of this one (the same interpreter,
``bm_net.py --serve``), pinned to CPU 0 when there are two or more; the
load generator is another child, pinned to CPU 1.  After a warm-up, each
sample is one load-generator run; a process reports, per protocol, the
median requests per second and the median 99th-percentile latency (as
measured by the load generator) of its samples, and the server's CPU time
per request: the server process's user + system time during a sample
(``/proc/PID/schedstat``) divided by the requests answered in it, which
includes the 100 connections' accept and close (the same for every
implementation) and is far less sensitive to other load on the machine
than the two throughput-bound figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit, load, parse_args

DESCRIPTION = (
    "Loopback servers under load, 100 connections: `http_*` = HTTP/1.1 keep-alive hello "
    "world driven by `wrk -t1 -c100`, `echo_*` = TCP echo of 64-byte messages driven by "
    "bench/loadgen.c; `*_rps` = requests per second (higher is better), `*_p99` = 99th "
    "percentile latency in ms (lower is better), `*_cpu` = the server process's CPU time "
    "(user + system, /proc/PID/schedstat) per request in us (lower is better; unlike the "
    "other two it hardly depends on what else the machine runs). Server and load generator "
    "are separate processes pinned to separate cores. Targets (issue 5): at least 1.5x "
    "gevent's and 0.8x uvloop's requests per second."
)
IMPLS = {
    "corolib": "corolib",
    "gevent": "gevent",
    "eventlet": "eventlet",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
}
CASES = ("http_rps", "http_p99", "http_cpu", "echo_rps", "echo_p99", "echo_cpu")
REPS = {"quick": 1, "full": 3}
GOALS = [("gevent", ">=", 1.5), ("uvloop", ">=", 0.8)]  # issue 5
TARGETS = {"http_rps": GOALS, "echo_rps": GOALS}
SIZE = "{connections} connections per server"

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
CONNECTIONS = 100
MESSAGE_BYTES = 64
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
END = b"\r\n\r\n"


# ---- the servers (run in the child: `bm_net.py --serve KIND --impl IMPL`) ----------------


def http_handler(sock: Any, address: Any) -> None:
    """One keep-alive connection: answer each complete request (pipelined ones too)."""
    recv, sendall = sock.recv, sock.sendall
    pending = b""
    try:
        while True:
            data = recv(65536)
            if not data:
                return
            pending = pending + data if pending else data
            n = pending.count(END)
            if n:
                pending = pending[pending.rfind(END) + 4 :]
                sendall(RESPONSE if n == 1 else RESPONSE * n)
    except OSError:
        return  # the load generator resets its connections when it is done


def echo_handler(sock: Any, address: Any) -> None:
    """Send back whatever arrives until the peer closes."""
    recv, sendall = sock.recv, sock.sendall
    try:
        while True:
            data = recv(65536)
            if not data:
                return
            sendall(data)
    except OSError:
        return


HANDLERS = {"http": http_handler, "echo": echo_handler}


def announce(port: int) -> None:
    print(f"PORT {port}", flush=True)


def serve_corolib(kind: str) -> None:
    from corolib.server import StreamServer

    server = StreamServer((HOST, 0), HANDLERS[kind])
    server.start()
    announce(server.server_port)
    server.serve_forever()


def serve_gevent(kind: str) -> None:
    from gevent.server import StreamServer

    server = StreamServer((HOST, 0), HANDLERS[kind])
    server.start()
    announce(server.server_port)
    server.serve_forever()


def serve_eventlet(kind: str) -> None:
    import warnings

    warnings.simplefilter("ignore")  # eventlet's deprecation notice
    import eventlet

    sock = eventlet.listen((HOST, 0), backlog=1024)
    announce(sock.getsockname()[1])
    eventlet.serve(sock, HANDLERS[kind], concurrency=10000)


def serve_asyncio(kind: str, use_uvloop: bool = False) -> None:
    import asyncio

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

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        protocol = Http if kind == "http" else Echo
        server = await loop.create_server(protocol, HOST, 0, backlog=1024)
        announce(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def serve(impl: str, kind: str) -> None:
    """The server child: pin to CPU 0, serve until SIGTERM."""
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {0})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if impl == "corolib":
        serve_corolib(kind)
    elif impl == "gevent":
        serve_gevent(kind)
    elif impl == "eventlet":
        serve_eventlet(kind)
    else:
        serve_asyncio(kind, use_uvloop=impl == "uvloop")


# ---- the load (in the parent) --------------------------------------------------------------


def pin_to_cpu1() -> None:
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {1})


def loadgen_binary() -> str:
    """bench/loadgen.c compiled (once per source version) into a cache directory."""
    source = BENCH_DIR / "loadgen.c"
    stamp = f"{source.stat().st_mtime_ns:x}-{source.stat().st_size:x}"
    cache = Path(tempfile.gettempdir()) / f"corolib-bench-{os.getuid()}"
    cache.mkdir(exist_ok=True)
    binary = cache / f"loadgen-{stamp}"
    if not binary.exists():
        gcc = shutil.which("gcc") or shutil.which("cc")
        if gcc is None:
            raise SystemExit("bm_net: needs gcc (or cc) to build bench/loadgen.c")
        tmp = binary.with_suffix(f".{os.getpid()}")
        subprocess.run([gcc, "-O2", "-o", str(tmp), str(source)], check=True)
        tmp.replace(binary)
    return str(binary)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(port: int, seconds: float) -> tuple[float, float, int]:
    """(requests per second, p99 latency in ms, requests) of one wrk run."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bm_net: needs wrk on PATH")
    # wrk takes whole seconds only.
    cmd = [
        wrk,
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        f"http://{HOST}:{port}/",
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, preexec_fn=pin_to_cpu1
    ).stdout
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if rps is None or p99 is None or total is None or errors is not None:
        raise RuntimeError(f"wrk: unexpected output:\n{out}")
    return float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], int(total.group(1))


def run_loadgen(port: int, seconds: float) -> tuple[float, float, int]:
    """(round trips per second, p99 latency in ms, round trips) of one loadgen run."""
    cmd = [loadgen_binary(), HOST, str(port), str(CONNECTIONS), str(seconds), str(MESSAGE_BYTES)]
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, preexec_fn=pin_to_cpu1
    ).stdout
    result = json.loads(out)
    return float(result["rps"]), float(result["p99_us"]) / 1e3, int(result["requests"])


LOADS = {"http": run_wrk, "echo": run_loadgen}


def start_server(impl: str, kind: str) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, __file__, "--serve", kind, "--impl", impl]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the {impl} {kind} server did not start (said {line!r})")
    return proc, int(line.split()[1])


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_ns(pid: int) -> int:
    """CPU time (user + system) a process has used so far, in ns (/proc/PID/schedstat)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def measure(impl: str, kind: str, quick: bool) -> tuple[list[float], list[float], list[float]]:
    """Samples of (requests per second, p99 ms, server CPU us per request)."""
    # make bench is already near its 15-minute budget: 2 samples of 1 s per process.
    warmup, seconds, count = (0.3, 1, 1) if quick else (0.5, 1, 2)
    proc, port = start_server(impl, kind)
    try:
        load_once = LOADS[kind]
        time.sleep(0.05)
        load_once(port, warmup)
        rps, p99, cpu = [], [], []
        for _ in range(count):
            cpu0 = cpu_ns(proc.pid)
            r, p, requests = load_once(port, seconds)
            cpu.append((cpu_ns(proc.pid) - cpu0) / 1e3 / max(1, requests))
            rps.append(r)
            p99.append(p)
        if proc.poll() is not None:
            raise RuntimeError(f"the {impl} {kind} server died ({proc.returncode})")
        return rps, p99, cpu
    finally:
        stop_server(proc)


def main() -> None:
    if "--serve" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--serve", choices=list(HANDLERS), required=True)
        parser.add_argument("--impl", choices=list(IMPLS), required=True)
        ns = parser.parse_args()
        serve(ns.impl, ns.serve)
        return
    args = parse_args(IMPLS)
    load(IMPLS, args.impl)  # fail here, not in the child, if it is not installed
    module = IMPLS[args.impl]
    for kind in ("http", "echo"):
        rps, p99, cpu = measure(args.impl, kind, args.quick)
        params = {"connections": CONNECTIONS, "load": "wrk -t1" if kind == "http" else "loadgen"}
        emit("net", f"{kind}_rps", args.impl, module, rps, "req/s", better="higher", **params)
        emit("net", f"{kind}_p99", args.impl, module, p99, "ms", better="lower", **params)
        emit("net", f"{kind}_cpu", args.impl, module, cpu, "us", better="lower", **params)


if __name__ == "__main__":
    main()
