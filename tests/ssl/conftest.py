"""Fixtures for the TLS tests.

``certs``: a CA, server/client certificates it signed, and an untrusted
self-signed one, made once per session with the ``openssl`` command.
``world``: a test runs with corolib (greenlets) and with the stdlib
(threads).  ``pair``: a test runs as corolib/corolib, stdlib/stdlib, and
corolib against a stdlib peer in a thread on either side.

Every test is also a leak test, as in tests/net: the same fds are open
after it as before, no greenlet is left parked, the hub watches no fd.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

import pytest
from sslutil import Certs, Pair, World, make_certs, open_fds

import corolib


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    try:
        return make_certs(str(tmp_path_factory.mktemp("certs")))
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"cannot make test certificates: {exc}")


@pytest.fixture(params=["corolib", "threads"])
def world(request: pytest.FixtureRequest, certs: Certs) -> World:
    return World(request.param, certs)


@pytest.fixture
def co(certs: Certs) -> World:
    return World("corolib", certs)


@pytest.fixture
def std(certs: Certs) -> World:
    return World("threads", certs)


PAIRS = {
    "co-co": ("corolib", "corolib"),
    "std-std": ("threads", "threads"),
    "co-server/std-client": ("corolib", "threads"),
    "std-server/co-client": ("threads", "corolib"),
}


@pytest.fixture(params=list(PAIRS))
def pair(request: pytest.FixtureRequest, certs: Certs) -> Pair:
    server, client = PAIRS[request.param]
    return Pair(World(server, certs), World(client, certs))


# ---- leak checks ------------------------------------------------------------------


def describe_fds(fds: set[str]) -> str:
    described = []
    for fd in sorted(fds, key=int):
        try:
            described.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            described.append(fd)
    return ", ".join(described)


@pytest.fixture(scope="session", autouse=True)
def _hub_first() -> None:
    # The hub's own fds (epoll, eventfd, signal pipe) exist before any test.
    corolib.get_hub()


@pytest.fixture(autouse=True)
def no_leaks() -> Any:
    gc.collect()
    before = open_fds()
    yield
    hub = corolib.get_hub()
    for _ in range(3):
        corolib.sleep(0)
    gc.collect()
    stats = hub.statistics()
    assert stats["parked"] == 0, hub.describe_parked()
    assert stats["fds"] == 0, "the hub still watches fds after the test (stale watchers)"
    leaked = open_fds() - before
    # A thread-world test may still be tearing down a daemon thread's socket.
    deadline = time.monotonic() + 2
    while leaked and time.monotonic() < deadline:
        time.sleep(0.01)
        gc.collect()
        leaked = open_fds() - before
    assert not leaked, f"fds leaked: {describe_fds(leaked)}"
