"""corolib.dns: the stdlib's answers, without blocking the other greenlets."""

from __future__ import annotations

import socket as std_socket
import threading
import time

import pytest

import corolib
import corolib.dns as dns
import corolib.socket as S
from corolib._core import WaitQueue
from corolib._workers import Workers


def hosts_file_names() -> list[str]:
    """Names other than localhost that /etc/hosts maps to a loopback address."""
    names = []
    try:
        with open("/etc/hosts") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and fields[0].startswith("127."):
                    names += [n for n in fields[1:] if n != "localhost"]
    except OSError:
        pass
    return names


def outcome(fn, *args, **kwargs):
    """The result, or the exception's type, errno and text: what a caller can observe."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001
        return ("error", type(exc), getattr(exc, "errno", None), str(exc))


def switches() -> int:
    return corolib.get_hub().statistics()["switches"]


# ---- same answers as the stdlib -----------------------------------------------------------

GETADDRINFO_CASES = [
    ("localhost", 80),
    ("localhost", "80"),
    ("localhost", "http"),
    ("localhost", None, 0, std_socket.SOCK_STREAM),
    ("localhost", 0, std_socket.AF_INET6),
    ("127.0.0.1", 80),
    ("::1", 443, 0, std_socket.SOCK_DGRAM),
    ("::1", 80, std_socket.AF_INET),
    ("127.0.0.1", 80, std_socket.AF_INET6),
    ("127.1", 80),
    (None, 8080, std_socket.AF_INET, std_socket.SOCK_STREAM, 0, std_socket.AI_PASSIVE),
    ("127.0.0.1", 80, 0, 0, 0, std_socket.AI_CANONNAME),
    ("localhost", 80, 0, 0, 0, std_socket.AI_CANONNAME),
    ("does-not-exist.invalid", 80),
    ("bücher.invalid", 80),
    ("a" * 64 + ".example", 80),
    ("localhost", 99999),
    ("localhost", "no-such-service"),
    (b"localhost", b"80"),
    (1234, 80),
]


@pytest.mark.parametrize("args", GETADDRINFO_CASES, ids=repr)
def test_getaddrinfo_matches_stdlib(args) -> None:
    assert outcome(S.getaddrinfo, *args) == outcome(std_socket.getaddrinfo, *args)


def test_getaddrinfo_keywords_and_enums() -> None:
    ours = S.getaddrinfo("localhost", 80, type=S.SOCK_STREAM, family=S.AF_INET)
    assert ours == std_socket.getaddrinfo("localhost", 80, type=S.SOCK_STREAM, family=S.AF_INET)
    assert isinstance(ours[0][0], std_socket.AddressFamily)
    assert isinstance(ours[0][1], std_socket.SocketKind)


@pytest.mark.parametrize("name", ["localhost", *hosts_file_names(), "127.0.0.1", "", "::1"])
def test_host_lookups_match_stdlib(name: str) -> None:
    for ours, theirs in [
        (S.gethostbyname, std_socket.gethostbyname),
        (S.gethostbyname_ex, std_socket.gethostbyname_ex),
        (S.gethostbyaddr, std_socket.gethostbyaddr),
        (S.getfqdn, std_socket.getfqdn),
    ]:
        assert outcome(ours, name) == outcome(theirs, name), ours.__name__


def test_hosts_file_alias_resolves() -> None:
    names = hosts_file_names()
    if not names:
        pytest.skip("no loopback aliases in /etc/hosts")
    for name in names:
        assert S.gethostbyname(name).startswith("127.")
        infos = S.getaddrinfo(name, 80, S.AF_INET, S.SOCK_STREAM)
        assert infos and infos[0][4][0].startswith("127.")


def test_nonexistent_name_raises_gaierror() -> None:
    with pytest.raises(S.gaierror) as info:
        S.getaddrinfo("does-not-exist.invalid", 80)
    assert info.value.errno == std_socket.EAI_NONAME
    with pytest.raises(S.gaierror):
        S.gethostbyname("does-not-exist.invalid")
    with pytest.raises(S.gaierror):
        S.create_connection(("does-not-exist.invalid", 80))
    with S.socket() as s, pytest.raises(S.gaierror):
        s.connect(("does-not-exist.invalid", 80))


@pytest.mark.parametrize(
    "args",
    [
        (("127.0.0.1", 80), 0),
        (("127.0.0.1", 80), std_socket.NI_NUMERICHOST | std_socket.NI_NUMERICSERV),
        (("::1", 22, 0, 0), std_socket.NI_NUMERICSERV),
        (("localhost", 80), 0),
        (("127.0.0.1",), 0),
        ("127.0.0.1", 0),
    ],
    ids=repr,
)
def test_getnameinfo_matches_stdlib(args) -> None:
    assert outcome(S.getnameinfo, *args) == outcome(std_socket.getnameinfo, *args)


# ---- what runs inline, what waits --------------------------------------------------------


def test_literal_lookups_do_not_switch() -> None:
    before = switches()
    S.getaddrinfo("127.0.0.1", 80)
    S.getaddrinfo("::1", "443", S.AF_INET6)
    S.getaddrinfo(None, 0, flags=S.AI_PASSIVE)
    S.gethostbyname("10.1.2.3")
    S.getnameinfo(("127.0.0.1", 80), S.NI_NUMERICHOST | S.NI_NUMERICSERV)
    assert switches() == before


def test_lookup_by_name_waits_for_a_worker() -> None:
    before = switches()
    S.getaddrinfo("localhost", 80)
    assert switches() > before


def test_other_greenlets_run_during_a_lookup() -> None:
    ticks = []

    def ticker():
        while True:
            ticks.append(time.monotonic())
            corolib.sleep(0.01)

    g = corolib.spawn(ticker)
    try:
        started = time.monotonic()
        dns._run(time.sleep, 0.2)  # a slow "lookup" on a worker thread
        assert time.monotonic() - started >= 0.2
        assert len(ticks) >= 3  # the hub kept running meanwhile
    finally:
        g.kill()


def test_lookup_alone_keeps_the_hub_alive() -> None:
    # Only the main greenlet, waiting for a worker: no LoopExit.
    assert dns._run(lambda: (time.sleep(0.1), "answer")[1]) == "answer"


def test_many_concurrent_lookups() -> None:
    expected = std_socket.getaddrinfo("localhost", 80)
    lookups = [corolib.spawn(S.getaddrinfo, "localhost", 80) for _ in range(200)]
    assert all(g.get(timeout=30) == expected for g in lookups)
    stats = dns.statistics()
    assert stats["threads"] <= dns.MAX_THREADS and stats["queued"] == 0


def wait_for_idle_workers(deadline_s: float = 30) -> None:
    """Block this thread until every resolver thread is back waiting for work.

    A worker counts itself idle only after it has queued its answer to the hub
    and dropped its hold on it.
    """
    deadline = time.monotonic() + deadline_s
    while True:
        stats = dns.statistics()
        if stats["idle"] == stats["threads"] and stats["queued"] == 0:
            return
        assert time.monotonic() < deadline, f"resolver threads still busy: {stats}"
        time.sleep(0.005)


def test_timeout_abandons_a_lookup() -> None:
    started = time.monotonic()
    with pytest.raises(corolib.Timeout), corolib.Timeout(0.05):
        dns._run(time.sleep, 0.5)
    assert time.monotonic() - started < 0.45  # did not wait for the worker
    wait_for_idle_workers()  # the worker finishes; its answer must land harmlessly
    corolib.sleep(0.01)
    assert S.gethostbyname("localhost") == std_socket.gethostbyname("localhost")


def test_worker_exceptions_reach_the_caller() -> None:
    def boom():
        raise KeyError("from the worker")

    with pytest.raises(KeyError, match="from the worker"):
        dns._run(boom)


def test_idle_workers_exit(monkeypatch) -> None:
    monkeypatch.setattr(dns, "_pool", Workers(3, idle_timeout=0.05))
    lookups = [corolib.spawn(S.getaddrinfo, "localhost", 80) for _ in range(10)]
    corolib.joinall(lookups)
    assert 1 <= dns.statistics()["threads"] <= 3
    deadline = time.monotonic() + 5
    while dns.statistics()["threads"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dns.statistics()["threads"] == 0
    assert S.getaddrinfo("localhost", 80) == std_socket.getaddrinfo("localhost", 80)


def test_lookup_from_another_os_thread() -> None:
    # That thread gets its own hub; the answer goes back to it.
    result = {}

    def run():
        result["v"] = S.getaddrinfo("localhost", 80)
        corolib.get_hub().destroy()

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert result["v"] == std_socket.getaddrinfo("localhost", 80)


def test_no_hold_left_after_an_abandoned_lookup() -> None:
    # The worker releases its hold on the hub once the answer is queued,
    # even when nobody waits for it any more: then nothing keeps an empty
    # hub from reporting LoopExit.
    with pytest.raises(corolib.Timeout), corolib.Timeout(0.01):
        dns._run(time.sleep, 0.1)
    wait_for_idle_workers()
    corolib.sleep(0.01)
    with pytest.raises(corolib.LoopExit):
        WaitQueue().wait()


# ---- the pool's size ------------------------------------------------------------------------


def test_50_lookups_waiting_on_a_slow_server_are_not_capped() -> None:
    """50 lookups that each wait on the (slow) server run at the same time:
    each worker waits at a barrier that opens only when 50 are in it."""
    assert dns.MAX_THREADS >= 50
    barrier = threading.Barrier(50, timeout=20)
    lookups = [corolib.spawn(dns._run, barrier.wait) for _ in range(50)]
    assert sorted(g.get(timeout=30) for g in lookups) == list(range(50))
    assert not barrier.broken


def test_set_max_threads(monkeypatch) -> None:
    monkeypatch.setattr(dns, "_pool", Workers(dns.MAX_THREADS, dns.IDLE_SECONDS))
    monkeypatch.setattr(dns, "MAX_THREADS", dns.MAX_THREADS)
    dns.set_max_threads(3)
    assert dns.MAX_THREADS == 3
    gate = threading.Event()
    lookups = [corolib.spawn(dns._run, gate.wait, 20) for _ in range(6)]
    deadline = time.monotonic() + 10
    while dns.statistics()["queued"] != 3 and time.monotonic() < deadline:
        corolib.sleep(0.01)
    assert dns.statistics()["threads"] == 3 and dns.statistics()["queued"] == 3
    dns.set_max_threads(6)  # the waiting lookups get threads now, not at the next one
    while dns.statistics()["queued"] and time.monotonic() < deadline:
        corolib.sleep(0.01)
    assert dns.statistics()["threads"] == 6 and dns.statistics()["queued"] == 0
    gate.set()
    assert all(g.get(timeout=30) for g in lookups)
    with pytest.raises(ValueError, match="at least 1"):
        dns.set_max_threads(0)
    with pytest.raises(TypeError):
        dns.set_max_threads(2.5)  # type: ignore[arg-type]
