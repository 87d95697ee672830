"""Signals and fork, each in a child process: Ctrl-C in the hub, handlers, forked hubs."""

import signal
import tempfile
import textwrap
import time

import pytest
from hubutil import popen_py, run_py

# What the child does while the parent sends SIGINT.  It prints "ready" when
# it is about to block, "blocked" once its main greenlet is parked in the hub
# (ANNOUNCE), and "KI <seconds>" if it catches KeyboardInterrupt (only in the
# "caught" variants).
BLOCKERS = {
    "sleep": "sleep(100)",
    "joinall": "joinall([spawn(sleep, 100)])",
    "hub_join": "spawn(sleep, 100); get_hub().join()",
    "wait_readable": "r, w = os.pipe(); wait_readable(r)",
    "greenlet_get": "spawn(sleep, 100).get()",
    "waitqueue": "spawn(sleep, 100); WaitQueue().wait()",
    "timeout_block": "with Timeout(100): sleep(200)",
    "busy_greenlets": (
        "gs = [spawn(lambda: [sleep(0.001) for _ in range(100000)]) for _ in range(20)]; "
        "joinall(gs)"
    ),
}

# A greenlet spawned before the main greenlet blocks first runs once the main
# greenlet has parked in the hub: then it tells the parent, which waits for that
# line instead of sleeping.
ANNOUNCE = """
def _announce_blocked():
    from corolib import get_hub
    assert get_hub().statistics()["parked"] >= 1
    print("blocked", flush=True)
"""

CHILD = (
    ANNOUNCE
    + """
import os, sys, time
from corolib import sleep, spawn, joinall, get_hub, wait_readable, Timeout
from corolib.hub import WaitQueue
catch = sys.argv[1] == "catch"
print("ready", flush=True)
spawn(_announce_blocked)
t0 = None
try:
    t0 = time.monotonic()
    {blocker}
except KeyboardInterrupt:
    if not catch:
        raise
    print("KI %.3f" % (time.monotonic() - t0), flush=True)
    sys.exit(42)
print("returned without KeyboardInterrupt", flush=True)
"""
)


def _send_sigint_when_ready(proc):
    for expected in ("ready", "blocked"):
        line = proc.stdout.readline()
        assert line.strip() == expected, (
            line,
            proc.stderr.read() if proc.poll() is not None else "",
        )
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except Exception as exc:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"child did not exit after SIGINT\n{err}") from exc
    return time.monotonic() - t0, out, err


@pytest.mark.parametrize("where", sorted(BLOCKERS))
def test_sigint_uncaught_exits_promptly_with_keyboardinterrupt(where, timing):
    with tempfile.TemporaryDirectory() as cwd:
        proc = popen_py(CHILD.format(blocker=BLOCKERS[where]), "raise", cwd=cwd)
        took, out, err = _send_sigint_when_ready(proc)
    # Uncaught KeyboardInterrupt: CPython dies of SIGINT (or 130 on old ones).
    assert proc.returncode in (-signal.SIGINT, 130), (proc.returncode, out, err)
    assert "KeyboardInterrupt" in err
    assert "returned without" not in out
    timing.report(f"SIGINT -> exit {took * 1e3:.1f} ms")
    assert took < 10


@pytest.mark.parametrize("where", ["sleep", "joinall", "hub_join", "wait_readable"])
def test_sigint_raises_in_main_at_once(where, timing):
    with tempfile.TemporaryDirectory() as cwd:
        proc = popen_py(CHILD.format(blocker=BLOCKERS[where]), "catch", cwd=cwd)
        took, out, err = _send_sigint_when_ready(proc)
    assert proc.returncode == 42, (out, err)
    waited = float(out.split("KI ")[1].split()[0])
    timing.report(f"blocked {waited:.3f} s, then KeyboardInterrupt; exit after {took * 1e3:.1f} ms")
    assert waited < 5


def test_python_handler_runs_promptly_in_the_hub(timing):
    proc = run_py(
        """
        import os, signal, threading, time
        from corolib import get_hub, sleep, spawn
        from corolib.hub import WaitQueue
        q = WaitQueue()
        got = []
        def handler(signum, frame):
            got.append(time.monotonic())
            q.wake()
        signal.signal(signal.SIGUSR1, handler)
        sent = []
        hub = get_hub()
        def shoot():
            # Once the main greenlet and the keep-alive sleeper are parked, the
            # hub goes to sit in epoll.
            deadline = time.monotonic() + 20
            while hub.statistics()["parked"] < 2 and time.monotonic() < deadline:
                time.sleep(0.001)
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGUSR1)
        threading.Thread(target=shoot).start()
        keepalive = spawn(sleep, 30)  # the hub sits in epoll with a 30 s timer
        assert q.wait(timeout=20) is True
        keepalive.kill()
        print("latency %.6f" % (got[0] - sent[0]))
        """
    )
    latency = float(proc.stdout.split()[1])
    timing.report(f"SIGUSR1 handler latency {latency * 1e3:.2f} ms")
    assert latency < 2


def test_signal_handler_spawns_a_greenlet_and_cancel_restores():
    run_py(
        """
        import os, signal, time
        from corolib import sleep, signal_handler, getcurrent, get_hub
        from corolib.hub import WaitQueue
        q = WaitQueue()
        calls = []
        def on_usr1(tag, key=None):
            calls.append((tag, key, getcurrent() is not get_hub()))
            sleep(0.001)  # a greenlet: it may block
            q.wake()
        previous = signal.getsignal(signal.SIGUSR1)
        h = signal_handler(signal.SIGUSR1, on_usr1, "tag", key="k")
        get_hub().call_later(0.05, os.kill, os.getpid(), signal.SIGUSR1)
        assert q.wait(timeout=10) is True
        assert calls == [("tag", "k", True)], calls
        h.cancel()
        assert signal.getsignal(signal.SIGUSR1) == previous
        h.cancel()  # twice: harmless
        print("ok")
        """
    )


def test_sigint_while_greenlets_busy_in_python():
    # Ctrl-C arrives while a greenlet runs Python code (not in the hub): the
    # interpreter raises it there; it must still end the program.
    with tempfile.TemporaryDirectory() as cwd:
        proc = popen_py(
            ANNOUNCE
            + textwrap.dedent(
                """
            import time
            from corolib import spawn, sleep, joinall
            def spin():
                end = time.monotonic() + 100
                while time.monotonic() < end:
                    sum(range(1000))
                    sleep(0)
            print("ready", flush=True)
            spawn(_announce_blocked)
            joinall([spawn(spin) for _ in range(3)])
            """
            ),
            cwd=cwd,
        )
        took, out, err = _send_sigint_when_ready(proc)
    assert "KeyboardInterrupt" in err
    assert proc.returncode in (-signal.SIGINT, 130, 1), (proc.returncode, err)
    assert took < 10


# ---- fork ---------------------------------------------------------------------------------


def test_forked_child_runs_its_own_hub():
    proc = run_py(
        """
        import os, sys, time
        from corolib import get_hub, sleep, spawn, joinall, wait_readable, cancel_wait
        hub = get_hub()
        bg = spawn(sleep, 0.3)  # parked in the parent when it forks
        sleep(0)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                assert get_hub() is hub
                t0 = time.monotonic()
                sleep(0.02)
                assert time.monotonic() - t0 >= 0.02
                r, w = os.pipe()
                def writer():
                    sleep(0.01)
                    os.write(w, b"c")
                spawn(writer)
                assert wait_readable(r, timeout=5) is True
                cancel_wait(r)
                gs = [spawn(lambda i: i * i, i) for i in range(100)]
                assert [g.get() for g in gs] == [i * i for i in range(100)]
                bg.join(timeout=5)  # the inherited sleeper wakes here too
                assert bg.dead
                assert hub.statistics()["parked"] == 0
                code = 0
            except BaseException:
                import traceback; traceback.print_exc()
            finally:
                os._exit(code)
        # parent: wait for the child cooperatively
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            sleep(0.005)
        assert os.waitstatus_to_exitcode(status) == 0, status
        bg.join()
        r, w = os.pipe()
        os.write(w, b"p")
        assert wait_readable(r, timeout=5) is True
        cancel_wait(r)
        print("ok")
        """
    )
    assert proc.stdout.strip() == "ok"


def test_fork_from_a_spawned_greenlet():
    run_py(
        """
        import os
        from corolib import spawn, sleep, get_hub
        def forker():
            pid = os.fork()
            if pid == 0:
                try:
                    sleep(0.01)
                    g = spawn(lambda: 7)
                    os._exit(g.get())
                except BaseException:
                    import traceback; traceback.print_exc()
                    os._exit(1)
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return os.waitstatus_to_exitcode(status)
                sleep(0.005)
        assert spawn(forker).get() == 7
        print("ok")
        """
    )


def test_child_does_not_steal_the_parents_fd_events():
    # Parent and child both watch the same inherited pipe; the child destroys
    # its hub and exits.  The parent must still hear its fd.
    run_py(
        """
        import os
        from corolib import spawn, sleep, get_hub, wait_readable, cancel_wait
        r, w = os.pipe()
        waiter = spawn(wait_readable, r)
        sleep(0)
        pid = os.fork()
        if pid == 0:
            try:
                waiter.kill()
                cancel_wait(r)
                get_hub().destroy()
            finally:
                os._exit(0)
        while not os.waitpid(pid, os.WNOHANG)[0]:
            sleep(0.005)
        os.write(w, b"x")
        waiter.join(timeout=5)
        assert waiter.value is True, waiter
        cancel_wait(r)
        print("ok")
        """
    )


def test_sigint_in_forked_child():
    run_py(
        """
        import os, signal, time
        from corolib import sleep, spawn, wait_readable, cancel_wait
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            def announce():  # runs once the main greenlet is parked in the hub
                os.write(w, b"p")
            try:
                spawn(announce)
                sleep(100)
                os._exit(1)
            except KeyboardInterrupt:
                os._exit(42)
        assert wait_readable(r, timeout=20) is True
        cancel_wait(r)
        assert os.read(r, 1) == b"p"
        os.kill(pid, signal.SIGINT)
        t0 = time.monotonic()
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            sleep(0.005)
        assert os.waitstatus_to_exitcode(status) == 42, status
        assert time.monotonic() - t0 < 5
        # The parent still hears its own signals.
        hits = []
        signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
        from corolib import get_hub
        get_hub().call_later(0.01, os.kill, os.getpid(), signal.SIGUSR1)
        t0 = time.monotonic()
        sleep(0.2)
        assert hits == [1]
        print("ok")
        """
    )


def test_reinit_is_harmless_and_fork_without_a_hub():
    run_py(
        """
        import os
        import corolib
        corolib.reinit()  # no hub yet
        corolib.sleep(0.001)
        corolib.reinit()  # hub, same process
        corolib.sleep(0.001)
        pid = os.fork()
        if pid == 0:
            try:
                corolib.reinit()  # explicit, after the automatic one
                corolib.sleep(0.001)
                os._exit(0)
            except BaseException:
                os._exit(1)
        while not os.waitpid(pid, os.WNOHANG)[0]:
            corolib.sleep(0.005)
        print("ok")
        """
    )


def test_many_forks_do_not_leak_in_the_parent():
    run_py(
        """
        import os
        from corolib import sleep, get_hub
        def nfds():
            return len(os.listdir("/proc/self/fd"))
        get_hub()
        before = nfds()
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                sleep(0.001)
                os._exit(0)
            while not os.waitpid(pid, os.WNOHANG)[0]:
                sleep(0.002)
        assert nfds() == before, (before, nfds())
        assert get_hub().statistics()["parked"] == 0
        print("ok")
        """
    )


def test_handler_exception_reaches_main():
    run_py(
        """
        import os, signal, threading, time
        from corolib import sleep, spawn
        def handler(*args):
            raise ValueError("from the handler")
        signal.signal(signal.SIGUSR1, handler)
        def shoot():
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGUSR1)
        for where in ("sleep", "join"):
            threading.Thread(target=shoot).start()
            g = spawn(sleep, 5)
            t0 = time.monotonic()
            try:
                sleep(5) if where == "sleep" else g.join()
            except ValueError as exc:
                assert str(exc) == "from the handler"
                assert time.monotonic() - t0 < 3
            else:
                raise AssertionError("the handler's exception was lost")
            g.kill()
        print("ok")
        """
    )


def test_ctrl_c_not_lost_to_a_timeout_expiring_in_the_same_round():
    proc = run_py(
        """
        import ctypes, os, signal, threading, time
        from corolib import Timeout, sleep, spawn_raw
        libc = ctypes.CDLL(None)
        def shoot():
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=shoot).start()
        # The thread sits in C (no Python code runs the handler) past both
        # the deadline and the signal: the hub sees both in one round.
        spawn_raw(libc.usleep, 300000)
        try:
            try:
                with Timeout(0.05):
                    sleep(10)
            except Timeout:
                sleep(1)  # a Ctrl-C still pending would surface here
                print("KeyboardInterrupt lost")
        except KeyboardInterrupt:
            print("KeyboardInterrupt")
        """,
        timeout=30,
    )
    assert proc.stdout.strip() == "KeyboardInterrupt"


@pytest.mark.parametrize("how", ["fork", "preexec_fn"])
def test_fork_from_a_worker_thread_keeps_ctrl_c_in_the_parent(how):
    # The child's clean-up of the main thread's hub (not its own: it forked
    # from another thread) must leave the epoll instance it shares with the
    # parent alone; it used to unregister the parent's signal fd.
    proc = run_py(
        """
        import os, signal, subprocess, sys, threading, time
        import corolib
        signal.signal(signal.SIGINT, signal.default_int_handler)
        corolib.sleep(0.01)  # the main thread's hub watches its signal fd

        def forker():
            if sys.argv[1] == "fork":
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)
            else:
                subprocess.run(["true"], preexec_fn=lambda: None, check=True)
        t = threading.Thread(target=forker)
        t.start()
        t.join()

        def kick():
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=kick).start()
        t0 = time.monotonic()
        try:
            corolib.sleep(60)
        except KeyboardInterrupt:
            print("KeyboardInterrupt after %.1f s" % (time.monotonic() - t0))
        """,
        how,
        timeout=120,
    )
    took = float(proc.stdout.split()[2])
    assert took < 20, proc.stdout


def test_crossthread_wakeups_posted_before_fork_run_in_the_child():
    # Event.set() from another thread posts the wake-up to the waiter's hub;
    # forked before that hub ran it, the child must still run it (its
    # waiter is parked there and the flag is set), and later wake-ups from
    # the child's own threads must still wake its loop at once: the async
    # handle came through the fork marked "sent".
    proc = run_py(
        """
        import os, threading, time
        import corolib
        ev = corolib.Event()
        g = corolib.spawn(ev.wait)
        corolib.sleep(0.01)  # g is parked on ev
        t = threading.Thread(target=ev.set)
        t.start()
        t.join()  # posted; the hub has not run it
        pid = os.fork()
        if pid == 0:
            try:
                with corolib.Timeout(30):
                    g.join()
                second = corolib.Event()
                t0 = time.monotonic()
                threading.Timer(0.05, second.set).start()
                assert second.wait(60)
                took = time.monotonic() - t0
                os.write(1, b"child: woke, then %.1f s\\n" % took)
            except BaseException as exc:
                os.write(1, b"child: %r\\n" % (exc,))
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        g.join(30)
        print("parent:", ev.is_set(), g.dead)
        """,
        timeout=180,
    )
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("child: woke, then "), proc.stdout
    assert float(lines[0].split()[3]) < 20, proc.stdout
    assert lines[1] == "parent: True True", proc.stdout
