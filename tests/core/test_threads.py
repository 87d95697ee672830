"""Greenlets and OS threads: one main greenlet per thread, no cross-thread
switching, cross-thread frees, greenlets of exited threads."""

import gc
import sys
import threading
import weakref

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import GreenletExit, getcurrent


def run_in_thread(fn):
    """Run fn in a new thread; return its result or re-raise its error."""
    box = {}

    def body():
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join(60)
    assert not t.is_alive()
    if "error" in box:
        raise box["error"]
    return box.get("result")


def test_each_thread_has_its_own_main_greenlet():
    mine = getcurrent()
    theirs = run_in_thread(getcurrent)
    assert theirs is not mine
    assert theirs.parent is None
    assert "main" in repr(mine)


def test_main_greenlet_of_exited_thread_is_dead():
    theirs = run_in_thread(getcurrent)
    assert theirs.dead
    assert not theirs
    assert repr(theirs).endswith(" (thread exited) dead>")


def test_total_main_greenlets_counts_threads():
    gc.collect()
    before = greenlet.get_total_main_greenlets()
    ready = threading.Event()
    release = threading.Event()

    def body():
        getcurrent()
        ready.set()
        release.wait(10)

    t = threading.Thread(target=body)
    t.start()
    assert ready.wait(10)
    assert greenlet.get_total_main_greenlets() == before + 1
    release.set()
    t.join(10)
    gc.collect()
    assert greenlet.get_total_main_greenlets() == before


def test_switch_to_greenlet_of_other_thread_raises_error():
    ready = threading.Event()
    release = threading.Event()
    box = {}

    def body():
        g = greenlet.greenlet(lambda: getcurrent().parent.switch())
        box["unstarted"] = greenlet.greenlet(lambda: None)
        g.switch()
        box["suspended"] = g
        box["main"] = getcurrent()
        ready.set()
        release.wait(10)
        g.switch()

    t = threading.Thread(target=body)
    t.start()
    try:
        assert ready.wait(10)
        for name in ("suspended", "unstarted", "main"):
            with pytest.raises(greenlet.error) as info:
                box[name].switch()
            msg = str(info.value)
            assert "Cannot switch to a different thread" in msg
            assert "Current:" in msg and "Expected:" in msg
            with pytest.raises(greenlet.error):
                box[name].throw(ValueError)
        assert box["suspended"] and not box["suspended"].dead
        assert not box["unstarted"].dead
    finally:
        release.set()
        t.join(10)


def test_switch_to_greenlet_of_exited_thread(allow_greenlet_leaks):
    # Its suspended frame keeps the exited thread's main greenlet alive
    # (see test_exited_thread_suspended_greenlet_releases_its_frames).
    box = {}

    def body():
        g = greenlet.greenlet(lambda: getcurrent().parent.switch())
        g.switch()
        box["suspended"] = g
        box["unstarted"] = greenlet.greenlet(lambda: None)
        box["main"] = getcurrent()

    run_in_thread(body)
    for name in ("suspended", "main"):
        g = box[name]
        assert g.dead, name
        assert not g
        assert "(thread exited)" in repr(g)
        with pytest.raises(greenlet.error, match="which happens to have exited"):
            g.switch()
    with pytest.raises(greenlet.error, match="which happens to have exited"):
        box["unstarted"].switch()
    del g
    refs = {name: weakref.ref(g) for name, g in box.items() if name != "main"}
    box.clear()
    gc.collect()
    assert {name: r() for name, r in refs.items()} == dict.fromkeys(refs)


def test_exited_thread_suspended_greenlet_releases_its_frames(allow_greenlet_leaks):
    # What its frames hold (locals, functions, code) is released without
    # running its code.  The temporaries of the call that switched away
    # (here the bound method and the main greenlet it was called on) sit on
    # the innermost frame's evaluation stack, whose depth the interpreter
    # does not record while a C function runs: those stay, and with them the
    # exited thread's main greenlet (hence allow_greenlet_leaks).
    class Marker:
        pass

    gc.collect()
    box = {}

    def body():
        def inner():
            local = Marker()
            box["inner_local"] = weakref.ref(local)
            getcurrent().parent.switch()

        def run():
            local = Marker()
            box["local"] = weakref.ref(local)
            inner()

        g = greenlet.greenlet(run)
        g.switch()
        box["g"] = g

    run_in_thread(body)
    assert box["g"].dead
    g_ref = weakref.ref(box.pop("g"))
    gc.collect()
    assert g_ref() is None
    assert box["local"]() is None
    assert box["inner_local"]() is None


def test_greenlets_of_exited_thread_free_without_running_code(allow_greenlet_leaks):
    # Its suspended frame keeps the exited thread's main greenlet alive
    # (see test_exited_thread_suspended_greenlet_releases_its_frames).
    log = []
    box = {}

    def body():
        def run():
            try:
                getcurrent().parent.switch()
            finally:
                log.append("finally ran")

        g = greenlet.greenlet(run)
        g.switch()
        box["g"] = g

    run_in_thread(body)
    ref = weakref.ref(box["g"])
    box.clear()
    gc.collect()
    assert ref() is None
    assert log == []  # nothing ran in a thread that no longer exists


def test_parent_on_other_thread_refused_once_started():
    other_main = run_in_thread(getcurrent)
    started = greenlet.greenlet(lambda: getcurrent().parent.switch())
    started.switch()
    with pytest.raises(ValueError, match="parent cannot be on a different thread"):
        started.parent = other_main
    started.switch()


def test_unstarted_greenlet_with_parent_in_other_thread_cannot_start():
    ready = threading.Event()
    release = threading.Event()
    box = {}

    def body():
        box["main"] = getcurrent()
        ready.set()
        release.wait(10)

    t = threading.Thread(target=body)
    t.start()
    try:
        assert ready.wait(10)
        g = greenlet.greenlet(lambda: "ran")
        g.parent = box["main"]  # allowed before start
        with pytest.raises(greenlet.error, match="different thread"):
            g.switch()
        assert not g.dead and not g
    finally:
        release.set()
        t.join(10)


def test_dropped_in_other_thread_is_killed_in_own_thread():
    log = []
    to_owner = threading.Event()
    dropped = threading.Event()
    done = threading.Event()
    box = {}

    def owner():
        def run():
            try:
                getcurrent().parent.switch()
            except GreenletExit:
                log.append(("GreenletExit in", threading.current_thread().name))
                raise
            finally:
                log.append("finally")

        g = greenlet.greenlet(run)
        g.switch()
        box["g"] = g
        del g
        to_owner.set()
        assert dropped.wait(10)
        box["pending_seen_by_owner"] = greenlet.get_pending_cleanup_count()
        getcurrent()  # processes the pending cleanup
        box["pending_after"] = greenlet.get_pending_cleanup_count()
        done.set()

    t = threading.Thread(target=owner, name="owner-thread")
    t.start()
    try:
        assert to_owner.wait(10)
        box.pop("g")  # last reference dropped here, in another thread
        assert log == []
        assert greenlet.get_pending_cleanup_count() == 1
        dropped.set()
        assert done.wait(10)
    finally:
        dropped.set()
        t.join(10)
    assert box["pending_seen_by_owner"] == 1
    assert box["pending_after"] == 0
    assert log == [("GreenletExit in", "owner-thread"), "finally"]
    assert greenlet.get_pending_cleanup_count() == 0


def test_dropped_in_other_thread_whose_owner_then_exits(allow_greenlet_leaks):
    # Its suspended frame keeps the exited thread's main greenlet alive
    # (see test_exited_thread_suspended_greenlet_releases_its_frames).
    log = []
    to_owner = threading.Event()
    dropped = threading.Event()
    box = {}

    def owner():
        def run():
            try:
                getcurrent().parent.switch()
            finally:
                log.append("finally")

        g = greenlet.greenlet(run)
        g.switch()
        box["g"] = g
        del g
        to_owner.set()
        dropped.wait(10)
        # exits without touching greenlets again

    t = threading.Thread(target=owner)
    t.start()
    assert to_owner.wait(10)
    ref = weakref.ref(box["g"])
    box.clear()
    dropped.set()
    t.join(10)
    gc.collect()
    assert greenlet.get_pending_cleanup_count() == 0
    assert ref() is None
    # the owner thread ended: nothing could run there
    assert log == []


def test_ten_threads_thousand_greenlets_each(scaled):
    errors = []
    results = {}
    count = scaled(1000)

    def worker(n):
        try:
            gs = []
            total = 0
            for i in range(count):

                def run(i=i):
                    v = getcurrent().parent.switch(i)
                    return v + i

                g = greenlet.greenlet(run)
                total += g.switch()
                gs.append(g)
            for g in gs:
                total += g.switch(n)
                assert g.dead
            results[n] = total
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for n in range(10):
        expected = sum(range(count)) * 2 + n * count
        assert results[n] == expected


def test_threads_switching_concurrently_keep_state_apart(scaled):
    errors = []
    count = scaled(2000)

    def worker(n):
        try:
            sys.setrecursionlimit(sys.getrecursionlimit())

            def run():
                for i in range(count):
                    assert getcurrent() is g
                    getcurrent().parent.switch((n, i))

            g = greenlet.greenlet(run)
            for i in range(count):
                assert g.switch() == (n, i)
                assert getcurrent().parent is None
            g.switch()
            assert g.dead
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def test_thread_exit_with_suspended_greenlets_leaves_no_main_greenlets():
    gc.collect()
    before = greenlet.get_total_main_greenlets()

    def body():
        parked = []
        for _ in range(10):
            g = greenlet.greenlet(lambda: getcurrent().parent.switch())
            g.switch()
            parked.append(g)

    for _ in range(5):
        run_in_thread(body)
    gc.collect()
    assert greenlet.get_total_main_greenlets() == before
    assert greenlet.get_pending_cleanup_count() == 0


def test_greenlet_created_in_one_thread_started_in_another_is_refused():
    g = greenlet.greenlet(lambda: "ran")

    def body():
        with pytest.raises(greenlet.error):
            g.switch()
        return "refused"

    assert run_in_thread(body) == "refused"
    assert g.switch() == "ran"


def test_getcurrent_in_thread_without_greenlets_is_cheap_and_consistent():
    def body():
        a = getcurrent()
        b = getcurrent()
        return a is b and a.parent is None and bool(a)

    assert run_in_thread(body)
