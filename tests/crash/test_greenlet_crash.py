"""Greenlet cases that could crash or abort the interpreter, each run in a
fresh interpreter: exit, shutdown, threads, signals, re-entrant starts."""

import signal


def test_process_exit_after_switching(run_python):
    r = run_python(
        """
        import corolib.greenlet as greenlet
        g = greenlet.greenlet(lambda x: x + 1)
        print(g.switch(1))
        """
    )
    r.expect(0, stdout="2\n")


def test_process_exit_without_switching(run_python):
    r = run_python(
        """
        import corolib.greenlet as greenlet
        greenlet.getcurrent()
        greenlet.greenlet(lambda: None)
        print("ok")
        """
    )
    r.expect(0, stdout="ok\n")


def test_thread_exit_after_switching(run_python):
    r = run_python(
        """
        import threading
        import corolib.greenlet as greenlet

        def body():
            g = greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch())
            g.switch()
            g.switch()

        for _ in range(20):
            t = threading.Thread(target=body)
            t.start()
            t.join()
        print("ok", flush=True)
        import os; os._exit(0)  # process exit is tested on its own
        """
    )
    r.expect(0, stdout="ok\n")


def test_shutdown_with_suspended_greenlets_in_several_threads(run_python):
    r = run_python(
        """
        import threading, time
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        parked = []          # greenlets outliving their (exited) threads
        hold = threading.Event()
        log = []

        def run(tag):
            try:
                getcurrent().parent.switch()
            finally:
                log.append(tag)

        def finished_thread(n):
            for i in range(5):
                g = greenlet.greenlet(run)
                g.switch(("exited", n, i))
                parked.append(g)

        def daemon_thread(n):
            mine = []
            for i in range(5):
                g = greenlet.greenlet(run)
                g.switch(("daemon", n, i))
                mine.append(g)
            hold.wait()      # still blocked when the interpreter exits

        for n in range(3):
            t = threading.Thread(target=finished_thread, args=(n,))
            t.start()
            t.join()
        for n in range(3):
            threading.Thread(target=daemon_thread, args=(n,), daemon=True).start()
        for i in range(5):
            g = greenlet.greenlet(run)
            g.switch(("main", i))
            parked.append(g)
        time.sleep(0.2)
        print("exiting")
        """
    )
    r.expect(0, stdout="exiting\n")


def test_suspended_greenlets_at_exit_are_not_run_during_finalisation(run_python):
    r = run_python(
        """
        import sys
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        def run():
            try:
                getcurrent().parent.switch()
            finally:
                # must not run once the interpreter is finalising; if it
                # does, it must at least not crash
                sys.stdout.write("")

        keep = [greenlet.greenlet(run) for _ in range(10)]
        for g in keep:
            g.switch()
        print("ok")
        """
    )
    r.expect(0, stdout="ok\n")


def test_greenlet_killed_from_atexit_handler_runs_finally(run_python):
    r = run_python(
        """
        import atexit
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        def run():
            try:
                getcurrent().parent.switch()
            finally:
                print("finally in atexit")

        box = [greenlet.greenlet(run)]
        box[0].switch()
        atexit.register(box.clear)
        print("main done")
        """
    )
    r.expect(0, stdout="main done\nfinally in atexit\n")


def test_sys_exit_inside_greenlet(run_python):
    r = run_python(
        """
        import sys
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        def inner():
            try:
                sys.exit(3)
            finally:
                print("inner finally")

        def outer():
            parked = greenlet.greenlet(lambda: getcurrent().parent.switch())
            parked.switch()
            greenlet.greenlet(inner).switch()

        try:
            greenlet.greenlet(outer).switch()
        finally:
            print("main finally")
        """
    )
    r.expect(3, stdout="inner finally\nmain finally\n")


def test_keyboard_interrupt_thrown_into_greenlet(run_python):
    r = run_python(
        """
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        def run():
            try:
                getcurrent().parent.switch()
            finally:
                print("greenlet finally")

        g = greenlet.greenlet(run)
        g.switch()
        g.throw(KeyboardInterrupt)
        """
    )
    assert r.returncode in (-signal.SIGINT, 128 + signal.SIGINT, 1), r.describe()
    assert "KeyboardInterrupt" in r.stderr, r.describe()
    assert r.stdout == "greenlet finally\n", r.describe()
    assert "Fatal Python error" not in r.stderr, r.describe()


def test_real_sigint_while_running_in_greenlet(run_python):
    r = run_python(
        """
        import os, signal
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        # Started from a background shell, SIGINT may arrive ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)

        def run():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(10**7):
                    pass
            except KeyboardInterrupt:
                print("caught in greenlet")
                getcurrent().parent.switch("back")

        g = greenlet.greenlet(run)
        print(g.switch())
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10**7):
            pass
        """
    )
    assert "caught in greenlet\nback\n" == r.stdout, r.describe()
    assert r.returncode in (-signal.SIGINT, 128 + signal.SIGINT, 1), r.describe()
    assert "Fatal Python error" not in r.stderr, r.describe()


def test_uncaught_exception_from_greenlet_reaches_top_level(run_python):
    r = run_python(
        """
        import corolib.greenlet as greenlet

        def run():
            raise ValueError("escaped")

        greenlet.greenlet(run).switch()
        """
    )
    r.expect(1, stderr_contains=("ValueError: escaped", "in run"))


def test_run_lookup_that_starts_the_greenlet_itself(run_python):
    # Looking up `run` switches into the very greenlet being started.
    r = run_python(
        """
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        class G(greenlet.greenlet):
            entered = False

            def __getattribute__(self, name):
                if name == "run" and not type(self).entered:
                    type(self).entered = True
                    print("nested start returned", self.switch("nested"))
                return object.__getattribute__(self, name)

            def run(self, *args):
                return ("ran with", args)

        g = G()
        print("outer got", g.switch("outer"))
        print("dead", g.dead, flush=True)
        import os; os._exit(0)  # the exit path is tested on its own
        """
    )
    r.expect(
        0,
        stdout="nested start returned ('ran with', ('nested',))\nouter got outer\ndead True\n",
    )


def test_run_callable_freed_at_start_with_switching_del(run_python):
    # The `run` given to a subclass that defines its own run method is
    # dropped when the greenlet starts; its __del__ switches greenlets.
    r = run_python(
        """
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        other = greenlet.greenlet(lambda: getcurrent().parent.switch("other"))

        class Callable:
            def __call__(self):
                return "not used"
            def __del__(self):
                print("del switches:", greenlet.greenlet(lambda: "inner").switch())

        class G(greenlet.greenlet):
            def run(self):
                return "method ran"

        g = G(Callable())
        print(g.switch())
        print("ok", flush=True)
        import os; os._exit(0)  # the exit path is tested on its own
        """
    )
    assert r.returncode == 0, r.describe()
    assert r.stdout.endswith("method ran\nok\n"), r.describe()


def test_replaced_run_dropped_inside_the_started_greenlet(run_python):
    # A subclass's run lookup replaces the run given to the constructor; the
    # replaced object's __del__ switches.  As in greenlet 3.5 it runs in the
    # greenlet being started (alive, running): its switch to main lands in
    # main's g.switch(), and run starts only when main switches back.
    r = run_python(
        """
        from corolib.greenlet import greenlet, getcurrent
        main = getcurrent()
        log = []
        class RunCallable:
            def __call__(self):
                pass
            def __del__(self):
                log.append(("del", getcurrent() is g, g.dead))
                log.append(("del got", main.switch("from del")))
        class G(greenlet):
            def __getattribute__(self, name):
                if name == "run":
                    return run_func
                return object.__getattribute__(self, name)
        def run_func():
            log.append("run")
            return "done"
        g = G(RunCallable())
        log.append(("main got", g.switch()))
        log.append(("main got", g.switch("again")))
        print(log, g.dead, flush=True)
        import os; os._exit(0)
        """
    )
    r.expect(
        0,
        stdout="[('del', True, False), ('main got', 'from del'), ('del got', 'again'), "
        "'run', ('main got', 'done')] True\n",
    )


def test_replaced_run_del_switching_to_a_third_greenlet(run_python):
    # The __del__ switches to a third greenlet that switches into the one
    # being started: it is running there (suspended in __del__), not dead.
    r = run_python(
        """
        from corolib.greenlet import greenlet, getcurrent
        main = getcurrent()
        log = []
        class RunCallable:
            def __call__(self):
                pass
            def __del__(self):
                h.switch()
                log.append("del back")
        class G(greenlet):
            def __getattribute__(self, name):
                if name == "run":
                    return run_func
                return object.__getattribute__(self, name)
        def run_func():
            log.append("g runs")
            return "g result"
        def h_body():
            log.append(("h sees", g.dead, bool(g)))
            log.append(("h got", g.switch()))
        h = greenlet(h_body)
        g = G(RunCallable())
        log.append(("main got", g.switch()))
        print(log, g.dead, h.dead, flush=True)
        import os; os._exit(0)
        """
    )
    r.expect(
        0,
        stdout="[('h sees', False, True), 'del back', 'g runs', ('main got', 'g result')] "
        "True False\n",
    )


def test_switch_inside_gc_finalizer_during_switch(run_python):
    # A __del__ run by the collector (triggered by allocations made while
    # switching) switches greenlets itself.
    r = run_python(
        """
        import gc
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        gc.set_threshold(1, 1, 1)
        count = 0

        class Cyc:
            def __init__(self):
                self.me = self
            def __del__(self):
                global count
                count += 1
                greenlet.greenlet(lambda: None).switch()
                parked = greenlet.greenlet(lambda: getcurrent().parent.switch())
                parked.switch()

        def run(x):
            for i in range(200):
                Cyc()
                x = getcurrent().parent.switch(x + 1)
            return x

        g = greenlet.greenlet(run)
        v = g.switch(0)
        while not g.dead:
            Cyc()
            v = g.switch(v)
        gc.set_threshold(700, 10, 10)
        gc.collect()
        print("ok", v, count > 100, flush=True)
        import os; os._exit(0)  # the exit path is tested on its own
        """
    )
    r.expect(0, stdout="ok 200 True\n")


def test_trashcan_with_switching_del(run_python):
    # Deeply nested containers are freed through CPython's trashcan; a
    # __del__ inside switches to greenlets that free deep structures too.
    r = run_python(
        """
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        def nested(depth, leaf):
            x = [leaf]
            for _ in range(depth):
                x = [x]
            return x

        def free_deep():
            while True:
                d = nested(5000, None)
                del d
                getcurrent().parent.switch()

        worker = greenlet.greenlet(free_deep)

        class Leaf:
            def __del__(self):
                worker.switch()

        for _ in range(20):
            d = nested(5000, Leaf())
            del d
        print("ok", flush=True)
        import os; os._exit(0)  # the exit path is tested on its own
        """,
        timeout=120,
    )
    r.expect(0, stdout="ok\n")


def test_deep_recursion_switching_at_every_level(run_python):
    r = run_python(
        """
        import sys
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        sys.setrecursionlimit(5000)

        def down(n, peer):
            if n == 0:
                return 0
            if n % 7 == 0:
                peer.switch()
            return down(n - 1, peer) + 1

        def body():
            while True:
                down(3000, getcurrent().parent)

        g = greenlet.greenlet(body)
        total = 0
        for _ in range(20):
            total += down(3000, g)
        print(total, flush=True)
        import os; os._exit(0)  # the exit path is tested on its own
        """,
        timeout=120,
    )
    r.expect(0, stdout=f"{20 * 3000}\n")


def test_python_debug_allocator_basic_run(run_python):
    r = run_python(
        """
        import os
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent
        for _ in range(1000):
            g = greenlet.greenlet(lambda: getcurrent().parent.switch())
            g.switch()
            del g
        print("ok", flush=True)
        os._exit(0)
        """,
        env={"PYTHONMALLOC": "debug"},
    )
    r.expect(0, stdout="ok\n")


def test_fork_with_suspended_greenlets(run_python):
    # The child process resumes greenlets suspended before the fork.
    r = run_python(
        """
        import os
        import corolib.greenlet as greenlet
        from corolib.greenlet import getcurrent

        def run(tag):
            n = 0
            while True:
                n += getcurrent().parent.switch((tag, n))

        gs = [greenlet.greenlet(run) for _ in range(5)]
        for i, g in enumerate(gs):
            g.switch(i)
        pid = os.fork()
        if pid == 0:
            out = [g.switch(1) for g in gs]
            ok = out == [(i, 1) for i in range(5)]
            os.write(1, b"child ok\\n" if ok else repr(out).encode() + b"\\n")
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        out = [g.switch(2) for g in gs]
        print("parent", out == [(i, 2) for i in range(5)], os.waitstatus_to_exitcode(status),
              flush=True)
        os._exit(0)  # the exit path is tested on its own
        """
    )
    r.expect(0, stdout="child ok\nparent True 0\n")
