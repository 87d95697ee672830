"""A small Flask application for the WSGI tests."""

from __future__ import annotations

import hashlib

from flask import Flask, Response, request, stream_with_context

app = Flask(__name__)


@app.route("/hello")
def hello() -> str:
    return "Hello from Flask!\n"


@app.route("/upload", methods=["POST"])
def upload() -> str:
    data = request.get_data()
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}"


@app.route("/form", methods=["POST"])
def form() -> dict[str, str]:
    return {"name": request.form["name"], "file": request.files["f"].read().decode()}


@app.route("/stream")
def stream() -> Response:
    def gen():  # type: ignore[no-untyped-def]
        for i in range(5):
            yield f"line {i}\n"

    return Response(stream_with_context(gen()), mimetype="text/plain")


@app.route("/json", methods=["POST"])
def echo_json() -> dict[str, object]:
    return {"got": request.get_json(), "path": request.path, "args": dict(request.args)}
