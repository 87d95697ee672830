"""A concurrent web crawler: fetch many pages at once with a Pool of greenlets.

    python examples/crawler.py [--pages 300] [--concurrency 20] [--delay 0.02]

It first starts its own small website on 127.0.0.1 (a StreamServer
speaking just enough HTTP/1.1): ``--pages`` pages, each answering after a
random pause of up to ``--delay`` seconds (a slow backend) and linking to
a few other pages.  Then it crawls the site from ``/`` breadth-first:
each level's new URLs are fetched through ``Pool(concurrency).imap_unordered``,
so at most ``--concurrency`` requests are in flight.  It checks that it
found every page exactly once and prints how long that took compared
with fetching them one after the other.

The fetching itself is the standard library's :mod:`http.client`: an
``HTTPConnection`` whose ``_create_connection`` is
:func:`corolib.socket.create_connection` talks through a corolib socket,
so its reads and writes wait cooperatively -- no monkey patching needed.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import sys
import time
from typing import Any

import corolib
from corolib import socket
from corolib.pool import Pool
from corolib.server import StreamServer

LINK = re.compile(rb'href="(/page/\d+)"')


class Site:
    """A made-up website: /page/0 .. /page/N-1, each linking to a few others; / is page 0."""

    def __init__(self, pages: int, delay: float, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.delay = delay
        self.pages = pages
        # Page i links to i+1 (so every page is reachable) and to 4 random pages.
        self.links = {
            i: sorted({(i + 1) % pages, *(rng.randrange(pages) for _ in range(4))} - {i})
            for i in range(pages)
        }
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.server = StreamServer(("127.0.0.1", 0), self.handle)

    def page(self, path: str) -> bytes | None:
        if path == "/":
            path = "/page/0"
        match = re.fullmatch(r"/page/(\d+)", path)
        if not match or int(match.group(1)) >= self.pages:
            return None
        i = int(match.group(1))
        links = "".join(f'<li><a href="/page/{j}">page {j}</a></li>' for j in self.links[i])
        return f"<html><title>page {i}</title><body><ul>{links}</ul></body></html>".encode()

    def handle(self, sock: socket.socket, address: Any) -> None:
        """HTTP/1.1 with keep-alive: one request after the other on this connection."""
        rfile = sock.makefile("rb")
        try:
            while True:
                request_line = rfile.readline(8192)
                if not request_line:
                    return
                while rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # headers: none needed here
                method, path, _version = request_line.decode("latin-1").split()
                self.requests += 1
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                try:
                    corolib.sleep(random.uniform(0, self.delay))  # the slow backend
                finally:
                    self.in_flight -= 1
                body = self.page(path) if method == "GET" else None
                status = "200 OK" if body is not None else "404 Not Found"
                body = body if body is not None else b"not found"
                sock.sendall(
                    f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
        except (OSError, ValueError):
            return
        finally:
            rfile.close()


def fetch(host: str, port: int, path: str) -> tuple[str, int, bytes]:
    """GET one URL with http.client over a corolib socket."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn._create_connection = socket.create_connection  # type: ignore[attr-defined]
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return path, response.status, response.read()
    finally:
        conn.close()


def crawl(host: str, port: int, concurrency: int) -> dict[str, bytes]:
    """Breadth-first from /: every level fetched concurrently through the pool."""
    pool = Pool(concurrency)
    seen = {"/"}
    pages: dict[str, bytes] = {}
    frontier = ["/"]
    level = 0
    while frontier:
        found: list[str] = []
        for path, status, body in pool.imap_unordered(lambda p: fetch(host, port, p), frontier):
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status}")
            pages[path] = body
            for link in LINK.findall(body):
                url = link.decode()
                if url not in seen:
                    seen.add(url)
                    found.append(url)
        print(f"  level {level}: {len(frontier):4d} fetched, {len(found):4d} new links")
        frontier = found
        level += 1
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A concurrent crawler of a local site.")
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.02, help="max server pause per page")
    args = parser.parse_args(argv)

    site = Site(args.pages, args.delay)
    site.server.start()
    host, port = site.server.address
    print(f"website of {args.pages} pages on http://{host}:{port}/")
    t0 = time.monotonic()
    pages = crawl(host, port, args.concurrency)
    elapsed = time.monotonic() - t0
    site.server.stop()

    # "/" and "/page/0" are the same page; every other page must be there once.
    expected = {"/"} | {f"/page/{i}" for i in range(1, args.pages)}
    missing = expected - set(pages)
    ok = not missing and site.requests == len(pages) == args.pages + ("/page/0" in pages)
    sequential = args.pages * args.delay / 2  # the mean pause, one page after the other
    print(
        f"crawled {len(pages)} URLs in {elapsed:.2f} s with at most {args.concurrency} "
        f"at once (the server saw up to {site.most_in_flight} in flight); "
        f"one at a time would take about {sequential:.1f} s of server pauses alone"
    )
    if not ok:
        print(f"FAILED: missing {sorted(missing)[:5]}, requests {site.requests}")
        return 1
    print("every page found, each fetched once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
