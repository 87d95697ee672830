"""corolib.uv.Prepare, Check, Idle (csrc/loop/watcher.c): order around poll."""

import socket

import pytest

from corolib import uv


@pytest.mark.parametrize("kind", [uv.Prepare, uv.Check, uv.Idle])
def test_start_stop(loop, kind):
    h = kind(loop)
    calls = []
    assert not h.active
    h.start(calls.append)
    assert h.active
    loop.run(uv.UV_RUN_NOWAIT)
    assert calls == [h]
    h.stop()
    assert not h.active
    loop.run(uv.UV_RUN_NOWAIT)
    assert calls == [h]
    with pytest.raises(TypeError, match="callable"):
        h.start(1)
    h.close()


def test_order_within_an_iteration(loop):
    # libuv 1.44: timers, idle, prepare, poll for I/O, check.  Callbacks
    # run after the pass, in the order libuv produced the events.
    a, b = socket.socketpair()
    try:
        order = []
        timer, idle = uv.Timer(loop), uv.Idle(loop)
        prepare, check = uv.Prepare(loop), uv.Check(loop)
        poll = uv.Poll(loop, a)
        check.start(lambda h: order.append("check"))
        poll.start(uv.UV_READABLE, lambda h, ev, err: order.append("poll"))
        prepare.start(lambda h: order.append("prepare"))
        idle.start(lambda h: order.append("idle"))
        timer.start(lambda h: order.append("timer"), 0)
        b.send(b"x")
        loop.run(uv.UV_RUN_NOWAIT)
        assert order == ["timer", "idle", "prepare", "poll", "check"]
        for h in (timer, idle, prepare, check, poll):
            h.close()
    finally:
        a.close()
        b.close()


def test_idle_keeps_the_loop_spinning(loop):
    idle = uv.Idle(loop)
    count = []

    def tick(h):
        count.append(1)
        if len(count) == 100:
            h.stop()

    idle.start(tick)
    assert loop.run() is False
    assert len(count) == 100
    idle.close()


def test_prepare_and_check_alone_do_not_block_forever(loop):
    # Prepare/check are active but a loop with nothing else to wait for
    # would block; an unref'd pair lets run() return.
    p, c = uv.Prepare(loop), uv.Check(loop)
    p.start(lambda h: None)
    c.start(lambda h: None)
    p.ref = c.ref = False
    assert loop.run() is False
    p.close()
    c.close()
