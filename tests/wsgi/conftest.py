"""Fixtures for the WSGI server tests.

The server runs in a subprocess (``serve.py``), as in production, and the
tests drive it from this process with real clients (raw sockets,
``http.client``, ``requests``, ``curl``).  ``make test`` installs what they
need (``make wsgi-deps``); without it a test fails saying what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from wsgiutil import Server, start_server

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this directory's tests marked slow unless asked for (``-m slow``)."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow (make test-wsgi-fuzz)")
    for item in items:
        if "slow" in item.keywords and str(item.path).startswith(HERE):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []
    tmp = str(tmp_path_factory.mktemp("wsgi"))

    def make(*args: str) -> Server:
        server = start_server(tmp, *args)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def plain(server_factory: Callable[..., Server]) -> Server:
    """The plain test application under wsgiref.validate, default limits."""
    return server_factory("plain", "--validate")


@pytest.fixture(scope="module")
def strict(server_factory: Callable[..., Server]) -> Server:
    """The plain application with small limits and short timeouts."""
    return server_factory(
        "plain",
        "--limit=max_request_line=200",
        "--limit=max_header_size=2000",
        "--limit=max_header_count=20",
        "--limit=max_body_size=100000",
        "--limit=header_timeout=1.0",
        "--limit=keepalive_timeout=1.0",
        "--limit=io_timeout=1.5",
        "--limit=max_connections=5",
    )


@pytest.fixture(scope="module")
def raw(server_factory: Callable[..., Server]) -> Server:
    """The plain test application without the validator (which wraps every body)."""
    return server_factory("plain")
