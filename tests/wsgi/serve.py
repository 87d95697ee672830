"""The server the WSGI tests drive, run as a subprocess of the test.

    python serve.py APP [--validate] [--tls CERT KEY] [--limit NAME=VALUE ...]

APP is ``plain`` (the test application below), ``flask`` or ``django``.
Prints the port on the first line of stdout, then serves until SIGTERM.
Access and error logs go to stderr.  Warnings are errors, so that a
``wsgiref.validate`` complaint fails the request it concerns.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import tempfile
import warnings
from typing import Any

warnings.simplefilter("error")

import corolib  # noqa: E402
from corolib.pywsgi import WSGIServer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def pattern(size: int) -> bytes:
    """Deterministic bytes of any size (the tests compute the same)."""
    block = bytes(range(256)) * 64
    reps, rest = divmod(size, len(block))
    return block * reps + block[:rest]


def _query(environ: dict[str, Any]) -> dict[str, str]:
    out = {}
    for part in environ.get("QUERY_STRING", "").split("&"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def plain_app(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ["PATH_INFO"]
    q = _query(environ)
    text = [("Content-Type", "text/plain")]
    if path == "/hello":
        start_response("200 OK", text)
        return [b"Hello, world!\n"]
    if path == "/sha":
        h = hashlib.sha256()
        n = 0
        inp = environ["wsgi.input"]
        while data := inp.read(65536):
            h.update(data)
            n += len(data)
        start_response("200 OK", text)
        return [f"{n} {h.hexdigest()}".encode()]
    if path == "/echo":
        body = environ["wsgi.input"].read(10**9)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]
    if path == "/lines":
        lines = list(environ["wsgi.input"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps([line.decode("latin-1") for line in lines]).encode()]
    if path == "/readline":
        inp = environ["wsgi.input"]
        first = inp.readline(5)
        rest = inp.readlines()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps([first.decode(), [x.decode() for x in rest]]).encode()]
    if path == "/stream":
        n, size = int(q.get("n", "3")), int(q.get("size", "10"))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        data = pattern(n * size)
        return (data[i * size : (i + 1) * size] for i in range(n))
    if path == "/download":
        size = int(q["size"])
        data = pattern(size)
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))],
        )
        return (data[i : i + 65536] for i in range(0, size, 65536))
    if path == "/file":
        size = int(q["size"])
        f = tempfile.TemporaryFile()
        f.write(pattern(size))
        f.seek(int(q.get("offset", "0")))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f)
    if path.startswith("/environ"):
        keys = [k for k, v in environ.items() if isinstance(v, str)]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({k: environ[k] for k in keys}).encode()]
    if path == "/error":
        raise RuntimeError("boom in the app")
    if path == "/error-after":

        def gen() -> Any:
            yield b"partial"
            raise RuntimeError("boom after the headers")

        start_response("200 OK", text)
        return gen()
    if path == "/str-body":
        start_response("200 OK", text)
        return ["not bytes"]
    if path == "/too-long":
        start_response("200 OK", [("Content-Length", "5")])
        return [b"12345", b"6789"]
    if path == "/too-short":
        start_response("200 OK", [("Content-Length", "10")])
        return [b"12345", b""]
    if path == "/twice":
        start_response("200 OK", text)
        start_response("200 OK", text)
        return [b"no"]
    if path == "/exc-before":
        start_response("200 OK", text)
        try:
            raise ValueError("changed my mind")
        except ValueError:
            start_response("503 Service Unavailable", text, sys.exc_info())
        return [b"sorry\n"]
    if path == "/exc-after":

        def gen_exc() -> Any:
            yield b"started"
            try:
                raise ValueError("too late to change")
            except ValueError:
                start_response("500 Internal Server Error", text, sys.exc_info())
            yield b"never"

        start_response("200 OK", text)
        return gen_exc()
    if path == "/sleep":
        print("sleeping", file=sys.stderr, flush=True)  # the tests wait for this line
        corolib.sleep(float(q.get("s", "1")))
        start_response("200 OK", text)
        return [b"slept\n"]
    if path == "/noread":
        start_response("200 OK", text)
        return [b"did not read\n"]
    if path == "/nocontent":
        start_response("204 No Content", [])
        return []
    if path == "/close":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
        return [b"bye\n"]
    start_response("404 Not Found", text)
    return [b"not found\n"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app")
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--tls", nargs=2)
    parser.add_argument("--limit", action="append", default=[])
    parser.add_argument("--no-log", action="store_true")
    args = parser.parse_args()
    if args.app == "plain":
        app: Any = plain_app
    elif args.app == "flask":
        from fw_flask import app
    elif args.app == "django":
        from fw_django import app
    else:
        raise SystemExit(f"unknown app {args.app}")
    if args.validate:
        from wsgiref.validate import validator

        app = validator(app)
    limits: dict[str, Any] = {}
    for item in args.limit:
        name, value = item.split("=")
        limits[name] = float(value) if "." in value else int(value)
    tls = {}
    if args.tls:
        tls = {"certfile": args.tls[0], "keyfile": args.tls[1]}
    server = WSGIServer(
        ("127.0.0.1", 0), app, log=None if args.no_log else "default", **tls, **limits
    )
    server.start()
    corolib.signal_handler(signal.SIGTERM, server.stop, 5)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
