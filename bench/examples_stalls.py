"""How long the example servers stop serving others under two loads (not part of the suite).

    python bench/examples_stalls.py ft   [--examples DIR] [--mib 256] [--gets 10]
    python bench/examples_stalls.py chat [--examples DIR] [--users 2000]

``ft``: examples/file_transfer.py serves a file put in its store by hand
(its digest unknown to the server), fetched ``--gets`` times at once; a
probe uploads 1 KB every 10 ms meanwhile.  Printed: the probe's median
and worst latency -- the worst is how long the hub stood still.

``chat``: ``--users`` users of examples/chat.py, all in the lobby, each send
half a line, read what the server sent, then close at once.  Printed: the
server's CPU seconds for those disconnects, and how long until it had let
every connection go.

``--examples`` runs another checkout's examples (e.g. an older commit's) with
the same interpreter, for a before/after comparison.  Figures, not ratios:
no peer runs these programs; run both sides on the same machine, one after
the other.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cpu_and_fds(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu, len(os.listdir(f"/proc/{pid}/fd"))


def start(cmd: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"did not start: {cmd}")
        if match := re.search(rb"on 127\.0\.0\.1:(\d+)", line):
            return proc, int(match.group(1))


def file_transfer(examples: Path, mib: int, gets: int) -> None:
    with tempfile.TemporaryDirectory() as store:
        with open(os.path.join(store, "big.bin"), "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        script = str(examples / "file_transfer.py")
        proc, port = start([sys.executable, script, "serve", store, "--port", "0"])
        try:

            def fetch() -> None:
                with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
                    s.sendall(b'GET {"name": "big.bin"}\n')
                    f = s.makefile("rb")
                    size = json.loads(f.readline())["size"]
                    while size > 0:
                        size -= len(f.read(min(size, 1 << 20)))

            latencies: list[float] = []
            stop = threading.Event()

            def probe() -> None:
                data = b"x" * 1000
                header = {
                    "name": "probe.bin",
                    "size": 1000,
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                while not stop.is_set():
                    t0 = time.perf_counter()
                    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
                        s.sendall(b"PUT " + json.dumps(header).encode() + b"\n" + data)
                        assert s.makefile("rb").readline().startswith(b"OK")
                    latencies.append(time.perf_counter() - t0)
                    stop.wait(0.01)

            prober = threading.Thread(target=probe)
            prober.start()
            t0 = time.perf_counter()
            fetchers = [threading.Thread(target=fetch) for _ in range(gets)]
            for t in fetchers:
                t.start()
            for t in fetchers:
                t.join()
            took = time.perf_counter() - t0
            stop.set()
            prober.join()
        finally:
            proc.terminate()
            proc.wait(30)
    latencies.sort()
    print(
        f"{script}: {gets} GETs of {mib} MiB in {took:.2f} s; probe PUT latency "
        f"p50 {latencies[len(latencies) // 2] * 1e3:.1f} ms, worst {latencies[-1] * 1e3:.1f} ms "
        f"({len(latencies)} probes)"
    )


def chat(examples: Path, users: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, users + 200), hard))
    script = str(examples / "chat.py")
    proc, port = start([sys.executable, script, "server", "--port", "0", "--quiet"])
    try:
        time.sleep(0.5)  # the server's own fds settled: the baseline
        baseline = cpu_and_fds(proc.pid)[1]
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(users)]
        for s in conns:
            s.sendall(b"half a line")
        for s in conns:  # read it all: a close then sends a FIN, not a reset
            s.setblocking(False)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    if b"you are in #lobby" in s.recv(65536):
                        break
                except BlockingIOError:
                    time.sleep(0.001)
        time.sleep(0.5)
        cpu0 = cpu_and_fds(proc.pid)[0]
        t0 = time.perf_counter()
        for s in conns:
            s.close()
        while cpu_and_fds(proc.pid)[1] > baseline and time.perf_counter() - t0 < 60:
            time.sleep(0.01)
        took = time.perf_counter() - t0
        cpu = cpu_and_fds(proc.pid)[0] - cpu0
    finally:
        proc.terminate()
        proc.wait(30)
    print(
        f"{script}: {users} users holding half a line closed at once: the server let them "
        f"all go in {took:.2f} s, using {cpu:.2f} s of CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["ft", "chat"])
    parser.add_argument("--examples", type=Path, default=HERE.parent / "examples")
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--gets", type=int, default=10)
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args()
    if args.what == "ft":
        file_transfer(args.examples, args.mib, args.gets)
    else:
        chat(args.examples, args.users)


if __name__ == "__main__":
    main()
