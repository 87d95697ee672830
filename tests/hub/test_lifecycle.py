"""What happens to parked greenlets when their hub goes.

- ``Hub.destroy()`` kills every greenlet parked in the hub (GreenletExit
  where it waits, finally blocks run, parking again raises RuntimeError);
  the thread's main greenlet, if parked, gets RuntimeError when next
  switched to.  A wake-up after that is a no-op.
- When a thread exits, what is still parked in its hub is released: the
  greenlets report dead and are freed with their frames (fds closed by the
  normal finalizers), and no WaitQueue keeps a pointer into the dead hub.
- At interpreter shutdown the loop of a daemon thread that may be running
  it is never freed (leaked on purpose).

The cases that used to crash or read freed memory run in a child process;
this module is part of ``make sanitize`` (AddressSanitizer), whose
environment the children inherit.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
import weakref

import pytest
from hubutil import popen_py, run_py

import corolib
import corolib.select
import corolib.socket
from corolib import GreenletExit, get_hub, sleep, spawn
from corolib.greenlet import greenlet
from corolib.hub import WaitQueue, get_hub_if_exists


def _no_sanitizer_report(proc) -> None:
    assert "Sanitizer" not in proc.stderr, proc.stderr
    assert "runtime error" not in proc.stderr, proc.stderr


# ---- Hub.destroy() ------------------------------------------------------------


def test_wake_of_a_waitqueue_after_destroy_is_a_no_op():
    # Used to divide by zero in the freed ready ring (SIGFPE).
    proc = run_py(
        """
        import corolib
        from corolib import _core
        from corolib.greenlet import greenlet
        wq = _core.WaitQueue()
        g = greenlet(wq.wait)
        hub = _core.get_hub()
        hub.run_callback(g.switch)
        corolib.sleep(0.01)
        assert len(wq) == 1
        hub.destroy()
        print("waiters", len(wq), "dead", g.dead)
        print("woken", wq.wake(), wq.wake_all(), wq.wake_threadsafe())
        """
    )
    _no_sanitizer_report(proc)
    assert proc.stdout.split() == ["waiters", "0", "dead", "True", "woken", "0", "0", "0"]


def test_killing_after_destroy_does_not_touch_the_dead_hub():
    # A sleeper and a joiner of it; killing the sleeper after destroy() used
    # to wake the joiner into the freed ring (SIGFPE).
    proc = run_py(
        """
        import corolib
        from corolib.greenlet import greenlet as raw
        a = corolib.spawn(corolib.sleep, 100)
        b = corolib.spawn(a.join)
        corolib.sleep(0.01)
        corolib.get_hub().destroy()
        print(a.dead, b.dead, type(a.value).__name__, type(b.value).__name__)
        r = raw.throw(a)
        print("throw ->", type(r).__name__)
        """
    )
    _no_sanitizer_report(proc)
    assert proc.stdout.splitlines() == [
        "True True GreenletExit GreenletExit",
        "throw -> GreenletExit",
    ]


def test_destroy_kills_every_parked_greenlet_and_runs_finally_blocks():
    hub = get_hub()
    a, b = corolib.socket.socketpair()
    q = WaitQueue()
    ended = []

    def waits(name, fn, *args):
        try:
            fn(*args)
        except GreenletExit as exc:
            ended.append((name, str(exc)))
            raise
        finally:
            try:
                sleep(0)  # parking in a destroyed hub is refused
            except RuntimeError as exc:
                ended.append((name, "finally: " + str(exc)))

    sleeper = spawn(waits, "sleep", sleep, 30)
    waiter = spawn(waits, "waitqueue", q.wait)
    reader = spawn(waits, "recv", a.recv, 10)
    selector = spawn(waits, "select", corolib.select.select, [a], [], [], 30)
    joiner = spawn(waits, "join", sleeper.join)
    raw = greenlet(q.wait)
    hub.run_callback(raw.switch)
    sleep(0.01)
    assert hub.statistics()["parked"] == 6
    hub.destroy()
    tasks = [sleeper, waiter, reader, selector, joiner]
    assert all(t.dead and not t for t in tasks)
    assert all(isinstance(t.value, GreenletExit) for t in tasks)
    assert raw.dead
    names = sorted(n for n, what in ended if not what.startswith("finally"))
    assert names == ["join", "recv", "select", "sleep", "waitqueue"]
    assert all("destroy" in what for _, what in ended), ended
    assert sum(what == "finally: the hub has been destroyed" for _, what in ended) == 5
    assert len(q) == 0 and q.wake() == 0
    assert hub.statistics()["parked"] == 0
    assert get_hub_if_exists() is None
    # The fds are usable again from a new hub.
    b.sendall(b"x")
    assert a.recv(1) == b"x"
    a.close()
    b.close()


def test_destroy_kills_queued_starts_without_running_them():
    ran = []
    g = spawn(ran.append, 1)
    get_hub().destroy()
    assert g.dead and not g and ran == []


def test_main_parked_while_a_greenlet_destroys_the_hub_gets_runtime_error():
    hub = get_hub()
    ref = weakref.ref(hub)

    def destroyer():
        get_hub().destroy()
        return "done"

    d = spawn(destroyer)
    with pytest.raises(RuntimeError, match="destroyed"):
        sleep(30)  # d ends; its parent, the dead hub, hands over to main
    assert d.dead and d.value == "done"
    assert get_hub_if_exists() is None
    del hub, d
    gc.collect()
    assert ref() is None
    assert get_hub().statistics()["destroyed"] is False


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.destroy(True),
        lambda h: h.destroy(destroy_loop=None),
        lambda h: h.destroy(destroy_loop=False),
    ],
)
def test_destroy_accepts_gevents_destroy_loop(call):
    hub = get_hub()
    call(hub)
    assert hub.statistics()["destroyed"] is True
    with pytest.raises(TypeError):
        hub.destroy(nope=1)


def test_destroy_frees_what_was_parked():
    class Marker:
        pass

    refs = []

    def body(m):
        sleep(30)

    for _ in range(3):
        m = Marker()
        g = spawn(body, m)
        refs += [weakref.ref(m), weakref.ref(g)]
        del m, g
    sleep(0.001)
    get_hub().destroy()
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)


# ---- thread exit -------------------------------------------------------------


def _in_thread(fn):
    box = {}

    def run():
        box["result"] = fn()

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    assert not t.is_alive()
    return box["result"]


def test_greenlets_parked_when_their_thread_exits_are_freed():
    class Marker:
        pass

    refs = []

    def body():
        q = WaitQueue()
        parked = [
            (lambda m: sleep(1000)),
            (lambda m: q.wait()),
            (lambda m: corolib.select.select([r], [], [])),
            (lambda m: get_hub().join()),
        ]
        for fn in parked:
            m = Marker()
            g = spawn(fn, m)
            refs.extend([weakref.ref(m), weakref.ref(g)])
            del m, g
        joined = spawn(sleep, 1000)
        joiner = spawn(joined.join)
        raw = greenlet(q.wait)
        get_hub().run_callback(raw.switch)
        refs.extend([weakref.ref(joined), weakref.ref(joiner), weakref.ref(raw)])
        del joined, joiner, raw
        sleep(0.01)
        return get_hub().statistics()["parked"]

    r, w = os.pipe()
    try:
        assert _in_thread(body) == 7
    finally:
        os.close(r)
        os.close(w)
    gc.collect()
    alive = [r() for r in refs if r() is not None]
    assert alive == []


# Closed by their finalizer, which says so (ResourceWarning: unclosed socket).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_sockets_held_by_parked_greenlets_are_closed_at_thread_exit():
    def fds():
        return len(os.listdir("/proc/self/fd"))

    def body():
        a, b = corolib.socket.socketpair()
        spawn(a.recv, 10)
        del a
        sleep(0.001)
        b.close()

    _in_thread(body)  # the hub's own fds exist from here on
    gc.collect()
    before = fds()
    for _ in range(20):
        _in_thread(body)
    gc.collect()
    assert fds() <= before


def test_task_of_an_exited_thread_reports_dead():
    def body():
        main = corolib.greenlet.getcurrent()
        raw = greenlet(main.switch)
        raw.switch()
        task = spawn(sleep, 100)
        sleep(0.01)
        never_ran = spawn(sleep, 100)  # only scheduled when the thread ends
        return raw, task, never_ran

    raw, task, never_ran = _in_thread(body)
    assert raw.dead and not raw
    assert task.dead and not task
    assert not task.ready()
    assert never_ran.dead and not never_ran


def test_destroy_called_again_from_a_finally_block_it_runs():
    ends = []

    def body():
        try:
            sleep(30)
        finally:
            get_hub().destroy()  # the outer call finishes the job
            ends.append("finally")

    gs = [spawn(body) for _ in range(3)]
    sleep(0.001)
    get_hub().destroy()
    assert ends == ["finally"] * 3
    assert all(g.dead for g in gs)


def test_waitqueue_left_by_an_exited_thread():
    # Its waiter's node pointed into the freed hub (ASan: use-after-free).
    proc = run_py(
        """
        import threading, gc
        from corolib import _core, LoopExit
        from corolib.greenlet import greenlet
        wq = _core.WaitQueue()
        def thread_main():
            g = greenlet(wq.wait)
            try:
                g.switch()
            except LoopExit:
                pass
            assert len(wq) == 1
        t = threading.Thread(target=thread_main); t.start(); t.join()
        gc.collect()
        junk = [bytearray(256) for _ in range(20000)]
        print(len(wq), wq.wake_threadsafe(), wq.wake(), wq.wake_all())
        # and the queue is usable from this thread
        g = greenlet(wq.wait)
        _core.get_hub().run_callback(g.switch)
        _core.sleep(0)
        print(len(wq), wq.wake(value="v"))
        _core.sleep(0)
        print(g.dead)
        """
    )
    _no_sanitizer_report(proc)
    assert proc.stdout.split() == ["0", "0", "0", "0", "1", "1", "True"]


# ---- interpreter shutdown ------------------------------------------------------


def _threads_of(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return 0


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_interpreter_exit_while_a_daemon_thread_runs_its_loop(tmp_path):
    # The main thread finalises while the daemon sits in uv_run without the
    # GIL; the daemon's hub (and its loop) used to be freed under it (ASan:
    # use-after-free).  libc pause() registered with Py_AtExit keeps the
    # process alive after finalisation, until the daemon has run past the
    # point where it would touch the loop again (it exits when it tries to
    # take the GIL back).
    proc = popen_py(
        """
        import threading, time, ctypes
        import corolib

        def daemon():
            while True:
                corolib.sleep(0.0005)

        t = threading.Thread(target=daemon, daemon=True)
        t.start()
        time.sleep(0.05)
        corolib.spawn(corolib.sleep, 100)  # main's own hub has a parked task too
        corolib.sleep(0.001)
        libc = ctypes.CDLL(None)
        ctypes.pythonapi.Py_AtExit(ctypes.cast(libc.pause, ctypes.c_void_p))
        print("main exiting", flush=True)
        """,
        cwd=str(tmp_path),
    )
    try:
        assert proc.stdout.readline().strip() == "main exiting"
        deadline = time.monotonic() + 60
        while proc.poll() is None and _threads_of(proc.pid) > 1:
            assert time.monotonic() < deadline, "the daemon thread never left its loop"
            time.sleep(0.01)
        exited = proc.poll()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert exited is None, f"the child died (exit {exited}):\n{err}"
    assert proc.returncode == -signal.SIGTERM, err
    assert "Sanitizer" not in err, err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_from_a_thread_does_not_finalize_the_parents_parked_greenlets():
    # In the child, the main thread's hub is torn down (CPython clears the
    # thread states it did not fork): what is parked there belongs to the
    # parent, and its finalizers must not run a second time in the child.
    proc = run_py(
        """
        import os, sys, threading, warnings
        import corolib
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads

        class Noisy:
            def __del__(self):
                where = b"child" if os.getpid() != parent else b"parent"
                os.write(1, b"finalized in %s\\n" % where)

        parent = os.getpid()

        def body(obj):
            corolib.sleep(30)

        corolib.spawn(body, Noisy())  # only its park node refers to it
        corolib.sleep(0.001)
        box = []

        def forker():
            pid = os.fork()
            if pid == 0:
                os.write(1, b"child ran\\n")
                os._exit(0)
            box.append(os.waitpid(pid, 0)[1])

        t = threading.Thread(target=forker)
        t.start()
        t.join()
        print("child status", box[0], flush=True)
        """
    )
    _no_sanitizer_report(proc)
    lines = proc.stdout.splitlines()
    assert "child ran" in lines and "child status 0" in lines, proc.stdout
    assert "finalized in child" not in lines, proc.stdout
