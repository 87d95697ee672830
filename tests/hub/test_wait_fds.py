"""wait_fds: one park for many fds (the basis of select/poll)."""

import os
import time

import pytest
from hubutil import close_fd, refs_back, run_py

import corolib
from corolib import Timeout, cancel_wait, sleep, spawn
from corolib._core import wait_fds
from corolib.hub import get_hub


@pytest.fixture
def pipes():
    made = [os.pipe() for _ in range(3)]
    yield made
    for r, w in made:
        for fd in (r, w):
            try:
                close_fd(fd)
            except OSError:
                pass


def test_any_fd_wakes_the_one_waiter(pipes):
    (r1, w1), (r2, w2), (r3, w3) = pipes
    hub = get_hub()

    def writer():
        sleep(0.01)
        os.write(w2, b"x")

    spawn(writer)
    t0 = time.monotonic()
    assert wait_fds([r1, r2, r3]) is True
    assert time.monotonic() - t0 >= 0.01
    stats = hub.statistics()
    assert stats["parked"] == 0
    assert stats["fds"] == 3


def test_one_park_however_many_fds(pipes):
    hub = get_hub()
    g = spawn(wait_fds, [r for r, _ in pipes], [])
    sleep(0)
    assert hub.statistics()["parked"] == 1  # proxies are not parked greenlets
    assert "waits for select()" in hub.describe_parked()
    os.write(pipes[0][1], b"x")
    g.join()
    assert g.value is True


def test_writable_and_mixed(pipes):
    (r1, w1), _, _ = pipes
    assert wait_fds([r1], [w1]) is True
    assert get_hub().wait_fds(writable=[w1], timeout=1) is True


def test_timeout_and_never_early(pipes):
    rs = [r for r, _ in pipes]
    t0 = time.monotonic_ns()
    assert wait_fds(rs, timeout=0.02) is False
    assert time.monotonic_ns() - t0 >= 0.02e9
    t0 = time.monotonic_ns()
    assert wait_fds([], [], timeout=0.01) is False  # no fds: a sleep
    assert time.monotonic_ns() - t0 >= 0.01e9


def test_same_fd_many_times(pipes):
    (r1, w1), _, _ = pipes
    os.write(w1, b"x")
    assert wait_fds([r1, r1, r1], [r1]) is True
    assert get_hub().statistics()["fds"] == 1


def test_regular_file_is_ready_at_once(pipes, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with open(path, "rb") as f:
        assert wait_fds([pipes[0][0], f], timeout=5) is True


def test_cancel_wait_on_one_fd_raises_in_the_waiter(pipes):
    (r1, _), (r2, _), _ = pipes
    exc = OSError("closed under select")

    def waiter():
        try:
            wait_fds([r1, r2])
        except OSError as e:
            return e

    g = spawn(waiter)
    sleep(0)
    assert cancel_wait(r2, exc) == 1
    assert g.get() is exc
    assert get_hub().statistics()["parked"] == 0


def test_timeout_and_kill_release_every_proxy(pipes):
    rs = [r for r, _ in pipes]
    with pytest.raises(Timeout):
        with Timeout(0.01):
            wait_fds(rs)
    g = spawn(wait_fds, rs)
    sleep(0)
    g.kill()
    assert g.dead
    # Nothing left on the fds: a write wakes nobody, and a new wait works.
    os.write(pipes[1][1], b"x")
    assert wait_fds(rs, timeout=5) is True


def test_refcounts(pipes):
    class Fd:
        def __init__(self, fd):
            self.fd = fd

        def fileno(self):
            return self.fd

    objs = [Fd(r) for r, _ in pipes]
    os.write(pipes[2][1], b"x")
    with refs_back(*objs):
        for _ in range(20):
            assert wait_fds(objs, timeout=1) is True
            assert wait_fds(objs[:2], timeout=0.0001) is False


@pytest.mark.parametrize(
    "readable, exc",
    [([-1], ValueError), (["x"], TypeError), (5, TypeError), ([2**40], OverflowError)],
)
def test_bad_arguments(readable, exc):
    with pytest.raises(exc):
        wait_fds(readable, timeout=0.001)
    assert get_hub().statistics()["parked"] == 0


@pytest.mark.parametrize(
    "bad, exc", [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError)]
)
def test_bad_timeout(pipes, bad, exc):
    with pytest.raises(exc):
        wait_fds([pipes[0][0]], timeout=bad)


def test_closed_fd_raises_and_leaves_nothing(pipes):
    (r1, _), _, _ = pipes
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError):
        wait_fds([r1, r], timeout=1)
    stats = get_hub().statistics()
    assert stats["parked"] == 0


def test_zero_timeout_returns_false():
    proc = run_py(
        """
        import os
        from corolib._core import wait_fds
        r, w = os.pipe()
        print(wait_fds([r], timeout=0))
        """,
        timeout=8,
        check_rc=None,
        raise_on_timeout=False,
    )
    assert proc.stdout.strip() == "False", proc


def test_loop_exit_names_select():
    with pytest.raises(corolib.LoopExit) as info:
        wait_fds([], [])
    assert "waits for select()" in str(info.value)
