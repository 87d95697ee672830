"""What only corolib sockets do: cooperate, and close safely under waiters."""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import socket as std_socket
import time
import warnings

import pytest
from netutil import listener

import corolib
import corolib.socket as S
from corolib import _socket_common


def hub_fds() -> int:
    return corolib.get_hub().statistics()["fds"]


def switches() -> int:
    return corolib.get_hub().statistics()["switches"]


# ---- identity and mode ----------------------------------------------------------------


def test_is_a_stdlib_socket() -> None:
    with S.socket() as s:
        assert isinstance(s, std_socket.socket)
        assert isinstance(s, std_socket.SocketType)
        assert S.SocketType is S.socket
        assert "corolib.socket.socket" in repr(s)


def test_fd_is_nonblocking_whatever_the_user_sets() -> None:
    with S.socket() as s:
        assert s.gettimeout() is None and s.getblocking()
        assert fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
        s.settimeout(5)
        assert fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
    # Adopting a blocking fd makes it non-blocking too.
    raw = std_socket.socket()
    assert not fcntl.fcntl(raw.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
    with S.socket(fileno=raw.detach()) as s:
        assert s.gettimeout() is None
        assert fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK


def test_accept_and_helpers_return_corolib_sockets() -> None:
    with S.create_server(("127.0.0.1", 0)) as lsock:
        assert type(lsock) is S.socket
        with S.create_connection(lsock.getsockname()) as c:
            assert type(c) is S.socket
            conn, _ = lsock.accept()
            with conn:
                assert type(conn) is S.socket and conn.gettimeout() is None
                dup = conn.dup()
                with dup:
                    assert type(dup) is S.socket
    a, b = S.socketpair()
    with a, b:
        assert type(a) is S.socket and type(b) is S.socket
        with S.fromfd(a.fileno(), S.AF_UNIX, S.SOCK_STREAM) as c:
            assert type(c) is S.socket
            c.sendall(b"via dup")
            assert b.recv(10) == b"via dup"


# ---- try the syscall first --------------------------------------------------------


def test_ready_io_does_not_switch() -> None:
    a, b = S.socketpair()
    with a, b:
        b.sendall(b"x" * 100)
        before = switches()
        for _ in range(10):
            assert a.recv(10) == b"x" * 10
            a.send(b"y")
        assert switches() == before  # never parked: the data was there
        assert hub_fds() == 0  # and the hub never had to watch the fd


def test_others_run_while_one_waits() -> None:
    a, b = S.socketpair()
    progress = []

    def ticker():
        for i in range(5):
            progress.append(i)
            corolib.sleep(0.01)
        b.sendall(b"done")

    with a, b:
        g = corolib.spawn(ticker)
        assert a.recv(10) == b"done"  # parks; the ticker runs meanwhile
        assert progress == [0, 1, 2, 3, 4]
        g.join()


# ---- the read hint: a recv after a short read waits without a syscall -------------------


def recv_skipped() -> int:
    return corolib.get_hub().statistics()["recv_skipped"]


def test_read_hint_skips_the_recv_that_would_fail() -> None:
    a, b = S.socketpair()

    def writer():
        b.sendall(b"first")
        corolib.sleep(0.02)
        b.sendall(b"second")

    with a, b:
        g = corolib.spawn(writer)
        assert a.recv(100) == b"first"  # short: the queue is empty now
        before = recv_skipped()
        assert a.recv(100) == b"second"
        assert recv_skipped() == before + 1
        buf = bytearray(100)
        corolib.spawn(b.sendall, b"third")
        assert a.recv_into(buf) == 5  # recv_into reads the same hint
        assert recv_skipped() == before + 2
        g.join()


def test_data_that_came_while_nobody_watched_is_still_seen() -> None:
    """A stale hint costs one loop pass, never a lost wake-up: the poll is
    level-triggered, so data already queued wakes the waiter at once."""
    a, b = S.socketpair()
    with a, b:
        corolib.spawn(b.sendall, b"x")
        assert a.recv(100) == b"x"  # waited, then a short read: hint set
        b.sendall(b"queued while the reader did other things")
        corolib.sleep(0.05)
        before = recv_skipped()
        t0 = time.monotonic()
        assert a.recv(100) == b"queued while the reader did other things"
        assert time.monotonic() - t0 < 1.0
        assert recv_skipped() == before + 1
        b.close()
        assert a.recv(100) == b""  # end of file after a hinted wait, too


def test_no_hint_for_datagrams_or_timeouts() -> None:
    """A short datagram says nothing about the next one; a recv with a
    timeout always tries first."""
    with S.socket(S.AF_INET, S.SOCK_DGRAM) as rx, S.socket(S.AF_INET, S.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        tx.sendto(b"one", rx.getsockname())
        assert rx.recv(100) == b"one"
        tx.sendto(b"two", rx.getsockname())
        tx.sendto(b"three", rx.getsockname())
        assert rx.recv(100) == b"two"
        before, sw = recv_skipped(), switches()
        assert rx.recv(100) == b"three"  # queued: no wait, no switch
        assert (recv_skipped(), switches()) == (before, sw)
    a, b = S.socketpair()
    with a, b:
        a.settimeout(5)
        corolib.spawn(b.sendall, b"x")
        assert a.recv(100) == b"x"
        corolib.spawn(b.sendall, b"y")
        before = recv_skipped()
        assert a.recv(100) == b"y"
        assert recv_skipped() == before


# ---- closing under waiters ------------------------------------------------------------


def _expect_ebadf(fn, *args):
    try:
        fn(*args)
    except OSError as exc:
        return exc.errno
    return None


@pytest.mark.parametrize("how", ["close", "detach", "module-close"])
def test_close_wakes_reader_and_writer(how: str) -> None:
    a, b = S.socketpair()
    a.setblocking(True)
    while True:  # fill a's send buffer, so a writer waits too
        try:
            a.send(b"f" * 65536, S.MSG_DONTWAIT)
        except BlockingIOError:
            break
    reader = corolib.spawn(_expect_ebadf, a.recv, 10)
    writer = corolib.spawn(_expect_ebadf, a.sendall, b"w" * 65536)
    corolib.sleep(0.01)
    assert hub_fds() == 1  # both wait on a's fd
    fd = a.fileno()
    if how == "close":
        a.close()
    elif how == "detach":
        os.close(a.detach())
    else:
        S.close(fd)
        a.detach()
    assert reader.get(timeout=5) == errno.EBADF
    assert writer.get(timeout=5) == errno.EBADF
    assert hub_fds() == 0  # the watcher went with the fd
    b.close()


def test_close_wakes_accept_and_connect_waiters() -> None:
    lsock = listener(S, backlog=0)
    acceptor = corolib.spawn(_expect_ebadf, lsock.accept)
    corolib.sleep(0.01)
    lsock.close()
    assert acceptor.get(timeout=5) == errno.EBADF

    full = listener(S, backlog=0)
    fillers = [S.socket() for _ in range(2)]
    for f in fillers:
        f.setblocking(False)
        f.connect_ex(full.getsockname())
    time.sleep(0.05)
    c = S.socket()
    connector = corolib.spawn(_expect_ebadf, c.connect, full.getsockname())
    corolib.sleep(0.05)
    c.close()
    assert connector.get(timeout=5) == errno.EBADF
    for f in fillers:
        f.close()
    full.close()
    assert hub_fds() == 0


def test_no_stale_watcher_on_a_reused_fd_number() -> None:
    a, b = S.socketpair()
    waiter = corolib.spawn(_expect_ebadf, a.recv, 10)
    corolib.sleep(0.01)
    number = a.fileno()
    a.close()
    assert waiter.get(timeout=5) == errno.EBADF
    # The next socket gets the same fd number; waiting on it must work.
    c, d = S.socketpair()
    with b, c, d:
        assert number in (c.fileno(), d.fileno())
        reused, other = (c, d) if c.fileno() == number else (d, c)
        g = corolib.spawn(reused.recv, 10)
        corolib.sleep(0.01)
        other.sendall(b"fresh")
        assert g.get(timeout=5) == b"fresh"


def test_garbage_collected_socket_releases_its_watcher() -> None:
    a, b = S.socketpair()
    a.settimeout(0.01)
    with pytest.raises(TimeoutError):
        a.recv(1)  # now the hub watches a's fd (idle)
    number = a.fileno()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del a
        gc.collect()
    corolib.sleep(0)
    assert hub_fds() == 0
    with pytest.raises(OSError):
        os.fstat(number)  # closed by the finalizer
    b.close()


def test_makefile_holds_the_fd_open_for_waiters() -> None:
    a, b = S.socketpair()
    f = a.makefile("rb")
    g = corolib.spawn(f.readline)
    corolib.sleep(0.01)
    a.close()  # not the real close: the file still refers to it
    b.sendall(b"line\n")
    assert g.get(timeout=5) == b"line\n"
    f.close()
    b.close()


# ---- interrupting waits ------------------------------------------------------------


def test_corolib_timeout_interrupts_a_wait() -> None:
    a, b = S.socketpair()
    with a, b:
        started = time.monotonic()
        with pytest.raises(corolib.Timeout), corolib.Timeout(0.1):
            a.recv(10)
        assert 0.09 <= time.monotonic() - started < 1
        b.sendall(b"after")
        assert a.recv(10) == b"after"  # the socket is still usable


def test_kill_a_waiting_greenlet() -> None:
    a, b = S.socketpair()
    with a, b:
        g = corolib.spawn(a.recv, 10)
        corolib.sleep(0.01)
        g.kill()
        assert g.dead
        corolib.sleep(0)
        assert hub_fds() <= 1
        b.sendall(b"x")
        assert a.recv(1) == b"x"


def test_two_readers_share_one_socket() -> None:
    a, b = S.socketpair()
    with a, b:
        r1 = corolib.spawn(a.recv, 1)
        r2 = corolib.spawn(a.recv, 1)
        corolib.sleep(0.01)
        b.sendall(b"12")
        assert sorted([r1.get(timeout=5), r2.get(timeout=5)]) == [b"1", b"2"]


# ---- names ---------------------------------------------------------------------------


def test_module_mirrors_the_stdlib() -> None:
    assert set(S.__all__) == set(std_socket.__all__)
    replaced = {
        "socket",
        "SocketType",
        "create_connection",
        "create_server",
        "socketpair",
        "fromfd",
        "close",
        "getaddrinfo",
        "gethostbyname",
        "gethostbyname_ex",
        "gethostbyaddr",
        "getnameinfo",
        "getfqdn",
    }
    for name in std_socket.__all__:
        ours, theirs = getattr(S, name), getattr(std_socket, name)
        if name in replaced:
            assert ours is not theirs, name
            assert getattr(ours, "__doc__", None), name
        else:
            assert ours is theirs, name
    assert S._GLOBAL_DEFAULT_TIMEOUT is std_socket._GLOBAL_DEFAULT_TIMEOUT
    assert S.SocketIO is std_socket.SocketIO
    assert S.timeout is TimeoutError
    with pytest.raises(AttributeError):
        S.no_such_name  # noqa: B018


def test_stdlib_helpers_work_on_corolib_sockets() -> None:
    a, b = S.socketpair()
    r, w = os.pipe()
    with a, b:
        assert S.send_fds(a, [b"fd"], [r]) == 2
        msg, fds, _flags, _addr = S.recv_fds(b, 10, 1)
        assert msg == b"fd" and len(fds) == 1
        for fd in (r, w, *fds):
            os.close(fd)


def test_sendmsg_with_address_and_recvmsg() -> None:
    with S.socket(S.AF_INET, S.SOCK_DGRAM) as rx, S.socket(S.AF_INET, S.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        assert tx.sendmsg(iter([b"a", b"b"]), [], 0, rx.getsockname()) == 2
        data, anc, _flags, addr = rx.recvmsg(10)
        assert data == b"ab" and anc == [] and addr[1] == tx.getsockname()[1]


def test_connect_with_a_host_name() -> None:
    with listener(S) as lsock, S.socket() as c:
        c.connect(("localhost", lsock.getsockname()[1]))
        conn, _ = lsock.accept()
        conn.close()


def test_python_waits_go_through_wait_fd(monkeypatch) -> None:
    # recvfrom is not one of the C hot paths: its waits are wait_fd's.
    calls = []
    real = _socket_common.wait_fd

    def spy(fd, writable, deadline):
        calls.append((fd, writable))
        return real(fd, writable, deadline)

    monkeypatch.setattr("corolib.socket.wait_fd", spy)
    a, b = S.socketpair()
    with a, b:
        corolib.spawn_later(0.01, b.sendall, b"x")
        assert a.recvfrom(1)[0] == b"x"
        corolib.spawn_later(0.01, b.sendall, b"y")
        assert a.recv(1) == b"y"  # the C hot path: waits without wait_fd
    assert len(calls) == 1 and calls[0][1] is False
