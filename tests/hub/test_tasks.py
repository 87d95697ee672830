"""Tasks: Greenlet, spawn and friends, links, errors, joinall/killall/wait/iwait."""

import threading
import time

import pytest
from hubutil import SCALE, refs_back, run_py, settle

import corolib
from corolib import (
    Greenlet,
    GreenletExit,
    Timeout,
    getcurrent,
    iwait,
    joinall,
    kill,
    killall,
    sleep,
    spawn,
    spawn_later,
    spawn_raw,
    wait,
)
from corolib.hub import WaitQueue, get_hub

# ---- Greenlet basics ------------------------------------------------------------------


def test_spawn_runs_with_args_and_kwargs():
    def fn(a, b, *, c):
        return (a, b, c, getcurrent())

    g = spawn(fn, 1, 2, c=3)
    assert isinstance(g, Greenlet)
    assert g.args == (1, 2) and g.kwargs == {"c": 3}
    assert not g.ready() and g.started and not g.dead
    a, b, c, where = g.get()
    assert (a, b, c) == (1, 2, 3) and where is g
    assert g.ready() and g.successful() and g.dead
    assert g.value == (1, 2, 3, g) and g.exception is None
    assert g.args == () and g.kwargs == {}  # released once done
    assert g.parent is get_hub()


def test_greenlet_constructor_and_start():
    g = Greenlet(lambda x: x * 2, 21)
    assert not g.started and not g.ready() and not g.dead and not g
    g.start()
    assert g.started and g
    g.start()  # twice: no effect
    assert g.get() == 42
    assert not g


def test_greenlet_run_keyword():
    g = Greenlet(run=lambda: "ran")
    g.start()
    assert g.get() == "ran"


def test_greenlet_subclass_run_method():
    class Doubler(Greenlet):
        def _run(self, x):
            return x * 2

    g = Doubler(None, 5)
    g.start()
    assert g.get() == 10
    assert Doubler.spawn(None, 7).get() == 14


def test_greenlet_name_and_repr():
    def work():
        pass

    g = Greenlet(work, 1, k="v")
    assert g.name.startswith("Greenlet-")
    g.name = "worker-1"
    assert g.name == "worker-1"
    r = repr(g)
    assert "worker-1" in r and "work" in r and "1" in r and "k='v'" in r
    g.start()
    g.join()


def test_spawn_order_is_fifo():
    log = []
    gs = [spawn(log.append, i) for i in range(100)]
    joinall(gs)
    assert log == list(range(100))


def test_spawn_never_switches():
    log = []
    spawn(log.append, 1)
    assert log == []
    sleep(0)
    assert log == [1]


def test_get_nonblocking_and_timeout():
    g = spawn(sleep, 5)
    with pytest.raises(Timeout):
        g.get(block=False)
    t0 = time.monotonic()
    with pytest.raises(Timeout):
        g.get(timeout=0.01)
    assert time.monotonic() - t0 >= 0.01
    assert g.join(timeout=0.01) is None
    assert not g.ready()
    g.kill()


def test_get_reraises_the_same_exception(capfd):
    err = KeyError("k")

    def fail():
        raise err

    g = spawn(fail)
    g.join()  # join never raises
    assert g.ready() and not g.successful() and g.dead
    assert g.exception is err and g.value is None
    with pytest.raises(KeyError) as info:
        g.get()
    assert info.value is err
    with pytest.raises(KeyError):
        g.get(block=False)
    assert g.exc_info[1] is err


def test_join_self_and_join_from_hub_are_refused():
    def selfjoin():
        with pytest.raises(RuntimeError):
            getcurrent().join()
        return "ok"

    assert spawn(selfjoin).get() == "ok"
    hub = get_hub()
    seen = []
    g = spawn(sleep, 0.01)
    hub.run_callback(lambda: seen.append(_catch(g.join)))
    sleep(0)
    assert isinstance(seen[0], corolib.BlockingSwitchOutError)
    g.join()


def _catch(fn):
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        return exc
    return None


def test_many_spawn_join_cycles_leave_nothing():
    n = int(20000 * SCALE) or 100
    arg = object()
    with refs_back(arg):
        for _ in range(n // 100):
            gs = [spawn(lambda x: x, arg) for _ in range(100)]
            joinall(gs)
            assert all(g.value is arg for g in gs)
        del gs
    assert get_hub().statistics()["parked"] == 0


# ---- kill ------------------------------------------------------------------------------


def test_kill_before_start_never_runs_and_links_fire():
    ran = []
    linked = []
    g = spawn(ran.append, 1)
    g.link(linked.append)
    g.rawlink(linked.append)
    g.kill()
    assert g.ready() and g.dead and g.successful()
    assert isinstance(g.value, GreenletExit) and g.exception is None
    settle()
    assert ran == []
    assert linked == [g, g]


def test_kill_unstarted_greenlet_never_runs_even_if_started_later():
    ran = []
    g = Greenlet(ran.append, 1)
    g.kill()
    assert g.dead and g.ready()
    g.start()
    settle()
    assert ran == []


def test_kill_start_later_cancels_its_timer():
    ran = []
    g = spawn_later(0.02, ran.append, 1)
    assert get_hub().statistics()["timers"] == 1
    g.kill()
    assert get_hub().statistics()["timers"] == 0
    sleep(0.04)
    assert ran == [] and g.dead


def test_kill_with_exception_before_start():
    g = spawn(lambda: None)
    g.kill(ValueError("never ran"))
    assert g.ready() and not g.successful()
    assert isinstance(g.exception, ValueError)


def test_kill_running_greenlet():
    cleaned = []

    def body():
        try:
            sleep(10)
        finally:
            cleaned.append(1)

    g = spawn(body)
    sleep(0)
    g.kill()
    assert g.dead and cleaned == [1]
    assert g.successful() and isinstance(g.value, GreenletExit)


def test_kill_with_custom_exception_is_reported(capfd):
    g = spawn(sleep, 10)
    sleep(0)
    g.kill(KeyError("stop"))
    assert isinstance(g.exception, KeyError)
    err = capfd.readouterr().err
    assert err.count("KeyError: 'stop'") == 1


def test_kill_nonblocking_and_timeout():
    def stubborn():
        try:
            sleep(10)
        except GreenletExit:
            sleep(1)
            return "survived"

    g = spawn(stubborn)
    sleep(0)
    g.kill(block=False)
    assert not g.dead
    g2 = spawn(stubborn)
    sleep(0)
    t0 = time.monotonic()
    g2.kill(timeout=0.01)
    assert time.monotonic() - t0 >= 0.01
    assert not g2.dead  # kill() gave up waiting; it survives its GreenletExit
    assert g.get() == "survived" and g2.get() == "survived"


def test_kill_dead_greenlet_is_noop():
    g = spawn(lambda: 1)
    g.join()
    g.kill()
    assert g.value == 1


def test_kill_self_raises_in_self():
    def body():
        getcurrent().kill(ValueError("me"))
        return "not reached"

    g = spawn(body)
    g.join()
    assert isinstance(g.exception, ValueError)


def test_kill_with_a_non_exception_value_as_gevent():
    # gevent raises any other value wrapped in a BaseException.
    g = spawn(sleep, 0)
    g.kill("text")
    assert g.dead and type(g.exception) is BaseException
    assert g.exception.args == ("text",)


def test_module_kill_raw_and_task():
    raw = spawn_raw(sleep, 10)
    task = spawn(sleep, 10)
    sleep(0)
    kill(raw)
    kill(task)
    settle()
    assert raw.dead and task.dead


def test_module_kill_raw_not_yet_started():
    ran = []
    raw = spawn_raw(ran.append, 1)
    kill(raw)
    settle()
    assert ran == []


# ---- links -----------------------------------------------------------------------------


def test_links_fire_in_fifo_order():
    log = []
    g = spawn(lambda: 5)
    for i in range(10):
        g.link(lambda src, i=i: log.append(i))
    g.join()
    settle()
    assert log == list(range(10))


def test_rawlinks_fire_in_fifo_order_in_the_hub():
    log = []
    hub = get_hub()
    g = spawn(lambda: 5)
    for i in range(10):
        g.rawlink(lambda src, i=i: log.append((i, getcurrent() is hub)))
    g.join()
    settle()
    assert log == [(i, True) for i in range(10)]


def test_mixed_links_fire_in_fifo_order():
    log = []
    g = spawn(lambda: 5)
    g.link(lambda src: log.append("link-1"))
    g.rawlink(lambda src: log.append("raw-2"))
    g.link(lambda src: log.append("link-3"))
    g.join()
    settle()
    assert log == ["link-1", "raw-2", "link-3"]


def test_link_can_unlink_a_later_one():
    log = []
    g = spawn(lambda: 5)

    def later(src):
        log.append("later")

    g.rawlink(lambda src: src.unlink(later))
    g.rawlink(later)
    g.join()
    settle()
    assert log == []


def test_link_runs_in_a_new_greenlet_and_may_block():
    hub = get_hub()
    seen = []

    def cb(src):
        sleep(0.005)
        seen.append((src, getcurrent() is not hub))

    g = spawn(lambda: 1)
    g.link(cb)
    g.join()
    sleep(0.02)
    assert seen == [(g, True)]


def test_link_value_and_link_exception(capfd):
    log = []
    ok = spawn(lambda: "v")
    bad = spawn(lambda: 1 / 0)
    for g in (ok, bad):
        g.link_value(lambda src: log.append(("value", src)))
        g.link_exception(lambda src: log.append(("exception", src)))
    joinall([ok, bad])
    settle()
    assert sorted(log, key=lambda x: x[0]) == [("exception", bad), ("value", ok)]


def test_link_after_ready_fires():
    g = spawn(lambda: 1)
    g.join()
    log = []
    g.link(log.append)
    g.rawlink(log.append)
    settle()
    assert log == [g, g]


def test_unlink_and_has_links():
    log = []
    g = spawn(lambda: 1)

    def cb(src):
        log.append(src)

    g.link(cb)
    g.rawlink(cb)
    assert g.has_links()
    g.unlink(cb)
    assert not g.has_links()
    g.unlink(cb)  # absent: fine
    g.join()
    settle()
    assert log == []


def test_link_bad_callback():
    g = spawn(lambda: 1)
    for meth in (g.link, g.rawlink, g.link_value, g.link_exception):
        with pytest.raises(TypeError):
            meth(5)
    g.join()


def test_error_in_rawlink_is_reported_and_others_still_run(capfd):
    log = []
    g = spawn(lambda: 1)

    def bad(src):
        raise ValueError("link broke")

    g.rawlink(bad)
    g.rawlink(log.append)
    g.join()
    settle()
    assert log == [g]
    assert capfd.readouterr().err.count("ValueError: link broke") == 1


def test_links_refcounts():
    arg = object()

    def cb(src):
        return arg

    with refs_back(arg, cb):
        for _ in range(20):
            g = spawn(lambda: arg)
            g.link(cb)
            g.rawlink(cb)
            g.link_value(cb)
            g.join()
            settle()
        del g


# ---- errors ------------------------------------------------------------------------------


def test_exception_printed_once_with_repr_and_traceback(capfd):
    def failing_function():
        raise ZeroDivisionError("once only")

    g = spawn(failing_function)
    g.name = "fails-once"
    g.join()
    with pytest.raises(ZeroDivisionError):
        g.get()
    settle()
    err = capfd.readouterr().err
    assert err.count("ZeroDivisionError: once only") == 1
    assert "Traceback" in err and "failing_function" in err
    assert "fails-once" in err  # the greenlet's repr
    assert isinstance(g.exception, ZeroDivisionError)


def test_greenletexit_is_success_and_not_printed(capfd):
    exit_exc = GreenletExit("bye")

    def leave():
        raise exit_exc

    g = spawn(leave)
    g.join()
    assert g.successful() and g.value is exit_exc and g.exception is None
    assert capfd.readouterr().err == ""


def test_spawn_raw_exception_names_the_greenlet(capfd):
    def raw_fails():
        raise ValueError("raw failure")

    g = spawn_raw(raw_fails)
    settle()
    assert g.dead
    err = capfd.readouterr().err
    assert err.count("ValueError: raw failure") == 1
    assert "the hub failed" not in err
    assert hex(id(g))[2:] in err.lower()


def test_spawn_raw_runs_and_is_bare():
    out = []
    g = spawn_raw(out.append, 1)
    assert not isinstance(g, Greenlet)
    assert g.parent is get_hub()
    settle()
    assert out == [1] and g.dead
    with pytest.raises(TypeError):
        spawn_raw(5)


def test_spawn_raw_kwargs():
    out = []
    spawn_raw(lambda a, b: out.append((a, b)), 1, b=2)
    settle()
    assert out == [(1, 2)]


@pytest.mark.parametrize("exc_name", ["KeyboardInterrupt", "SystemExit"])
@pytest.mark.parametrize("main_waits_in", ["sleep", "joinall", "hub_join", "get"])
def test_system_errors_in_a_greenlet_reach_main(exc_name, main_waits_in):
    proc = run_py(
        f"""
        import sys, time
        from corolib import spawn, sleep, joinall, get_hub
        def fail():
            sleep(0.01)
            raise {exc_name}("from greenlet")
        g = spawn(fail)
        other = spawn(sleep, 30)
        t0 = time.monotonic()
        try:
            if "{main_waits_in}" == "sleep":
                sleep(30)
            elif "{main_waits_in}" == "joinall":
                joinall([other])
            elif "{main_waits_in}" == "hub_join":
                get_hub().join()
            else:
                other.get()
        except {exc_name} as exc:
            took = time.monotonic() - t0
            assert took < 10, took
            assert str(exc) == "from greenlet", exc
            assert isinstance(g.exception, {exc_name})
            print("main got it")
            other.kill()
            sys.exit(0)
        print("main did not get it")
        """,
        timeout=60,
    )
    assert proc.stdout.strip() == "main got it"


# ---- joinall / killall / wait / iwait -------------------------------------------------


def test_joinall_returns_the_finished():
    gs = [spawn(sleep, d) for d in (0.01, 0.02, 5)]
    done = joinall(gs, timeout=0.1)
    assert done == gs[:2]
    killall(gs)
    assert joinall(gs) == gs


def test_joinall_count():
    gs = [spawn(sleep, d) for d in (0.05, 0.01, 0.03)]
    done = joinall(gs, count=2)
    assert done == [gs[1], gs[2]]
    killall(gs)


def test_joinall_raise_error(capfd):
    def fail():
        sleep(0.01)
        raise KeyError("first")

    gs = [spawn(sleep, 10), spawn(fail)]
    with pytest.raises(KeyError):
        joinall(gs, raise_error=True)
    assert not gs[0].ready()
    killall(gs)


def test_joinall_empty_and_ready():
    assert joinall([]) == []
    g = spawn(lambda: 1)
    g.join()
    assert joinall([g]) == [g]


@pytest.mark.parametrize("fn", ["joinall", "wait", "iwait"])
def test_negative_timeout_is_refused_everywhere(fn):
    g = spawn(sleep, 0.01)
    try:
        with pytest.raises(ValueError):
            if fn == "joinall":
                joinall([g], timeout=-1)
            elif fn == "wait":
                wait([g], timeout=-1)
            else:
                list(iwait([g], timeout=-1))
    finally:
        g.join()


def test_killall(capfd):
    gs = [spawn(sleep, 10) for _ in range(10)]
    sleep(0)
    killall(gs)
    assert all(g.dead and isinstance(g.value, GreenletExit) for g in gs)
    gs = [spawn(sleep, 10) for _ in range(3)]
    killall(gs, block=False)  # not yet started: they never run
    assert all(g.dead for g in gs)
    gs = [spawn(sleep, 10) for _ in range(3)]
    sleep(0)
    killall(gs, block=False)
    assert not any(g.dead for g in gs)  # running: they die when the hub gets to them
    settle()
    assert all(g.dead for g in gs)
    gs = [spawn(sleep, 10) for _ in range(3)]
    sleep(0)
    killall(gs, exception=KeyError)
    assert all(isinstance(g.exception, KeyError) for g in gs)


def test_killall_mixed_raw_and_tasks():
    raw = [spawn_raw(sleep, 10) for _ in range(3)]
    tasks = [spawn(sleep, 10) for _ in range(3)]
    sleep(0)
    killall(raw + tasks)
    settle()
    assert all(g.dead for g in raw + tasks)


def test_iwait_yields_in_completion_order():
    gs = [spawn(sleep, d) for d in (0.03, 0.01, 0.02)]
    assert list(iwait(gs)) == [gs[1], gs[2], gs[0]]


def test_iwait_timeout_and_count():
    gs = [spawn(sleep, d) for d in (5, 0.01)]
    t0 = time.monotonic()
    assert list(iwait(gs, timeout=0.05)) == [gs[1]]
    assert time.monotonic() - t0 >= 0.05
    assert list(iwait(gs, count=0)) == []
    killall(gs)


def test_iwait_unlinks_when_abandoned():
    gs = [spawn(sleep, d) for d in (0.01, 0.02)]
    it = iwait(gs)
    assert next(it) is gs[0]
    it.close()
    assert not gs[1].has_links()
    joinall(gs)


def test_wait_objects_and_no_objects():
    gs = [spawn(sleep, d) for d in (0.02, 0.01)]
    assert wait(gs, count=1) == [gs[1]]
    assert set(wait(gs)) == set(gs)
    spawn(sleep, 0.01)
    assert wait() is True
    spawn(sleep, 0.3)
    assert wait(timeout=0.01) is False
    assert wait(timeout=5) is True


def test_iwait_with_waitqueue_free_objects():
    # iwait accepts anything with ready/rawlink/unlink: e.g. finished greenlets only.
    g = spawn(lambda: 1)
    g.join()
    assert list(iwait([g, g])) == [g, g]


# ---- spawn_later / start_later -------------------------------------------------------------


def test_spawn_later_never_early():
    t0 = time.monotonic_ns()
    g = spawn_later(0.02, time.monotonic_ns)
    assert g.started and not g.ready()
    assert g.get() - t0 >= 0.02e9
    g2 = Greenlet(time.monotonic_ns)
    t0 = time.monotonic_ns()
    g2.start_later(0.01)
    assert g2.get() - t0 >= 0.01e9


@pytest.mark.parametrize(
    "bad, exc", [(-1, ValueError), (float("nan"), ValueError), ("x", TypeError)]
)
def test_spawn_later_bad_delay(bad, exc):
    with pytest.raises(exc):
        spawn_later(bad, print)
    assert get_hub().statistics()["timers"] == 0


def test_spawn_bad_arguments():
    with pytest.raises(TypeError):
        spawn(5)
    with pytest.raises(TypeError):
        spawn()
    with pytest.raises(TypeError):
        Greenlet(5)
    g = spawn(sleep, 0)
    for bad, exc in ((-1, ValueError), (float("nan"), ValueError), ("1", TypeError)):
        with pytest.raises(exc):
            g.join(timeout=bad)
        with pytest.raises(exc):
            g.get(timeout=bad)
    g.join()


@pytest.mark.parametrize("started", [True, False])
def test_kill_bad_timeout_is_refused_before_killing(started):
    g = spawn(sleep, 10)
    if started:
        sleep(0)
    try:
        with pytest.raises(ValueError):
            g.kill(timeout=-1)
        settle()
        assert not g.dead
    finally:
        g.kill()


# ---- threads --------------------------------------------------------------------------------


def test_greenlet_of_another_thread_cannot_be_joined():
    box = {}
    ready = threading.Event()
    finish = threading.Event()

    def body():
        box["g"] = spawn(WaitQueue().wait)
        sleep(0)
        ready.set()
        finish.wait(30)
        box["g"].kill()
        get_hub().destroy()

    t = threading.Thread(target=body)
    t.start()
    assert ready.wait(30)
    try:
        with pytest.raises(corolib.greenlet.error):
            box["g"].join()
        with pytest.raises(corolib.greenlet.error):
            box["g"].kill()
    finally:
        finish.set()
        t.join(30)


def test_gevent_style_subclass_with_own_init():
    class Echo(Greenlet):
        def __init__(self, msg):
            Greenlet.__init__(self)
            self.msg = msg

        def _run(self):
            sleep(0.001)
            return self.msg

    g = Echo("hi")
    g.start()
    assert g.get() == "hi"
    assert Echo.spawn("again").get() == "again"


def test_greenletexit_subclass_kill_is_success():
    class Stop(GreenletExit):
        pass

    g = spawn(sleep, 10)
    sleep(0)
    g.kill(Stop)
    assert g.successful() and isinstance(g.value, Stop)


def test_uncaught_sys_exit_in_a_greenlet_ends_the_program_with_its_code():
    proc = run_py(
        """
        import sys
        from corolib import spawn, sleep, joinall
        spawn(lambda: sys.exit(7))
        joinall([spawn(sleep, 30)])
        print("not reached")
        """,
        check_rc=7,
    )
    assert "not reached" not in proc.stdout


def test_handle_error_override_gets_the_greenlet():
    hub = get_hub()
    seen = []
    hub.handle_error = lambda context, t, v, tb: seen.append((context, t, v))
    try:

        def fail():
            raise KeyError("to handler")

        g = spawn(fail)
        g.join()
        hub.run_callback(fail)
        settle()
    finally:
        del hub.handle_error
    assert seen[0][0] is g and seen[0][1] is KeyError
    assert seen[1][0] is fail and seen[1][1] is KeyError


# ---- every entry point lets go of what it was given (the ``refs`` fixture) --------------


def test_refs_fixture_sees_a_leak(refs):
    # The fixture itself: a deliberately kept reference is noticed.
    kept = []
    o = refs.obj()
    kept.append(o)
    with pytest.raises(AssertionError):
        refs.check()
    kept.clear()


def test_entry_points_release_their_arguments(refs):
    hub = get_hub()
    arg, value, exc_arg = refs.obj(), refs.obj(), refs.obj()
    link_cb, raw_cb = refs.callback(), refs.callback()

    def cb(*args, **kwargs):  # untracked: it holds `value`, which is tracked
        return value

    # spawn / Greenlet / kill before start / start_later
    spawn(cb, arg, k=arg).join()
    g = spawn(cb, arg)
    g.kill()
    sl = Greenlet(cb, arg)
    sl.start_later(10)
    sl.kill()
    later = spawn_later(10, cb, arg)
    later.kill()
    spawn_raw(cb, arg, k=arg)
    # links
    g = spawn(cb, arg)
    g.link(link_cb)
    g.rawlink(raw_cb)
    g.link_exception(link_cb)
    g.join()
    # callbacks and deadlines
    hub.run_callback(cb, arg)
    hub.call_later(0.001, cb, arg)
    hub.call_later(10, cb, arg).cancel()
    # wait queues and timeouts
    q = WaitQueue()
    w = spawn(q.wait)
    sleep(0)
    q.wake(1, value)
    w.join()
    with Timeout(0.001, KeyError(exc_arg)):
        try:
            sleep(1)
        except KeyError:
            pass
    assert corolib.with_timeout(1, cb, arg) is value
    sleep(0.005)
