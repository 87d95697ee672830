"""Timeout and with_timeout, with gevent's semantics."""

import time

import pytest
from hubutil import refs_back

import corolib
from corolib import Timeout, sleep, spawn, with_timeout
from corolib.hub import WaitQueue, get_hub


def test_timeout_is_a_baseexception_and_context_manager():
    assert issubclass(Timeout, BaseException)
    assert not issubclass(Timeout, Exception)
    t0 = time.monotonic()
    with pytest.raises(Timeout) as info:
        with Timeout(0.02) as t:
            sleep(5)
    assert info.value is t
    assert time.monotonic() - t0 >= 0.02
    assert not t.pending


def test_timeout_does_not_fire_if_block_finishes():
    with Timeout(0.05) as t:
        sleep(0.001)
    assert not t.pending
    sleep(0.07)  # nothing fires later


def test_timeout_none_does_nothing():
    with Timeout(None) as t:
        sleep(0.01)
    assert not t.pending
    t = Timeout(None)
    t.start()
    assert not t.pending
    t.cancel()
    assert str(Timeout()) == ""


def test_timeout_start_cancel_and_restart():
    t = Timeout(0.02)
    t.start()
    assert t.pending
    with pytest.raises(AssertionError):
        t.start()  # already started
    t.cancel()
    assert not t.pending
    sleep(0.04)  # cancelled: nothing raised
    t.start()
    with pytest.raises(Timeout):
        sleep(1)
    assert not t.pending


def test_timeout_start_new():
    t = Timeout.start_new(0.01)
    assert t.pending
    with pytest.raises(Timeout) as info:
        sleep(1)
    assert info.value is t
    t2 = Timeout(0.01)
    assert Timeout.start_new(t2) is t2 and t2.pending
    t2.cancel()
    t3 = Timeout.start_new(0.01, ValueError)
    with pytest.raises(ValueError):
        sleep(1)
    t3.cancel()


def test_timeout_false_is_swallowed_by_its_block():
    t0 = time.monotonic()
    with Timeout(0.02, False):
        sleep(5)
    assert time.monotonic() - t0 >= 0.02


def test_timeout_false_not_swallowed_by_another_block():
    with pytest.raises(Timeout) as info:
        with Timeout(0.02) as outer:
            with Timeout(5, False):
                sleep(5)
    assert info.value is outer


def test_timeout_with_exception_class_and_instance():
    with pytest.raises(KeyError):
        with Timeout(0.01, KeyError):
            sleep(1)
    exc = ValueError("custom")
    with pytest.raises(ValueError) as info:
        with Timeout(0.01, exc):
            sleep(1)
    assert info.value is exc


def test_timeout_str_and_repr():
    assert str(Timeout(1)) == "1 second"
    assert str(Timeout(2.5)) == "2.5 seconds"
    assert "seconds=3" in repr(Timeout(3))


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), ("1", TypeError), ([1], TypeError)])
def test_timeout_bad_seconds(bad, exc):
    with pytest.raises(exc):
        Timeout(bad)


def test_timeout_nan_is_refused_by_start():
    # Negative seconds are refused by the constructor; NaN at the latest
    # when the deadline is armed.
    with pytest.raises(ValueError):
        with Timeout(float("nan")):
            sleep(0)


def test_timeout_non_exception_value_raises_the_timeout_itself():
    # gevent: any value that is not an exception (a message) makes the
    # Timeout raise itself, the value shown in str().
    t = Timeout(0.01, exception=5)
    with pytest.raises(Timeout) as info:
        with t:
            sleep(1)
    assert info.value is t and str(t) == "0.01 seconds: 5"


def test_nested_inner_fires_first_each_caught_by_its_block():
    log = []
    t0 = time.monotonic()
    with pytest.raises(Timeout) as info:
        with Timeout(0.15) as outer:
            try:
                with Timeout(0.03) as inner:
                    sleep(5)
            except Timeout as exc:
                log.append(("inner", exc is inner, time.monotonic() - t0))
            sleep(5)
    log.append(("outer", info.value is outer, time.monotonic() - t0))
    assert [entry[:2] for entry in log] == [("inner", True), ("outer", True)]
    assert log[0][2] >= 0.03
    assert log[1][2] >= 0.15


def test_nested_outer_fires_first_passes_through_inner():
    with pytest.raises(Timeout) as info:
        with Timeout(0.02) as outer:
            with Timeout(5) as inner:
                sleep(5)
    assert info.value is outer
    assert not inner.pending  # the inner block cancelled its own timer


def test_nested_timeouts_expiring_in_the_same_round_both_fire():
    log = []
    t0 = time.monotonic()
    with pytest.raises(Timeout) as info:
        with Timeout(0.01) as outer:
            try:
                with Timeout(0.02) as inner:
                    # Blocking: both deadlines pass before the hub looks.
                    time.sleep(0.05)
                    sleep(1)
            except Timeout as exc:
                log.append("inner" if exc is inner else "outer")
                if exc is outer:
                    raise
            sleep(1)  # if the inner one was caught, the outer must still fire
    log.append("caught outer" if info.value is outer else "caught something else")
    assert log[-1] == "caught outer"
    assert time.monotonic() - t0 < 0.9


def test_many_nested_levels_each_caught_by_its_own_block():
    # Deadlines 100 ms apart: two of them expiring in one hub round would
    # hit the lost-Timeout bug below (a stall that long is rare).
    caught = []

    def level(n):
        if n == 0:
            sleep(5)
            return
        try:
            with Timeout(0.1 * n) as t:
                level(n - 1)
        except Timeout as exc:
            assert exc is t
            caught.append(n)
            sleep(5)  # the next outer one interrupts this

    with pytest.raises(Timeout):
        with Timeout(0.6):
            level(5)
    assert caught == [1, 2, 3, 4, 5]


def test_timeout_in_spawned_greenlets_independent():
    def body(d):
        try:
            with Timeout(d):
                sleep(5)
        except Timeout:
            return d

    gs = [spawn(body, d) for d in (0.03, 0.01, 0.02)]
    assert [g.get() for g in gs] == [0.03, 0.01, 0.02]


def test_timeout_interrupts_waitqueue_and_join():
    q = WaitQueue()
    with pytest.raises(Timeout):
        with Timeout(0.01):
            q.wait()
    assert len(q) == 0
    g = spawn(sleep, 5)
    with pytest.raises(Timeout):
        with Timeout(0.01):
            g.join()
    g.kill()


def test_timeout_cancelled_in_spawned_greenlet_killed_early():
    def body():
        with Timeout(5):
            sleep(5)

    g = spawn(body)
    sleep(0)
    assert get_hub().statistics()["timers"] == 2
    g.kill()
    assert get_hub().statistics()["timers"] == 0


def test_with_timeout():
    assert with_timeout(1, lambda a, b=0: a + b, 1, b=2) == 3
    assert with_timeout(0.01, sleep, 1, timeout_value="late") == "late"
    with pytest.raises(Timeout):
        with_timeout(0.01, sleep, 1)
    assert with_timeout(None, lambda: "no limit") == "no limit"


def test_with_timeout_does_not_swallow_another_timeout():
    def inner():
        with Timeout(0.01):
            sleep(1)

    with pytest.raises(Timeout):
        with_timeout(5, inner, timeout_value="wrong")


def test_timeout_refcounts():
    exc = KeyError("x")

    def body():
        return 1

    with refs_back(exc, body):
        for _ in range(50):
            with Timeout(
                0.0001,
                exc,
            ):
                try:
                    sleep(1)
                except KeyError:
                    pass
            with_timeout(1, body)


def test_timeout_from_another_thread_hub_is_refused():
    import threading

    t = Timeout(1)
    errors = []

    def body():
        try:
            get_hub()
            t.start()
            t.cancel()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    th = threading.Thread(target=body)
    th.start()
    th.join()
    # Each thread arms its own timeout in its own hub: that is allowed.
    assert errors == []


def test_timeout_ref_false_does_not_keep_the_loop_alive():
    t = Timeout(0.5, ref=False)
    t.start()
    try:
        t0 = time.monotonic()
        assert get_hub().join() is True
        assert time.monotonic() - t0 < 0.4
    finally:
        t.cancel()


def test_killall_with_timeout_raises_timeout():
    stop = []

    def stubborn():
        while not stop:
            try:
                sleep(5)
            except corolib.GreenletExit:
                pass

    g = spawn(stubborn)
    sleep(0)
    with pytest.raises(Timeout):
        corolib.killall([g], timeout=0.02)
    assert not g.dead
    stop.append(True)
    g.kill()
    assert g.dead
