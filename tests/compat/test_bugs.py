"""Seven defects a gevent port ran into, each pinned by the gevent behaviour it needs."""

from __future__ import annotations

import copy
import sys
import traceback

import pytest

import corolib
from corolib import subprocess
from corolib.local import local
from corolib.sync import AsyncResult, Event


def _tb_len(exc: BaseException) -> int:
    return len(traceback.extract_tb(exc.__traceback__))


def test_a_failing_link_does_not_stop_the_links_after_it(capsys):
    calls: list[str] = []

    def bad(g: corolib.Greenlet) -> None:
        calls.append("bad")
        raise ValueError("from a link")

    g = corolib.spawn(lambda: 1)
    g.link(bad)
    g.link(lambda g: calls.append("link"))
    g.rawlink(lambda g: calls.append("rawlink"))
    g.link_value(lambda g: calls.append("value"))
    g.join()
    corolib.sleep(0)
    assert calls == ["bad", "link", "rawlink", "value"]
    err = capsys.readouterr().err
    assert "ValueError: from a link" in err  # reported, not lost


def test_a_failing_rawlink_does_not_stop_the_links_after_it(capsys):
    calls: list[str] = []

    def bad(g: corolib.Greenlet) -> None:
        raise KeyError("raw")

    g = corolib.spawn(lambda: 1)
    g.rawlink(bad)
    g.link(lambda g: calls.append("link"))
    g.join()
    corolib.sleep(0)
    assert calls == ["link"]
    assert "KeyError: 'raw'" in capsys.readouterr().err


def test_nonblocking_acquire_of_a_green_lock_yields(run_python):
    # A green thread spins on acquire(False) while another must run to
    # release the lock; gevent's try-lock yields, so this ends.
    run_python(
        """
        import faulthandler; faulthandler.dump_traceback_later(20, exit=True)
        from corolib import monkey; monkey.patch_all()
        import threading
        for kw in ({}, {"blocking": False}):
            lock = threading.Lock(); lock.acquire()
            def spinner():
                if kw:
                    while not lock.acquire(**kw):
                        pass
                else:
                    while not lock.acquire(False):
                        pass
            s = threading.Thread(target=spinner); s.start()
            t = threading.Thread(target=lock.release); t.start()
            t.join(); s.join()
            rl = threading.RLock(); owner_done = threading.Event()
            def owner():
                with rl:
                    owner_done.wait()
            o = threading.Thread(target=owner); o.start()
            def spin_rlock():
                while not rl.acquire(False):
                    owner_done.set()
                rl.release()
            s = threading.Thread(target=spin_rlock); s.start(); s.join(); o.join()
        print("ok")
        """,
        timeout=30,
    ).expect(stdout="ok\n")


def test_copy_of_a_local_has_its_own_attributes():
    class Counter(local):
        def __init__(self, start: int = 0) -> None:
            self.n = start

    original = Counter(5)
    original.extra = [1]
    shallow = copy.copy(original)
    assert type(shallow) is Counter
    assert (shallow.n, shallow.extra) == (5, [1])
    shallow.n = 7
    assert original.n == 5
    assert shallow.extra is original.extra  # shallow: values shared
    deep = copy.deepcopy(original)
    assert deep.extra == [1] and deep.extra is not original.extra
    deep.n = 9
    assert original.n == 5
    # Another greenlet starts afresh on the copy, with __init__'s arguments.
    assert corolib.spawn(lambda: (shallow.n, hasattr(shallow, "extra"))).get() == (5, False)


def test_asyncresult_get_raises_with_the_same_traceback_every_time():
    r = AsyncResult()
    try:
        raise ValueError("stored")
    except ValueError as exc:
        r.set_exception(exc)
    lengths = []
    for _ in range(4):
        try:
            r.get()
        except ValueError as exc:
            lengths.append(_tb_len(exc))
    assert len(set(lengths)) == 1, lengths
    assert r.exc_info[2] is not None and r.exc_info[1].__class__ is ValueError


def test_greenlet_get_raises_with_the_same_traceback_every_time(capsys):
    def fail() -> None:
        raise ValueError("in greenlet")

    g = corolib.spawn(fail)
    g.join()
    lengths = []
    for _ in range(4):
        try:
            g.get()
        except ValueError as exc:
            lengths.append(_tb_len(exc))
    assert len(set(lengths)) == 1, lengths
    # exc_info keeps the traceback it was raised with (whose last frame is fail's)
    typ, value, tb = g.exc_info
    assert typ is ValueError and value is g.exception
    assert traceback.extract_tb(tb)[-1].name == "fail"
    assert "in greenlet" in capsys.readouterr().err


@pytest.mark.parametrize("cls", [AsyncResult, Event])
def test_unlink_from_a_running_rawlink_callback_stops_a_later_one(cls):
    obj = cls()
    seen: list[str] = []

    def first(_: object) -> None:
        seen.append("first")
        obj.unlink(second)

    def second(_: object) -> None:
        seen.append("second")

    obj.rawlink(first)
    obj.rawlink(second)
    obj.rawlink(lambda _: seen.append("third"))
    obj.set()
    corolib.sleep(0)
    assert seen == ["first", "third"]
    assert obj.linkcount() == 0


def test_popen_exit_while_another_greenlet_reads_stdout():
    code = "import sys, time; time.sleep(0.2); sys.stdout.write('done')"
    got: list[bytes] = []
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) as proc:
        reader = corolib.spawn(lambda: got.append(proc.stdout.read()))
        corolib.sleep(0.01)  # the reader is now parked inside read()
        assert not reader.ready()
    # As with threads: close waited for the read in progress; nothing lost.
    assert proc.returncode == 0
    reader.join()
    assert got == [b"done"]
    assert proc.stdout.closed


def test_popen_exit_while_another_greenlet_reads_text_stdout():
    code = "import time; time.sleep(0.1); print('a'); print('b')"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        reader = corolib.spawn(proc.stdout.readlines)
        corolib.sleep(0.01)
    assert reader.get(timeout=10) == ["a\n", "b\n"]


def test_event_set_then_clear_wakes_the_waiters_already_parked():
    # The reported case compared with gevent 26: set() then clear() wakes
    # the greenlets already waiting (True), but greenlets spawned and not
    # yet started when it happened wait for the next set(), in gevent too.
    event = Event()
    woke: list[tuple[str, bool]] = []
    parked = [corolib.spawn(lambda: woke.append(("parked", event.wait(5)))) for _ in range(2)]
    corolib.sleep(0)
    late = corolib.spawn(lambda: woke.append(("late", event.wait(0.05))))
    event.set()
    event.clear()
    corolib.joinall([*parked, late], timeout=10)
    assert woke == [("parked", True), ("parked", True), ("late", False)]
    event.set()
    event.clear()
    assert event.wait(0) is False
