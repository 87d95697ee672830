"""Threads become greenlets: the threading API under patch_all(), in fresh interpreters."""

from __future__ import annotations

import pytest


def test_threads_run_concurrently_as_greenlets(patched):
    patched(
        """
        import threading, time, corolib
        started = time.monotonic()
        threads = [threading.Thread(target=time.sleep, args=(0.3,)) for _ in range(200)]
        for t in threads:
            t.start()
        assert all(t.is_alive() for t in threads)
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        assert elapsed < 1.5, elapsed
        assert not any(t.is_alive() for t in threads)
        # one OS thread: every thread's native id is the process's
        assert {t.native_id for t in threads} == {threading.get_native_id()}
        assert len({t.ident for t in threads}) == 200
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_thread_api(patched):
    patched(
        """
        import threading, time, corolib
        from corolib import getcurrent
        main = threading.current_thread()
        assert main is threading.main_thread()
        assert main.ident == threading.get_ident() == monkey.get_original("_thread", "get_ident")()
        seen = {}
        def work(x):
            me = threading.current_thread()
            seen["name"] = me.name
            seen["ident"] = (me.ident, threading.get_ident(), id(getcurrent()))
            seen["daemon"] = me.daemon
            seen["main"] = threading.main_thread() is main
            time.sleep(0.05)
            seen["x"] = x
        t = threading.Thread(target=work, args=(7,), name="worker", daemon=True)
        assert t.ident is None and not t.is_alive()
        t.start()
        assert t.is_alive() and t.ident is not None
        assert t in threading.enumerate() and threading.active_count() == 2
        t.join(0.001)
        assert t.is_alive()
        t.join()
        assert not t.is_alive() and t not in threading.enumerate()
        assert seen["name"] == "worker" and seen["daemon"] and seen["main"] and seen["x"] == 7
        ident, get_ident, gid = seen["ident"]
        assert ident == get_ident == gid == t.ident
        assert "stopped" in repr(t)
        try:
            t.start()
        except RuntimeError:
            pass
        else:
            raise AssertionError("started twice")
        try:
            threading.current_thread().join()
        except RuntimeError:
            pass
        else:
            raise AssertionError("joined itself")
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_primitives_are_green(patched):
    patched(
        """
        import threading, time
        ticks = []
        def ticker():
            for _ in range(5):
                ticks.append(1)
                time.sleep(0.01)
        def during(fn):
            ticks.clear()
            t = threading.Thread(target=ticker)
            t.start()
            fn()
            t.join()
            return len(ticks)

        lock = threading.Lock()
        lock.acquire()
        threading.Timer(0.1, lock.release).start()
        assert during(lock.acquire) == 5
        assert lock.locked()
        assert not lock.acquire(timeout=0.05)
        assert not lock.acquire(False)
        lock.release()

        rlock = threading.RLock()
        with rlock, rlock:
            pass

        cond = threading.Condition()
        box = []
        def producer():
            time.sleep(0.1)
            with cond:
                box.append(1)
                cond.notify_all()
        threading.Thread(target=producer).start()
        with cond:
            assert during(lambda: cond.wait_for(lambda: box, timeout=5)) == 5

        ev = threading.Event()
        threading.Timer(0.1, ev.set).start()
        assert during(lambda: ev.wait(5)) == 5 and ev.is_set()
        assert not threading.Event().wait(0.01)

        sem = threading.BoundedSemaphore(2)
        sem.acquire(); sem.acquire()
        threading.Timer(0.1, sem.release).start()
        assert during(sem.acquire) == 5
        sem.release(); sem.release()
        try:
            sem.release()
        except ValueError:
            pass
        else:
            raise AssertionError

        barrier = threading.Barrier(3)
        order = []
        def party(i):
            time.sleep(0.01 * i)
            barrier.wait()
            order.append(i)
        parties = [threading.Thread(target=party, args=(i,)) for i in range(3)]
        for p in parties:
            p.start()
        for p in parties:
            p.join()
        assert sorted(order) == [0, 1, 2]

        fired = []
        timer = threading.Timer(0.05, fired.append, args=("x",))
        timer.start(); timer.join()
        assert fired == ["x"]
        cancelled = threading.Timer(10, fired.append, args=("y",))
        cancelled.start(); cancelled.cancel(); cancelled.join()
        assert fired == ["x"]
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_local_is_per_greenlet(patched):
    patched(
        """
        import threading, time, corolib
        data = threading.local()
        data.x = "main"
        results = []
        def work(i):
            data.x = i
            time.sleep(0.01)
            results.append(data.x)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(10)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert sorted(results) == list(range(10)) and data.x == "main"
        g = corolib.spawn(lambda: getattr(data, "x", None))
        assert g.get() is None
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_deadlock_is_reported_not_hung(patched):
    patched(
        """
        import threading, corolib
        lock = threading.Lock()
        lock.acquire()
        try:
            lock.acquire()
        except corolib.LoopExit:
            print("LoopExit")
        """
    ).expect(stdout="LoopExit\n")


def test_interpreter_waits_for_non_daemon_threads(patched):
    patched(
        """
        import threading, time
        def late():
            time.sleep(0.3)
            print("non-daemon done", flush=True)
        def forever():
            time.sleep(3600)
            print("never")
        threading.Thread(target=late).start()
        threading.Thread(target=forever, daemon=True).start()
        print("main done", flush=True)
        """
    ).expect(stdout="main done\nnon-daemon done\n")


def test_stuck_non_daemon_thread_at_exit_is_reported(patched):
    patched(
        """
        import threading
        lock = threading.Lock()
        lock.acquire()
        threading.Thread(target=lock.acquire).start()
        print("main done", flush=True)
        """
    ).expect(stdout="main done\n", stderr_contains=("non-daemon green threads are blocked",))


def test_green_thread_can_join_main_thread(patched):
    patched(
        """
        import threading
        main = threading.main_thread()
        def waiter():
            assert main.is_alive()
            main.join()
            print("main joined", flush=True)
        threading.Thread(target=waiter).start()
        print("main done", flush=True)
        """
    ).expect(stdout="main done\nmain joined\n")


def test_dummy_threads_do_not_accumulate(patched):
    patched(
        """
        import threading, corolib, gc
        names = corolib.joinall([corolib.spawn(lambda: threading.current_thread().name)
                                 for _ in range(50)])
        assert all(g.value.startswith("Dummy-") for g in names)
        corolib.sleep(0)
        gc.collect()
        assert len(threading.enumerate()) == 1, threading.enumerate()
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_threads_started_before_patching_keep_working(run_python):
    run_python(
        """
        import threading, time
        stop = threading.Event()
        lock = threading.Lock()
        counts = []
        def worker():
            n = 0
            while not stop.is_set():
                with lock:
                    n += 1
                time.sleep(0.005)
            counts.append((n, threading.current_thread().name))
        early = threading.Thread(target=worker, name="early")
        early.start()
        import warnings
        warnings.simplefilter("ignore")
        from corolib import monkey
        monkey.patch_all()
        # the real thread now sleeps in its own hub; the main thread is green
        time.sleep(0.2)
        stop.set()
        early.join()
        n, name = counts[0]
        assert n > 5 and name == "early", counts
        assert not early.is_alive()
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_real_os_threads_remain_available(patched):
    patched(
        """
        import threading, time
        from corolib.threadpool import ThreadPool
        start_real = monkey.get_original("_thread", "start_new_thread")
        real_lock = monkey.get_original("_thread", "allocate_lock")()
        real_lock.acquire()
        native = []
        def in_os_thread():
            native.append(threading.get_native_id())
            real_lock.release()
        start_real(in_os_thread, ())
        while not real_lock.acquire(False):
            time.sleep(0.01)
        assert native and native[0] != threading.get_native_id()
        pool = ThreadPool(2)
        assert pool.apply(threading.get_native_id) != threading.get_native_id()
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_green_lock_shared_with_os_threads(patched):
    patched(
        """
        import threading, time
        from corolib.threadpool import ThreadPool
        lock = threading.Lock()
        counter = [0]
        def bump(n):
            for _ in range(n):
                with lock:
                    v = counter[0]
                    counter[0] = v + 1
        pool = ThreadPool(4)
        results = [pool.spawn(bump, 2000) for _ in range(4)]
        greens = [threading.Thread(target=bump, args=(2000,)) for _ in range(4)]
        for t in greens: t.start()
        for t in greens: t.join()
        for r in results: r.get()
        assert counter[0] == 16000, counter
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_concurrent_futures_thread_pool(patched):
    patched(
        """
        import time
        from concurrent.futures import ThreadPoolExecutor
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=50) as ex:
            results = list(ex.map(lambda i: (time.sleep(0.2), i)[1], range(100)))
        assert results == list(range(100))
        elapsed = time.monotonic() - started
        assert elapsed < 1.5, elapsed
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_logging_locks_are_green_when_imported_first(run_python):
    run_python(
        """
        import logging, sys
        handler = logging.StreamHandler(sys.stdout)
        logging.getLogger().addHandler(handler)
        from corolib import monkey
        monkey.patch_all()
        import corolib.thread
        assert isinstance(handler.lock, corolib.thread.RLock), handler.lock
        assert isinstance(logging._lock, corolib.thread.RLock), logging._lock
        logging.getLogger().warning("logged")
        """
    ).expect(stdout="logged\n")


@pytest.mark.parametrize("where", ["main", "thread"])
def test_fork_in_patched_process(patched, where):
    patched(
        f"""
        import os, threading, time
        faulthandler.cancel_dump_traceback_later()  # its thread would make fork() warn
        def fork_and_wait():
            pid = os.fork()
            if pid == 0:
                t = threading.Thread(target=time.sleep, args=(0.05,))
                t.start(); t.join()
                me = threading.current_thread()
                assert me is threading.main_thread() or {where!r} == "thread"
                os._exit(7)
            _, status = os.waitpid(pid, 0)
            print(os.waitstatus_to_exitcode(status), flush=True)
        if {where!r} == "main":
            fork_and_wait()
        else:
            t = threading.Thread(target=fork_and_wait)
            t.start(); t.join()
        """
    ).expect(stdout="7\n")
