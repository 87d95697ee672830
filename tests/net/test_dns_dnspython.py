"""The cooperative resolver on dnspython (COROLIB_RESOLVER=dnspython).

Its answers are checked two ways: against the C library's resolver for what
both read (the hosts file, and the machine's name server for names it does
not know), and against a real DNS server this file runs on 127.0.0.1 (a
thread with a UDP and a TCP socket, answering from a small zone), where the
expected 5-tuples are the C library's for the zone's addresses.
"""

from __future__ import annotations

import os
import socket as std_socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("dns.message", reason="needs dnspython (make test installs it)")

import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.rrset  # noqa: E402

import corolib  # noqa: E402
import corolib.dns as codns  # noqa: E402
import corolib.socket as S  # noqa: E402

ZONE: dict[tuple[str, str], list[str]] = {
    ("www.test.", "A"): ["192.0.2.10", "192.0.2.11"],
    ("www.test.", "AAAA"): ["2001:db8::10"],
    ("alias.test.", "CNAME"): ["www.test."],
    ("v4only.test.", "A"): ["192.0.2.20"],
    ("v6only.test.", "AAAA"): ["2001:db8::30"],
    ("big.test.", "A"): [f"198.51.100.{i}" for i in range(1, 101)],  # > 512 bytes: TCP
    ("slow.test.", "A"): ["192.0.2.40"],
    ("www.corp.test.", "A"): ["192.0.2.50"],
    ("10.2.0.192.in-addr.arpa.", "PTR"): ["www.test."],
    ("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "PTR"): [
        "www.test."
    ],
}
SERVFAIL = {"servfail.test."}


class FakeDNS:
    """A DNS server on 127.0.0.1 (UDP and TCP on one port), answering from ZONE.

    Queries for slow.test. are held until ``slow_batch`` of them are pending
    (or 10 s pass): then all are answered at once.
    """

    def __init__(self) -> None:
        for _ in range(100):  # a port free for both UDP and TCP
            self.udp = std_socket.socket(std_socket.AF_INET, std_socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = std_socket.socket()
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise RuntimeError("found no port free for both UDP and TCP")
        self.tcp.listen(16)
        self.queries: list[tuple[str, str, str]] = []  # (transport, name, type)
        self.slow_batch = 1
        self.slow_pending: list[tuple[Any, Any]] = []
        self.slow_peak = 0
        self._stop = False
        self.threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for t in self.threads:
            t.start()

    def answer(self, query: Any) -> Any:
        response = dns.message.make_response(query)
        question = query.question[0]
        name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        if name in SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        known = any(n == name for n, _ in ZONE)
        target = name
        if (name, "CNAME") in ZONE:
            target = ZONE[(name, "CNAME")][0]
            response.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", target))
        records = ZONE.get((target, rdtype))
        if records:
            response.answer.append(dns.rrset.from_text_list(target, 60, "IN", rdtype, records))
        elif not known:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    def _serve_udp(self) -> None:
        self.udp.settimeout(0.05)
        while not self._stop:
            try:
                data, peer = self.udp.recvfrom(65535)
            except TimeoutError:
                self._flush_slow(force=False)
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            question = query.question[0]
            self.queries.append(
                ("udp", question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
            )
            if question.name.to_text() == "slow.test.":
                self.slow_pending.append((query, peer))
                self.slow_peak = max(self.slow_peak, len(self.slow_pending))
                self._flush_slow(force=False)
                continue
            self._send_udp(query, peer)

    def _flush_slow(self, force: bool) -> None:
        pending = self.slow_pending
        if pending and (force or len(pending) >= self.slow_batch):
            self.slow_pending = []
            for query, peer in pending:
                self._send_udp(query, peer)

    def _send_udp(self, query: Any, peer: Any) -> None:
        response = self.answer(query)
        try:
            wire = response.to_wire(max_size=512, want_shuffle=False)
        except dns.exception.TooBig:  # over UDP's 512 bytes: truncated, TC set
            response.answer = []
            response.flags |= dns.flags.TC
            wire = response.to_wire(want_shuffle=False)
        self.udp.sendto(wire, peer)

    def _serve_tcp(self) -> None:
        self.tcp.settimeout(0.05)
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                size = int.from_bytes(conn.recv(2, std_socket.MSG_WAITALL), "big")
                query = dns.message.from_wire(conn.recv(size, std_socket.MSG_WAITALL))
                question = query.question[0]
                self.queries.append(
                    ("tcp", question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
                )
                wire = self.answer(query).to_wire(want_shuffle=False)
                conn.sendall(len(wire).to_bytes(2, "big") + wire)

    def close(self) -> None:
        self._stop = True
        for t in self.threads:
            t.join(5)
        self.udp.close()
        self.tcp.close()


@pytest.fixture(scope="module")
def fake_dns() -> Iterator[FakeDNS]:
    server = FakeDNS()
    yield server
    server.close()


@pytest.fixture(scope="module")
def hosts_file(tmp_path_factory: Any) -> str:
    path = tmp_path_factory.mktemp("hosts") / "hosts"
    path.write_text(
        "# a test hosts file\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost\n"
        "127.0.0.5 files.test filesalias  # comment\n"
        "127.0.0.6 www.test\n"
        "127.0.0.7 multi.test\n"
        "127.0.0.8 multi.test\n"
    )
    return str(path)


@pytest.fixture
def resolver(fake_dns: FakeDNS, hosts_file: str) -> Iterator[Any]:
    r = codns.DnsPythonResolver(
        nameservers=["127.0.0.1"],
        port=fake_dns.port,
        hosts_file=hosts_file,
        timeout=2,
        search=["corp.test"],
        ndots=1,
    )
    codns.set_resolver(r)
    try:
        yield r
    finally:
        codns.set_resolver(None)


def system(addresses: list[str], port: Any, family: int = 0, type: int = 0, flags: int = 0) -> Any:
    """What the C library gives for these addresses (numeric: no lookup)."""
    out = []
    for a in addresses:
        out += std_socket.getaddrinfo(a, port, family, type, 0, flags | std_socket.AI_NUMERICHOST)
    return out


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001
        return ("error", type(exc), getattr(exc, "errno", None), str(exc))


# ---- the same as the C library's resolver -------------------------------------------------


SYSTEM_CASES = [
    ("localhost", 80),
    ("localhost", "http"),
    ("localhost", None, 0, std_socket.SOCK_STREAM),
    ("localhost", 80, std_socket.AF_INET, 0, 0, std_socket.AI_CANONNAME),
    ("localhost", "no-such-service"),
    ("LOCALHOST", 80, std_socket.AF_INET),
    ("127.0.0.1", 80),
    ("::1", 80, std_socket.AF_INET6),
]


@pytest.mark.parametrize("args", SYSTEM_CASES, ids=repr)
def test_getaddrinfo_matches_the_c_library(args: Any) -> None:
    codns.set_resolver(codns.DnsPythonResolver())  # the machine's own hosts file and servers
    try:
        assert outcome(S.getaddrinfo, *args) == outcome(std_socket.getaddrinfo, *args)
    finally:
        codns.set_resolver(None)


def test_host_lookups_match_the_c_library() -> None:
    names = ["localhost"]
    with open("/etc/hosts") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and fields[0].startswith("127."):
                names += fields[1:]
    codns.set_resolver(codns.DnsPythonResolver())
    try:
        for name in names:
            for ours, theirs in [
                (S.gethostbyname, std_socket.gethostbyname),
                (S.gethostbyname_ex, std_socket.gethostbyname_ex),
                (S.gethostbyaddr, std_socket.gethostbyaddr),
            ]:
                assert outcome(ours, name) == outcome(theirs, name), (ours.__name__, name)
        for sockaddr, flags in [
            (("127.0.0.1", 80), 0),
            (("127.0.0.1", 80), std_socket.NI_NUMERICSERV),
            (("127.0.0.1", 80), std_socket.NI_NAMEREQD),
            (("localhost", 80), 0),
        ]:
            ours = outcome(S.getnameinfo, sockaddr, flags)
            assert ours == outcome(std_socket.getnameinfo, sockaddr, flags)
    finally:
        codns.set_resolver(None)


# ---- the hosts file ------------------------------------------------------------------------


def test_hosts_file_comes_first(resolver: Any, fake_dns: FakeDNS) -> None:
    assert S.getaddrinfo("files.test", 80, S.AF_INET, S.SOCK_STREAM) == system(
        ["127.0.0.5"], 80, S.AF_INET, S.SOCK_STREAM
    )
    assert S.gethostbyname_ex("filesalias") == ("files.test", ["filesalias"], ["127.0.0.5"])
    assert S.gethostbyname_ex("files.test") == ("files.test", ["filesalias"], ["127.0.0.5"])
    # www.test is in the hosts file too: the file wins, DNS is not asked (IPv4).
    before = len(fake_dns.queries)
    assert S.gethostbyname("www.test") == "127.0.0.6"
    assert len(fake_dns.queries) == before
    # multi on: every line naming the host.
    assert S.gethostbyname_ex("multi.test") == ("multi.test", [], ["127.0.0.7", "127.0.0.8"])
    assert S.gethostbyaddr("127.0.0.5") == ("files.test", ["filesalias"], ["127.0.0.5"])
    assert S.gethostbyaddr("::1") == ("localhost", ["ip6-localhost"], ["::1"])
    canon = S.getaddrinfo("filesalias", 80, S.AF_INET, S.SOCK_STREAM, 0, S.AI_CANONNAME)
    assert canon[0][3] == "files.test"


def test_hosts_file_is_read_again_when_it_changes(resolver: Any, tmp_path: Any) -> None:
    path = tmp_path / "hosts"
    path.write_text("127.0.0.9 changing.test\n")
    resolver.hosts = type(resolver.hosts)(str(path))
    assert S.gethostbyname("changing.test") == "127.0.0.9"
    path.write_text("127.0.0.10 changing.test other.test\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert S.gethostbyname("changing.test") == "127.0.0.10"


# ---- DNS: A, AAAA, CNAME, PTR ----------------------------------------------------------


def test_a_and_aaaa(resolver: Any) -> None:
    assert S.getaddrinfo("v4only.test", 443, S.AF_INET) == system(["192.0.2.20"], 443, S.AF_INET)
    assert S.getaddrinfo("v6only.test", 443, S.AF_INET6) == system(
        ["2001:db8::30"], 443, S.AF_INET6
    )
    # Two A records, in the order the server gave them; every socket type.
    assert S.getaddrinfo("www.test", "http", S.AF_INET6) == system(
        ["2001:db8::10"], "http", S.AF_INET6
    )
    assert S.gethostbyname("v4only.test") == "192.0.2.20"
    assert S.gethostbyname_ex("v4only.test") == ("v4only.test", [], ["192.0.2.20"])


def test_both_families_ipv6_first_when_reachable(resolver: Any) -> None:
    infos = S.getaddrinfo("v4only.test", 80, 0, S.SOCK_STREAM)
    assert infos == system(["192.0.2.20"], 80, 0, S.SOCK_STREAM)  # no AAAA: A alone
    s = std_socket.socket(std_socket.AF_INET6, std_socket.SOCK_DGRAM)
    try:
        s.connect(("2001:db8::10", 9))
        v6_reachable = True
    except OSError:
        v6_reachable = False
    finally:
        s.close()
    # www.test's A records are in the hosts file only for IPv4 lookups in the
    # test hosts file; use a resolver without it.
    resolver.hosts = type(resolver.hosts)("/nonexistent")
    v4 = system(["192.0.2.10", "192.0.2.11"], 80, 0, S.SOCK_STREAM)
    v6 = system(["2001:db8::10"], 80, 0, S.SOCK_STREAM)
    expected = v6 + v4 if v6_reachable else v4 + v6
    assert S.getaddrinfo("www.test", 80, 0, S.SOCK_STREAM) == expected


def test_cname_chain_gives_the_canonical_name(resolver: Any) -> None:
    resolver.hosts = type(resolver.hosts)("/nonexistent")
    infos = S.getaddrinfo("alias.test", 80, S.AF_INET, S.SOCK_STREAM, 0, S.AI_CANONNAME)
    expected = system(["192.0.2.10", "192.0.2.11"], 80, S.AF_INET, S.SOCK_STREAM)
    assert [i[4] for i in infos] == [e[4] for e in expected]
    assert infos[0][3] == "www.test" and all(i[3] == "" for i in infos[1:])
    assert S.gethostbyname_ex("alias.test") == (
        "www.test",
        ["alias.test"],
        ["192.0.2.10", "192.0.2.11"],
    )


def test_ptr(resolver: Any) -> None:
    assert S.gethostbyaddr("192.0.2.10") == ("www.test", [], ["192.0.2.10"])
    assert S.gethostbyaddr("2001:db8::10") == ("www.test", [], ["2001:db8::10"])
    assert S.getnameinfo(("192.0.2.10", 80), 0) == ("www.test", "http")
    assert S.getnameinfo(("192.0.2.99", 80), 0) == ("192.0.2.99", "http")
    with pytest.raises(S.gaierror) as info:
        S.getnameinfo(("192.0.2.99", 80), S.NI_NAMEREQD)
    assert info.value.errno == std_socket.EAI_NONAME
    with pytest.raises(S.herror, match="Unknown host"):
        S.gethostbyaddr("192.0.2.99")


def test_truncated_answer_is_asked_again_over_tcp(resolver: Any, fake_dns: FakeDNS) -> None:
    infos = S.getaddrinfo("big.test", 80, S.AF_INET, S.SOCK_STREAM)
    assert infos == system(ZONE[("big.test.", "A")], 80, S.AF_INET, S.SOCK_STREAM)
    assert ("tcp", "big.test.", "A") in fake_dns.queries


def test_search_list(resolver: Any) -> None:
    # "www.corp" has a dot (ndots=1): asked as is first (NXDOMAIN), then with
    # the search domain.
    assert S.gethostbyname("www") == "192.0.2.50"  # www.corp.test
    assert S.gethostbyname("www.test.") == "127.0.0.6"  # the hosts file, absolute name


def test_errors(resolver: Any, fake_dns: FakeDNS) -> None:
    for name, code in [
        ("nothing.test", std_socket.EAI_NONAME),
        ("servfail.test", std_socket.EAI_AGAIN),
    ]:
        with pytest.raises(S.gaierror) as info:
            S.getaddrinfo(name, 80)
        assert info.value.errno == code, name
        assert str(info.value) == str(std_socket.gaierror(code, info.value.strerror))
    with pytest.raises(S.gaierror) as info:
        S.getaddrinfo("v6only.test", 80, S.AF_INET)
    assert info.value.errno == getattr(std_socket, "EAI_NODATA", -5)
    with pytest.raises(S.gaierror) as info:
        S.getaddrinfo("localhost", "no-such-service")
    assert info.value.errno == std_socket.EAI_SERVICE
    # No server listening: refused at once, EAI_AGAIN.
    dead = codns.DnsPythonResolver(nameservers=["127.0.0.1"], port=9, hosts_file="/nonexistent")
    codns.set_resolver(dead)
    with pytest.raises(S.gaierror) as info:
        S.getaddrinfo("www.test", 80)
    assert info.value.errno == std_socket.EAI_AGAIN


def test_v4mapped(resolver: Any) -> None:
    resolver.hosts = type(resolver.hosts)("/nonexistent")
    infos = S.getaddrinfo("v4only.test", 80, S.AF_INET6, S.SOCK_STREAM, 0, S.AI_V4MAPPED)
    assert infos == system(["::ffff:192.0.2.20"], 80, S.AF_INET6, S.SOCK_STREAM)


# ---- cooperative: no thread per lookup --------------------------------------------------


def test_50_lookups_wait_on_a_slow_server_together(resolver: Any, fake_dns: FakeDNS) -> None:
    """The server answers slow.test only once 50 queries are pending at once."""
    fake_dns.slow_batch = 50
    threads_before = codns.statistics()["threads"]
    try:
        lookups = [corolib.spawn(S.gethostbyname, "slow.test") for _ in range(50)]
        assert [g.get(timeout=30) for g in lookups] == ["192.0.2.40"] * 50
    finally:
        fake_dns.slow_batch = 1
        fake_dns._flush_slow(force=True)
    assert fake_dns.slow_peak >= 50
    assert codns.statistics()["threads"] == threads_before  # no worker thread started


# ---- choosing it ------------------------------------------------------------------------


def run_env(value: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COROLIB_RESOLVER=value)
    code = (
        "import socket, corolib.dns as d, corolib.socket as S\n"
        "print(type(d.get_resolver()).__name__)\n"
        "print(S.getaddrinfo('localhost', 80) == socket.getaddrinfo('localhost', 80))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd="/", timeout=60
    )


def test_environment_variable_selects_the_resolver() -> None:
    result = run_env("dnspython")
    assert result.stdout.split() == ["DnsPythonResolver", "True"], result.stderr
    result = run_env("thread")
    assert result.stdout.split() == ["NoneType", "True"], result.stderr
    result = run_env("bogus")
    assert result.returncode != 0
    assert "COROLIB_RESOLVER='bogus'" in result.stderr and "dnspython" in result.stderr


def test_resolv_conf_options(monkeypatch: Any) -> None:
    monkeypatch.setenv("RES_OPTIONS", "timeout:3 attempts:4")
    r = codns.DnsPythonResolver()
    assert (r.timeout, r.attempts) == (3.0, 4)
    monkeypatch.delenv("RES_OPTIONS")
    with open("/etc/resolv.conf") as f:
        configured = any(
            line.split()[:1] == ["options"] and "timeout:" in line for line in f if line.strip()
        )
    if not configured:
        assert codns.DnsPythonResolver().timeout == 5.0  # the C library's default


def test_silent_server_times_out_with_eai_again() -> None:
    silent = std_socket.socket(std_socket.AF_INET, std_socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # receives the queries, never answers
    try:
        codns.set_resolver(
            codns.DnsPythonResolver(
                nameservers=["127.0.0.1"],
                port=silent.getsockname()[1],
                hosts_file="/nonexistent",
                timeout=0.3,
                attempts=2,
            )
        )
        t0 = time.monotonic()
        with pytest.raises(S.gaierror) as info:
            S.getaddrinfo("www.test", 80, S.AF_INET)
        elapsed = time.monotonic() - t0
        assert info.value.errno == std_socket.EAI_AGAIN
        assert 0.6 * 0.95 <= elapsed < 10  # two attempts of 0.3 s, not fewer
    finally:
        codns.set_resolver(None)
        silent.close()
