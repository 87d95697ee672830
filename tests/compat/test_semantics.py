"""gevent semantics a port relies on, each compared with gevent 26.9's behaviour."""

from __future__ import annotations

import gc
import os
import queue
import signal
import socket
import sys
import threading
import time

import pytest

import corolib
from corolib import Timeout, socket as cosocket, subprocess
from corolib.hub import Waiter
from corolib.queue import Channel, PriorityQueue, Queue
from corolib.sync import AsyncResult, BoundedSemaphore, Event, Semaphore

# ---- Timeout ----------------------------------------------------------------------


def test_timeout_str_as_gevent():
    assert str(Timeout(1)) == "1 second"
    assert str(Timeout(2)) == "2 seconds"
    assert str(Timeout(2, "msg")) == "2 seconds: msg"
    assert str(Timeout(2, ValueError("v"))) == "2 seconds: v"
    assert str(Timeout(2, False)) == "2 seconds (silent)"
    assert str(Timeout(None)) == ""


def test_timeout_with_a_message_raises_itself():
    t = Timeout(0.01, "boom")
    with pytest.raises(Timeout) as info:
        with t:
            corolib.sleep(5)
    assert info.value is t
    assert str(info.value) == "0.01 seconds: boom"


def test_a_timeout_instance_is_accepted_as_timeout():
    event = Event()
    start = time.monotonic()
    assert event.wait(timeout=Timeout(0.02)) is False
    assert time.monotonic() - start >= 0.02
    with pytest.raises(Timeout):
        AsyncResult().get(timeout=Timeout(0.01))
    g = corolib.spawn(corolib.sleep, 5)
    g.join(timeout=Timeout(0.01))
    assert not g.ready()
    g.kill()
    with pytest.raises(queue.Empty):
        Queue().get(timeout=Timeout(0.01))
    assert Semaphore(0).acquire(timeout=Timeout(0.01)) is False


# ---- Greenlet ----------------------------------------------------------------------


def test_greenlet_started_and_bool_as_gevent():
    g = corolib.Greenlet(lambda: 1)
    assert (bool(g), g.started) == (False, False)
    g.start()
    assert (bool(g), g.started) == (True, True)  # scheduled counts
    g.join()
    assert (bool(g), g.started, g.dead) == (False, False, True)
    killed = corolib.spawn(corolib.sleep, 5)
    killed.kill()
    assert (killed.started, bool(killed), killed.dead) == (False, False, True)


def test_kill_with_a_non_exception_value(capsys):
    g = corolib.spawn(corolib.sleep, 5)
    corolib.sleep(0)
    g.kill(1)
    assert g.dead
    assert type(g.exception) is BaseException and g.exception.args == (1,)
    assert "BaseException" in capsys.readouterr().err
    gs = [corolib.spawn(corolib.sleep, 5) for _ in range(2)]
    corolib.sleep(0)
    corolib.killall(gs, "stop")
    assert all(g.dead for g in gs)
    capsys.readouterr()


def test_kill_with_an_exc_info_triple(capsys):
    g = corolib.spawn(corolib.sleep, 5)
    corolib.sleep(0)
    try:
        raise KeyError("k")
    except KeyError:
        g.kill(sys.exc_info())
    assert isinstance(g.exception, KeyError)
    capsys.readouterr()


def test_greenlet_as_a_context_manager(capsys):
    with corolib.spawn(lambda: 5) as g:
        pass
    assert g.value == 5
    with pytest.raises(ValueError):
        with corolib.spawn(corolib.sleep, 5) as g2:
            corolib.sleep(0)
            raise ValueError("out")
    assert g2.dead and isinstance(g2.exception, ValueError)
    capsys.readouterr()


def test_minimal_ident_small_and_reused():
    gs = [corolib.spawn(lambda: None) for _ in range(3)]
    idents = [g.minimal_ident for g in gs]
    assert sorted(idents) == idents and len(set(idents)) == 3
    assert max(idents) < 100
    lowest = idents[0]
    corolib.joinall(gs)
    del gs
    gc.collect()
    assert corolib.spawn(lambda: None).minimal_ident <= lowest + 2


def test_exc_info_shape():
    assert corolib.spawn(lambda: 1).exc_info is None
    r = AsyncResult()
    assert r.exc_info == ()


# ---- signal_handler --------------------------------------------------------------------


def test_signal_handler_rejects_a_non_callable():
    with pytest.raises(TypeError, match="callable"):
        corolib.signal_handler(signal.SIGUSR1, 5)


def test_signal_handler_exception_reaches_main(run_python):
    run_python(
        """
        import os, signal, corolib
        def handler():
            raise ValueError("from handler")
        corolib.signal_handler(signal.SIGUSR1, handler)
        os.kill(os.getpid(), signal.SIGUSR1)
        try:
            corolib.sleep(5)
        except ValueError as exc:
            print("main got", exc)
        """,
        timeout=30,
    ).expect(stdout="main got from handler\n", stderr_contains=("ValueError",))


# ---- queues ----------------------------------------------------------------------------


def test_queue_subscriptable_and_queue_attribute():
    assert Queue[int] is not None and Channel[str] is not None
    q: Queue = Queue()
    q.put(1)
    q.put(2)
    assert list(q.queue) == [1, 2]
    pq = PriorityQueue()
    pq.put(3)
    pq.put(1)
    assert sorted(pq.queue) == [1, 3]


# ---- semaphores are waitable ------------------------------------------------------------


def test_semaphore_rawlink_and_wait():
    sem = BoundedSemaphore(1)
    assert sem.ready()
    sem.acquire()
    assert not sem.ready()
    seen: list[object] = []
    sem.rawlink(seen.append)
    releaser = corolib.spawn_later(0.01, sem.release)
    assert corolib.wait([sem], timeout=5) == [sem]
    corolib.sleep(0)
    assert seen == [sem]
    releaser.join()
    sem.rawlink(seen.append)
    sem.unlink(seen.append)
    assert sem.linkcount() == 0


# ---- iwait, Waiter, Hub --------------------------------------------------------------------


def test_iwait_as_a_context_manager_unlinks():
    events = [Event() for _ in range(3)]
    events[0].set()
    with corolib.iwait(events) as it:
        assert next(it) is events[0]
    assert [e.linkcount() for e in events] == [0, 0, 0]


def test_waiter():
    w = Waiter()
    corolib.spawn_later(0.01, w.switch, 42)
    assert w.get() == 42 and w.ready() and w.successful()
    w = Waiter()
    corolib.spawn(w.throw, KeyError("k"))
    with pytest.raises(KeyError):
        w.get()


def test_hub_loop_methods():
    hub = corolib.get_hub()
    loop = hub.loop
    assert loop.now() > 0
    loop.update_now()
    calls: list[object] = []
    cb = loop.run_callback(calls.append, "cb")
    stopped = loop.run_callback(calls.append, "stopped")
    stopped.stop()
    timer = loop.timer(0.01)
    timer.start(calls.append, "timer")
    assert hub.wait(loop.timer(0.02)) is None
    assert calls == ["cb", "timer"] and not cb.pending
    a, b = socket.socketpair()
    try:
        io = loop.io(a.fileno(), 1)
        b.send(b"x")
        hub.wait(io)
        assert a.recv(1) == b"x"
        asy = loop.async_()
        asy.start(calls.append, "async")
        threading.Thread(target=asy.send).start()
        deadline = time.monotonic() + 10
        while "async" not in calls and time.monotonic() < deadline:
            corolib.sleep(0.01)
        assert calls[-1] == "async"
        asy.close()
    finally:
        a.close()
        b.close()
    assert hub.threadpool.spawn(lambda: 7).get() == 7


# ---- sockets ------------------------------------------------------------------------------


def test_wait_read_raises_socket_timeout():
    a, b = socket.socketpair()
    try:
        with pytest.raises(socket.timeout):
            cosocket.wait_read(a.fileno(), timeout=0.01)
        with pytest.raises(ValueError, match="t"):
            cosocket.wait_read(a, timeout=0.01, timeout_exc=ValueError("t"))
        cosocket.wait_write(a.fileno(), timeout=1)
        cosocket.wait_readwrite(a.fileno(), timeout=1)
        waiter = corolib.spawn(cosocket.wait_read, a.fileno())
        corolib.sleep(0)
        assert cosocket.cancel_wait(a.fileno(), ValueError("cancelled")) == 1
        with pytest.raises(ValueError, match="cancelled"):
            waiter.get()
    finally:
        a.close()
        b.close()


# ---- subprocess ---------------------------------------------------------------------------


def test_popen_is_waitable():
    procs = [
        subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({d})"])
        for d in (0.3, 0.05)
    ]
    assert not procs[0].ready()
    first = corolib.wait(procs, count=1, timeout=30)
    assert first == [procs[1]]
    assert sorted(corolib.wait(procs, timeout=30), key=id) == sorted(procs, key=id)
    assert all(p.ready() and p.returncode == 0 for p in procs)


# ---- monkey -------------------------------------------------------------------------------


def test_patch_all_keywords_and_twice_warning(run_python):
    run_python(
        """
        import warnings, select
        from corolib import monkey
        monkey.patch_all(aggressive=False, sys=True, builtins=True, contextvars=True)
        print(hasattr(select, "epoll"), monkey.is_module_patched("sys"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            monkey.patch_all(aggressive=False, sys=True, builtins=True, contextvars=True)
            print(len(caught))
            monkey.patch_all(socket=False)
            print([str(w.message)[:40] for w in caught])
        """,
        timeout=60,
    ).expect(stdout=("True True\n0\n['Patching more than once will result in t']\n"))


def test_monkey_command_line_flags(run_python, tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(
        "import socket, time, sys\n"
        "from corolib import monkey\n"
        "patched = monkey.is_module_patched\n"
        "print(patched('socket'), patched('time'), sys.argv[1:])\n"
    )
    import subprocess as std

    out = std.run(
        [sys.executable, "-m", "corolib.monkey", "--no-socket", "--no-dns", str(script), "a"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "False True ['a']\n"
    bad = std.run(
        [sys.executable, "-m", "corolib.monkey", "--no-such", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "unknown option --no-such" in bad.stderr


def test_patch_module(run_python):
    run_python(
        """
        import types, sys
        from corolib import monkey
        target = types.ModuleType("target_mod"); target.f = lambda: "orig"
        source = types.ModuleType("source_mod"); source.f = lambda: "new"
        sys.modules["target_mod"] = target
        monkey.patch_module(target, source, items=["f"])
        print(target.f(), monkey.get_original("target_mod", "f")())
        """
    ).expect(stdout="new orig\n")


def test_add_spawn_callback():
    seen: list[object] = []
    corolib.Greenlet.add_spawn_callback(seen.append)
    corolib.Greenlet.add_spawn_callback(seen.append)  # once only
    try:
        g = corolib.spawn(lambda: 1)
        later = corolib.Greenlet(lambda: 2)
        later.start_later(0.001)
        assert seen == [g, later]
        corolib.joinall([g, later])
    finally:
        corolib.Greenlet.remove_spawn_callback(seen.append)
    corolib.spawn(lambda: 3).join()
    assert len(seen) == 2
    corolib.Greenlet.remove_spawn_callback(seen.append)  # unknown: no error


def test_channel_interleaving_as_gevent():
    # Two producers, one consumer: the order of events gevent 26.9 gives.
    log: list[str] = []
    ch: Channel[tuple[int, int]] = Channel()

    def producer(n: int) -> None:
        for i in range(3):
            log.append(f"p{n} put {i}")
            ch.put((n, i))
            log.append(f"p{n} put {i} done")

    def consumer() -> None:
        for _ in range(6):
            log.append(f"got {ch.get()}")

    corolib.joinall(
        [corolib.spawn(producer, 1), corolib.spawn(producer, 2), corolib.spawn(consumer)]
    )
    assert log == [
        "p1 put 0", "p2 put 0", "got (1, 0)", "p1 put 0 done", "p1 put 1", "got (2, 0)",
        "p2 put 0 done", "p2 put 1", "got (1, 1)", "p1 put 1 done", "p1 put 2", "got (2, 1)",
        "p2 put 1 done", "p2 put 2", "got (1, 2)", "p1 put 2 done", "got (2, 2)", "p2 put 2 done",
    ]  # fmt: skip


def test_channel_interleaving_with_waiting_getters_as_gevent():
    log: list[str] = []
    ch: Channel[int] = Channel()

    def consumer(n: int) -> None:
        for _ in range(2):
            log.append(f"c{n} get")
            log.append(f"c{n} got {ch.get()}")

    def producer() -> None:
        for i in range(4):
            log.append(f"put {i}")
            ch.put(i)
            log.append(f"put {i} done")

    corolib.joinall(
        [corolib.spawn(consumer, 1), corolib.spawn(consumer, 2), corolib.spawn(producer)]
    )
    assert log == [
        "c1 get", "c2 get", "put 0", "c1 got 0", "c1 get", "put 0 done", "put 1", "c2 got 1",
        "c2 get", "put 1 done", "put 2", "c1 got 2", "put 2 done", "put 3", "c2 got 3",
        "put 3 done",
    ]  # fmt: skip


def test_loop_io_watcher_stops_quietly(capsys):
    hub = corolib.get_hub()
    a, b = socket.socketpair()
    try:
        calls: list[int] = []
        io = hub.loop.io(a.fileno(), 1)
        io.start(calls.append, 1)
        io.stop()  # before its greenlet ever ran
        b.send(b"x")
        io = hub.loop.io(a.fileno(), 1)
        io.start(calls.append, 2)
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            corolib.sleep(0.001)
        io.stop()  # while it runs (the fd stays readable: level-triggered)
        corolib.sleep(0.01)
        assert calls and set(calls) == {2}
        assert not io.active
    finally:
        a.close()
        b.close()
    assert capsys.readouterr().err == ""


def test_gevent_spellings_exist():
    import corolib.hub
    import corolib.monkey
    import corolib.os
    import corolib.selectors

    assert corolib.getswitchinterval() == sys.getswitchinterval()
    assert corolib.fork is os.fork and corolib.os.fork_gevent is os.fork
    assert corolib.selectors.GeventSelector is corolib.selectors.DefaultSelector
    assert corolib.hub.signal is corolib.signal_handler
    assert corolib.hub.GreenletExit is corolib.GreenletExit
    assert corolib.monkey.patch_builtins() is True
    g = corolib.spawn(lambda: 1)
    assert g.loop is corolib.get_hub().loop
    g.join()


def test_a_hub_whose_loop_was_used_can_be_freed():
    # The loop facade must not keep a destroyed hub alive.
    import weakref

    def in_thread() -> object:
        hub = corolib.get_hub()
        hub.loop.run_callback(lambda: None)
        corolib.sleep(0)
        assert corolib.spawn(lambda: 1).minimal_ident >= 0
        return weakref.ref(hub)

    box: list[object] = []
    t = threading.Thread(target=lambda: box.append(in_thread()))
    t.start()
    t.join(30)
    gc.collect()
    assert box[0]() is None  # type: ignore[operator]
