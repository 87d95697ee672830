"""Waiting for file descriptors: real pipes and sockets, one poll per fd, cancel_wait."""

import errno
import fcntl
import os
import socket
import time

import pytest
from hubutil import close_fd, refs_back, run_py

import corolib
from corolib import cancel_wait, sleep, spawn, wait_readable, wait_writable
from corolib.hub import get_hub


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            close_fd(fd)
        except OSError:
            pass


@pytest.fixture
def sockpair():
    a, b = socket.socketpair()
    yield a, b
    for s in (a, b):
        if s.fileno() >= 0:
            cancel_wait(s.fileno())
        s.close()


# ---- basics -------------------------------------------------------------------------


def test_readable_when_data_arrives(pipe):
    r, w = pipe

    def writer():
        sleep(0.01)
        os.write(w, b"x")

    spawn(writer)
    t0 = time.monotonic()
    assert wait_readable(r) is True
    assert time.monotonic() - t0 >= 0.01
    assert os.read(r, 1) == b"x"


def test_timeout_returns_false(pipe):
    r, w = pipe
    t0 = time.monotonic_ns()
    assert wait_readable(r, timeout=0.02) is False
    assert time.monotonic_ns() - t0 >= 0.02e9
    assert get_hub().statistics()["parked"] == 0


# Regression (fixed in main): a deadline already due when the hub armed its
# libuv timer was never fired while an fd poll kept libuv busy; uv_run then
# blocked in epoll for good.  In a child: the bug was a hang.


@pytest.mark.parametrize("timeout", [0, 1e-9])
def test_zero_timeout_on_an_idle_fd_returns_false(timeout):
    # In a child: the bug is a hang.
    proc = run_py(
        f"""
        import os
        from corolib import wait_readable
        r, w = os.pipe()
        print(wait_readable(r, timeout={timeout!r}))
        """,
        timeout=8,
        check_rc=None,
        raise_on_timeout=False,
    )
    assert proc.stdout.strip() == "False", proc


def test_writable_immediately(pipe):
    r, w = pipe
    assert wait_writable(w) is True
    assert wait_writable(w, timeout=0) is True


def test_writable_after_the_reader_drains(pipe):
    r, w = pipe
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    try:
        while True:
            os.write(w, b"x" * 65536)
    except BlockingIOError:
        pass
    assert wait_writable(w, timeout=0.01) is False

    def reader():
        sleep(0.01)
        while True:
            try:
                os.read(r, 1 << 20)
            except BlockingIOError:
                break
            if wait_readable(r, timeout=0) is False:
                break

    fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_NONBLOCK)
    spawn(reader)
    assert wait_writable(w, timeout=5) is True


def test_hub_methods_and_fileno_objects(sockpair):
    a, b = sockpair
    hub = get_hub()
    assert hub.wait_writable(a) is True
    assert hub.wait_readable(a, timeout=0.001) is False
    b.send(b"hi")
    assert hub.wait_readable(a.fileno()) is True
    assert wait_readable(a, timeout=None) is True
    assert a.recv(2) == b"hi"


def test_eof_wakes_readers(pipe):
    r, w = pipe

    def closer():
        sleep(0.01)
        os.close(w)

    spawn(closer)
    assert wait_readable(r, timeout=5) is True
    assert os.read(r, 1) == b""


def test_refused_connect_wakes_writer_and_fd_stays_usable():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nobody listens there now
    s = socket.socket()
    s.setblocking(False)
    try:
        try:
            s.connect(("127.0.0.1", port))
        except (BlockingIOError, InterruptedError):
            pass
        except ConnectionRefusedError:
            pytest.skip("refused synchronously")
        assert wait_writable(s, timeout=5) is True
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
        # After the error the fd can be waited on again without hanging.
        assert wait_readable(s, timeout=5) in (True, False)
    finally:
        cancel_wait(s.fileno())
        s.close()


def test_blocking_mode_of_the_fd_is_left_alone(pipe):
    r, w = pipe
    assert os.get_blocking(r) and os.get_blocking(w)
    os.write(w, b"x")
    assert wait_readable(r) is True
    assert wait_writable(w) is True
    assert os.get_blocking(r) and os.get_blocking(w)
    a, b = socket.socketpair()
    try:
        assert wait_writable(a) is True
        assert a.getblocking()
        assert os.get_blocking(a.fileno())
    finally:
        cancel_wait(a.fileno())
        a.close()
        b.close()


# ---- many waiters, one poll ------------------------------------------------------


def test_hundred_greenlets_on_one_pipe_share_one_poll(pipe):
    r, w = pipe
    hub = get_hub()
    base = hub.statistics()
    woken = []

    def waiter(i):
        woken.append((i, wait_readable(r)))

    gs = [spawn(waiter, i) for i in range(100)]
    sleep(0)
    stats = hub.statistics()
    assert stats["parked"] == 100
    assert stats["fds"] == base["fds"] + 1  # one poll for 100 waiters
    os.write(w, b"x")
    corolib.joinall(gs)
    assert woken == [(i, True) for i in range(100)]  # all, in the order they came
    assert hub.statistics()["fds"] == base["fds"] + 1


def test_readers_and_writers_on_one_fd(sockpair):
    a, b = sockpair
    hub = get_hub()
    log = []

    def reader(i):
        log.append(("r", i, wait_readable(a, timeout=5)))

    def writer(i):
        log.append(("w", i, wait_writable(a, timeout=5)))

    readers = [spawn(reader, i) for i in range(5)]
    sleep(0)
    assert hub.statistics()["fds"] == 1
    writers = [spawn(writer, i) for i in range(5)]
    corolib.joinall(writers)
    assert log == [("w", i, True) for i in range(5)]  # readers still wait
    assert all(not g.ready() for g in readers)
    assert hub.statistics()["fds"] == 1
    b.send(b"x")
    corolib.joinall(readers)
    assert log[5:] == [("r", i, True) for i in range(5)]


def test_waiters_with_mixed_timeouts(pipe):
    r, w = pipe
    out = {}

    def waiter(name, timeout):
        out[name] = wait_readable(r, timeout=timeout)

    gs = [spawn(waiter, "short", 0.01), spawn(waiter, "long", 5), spawn(waiter, "none", None)]
    sleep(0.03)
    assert out == {"short": False}
    os.write(w, b"x")
    corolib.joinall(gs)
    assert out == {"short": False, "long": True, "none": True}


def test_killed_waiter_leaves_the_others(pipe):
    r, w = pipe
    gs = [spawn(wait_readable, r) for _ in range(3)]
    sleep(0)
    gs[1].kill()
    assert gs[1].dead
    os.write(w, b"x")
    corolib.joinall(gs)
    assert gs[0].value is True and gs[2].value is True
    assert get_hub().statistics()["parked"] == 0


def test_fd_waits_refcounts(pipe):
    r, w = pipe

    class Fd:
        def fileno(self):
            return r

    fdobj = Fd()
    with refs_back(fdobj):
        os.write(w, b"x")
        for _ in range(50):
            assert wait_readable(fdobj) is True
            assert wait_readable(fdobj, timeout=0.0001) is True
        gs = [spawn(wait_readable, fdobj) for _ in range(10)]
        corolib.joinall(gs)
        del gs


# ---- cancel_wait -----------------------------------------------------------------------


def test_cancel_wait_wakes_every_waiter_with_the_error(pipe):
    r, w = pipe
    hub = get_hub()
    errors = []

    def waiter():
        try:
            wait_readable(r)
        except OSError as exc:
            errors.append(exc)

    def wwaiter():
        try:
            wait_writable(r)  # never writable: a pipe's read end
        except OSError as exc:
            errors.append(exc)

    gs = [spawn(waiter) for _ in range(10)] + [spawn(wwaiter) for _ in range(2)]
    sleep(0)
    assert hub.statistics()["fds"] == 1
    exc = OSError(errno.EBADF, "closed while waiting")
    assert cancel_wait(r, exc) == 12
    assert hub.statistics()["fds"] == 0  # the poll is released before the close
    os.close(r)
    corolib.joinall(gs)
    assert len(errors) == 12 and all(e is exc for e in errors)
    assert cancel_wait(r, exc) == 0


def test_cancel_wait_none_wakes_as_ready(pipe):
    r, w = pipe
    gs = [spawn(wait_readable, r) for _ in range(3)]
    sleep(0)
    assert get_hub().cancel_wait(r) == 3
    corolib.joinall(gs)
    assert [g.value for g in gs] == [True, True, True]


def test_cancel_wait_unknown_fd_is_zero():
    assert cancel_wait(12345) == 0
    assert cancel_wait(0, None) == 0


def test_new_wait_after_cancel_gets_a_fresh_poll(pipe):
    r, w = pipe
    g = spawn(wait_readable, r)
    sleep(0)
    cancel_wait(r, OSError("x"))
    g.join()
    assert isinstance(g.exception, OSError)
    os.write(w, b"y")
    assert wait_readable(r, timeout=5) is True
    assert get_hub().statistics()["fds"] == 1


def test_cancel_wait_refcounts(pipe):
    r, w = pipe
    exc = OSError("gone")
    with refs_back(exc):
        for _ in range(20):
            gs = [spawn(wait_readable, r) for _ in range(3)]
            sleep(0)
            assert cancel_wait(r, exc) == 3
            corolib.joinall(gs)
            del gs


@pytest.mark.parametrize("exc", ["text", int, 5])
def test_cancel_wait_bad_exception(pipe, exc):
    with pytest.raises(TypeError):
        cancel_wait(pipe[0], exc)


def test_cancel_wait_with_a_class_gives_each_waiter_its_own_instance(pipe):
    r, _ = pipe
    errors = []

    def waiter():
        try:
            wait_readable(r)
        except ConnectionAbortedError as e:
            errors.append(e)

    gs = [corolib.spawn(waiter) for _ in range(3)]
    sleep(0)
    assert cancel_wait(r, ConnectionAbortedError) == 3
    corolib.joinall(gs)
    assert len(errors) == 3 and len({id(e) for e in errors}) == 3


# ---- what cannot be polled -------------------------------------------------------------


def test_regular_files_and_directories_are_always_ready(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    with open(path, "rb") as f:
        assert wait_readable(f) is True
        assert wait_writable(f.fileno()) is True
        assert wait_readable(f, timeout=0) is True
    d = os.open(tmp_path, os.O_RDONLY)
    try:
        assert wait_readable(d) is True
    finally:
        os.close(d)
    with open(os.devnull, "rb") as f:
        assert wait_readable(f, timeout=1) is True
    assert get_hub().statistics()["fds"] == 0


def test_closed_fd_raises_oserror():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as info:
        wait_readable(r)
    assert info.value.errno == errno.EBADF
    with pytest.raises(OSError):
        wait_writable(w, timeout=1)
    assert get_hub().statistics()["fds"] == 0


@pytest.mark.parametrize(
    "bad, exc",
    [
        (-1, ValueError),
        ("3", TypeError),
        (1.5, TypeError),
        (None, TypeError),
        (2**31, OverflowError),
        (10**30, OverflowError),
    ],
)
def test_bad_fd_arguments(bad, exc):
    with pytest.raises(exc):
        wait_readable(bad)
    with pytest.raises(exc):
        wait_writable(bad, timeout=0)


@pytest.mark.parametrize(
    "bad, exc", [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError)]
)
def test_bad_timeout(pipe, bad, exc):
    with pytest.raises(exc):
        wait_readable(pipe[0], timeout=bad)
    assert get_hub().statistics()["fds"] == 0  # refused before watching


def test_huge_unopened_fd_raises_ebadf_without_allocating():
    proc = run_py(
        """
        import resource, errno
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from corolib import wait_readable
        try:
            wait_readable(2**31 - 1, timeout=0)
        except OSError as exc:
            assert exc.errno == errno.EBADF, exc
            print("EBADF")
        except MemoryError:
            print("MemoryError")
        """
    )
    assert proc.stdout.strip() == "EBADF"


def test_bad_fd_costs_no_memory():
    proc = run_py(
        """
        from corolib import wait_readable
        def rss():
            return int(open('/proc/self/statm').read().split()[1]) * 4096
        before = rss()
        try:
            wait_readable(2**24, timeout=0)
        except OSError:
            pass
        print((rss() - before) >> 20)
        """
    )
    assert int(proc.stdout) < 32


# ---- closed without cancel_wait, number reused ------------------------------------------


def test_fd_number_reused_in_the_same_round():
    proc = run_py(
        """
        import os
        from corolib import wait_readable, spawn, cancel_wait
        r, w = os.pipe()
        os.write(w, b"x")
        out = {}
        def body():
            assert wait_readable(r) is True
            os.close(r)
            os.close(w)
            r2, w2 = os.pipe()
            out["reused"] = r2 == r
            os.write(w2, b"y")
            out["ready"] = wait_readable(r2, timeout=1)
            cancel_wait(r2)
        spawn(body).join()
        print(out["reused"], out["ready"])
        """,
        timeout=30,
        check_rc=None,
        raise_on_timeout=False,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "True True"), proc.stderr


def test_regular_file_reusing_a_polled_fd_number_is_ready(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    proc = run_py(
        f"""
        import os
        from corolib import wait_readable, sleep, cancel_wait
        r, w = os.pipe()
        os.write(w, b"x")
        assert wait_readable(r) is True
        os.close(r)
        os.close(w)
        sleep(0.001)
        fd = os.open({str(path)!r}, os.O_RDONLY)
        assert fd == r
        print(wait_readable(fd, timeout=1))
        cancel_wait(fd)
        """,
        timeout=30,
        check_rc=None,
        raise_on_timeout=False,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "True"), proc.stderr


def test_fd_number_reused_after_a_round_works():
    r, w = os.pipe()
    os.write(w, b"x")
    assert wait_readable(r) is True
    os.close(r)
    os.close(w)
    sleep(0.001)  # the hub narrows idle polls at the end of its round
    r2, w2 = os.pipe()
    try:
        os.write(w2, b"y")
        assert wait_readable(r2, timeout=5) is True
    finally:
        close_fd(r2)
        close_fd(w2)


# ---- threads: each hub its own polls ----------------------------------------------------


def test_two_threads_wait_on_their_own_pipes():
    import threading

    results = []

    def body():
        r, w = os.pipe()
        try:
            gs = [spawn(wait_readable, r) for _ in range(10)]
            sleep(0)
            assert get_hub().statistics()["fds"] == 1
            os.write(w, b"x")
            corolib.joinall(gs)
            results.append([g.value for g in gs])
        finally:
            close_fd(r)
            os.close(w)
            get_hub().destroy()

    ts = [threading.Thread(target=body) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert results == [[True] * 10] * 2


def test_regular_file_reusing_the_number_of_an_fd_closed_under_a_waiter(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    proc = run_py(
        f"""
        import os
        from corolib import spawn, sleep, wait_readable, wait_writable, cancel_wait
        r, w = os.pipe()
        waiter = spawn(wait_readable, r, 2)  # someone waits on r ...
        sleep(0)
        os.close(r)  # ... and r is closed behind the hub's back
        fd = os.open({str(path)!r}, os.O_RDONLY)  # a regular file
        assert fd == r
        print(wait_writable(fd, timeout=1), wait_readable(fd, timeout=1))
        waiter.kill()
        cancel_wait(fd)
        """,
        timeout=30,
        check_rc=None,
        raise_on_timeout=False,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "True True"), proc
