"""Send and receive files over TCP, many at once, each checked with SHA-256.

    python examples/file_transfer.py serve DIR [--port 7002]    # keep files sent to it in DIR
    python examples/file_transfer.py put HOST PORT FILE...      # send files, all at once
    python examples/file_transfer.py get HOST PORT NAME... [--into DIR]   # fetch files back
    python examples/file_transfer.py demo [--files 8]           # all of it on 127.0.0.1

Every transfer is its own greenlet with its own connection, and shows its
own progress bar (redrawn in place on a terminal; otherwise the finished
bars are printed at the end).  The protocol, one request per connection:

    PUT {"name": ..., "size": N, "sha256": HEX}\\n  then N bytes
        -> "OK HEX\\n" once the server hashed what it stored (or "ERR why\\n")
    GET {"name": ...}\\n
        -> {"size": N, "sha256": HEX}\\n then N bytes (or "ERR why\\n")

Both ends hash what they actually sent or received and compare it with
the digest announced by the other end, so a transfer only counts as done
when both agree.  Files are sent with ``socket.sendfile`` (``os.sendfile``
underneath, waiting cooperatively) in 256 KiB steps, so that the progress
bar moves; they are received with ``recv_into`` into one reusable buffer.
Disk reads and writes are plain blocking calls on the hub's thread: fine
for local disks (see :mod:`corolib.threadpool` for slow ones).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
from typing import Any

import corolib
from corolib import socket
from corolib.server import StreamServer

STEP = 256 * 1024


# ---- progress bars ---------------------------------------------------------------------


class Progress:
    """One bar per transfer; a greenlet redraws them all every 0.1 s on a terminal."""

    def __init__(self, out: Any = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.bars: list[Bar] = []
        self.drawn = 0
        self.painter = corolib.spawn(self._paint_loop) if self.tty else None

    def bar(self, label: str, total: int) -> Bar:
        bar = Bar(label, total)
        self.bars.append(bar)
        return bar

    def _paint_loop(self) -> None:
        while True:
            self.paint()
            corolib.sleep(0.1)

    def paint(self) -> None:
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F")  # back to the first bar
        for bar in self.bars:
            self.out.write(bar.render() + "\x1b[K\n")
        self.drawn = len(self.bars)
        self.out.flush()

    def close(self) -> None:
        if self.painter is not None:
            self.painter.kill()
            self.paint()
        else:
            for bar in self.bars:
                self.out.write(bar.render() + "\n")
            self.out.flush()


class Bar:
    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.finished: float | None = None
        self.status = ""

    def advance(self, n: int) -> None:
        self.done += n

    def finish(self, status: str) -> None:
        self.finished = time.monotonic()
        self.status = status

    def render(self, width: int = 30) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(width * fraction)
        elapsed = (self.finished or time.monotonic()) - self.started
        rate = self.done / elapsed / 2**20 if elapsed > 0 else 0.0
        label = self.label if len(self.label) <= 24 else self.label[:21] + "..."
        return (
            f"{label:<24} [{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} "
            f"{self.done / 2**20:7.1f} MiB {rate:7.1f} MiB/s {self.status}"
        )


# ---- the wire ------------------------------------------------------------------------------


def read_line(sock: socket.socket, limit: int = 4096) -> bytes:
    """One header line, read byte-exactly (the payload that follows stays in the socket)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("connection closed in the middle of a header")
        line += chunk
        if len(line) > limit:
            raise ValueError("header line too long")
    return bytes(line[:-1])


def receive_into(sock: socket.socket, f: Any, size: int, bar: Bar | None) -> str:
    """Copy exactly ``size`` bytes from ``sock`` into file ``f``; return their SHA-256."""
    digest = hashlib.sha256()
    buffer = bytearray(STEP)
    view = memoryview(buffer)
    left = size
    while left:
        n = sock.recv_into(view, min(left, STEP))
        if not n:
            raise ConnectionError(f"connection closed with {left} bytes still to come")
        chunk = view[:n]
        digest.update(chunk)
        f.write(chunk)
        left -= n
        if bar is not None:
            bar.advance(n)
    return digest.hexdigest()


def send_file(sock: socket.socket, f: Any, size: int, bar: Bar | None) -> None:
    """Send the whole file with sendfile, a step at a time so the bar moves."""
    offset = 0
    while offset < size:
        sent = sock.sendfile(f, offset, min(STEP, size - offset))
        if not sent:
            raise ConnectionError("the file shrank while being sent")
        offset += sent
        if bar is not None:
            bar.advance(sent)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def safe_name(name: str) -> str:
    base = os.path.basename(name)
    if base in ("", ".", "..") or base.startswith("."):
        raise ValueError(f"refusing file name {name!r}")
    return base


# ---- the server ------------------------------------------------------------------------


class FileServer:
    """Keeps what is PUT into ``directory``; serves it back on GET."""

    def __init__(self, directory: str, host: str = "127.0.0.1", port: int = 7002) -> None:
        self.directory = directory
        self.received = 0
        self.server = StreamServer((host, port), self.handle)

    def handle(self, sock: socket.socket, address: Any) -> None:
        try:
            verb, _, header = read_line(sock).partition(b" ")
            request = json.loads(header)
            name = safe_name(str(request["name"]))
            if verb == b"PUT":
                self.put(sock, name, int(request["size"]), str(request["sha256"]))
            elif verb == b"GET":
                self.get(sock, name)
            else:
                sock.sendall(b"ERR unknown verb\n")
        except (ValueError, KeyError, OSError) as exc:
            try:
                sock.sendall(f"ERR {exc}\n".encode())
            except OSError:
                pass

    def put(self, sock: socket.socket, name: str, size: int, announced: str) -> None:
        path = os.path.join(self.directory, name)
        partial = path + ".part"
        with open(partial, "wb") as f:
            digest = receive_into(sock, f, size, None)
        if digest != announced:
            os.unlink(partial)
            sock.sendall(f"ERR sha256 mismatch: got {digest}\n".encode())
            return
        os.replace(partial, path)
        self.received += 1
        sock.sendall(f"OK {digest}\n".encode())

    def get(self, sock: socket.socket, name: str) -> None:
        path = os.path.join(self.directory, name)
        if not os.path.isfile(path):
            sock.sendall(b"ERR no such file\n")
            return
        size = os.path.getsize(path)
        sock.sendall(json.dumps({"size": size, "sha256": sha256_of(path)}).encode() + b"\n")
        with open(path, "rb") as f:
            send_file(sock, f, size, None)


# ---- the client ------------------------------------------------------------------------


def put(address: tuple[str, int], path: str, progress: Progress) -> str:
    """Send one file; return its SHA-256 once the server confirmed the same digest."""
    size = os.path.getsize(path)
    digest = sha256_of(path)
    bar = progress.bar(f"put {os.path.basename(path)}", size)
    header = {"name": os.path.basename(path), "size": size, "sha256": digest}
    with socket.create_connection(address, timeout=60) as sock, open(path, "rb") as f:
        sock.sendall(b"PUT " + json.dumps(header).encode() + b"\n")
        send_file(sock, f, size, bar)
        reply = read_line(sock).decode()
    if reply != f"OK {digest}":
        bar.finish("FAILED")
        raise RuntimeError(f"{path}: the server said {reply!r}")
    bar.finish("sha256 ok")
    return digest


def get(address: tuple[str, int], name: str, into: str, progress: Progress) -> str:
    """Fetch one file into directory ``into``; return its SHA-256, checked."""
    with socket.create_connection(address, timeout=60) as sock:
        sock.sendall(b"GET " + json.dumps({"name": name}).encode() + b"\n")
        header = read_line(sock)
        if header.startswith(b"ERR"):
            raise RuntimeError(f"{name}: the server said {header.decode()!r}")
        info = json.loads(header)
        bar = progress.bar(f"get {name}", int(info["size"]))
        path = os.path.join(into, safe_name(name))
        with open(path, "wb") as f:
            digest = receive_into(sock, f, int(info["size"]), bar)
    if digest != info["sha256"]:
        bar.finish("FAILED")
        raise RuntimeError(f"{name}: sha256 {digest}, the server announced {info['sha256']}")
    bar.finish("sha256 ok")
    return digest


def run_all(jobs: list[Any]) -> list[Any]:
    """Run transfers concurrently; every one must succeed."""
    tasks = [corolib.spawn(fn, *args) for fn, *args in jobs]
    corolib.joinall(tasks)
    failed = [t for t in tasks if not t.successful()]
    if failed:
        raise SystemExit(f"{len(failed)} of {len(tasks)} transfers failed: {failed[0].exception}")
    return [t.value for t in tasks]


def demo(files: int, max_mib: float) -> int:
    """Make files, send them all at once to a local server, fetch them back, compare."""
    with tempfile.TemporaryDirectory() as tmp:
        outbox, store, inbox = (os.path.join(tmp, d) for d in ("outbox", "store", "inbox"))
        for d in (outbox, store, inbox):
            os.mkdir(d)
        sizes = [int(max_mib * 2**20 * (i + 1) / files) + i for i in range(files)]
        paths = []
        for i, size in enumerate(sizes):
            path = os.path.join(outbox, f"file{i:02d}.bin")
            with open(path, "wb") as f:
                f.write(os.urandom(size))
            paths.append(path)
        total = sum(sizes)
        server = FileServer(store, port=0)
        server.server.start()
        address = server.server.address
        print(f"file server on {address[0]}:{address[1]}; {files} files, {total / 2**20:.1f} MiB")

        t0 = time.monotonic()
        progress = Progress()
        sent = run_all([(put, address, p, progress) for p in paths])
        progress.close()
        t1 = time.monotonic()
        progress = Progress()
        names = [os.path.basename(p) for p in paths]
        fetched = run_all([(get, address, n, inbox, progress) for n in names])
        progress.close()
        t2 = time.monotonic()
        server.server.stop()

        originals = [sha256_of(p) for p in paths]
        ok = sent == originals == fetched and server.received == files
        for name in names:
            ok = ok and sha256_of(os.path.join(inbox, name)) == sha256_of(os.path.join(store, name))
        print(
            f"sent {files} files ({total / 2**20:.1f} MiB) at once in {t1 - t0:.2f} s, "
            f"fetched them back in {t2 - t1:.2f} s"
        )
        print("every SHA-256 matches" if ok else "SHA-256 MISMATCH")
        return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send and receive files over TCP on corolib.")
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("serve", help="receive files into DIR (and serve them back)")
    p.add_argument("directory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7002)
    p = sub.add_parser("put", help="send files to a server, all at once")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("files", nargs="+")
    p = sub.add_parser("get", help="fetch files from a server, all at once")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("names", nargs="+")
    p.add_argument("--into", default=".")
    p = sub.add_parser("demo", help="everything on 127.0.0.1, with made-up files")
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--max-mib", type=float, default=16.0, help="size of the largest file")
    args = parser.parse_args(argv)

    if args.mode == "demo":
        return demo(args.files, args.max_mib)
    if args.mode == "serve":
        os.makedirs(args.directory, exist_ok=True)
        server = FileServer(args.directory, args.host, args.port)
        server.server.start()
        print(f"file server on {server.server.server_host}:{server.server.server_port}", flush=True)
        for signum in (signal.SIGINT, signal.SIGTERM):  # stop cleanly on Ctrl-C
            corolib.signal_handler(signum, server.server.stop)
        server.server.serve_forever()
        return 0
    address = (args.host, args.port)
    progress = Progress()
    try:
        if args.mode == "put":
            run_all([(put, address, path, progress) for path in args.files])
        else:
            run_all([(get, address, name, args.into, progress) for name in args.names])
    finally:
        progress.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
