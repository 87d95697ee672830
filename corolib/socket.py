"""Cooperative sockets: a drop-in for the standard :mod:`socket` module.

Every public name of the stdlib module is here, with the same value, except
these, which wait cooperatively instead of blocking the thread:
:class:`socket` (and ``SocketType``), :func:`create_connection`,
:func:`create_server`, :func:`socketpair`, :func:`fromfd`, :func:`close`,
and the resolver functions (``getaddrinfo``, ``gethostbyname``,
``gethostbyname_ex``, ``gethostbyaddr``, ``getnameinfo``, ``getfqdn``, from
:mod:`corolib.dns`).

How a socket waits.  ``corolib.socket.socket`` subclasses the stdlib class,
so ``isinstance(s, socket.socket)`` holds and every method keeps its stdlib
signature and behaviour.  The OS-level fd is always non-blocking; the
timeout the user set (``settimeout``/``setblocking``, default
``getdefaulttimeout()``) is kept in Python and is what ``gettimeout``,
``getblocking`` and ``timeout`` report.  Each operation first tries the
syscall; only if it would block (EAGAIN/EINPROGRESS) does the greenlet park
until the fd is ready or the deadline passes, and then retries.  As in the
stdlib: a timeout of ``None`` waits forever, a positive timeout raises
``TimeoutError('timed out')`` (``socket.timeout``), and a timeout of ``0``
raises ``BlockingIOError`` instead of waiting.

There are two implementations of that loop, with the same semantics.  The
hot paths -- ``recv``, ``recv_into``, ``send`` and ``sendall`` without
flags on a socket that may wait -- call ``corolib._core.sock_*``, which do
the try/park/retry in C (no ``BlockingIOError`` is built for a would-block,
the costliest part of the Python loop).  Everything else goes through
:meth:`socket._retry` / :meth:`socket._wait` and
:func:`corolib._socket_common.wait_fd`.

Switch points: any socket method that has to wait (``accept``, ``connect``,
``connect_ex``, ``recv*``, ``send*``, ``sendfile``), only when the syscall
would block; and the resolver functions (see :mod:`corolib.dns`), which is
why ``connect``/``connect_ex``/``sendto`` with a host name may switch even
when the socket itself is ready.  A greenlet whose I/O never blocks never
yields.  Nothing else switches.

Closing: ``close()`` (the real close, once no ``makefile`` object holds the
socket), ``detach()``, garbage collection of an unclosed socket and the
module function :func:`close` all first wake the greenlets waiting on the fd
with ``OSError(EBADF)`` and release the hub's watcher for it
(:func:`corolib._socket_common.forget_fd`), and only then close the fd.

Extensions for other corolib modules (ssl, servers): ``socket._wait(writable,
deadline)`` is the one wait path and ``socket._deadline()`` turns the
socket's timeout into a deadline for one operation.
"""

from __future__ import annotations

import _socket
import io as _io
import operator as _operator
import os as _os
import socket as _stdsocket
import time as _time
from collections.abc import Callable, Iterable
from errno import EAGAIN, EALREADY, EINPROGRESS, EISCONN, EWOULDBLOCK
from typing import Any

from corolib import dns as _dns
from corolib._core import (
    cancel_wait as _cancel_wait,
    sleep as _sleep,
    sock_fresh as _sock_fresh,
    sock_recv as _sock_recv,
    sock_recv_into as _sock_recv_into,
    sock_send as _sock_send,
    sock_sendall as _sock_sendall,
    wait_fds as _wait_fds,
    wait_readable as _wait_readable,
    wait_writable as _wait_writable,
)
from corolib._socket_common import (
    HAS_EXCEPTION_GROUP,
    blocking_flag,
    exception_group,
    forget_fd,
    parse_socket_timeout,
    wait_fd,
)
from corolib.dns import (
    getaddrinfo as getaddrinfo,
    getfqdn as getfqdn,
    gethostbyaddr as gethostbyaddr,
    gethostbyname as gethostbyname,
    gethostbyname_ex as gethostbyname_ex,
    getnameinfo as getnameinfo,
)

# ---- the stdlib's names ---------------------------------------------------------

#: Names defined (replaced) here; every other public name is the stdlib's own object.
_REPLACED = frozenset(
    {
        "socket",
        "SocketType",
        "create_connection",
        "create_server",
        "socketpair",
        "fromfd",
        "close",
        *_dns.RESOLVER_NAMES,
    }
)

__all__ = list(_stdsocket.__all__)
globals().update({name: getattr(_stdsocket, name) for name in __all__ if name not in _REPLACED})
# Not in the stdlib's __all__, but imported from it by other modules (http.client).
_GLOBAL_DEFAULT_TIMEOUT: object = vars(_stdsocket)["_GLOBAL_DEFAULT_TIMEOUT"]
SocketIO = _stdsocket.SocketIO


def __getattr__(name: str) -> Any:
    """Any other public attribute of the stdlib :mod:`socket` module."""
    if not name.startswith("_"):
        try:
            return getattr(_stdsocket, name)
        except AttributeError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- the originals ------------------------------------------------------------------
# Captured now: once the stdlib module is monkey-patched, its attributes are
# these very replacements.

_StdSocket = _stdsocket.socket
_std_socketpair = _stdsocket.socketpair
_std_create_server = _stdsocket.create_server

# ---- the C methods, unbound -------------------------------------------------------

_csock: Any = _socket.socket
_c_accept = _csock._accept
_c_connect = _csock.connect
_c_connect_ex = _csock.connect_ex
_c_recv = _csock.recv
_c_recv_into = _csock.recv_into
_c_recvfrom = _csock.recvfrom
_c_recvfrom_into = _csock.recvfrom_into
_c_send = _csock.send
_c_sendall = _csock.sendall
_c_sendto = _csock.sendto
_c_fileno = _csock.fileno
_c_gettimeout = _csock.gettimeout
_c_settimeout = _csock.settimeout
_c_family = _csock.family.__get__
_c_type = _csock.type.__get__
_c_proto = _csock.proto.__get__
_c_close = _csock.close
_c_detach = _csock.detach
_c_del = _csock.__del__

_AF_INET = _socket.AF_INET
_AF_INET6 = getattr(_socket, "AF_INET6", -1)
_AF_UNIX = getattr(_socket, "AF_UNIX", -1)
_SOCK_NONBLOCK = getattr(_socket, "SOCK_NONBLOCK", 0)
_SOCK_STREAM = _socket.SOCK_STREAM
_getdefaulttimeout = _socket.getdefaulttimeout
_inet_pton = _socket.inet_pton
_monotonic = _time.monotonic
_timeout_error = _socket.timeout
_CONNECTING = (EINPROGRESS, EALREADY, EWOULDBLOCK)
_MSG_DONTWAIT = getattr(_socket, "MSG_DONTWAIT", 0)
_NOT_GIVEN: Any = object()


class _GiveupOnSendfile(Exception):
    """os.sendfile cannot be used for this file: fall back to send()."""


class socket(_StdSocket):
    """A cooperative socket: the stdlib's socket class, waiting through the hub.

    ``socket(family=AF_INET, type=SOCK_STREAM, proto=0, fileno=None)``, as
    in the stdlib.  The fd is non-blocking underneath; the timeout the user
    sets is honoured by parking the greenlet (see the module docstring).
    """

    __slots__ = ("_timeout",)

    _timeout: float | None

    def __init__(
        self,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
    ) -> None:
        if fileno is None:
            if family == -1:
                family = _AF_INET
            if type == -1:
                type = _SOCK_STREAM
            if proto == -1:
                proto = 0
            try:
                # Created non-blocking by the kernel: no extra syscall.
                nonblocking_type = type | _SOCK_NONBLOCK
            except TypeError:
                nonblocking_type = type  # let the stdlib raise its own error
            _StdSocket.__init__(self, family, nonblocking_type, proto)
            self._timeout = 0.0 if type & _SOCK_NONBLOCK else _getdefaulttimeout()
        else:
            _StdSocket.__init__(self, family, type, proto, fileno)
            timeout = _c_gettimeout(self)
            self._timeout = timeout
            if timeout != 0.0:
                _c_settimeout(self, 0.0)
        # A poll the hub still keeps under this fd number was left by an fd
        # closed behind corolib's back (os.close): drop it, or this socket's
        # waits would never wake (see cl__io_fresh in csrc/hub/io.c).
        _sock_fresh(_c_fileno(self))

    def __del__(
        self, _fileno: Any = _c_fileno, _forget: Any = forget_fd, _finalize: Any = _c_del
    ) -> None:
        # An unclosed socket is being collected: its fd is about to be closed
        # by the C finalizer, so its watcher (if any) must go first.  (No
        # globals: this may run late in interpreter shutdown.)
        try:
            fd = _fileno(self)
            if fd >= 0:
                _forget(fd)
        except Exception:  # noqa: BLE001, S110 - never raise from a finalizer
            pass
        _finalize(self)

    # -- timeouts ---------------------------------------------------------------------

    def settimeout(self, value: float | None, /) -> None:
        """Set the timeout for blocking operations: seconds, 0 (non-blocking) or None (forever)."""
        self._timeout = parse_socket_timeout(value)
        if _c_fileno(self) < 0:
            raise _ebadf()  # the stdlib's ioctl on a closed socket fails so

    def gettimeout(self) -> float | None:
        """Return the timeout in seconds (float), or None, as set by the user."""
        return self._timeout

    def setblocking(self, flag: bool, /) -> None:
        """Set blocking (``settimeout(None)``) or non-blocking (``settimeout(0.0)``) mode."""
        self._timeout = None if blocking_flag(flag) else 0.0
        if _c_fileno(self) < 0:
            raise _ebadf()  # as settimeout

    def getblocking(self) -> bool:
        """Tell whether the socket blocks (its timeout is not 0)."""
        return self._timeout != 0.0

    @property
    def timeout(self) -> float | None:
        """Return the timeout in seconds, or None (read-only, like the stdlib's)."""
        return self._timeout

    # -- the wait path ------------------------------------------------------------------

    def _deadline(self) -> float | None:
        """Return the monotonic deadline of one operation starting now (None: no limit)."""
        timeout = self._timeout
        return None if timeout is None else _monotonic() + timeout

    def _wait(self, writable: bool, deadline: float | None) -> None:
        """Park until the fd is readable/writable; the one way a corolib socket waits.

        Raises ``TimeoutError('timed out')`` once ``deadline`` passed and
        ``OSError(EBADF)`` if the socket is (or gets) closed.
        """
        fd = _c_fileno(self)
        if fd < 0:
            raise _ebadf()
        if not wait_fd(fd, writable, deadline):
            raise _timeout_error("timed out")

    def _nowait(self, flags: Any) -> bool:
        """Tell whether an operation that would block must raise BlockingIOError instead.

        A non-blocking socket never waits.  Nor does a call with
        ``MSG_DONTWAIT`` on a blocking socket; on a socket with a timeout,
        the stdlib polls before each try, so such a call waits anyway.
        """
        timeout = self._timeout
        if timeout == 0.0:
            return True
        return timeout is None and isinstance(flags, int) and bool(flags & _MSG_DONTWAIT)

    def _retry(self, op: Callable[..., Any], writable: bool, *args: Any) -> Any:
        """Wait and retry ``op``: the slow path of every I/O method, once ``op`` would block."""
        deadline = self._deadline()
        while True:
            self._wait(writable, deadline)
            try:
                return op(self, *args)
            except BlockingIOError:
                pass

    # -- receiving ----------------------------------------------------------------------

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        """Receive up to ``bufsize`` bytes (b'' at end of stream)."""
        timeout = self._timeout
        if flags == 0 and timeout != 0.0:
            return _sock_recv(_c_fileno(self), bufsize, 0, timeout)
        try:
            return _c_recv(self, bufsize, flags)  # type: ignore[no-any-return]
        except BlockingIOError:
            if self._nowait(flags):
                raise
        return self._retry(_c_recv, False, bufsize, flags)  # type: ignore[no-any-return]

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0, /) -> int:
        """Receive into ``buffer``; return the number of bytes received."""
        timeout = self._timeout
        if flags == 0 and timeout != 0.0:
            return _sock_recv_into(_c_fileno(self), buffer, nbytes, 0, timeout)
        try:
            return _c_recv_into(self, buffer, nbytes, flags)  # type: ignore[no-any-return]
        except BlockingIOError:
            if self._nowait(flags):
                raise
        return self._retry(_c_recv_into, False, buffer, nbytes, flags)  # type: ignore[no-any-return]

    def recvfrom(self, bufsize: int, flags: int = 0, /) -> tuple[bytes, Any]:
        """Receive up to ``bufsize`` bytes; return ``(data, address)``."""
        try:
            return _c_recvfrom(self, bufsize, flags)  # type: ignore[no-any-return]
        except BlockingIOError:
            if self._nowait(flags):
                raise
        return self._retry(_c_recvfrom, False, bufsize, flags)  # type: ignore[no-any-return]

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0, /) -> tuple[int, Any]:
        """Receive into ``buffer``; return ``(nbytes, address)``."""
        try:
            return _c_recvfrom_into(self, buffer, nbytes, flags)  # type: ignore[no-any-return]
        except BlockingIOError:
            if self._nowait(flags):
                raise
        return self._retry(_c_recvfrom_into, False, buffer, nbytes, flags)  # type: ignore[no-any-return]

    if hasattr(_csock, "recvmsg"):

        def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0, /) -> Any:
            """Receive normal data and ancillary data: ``(data, ancdata, msg_flags, address)``."""
            try:
                return _csock.recvmsg(self, bufsize, ancbufsize, flags)
            except BlockingIOError:
                if self._nowait(flags):
                    raise
            return self._retry(_csock.recvmsg, False, bufsize, ancbufsize, flags)

        def recvmsg_into(
            self, buffers: Iterable[Any], ancbufsize: int = 0, flags: int = 0, /
        ) -> Any:
            """Like recvmsg, into ``buffers``: ``(nbytes, ancdata, msg_flags, address)``."""
            buffers = _reiterable(buffers)
            try:
                return _csock.recvmsg_into(self, buffers, ancbufsize, flags)
            except BlockingIOError:
                if self._nowait(flags):
                    raise
            return self._retry(_csock.recvmsg_into, False, buffers, ancbufsize, flags)

    # -- sending -------------------------------------------------------------------------

    def send(self, data: Any, flags: int = 0, /) -> int:
        """Send ``data``; return the number of bytes sent (maybe fewer than all)."""
        timeout = self._timeout
        if flags == 0 and timeout != 0.0:
            return _sock_send(_c_fileno(self), data, 0, timeout)
        try:
            return _c_send(self, data, flags)  # type: ignore[no-any-return]
        except BlockingIOError:
            if self._nowait(flags):
                raise
        return self._retry(_c_send, True, data, flags)  # type: ignore[no-any-return]

    def sendall(self, data: Any, flags: int = 0, /) -> None:
        """Send all of ``data``; the timeout bounds the whole call, as in the stdlib."""
        timeout = self._timeout
        if flags == 0 and timeout != 0.0:
            _sock_sendall(_c_fileno(self), data, 0, timeout)
            return
        if self._nowait(flags):
            _c_sendall(self, data, flags)  # the stdlib's non-blocking semantics
            return
        deadline = self._deadline()
        try:
            sent = _c_send(self, data, flags)
        except BlockingIOError:
            sent = 0
        with memoryview(data) as view, view.cast("B") as octets:
            total = len(octets)
            while sent < total:
                self._wait(True, deadline)
                try:
                    sent += _c_send(self, octets[sent:], flags)
                except BlockingIOError:
                    pass

    def sendto(self, data: Any, flags_or_address: Any, address: Any = _NOT_GIVEN, /) -> int:
        """``sendto(data, address)`` or ``sendto(data, flags, address)``."""
        if address is _NOT_GIVEN:
            flags: Any = 0
            args: tuple[Any, ...] = (data, self._resolve(flags_or_address))
        else:
            flags = flags_or_address
            args = (data, flags, self._resolve(address))
        try:
            return _c_sendto(self, *args)  # type: ignore[no-any-return]
        except BlockingIOError:
            if self._nowait(flags):
                raise
        return self._retry(_c_sendto, True, *args)  # type: ignore[no-any-return]

    if hasattr(_csock, "sendmsg"):

        def sendmsg(
            self,
            buffers: Iterable[Any],
            ancdata: Iterable[Any] = (),
            flags: int = 0,
            address: Any = None,
            /,
        ) -> int:
            """Send normal and ancillary data; return the number of bytes sent."""
            buffers = _reiterable(buffers)
            ancdata = _reiterable(ancdata)
            if address is not None:
                address = self._resolve(address)
            try:
                return _csock.sendmsg(self, buffers, ancdata, flags, address)  # type: ignore[no-any-return]
            except BlockingIOError:
                if self._nowait(flags):
                    raise
            return self._retry(_csock.sendmsg, True, buffers, ancdata, flags, address)  # type: ignore[no-any-return]

    if hasattr(_csock, "sendmsg_afalg"):

        def sendmsg_afalg(self, *args: Any, **kwargs: Any) -> int:
            """``sendmsg_afalg([msg], *, op, iv, assoclen, flags)`` for AF_ALG sockets."""
            try:
                return _csock.sendmsg_afalg(self, *args, **kwargs)  # type: ignore[no-any-return]
            except BlockingIOError:
                if self._nowait(kwargs.get("flags", 0)):
                    raise
            deadline = self._deadline()
            while True:
                self._wait(True, deadline)
                try:
                    return _csock.sendmsg_afalg(self, *args, **kwargs)  # type: ignore[no-any-return]
                except BlockingIOError:
                    pass

    # -- connections -----------------------------------------------------------------------

    def accept(self) -> tuple[socket, Any]:
        """Wait for a connection; return ``(corolib socket, address)``."""
        try:
            fd, address = _c_accept(self)
        except BlockingIOError:
            if self._timeout == 0.0:
                raise
            fd, address = self._retry(_c_accept, False)
        return socket(_c_family(self), _c_type(self), _c_proto(self), fd), address

    def connect(self, address: Any, /) -> None:
        """Connect to ``address``; a host name is resolved cooperatively first."""
        address = self._resolve(address)
        if self._timeout == 0.0:
            _c_connect(self, address)
            return
        err = self._connect(address)
        if err:
            raise OSError(err, _os.strerror(err))

    def connect_ex(self, address: Any, /) -> int:
        """Connect, returning an errno (0 on success, EAGAIN on timeout) instead of raising."""
        address = self._resolve(address)
        if self._timeout == 0.0:
            return _c_connect_ex(self, address)  # type: ignore[no-any-return]
        try:
            return self._connect(address)
        except _timeout_error:
            return EWOULDBLOCK

    def _connect(self, address: Any) -> int:
        """Connect with waiting; return 0 or an errno, raise TimeoutError on timeout."""
        err = _c_connect_ex(self, address)
        if err == 0 or err == EISCONN:
            return 0
        deadline = self._deadline()
        delay = 0.0005
        while True:
            if err in _CONNECTING:
                self._wait(True, deadline)
            elif err == EAGAIN and _c_family(self) == _AF_UNIX:
                # A full AF_UNIX listen queue: a blocking connect sleeps in the
                # kernel until there is room (the fd is not pollable for it);
                # with a timeout the stdlib raises at once.
                if self._timeout is not None:
                    return err  # type: ignore[no-any-return]
                _sleep(delay)
                delay = min(delay * 2, 0.05)
            else:
                return err  # type: ignore[no-any-return]
            # connect() again reports progress: EALREADY while pending, 0 or
            # EISCONN once connected, the failure (e.g. ECONNREFUSED) if not.
            err = _c_connect_ex(self, address)
            if err == 0 or err == EISCONN:
                return 0

    def _resolve(self, address: Any) -> Any:
        """Resolve a host name in an AF_INET/AF_INET6 address cooperatively.

        Literal addresses, '' and '<broadcast>' are left for the C code, as
        are bytes hosts; for a name, the host part is replaced by the first
        address it resolves to (what the C code would do, but without
        blocking the thread).
        """
        if type(address) is not tuple or len(address) < 2:
            return address
        host = address[0]
        if type(host) is not str or not host or host == "<broadcast>" or "%" in host:
            return address
        family = _c_family(self)
        if family != _AF_INET and family != _AF_INET6:
            return address
        try:
            _inet_pton(family, host)
            return address
        except OSError:
            pass
        return (_dns.resolve_host(host, family), *address[1:])

    # -- files -----------------------------------------------------------------------------

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send a file with ``os.sendfile`` (or ``send`` if it cannot); return bytes sent.

        Exactly the stdlib's contract; the waits are cooperative.
        """
        try:
            return self._sendfile_use_sendfile(file, offset, count)
        except _GiveupOnSendfile:
            return self._sendfile_use_send(file, offset, count)  # type: ignore[attr-defined,no-any-return]

    def _sendfile_use_sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        if not hasattr(_os, "sendfile"):
            raise _GiveupOnSendfile("os.sendfile() not available on this platform")
        self._check_sendfile_params(file, offset, count)  # type: ignore[attr-defined]
        sockno = self.fileno()
        try:
            fileno = file.fileno()
        except (AttributeError, _io.UnsupportedOperation) as err:
            raise _GiveupOnSendfile(err) from None  # not a regular file
        try:
            fsize = _os.fstat(fileno).st_size
        except OSError as err:
            raise _GiveupOnSendfile(err) from None  # not a regular file
        if not fsize:
            return 0  # empty file
        # Truncate to 1GiB to avoid OverflowError, see bpo-38319.
        blocksize = min(count or fsize, 2**30)
        timeout = self._timeout
        if timeout == 0:
            raise ValueError("non-blocking sockets are not supported")
        total_sent = 0
        os_sendfile = _os.sendfile
        try:
            while True:
                if count:
                    blocksize = min(count - total_sent, blocksize)
                    if blocksize <= 0:
                        break
                try:
                    sent = os_sendfile(sockno, fileno, offset, blocksize)
                except BlockingIOError:
                    # As in the stdlib, the timeout bounds each wait.
                    self._wait(True, self._deadline())
                    continue
                except OSError as err:
                    if total_sent == 0:
                        # Not a regular mmap(2)-like file: fall back to send().
                        raise _GiveupOnSendfile(err) from None
                    raise err from None
                if sent == 0:
                    break  # EOF
                offset += sent
                total_sent += sent
            return total_sent
        finally:
            if total_sent > 0 and hasattr(file, "seek"):
                file.seek(offset)

    # -- closing ---------------------------------------------------------------------------

    def _real_close(self, _ss: Any = _csock, _forget: Any = forget_fd) -> None:
        # Wake the waiters and drop the watcher, then close.  (No globals
        # here: this may run late in interpreter shutdown.)
        fd = _ss.fileno(self)
        if fd >= 0:
            _forget(fd)
        _ss.close(self)

    def detach(self) -> int:
        """Forget the fd without closing it and return it (waiters get EBADF).

        The fd stays non-blocking: it may be shared with duplicates of this
        socket that rely on that.
        """
        fd = _c_fileno(self)
        if fd >= 0:
            forget_fd(fd)
        return super().detach()


SocketType = socket


def _reiterable(items: Any) -> Any:
    """``items`` as a list if it is a one-shot iterable (each try consumes it)."""
    if type(items) is list or type(items) is tuple:
        return items
    try:
        return list(items)
    except TypeError:
        return items  # not iterable: the C method raises its own error


def _index(value: Any) -> int:
    # What PyLong_AsLong accepts (the stdlib's setblocking argument), same errors.
    return _operator.index(value)


def _ebadf() -> OSError:
    return OSError(9, _os.strerror(9))


# ---- module functions ----------------------------------------------------------------------


def _wait_fd(wait: Any, fileno: Any, timeout: float | None, timeout_exc: Any) -> None:
    if not wait(fileno, timeout):
        if timeout_exc is _NOT_GIVEN:
            raise TimeoutError("timed out")
        raise timeout_exc


def wait_read(fileno: Any, timeout: float | None = None, timeout_exc: Any = _NOT_GIVEN) -> None:
    """Wait until ``fileno`` (an fd or an object with ``fileno()``) is readable.

    After ``timeout`` seconds raise ``timeout_exc`` (``socket.timeout`` by
    default), as gevent's ``wait_read`` does.  A :func:`cancel_wait` on the
    fd raises the exception it was given.
    """
    _wait_fd(_wait_readable, fileno, timeout, timeout_exc)


def wait_write(fileno: Any, timeout: float | None = None, timeout_exc: Any = _NOT_GIVEN) -> None:
    """Wait until ``fileno`` is writable; as :func:`wait_read`."""
    _wait_fd(_wait_writable, fileno, timeout, timeout_exc)


def wait_readwrite(
    fileno: Any, timeout: float | None = None, timeout_exc: Any = _NOT_GIVEN
) -> None:
    """Wait until ``fileno`` is readable or writable; as :func:`wait_read`."""
    _wait_fd(lambda fd, t: _wait_fds((fd,), (fd,), t), fileno, timeout, timeout_exc)


def cancel_wait(fileno: Any, error: BaseException | None = None) -> int:
    """Wake every greenlet waiting on ``fileno`` with ``error`` (EBADF by default).

    Returns how many were woken.  (gevent takes a watcher; corolib, the fd.)
    """
    return _cancel_wait(fileno, error)


def socketpair(
    family: int | None = None, type: int = _SOCK_STREAM, proto: int = 0
) -> tuple[socket, socket]:
    """Return a pair of connected corolib sockets, like :func:`socket.socketpair`."""
    a, b = _std_socketpair(family, type, proto)
    return _adopt(a), _adopt(b)


def fromfd(fd: Any, family: int, type: int, proto: int = 0) -> socket:
    """Return a corolib socket on a duplicate of ``fd``, like :func:`socket.fromfd`."""
    return socket(family, type, proto, _socket.dup(fd))


def close(fd: int, /) -> None:
    """Close a socket file descriptor, waking its waiters first, like :func:`socket.close`."""
    forget_fd(_index(fd))
    _socket.close(fd)


def create_connection(
    address: tuple[Any, Any],
    timeout: Any = _GLOBAL_DEFAULT_TIMEOUT,
    source_address: Any = None,
    *,
    all_errors: bool = False,
) -> socket:
    """Connect to ``(host, port)`` trying every address; like :func:`socket.create_connection`.

    ``all_errors`` (3.11+) raises an ExceptionGroup of every attempt's error.
    """
    if all_errors and not HAS_EXCEPTION_GROUP:
        raise TypeError("create_connection() got an unexpected keyword argument 'all_errors'")
    host, port = address
    exceptions: list[OSError] = []
    for af, socktype, proto, _canonname, sa in getaddrinfo(host, port, 0, _SOCK_STREAM):
        sock = None
        try:
            sock = socket(af, socktype, proto)
            if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sa)
            exceptions.clear()  # break a reference cycle
            return sock
        except OSError as exc:
            if not all_errors:
                exceptions.clear()  # raise only the last error
            exceptions.append(exc)
            if sock is not None:
                sock.close()
    if exceptions:
        try:
            if not all_errors:
                raise exceptions[0]
            raise exception_group("create_connection failed", exceptions)
        finally:
            exceptions.clear()  # break a reference cycle
    raise OSError("getaddrinfo returns an empty list")


def create_server(address: Any, **kwargs: Any) -> socket:
    """Return a listening corolib socket bound to ``address``, like :func:`socket.create_server`.

    The stdlib builds and binds it (same options, same errors); it is then
    adopted as a corolib socket.
    """
    return _adopt(_std_create_server(address, **kwargs))


def _adopt(sock: _StdSocket) -> socket:
    """Return a corolib socket taking over a stdlib socket's fd (and its timeout)."""
    if type(sock) is socket:
        return sock  # the stdlib module is patched: it made one of ours
    timeout = sock.gettimeout()
    new = socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    new._timeout = timeout
    return new
