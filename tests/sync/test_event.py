"""Event and AsyncResult: waking, timeouts, links, kills, and the iwait protocol."""

import time
from fractions import Fraction

import pytest

import corolib
from corolib import AsyncResult, Event, Timeout, sleep, spawn


def test_exported_from_corolib():
    from corolib import sync

    for name in sync.__all__:
        assert getattr(corolib, name) is getattr(sync, name), name


def test_wait_returns_at_once_when_set():
    e = Event()
    e.set()
    switches = corolib.get_hub().statistics()["switches"]
    assert e.wait() is True
    assert e.wait(0) is True
    assert corolib.get_hub().statistics()["switches"] == switches  # no switch
    assert e.is_set() and e.isSet() and e.ready()
    e.clear()
    assert not e.is_set()


def test_set_wakes_every_waiter_in_fifo_order():
    e = Event()
    woken = []

    def waiter(i):
        assert e.wait() is True
        woken.append(i)

    greenlets = [spawn(waiter, i) for i in range(50)]
    sleep(0)
    assert e.statistics()["waiters"] == 50
    e.set()
    corolib.joinall(greenlets)
    assert woken == list(range(50))
    assert e.statistics() == {"set": True, "waiters": 0, "links": 0}


def test_wait_returns_true_when_set_even_if_cleared_before_resuming():
    e = Event()
    g = spawn(e.wait)
    sleep(0)
    e.set()
    e.clear()
    assert g.get() is True


def test_wait_timeout_returns_false():
    e = Event()
    start = time.monotonic()
    assert e.wait(0.02) is False
    assert time.monotonic() - start >= 0.02
    assert e.wait(0) is False
    assert e.wait(-1) is False  # like threading.Event: a negative timeout does not wait
    assert e.statistics()["waiters"] == 0


def test_killed_waiter_leaves_nothing_behind():
    e = Event()
    greenlets = [spawn(e.wait) for _ in range(10)]
    sleep(0)
    assert e.statistics()["waiters"] == 10
    for g in greenlets[::2]:
        g.kill()
    assert e.statistics()["waiters"] == 5
    e.set()
    corolib.joinall(greenlets)
    assert e.statistics()["waiters"] == 0
    assert [g.value for g in greenlets[1::2]] == [True] * 5


def test_timeout_context_interrupts_wait():
    e = Event()
    with pytest.raises(Timeout):
        with Timeout(0.01):
            e.wait()
    assert e.statistics()["waiters"] == 0


def test_wait_arguments_as_a_python_method_takes_them():
    # Event.wait is compiled: the same signature and errors as the Python one.
    e = Event()
    assert e.wait(timeout=0) is False
    assert e.wait(timeout=-0.5) is False
    assert e.wait(Fraction(-1, 3)) is False  # any number compares with 0
    with pytest.raises(TypeError):
        e.wait(0, 1)
    with pytest.raises(TypeError):
        e.wait(timeout=0, other=1)
    with pytest.raises(TypeError):
        e.wait("soon")
    with pytest.raises(ValueError):
        e.wait(float("nan"))
    assert e.statistics()["waiters"] == 0
    e.set()
    assert Event.wait(e) is True and Event.wait(e, 5) is True
    with pytest.raises(TypeError):
        Event.wait(object())  # type: ignore[arg-type]


def test_wait_in_a_subclass_and_a_fresh_event_per_waiter():
    class Flag(Event):
        pass

    flags = [Flag() for _ in range(3)]
    # Each flag's first waiter binds the flag to this thread's hub.
    greenlets = [spawn(f.wait, 5) for f in flags]
    sleep(0)
    assert [f.statistics()["waiters"] for f in flags] == [1, 1, 1]
    for f in flags:
        f.set()
    assert [g.get() for g in greenlets] == [True] * 3


def test_repr():
    e = Event()
    assert "clear" in repr(e)
    e.set()
    assert "set" in repr(e)


# ---- AsyncResult ------------------------------------------------------------------


def test_async_result_value():
    r = AsyncResult()
    assert not r.ready() and r.value is None and r.exception is None
    g = spawn(r.get)
    sleep(0)
    assert r.statistics()["waiters"] == 1
    r.set(42)
    assert g.get() == 42
    assert r.ready() and r.successful() and r.value == 42 and r.get() == 42
    assert r.done() and r.result() == 42 and not r.cancel() and not r.cancelled()
    assert r.exc_info == ()


def test_async_result_exception_keeps_traceback():
    r = AsyncResult()

    def fail():
        raise KeyError("boom")

    try:
        fail()
    except KeyError as exc:
        r.set_exception(exc)
    assert r.ready() and not r.successful()
    with pytest.raises(KeyError, match="boom") as info:
        r.get()
    assert any(entry.name == "fail" for entry in info.traceback)
    assert r.exc_info[0] is KeyError
    assert r.wait() is None


def test_async_result_timeouts():
    r = AsyncResult()
    with pytest.raises(Timeout):
        r.get(block=False)
    with pytest.raises(Timeout):
        r.get_nowait()
    with pytest.raises(Timeout):
        r.get(timeout=0.01)
    assert r.wait(0.01) is None
    assert r.statistics()["waiters"] == 0


def test_async_result_as_greenlet_link():
    ok, bad = AsyncResult(), AsyncResult()
    g1 = spawn(lambda: "value")
    g1.link(ok)
    g2 = spawn(lambda: 1 / 0)
    g2.rawlink(bad)
    assert ok.get() == "value"
    with pytest.raises(ZeroDivisionError):
        bad.get()
    corolib.joinall([g1, g2])


def test_killed_getter_leaves_nothing_behind():
    r = AsyncResult()
    g = spawn(r.get)
    sleep(0)
    g.kill()
    assert r.statistics()["waiters"] == 0


# ---- links and iwait ----------------------------------------------------------------


def test_rawlink_called_once_in_the_hub():
    e = Event()
    calls = []
    e.rawlink(lambda ev: calls.append((ev, corolib.getcurrent())))
    assert e.linkcount() == 1
    e.set()
    assert calls == []  # later, from the hub
    sleep(0)
    assert calls == [(e, corolib.get_hub())]
    e.clear()
    e.set()
    sleep(0)
    assert len(calls) == 1  # links fire once


def test_rawlink_when_already_set_and_unlink():
    e = Event()
    e.set()
    calls = []
    e.rawlink(calls.append)
    sleep(0)
    assert calls == [e]
    r = AsyncResult()
    r.rawlink(calls.append)
    r.unlink(calls.append)
    r.set(1)
    sleep(0)
    assert calls == [e]


def test_link_error_is_reported_not_raised(capsys):
    e = Event()

    def bad(_):
        raise ValueError("in a link")

    e.rawlink(bad)
    e.set()
    sleep(0)
    assert "ValueError: in a link" in capsys.readouterr().err


def test_iwait_and_wait_on_events_and_results():
    events = [Event() for _ in range(3)]
    result = AsyncResult()

    def later():
        sleep(0.01)
        events[2].set()
        result.set("r")
        sleep(0.01)
        events[0].set()

    g = spawn(later)
    seen = list(corolib.iwait(events[:1] + events[2:] + [result]))
    assert seen == [events[2], result, events[0]]
    assert corolib.wait([events[1]], timeout=0.01) == []
    g.join()
    assert all(e.linkcount() == 0 for e in events)
