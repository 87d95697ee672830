"""A small plain-WSGI application, served by corolib.pywsgi.

    python examples/wsgi_app.py                     # http://127.0.0.1:8000 until Ctrl-C
    python -m corolib.pywsgi wsgi_app:app --bind 127.0.0.1:8000   # the same (from examples/)
    gunicorn -k corolib.gunicorn.Worker -w 2 wsgi_app:app          # every core, under gunicorn

Endpoints:

- ``GET /``: a greeting.
- ``GET /stream?n=10``: ``n`` lines, one every 0.1 s, streamed as they are
  made (a chunked response: the application gives no Content-Length).  Other
  requests are served meanwhile: each connection is a greenlet.
- ``POST /upload``: reads the body in 64 KiB pieces as it arrives (never
  the whole of it in memory) and answers its size and SHA-256.  Try
  ``curl --data-binary @somefile http://127.0.0.1:8000/upload``.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import corolib


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    path = environ["PATH_INFO"]
    method = environ["REQUEST_METHOD"]
    if path == "/" and method in ("GET", "HEAD"):
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Hello from corolib.pywsgi! Try /stream?n=5 and POST /upload\n"]
    if path == "/stream" and method == "GET":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        n = min(int(query.get("n", ["10"])[0]), 1000)
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return _lines(n)
    if path == "/upload" and method == "POST":
        digest = hashlib.sha256()
        size = 0
        body = environ["wsgi.input"]
        while chunk := body.read(65536):
            digest.update(chunk)
            size += len(chunk)
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"{size} bytes, sha256 {digest.hexdigest()}\n".encode()]
    start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"not found\n"]


def _lines(n: int) -> Iterator[bytes]:
    for i in range(n):
        if i:
            corolib.sleep(0.1)
        yield f"line {i + 1} of {n}\n".encode()


def main() -> None:
    from corolib.pywsgi import WSGIServer

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    server = WSGIServer(("127.0.0.1", port), app)
    print(f"serving on http://127.0.0.1:{server.server_port}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
