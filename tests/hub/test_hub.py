"""The hub object: one per thread, callbacks, join, destroy, statistics, LoopExit."""

import gc
import os
import sys
import threading
import time
import weakref

import pytest
from hubutil import SCALE, refs_back, run_py, settle

import corolib
from corolib import LoopExit, getcurrent, sleep, spawn
from corolib.hub import WaitQueue, get_hub, get_hub_if_exists

# ---- the public surface -------------------------------------------------------


def test_corolib_reexports_the_hub_api():
    names = [
        "spawn",
        "spawn_later",
        "spawn_raw",
        "Greenlet",
        "joinall",
        "killall",
        "kill",
        "wait",
        "iwait",
        "sleep",
        "idle",
        "getcurrent",
        "Timeout",
        "with_timeout",
        "wait_readable",
        "wait_writable",
        "cancel_wait",
        "get_hub",
        "Hub",
        "LoopExit",
        "signal_handler",
        "reinit",
        "GreenletExit",
    ]
    missing = [n for n in names if not hasattr(corolib, n)]
    assert not missing
    import corolib.hub as hubmod

    assert hubmod.get_hub_if_exists is get_hub_if_exists
    assert corolib.get_hub is get_hub
    assert issubclass(LoopExit, Exception)


# ---- one hub per thread ----------------------------------------------------------


def test_get_hub_creates_once_per_thread():
    hub = get_hub()
    assert get_hub() is hub
    assert get_hub_if_exists() is hub
    assert isinstance(hub, corolib.Hub)
    assert hub.thread_ident == threading.get_ident()


def test_hub_cannot_be_constructed_twice_for_a_thread():
    get_hub()
    with pytest.raises(RuntimeError):
        corolib.Hub()


def test_one_hub_per_thread_in_four_threads():
    main_hub = get_hub()
    results = {}
    errors = []
    barrier = threading.Barrier(4)

    def body(i):
        try:
            assert get_hub_if_exists() is None
            hub = get_hub()
            assert get_hub() is hub
            barrier.wait(timeout=30)  # all four hubs exist at once
            gs = [spawn(sleep, 0.001 * (k % 5)) for k in range(50)]
            corolib.joinall(gs)
            assert all(g.successful() for g in gs)
            # Another thread's hub refuses work from here.
            with pytest.raises(corolib.greenlet.error):
                main_hub.run_callback(print)
            with pytest.raises(corolib.greenlet.error):
                main_hub.join(0)
            results[i] = (hub, hub.thread_ident == threading.get_ident(), hub.statistics())
            hub.destroy()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 4
    hubs = [r[0] for r in results.values()]
    assert len({id(h) for h in hubs}) == 4
    assert main_hub not in hubs
    for _hub, own_thread, stats in results.values():
        assert own_thread
        assert stats["parked"] == 0 and stats["ready"] == 0
    assert get_hub() is main_hub


def test_hub_of_an_exited_thread_releases_its_fds():
    def nfds():
        return len(os.listdir("/proc/self/fd"))

    get_hub()

    def body():
        corolib.joinall([spawn(sleep, 0.001) for _ in range(3)])

    before = nfds()
    for _ in range(10):
        t = threading.Thread(target=body)
        t.start()
        t.join(30)
    gc.collect()
    assert nfds() == before


def test_hub_of_an_exited_thread_is_freed():
    refs = []

    def body():
        refs.append(weakref.ref(get_hub()))
        corolib.joinall([spawn(sleep, 0.001) for _ in range(3)])

    for _ in range(5):
        t = threading.Thread(target=body)
        t.start()
        t.join(30)
    gc.collect()
    assert all(r() is None for r in refs)


# ---- callbacks -----------------------------------------------------------------


def test_run_callback_fifo_and_before_next_poll():
    hub = get_hub()
    log = []
    for i in range(10):
        hub.run_callback(log.append, i)
    assert log == []  # run_callback never switches
    sleep(0)
    assert log == list(range(10))


def test_run_callback_runs_in_the_hub():
    hub = get_hub()
    where = []
    hub.run_callback(lambda: where.append(getcurrent()))
    sleep(0)
    assert where == [hub]


def test_run_callback_before_io_poll():
    # Callbacks queued now run before the hub polls again: a callback queued
    # before a ready fd's waiter is resumed, in the same round.
    hub = get_hub()
    r, w = os.pipe()
    try:
        log = []
        os.write(w, b"x")

        def reader():
            corolib.wait_readable(r)
            log.append("io")

        spawn(reader)
        hub.run_callback(log.append, "cb")
        sleep(0.01)
        assert log == ["cb", "io"]
    finally:
        corolib.cancel_wait(r)
        os.close(r)
        os.close(w)


def test_blocking_inside_a_callback_is_refused(capfd):
    hub = get_hub()
    seen = []

    def cb():
        try:
            sleep(0.01)
        except BaseException as exc:  # noqa: BLE001
            seen.append(exc)

    hub.run_callback(cb)
    sleep(0)
    assert len(seen) == 1 and isinstance(seen[0], corolib.BlockingSwitchOutError)


def test_error_in_callback_is_reported_once_and_hub_goes_on(capfd):
    hub = get_hub()

    def bad():
        raise ZeroDivisionError("callback failed here")

    hub.run_callback(bad)
    log = []
    hub.run_callback(log.append, "after")
    sleep(0)
    assert log == ["after"]
    err = capfd.readouterr().err
    assert err.count("ZeroDivisionError: callback failed here") == 1
    assert "bad" in err  # names the callback


def test_run_callback_refcounts():
    hub = get_hub()
    arg = object()

    def fn(x):
        return x

    with refs_back(arg, fn):
        for _ in range(100):
            hub.run_callback(fn, arg)
        sleep(0)


@pytest.mark.parametrize("args", [(), (1,), (None, 1), ("not callable",)])
def test_run_callback_bad_arguments(args):
    hub = get_hub()
    with pytest.raises(TypeError):
        hub.run_callback(*args)
    with pytest.raises(TypeError):
        hub.run_callback_threadsafe(*args)


def test_run_callback_threadsafe_from_eight_threads():
    hub = get_hub()
    n_threads, per_thread = 8, int(2000 * SCALE) or 10
    got = []
    done = WaitQueue()
    total = n_threads * per_thread

    def cb(i, j):
        assert getcurrent() is hub
        got.append((i, j))
        if len(got) == total:
            done.wake()

    start = threading.Barrier(n_threads)

    def worker(i):
        start.wait(timeout=30)
        for j in range(per_thread):
            hub.run_callback_threadsafe(cb, i, j)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    # Polling with a timeout: the threads may not have posted yet, and a
    # callback not yet posted cannot keep the loop alive.
    while len(got) < total and time.monotonic() < deadline:
        done.wait(timeout=0.05)
    for t in threads:
        t.join(30)
    assert len(got) == total
    for i in range(n_threads):
        # FIFO per producing thread
        assert [j for (k, j) in got if k == i] == list(range(per_thread))


def test_run_callback_threadsafe_wakes_a_blocked_hub(timing):
    # The hub sits in uv_run with only a long timer; another thread's
    # callback must wake it at once.
    hub = get_hub()
    q = WaitQueue()
    stamp = []

    def poster():
        # Once the main greenlet is parked the hub goes to sit in uv_run.
        deadline = time.monotonic() + 20
        while hub.statistics()["parked"] < 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        stamp.append(time.monotonic())
        hub.run_callback_threadsafe(q.wake)

    t = threading.Thread(target=poster)
    t.start()
    got = q.wait(timeout=30)
    woke = time.monotonic()
    t.join()
    assert got is True
    delay = woke - stamp[0]
    timing.report(f"threadsafe wake-up latency {delay * 1e3:.2f} ms")
    assert delay < 5


# ---- join ----------------------------------------------------------------------


def test_join_true_when_nothing_left():
    hub = get_hub()
    assert hub.join() is True
    done = []
    spawn(lambda: (sleep(0.02), done.append(1)))
    assert hub.join() is True
    assert done == [1]


def test_join_false_on_timeout_then_true():
    hub = get_hub()
    g = spawn(sleep, 0.3)
    t0 = time.monotonic()
    assert hub.join(timeout=0.02) is False
    assert time.monotonic() - t0 >= 0.02
    assert not g.ready()
    assert hub.join(timeout=10) is True
    assert g.ready()


def test_join_ignores_unreferenced_deadlines():
    hub = get_hub()
    fired = []
    th = hub.call_later(30, fired.append, 1, ref=False)
    t0 = time.monotonic()
    try:
        assert hub.join() is True
        assert time.monotonic() - t0 < 5
    finally:
        th.cancel()
    assert fired == []


def test_join_from_a_greenlet_and_main_together():
    hub = get_hub()
    spawn(sleep, 0.02)
    joined = spawn(hub.join)
    assert hub.join() is True
    joined.join()
    assert joined.value is True


def test_join_with_a_forever_waiter_returns():
    # A waiter nothing can wake does not keep join() waiting.
    hub = get_hub()
    q = WaitQueue()
    g = spawn(q.wait)
    assert hub.join(timeout=5) is True
    g.kill()


@pytest.mark.parametrize("bad", [-1, -0.001, float("nan"), "1", [1]])
def test_join_bad_timeout(bad):
    with pytest.raises((TypeError, ValueError)):
        get_hub().join(bad)


# ---- destroy ---------------------------------------------------------------------


def test_destroy_and_recreate():
    hub = get_hub()
    ref = weakref.ref(hub)
    sleep(0.001)
    hub.destroy()
    assert hub.statistics()["destroyed"] is True
    assert get_hub_if_exists() is None
    with pytest.raises(RuntimeError):
        hub.run_callback(print)
    with pytest.raises(RuntimeError):
        hub.run_callback_threadsafe(print)
    new = get_hub()
    assert new is not hub
    # The new hub works.
    g = spawn(lambda: (sleep(0.01), 7)[1])
    assert g.get() == 7
    del hub
    gc.collect()
    assert ref() is None


def test_destroy_twice_is_harmless():
    hub = get_hub()
    hub.destroy()
    hub.destroy()
    assert get_hub() is not hub


def test_destroy_from_another_thread_is_refused():
    hub = get_hub()
    errors = []

    def body():
        try:
            hub.destroy()
        except corolib.greenlet.error as exc:
            errors.append(exc)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert len(errors) == 1
    assert get_hub() is hub


def test_destroy_from_inside_the_hub_is_refused():
    hub = get_hub()
    seen = []

    def cb():
        try:
            hub.destroy()
        except RuntimeError as exc:
            seen.append(exc)

    hub.run_callback(cb)
    sleep(0)
    assert len(seen) == 1
    assert get_hub() is hub


def test_recreated_hub_gets_signals(tmp_path):
    # After destroy(), the next hub must own the signal wakeup fd again.
    run_py(
        """
        import os, signal, time
        from corolib import get_hub, sleep, Timeout
        get_hub().destroy()
        hub = get_hub()
        hits = []
        signal.signal(signal.SIGUSR1, lambda *a: hits.append(time.monotonic()))
        def shoot():
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGUSR1)
        import threading
        threading.Thread(target=shoot).start()
        t0 = time.monotonic()
        sleep(2)
        assert hits, "handler did not run"
        assert hits[0] - t0 < 1.5, hits[0] - t0
        print("ok")
        """
    )


def test_destroy_releases_pending_deadlines():
    hub = get_hub()
    ref = weakref.ref(hub)
    arg = object()

    def fn(x):
        return x

    before_arg, before_fn = sys.getrefcount(arg), sys.getrefcount(fn)
    hub.call_later(30, fn, arg)
    corolib.Timeout(30).start()
    hub.destroy()
    del hub
    gc.collect()
    assert sys.getrefcount(arg) == before_arg
    assert sys.getrefcount(fn) == before_fn
    assert ref() is None


# ---- statistics --------------------------------------------------------------------


def test_statistics_keys_and_counts():
    hub = get_hub()
    stats = hub.statistics()
    for key in ("ready", "parked", "timers", "fds", "handles", "switches", "destroyed"):
        assert key in stats
    assert stats["parked"] == 0 and stats["ready"] == 0
    gs = [spawn(sleep, 10) for _ in range(5)]
    assert hub.statistics()["ready"] == 5  # queued starts
    sleep(0)
    stats = hub.statistics()
    assert stats["parked"] == 5
    assert stats["timers"] == 5
    before = stats["switches"]
    corolib.killall(gs)
    stats = hub.statistics()
    assert stats["parked"] == 0 and stats["timers"] == 0
    assert stats["switches"] > before


def test_loop_alive_property():
    hub = get_hub()
    settle()
    assert hub.loop_alive is False
    th = hub.call_later(10, print)
    assert hub.loop_alive is True
    th.cancel()
    assert hub.loop_alive is False


# ---- call_later / interrupt ------------------------------------------------------------


def test_call_later_order_and_cancel():
    hub = get_hub()
    log = []
    hub.call_later(0.03, log.append, "c")
    hub.call_later(0.01, log.append, "a1")
    hub.call_later(0.01, log.append, "a2")  # equal delays: FIFO
    cancelled = hub.call_later(0.02, log.append, "x")
    assert cancelled.pending and cancelled.seconds == 0.02
    cancelled.cancel()
    assert not cancelled.pending
    cancelled.cancel()  # twice is harmless
    sleep(0.06)
    assert log == ["a1", "a2", "c"]


def test_call_later_never_early():
    hub = get_hub()
    stamps = []
    delays = [0.001, 0.005, 0.013, 0.02]
    t0 = time.monotonic_ns()
    for d in delays:
        hub.call_later(d, lambda d=d: stamps.append((d, time.monotonic_ns() - t0)))
    sleep(0.05)
    assert len(stamps) == len(delays)
    for d, elapsed in stamps:
        assert elapsed >= d * 1e9


def test_call_later_refcounts():
    hub = get_hub()
    arg = object()

    def fn(x):
        return x

    with refs_back(arg, fn):
        hub.call_later(0, fn, arg)
        hub.call_later(10, fn, arg).cancel()
        sleep(0.005)


@pytest.mark.parametrize(
    "args, exc",
    [
        ((-1, print), ValueError),
        ((float("nan"), print), ValueError),
        (("1", print), TypeError),
        ((None, print), TypeError),
        ((1, "not callable"), TypeError),
        ((1,), TypeError),
    ],
)
def test_call_later_bad_arguments(args, exc):
    with pytest.raises(exc):
        get_hub().call_later(*args)


def test_call_later_unknown_keyword():
    with pytest.raises(TypeError):
        get_hub().call_later(1, print, when=2)


def test_call_later_ref_truth_error_propagates():
    class Bad:
        def __bool__(self):
            raise RuntimeError("no truth")

    with pytest.raises(RuntimeError):
        get_hub().call_later(1, print, ref=Bad())


def test_interrupt_and_interrupt_later():
    hub = get_hub()

    def body():
        try:
            sleep(10)
        except ValueError as exc:
            return exc.args[0]

    g = spawn(body)
    sleep(0)
    assert hub.interrupt(g, ValueError("now")) is True
    assert g.get() == "now"
    assert hub.interrupt(g, ValueError("dead")) is False
    assert hub.interrupt(getcurrent(), ValueError("running")) is False

    g = spawn(body)
    sleep(0)
    t0 = time.monotonic()
    th = hub.interrupt_later(0.02, g, ValueError("later"))
    assert g.get() == "later"
    assert time.monotonic() - t0 >= 0.02
    assert not th.pending


def test_interrupt_bad_arguments():
    hub = get_hub()
    with pytest.raises(TypeError):
        hub.interrupt(5, ValueError())
    with pytest.raises(TypeError):
        hub.interrupt(getcurrent(), "not an exception")
    with pytest.raises(TypeError):
        hub.interrupt_later(1, getcurrent(), ValueError)  # a class, not an instance
    with pytest.raises(ValueError):
        hub.interrupt_later(-1, getcurrent(), ValueError())


# ---- LoopExit ---------------------------------------------------------------------------


def test_loop_exit_lists_what_is_waited_on():
    q = WaitQueue()

    def lonely_waiter():
        q.wait()

    g = spawn(lonely_waiter)
    g.name = "the-lonely-one"
    with pytest.raises(LoopExit) as info:
        g.join()
    msg = str(info.value)
    assert "would block forever" in msg
    assert "2 greenlet(s)" in msg
    assert "the-lonely-one" in msg
    assert "waits for a WaitQueue" in msg
    assert "main" in msg and "waits for Greenlet.join()" in msg
    # The hub still works; the waiter is still parked and can be killed.
    assert get_hub().statistics()["parked"] == 1
    g.kill()
    assert g.dead


def test_loop_exit_truncates_long_lists():
    q = WaitQueue()
    gs = [spawn(q.wait) for _ in range(25)]
    with pytest.raises(LoopExit) as info:
        gs[0].join()
    msg = str(info.value)
    assert "26 greenlet(s)" in msg
    assert len(msg.splitlines()) == 1 + 20 + 1
    assert msg.count("waits for a WaitQueue") == 20  # most recently parked first
    assert msg.splitlines()[-1].strip() == "... and 6 more"
    corolib.killall(gs)


def test_loop_exit_in_main_waiting_on_waitqueue():
    q = WaitQueue()
    with pytest.raises(LoopExit) as info:
        q.wait()
    assert "waits for a WaitQueue" in str(info.value)
    # and again: LoopExit is not a one-shot
    with pytest.raises(LoopExit):
        q.wait()


# ---- the door: only the hub resumes a parked greenlet ----------------------------------


def test_plain_switch_into_a_parked_greenlet_is_refused(capfd):
    q = WaitQueue()
    main = getcurrent()
    result = []

    def body():
        try:
            q.wait()
        except corolib.InvalidSwitchError as exc:
            result.append(exc)
        main.switch("back")  # hand control back by hand, as it was taken

    g = spawn(body)
    sleep(0)
    assert get_hub().statistics()["parked"] == 1
    assert g.switch() == "back"  # not the hub: the wait raises InvalidSwitchError
    assert len(result) == 1 and "only the hub may resume it" in str(result[0])
    assert len(q) == 0
    assert get_hub().statistics()["parked"] == 0
    g.kill()  # suspended by a plain switch: killed from the hub
    assert g.dead


def test_greenlet_exit_raised_in_a_parked_greenlet_by_the_hub():
    q = WaitQueue()
    g = spawn(q.wait)
    sleep(0)
    get_hub().run_callback(g.throw, KeyError("thrown"))
    g.join()
    assert isinstance(g.exception, KeyError)
    assert len(q) == 0


def test_destroy_after_loopexit_thrown_into_an_unparked_main():
    proc = run_py(
        """
        import gc, weakref
        from corolib import get_hub, LoopExit
        from corolib.greenlet import greenlet
        from corolib.hub import WaitQueue
        q = WaitQueue()
        g = greenlet(q.wait)  # a raw greenlet, parent main
        try:
            g.switch()  # it parks in the hub; nothing can wake anything
        except LoopExit:
            pass
        hub = get_hub()
        ref = weakref.ref(hub)
        hub.destroy()
        del hub
        gc.collect()
        print("hub freed" if ref() is None else "hub leaked")
        """
    )
    assert proc.stdout.strip() == "hub freed"
    assert proc.stderr == ""


# ---- WaitQueue across threads ------------------------------------------------------------


def test_waitqueue_wake_threadsafe_delivers_the_value():
    q = WaitQueue()
    value = object()
    errors = []

    def other_thread():
        time.sleep(0.05)
        try:
            with pytest.raises(corolib.greenlet.error):
                q.wake()  # wrong thread for a plain wake
            assert q.wake_threadsafe(1, value) == -1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=other_thread)
    t.start()
    got = None
    deadline = time.monotonic() + 30
    while got is None and time.monotonic() < deadline:
        r = q.wait(timeout=0.05)
        if r is not False:
            got = r
    t.join()
    assert not errors, errors
    assert got is value


def test_waitqueue_basics_and_bad_arguments():
    q = WaitQueue()
    with pytest.raises(TypeError):
        WaitQueue(1)
    assert q.wake() == 0 and q.wake_all() == 0 and len(q) == 0
    with pytest.raises(ValueError):
        q.wake(-1)
    with pytest.raises(ValueError):
        q.wait(timeout=-1)
    gs = [spawn(q.wait) for _ in range(5)]
    sleep(0)
    assert len(q) == 5 and q.statistics() == {"waiting": 5}
    assert q.wake(2, "v") == 2
    assert q.wake_all("w") == 3
    corolib.joinall(gs)
    assert [g.value for g in gs] == ["v", "v", "w", "w", "w"]


# ---- hold / unhold ----------------------------------------------------------------------


def test_hold_keeps_the_loop_from_loop_exit_until_unhold():
    hub = get_hub()
    q = WaitQueue()
    hub.hold()

    def other():
        time.sleep(0.05)
        hub.run_callback_threadsafe(q.wake, 1, "from thread")
        hub.unhold()

    t = threading.Thread(target=other)
    t.start()
    try:
        assert q.wait() == "from thread"  # no timeout: hold() keeps it from LoopExit
    finally:
        t.join()


def test_unhold_makes_an_empty_loop_raise_loop_exit_at_once():
    hub = get_hub()
    q = WaitQueue()
    hub.hold()

    def other():
        time.sleep(0.05)
        hub.unhold()

    t = threading.Thread(target=other)
    t.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(LoopExit):
            q.wait()
        assert time.monotonic() - t0 < 5
    finally:
        t.join()


def test_hold_counts_and_extra_unhold_is_ignored():
    hub = get_hub()
    hub.hold()
    hub.hold()
    hub.unhold()
    assert hub.join(timeout=0.01) is False  # still held once
    hub.unhold()
    hub.unhold()  # one too many: ignored, not a negative count
    assert hub.join(timeout=1) is True
    hub.hold()
    assert hub.join(timeout=0.01) is False
    hub.unhold()
    assert hub.join(timeout=1) is True


CROSS_THREAD = """
import sys, threading
from corolib import get_hub, kill, sleep, spawn, spawn_raw
from corolib.greenlet import error as greenlet_error
from corolib.hub import WaitQueue
mode, warm = sys.argv[1], sys.argv[2] == "warm"
box = {}
ready = threading.Event()

def other_thread():
    q = WaitQueue()
    def waiter():
        try:
            return q.wait(timeout=0.5)  # its own hub times it out: False
        except ValueError as exc:
            return exc
    box["g"] = spawn_raw(waiter) if mode == "kill_raw" else spawn(waiter)
    sleep(0)
    ready.set()
    if mode != "kill_raw":
        box["result"] = box["g"].get()
    else:
        sleep(1)

t = threading.Thread(target=other_thread)
t.start()
ready.wait()
hub = get_hub()
if warm:
    sleep(0.001)  # the main hub's ready queue exists
try:
    if mode == "interrupt":
        print("interrupt ->", hub.interrupt(box["g"], ValueError("cross-thread")))
    elif mode == "interrupt_later":
        hub.interrupt_later(0.01, box["g"], ValueError("cross-thread"))
        sleep(0.05)
    else:
        kill(box["g"])
        sleep(0.05)
except greenlet_error as exc:
    print("refused:", exc)
t.join(10)
assert not t.is_alive(), "the other thread's greenlet never woke"
if mode != "kill_raw":
    print("other thread's waiter got", box["result"])
"""


@pytest.mark.parametrize("warm", ["cold", "warm"])
@pytest.mark.parametrize("mode", ["interrupt", "interrupt_later", "kill_raw"])
def test_interrupting_a_greenlet_of_another_thread_is_refused(mode, warm):
    proc = run_py(CROSS_THREAD, mode, warm, timeout=30, check_rc=None, raise_on_timeout=False)
    assert proc.returncode == 0, proc
    assert "different thread" not in proc.stderr, proc.stderr
    if mode == "interrupt":
        assert "interrupt -> False" in proc.stdout or "refused" in proc.stdout
    if mode != "kill_raw":
        assert "other thread's waiter got False" in proc.stdout


def test_threadsafe_callback_to_the_hub_of_an_exited_thread_is_refused():
    box = []

    def body():
        hub = get_hub()
        sleep(0.001)
        box.append(hub)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    hub = box.pop()
    assert hub.statistics()["destroyed"] is True
    with pytest.raises(RuntimeError):
        hub.run_callback_threadsafe(print, "lost")
