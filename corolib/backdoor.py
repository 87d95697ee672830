"""An interactive Python console inside a running process, over TCP.

``BackdoorServer(listener, locals=None, banner=None)`` listens for
connections; each one gets its own :class:`code.InteractiveConsole` in its
own greenlet, with its own copy of ``locals``, and everything the code
typed there prints -- ``print``, expression results, tracebacks,
``input()`` -- goes to that connection only, while the rest of the process
keeps its ``sys.stdout``/``sys.stderr``.  The console runs in the server's
hub like any greenlet: ``corolib.sleep(1)`` typed there lets the rest of
the process run; a CPU loop typed there blocks it (the monitor thread
reports it like any other).

    server = BackdoorServer(("127.0.0.1", 5001), locals={"app": app})
    server.start()                      # then: nc 127.0.0.1 5001

SECURITY: there is no authentication.  Whoever can connect can do
anything the process can.  So the server binds loopback only: a host of
``""``/``None`` (or a bare port number) means ``127.0.0.1``.  Any other
address is bound only when given explicitly, and then with a
:class:`BackdoorWarning`.  Reaching it from elsewhere is best done through
an SSH tunnel.  A string listener is a Unix socket path, made readable and
writable by the process's user only (mode 0600, set before it listens):
file permissions are then the authentication (``nc -U path``).

Limits: at most ``max_connections`` sessions at once (16; more are told so
and closed), lines up to 64 KiB.  ``stop()`` closes the listener and ends
every session.  Switch points: ``serve_forever``, and ``stop`` (it waits
for the sessions to end); ``start`` never switches.
"""

from __future__ import annotations

import code
import ipaddress
import os
import socket as _stdsocket
import sys
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from corolib import socket as _socket
from corolib._core import getcurrent
from corolib.hub import Greenlet, spawn

__all__ = ["BackdoorServer", "BackdoorWarning"]

MAX_LINE = 65536


class BackdoorWarning(UserWarning):
    """A backdoor was bound to an address other than loopback."""


# ---- per-connection standard streams --------------------------------------------------


class _Router:
    """Stands in for sys.stdin/stdout/stderr while backdoor sessions exist.

    A session's greenlet reads and writes its connection; every other
    greenlet and thread gets the stream that was there before.
    """

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback
        self._targets: dict[Any, Any] = {}

    def _target(self) -> Any:
        return self._targets.get(getcurrent(), self._fallback)

    def write(self, data: str) -> int:
        return int(self._target().write(data))

    def flush(self) -> None:
        self._target().flush()

    def readline(self, size: int = -1) -> str:
        return str(self._target().readline(size))

    def read(self, size: int = -1) -> str:
        return str(self._target().read(size))

    def close(self) -> None:
        self._target().close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)


_ROUTED = ("stdin", "stdout", "stderr")
_sessions: dict[Any, _Session] = {}


def _route(session: _Session) -> None:
    for name in _ROUTED:
        current = getattr(sys, name)
        if not isinstance(current, _Router):
            current = _Router(current)
            setattr(sys, name, current)
        current._targets[session.greenlet] = session
    _sessions[session.greenlet] = session


def _unroute(session: _Session) -> None:
    _sessions.pop(session.greenlet, None)
    for name in _ROUTED:
        current = getattr(sys, name)
        if isinstance(current, _Router):
            current._targets.pop(session.greenlet, None)
            if not _sessions and not current._targets:
                setattr(sys, name, current._fallback)


class _Session:
    """One connection: a text stream over the socket, and its console."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, conn: _socket.socket, locals: dict[str, Any]) -> None:
        self.conn = conn
        self.reader = conn.makefile("rb")
        self.greenlet = getcurrent()
        self.closed = False
        self.console = _Console(self, locals)

    # the text-stream surface print(), input() and the console use
    def write(self, data: str) -> int:
        if self.closed:
            return 0
        try:
            self.conn.sendall(data.replace("\n", "\r\n").encode(self.encoding, self.errors))
        except OSError:
            self.closed = True
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def readline(self, size: int = -1) -> str:
        if self.closed:
            return ""
        limit = MAX_LINE if size is None or size < 0 else min(size, MAX_LINE)
        try:
            line = self.reader.readline(limit)
        except OSError:
            line = b""
        if len(line) >= MAX_LINE and not line.endswith(b"\n"):
            self.write(f"\nline longer than {MAX_LINE} bytes: closing\n")
            self.closed = True
            return ""
        return line.decode(self.encoding, self.errors)

    def read(self, size: int = -1) -> str:
        return self.readline(size)

    def close(self) -> None:
        self.closed = True

    def fileno(self) -> int:
        return self.conn.fileno()


class _Console(code.InteractiveConsole):
    def __init__(self, session: _Session, locals: dict[str, Any]) -> None:
        super().__init__(locals, filename="<backdoor>")
        self.session = session

    def write(self, data: str) -> None:
        self.session.write(data)

    def raw_input(self, prompt: str = "") -> str:
        self.session.write(prompt)
        line = self.session.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")


# ---- the server -------------------------------------------------------------------------


def _loopback_address(listener: Any, stacklevel: int) -> tuple[str, int]:
    if isinstance(listener, int):
        return ("127.0.0.1", listener)
    if not (isinstance(listener, tuple) and len(listener) == 2):
        raise TypeError(
            f"listener must be (host, port), a port number or a listening socket, not {listener!r}"
        )
    host, port = listener
    if host in ("", None):
        return ("127.0.0.1", port)
    if not _is_loopback(host):
        warnings.warn(
            f"corolib.backdoor: binding {host!r}: anyone who can reach it can run any "
            "code in this process (no authentication); prefer 127.0.0.1 and an SSH tunnel",
            BackdoorWarning,
            stacklevel=stacklevel + 1,
        )
    return (host, port)


def _unix_listener(path: str, backlog: int) -> _socket.socket:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o600)  # before listen(): nobody else ever connects
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class BackdoorServer:
    """A Python console per TCP connection (see the module's documentation).

    ``listener``: ``(host, port)``, a port number (loopback), a Unix
    socket path (mode 0600), or a listening socket.  ``locals``: the names
    each console starts with (each connection gets its own copy).
    ``banner``: printed on connect (default: Python's version and the
    process id).
    """

    def __init__(
        self,
        listener: Any,
        locals: Mapping[str, Any] | None = None,
        banner: str | None = None,
        *,
        max_connections: int = 16,
        backlog: int = 16,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self._unix_path: str | None = None
        self.locals = dict(locals) if locals is not None else {}
        self.banner = banner
        self.max_connections = max_connections
        if isinstance(listener, _stdsocket.socket):
            host = listener.getsockname()[0] if listener.family != _socket.AF_UNIX else ""
            if listener.family != _socket.AF_UNIX and not _is_loopback(host):
                warnings.warn(
                    f"corolib.backdoor: the listener is bound to {host!r}: anyone who can "
                    "reach it can run any code in this process",
                    BackdoorWarning,
                    stacklevel=2,
                )
            if not isinstance(listener, _socket.socket):
                listener = _socket.socket(
                    listener.family, listener.type, listener.proto, fileno=listener.detach()
                )
            self.socket = listener
        elif isinstance(listener, (str, os.PathLike)):
            self._unix_path = os.fspath(listener)
            self.socket = _unix_listener(self._unix_path, backlog)
        else:
            address = _loopback_address(listener, stacklevel=2)
            family = _socket.AF_INET6 if ":" in address[0] else _socket.AF_INET
            sock = _socket.socket(family, _socket.SOCK_STREAM)
            try:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
                sock.bind(address)
                sock.listen(backlog)
            except BaseException:
                sock.close()
                raise
            self.socket = sock
        self._acceptor: Greenlet[None] | None = None
        self._connections: set[Greenlet[Any]] = set()
        self.closed = False

    @property
    def server_address(self) -> Any:
        """The address the listener is bound to."""
        return self.socket.getsockname()

    address = server_address

    @property
    def sessions(self) -> int:
        """How many consoles are connected now."""
        return len(self._connections)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"on {self.server_address}"
        return f"<BackdoorServer {state}, {len(self._connections)} session(s)>"

    def start(self) -> None:
        """Accept connections in a greenlet of the calling thread's hub."""
        if self.closed:
            raise RuntimeError("the backdoor server is closed")
        if self._acceptor is None:
            self._acceptor = spawn(self._accept_loop)

    def serve_forever(self) -> None:
        """Start, then wait until :meth:`stop` is called."""
        self.start()
        assert self._acceptor is not None
        self._acceptor.join()

    def stop(self, timeout: float | None = 1.0) -> None:
        """Close the listener and end every session (waits up to ``timeout``)."""
        if not self.closed and self._unix_path is not None:
            try:
                os.unlink(self._unix_path)
            except OSError:
                pass
        self.closed = True
        self.socket.close()
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.kill(block=False)
        for g in list(self._connections):
            g.kill(block=False)
        for g in list(self._connections):
            g.join(timeout)

    close = stop

    def __enter__(self) -> BackdoorServer:
        self.start()
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self.closed:
            try:
                conn, _addr = self.socket.accept()
            except OSError:
                if self.closed:
                    return
                raise
            if len(self._connections) >= self.max_connections:
                try:
                    conn.sendall(b"corolib backdoor: too many sessions; try again later\r\n")
                except OSError:
                    pass
                conn.close()
                continue
            g = spawn(self._handle, conn)
            self._connections.add(g)
            g.rawlink(self._connections.discard)

    def _banner(self) -> str:
        if self.banner is not None:
            return self.banner
        names = ", ".join(sorted(k for k in self.locals if not k.startswith("__"))) or "none"
        return (
            f"corolib backdoor: Python {sys.version.split()[0]} on {sys.platform}, "
            f"pid {os.getpid()}\nlocals: {names}\n"
        )

    def _handle(self, conn: _socket.socket) -> None:
        local_vars: dict[str, Any] = {"__name__": "__console__", "__doc__": None}
        local_vars.update(self.locals)
        session = _Session(conn, local_vars)
        _route(session)
        try:
            session.console.interact(banner=self._banner(), exitmsg="")
        except SystemExit:
            pass  # exit() / quit() typed in the console ends the session only
        finally:
            _unroute(session)
            session.reader.close()
            conn.close()
