"""WSGI servers: a hello world and Flask's hello world under wrk, one process each.

Run: ``python bench/bm_wsgi.py --impl corolib`` (or gevent, gevent-nodelay,
bjoern, waitress); ``bench/run.py --bench wsgi`` runs them all.
bm_gunicorn.py measures the same under gunicorn.

Servers: corolib.pywsgi.WSGIServer; gevent.pywsgi.WSGIServer as shipped
(``gevent``) and with TCP_NODELAY set on every accepted socket
(``gevent-nodelay``, its best case: as shipped, a response written in two
sends waits for the client's delayed ACK); bjoern (C, libev); waitress
(threads).  No access log anywhere.  The server runs in a child process
pinned to CPU 0, ``wrk -t1 -c100`` on CPU 1, keep-alive (``keepalive``) or
with ``Connection: close`` on every request (``close``: a new connection
per request).  Per case: requests per second and the server's CPU time per
request (user + system of the whole process, all threads, from
``/proc/PID/stat``, over the requests of the sample), which depends far
less than the first on what else the machine runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import emit, load, parse_args

DESCRIPTION = (
    "WSGI servers under `wrk -t1 -c100`, one server process pinned to its own core: "
    "`hello_*` = a plain WSGI hello world, `flask_*` = Flask's hello world; `*_keepalive_*` "
    "= keep-alive connections, `*_close_*` = `Connection: close` (a new connection per "
    "request); `*_rps` = requests per second (higher is better), `*_cpu` = the server's "
    "CPU time (user + system, all threads) per request in us (lower is better). "
    "`gevent-nodelay` is gevent.pywsgi with TCP_NODELAY forced on accepted sockets. "
    "Targets (issue 12): CPU per request at most 0.33x gevent-nodelay's and at most 1.5x "
    "bjoern's on the hello world."
)
IMPLS = {
    "corolib": "corolib",
    "gevent": "gevent",
    "gevent-nodelay": "gevent",
    "bjoern": "bjoern",
    "waitress": "waitress",
}
APPS = ("hello", "flask")
MODES = ("keepalive", "close")
CASES = tuple(f"{a}_{m}_{k}" for a in APPS for m in MODES for k in ("rps", "cpu"))
REPS = {"quick": 1, "full": 1}
TARGETS = {
    "hello_keepalive_cpu": [("gevent-nodelay", "<=", 0.33), ("bjoern", "<=", 1.5)],
}
SIZE = "{connections} connections"

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
CONNECTIONS = 100
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


# ---- the servers (in a child process) -----------------------------------------------------


def get_app(name: str) -> Any:
    import _wsgi_apps

    return _wsgi_apps.hello if name == "hello" else _wsgi_apps.make_flask()


def serve(impl: str, app_name: str, port: int) -> None:
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {0})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app = get_app(app_name)
    if impl == "corolib":
        from corolib.pywsgi import WSGIServer

        WSGIServer((HOST, port), app, log=None, max_connections=10000).serve_forever()
    elif impl in ("gevent", "gevent-nodelay"):
        from gevent import pywsgi

        handler = pywsgi.WSGIHandler
        if impl == "gevent-nodelay":

            class NoDelayHandler(pywsgi.WSGIHandler):  # type: ignore[misc]
                def handle(self) -> Any:
                    self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    return super().handle()

            handler = NoDelayHandler
        pywsgi.WSGIServer((HOST, port), app, log=None, handler_class=handler).serve_forever()
    elif impl == "bjoern":
        import bjoern

        bjoern.run(app, HOST, port)
    elif impl == "waitress":
        import waitress

        waitress.serve(app, host=HOST, port=port, _quiet=True, connection_limit=1000)
    else:
        raise SystemExit(f"unknown impl {impl}")


# ---- measuring (in the parent) -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pin_to_cpu1() -> None:
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {1})


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}) before serving")
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not answer in time")
        time.sleep(0.05)


def tree_cpu_us(pid: int) -> float:
    """User + system CPU time of a process and its descendants, all threads, in us."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) * TICK_US
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError, IndexError):
            pass
    return total


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(port: int, seconds: float, close: bool) -> tuple[float, int]:
    """(requests per second, requests) of one wrk run; fails on any non-2xx answer."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bm_wsgi: needs wrk on PATH (make bench-venvs installs it)")
    cmd = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://{HOST}:{port}/")
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, preexec_fn=pin_to_cpu1
    ).stdout
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    if rps is None or total is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk: unexpected output:\n{out}")
    return float(rps.group(1)), int(total.group(1))


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(start: Any, quick: bool) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    """{(app, mode): (req/s samples, CPU us per request samples)}; ``start(app, port)``."""
    warmup, seconds, count = (0.3, 1, 1) if quick else (0.5, 1, 2)
    results = {}
    for app in APPS:
        port = free_port()
        proc = start(app, port)
        try:
            wait_ready(port, proc)
            for mode in MODES:
                close = mode == "close"
                run_wrk(port, warmup, close)
                rps, cpu = [], []
                for _ in range(count):
                    cpu0 = tree_cpu_us(proc.pid)
                    r, n = run_wrk(port, seconds, close)
                    cpu.append((tree_cpu_us(proc.pid) - cpu0) / max(1, n))
                    rps.append(r)
                if proc.poll() is not None:
                    raise RuntimeError(f"the server died ({proc.returncode})")
                results[(app, mode)] = (rps, cpu)
        finally:
            stop(proc)
    return results


def report(benchmark: str, impl: str, module: str, results: Any, **params: object) -> None:
    for (app, mode), (rps, cpu) in results.items():
        emit(benchmark, f"{app}_{mode}_rps", impl, module, rps, "req/s", better="higher",
             connections=CONNECTIONS, **params)  # fmt: skip
        emit(benchmark, f"{app}_{mode}_cpu", impl, module, cpu, "us", better="lower",
             connections=CONNECTIONS, **params)  # fmt: skip


def main() -> None:
    if "--serve" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--serve", action="store_true")
        parser.add_argument("--impl", choices=list(IMPLS), required=True)
        parser.add_argument("--app", choices=APPS, required=True)
        parser.add_argument("--port", type=int, required=True)
        ns = parser.parse_args()
        serve(ns.impl, ns.app, ns.port)
        return
    args = parse_args(IMPLS)
    load(IMPLS, args.impl)  # fail here, not in the child, if it is not installed

    def start(app: str, port: int) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, __file__, "--serve", "--impl", args.impl, "--app", app,
               "--port", str(port)]  # fmt: skip
        return subprocess.Popen(cmd, cwd=BENCH_DIR)

    report("wsgi", args.impl, IMPLS[args.impl], measure(start, args.quick), load="wrk -t1")


if __name__ == "__main__":
    main()
