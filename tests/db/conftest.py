"""Real database servers for the driver tests (PostgreSQL, MariaDB).

Session fixtures start each server once (see dbservers.py) and skip, with
the reason, where it is not installed.  ``make compat-deps`` (part of
``make test``) installs the servers and the client libraries.
"""

from __future__ import annotations

import pytest
from dbservers import find_mariadb, find_postgres, start_mariadb, start_postgres


@pytest.fixture(scope="session")
def postgres():
    bindir, why = find_postgres()
    if bindir is None:
        pytest.skip(why)
    server = start_postgres(bindir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb():
    mariadbd, why = find_mariadb()
    if mariadbd is None:
        pytest.skip(why)
    server = start_mariadb(mariadbd)
    yield server
    server.stop()
