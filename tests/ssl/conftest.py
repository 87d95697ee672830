"""Fixtures for the TLS tests.

``certs``: a CA, server/client certificates it signed, and an untrusted
self-signed one, made once per session with the ``openssl`` command.
``world``: a test runs with corolib (greenlets) and with the stdlib
(threads).  ``pair``: a test runs as corolib/corolib, stdlib/stdlib, and
corolib against a stdlib peer in a thread on either side.

Every test is also a leak test (``hub_clean`` from tests/_support/plugin.py,
with ``fd_leak_check``): the same fds are open after it as before, nothing
is left parked, queued or timed in the hub, the hub watches no fd.
"""

from __future__ import annotations

import pytest
from sslutil import Certs, Pair, World, make_certs


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


@pytest.fixture
def fd_leak_check() -> bool:
    """``hub_clean`` (tests/_support/plugin.py) also checks that no fd leaked."""
    return True
