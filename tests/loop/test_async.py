"""corolib.uv.Async (csrc/loop/async.c): thread-safe send, coalescing."""

import threading

import pytest

from corolib import uv


def test_send_wakes_the_loop(loop):
    calls = []
    a = uv.Async(loop, calls.append)
    assert a.active
    a.send()
    loop.run(uv.UV_RUN_ONCE)
    assert calls == [a]
    a.close()


def test_sends_before_the_loop_runs_coalesce(loop):
    calls = []
    a = uv.Async(loop, calls.append)
    for _ in range(100):
        a.send()
    loop.run(uv.UV_RUN_ONCE)
    assert calls == [a]
    assert loop.run(uv.UV_RUN_NOWAIT) is True  # still active, nothing pending
    assert calls == [a]
    a.close()


def test_send_from_eight_threads(loop, run_until):
    n_threads, n_sends = 8, 2000
    calls = []
    a = uv.Async(loop, lambda h: calls.append(1))
    start = threading.Barrier(n_threads)
    finished = []

    def sender():
        start.wait()
        for _ in range(n_sends):
            a.send()
        finished.append(1)

    threads = [threading.Thread(target=sender) for _ in range(n_threads)]
    for t in threads:
        t.start()
    # The loop thread waits in uv_run with the GIL released meanwhile.
    run_until(loop, lambda: len(finished) == n_threads, timeout=30)
    for t in threads:
        t.join()
    # Whatever was sent after the last dispatch is delivered by one more
    # pass, coalesced; then nothing is pending any more.
    loop.run(uv.UV_RUN_NOWAIT)
    seen = len(calls)
    assert 1 <= seen <= n_threads * n_sends
    loop.run(uv.UV_RUN_NOWAIT)
    assert len(calls) == seen
    # And a fresh burst from all threads at once coalesces into one call.
    calls.clear()
    burst = [threading.Thread(target=lambda: [a.send() for _ in range(50)]) for _ in range(8)]
    for t in burst:
        t.start()
    for t in burst:
        t.join()
    loop.run(uv.UV_RUN_ONCE)
    assert len(calls) == 1
    a.close()


def test_async_is_kept_alive_until_closed(loop):
    calls = []
    uv.Async(loop, calls.append).send()  # no reference kept
    loop.run(uv.UV_RUN_ONCE)
    assert len(calls) == 1
    calls[0].close()
    calls.clear()


def test_send_after_close_raises(loop):
    a = uv.Async(loop, lambda h: None)
    a.close()
    with pytest.raises(uv.HandleClosedError):
        a.send()


def test_callback_is_required(loop):
    with pytest.raises(TypeError):
        uv.Async(loop)
    with pytest.raises(TypeError, match="callable"):
        uv.Async(loop, None)
