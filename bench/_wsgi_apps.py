"""The two applications bm_wsgi and bm_gunicorn serve: a plain WSGI hello world and Flask's.

``hello`` answers 13 bytes with a Content-Length, as every server can send
it in one write; ``flask`` is Flask's own hello world (routing, request and
response objects).  Flask is imported only when ``flask`` is asked for.
"""

from __future__ import annotations

from typing import Any

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]


def make_flask() -> Any:
    from flask import Flask

    app = Flask("bench")

    @app.route("/")
    def index() -> str:
        return "Hello, World!"

    return app


def __getattr__(name: str) -> Any:
    if name == "flask":  # gunicorn loads "_wsgi_apps:flask"
        app = make_flask()
        globals()["flask"] = app
        return app
    raise AttributeError(name)
