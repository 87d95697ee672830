"""Send and receive files over TCP, many at once, each checked with SHA-256.

    python examples/file_transfer.py serve DIR [--port 7002]    # keep files sent to it in DIR
    python examples/file_transfer.py put HOST PORT FILE...      # send files, all at once
    python examples/file_transfer.py get HOST PORT NAME... [--into DIR]   # fetch files back
    python examples/file_transfer.py demo [--files 8]           # all of it on 127.0.0.1

Every transfer is its own greenlet with its own connection, and shows its
own progress bar (redrawn in place on a terminal; otherwise the finished
bars are printed at the end).  The protocol, one request per connection:

    PUT {"name": ..., "size": N, "sha256": HEX}\\n  then N bytes
        -> "OK HEX\\n" once the server checked and stored them (or "ERR why\\n")
    GET {"name": ...}\\n
        -> {"size": N, "sha256": HEX}\\n then N bytes (or "ERR why\\n")

Both ends hash what they actually sent or received and compare it with
the digest announced by the other end, so a transfer only counts as done
when both agree.  Files are sent with ``socket.sendfile`` (``os.sendfile``
underneath, waiting cooperatively) in 256 KiB steps, so that the progress
bar moves; they are received with ``recv_into`` into one reusable buffer.
The server hashes a stored file in a thread of :mod:`corolib.threadpool`
(once per version of the file: uploads already know their digest), so a
large download never stalls the others.  Other disk reads and writes are
plain blocking calls on the hub's thread: fine for local disks.

The server is meant to face clients it does not trust (see
:class:`FileServer`): names are plain file names, uploads land atomically
and whole, symlinks are never followed, partial uploads are never served,
sizes are limited (``--max-size``) and every bad request is answered with
``ERR reason``.  Ctrl-C or SIGTERM stops it gracefully: no new
connections, transfers in flight get ``--grace`` seconds to finish.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import secrets
import signal
import stat
import sys
import tempfile
import time
from typing import Any

from graceful import serve_until_signalled

import corolib
from corolib import socket
from corolib.pool import Group
from corolib.server import StreamServer
from corolib.threadpool import get_threadpool

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


class Refused(Exception):
    """A request the server answers with ``ERR <reason>`` (bad header, limit, no such file)."""


def read_line(sock: socket.socket, limit: int = 4096) -> bytes:
    """One header line, read byte-exactly (the payload that follows stays in the socket)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("connection closed in the middle of a header")
        line += chunk
        if len(line) > limit:
            raise Refused(f"header line longer than {limit} bytes")
    return bytes(line[:-1])


def receive_into(sock: socket.socket, fd: int, size: int, bar: Bar | None) -> str:
    """Copy exactly ``size`` bytes from ``sock`` into the file ``fd``; return their SHA-256."""
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
        while chunk:
            chunk = chunk[os.write(fd, chunk) :]
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


def hash_fd(fd: int) -> str:
    """SHA-256 of a whole file, read with pread; closes ``fd`` (runs in a thread)."""
    try:
        digest = hashlib.sha256()
        offset = 0
        while block := os.pread(fd, 1 << 20, offset):
            digest.update(block)
            offset += len(block)
        return digest.hexdigest()
    finally:
        os.close(fd)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def safe_name(name: object) -> str:
    """A plain file name, or :class:`Refused`: no directories, no hidden or control characters."""
    if not isinstance(name, str):
        raise Refused("the name must be a string")
    if (
        name in ("", ".", "..")
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or not name.isprintable()
        or len(name.encode("utf-8", "surrogatepass")) > 200
    ):
        raise Refused(f"refusing file name {name[:60]!r}")
    return name


def sync_and_close(fd: int) -> None:
    """fsync ``fd``, then close it (run in a thread, on a duplicate of the writer's fd)."""
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def linger(sock: socket.socket, timeout: float = 1.0, limit: int = 1 << 20) -> None:
    """End our side, then read and drop what the client still sends (a little, briefly).

    An error can come while the client is still sending (a refused upload):
    closing with its bytes unread would make the kernel reset the
    connection, which may destroy the ``ERR`` line before the client reads it.
    """
    sock.shutdown(socket.SHUT_WR)
    left = limit
    try:
        with corolib.Timeout(timeout):
            while left > 0 and (chunk := sock.recv(min(left, 65536))):
                left -= len(chunk)
    except (OSError, corolib.Timeout):
        pass


# ---- the server ------------------------------------------------------------------------

PART_PREFIX = ".upload-"  # temporary files: hidden, so no client can name one
PART_SUFFIX = ".part"
HEX = frozenset("0123456789abcdef")


class FileServer:
    """Keeps what is PUT into ``directory``; serves it back on GET.

    Every upload goes to a temporary file of its own, created exclusively
    (``O_CREAT | O_EXCL | O_NOFOLLOW``) under a random hidden name that no
    request can name; once all its bytes are in and their SHA-256 matches
    the announced one, it is synced and renamed over the final name in one
    atomic step, so two uploads of one name never mix: the last to finish
    wins whole, and each client's ``OK`` is about the bytes it sent.  A
    failed or aborted upload's temporary file is removed, and leftovers of
    a crash are removed at start-up.  All paths are opened relative to the
    store's directory fd with ``O_NOFOLLOW``: a symlink planted in the store
    is never followed, on PUT or on GET.  ``max_size`` bounds an upload
    (announced sizes over it are refused at once); ``timeout`` bounds every
    wait on a client (a silent one is dropped).  Every bad request gets
    ``ERR reason``.
    """

    def __init__(
        self,
        directory: str,
        host: str = "127.0.0.1",
        port: int = 7002,
        *,
        max_size: int = 1 << 30,
        timeout: float = 60.0,
    ) -> None:
        self.directory = directory
        self.max_size = max_size
        self.timeout = timeout
        self.received = 0
        self.digests: dict[tuple[int, ...], str] = {}
        self.hashing: dict[tuple[int, ...], Any] = {}
        self.dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        self.removed_parts = self.clean_parts()
        self.server = StreamServer((host, port), self.handle, spawn=Group())

    def close(self) -> None:
        os.close(self.dirfd)

    def clean_parts(self) -> int:
        """Remove temporary files left by a previous run (a crash, a kill); return how many."""
        removed = 0
        for name in os.listdir(self.dirfd):
            if name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX):
                try:
                    os.unlink(name, dir_fd=self.dirfd)
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def handle(self, sock: socket.socket, address: Any) -> None:
        sock.settimeout(self.timeout)
        try:
            # The whole header within the timeout, not one byte per timeout.
            with corolib.Timeout(self.timeout, TimeoutError("timed out reading the header")):
                verb, _, header = read_line(sock).partition(b" ")
            try:
                request = json.loads(header)
            except (ValueError, RecursionError):
                raise Refused("the header is not JSON") from None
            if not isinstance(request, dict):
                raise Refused("the header must be a JSON object")
            if verb == b"PUT":
                self.put(sock, request)
            elif verb == b"GET":
                self.get(sock, request)
            else:
                raise Refused("unknown verb (PUT or GET)")
        except Refused as exc:
            self.reply(sock, f"ERR {exc}")
        except ConnectionResetError:
            pass  # the client went away: nobody to answer
        except (ConnectionError, TimeoutError) as exc:
            self.reply(sock, f"ERR {exc}")  # it may still read (a half-close)
        except OSError as exc:  # the disk: full, a file size limit, ...
            self.reply(sock, f"ERR {exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001 - one bad request never kills the server
            print(f"file server: {address}: {exc!r}", file=sys.stderr, flush=True)
            self.reply(sock, "ERR internal error")

    @staticmethod
    def reply(sock: socket.socket, line: str) -> None:
        """Send the answer; after an ``ERR``, close politely (see :func:`linger`)."""
        try:
            sock.sendall(line.encode("utf-8", "replace") + b"\n")
            if line.startswith("ERR"):
                linger(sock)
        except OSError:
            pass

    def put(self, sock: socket.socket, request: dict[str, Any]) -> None:
        name = safe_name(request.get("name"))
        size, announced = request.get("size"), request.get("sha256")
        if type(size) is not int or size < 0:
            raise Refused("size must be a whole number of bytes")
        if size > self.max_size:
            raise Refused(f"too large: {size} bytes, the limit is {self.max_size}")
        if not isinstance(announced, str) or len(announced) != 64 or not HEX.issuperset(announced):
            raise Refused("sha256 must be 64 lowercase hex digits")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        while True:
            part = f"{PART_PREFIX}{secrets.token_hex(8)}{PART_SUFFIX}"
            try:
                fd = os.open(part, flags, 0o644, dir_fd=self.dirfd)
                break
            except FileExistsError:
                continue
        stored = False
        try:
            try:
                digest = receive_into(sock, fd, size, None)
                if digest != announced:
                    raise Refused(f"sha256 mismatch: received {digest}")
                # On disk before it gets its name (in a thread: fsync may take long).
                get_threadpool().apply(sync_and_close, (os.dup(fd),))
                st = os.fstat(fd)
            finally:
                os.close(fd)
            # Atomic, and never through a symlink: a link named `name` is replaced.
            os.replace(part, name, src_dir_fd=self.dirfd, dst_dir_fd=self.dirfd)
            stored = True
            self.remember((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), digest)
        finally:
            if not stored:
                os.unlink(part, dir_fd=self.dirfd)
        self.received += 1
        self.reply(sock, f"OK {digest}")

    def get(self, sock: socket.socket, request: dict[str, Any]) -> None:
        name = safe_name(request.get("name"))
        try:
            # O_NONBLOCK: a FIFO planted in the store must not block the open.
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(name, flags, dir_fd=self.dirfd)
        except FileNotFoundError:
            raise Refused("no such file") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink: never followed
                raise Refused("no such file") from None
            raise
        with open(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise Refused("no such file")
            digest = self.digest_of(fd, st)
            header = {"size": st.st_size, "sha256": digest}
            sock.sendall(json.dumps(header).encode() + b"\n")
            send_file(sock, f, st.st_size, None)

    def digest_of(self, fd: int, st: os.stat_result) -> str:
        """The SHA-256 of the open file ``fd``: known, or computed once in a thread.

        Keyed by the file's identity and version (device, inode, size,
        mtime): an upload records its digest as it lands, and concurrent
        GETs of one unknown file share one hashing.
        """
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        digest = self.digests.get(key)
        if digest is not None:
            return digest
        pending = self.hashing.get(key)
        if pending is None:
            pending = self.hashing[key] = get_threadpool().spawn(hash_fd, os.dup(fd))
        try:
            digest = str(pending.get())
        finally:
            if pending.ready():
                self.hashing.pop(key, None)
        self.remember(key, digest)
        return digest

    def remember(self, key: tuple[int, ...], digest: str) -> None:
        if len(self.digests) >= 10_000:
            self.digests.clear()  # bounded; forgotten digests are computed again
        self.digests[key] = digest


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
        reply = read_line(sock).decode("utf-8", "replace")
    if reply != f"OK {digest}":
        bar.finish("FAILED")
        raise RuntimeError(f"{path}: the server said {reply!r}")
    bar.finish("sha256 ok")
    return digest


def get(address: tuple[str, int], name: str, into: str, progress: Progress) -> str:
    """Fetch one file into directory ``into``; return its SHA-256, checked.

    The bytes go to a temporary file next to the target, renamed over it
    only once their SHA-256 matches the one the server announced.
    """
    target = safe_name(name)
    with socket.create_connection(address, timeout=60) as sock:
        sock.sendall(b"GET " + json.dumps({"name": name}).encode() + b"\n")
        header = read_line(sock)
        if header.startswith(b"ERR"):
            raise RuntimeError(f"{name}: the server said {header.decode('utf-8', 'replace')!r}")
        info = json.loads(header)
        bar = progress.bar(f"get {name}", int(info["size"]))
        fd, part = tempfile.mkstemp(prefix=f".{target}.", suffix=PART_SUFFIX, dir=into)
        try:
            try:
                digest = receive_into(sock, fd, int(info["size"]), bar)
            finally:
                os.close(fd)
            if digest != info["sha256"]:
                bar.finish("FAILED")
                announced = info["sha256"]
                raise RuntimeError(f"{name}: sha256 {digest}, the server announced {announced}")
            os.replace(part, os.path.join(into, target))
        finally:
            if os.path.exists(part):
                os.unlink(part)
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
        server.close()

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


def serve(args: argparse.Namespace) -> int:
    """The server until Ctrl-C or SIGTERM; transfers in flight get ``--grace`` s to finish."""
    # A file size limit (ulimit -f) makes a write fail with EFBIG (answered
    # with ERR) instead of killing the whole server with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.makedirs(args.directory, exist_ok=True)
    server = FileServer(
        args.directory, args.host, args.port, max_size=args.max_size, timeout=args.timeout
    )
    if server.removed_parts:
        print(f"removed {server.removed_parts} partial upload(s) left by an earlier run")

    def started() -> None:
        host, port = server.server.address[:2]
        print(f"file server on {host}:{port}", flush=True)

    took = serve_until_signalled(server.server, args.grace, started=started)
    server.close()
    print(f"stopped in {took:.2f} s: {server.received} file(s) received", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send and receive files over TCP on corolib.")
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("serve", help="receive files into DIR (and serve them back)")
    p.add_argument("directory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7002)
    p.add_argument("--max-size", type=int, default=1 << 30, help="largest upload, in bytes")
    p.add_argument("--timeout", type=float, default=60.0, help="drop a client silent this long")
    p.add_argument("--grace", type=float, default=10.0, help="on a stop, s left to transfers")
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
        return serve(args)
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
