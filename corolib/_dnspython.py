"""A cooperative resolver: the hosts file, then DNS over corolib sockets (dnspython).

Used by :mod:`corolib.dns` when ``COROLIB_RESOLVER=dnspython`` (or
``corolib.dns.set_resolver(DnsPythonResolver())``).  dnspython builds and
parses the DNS messages; the exchange with the name server is corolib's own
(a UDP socket per query, TCP when the answer is truncated), so a lookup
parks only its greenlet and needs no thread: a thousand lookups waiting on a
slow server cost a thousand sockets, not a thousand threads.

What it reproduces of the C library's resolver (glibc, ``hosts: files dns``):

- the hosts file first (re-read when it changes; ``multi on``: every line
  naming the host counts), then DNS;
- ``/etc/resolv.conf``'s name servers, search list, ``ndots``, ``timeout``
  and ``attempts`` (read by dnspython), 127.0.0.1 if it names no server;
- A, AAAA (asked at the same time for ``AF_UNSPEC``), CNAME chains (the
  canonical name for ``AI_CANONNAME`` and ``gethostbyname_ex``), PTR for
  ``gethostbyaddr``/``getnameinfo``; ``AI_V4MAPPED``/``AI_ALL``;
- the same 5-tuples, services and errors (``gaierror`` with
  ``EAI_NONAME``, ``EAI_NODATA``, ``EAI_AGAIN``; ``herror`` for an unknown
  address), because everything but the name lookup itself -- ports,
  service names, socket types, literal addresses -- is still done by the C
  library, inline (it needs no network);
- with both address families in an answer, IPv6 first when this host can
  reach it (RFC 6724 rules 1 and 6 with the default policy table), else the
  order received.

Not reproduced: nsswitch sources other than ``files`` and ``dns`` (mDNS,
LDAP...), ``/etc/gai.conf``, ``AI_ADDRCONFIG`` (ignored), ``NI_NOFQDN``,
DNSSEC, EDNS options, ``options rotate``.
"""

from __future__ import annotations

import _socket
import os
import time
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from corolib import socket as _cosocket
from corolib.hub import spawn

__all__ = ["DnsPythonResolver"]

_getaddrinfo = _socket.getaddrinfo
_getnameinfo = _socket.getnameinfo
_inet_pton = _socket.inet_pton
_AF_INET = _socket.AF_INET
_AF_INET6 = _socket.AF_INET6
_gaierror = _socket.gaierror
_herror = _socket.herror

_MESSAGES = {
    _socket.EAI_NONAME: "Name or service not known",
    _socket.EAI_AGAIN: "Temporary failure in name resolution",
    getattr(_socket, "EAI_NODATA", -5): "No address associated with hostname",
}


def _gai(code: int) -> OSError:
    return _gaierror(code, _MESSAGES[code])


class _NotFound(Exception):
    """A lookup with no answer: ``kind`` is "nxdomain", "nodata" or "again"."""

    def __init__(self, kind: str) -> None:
        Exception.__init__(self, kind)
        self.kind = kind


def _family(address: str) -> int:
    try:
        _inet_pton(_AF_INET, address)
        return _AF_INET
    except OSError:
        pass
    try:
        _inet_pton(_AF_INET6, address.split("%", 1)[0])
        return _AF_INET6
    except OSError:
        return -1


class _HostsFile:
    """The hosts file, parsed; parsed again when its mtime or size changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        # name (lower case) -> [(family, address, official name, aliases)], in file order
        self.by_name: dict[str, list[tuple[int, str, str, list[str]]]] = {}
        # address -> (official name, aliases) of its first line
        self.by_address: dict[str, tuple[str, list[str]]] = {}

    def _load(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError:
            self._stamp = None
            self.by_name, self.by_address = {}, {}
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp == self._stamp:
            return
        by_name: dict[str, list[tuple[int, str, str, list[str]]]] = {}
        by_address: dict[str, tuple[str, list[str]]] = {}
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
        except OSError:
            lines = []
        for line in lines:
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            address, official, aliases = fields[0], fields[1], fields[2:]
            family = _family(address)
            if family == -1:
                continue
            if family == _AF_INET6:
                # The canonical text (as the C library prints it).
                address = _socket.inet_ntop(_AF_INET6, _inet_pton(_AF_INET6, address))
            entry = (family, address, official, aliases)
            for name in fields[1:]:
                by_name.setdefault(name.lower(), []).append(entry)
            by_address.setdefault(address, (official, aliases))
        self.by_name, self.by_address, self._stamp = by_name, by_address, stamp

    def lookup(self, name: str) -> list[tuple[int, str, str, list[str]]]:
        self._load()
        return self.by_name.get(name.lower().rstrip("."), [])

    def reverse(self, address: str) -> tuple[str, list[str]] | None:
        self._load()
        return self.by_address.get(address)


# RFC 6724's default policy table: (prefix, length, precedence).
_POLICY = [
    (b"\x00" * 15 + b"\x01", 128, 50),  # ::1
    (b"\x00" * 16, 0, 40),  # ::/0
    (b"\x00" * 10 + b"\xff\xff" + b"\x00" * 4, 96, 35),  # ::ffff:0:0/96 (IPv4)
    (b"\x20\x02" + b"\x00" * 14, 16, 30),  # 2002::/16
    (b"\x20\x01" + b"\x00" * 14, 32, 5),  # 2001::/32
    (b"\xfc" + b"\x00" * 15, 7, 3),  # fc00::/7
    (b"\x00" * 16, 96, 1),  # ::/96
    (b"\xfe\xc0" + b"\x00" * 14, 10, 1),  # fec0::/10
    (b"\x3f\xfe" + b"\x00" * 14, 16, 1),  # 3ffe::/16
]


def _precedence(family: int, address: str) -> int:
    if family == _AF_INET:
        packed = b"\x00" * 10 + b"\xff\xff" + _inet_pton(_AF_INET, address)
    else:
        packed = _inet_pton(_AF_INET6, address.split("%", 1)[0])
    value = int.from_bytes(packed, "big")
    best_len, best = -1, 40
    for prefix, length, precedence in _POLICY:
        mask = ((1 << length) - 1) << (128 - length) if length else 0
        if value & mask == int.from_bytes(prefix, "big") & mask and length > best_len:
            best_len, best = length, precedence
    return best


def _usable(family: int, address: str) -> bool:
    """Whether this host has a route to ``address`` (a UDP connect: no packet sent)."""
    try:
        s = _socket.socket(family, _socket.SOCK_DGRAM)
    except OSError:
        return False
    try:
        s.connect((address, 9))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _sort(addresses: list[tuple[int, str]]) -> list[tuple[int, str]]:
    if len({family for family, _ in addresses}) < 2:
        return addresses  # one family: the order received
    keys = {a: (not _usable(*a), -_precedence(*a)) for a in set(addresses)}
    return sorted(addresses, key=keys.__getitem__)  # stable: rule 10


def _resolv_options(path: str = "/etc/resolv.conf") -> dict[str, int]:
    """Return ``timeout:n`` and ``attempts:n`` from resolv.conf and RES_OPTIONS.

    As the C library reads them; its defaults (when absent) are 5 s and 2.
    """
    found: dict[str, int] = {}
    words: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if fields and fields[0] == "options":
                    words += fields[1:]
    except OSError:
        pass
    words += os.environ.get("RES_OPTIONS", "").split()
    for word in words:
        name, _, value = word.partition(":")
        if name in ("timeout", "attempts") and value.isdigit():
            found[name] = max(1, int(value))
    return found


class DnsPythonResolver:
    """Name lookups from the hosts file and DNS, cooperatively (see the module doc).

    ``DnsPythonResolver(nameservers=None, port=53, hosts_file="/etc/hosts",
    timeout=None, attempts=None, search=None, ndots=None)``: the defaults
    come from ``/etc/resolv.conf``.  Its methods take and return what the
    :mod:`socket` functions of the same names do.
    """

    def __init__(
        self,
        nameservers: list[str] | None = None,
        port: int = 53,
        hosts_file: str = "/etc/hosts",
        timeout: float | None = None,
        attempts: int | None = None,
        search: list[str] | None = None,
        ndots: int | None = None,
    ) -> None:
        try:
            conf: Any = dns.resolver.Resolver(configure=True)
        except (dns.exception.DNSException, OSError):
            conf = dns.resolver.Resolver(configure=False)
            conf.nameservers = ["127.0.0.1"]
        self.nameservers = list(nameservers) if nameservers is not None else list(conf.nameservers)
        if not self.nameservers:
            self.nameservers = ["127.0.0.1"]
        self.port = port
        self.hosts = _HostsFile(hosts_file)
        options = _resolv_options()
        self.timeout = float(timeout if timeout is not None else options.get("timeout", 5))
        self.attempts = int(attempts if attempts is not None else options.get("attempts", 2))
        if search is not None:
            self.search = [dns.name.from_text(s) for s in search]
        else:
            self.search = list(conf.search)
            if not self.search and conf.domain not in (None, dns.name.root):
                self.search = [conf.domain]
        self.ndots = ndots if ndots is not None else (conf.ndots or 1)

    def __repr__(self) -> str:
        return f"<DnsPythonResolver nameservers={self.nameservers} port={self.port}>"

    # -- DNS --------------------------------------------------------------------------

    def _qnames(self, host: str) -> list[dns.name.Name]:
        name = dns.name.from_text(host, origin=None)
        if name.is_absolute():
            return [name]
        absolute = name.concatenate(dns.name.root)
        names = [name + suffix for suffix in self.search]
        if host.count(".") >= self.ndots:
            names.insert(0, absolute)
        else:
            names.append(absolute)
        return names

    def _exchange(self, query: dns.message.Message) -> dns.message.Message:
        """Ask the name servers in turn, ``attempts`` rounds; TCP if truncated."""
        wire = query.to_wire()
        for _attempt in range(self.attempts):
            for server in self.nameservers:
                try:
                    response = self._udp(query, wire, server)
                    if response.flags & dns.flags.TC:
                        response = self._tcp(query, wire, server)
                except (OSError, dns.exception.DNSException):
                    continue  # timed out, refused, garbled: the next server
                if response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                    return response  # type: ignore[no-any-return]
        raise _NotFound("again")

    def _udp(self, query: Any, wire: bytes, server: str) -> Any:
        family = _AF_INET6 if ":" in server else _AF_INET
        with _cosocket.socket(family, _socket.SOCK_DGRAM) as sock:
            sock.connect((server, self.port))  # the kernel drops other sources
            sock.send(wire)
            deadline = time.monotonic() + self.timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no answer from the name server")
                sock.settimeout(remaining)
                data = sock.recv(65535)
                try:
                    response = dns.message.from_wire(data, ignore_trailing=True)
                except dns.exception.DNSException:
                    continue  # not an answer to anything
                if query.is_response(response):
                    return response

    def _tcp(self, query: Any, wire: bytes, server: str) -> Any:
        sock = _cosocket.create_connection((server, self.port), timeout=self.timeout)
        with sock:
            sock.sendall(len(wire).to_bytes(2, "big") + wire)
            reader = sock.makefile("rb")
            with reader:
                size = int.from_bytes(self._read(reader, 2), "big")
                response = dns.message.from_wire(self._read(reader, size))
        if not query.is_response(response):
            raise ConnectionError("the name server's answer is not for the query")
        return response

    @staticmethod
    def _read(reader: Any, n: int) -> bytes:
        data = reader.read(n)
        if len(data) != n:
            raise ConnectionError("the name server closed the connection")
        return data  # type: ignore[no-any-return]

    def _query(self, host: str, rdtype: Any) -> tuple[str, list[str], list[str]]:
        """(canonical name, aliases, answers) for ``host``; _NotFound if none."""
        outcome = "nxdomain"
        for qname in self._qnames(host):
            response = self._exchange(dns.message.make_query(qname, rdtype))
            if response.rcode() == dns.rcode.NXDOMAIN:
                continue
            chain = response.resolve_chaining()  # type: ignore[attr-defined]
            if chain.answer is None:
                outcome = "nodata"  # the name exists, without this type
                continue
            aliases = [c.name.to_text(omit_final_dot=True) for c in chain.cnames]
            canonical = chain.canonical_name.to_text(omit_final_dot=True)
            return canonical, aliases, [rdata.to_text() for rdata in chain.answer]
        raise _NotFound(outcome)

    # -- forward lookups -------------------------------------------------------------

    def _addresses(self, host: str, family: int) -> tuple[str, list[str], list[tuple[int, str]]]:
        """(canonical name, aliases, [(family, address)]) for a host name."""
        entries = self.hosts.lookup(host)
        if family in (_AF_INET, _AF_INET6):
            entries = [e for e in entries if e[0] == family]
        if entries:
            official = entries[0][2]
            aliases = [a for e in entries for a in e[3] if e[2] == official]
            return official, aliases, _sort([(e[0], e[1]) for e in entries])
        if family in (_AF_INET, _AF_INET6):
            return self._family_query(host, family)
        # Both families, asked at the same time.
        six = spawn(self._try_family, host, _AF_INET6)
        try:
            four = self._try_family(host, _AF_INET)
            six.join()
        except BaseException:
            six.kill(block=False)
            raise
        if six.exception is not None:
            raise six.exception
        results = [four, six.value]
        found = [r for r in results if not isinstance(r, _NotFound)]
        if not found:
            kinds = {r.kind for r in results}
            for kind in ("again", "nodata", "nxdomain"):
                if kind in kinds:
                    raise _NotFound(kind)
        canonical, aliases = found[0][0], found[0][1]
        return canonical, aliases, _sort([a for r in found for a in r[2]])

    def _try_family(self, host: str, family: int) -> Any:
        try:
            return self._family_query(host, family)
        except _NotFound as exc:
            return exc

    def _family_query(self, host: str, family: int) -> tuple[str, list[str], list[tuple[int, str]]]:
        rdtype = dns.rdatatype.A if family == _AF_INET else dns.rdatatype.AAAA
        canonical, aliases, answers = self._query(host, rdtype)
        return canonical, aliases, [(family, a) for a in answers]

    def getaddrinfo(
        self,
        host: Any,
        port: Any,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, ...]]:
        """Like :func:`socket.getaddrinfo`: the raw 5-tuples (ints, not enums)."""
        if (
            host is None
            or family not in (0, _AF_INET, _AF_INET6)
            or not isinstance(flags, int)
            or flags & _socket.AI_NUMERICHOST
        ):
            return _getaddrinfo(host, port, family, type, proto, flags)  # no lookup
        if isinstance(host, bytes):
            name = host.decode("ascii")
        elif isinstance(host, str):
            name = host.encode("idna").decode("ascii")
        else:
            return _getaddrinfo(host, port, family, type, proto, flags)  # the TypeError
        numeric = flags | _socket.AI_NUMERICHOST
        if _family(name) != -1:
            return _getaddrinfo(name, port, family, type, proto, numeric)
        # The service first, as the C library does: a bad one is EAI_SERVICE.
        loopback = "::1" if family == _AF_INET6 else "127.0.0.1"
        _getaddrinfo(loopback, port, family, type, proto, numeric)
        v4mapped = family == _AF_INET6 and flags & _socket.AI_V4MAPPED
        try:
            canonical, _, addresses = self._addresses(name, family)
        except _NotFound as exc:
            if not v4mapped:
                raise self._gai_error(exc.kind) from None
            canonical, addresses = name, []
        if v4mapped and (not addresses or flags & _socket.AI_ALL):
            try:
                canonical4, _, found = self._addresses(name, _AF_INET)
            except _NotFound as exc:
                if not addresses:
                    raise self._gai_error(exc.kind) from None
            else:
                canonical = canonical if addresses else canonical4
                addresses += [(_AF_INET6, "::ffff:" + a) for _, a in found]
        result: list[tuple[Any, ...]] = []
        numeric &= ~_socket.AI_CANONNAME
        for fam, address in addresses:
            result += _getaddrinfo(address, port, fam, type, proto, numeric)
        if flags & _socket.AI_CANONNAME and result:
            first = result[0]
            result[0] = (first[0], first[1], first[2], canonical, first[4])
        return result

    @staticmethod
    def _gai_error(kind: str) -> OSError:
        if kind == "again":
            return _gai(_socket.EAI_AGAIN)
        if kind == "nodata":
            return _gai(getattr(_socket, "EAI_NODATA", -5))
        return _gai(_socket.EAI_NONAME)

    def gethostbyname_ex(self, host: str) -> tuple[str, list[str], list[str]]:
        """Like :func:`socket.gethostbyname_ex` (IPv4)."""
        try:
            canonical, aliases, addresses = self._addresses(host.encode("idna").decode(), _AF_INET)
        except _NotFound as exc:
            raise self._gai_error(exc.kind) from None
        return canonical, aliases, [a for _, a in addresses]

    def gethostbyname(self, host: str) -> str:
        """Like :func:`socket.gethostbyname`."""
        return self.gethostbyname_ex(host)[2][0]

    # -- reverse lookups -------------------------------------------------------------

    def _reverse(self, address: str) -> tuple[str, list[str]] | None:
        found = self.hosts.reverse(address)
        if found is not None:
            return found
        try:
            canonical, _, names = self._query(
                dns.reversename.from_address(address).to_text(), dns.rdatatype.PTR
            )
        except _NotFound as exc:
            if exc.kind == "again":
                raise _herror(2, "Host name lookup failure") from None
            return None
        return names[0].rstrip("."), []

    def gethostbyaddr(self, host: str) -> tuple[str, list[str], list[str]]:
        """Like :func:`socket.gethostbyaddr`: the PTR name of an address (or of a name's)."""
        if _family(host) == -1:
            host = self.getaddrinfo(host, None, 0, _socket.SOCK_DGRAM)[0][4][0]
        family = _family(host)
        if family == _AF_INET6:
            host = _socket.inet_ntop(_AF_INET6, _inet_pton(_AF_INET6, host.split("%", 1)[0]))
        found = self._reverse(host)
        if found is None:
            raise _herror(1, "Unknown host")
        return found[0], found[1], [host]

    def getnameinfo(self, sockaddr: Any, flags: int) -> tuple[str, str]:
        """Like :func:`socket.getnameinfo`."""
        # The C library checks the arguments and does the service and the
        # numeric host; only the name is ours.
        numeric_flags = (flags | _socket.NI_NUMERICHOST) & ~_socket.NI_NAMEREQD
        numeric_host, service = _getnameinfo(sockaddr, numeric_flags)
        if flags & _socket.NI_NUMERICHOST:
            return numeric_host, service
        found = self._reverse(numeric_host.split("%", 1)[0])
        if found is None:
            if flags & _socket.NI_NAMEREQD:
                raise _gai(_socket.EAI_NONAME)
            return numeric_host, service
        return found[0], service
