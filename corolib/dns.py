"""Cooperative name resolution: the interpreter's own resolver, on OS threads.

``getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``, ``gethostbyaddr``,
``getnameinfo`` and ``getfqdn`` behave exactly like the :mod:`socket`
module's (hosts file, nsswitch, IDNA, flags, errors) because they *are* the
``_socket`` functions: each lookup runs on a pool of real OS threads
(:mod:`corolib._workers`, the implementation :mod:`corolib.threadpool` uses
too: ``_thread``, captured at import, so monkey patching cannot turn them
into greenlets), which release the GIL inside the C library.  The answer comes
back to the asking greenlet's hub with ``Hub.run_callback_threadsafe``; the
greenlet waits on a ``WaitQueue`` meanwhile, so every other greenlet keeps
running.

Switch points: every function here parks the calling greenlet until its
worker thread answers -- except when no lookup can be involved:
``getaddrinfo`` with a numeric host (or None) and a numeric port (or None)
and no ``AI_CANONNAME``, ``gethostbyname`` of a dotted IPv4 address,
``getnameinfo`` with both ``NI_NUMERICHOST`` and ``NI_NUMERICSERV``.  Those
run inline, as the stdlib would, and never switch.

The pool: up to :data:`MAX_THREADS` (default 100) worker threads, started
on demand and gone after :data:`IDLE_SECONDS` idle; one pool per process,
separate from the thread pools' own.  A lookup that waits on a slow name
server holds its thread for as long (the C library's resolver blocks), so
the pool is sized for many such lookups at once, not for the CPU count;
:func:`set_max_threads` changes it.

The cooperative resolver: with ``COROLIB_RESOLVER=dnspython`` in the
environment when corolib is imported (or ``set_resolver(
DnsPythonResolver())``), and the dnspython package installed, lookups that
need the network are answered from the hosts file and by DNS over corolib
sockets instead -- no thread per lookup (see :mod:`corolib._dnspython` for
what it reproduces of the C library's resolver and what not).  What needs
no network (literal addresses, service names, an empty host) still goes to
the C library as above.  ``COROLIB_RESOLVER=thread`` (or unset) is the
thread pool.

Keeping the hub alive: the hub raises ``LoopExit`` when nothing it knows of
can wake a parked greenlet, and a worker thread is invisible to it.  Each
lookup therefore holds the asker's hub (``Hub.hold()``, the hub's count of
cross-thread work in flight) from submission until the worker has queued
the answer (``Hub.unhold()``, from the worker), so a greenlet waiting for a
lookup alone in its thread does not get ``LoopExit``.
"""

from __future__ import annotations

import _socket
import socket as _stdsocket
from collections.abc import Callable
from typing import Any

from corolib._core import WaitQueue
from corolib._workers import Workers
from corolib.config import config
from corolib.hub import get_hub

#: The resolver functions of the :mod:`socket` module this module replaces
#: (what ``corolib.socket`` exports from here and ``patch_dns`` patches).
RESOLVER_NAMES = (
    "getaddrinfo",
    "gethostbyname",
    "gethostbyname_ex",
    "gethostbyaddr",
    "getnameinfo",
    "getfqdn",
)

__all__ = [
    *RESOLVER_NAMES,
    "resolve_host",
    "MAX_THREADS",
    "set_max_threads",
    "set_resolver",
    "get_resolver",
    "statistics",
]

# The original resolver functions (the stdlib's socket module uses these same
# objects for everything but getaddrinfo, which it wraps to return enums).
_getaddrinfo = _socket.getaddrinfo
_gethostbyname = _socket.gethostbyname
_gethostbyname_ex = _socket.gethostbyname_ex
_gethostbyaddr = _socket.gethostbyaddr
_getnameinfo = _socket.getnameinfo
_gethostname = _socket.gethostname
_inet_pton = _socket.inet_pton

_AddressFamily = _stdsocket.AddressFamily
_SocketKind = _stdsocket.SocketKind

#: Most worker threads the pool starts by default (``COROLIB_RESOLVER_THREADS``,
#: 100); further lookups queue for them.
MAX_THREADS = config.resolver_threads
#: A worker with nothing to do for this long exits.
IDLE_SECONDS = 10.0


class _Request:
    """One lookup's answer, once a worker has it."""

    __slots__ = ("queue", "done", "value", "error")

    def __init__(self) -> None:
        self.queue = WaitQueue()
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None


def _deliver(request: _Request, ok: bool, value: Any) -> None:
    """Wake the asker: the answer is in (runs in the asker's hub)."""
    if ok:
        request.value = value
    else:
        request.error = value
    request.done = True
    request.queue.wake()


# The worker threads (corolib._workers, the same as corolib.threadpool's).
_pool = Workers(MAX_THREADS, IDLE_SECONDS)
_NO_KWARGS: dict[str, Any] = {}


def set_max_threads(n: int) -> None:
    """Let the worker pool grow to ``n`` threads (at least 1).

    Threads beyond a lowered limit finish their lookup and leave; lookups
    waiting for a thread get one at once under a raised limit.
    """
    global MAX_THREADS
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"the resolver thread count must be an int, not {n!r}")
    if n < 1:
        raise ValueError(f"the resolver thread count must be at least 1, not {n}")
    MAX_THREADS = n
    _pool.set_max_threads(n)


# -- which resolver answers ----------------------------------------------------------

_resolver: Any = None  # None: the thread pool; else a DnsPythonResolver-like object


def set_resolver(resolver: Any) -> None:
    """Answer lookups with ``resolver`` (a :class:`DnsPythonResolver`), or None: the threads."""
    global _resolver
    if resolver is not None:
        for name in ("getaddrinfo", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"):
            if not callable(getattr(resolver, name, None)):
                raise TypeError(f"a resolver needs a {name} method, {resolver!r} has none")
    _resolver = resolver


def get_resolver() -> Any:
    """The resolver :func:`set_resolver` installed, or None (the thread pool)."""
    return _resolver


def __getattr__(name: str) -> Any:
    if name == "DnsPythonResolver":
        from corolib._dnspython import DnsPythonResolver

        return DnsPythonResolver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _resolver_from_environment() -> None:
    # corolib.config has validated COROLIB_RESOLVER ("thread" or "dnspython").
    if config.resolver != "dnspython":
        return
    try:
        from corolib._dnspython import DnsPythonResolver
    except ImportError as exc:
        raise ImportError(
            f"COROLIB_RESOLVER=dnspython needs the dnspython package ({exc}); "
            "install it (pip install dnspython) or unset COROLIB_RESOLVER"
        ) from exc
    set_resolver(DnsPythonResolver())


def _run(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` on a worker thread; park until it answers."""
    request = _Request()
    _pool.submit(get_hub(), fn, args, _NO_KWARGS, _deliver, request)
    queue = request.queue
    while not request.done:
        queue.wait()
    error = request.error
    if error is not None:
        request.error = None
        try:
            raise error
        finally:
            del error
    return request.value


def _literal_family(host: object) -> int:
    """Return AF_INET or AF_INET6 if ``host`` is a literal address (str), else -1."""
    if type(host) is not str or not host:
        return -1
    try:
        _inet_pton(_socket.AF_INET, host)
        return _socket.AF_INET
    except OSError:
        pass
    try:
        _inet_pton(_socket.AF_INET6, host)
        return _socket.AF_INET6
    except OSError:
        return -1


def _is_name(host: object) -> bool:
    """A non-empty str that is not a literal address: what a resolver looks up."""
    return (
        type(host) is str and bool(host) and host != "<broadcast>" and _literal_family(host) == -1
    )


def _is_numeric_port(port: object) -> bool:
    if port is None or type(port) is int:
        return True
    if isinstance(port, str):
        return port.isascii() and port.isdigit()
    return False


def _needs_no_lookup(host: object, port: object, family: object, flags: object) -> bool:
    """Tell whether getaddrinfo would only parse literals (safe to run inline)."""
    if not isinstance(flags, int) or flags & _socket.AI_CANONNAME or not _is_numeric_port(port):
        return False
    if host is None:
        return True
    literal = _literal_family(host)
    return literal != -1 and family in (0, literal)


def _enum_or_int(value: int, enum: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        return value


def getaddrinfo(
    host: bytes | str | None,
    port: bytes | str | int | None,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[tuple[Any, Any, int, str, tuple[Any, ...]]]:
    """Resolve host and port into a list of address info 5-tuples, like :func:`socket.getaddrinfo`.

    Runs the C library's getaddrinfo on a worker thread unless host and port
    are numeric (then inline, with ``AI_NUMERICHOST`` added, which cannot
    change the answer for a literal address).
    """
    if _needs_no_lookup(host, port, family, flags):
        extra = _socket.AI_NUMERICHOST if host is not None else 0
        infos = _getaddrinfo(host, port, family, type, proto, flags | extra)
    elif _resolver is not None:
        infos = _resolver.getaddrinfo(host, port, family, type, proto, flags)
    else:
        infos = _run(_getaddrinfo, host, port, family, type, proto, flags)
    return [
        (_enum_or_int(af, _AddressFamily), _enum_or_int(kind, _SocketKind), pr, canon, sa)
        for af, kind, pr, canon, sa in infos
    ]


def gethostbyname(hostname: str) -> str:
    """Translate a host name to an IPv4 address string, like :func:`socket.gethostbyname`."""
    if type(hostname) is str and hostname:
        try:
            _inet_pton(_socket.AF_INET, hostname)
        except OSError:
            pass
        else:
            return _gethostbyname(hostname)  # CPython parses literals itself
        if _resolver is not None and _is_name(hostname):
            return _resolver.gethostbyname_ex(hostname)[2][0]  # type: ignore[no-any-return]
    return _run(_gethostbyname, hostname)  # type: ignore[no-any-return]


def gethostbyname_ex(hostname: str) -> tuple[str, list[str], list[str]]:
    """``(hostname, aliases, addresses)`` for a host, like :func:`socket.gethostbyname_ex`."""
    if _resolver is not None and _is_name(hostname):
        return _resolver.gethostbyname_ex(hostname)  # type: ignore[no-any-return]
    return _run(_gethostbyname_ex, hostname)  # type: ignore[no-any-return]


def gethostbyaddr(ip_address: str) -> tuple[str, list[str], list[str]]:
    """``(hostname, aliases, addresses)`` for an address, like :func:`socket.gethostbyaddr`."""
    if _resolver is not None and type(ip_address) is str and ip_address:
        return _resolver.gethostbyaddr(ip_address)  # type: ignore[no-any-return]
    return _run(_gethostbyaddr, ip_address)  # type: ignore[no-any-return]


def getnameinfo(sockaddr: tuple[Any, ...], flags: int) -> tuple[str, str]:
    """``(host, port)`` for a socket address, like :func:`socket.getnameinfo`."""
    numeric = _socket.NI_NUMERICHOST | _socket.NI_NUMERICSERV
    if type(flags) is int and flags & numeric == numeric:
        return _getnameinfo(sockaddr, flags)
    if _resolver is not None and type(flags) is int:
        return _resolver.getnameinfo(sockaddr, flags)  # type: ignore[no-any-return]
    return _run(_getnameinfo, sockaddr, flags)  # type: ignore[no-any-return]


def getfqdn(name: str = "") -> str:
    """Return the fully qualified domain name for ``name``, like :func:`socket.getfqdn`.

    The same algorithm as the stdlib's, on the cooperative
    :func:`gethostbyaddr`.
    """
    name = name.strip()
    if not name or name in ("0.0.0.0", "::"):
        name = _gethostname()
    try:
        hostname, aliases, _ = gethostbyaddr(name)
    except OSError:
        pass
    else:
        aliases.insert(0, hostname)
        for name in aliases:  # noqa: B007 - the stdlib's loop, kept as is
            if "." in name:
                break
        else:
            name = hostname
    return name


def resolve_host(host: str, family: int) -> str:
    """Return the first address ``host`` resolves to in ``family``, as a string.

    What the stdlib's ``connect``/``sendto`` do internally for a host name
    (a getaddrinfo for the family, first answer), cooperatively.
    """
    if _resolver is not None:
        infos = _resolver.getaddrinfo(host, None, family, 0, 0, 0)
    else:
        infos = _run(_getaddrinfo, host, None, family, 0, 0, 0)
    if not infos:
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known")
    return infos[0][4][0]  # type: ignore[no-any-return]


def statistics() -> dict[str, int]:
    """Return the worker pool's counts: threads, idle, queued."""
    stats = _pool.statistics()
    return {"threads": stats["threads"], "idle": stats["idle"], "queued": stats["queued"]}


_resolver_from_environment()
