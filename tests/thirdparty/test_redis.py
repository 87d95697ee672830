"""redis-py against a real redis-server, under patch_all()."""

from __future__ import annotations


def test_100_concurrent_clients_and_a_blocking_blpop(run_python, redis_port):
    run_python(
        f"""
        import faulthandler
        faulthandler.dump_traceback_later(100, exit=True)
        from corolib import monkey
        monkey.patch_all()

        import threading, time
        import redis

        PORT = {redis_port}
        redis.Redis(port=PORT).flushall()

        # A client blocks in BLPOP for up to 10 s; the others must not notice.
        popped = {{}}
        def blocker():
            r = redis.Redis(port=PORT)
            started = time.monotonic()
            popped["value"] = r.blpop(["jobs"], timeout=10)
            popped["after"] = time.monotonic() - started
        b = threading.Thread(target=blocker)
        b.start()

        done = []
        def client(i):
            r = redis.Redis(port=PORT)  # its own connection
            for _ in range(10):
                r.incr("counter")
            r.set(f"key:{{i}}", i)
            assert int(r.get(f"key:{{i}}")) == i
            r.rpush("seen", i)
            done.append(i)
            r.close()
        started = time.monotonic()
        clients = [threading.Thread(target=client, args=(i,)) for i in range(100)]
        for t in clients: t.start()
        for t in clients: t.join()
        elapsed = time.monotonic() - started
        assert sorted(done) == list(range(100))
        r = redis.Redis(port=PORT)
        assert int(r.get("counter")) == 1000
        assert r.llen("seen") == 100
        assert b.is_alive() and "value" not in popped
        assert elapsed < 5, elapsed
        # Now unblock the BLPOP.
        r.rpush("jobs", "work")
        b.join()
        assert popped["value"] == (b"jobs", b"work"), popped
        assert popped["after"] < 10, popped
        # A blocking pool shared by greenlets.
        pool = redis.BlockingConnectionPool(port=PORT, max_connections=5, timeout=10)
        shared = redis.Redis(connection_pool=pool)
        workers = [threading.Thread(target=shared.incr, args=("pooled",)) for _ in range(50)]
        for t in workers: t.start()
        for t in workers: t.join()
        assert int(shared.get("pooled")) == 50
        print("ok")
        """,
        timeout=120,
    ).expect(stdout="ok\n")
