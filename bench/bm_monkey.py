"""Blocking programs made cooperative by each library's ``patch_all()``.

Run: ``python bench/bm_monkey.py --impl corolib`` (or gevent, threads);
``bench/run.py --bench monkey`` runs all three.  ``bench/requests_floor.py``
measures what one ``requests`` call costs with no framework at all.

The process calls the implementation's ``monkey.patch_all()`` (``threads``:
nothing is patched; the program runs on real OS threads) before it
imports anything it patches, then runs an ordinary threaded program, the
same for both:

- ``http_server``: a ``http.server.ThreadingHTTPServer`` hello world (a
  thread per connection, HTTP/1.0) in this process;
  ``bench/_http_peer.py load``, in another process on the other core, keeps
  50 requests in flight (a new connection each).  Figure: requests per
  second answered; ``http_server_cpu``: this process's CPU time per request
  (µs), which is what throughput is on a core of its own (the machine is
  shared: wall-clock rates also depend on what else runs).
- ``requests_fanout``: 100 threads, each with its own ``requests.Session``,
  GET in a loop from ``bench/_http_peer.py serve`` (another process, a
  plain epoll server much faster than the client).  Figure: requests per
  second completed; ``requests_fanout_cpu``: CPU time per request (µs).

Each sample is a window of 1 s (quick: one of 0.5 s) after a warm-up
window; the process reports the median of its samples.  The peer is never
patched.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from _common import emit, load, parse_args

DESCRIPTION = (
    "threaded programs run under each library's `patch_all()`: `http_server` (a "
    "`ThreadingHTTPServer` hello world, a thread per connection, loaded by 50 concurrent "
    "HTTP/1.0 clients in another process) and `requests_fanout` (100 threads, each with a "
    "`requests.Session`, against a fast server in another process), in requests per second "
    "(higher is better); the `_cpu` cases: the patched process's CPU time per request "
    "(lower is better), the throughput it would have on a core of its own. `threads`: the "
    "same program unpatched, on real OS threads. `requests` itself costs about 1.4 ms of CPU "
    "per call (a single unpatched thread calling it in a loop), which bounds what any "
    "library can gain on `requests_fanout`."
)
# "threads": the same program with nothing patched -- real OS threads under the GIL.
IMPLS = {"corolib": "corolib.monkey", "gevent": "gevent.monkey", "threads": "threading"}
CASES = ("http_server", "http_server_cpu", "requests_fanout", "requests_fanout_cpu")
TARGETS = {
    "http_server": ("gevent", ">=", 1.5),
    "requests_fanout": ("gevent", ">=", 1.5),
    # 1.5x the throughput on a saturated core = 1/1.5 of the CPU per request
    "http_server_cpu": ("gevent", "<=", 0.667),
    "requests_fanout_cpu": ("gevent", "<=", 0.667),
}
# ~10 s per process: 3 repetitions keep `make bench` within its 15 minutes.
REPS = {"full": 3}

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_http_peer.py")
BODY = b"Hello, world!\n"


def http_server(samples: int, seconds: float) -> tuple[list[float], list[float]]:
    """Requests per second a patched ThreadingHTTPServer answers, and µs of CPU per request."""
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the load generator drops its connections in flight when a window ends

    server = Server(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    results, cpu = [], []
    for _ in range(samples + 1):  # the first one warms up
        cpu0 = time.process_time()
        out = subprocess.run(
            [sys.executable, PEER, "load", "--port", str(port), "--seconds", str(seconds)],
            capture_output=True,
            check=True,
        ).stdout
        figures = json.loads(out)
        if figures["errors"]:
            raise SystemExit(f"http_server: {figures['errors']} failed requests")
        cpu.append((time.process_time() - cpu0) / figures["requests"] * 1e6)
        results.append(figures["requests"] / figures["seconds"])
    server.shutdown()
    return results[1:], cpu[1:]


def requests_fanout(
    samples: int, seconds: float, threads: int = 100
) -> tuple[list[float], list[float]]:
    """Requests per second 100 patched threads complete, and µs of CPU per request."""
    import subprocess
    import threading

    import requests

    peer = subprocess.Popen([sys.executable, PEER, "serve"], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{int(peer.stdout.readline())}/"  # type: ignore[union-attr]
        count = [0]
        stop = threading.Event()

        def worker() -> None:
            session = requests.Session()
            while not stop.is_set():
                response = session.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"requests_fanout: status {response.status_code}")
                count[0] += 1

        workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for w in workers:
            w.start()
        time.sleep(seconds)  # warm-up: connections, caches
        results, cpu = [], []
        for _ in range(samples):
            c0, t0, cpu0 = count[0], time.monotonic(), time.process_time()
            time.sleep(seconds)
            n = count[0] - c0
            results.append(n / (time.monotonic() - t0))
            cpu.append((time.process_time() - cpu0) / n * 1e6)
        stop.set()
        for w in workers:
            w.join()
        return results, cpu
    finally:
        peer.kill()
        peer.wait()


def main() -> None:
    args = parse_args(IMPLS)
    if args.impl != "threads":
        load(IMPLS, args.impl).patch_all()  # first: everything below runs patched
    samples, seconds = (1, 0.5) if args.quick else (2, 1.0)
    name = IMPLS[args.impl]
    rates, cpu = http_server(samples, seconds)
    emit("monkey", "http_server", args.impl, name, rates, "req/s", better="higher", concurrency=50)
    emit("monkey", "http_server_cpu", args.impl, name, cpu, "us/req", concurrency=50)
    rates, cpu = requests_fanout(samples, seconds)
    emit("monkey", "requests_fanout", args.impl, name, rates, "req/s", better="higher", threads=100)
    emit("monkey", "requests_fanout_cpu", args.impl, name, cpu, "us/req", threads=100)


if __name__ == "__main__":
    main()
