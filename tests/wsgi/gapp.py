"""The application the gunicorn tests serve (imported by gunicorn's workers, after patch_all)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import Any


def app(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ["PATH_INFO"]
    text = [("Content-Type", "text/plain")]
    if path == "/pid":
        start_response("200 OK", text)
        return [str(os.getpid()).encode()]
    if path == "/sleep":
        print("sleeping", file=sys.stderr, flush=True)  # the tests wait for this line
        time.sleep(float(environ.get("QUERY_STRING") or "1"))  # green: patched
        start_response("200 OK", text)
        return [b"slept %d" % os.getpid()]
    if path == "/block":
        end = time.monotonic() + float(environ.get("QUERY_STRING") or "5")
        while time.monotonic() < end:  # a CPU loop: the hub is starved
            pass
        start_response("200 OK", text)
        return [b"unblocked"]
    if path == "/sha":
        h = hashlib.sha256()
        n = 0
        while data := environ["wsgi.input"].read(65536):
            h.update(data)
            n += len(data)
        start_response("200 OK", text)
        return [f"{n} {h.hexdigest()}".encode()]
    if path == "/env":
        start_response("200 OK", text)
        return [f"{environ['wsgi.url_scheme']} {type(environ['wsgi.input']).__module__}".encode()]
    if path == "/patched":
        import socket

        from corolib import monkey

        start_response("200 OK", text)
        return [f"{monkey.is_module_patched('socket')} {socket.socket.__module__}".encode()]
    start_response("200 OK", text)
    return [b"Hello from gunicorn!\n"]
