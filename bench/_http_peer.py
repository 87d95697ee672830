"""The other end of bm_monkey's HTTP programs: a load generator and a fast server.

Plain standard library (``selectors`` on epoll, one OS thread), never
monkey-patched, run in its own process so that it uses the second core and
is never the bottleneck of the program being measured:

    python bench/_http_peer.py load --port P --concurrency 50 --seconds 2
        keeps 50 HTTP/1.0 requests in flight against 127.0.0.1:P (a new
        connection each, as a browser-less client of a ThreadingHTTPServer
        does), for the given time; prints one JSON line:
        {"requests": n, "seconds": s, "errors": e}
    python bench/_http_peer.py serve
        answers every request on a keep-alive connection with a fixed small
        body; prints its port on the first line, then serves until killed.
"""

from __future__ import annotations

import argparse
import errno
import json
import selectors
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
BODY = b"Hello, world!\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)
) + BODY


def load(port: int, concurrency: int, seconds: float) -> dict[str, float]:
    """Keep ``concurrency`` one-request connections going for ``seconds``."""
    sel = selectors.DefaultSelector()
    done = errors = 0
    deadline = time.monotonic() + seconds

    def start() -> None:
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(err, "connect")
        sel.register(s, selectors.EVENT_WRITE, [b""])

    for _ in range(concurrency):
        start()
    started = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        for key, events in sel.select(deadline - now):
            s = key.fileobj
            if events & selectors.EVENT_WRITE:
                try:
                    s.send(REQUEST)  # type: ignore[union-attr]
                except OSError:
                    errors += 1
                    sel.unregister(s)
                    s.close()  # type: ignore[union-attr]
                    start()
                    continue
                sel.modify(s, selectors.EVENT_READ, key.data)
                continue
            try:
                chunk = s.recv(65536)  # type: ignore[union-attr]
            except OSError:
                chunk = b""
                errors += 1
            if chunk:
                key.data[0] += chunk
                continue
            if key.data[0].startswith(b"HTTP/1.") and b" 200 " in key.data[0][:16]:
                done += 1
            else:
                errors += 1
            sel.unregister(s)
            s.close()  # type: ignore[union-attr]
            start()
    elapsed = time.monotonic() - started
    for key in list(sel.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    return {"requests": done, "seconds": elapsed, "errors": errors}


def serve() -> None:
    """Answer every request (keep-alive) with RESPONSE, forever."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    listener.setblocking(False)
    print(listener.getsockname()[1], flush=True)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                try:
                    while True:
                        conn, _ = listener.accept()
                        conn.setblocking(False)
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        sel.register(conn, selectors.EVENT_READ, [b""])
                except BlockingIOError:
                    pass
                continue
            conn = key.fileobj
            try:
                chunk = conn.recv(65536)  # type: ignore[union-attr]
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(conn)
                conn.close()  # type: ignore[union-attr]
                continue
            buf = key.data[0] + chunk
            answers = 0
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                buf = buf[end + 4 :]
                answers += 1
            key.data[0] = buf
            if answers:
                try:
                    conn.sendall(RESPONSE * answers)  # type: ignore[union-attr]
                except OSError:
                    sel.unregister(conn)
                    conn.close()  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("load")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--seconds", type=float, default=2.0)
    sub.add_parser("serve")
    args = parser.parse_args()
    if args.command == "load":
        print(json.dumps(load(args.port, args.concurrency, args.seconds)), flush=True)
    else:
        serve()


if __name__ == "__main__":
    sys.exit(main())
