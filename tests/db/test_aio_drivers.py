"""asyncio database drivers on corolib.asyncio, next to greenlets, on a real PostgreSQL.

asyncpg (its own protocol on the loop's transports, its own pool) and
psycopg 3's ``AsyncConnection`` (the loop's ``add_reader``/``add_writer``)
run on corolib's loop in one process and one thread with greenlets that
call them through ``corolib.asyncio.await_``.  The server is a throw-away
instance started by the ``postgres`` fixture; ``make compat-deps`` installs
it and the drivers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import corolib
import corolib.asyncio as ca

asyncpg = pytest.importorskip("asyncpg")

#: generous: the machine running the tests may be loaded
DEADLINE = 30.0


def _dsn(server: Any) -> str:
    return f"postgresql://postgres@{server.host}:{server.port}/postgres"


async def _running_queries(conn: Any, marker: str) -> int:
    """How many backends are running a statement containing ``marker`` right now."""
    return int(
        await conn.fetchval(
            "select count(*) from pg_stat_activity"
            " where state = 'active' and query like $1 and pid <> pg_backend_pid()",
            f"%{marker}%",
        )
    )


async def _until(predicate: Any, what: str) -> None:
    """Poll an async condition until it holds, with a deadline."""
    deadline = time.monotonic() + DEADLINE
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_asyncpg_queries_from_coroutines(postgres: Any) -> None:
    async def main() -> tuple[Any, ...]:
        assert isinstance(asyncio.get_running_loop(), ca.EventLoop)
        conn = await asyncpg.connect(_dsn(postgres))
        try:
            await conn.execute("create temporary table t (id int primary key, name text)")
            rows_in = [(i, f"n{i}") for i in range(50)]
            await conn.executemany("insert into t values ($1, $2)", rows_in)
            rows = await conn.fetch("select id, name from t where id < $1 order by id", 3)
            total = await conn.fetchval("select sum(id) from t")
            async with conn.transaction():
                await conn.execute("delete from t where id >= 10")
            count = await conn.fetchval("select count(*) from t")
            return [tuple(r) for r in rows], total, count
        finally:
            await conn.close()

    rows, total, count = ca.run(main())
    assert rows == [(0, "n0"), (1, "n1"), (2, "n2")]
    assert total == sum(range(50))
    assert count == 10


def test_asyncpg_from_greenlets_through_await_without_a_running_loop(postgres: Any) -> None:
    # No loop runs: await_ drives the thread's loop while greenlets wait in it.
    # (The pool is made inside a coroutine: asyncpg binds it to the loop
    # running when it is constructed.)
    async def make_pool() -> Any:
        return await asyncpg.create_pool(_dsn(postgres), min_size=1, max_size=8)

    pool = ca.await_(make_pool())
    try:

        def worker(i: int) -> tuple[int, str]:
            value = ca.await_(pool.fetchval("select $1::int * 2", i))
            name = ca.await_(pool.fetchval("select $1::text || '!'", f"g{i}"))
            return value, name

        greenlets = [corolib.spawn(worker, i) for i in range(20)]
        corolib.joinall(greenlets, raise_error=True)
        assert [g.value for g in greenlets] == [(i * 2, f"g{i}!") for i in range(20)]
    finally:
        ca.await_(pool.close())


def test_asyncpg_pool_shared_by_greenlets_and_tasks(postgres: Any) -> None:
    # A greenlet holds a server-side lock that a task is blocked on: only if
    # both make progress at once does the task get it, when the greenlet
    # lets go.  Meanwhile more greenlets and tasks share the same pool.
    async def main() -> list[Any]:
        pool = await asyncpg.create_pool(_dsn(postgres), min_size=2, max_size=6)
        try:
            order: list[str] = []
            holding = asyncio.Event()
            gate = corolib.Event()

            def green_holder() -> None:
                async def take() -> Any:
                    conn = await pool.acquire()
                    await conn.execute("select pg_advisory_lock(4242)")
                    return conn

                conn = ca.await_(take())
                order.append("green has the lock")
                holding.set()
                gate.wait()  # green-style blocking; the loop runs on
                order.append("green releases")
                ca.await_(conn.execute("select pg_advisory_unlock(4242)"))
                ca.await_(pool.release(conn))

            async def task_waiter() -> None:
                await holding.wait()
                async with pool.acquire() as conn:
                    await conn.execute("select pg_advisory_lock(4242) /* corolib-lock-wait */")
                    order.append("task has the lock")
                    await conn.execute("select pg_advisory_unlock(4242)")

            holder = corolib.spawn(green_holder)
            waiter = asyncio.ensure_future(task_waiter())
            await holding.wait()
            # The task is now blocked server-side; the loop and greenlets are not.
            async with pool.acquire() as probe:
                await _until(
                    lambda: _count_is(probe, "corolib-lock-wait", 1), "the task to wait on the lock"
                )

            def green_query(i: int) -> int:
                return int(ca.await_(pool.fetchval("select $1::int + 1", i)))

            async def task_query(i: int) -> int:
                return int(await pool.fetchval("select $1::int + 100", i))

            others = [corolib.spawn(green_query, i) for i in range(6)]
            task_results = await asyncio.gather(*(task_query(i) for i in range(6)))
            await ca.to_greenlet(corolib.joinall, others, raise_error=True)
            assert not waiter.done()
            gate.set()
            await asyncio.wait_for(waiter, DEADLINE)
            await ca.to_greenlet(holder.join)
            assert holder.successful(), holder.exception
            return [order, task_results, [g.value for g in others]]
        finally:
            await pool.close()

    order, task_results, green_results = ca.run(main())
    assert order == ["green has the lock", "green releases", "task has the lock"]
    assert task_results == [i + 100 for i in range(6)]
    assert green_results == [i + 1 for i in range(6)]


async def _count_is(conn: Any, marker: str, n: int) -> bool:
    return await _running_queries(conn, marker) == n


def test_asyncpg_query_overlaps_greenlets(postgres: Any) -> None:
    # A server-side sleep on the loop does not stop greenlets from running.
    async def main() -> int:
        conn = await asyncpg.connect(_dsn(postgres))
        ticks = 0
        stop = False

        def ticker() -> None:
            nonlocal ticks
            while not stop:
                corolib.sleep(0.01)
                ticks += 1

        g = corolib.spawn(ticker)
        try:
            await conn.execute("select pg_sleep(0.5)")
        finally:
            stop = True
            await ca.to_greenlet(g.join)
            await conn.close()
        return ticks

    ticks = ca.run(main())
    assert ticks >= 5, f"the greenlet ran only {ticks} times during a 0.5 s query"


def test_asyncpg_timeout_and_cancel_from_coroutines(postgres: Any) -> None:
    async def main() -> None:
        conn = await asyncpg.connect(_dsn(postgres))
        probe = await asyncpg.connect(_dsn(postgres))
        try:
            # the driver's own timeout: the statement is cancelled server-side
            with pytest.raises(asyncio.TimeoutError):
                await conn.execute("select pg_sleep(60) /* corolib-timeout-a */", timeout=0.2)
            assert await conn.fetchval("select 41 + 1") == 42
            # the task cancelled: the same
            task = asyncio.ensure_future(conn.execute("select pg_sleep(60) /* corolib-cancel-b */"))
            await _until(lambda: _count_is(probe, "corolib-cancel-b", 1), "the query to start")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _until(lambda: _count_is(probe, "corolib-cancel-b", 0), "the server to stop it")
            assert await conn.fetchval("select 'usable'") == "usable"
            # asyncio.wait_for around the query
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(conn.execute("select pg_sleep(60)"), 0.2)
            assert await conn.fetchval("select 1") == 1
        finally:
            await conn.close()
            await probe.close()

    ca.run(main())


def test_asyncpg_greenlet_timeout_and_kill_cancel_the_query(postgres: Any) -> None:
    async def main() -> None:
        conn = await asyncpg.connect(_dsn(postgres))
        probe = await asyncpg.connect(_dsn(postgres))
        try:

            def with_timeout() -> str:
                try:
                    with corolib.Timeout(0.2):
                        ca.await_(conn.execute("select pg_sleep(60) /* corolib-green-t */"))
                except corolib.Timeout:
                    return "timed out"
                return "finished"

            assert await ca.to_greenlet(with_timeout) == "timed out"
            await _until(lambda: _count_is(probe, "corolib-green-t", 0), "the server to stop it")
            assert await conn.fetchval("select 2") == 2

            sleep = "select pg_sleep(60) /* corolib-k */"
            g = corolib.spawn(lambda: ca.await_(conn.execute(sleep)))
            await _until(lambda: _count_is(probe, "corolib-k", 1), "the query to start")
            await ca.to_greenlet(g.kill)
            assert g.dead and isinstance(g.value, corolib.GreenletExit)
            await _until(lambda: _count_is(probe, "corolib-k", 0), "the server to stop it")
            assert await conn.fetchval("select 3") == 3
        finally:
            await conn.close()
            await probe.close()

    ca.run(main())


def test_asyncpg_server_errors_surface_as_its_exceptions(postgres: Any) -> None:
    async def main() -> tuple[str, str]:
        conn = await asyncpg.connect(_dsn(postgres))
        try:
            await conn.execute("create temporary table u (id int primary key)")
            await conn.execute("insert into u values (1)")
            with pytest.raises(asyncpg.exceptions.UniqueViolationError):
                await conn.execute("insert into u values (1)")

            def green() -> str:
                try:
                    ca.await_(conn.fetchval("select 1 / 0"))
                except asyncpg.exceptions.DivisionByZeroError as exc:
                    return exc.sqlstate
                return "no error"

            state = await ca.to_greenlet(green)
            with pytest.raises(asyncpg.exceptions.UndefinedTableError) as info:
                await conn.fetch("select * from no_such_table")
            # the connection is fine after each error
            assert await conn.fetchval("select count(*) from u") == 1
            return state, info.value.sqlstate
        finally:
            await conn.close()

    assert ca.run(main()) == ("22012", "42P01")


def test_asyncpg_connection_refused_is_the_os_error() -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        ca.await_(asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", timeout=10))


def test_psycopg3_async_connection_from_tasks_and_greenlets(postgres: Any) -> None:
    psycopg = pytest.importorskip("psycopg")

    async def main() -> tuple[list[Any], list[Any]]:
        conninfo = f"host={postgres.host} port={postgres.port} user=postgres dbname=postgres"

        async def task_query(i: int) -> Any:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                cur = await conn.execute("select %s::int * 3, pg_sleep(0.05)", (i,))
                return (await cur.fetchone())[0]

        def green_query(i: int) -> Any:
            async def run() -> Any:
                async with await psycopg.AsyncConnection.connect(conninfo) as conn:
                    cur = await conn.execute("select %s::text", (f"g{i}",))
                    row = await cur.fetchone()
                    with pytest.raises(psycopg.errors.DivisionByZero):
                        await conn.execute("select 1 / 0")
                    return row[0]

            return ca.await_(run())

        greenlets = [corolib.spawn(green_query, i) for i in range(5)]
        from_tasks = await asyncio.gather(*(task_query(i) for i in range(5)))
        await ca.to_greenlet(corolib.joinall, greenlets, raise_error=True)
        return from_tasks, [g.value for g in greenlets]

    from_tasks, from_greenlets = ca.run(main())
    assert from_tasks == [i * 3 for i in range(5)]
    assert from_greenlets == [f"g{i}" for i in range(5)]


def test_asyncpg_under_patch_all_with_green_threads(run_python: Any, postgres: Any) -> None:
    # patch_all(): plain asyncio.run() is corolib's loop; threads (greenlets)
    # call asyncpg through await_ and psycopg 3 (sync, patched) side by side.
    pytest.importorskip("psycopg")
    run_python(
        f"""
        import faulthandler
        faulthandler.dump_traceback_later(100, exit=True)
        from corolib import monkey
        monkey.patch_all()
        import asyncio, threading, time
        import asyncpg, psycopg
        import corolib.asyncio as ca

        DSN = "{_dsn(postgres)}"

        async def main():
            assert isinstance(asyncio.get_running_loop(), ca.EventLoop)
            pool = await asyncpg.create_pool(DSN, min_size=2, max_size=5)
            results = {{}}

            def worker(i):
                value = ca.await_(pool.fetchval("select $1::int * 10 from pg_sleep(0.5)", i))
                with psycopg.connect(DSN, autocommit=True) as conn:
                    row = conn.execute("select %s::int + 1 from pg_sleep(0.5)", (i,)).fetchone()
                results[i] = (value, row[0])

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
            start = time.monotonic()
            for t in threads:
                t.start()
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: [t.join(60) for t in threads])
            elapsed = time.monotonic() - start
            await pool.close()
            return results, elapsed

        results, elapsed = asyncio.run(main())
        assert results == {{i: (i * 10, i + 1) for i in range(10)}}, results
        # 20 server-side sleeps of 0.5 s: 10 s one after another, ~1.5 s here
        assert elapsed < 6, f"the queries did not overlap: {{elapsed:.2f}} s"
        print("ok")
        """,
        timeout=150,
    ).expect(stdout="ok\n")
