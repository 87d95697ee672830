"""Cooperative TLS: a drop-in for the standard :mod:`ssl` module.

Every public name of the stdlib module is here, with the same value, except
these, which wait cooperatively instead of blocking the thread:
:class:`SSLContext` (whose ``wrap_socket`` returns the cooperative socket),
:class:`SSLSocket`, :func:`create_default_context`,
:func:`get_server_certificate`, ``wrap_socket`` (3.10 and 3.11 only, as in
the stdlib) and the stdlib's private context factories
(``_create_unverified_context``, ``_create_stdlib_context``,
``_create_default_https_context``), which build a corolib
:class:`SSLContext`.  ``socket`` and ``create_connection``, which the stdlib
module imports from :mod:`socket`, are :mod:`corolib.socket`'s here.
``wrap_bio`` and :class:`SSLObject` are the stdlib's, unchanged (they do no
I/O of their own).

Classes, as in gevent: ``corolib.ssl.SSLContext`` subclasses
``ssl.SSLContext`` (so an ``isinstance`` check against the stdlib class
holds) and :class:`SSLSocket` subclasses :class:`corolib.socket.socket`
(not ``ssl.SSLSocket``: once ``ssl`` is monkey-patched, ``ssl.SSLSocket``
*is* this class).  The stdlib's ``SSLContext`` property setters reach their
base class through the module global ``SSLContext`` (``super(SSLContext,
SSLContext)``), which recurses forever once that global is this subclass;
this class carries copies of them bound to the original class, so patching
``ssl.SSLContext`` is safe for contexts created from it.

How a TLS socket waits.  The socket is a corolib socket: its fd is always
non-blocking and the user's timeout lives in Python.  The C SSL object
(``self._sslobj``, made by ``context._wrap_socket`` exactly as the stdlib
does) therefore sees a non-blocking socket and raises ``SSLWantReadError``
or ``SSLWantWriteError`` whenever OpenSSL needs the network.  Each such
error becomes one cooperative wait through :meth:`corolib.socket.socket._wait`
with the deadline of the whole call (as in the C module: one deadline per
``read``/``write``/``do_handshake``/``unwrap`` call), then the C call is
retried.  A timeout raises ``TimeoutError`` with the stdlib's messages
("The read operation timed out", "The write operation timed out", "The
handshake operation timed out"); a non-blocking socket (timeout 0) raises
the ``SSLWant*Error`` itself, as the stdlib does.  Certificate and protocol
errors are the C module's own exceptions (``SSLCertVerificationError`` ...).

Switch points: ``do_handshake`` (and so ``wrap_socket``, ``connect``,
``connect_ex`` and ``accept`` with ``do_handshake_on_connect``), ``read``,
``recv``, ``recv_into``, ``write``, ``send``, ``sendall``, ``sendfile``,
``unwrap``, the methods of a ``makefile`` object, and every plain socket
method while no TLS is layered on the socket -- each only when OpenSSL (or
the syscall) would block; :func:`get_server_certificate` (resolving,
connecting, handshaking).  A greenlet whose TLS I/O never blocks never
yields.  Nothing else switches.

Closing works as for :mod:`corolib.socket`: ``close()`` (and ``detach()``)
wakes every greenlet waiting on the socket with ``OSError(EBADF)`` first.
"""

from __future__ import annotations

import _socket
import errno as _errno
import ssl as _stdssl
import sys as _sys
import time as _time
import types as _types
import warnings as _warnings
from collections.abc import Callable
from typing import Any

from corolib import socket as _cosocket
from corolib._socket_common import ebadf as _ebadf

# ---- the stdlib's names ---------------------------------------------------------

#: Names defined (replaced) here; every other public name is the stdlib's own object.
#: The private ones are listed because stdlib modules look them up (urllib,
#: http.client, ftplib ...); a monkey-patcher copies exactly these.
_REPLACED = frozenset(
    {
        "SSLContext",
        "SSLSocket",
        "create_default_context",
        "get_server_certificate",
        "wrap_socket",
        "socket",
        "create_connection",
        "_create_unverified_context",
        "_create_stdlib_context",
        "_create_default_https_context",
    }
)

# The stdlib module has no __all__: "public" is what ``from ssl import *`` binds.
__all__ = [name for name in vars(_stdssl) if not name.startswith("_")]
globals().update({name: getattr(_stdssl, name) for name in __all__ if name not in _REPLACED})
socket = _cosocket.socket
create_connection = _cosocket.create_connection


def __getattr__(name: str) -> Any:
    """Any other public attribute of the stdlib :mod:`ssl` module."""
    if not name.startswith("_"):
        try:
            return getattr(_stdssl, name)
        except AttributeError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_StdSSLContext: Any = _stdssl.SSLContext
_StdSSLSocket: Any = _stdssl.SSLSocket
_SSLError = _stdssl.SSLError
_SSLWantReadError = _stdssl.SSLWantReadError
_SSLWantWriteError = _stdssl.SSLWantWriteError
_SSL_ERROR_EOF = _stdssl.SSL_ERROR_EOF
_HAS_ALPN = _stdssl.HAS_ALPN
_CHANNEL_BINDING_TYPES = _stdssl.CHANNEL_BINDING_TYPES
_SOL_SOCKET = _cosocket.SOL_SOCKET
_SO_TYPE = _cosocket.SO_TYPE
_SOCK_STREAM = _cosocket.SOCK_STREAM
_c_fileno = _socket.socket.fileno
_c_recv = _socket.socket.recv
_monotonic = _time.monotonic
_timeout_error = TimeoutError
_PY311 = _sys.version_info >= (3, 11)


def _rebind(func: Any, namespace: dict[str, Any]) -> Any:
    """Return a copy of the stdlib function ``func`` that looks up its globals in ``namespace``.

    This runs the stdlib's own code for the running version (no copy that
    drifts from it), with chosen module globals replaced: a corolib
    ``SSLContext`` for the context factories, the original class for the
    context's property setters.
    """
    new = _types.FunctionType(
        func.__code__, namespace, func.__name__, func.__defaults__, func.__closure__
    )
    new.__kwdefaults__ = func.__kwdefaults__
    new.__doc__ = func.__doc__
    new.__qualname__ = func.__qualname__
    new.__module__ = __name__
    return new


# ---- SSLSocket ----------------------------------------------------------------------


class SSLSocket(_cosocket.socket):
    """A TLS layer over a corolib socket; waits cooperatively.

    Made by :meth:`SSLContext.wrap_socket`, never directly.  Same methods,
    arguments, results and exceptions as :class:`ssl.SSLSocket`; see the
    module docstring for how it waits.
    """

    _context: SSLContext
    _session: Any
    _sslobj: Any
    _connected: bool
    server_side: bool
    server_hostname: str | None
    do_handshake_on_connect: bool
    suppress_ragged_eofs: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"{self.__class__.__name__} does not have a public "
            f"constructor. Instances are returned by "
            f"SSLContext.wrap_socket()."
        )

    @classmethod
    def _create(
        cls,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        context: Any = None,
        session: Any = None,
    ) -> SSLSocket:
        # The stdlib's SSLSocket._create (3.13's, which closes the fd on any
        # failure), taking over ``sock``'s fd as a corolib socket.
        if sock.getsockopt(_SOL_SOCKET, _SO_TYPE) != _SOCK_STREAM:
            raise NotImplementedError("only stream sockets are supported")
        if server_side:
            if server_hostname:
                raise ValueError("server_hostname can only be specified in client mode")
            if session is not None:
                raise ValueError("session can only be specified in client mode")
        if context.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")

        sock_timeout = sock.gettimeout()
        kwargs = {
            "family": sock.family,
            "type": sock.type,
            "proto": sock.proto,
            "fileno": sock.fileno(),
        }
        self = cls.__new__(cls, **kwargs)
        # corolib's socket.__init__: the fd becomes non-blocking.
        _cosocket.socket.__init__(self, **kwargs)
        sock.detach()
        # Now this socket is responsible for closing the file descriptor.
        try:
            self._context = context
            self._session = session
            self._closed = False  # type: ignore[attr-defined]  # a stdlib slot
            self._sslobj = None
            self.server_side = server_side
            self.server_hostname = context._encode_hostname(server_hostname)
            self.do_handshake_on_connect = do_handshake_on_connect
            self.suppress_ragged_eofs = suppress_ragged_eofs
            connected = self._check_pre_handshake_data()
            self.settimeout(sock_timeout)
            self._connected = connected
            if connected:
                self._sslobj = context._wrap_socket(
                    self, server_side, self.server_hostname, owner=self, session=self._session
                )
                if do_handshake_on_connect:
                    if self.gettimeout() == 0.0:
                        raise ValueError(
                            "do_handshake_on_connect should not be specified "
                            "for non-blocking sockets"
                        )
                    self.do_handshake()
        except BaseException:
            try:
                self.close()
            except OSError:
                pass
            raise
        return self

    def _check_pre_handshake_data(self) -> bool:
        """Tell whether the socket is connected; raise if an unconnected one holds data.

        As the stdlib: data left in the receive buffer of a socket that is
        not connected (any more) must not reach the caller as if it had come
        through TLS.
        """
        try:
            self.getpeername()
        except OSError as e:
            if e.errno != _errno.ENOTCONN:
                raise
            try:
                data = _c_recv(self, 1)  # the fd is non-blocking
            except OSError as e2:
                # EINVAL: recv(1) on an unconnected unix socket.
                if e2.errno not in (_errno.ENOTCONN, _errno.EINVAL):
                    raise
                data = b""
            if data:
                reason = "Closed before TLS handshake with data in recv buffer."
                error = _SSLError(e.errno, reason)
                # The attributes _ssl.c always adds.
                error.reason = reason
                error.library = None  # type: ignore[assignment]
                try:
                    raise error
                finally:
                    del error  # break the reference cycle
            return False
        return True

    # -- the wait path --------------------------------------------------------------

    def _ssl_call(self, what: str | None, op: Callable[..., Any], *args: Any) -> Any:
        """Call ``op`` (a method of the C SSL object) until it no longer wants I/O.

        Each ``SSLWantReadError``/``SSLWantWriteError`` becomes a wait for the
        fd; the socket's timeout bounds the whole call.  On a non-blocking
        socket the error is raised instead.  ``what`` names the operation in
        the timeout message (None: by the direction waited for, as the C
        module's shutdown does).
        """
        try:
            return op(*args)
        except _SSLWantReadError:
            if self._timeout == 0.0:
                raise
            writable = False
        except _SSLWantWriteError:
            if self._timeout == 0.0:
                raise
            writable = True
        deadline = self._deadline()
        while True:
            self._wait_tls(writable, deadline, what)
            try:
                return op(*args)
            except _SSLWantReadError:
                writable = False
            except _SSLWantWriteError:
                writable = True

    def _wait_tls(self, writable: bool, deadline: float | None, what: str | None) -> None:
        """Wait through ``socket._wait``, with the C module's timeout messages."""
        try:
            self._wait(writable, deadline)
        except _timeout_error:
            if deadline is None or _monotonic() < deadline:
                raise  # not the deadline's (a corolib.Timeout raising TimeoutError)
            if what is None:
                what = "write" if writable else "read"
            raise _timeout_error(f"The {what} operation timed out") from None
        # Woken, but closed before this greenlet ran: the OpenSSL BIO still
        # holds the old fd number, which must not be read or written.
        if _c_fileno(self) < 0:
            raise _ebadf()

    # -- properties and TLS state ---------------------------------------------------

    @property
    def context(self) -> SSLContext:
        """The SSLContext this socket is tied to."""
        return self._context

    @context.setter
    def context(self, ctx: SSLContext) -> None:
        self._context = ctx
        self._sslobj.context = ctx

    @property
    def session(self) -> Any:
        """The SSLSession of this connection, or None."""
        if self._sslobj is not None:
            return self._sslobj.session
        return None

    @session.setter
    def session(self, session: Any) -> None:
        self._session = session
        if self._sslobj is not None:
            self._sslobj.session = session

    @property
    def session_reused(self) -> bool | None:
        """Tell whether the session was reused (None without TLS)."""
        if self._sslobj is not None:
            return self._sslobj.session_reused  # type: ignore[no-any-return]
        return None

    def dup(self) -> Any:
        """Not supported on TLS sockets, as in the stdlib."""
        raise NotImplementedError(f"Can't dup() {self.__class__.__name__} instances")

    def _checkClosed(self, msg: str | None = None) -> None:
        # The stdlib's hook for detecting spurious closes: a no-op there too.
        pass

    def _check_connected(self) -> None:
        if not self._connected:
            # getpeername() raises ENOTCONN if the socket really is not
            # connected; it can be connected without _connected being set
            # (connect_ex on a non-blocking socket).
            self.getpeername()

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate: a dict, DER bytes if ``binary_form``, or None."""
        self._checkClosed()
        self._check_connected()
        return self._sslobj.getpeercert(binary_form)

    if hasattr(_StdSSLSocket, "get_verified_chain"):  # 3.13+

        def get_verified_chain(self) -> list[bytes]:
            """The verified certificate chain, as DER bytes, leaf first."""
            chain = self._sslobj.get_verified_chain()
            if chain is None:
                return []
            return [cert.public_bytes(_stdssl._ssl.ENCODING_DER) for cert in chain]  # type: ignore[attr-defined]

        def get_unverified_chain(self) -> list[bytes]:
            """The certificate chain the peer sent, as DER bytes, leaf first."""
            chain = self._sslobj.get_unverified_chain()
            if chain is None:
                return []
            return [cert.public_bytes(_stdssl._ssl.ENCODING_DER) for cert in chain]  # type: ignore[attr-defined]

    def selected_npn_protocol(self) -> None:
        """Deprecated; always None (NPN is gone, use ALPN)."""
        self._checkClosed()
        _warnings.warn("ssl NPN is deprecated, use ALPN instead", DeprecationWarning, stacklevel=2)
        return None

    def selected_alpn_protocol(self) -> str | None:
        """The protocol ALPN selected during the handshake, or None."""
        self._checkClosed()
        if self._sslobj is None or not _HAS_ALPN:
            return None
        return self._sslobj.selected_alpn_protocol()  # type: ignore[no-any-return]

    def cipher(self) -> tuple[str, str, int] | None:
        """``(name, protocol, secret bits)`` of the cipher in use, or None."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.cipher()  # type: ignore[no-any-return]

    def shared_ciphers(self) -> list[tuple[str, str, int]] | None:
        """The ciphers both sides offered, or None."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.shared_ciphers()  # type: ignore[no-any-return]

    def compression(self) -> str | None:
        """The compression algorithm in use, or None."""
        self._checkClosed()
        if self._sslobj is None:
            return None
        return self._sslobj.compression()  # type: ignore[no-any-return]

    def version(self) -> str | None:
        """The negotiated protocol version (``'TLSv1.3'`` ...), or None."""
        if self._sslobj is not None:
            return self._sslobj.version()  # type: ignore[no-any-return]
        return None

    def pending(self) -> int:
        """The number of decrypted bytes readable without touching the network."""
        self._checkClosed()
        if self._sslobj is not None:
            return self._sslobj.pending()  # type: ignore[no-any-return]
        return 0

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """Channel binding data for the connection (RFC 5929), or None."""
        if self._sslobj is not None:
            return self._sslobj.get_channel_binding(cb_type)  # type: ignore[no-any-return]
        if cb_type not in _CHANNEL_BINDING_TYPES:
            raise ValueError(f"{cb_type} channel binding type not implemented")
        return None

    def verify_client_post_handshake(self) -> None:
        """Ask for a TLS 1.3 post-handshake client certificate (sent with the next I/O)."""
        if self._sslobj:
            self._sslobj.verify_client_post_handshake()
            return
        raise ValueError("No SSL wrapper around " + str(self))

    # -- handshake, connect, accept ---------------------------------------------------

    def do_handshake(self, block: bool = False) -> None:
        """Perform the TLS handshake, waiting cooperatively (switch point).

        ``block=True`` waits even on a non-blocking socket, as in the stdlib.
        """
        self._check_connected()
        if block and self.gettimeout() == 0.0:
            self.settimeout(None)
            try:
                self._ssl_call("handshake", self._sslobj.do_handshake)
            finally:
                # (Not restored on a socket closed meanwhile: settimeout
                # would raise EBADF over the handshake's own error.)
                if self.fileno() >= 0:
                    self.settimeout(0.0)
        else:
            self._ssl_call("handshake", self._sslobj.do_handshake)

    def _real_connect(self, addr: Any, connect_ex: bool) -> int | None:
        if self.server_side:
            raise ValueError("can't connect in server-side mode")
        # The socket is a client one, not yet connected: connect it, then
        # layer TLS on it.
        if self._connected or self._sslobj is not None:
            raise ValueError("attempt to connect already-connected SSLSocket!")
        context: Any = self.context
        self._sslobj = context._wrap_socket(
            self, False, self.server_hostname, owner=self, session=self._session
        )
        try:
            if connect_ex:
                rc: int | None = super().connect_ex(addr)
            else:
                rc = None
                super().connect(addr)
            if not rc:
                self._connected = True
                if self.do_handshake_on_connect:
                    self.do_handshake()
            return rc
        except (OSError, ValueError):
            self._sslobj = None
            raise

    def connect(self, addr: Any) -> None:
        """Connect to ``addr``, then handshake if ``do_handshake_on_connect`` (switch point)."""
        self._real_connect(addr, False)

    def connect_ex(self, addr: Any) -> int:
        """Like :meth:`connect`, but return an errno instead of raising connection errors."""
        return self._real_connect(addr, True)  # type: ignore[return-value]

    def accept(self) -> tuple[SSLSocket, Any]:
        """Accept a connection and return it wrapped server-side, with its address.

        With ``do_handshake_on_connect`` (the listener's), the handshake runs
        here, in the accepting greenlet, as in the stdlib.
        """
        newsock, addr = super().accept()
        wrapped = self.context.wrap_socket(
            newsock,
            do_handshake_on_connect=self.do_handshake_on_connect,
            suppress_ragged_eofs=self.suppress_ragged_eofs,
            server_side=True,
        )
        return wrapped, addr

    # -- reading ------------------------------------------------------------------------

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Read up to ``len`` bytes (into ``buffer`` if given: return the count).

        Returns b'' (or 0) at the end of the stream; a ragged EOF (the peer
        closed without TLS close_notify) also does if ``suppress_ragged_eofs``,
        and raises ``SSLEOFError`` otherwise.
        """
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError("Read on closed or unwrapped SSL socket.")
        try:
            if buffer is not None:
                return self._ssl_call("read", sslobj.read, len, buffer)
            return self._ssl_call("read", sslobj.read, len)
        except _SSLError as x:
            if x.args[0] == _SSL_ERROR_EOF and self.suppress_ragged_eofs:
                return 0 if buffer is not None else b""
            raise

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        """Receive up to ``buflen`` decrypted bytes; ``flags`` must be 0 with TLS."""
        self._checkClosed()
        if self._sslobj is not None:
            if flags != 0:
                raise ValueError(
                    f"non-zero flags not allowed in calls to recv() on {self.__class__}"
                )
            return self.read(buflen)  # type: ignore[no-any-return]
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        """Receive decrypted bytes into ``buffer``; return how many."""
        self._checkClosed()
        if _PY311:
            if nbytes is None:
                if buffer is not None:
                    with memoryview(buffer) as view:
                        nbytes = view.nbytes
                    if not nbytes:
                        nbytes = 1024
                else:
                    nbytes = 1024
        elif buffer and (nbytes is None):
            nbytes = len(buffer)
        elif nbytes is None:
            nbytes = 1024
        if self._sslobj is not None:
            if flags != 0:
                raise ValueError(
                    f"non-zero flags not allowed in calls to recv_into() on {self.__class__}"
                )
            return self.read(nbytes, buffer)  # type: ignore[no-any-return]
        return super().recv_into(buffer, nbytes, flags)

    def recvfrom(self, buflen: int = 1024, flags: int = 0) -> tuple[bytes, Any]:
        """Plain ``recvfrom``; not allowed with TLS (ValueError), as in the stdlib."""
        self._checkClosed()
        if self._sslobj is not None:
            raise ValueError(f"recvfrom not allowed on instances of {self.__class__}")
        return super().recvfrom(buflen, flags)

    def recvfrom_into(
        self, buffer: Any, nbytes: int | None = None, flags: int = 0
    ) -> tuple[int, Any]:
        """Plain ``recvfrom_into``; not allowed with TLS (ValueError), as in the stdlib."""
        self._checkClosed()
        if self._sslobj is not None:
            raise ValueError(f"recvfrom_into not allowed on instances of {self.__class__}")
        return super().recvfrom_into(buffer, nbytes, flags)  # type: ignore[arg-type]

    def recvmsg(self, *args: Any, **kwargs: Any) -> Any:
        """Not allowed on TLS sockets (NotImplementedError), as in the stdlib."""
        raise NotImplementedError(f"recvmsg not allowed on instances of {self.__class__}")

    def recvmsg_into(self, *args: Any, **kwargs: Any) -> Any:
        """Not allowed on TLS sockets (NotImplementedError), as in the stdlib."""
        raise NotImplementedError(f"recvmsg_into not allowed on instances of {self.__class__}")

    # -- writing ------------------------------------------------------------------------

    def write(self, data: Any) -> int:
        """Write all of ``data`` through TLS; return its length (switch point)."""
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is None:
            raise ValueError("Write on closed or unwrapped SSL socket.")
        return self._ssl_call("write", sslobj.write, data)  # type: ignore[no-any-return]

    def send(self, data: Any, flags: int = 0) -> int:
        """Send ``data`` (all of it, with TLS); ``flags`` must be 0 with TLS."""
        self._checkClosed()
        sslobj = self._sslobj
        if sslobj is not None:
            if flags != 0:
                raise ValueError(
                    f"non-zero flags not allowed in calls to send() on {self.__class__}"
                )
            return self._ssl_call("write", sslobj.write, data)  # type: ignore[no-any-return]
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of ``data``; ``flags`` must be 0 with TLS."""
        self._checkClosed()
        if self._sslobj is not None:
            if flags != 0:
                raise ValueError(
                    f"non-zero flags not allowed in calls to sendall() on {self.__class__}"
                )
            count = 0
            with memoryview(data) as view, view.cast("B") as byte_view:
                amount = len(byte_view)
                while count < amount:
                    count += self.send(byte_view[count:])
            return
        super().sendall(data, flags)

    def sendto(self, data: Any, flags_or_addr: Any, addr: Any = None) -> int:
        """Plain ``sendto``; not allowed with TLS (ValueError), as in the stdlib."""
        self._checkClosed()
        if self._sslobj is not None:
            raise ValueError(f"sendto not allowed on instances of {self.__class__}")
        if addr is None:
            return super().sendto(data, flags_or_addr)
        return super().sendto(data, flags_or_addr, addr)

    def sendmsg(self, *args: Any, **kwargs: Any) -> int:
        """Not allowed on TLS sockets (NotImplementedError), as in the stdlib."""
        # Programs must not send unencrypted data through this by mistake.
        raise NotImplementedError(f"sendmsg not allowed on instances of {self.__class__}")

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send a file: through TLS with send(), or with os.sendfile() once unwrapped."""
        if self._sslobj is not None:
            return self._sendfile_use_send(file, offset, count)  # type: ignore[attr-defined,no-any-return]
        return super().sendfile(file, offset, count)

    # -- ending TLS, closing ------------------------------------------------------------

    def unwrap(self) -> Any:
        """Shut TLS down (close_notify both ways) and return the now plain socket (self).

        Waits for the peer's close_notify (switch point); on a non-blocking
        socket raises ``SSLWant*Error`` until it completes, as the stdlib.
        """
        sslobj = self._sslobj
        if sslobj:
            s = self._ssl_call(None, sslobj.shutdown)
            self._sslobj = None
            return s
        raise ValueError("No SSL wrapper around " + str(self))

    def shutdown(self, how: int) -> None:
        """Shut down the plain socket (dropping TLS without close_notify), as the stdlib."""
        self._checkClosed()
        self._sslobj = None
        super().shutdown(how)

    def _real_close(self, *args: Any) -> None:
        self._sslobj = None
        super()._real_close(*args)


# ---- SSLContext ----------------------------------------------------------------------------


class SSLContext(_stdssl.SSLContext):
    """The stdlib's SSLContext, making cooperative :class:`SSLSocket` objects.

    ``wrap_bio`` and everything else are the stdlib's.
    """

    sslsocket_class: type[SSLSocket]  # type: ignore[assignment]  # assigned below, as in the stdlib

    def wrap_socket(  # type: ignore[override]
        self,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: Any = None,
    ) -> SSLSocket:
        """Wrap a connected or unconnected stream socket in a cooperative TLS socket.

        ``sock`` (a corolib or stdlib socket) is detached: the new socket
        owns its fd, and keeps its timeout.  With ``do_handshake_on_connect``
        on a connected socket, the handshake runs here (switch point).
        """
        return self.sslsocket_class._create(
            sock=sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            context=self,
            session=session,
        )


SSLContext.sslsocket_class = SSLSocket


def _bind_context_properties(cls: type) -> None:
    """Give ``cls`` copies of the stdlib SSLContext's properties bound to the original class.

    The stdlib's setters (``options``, ``verify_mode``, ``minimum_version``
    ...) call ``super(SSLContext, SSLContext)`` through the module global:
    once ``ssl.SSLContext`` is this subclass, that finds the same setter again
    and recurses forever.  The copies see the original class under that name,
    whatever the ``ssl`` module holds later.  Applied to :class:`SSLContext`
    here; a monkey-patcher may apply it to ``ssl.SSLContext`` itself, for
    contexts created before patching.
    """
    namespace = dict(vars(_stdssl))
    namespace["SSLContext"] = _StdSSLContext

    def fix(func: Any) -> Any:
        code = getattr(func, "__code__", None)
        if code is None or "SSLContext" not in code.co_names:
            return func
        return _rebind(func, namespace)

    for name, attr in list(vars(_StdSSLContext).items()):
        if isinstance(attr, property):
            fixed = property(fix(attr.fget), fix(attr.fset), fix(attr.fdel), attr.__doc__)
            if (fixed.fget, fixed.fset, fixed.fdel) != (attr.fget, attr.fset, attr.fdel):
                setattr(cls, name, fixed)
        elif isinstance(attr, _types.FunctionType) and (
            cls is _StdSSLContext or name not in vars(cls)
        ):
            fixed = fix(attr)
            if fixed is not attr:
                setattr(cls, name, fixed)


_bind_context_properties(SSLContext)


# ---- module functions -----------------------------------------------------------------------

# The stdlib's own functions, run with this module's SSLContext, socket and
# create_connection (see _rebind).
_namespace: dict[str, Any] = dict(vars(_stdssl))
_namespace.update(
    SSLContext=SSLContext,
    SSLSocket=SSLSocket,
    socket=socket,
    create_connection=create_connection,
)
_create_unverified_context: Any = _rebind(_stdssl._create_unverified_context, _namespace)
_create_stdlib_context: Any = _create_unverified_context
_std_create_default_context: Any = _rebind(_stdssl.create_default_context, _namespace)
_std_get_server_certificate: Any = _rebind(_stdssl.get_server_certificate, _namespace)
_namespace.update(
    _create_unverified_context=_create_unverified_context,
    _create_stdlib_context=_create_stdlib_context,
    create_default_context=_std_create_default_context,
)


def create_default_context(
    purpose: Any = _stdssl.Purpose.SERVER_AUTH,
    *,
    cafile: Any = None,
    capath: Any = None,
    cadata: Any = None,
) -> SSLContext:
    """Return a corolib :class:`SSLContext` with the stdlib's default settings.

    Exactly :func:`ssl.create_default_context` (same settings, for the
    running Python), but the context makes cooperative sockets.
    """
    return _std_create_default_context(  # type: ignore[no-any-return]
        purpose, cafile=cafile, capath=capath, cadata=cadata
    )


_create_default_https_context: Any = create_default_context
_namespace["_create_default_https_context"] = create_default_context


def get_server_certificate(
    addr: tuple[str, int],
    ssl_version: int = _stdssl.PROTOCOL_TLS_CLIENT,
    ca_certs: str | None = None,
    timeout: Any = _cosocket._GLOBAL_DEFAULT_TIMEOUT,
) -> str:
    """Fetch the certificate of the server at ``addr`` as PEM, cooperatively (switch point).

    Exactly :func:`ssl.get_server_certificate`: ``ca_certs`` makes it verify
    the certificate, ``timeout`` applies to the connection.
    """
    return _std_get_server_certificate(  # type: ignore[no-any-return]
        addr, ssl_version, ca_certs, timeout
    )


if hasattr(_stdssl, "wrap_socket"):  # 3.10, 3.11 (deprecated there)
    wrap_socket: Any = _rebind(_stdssl.wrap_socket, _namespace)
