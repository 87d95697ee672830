"""Database drivers under patch_all(): 50 concurrent server-side sleeps overlap.

Each case runs in a fresh interpreter that patches first, connects 50
clients to a real server (started by the fixtures), then runs a 0.5 s
server-side sleep on each at once.  Run one after another they would take
25 s; cooperatively, about 0.5 s.  A ticker greenlet checks meanwhile that
the hub is never blocked for long.
"""

from __future__ import annotations

import importlib.util

import pytest

CLIENTS = 50
SLEEP = 0.5
LIMIT = 1.5

TEMPLATE = """
import faulthandler, sys, time
faulthandler.dump_traceback_later(120, exit=True)
from corolib import monkey
monkey.patch_all()
import corolib
{setup}
conns = [c for c in corolib.joinall([corolib.spawn(connect) for _ in range({clients})],
                                    raise_error=True)]
conns = [g.value for g in conns]
gaps = []
def ticker():
    last = time.monotonic()
    while True:
        corolib.sleep(0.02)
        now = time.monotonic()
        gaps.append(now - last)
        last = now
tick = corolib.spawn(ticker)
start = time.monotonic()
corolib.joinall([corolib.spawn(query, c) for c in conns], raise_error=True)
elapsed = time.monotonic() - start
tick.kill()
for c in conns:
    c.close()
print(f"{{elapsed:.3f}} {{max(gaps):.3f}}")
"""

PSYCOPG2 = """
import psycopg2
def connect():
    return psycopg2.connect(host="{host}", port={port}, user="postgres", dbname="postgres")
def query(conn):
    with conn.cursor() as cur:
        cur.execute("select pg_sleep({sleep})")
        cur.fetchall()
"""

PSYCOPG3 = """
import psycopg, psycopg.waiting
assert psycopg.waiting.wait is psycopg.waiting.wait_poll, psycopg.waiting.wait
def connect():
    return psycopg.connect(host="{host}", port={port}, user="postgres", dbname="postgres",
                           autocommit=True)
def query(conn):
    conn.execute("select pg_sleep({sleep})").fetchall()
"""

PYMYSQL = """
import pymysql
def connect():
    return pymysql.connect(host="{host}", port={port}, user="root")
def query(conn):
    with conn.cursor() as cur:
        cur.execute("select sleep({sleep})")
        cur.fetchall()
"""


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not installed (make compat-deps)")


def _run(run_python, setup: str, server) -> None:
    source = TEMPLATE.format(
        setup=setup.format(host=server.host, port=server.port, sleep=SLEEP), clients=CLIENTS
    )
    result = run_python(source, timeout=150)
    result.expect(stderr_clean=False)
    elapsed, gap = (float(x) for x in result.stdout.split())
    print(f"{CLIENTS} concurrent {SLEEP} s sleeps: {elapsed:.3f} s, longest hub gap {gap:.3f} s")
    assert elapsed < LIMIT, f"{elapsed:.3f} s: the queries did not overlap"
    assert gap < SLEEP, f"the hub was blocked for {gap:.3f} s"


def test_psycopg2_queries_overlap(run_python, postgres):
    _need("psycopg2")
    _run(run_python, PSYCOPG2, postgres)


def test_psycopg3_queries_overlap(run_python, postgres):
    _need("psycopg")
    _run(run_python, PSYCOPG3, postgres)


def test_pymysql_queries_overlap(run_python, mariadb):
    _need("pymysql")
    _run(run_python, PYMYSQL, mariadb)


def test_psycopg3_keeps_its_c_wait_without_patching(run_python):
    _need("psycopg")
    run_python(
        """
        import psycopg.waiting as w
        print(w.wait is getattr(w, "wait_c", w.wait))
        """
    ).expect(stdout="True\n")


def test_patch_psycopg_after_psycopg_was_imported(run_python):
    _need("psycopg")
    run_python(
        """
        import psycopg.waiting as w
        from corolib import monkey
        monkey.patch_all()
        print(w.wait is w.wait_poll, monkey.is_module_patched("psycopg"))
        """
    ).expect(stdout="True True\n", stderr_clean=False)


def test_psycopg2_wait_callback_installed_alone(run_python):
    _need("psycopg2")
    run_python(
        """
        import psycopg2.extensions as ext
        from corolib import monkey, psycopg
        print(monkey.patch_psycopg(), ext.get_wait_callback() is psycopg.psycopg2_wait_callback)
        """
    ).expect(stdout="True True\n")
