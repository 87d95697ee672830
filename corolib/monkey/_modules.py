"""The ``patch_<name>()`` functions, except ``patch_thread`` (see ``_threading``).

Each one: sends :class:`events.WillPatchModule` (a subscriber may veto),
replaces attributes of the stdlib module in place through
:func:`_state.patch_item` (originals saved once), records the module as
patched and sends :class:`events.DidPatchModule`.  A second call does
nothing and returns True.
"""

from __future__ import annotations

import importlib

# The stdlib modules patched, and corolib's modules the patches come from.  All
# are imported before anything is patched: corolib.dns and corolib.threadpool
# capture the real _thread when imported, and must never see a patched one.
import os
import queue
import select
import selectors
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from corolib import (
    dns as codns,
    os as coos,
    queue as coqueue,
    select as coselect,
    selectors as coselectors,
    signal as cosignal,
    socket as cosocket,
    subprocess as cosubprocess,
    threadpool as _threadpool,  # noqa: F401 - imported before patching
    time as cotime,
)
from corolib.monkey import _fair, _state, events
from corolib.monkey._session import session

# No __all__: corolib.monkey names what is public (its __all__ lists the patch_*
# functions once).


def patch_module(
    name: str,
    target: ModuleType,
    source: ModuleType | None,
    apply: Callable[[], None],
) -> bool:
    """Patch ``target`` once under ``name`` with ``apply()``, sending the events."""
    if name in _state.patched_modules:
        return True
    with session():
        try:
            events.notify(events.WillPatchModule(name, target, source))
        except events.DoNotPatch:
            return False
        apply()
        _state.patched_modules.add(name)
        events.notify(events.DidPatchModule(name, target, source))
    return True


def _copy(target: ModuleType, source: Any, names: Iterable[str]) -> None:
    for name in names:
        _state.patch_item(target, name, getattr(source, name))


# ---- os, time ------------------------------------------------------------------------


def patch_os() -> bool:
    """``os.waitpid``, ``os.wait`` and ``os.read`` wait cooperatively (:mod:`corolib.os`).

    ``os.read`` parks only on a blocking pipe, socket or terminal with
    nothing to read.

    ``os.fork`` needs nothing: corolib re-initialises the hub in every
    forked child.
    """
    return patch_module("os", os, coos, lambda: _copy(os, coos, ("waitpid", "wait", "read")))


def patch_time() -> bool:
    """``time.sleep`` parks the greenlet (:mod:`corolib.time`)."""
    return patch_module("time", time, cotime, lambda: _copy(time, cotime, ("sleep",)))


# ---- socket and dns --------------------------------------------------------------------

# Only the class (and close, which must forget the fd first): the stdlib's
# create_connection, create_server, socketpair and fromfd build their sockets
# with the module's ``socket``, so they make corolib sockets once it is
# patched -- and keep honouring a test's replacement of ``socket.socket``.
# ``SocketType`` stays ``_socket.socket``, as in the stdlib (corolib's
# sockets are instances of it).  ``_GiveupOnSendfile``: the exception
# corolib's sendfile raises (tests catch ``socket._GiveupOnSendfile``).
_SOCKET_NAMES = ("socket", "close", "_GiveupOnSendfile")
_DNS_NAMES = codns.RESOLVER_NAMES


def patch_socket(dns: bool = True) -> bool:
    """The socket class and its constructors are corolib's (with ``dns``, the resolver too)."""

    def apply() -> None:
        _copy(socket, cosocket, [n for n in _SOCKET_NAMES if hasattr(socket, n)])

    with session():
        done = patch_module("socket", socket, cosocket, apply)
        if done and dns:
            patch_dns()
    return done


def patch_dns() -> bool:
    """``socket.getaddrinfo`` and the other resolver functions run on worker threads."""
    return patch_module("dns", socket, codns, lambda: _copy(socket, codns, _DNS_NAMES))


# ---- select and selectors --------------------------------------------------------------

_SELECT_REMOVED = ("epoll", "devpoll", "kqueue", "kevent")
_SELECTORS_REMOVED = ("EpollSelector", "DevpollSelector", "KqueueSelector")


def patch_select(aggressive: bool = True) -> bool:
    """``select.select``/``poll`` are cooperative; ``epoll``/``devpoll``/``kqueue`` go away.

    Libraries that probe for the best mechanism then fall back to the
    cooperative ones.  The functions are :mod:`corolib.select`'s, made fair
    to polling loops (:mod:`corolib.monkey._fair`).  Also patches
    :mod:`selectors` (its classes hold references to the ``select``
    functions).
    """

    def apply() -> None:
        _copy(select, _fair, ("select", "poll"))
        if not aggressive:
            return  # gevent's aggressive=False: epoll & co. stay (and block)
        for name in _SELECT_REMOVED:
            if hasattr(select, name):
                _state.remove_item(select, name)

    with session():
        done = patch_module("select", select, coselect, apply)
        if done:
            patch_selectors(aggressive=aggressive)
    return done


def patch_selectors(aggressive: bool = True) -> bool:
    """``selectors.DefaultSelector`` is corolib's; the stdlib selectors wait cooperatively.

    ``SelectSelector`` and ``PollSelector`` captured the builtin
    ``select``/``poll`` when :mod:`selectors` was imported: their class
    attributes are pointed at the cooperative ones.  The epoll, devpoll and
    kqueue selectors are removed (their kernel objects would block).
    """

    def apply() -> None:
        _state.patch_item(selectors, "DefaultSelector", _fair.DefaultSelector)
        _state.patch_item(selectors.SelectSelector, "_select", staticmethod(_fair.select))
        _state.patch_item(selectors.PollSelector, "_selector_cls", _fair.Poll)
        if not aggressive:
            return
        for name in _SELECTORS_REMOVED:
            if hasattr(selectors, name):
                _state.remove_item(selectors, name)

    return patch_module("selectors", selectors, coselectors, apply)


# ---- ssl -------------------------------------------------------------------------------


def patch_ssl() -> bool:
    """``ssl`` is corolib's (:mod:`corolib.ssl`), when it exists; else nothing (returns False).

    The names :mod:`corolib.ssl` replaces are copied (``SSLContext``,
    ``SSLSocket``, the context factories, ``get_server_certificate``...).
    The stdlib's ``SSLContext`` class itself is fixed for contexts made
    before patching: its ``wrap_socket`` makes corolib TLS sockets, and its
    property setters (which reach their base through the module global
    ``SSLContext``) no longer recurse once that global is corolib's class.
    """
    try:
        cossl: Any = importlib.import_module("corolib.ssl")
    except ImportError:
        return False
    import ssl

    std_context = ssl.SSLContext

    def apply() -> None:
        _copy(ssl, cossl, sorted(n for n in cossl._REPLACED if n in vars(cossl)))
        cossl._bind_context_properties(std_context)
        _state.patch_item(std_context, "sslsocket_class", cossl.SSLSocket)

    return patch_module("ssl", ssl, cossl, apply)


# ---- subprocess, signal, queue ---------------------------------------------------------


def patch_subprocess() -> bool:
    """``subprocess.Popen`` waits cooperatively (:mod:`corolib.subprocess`).

    ``call``, ``check_call``, ``check_output``, ``run`` and the others stay
    the stdlib's: they look ``Popen`` up in the module when called, so they
    use corolib's (and whatever replaces it, such as a test's mock).  Also
    points the stdlib's ``_PopenSelector`` at a cooperative selector, for
    ``Popen`` subclasses created before patching.
    """

    def apply() -> None:
        _copy(subprocess, cosubprocess, ("Popen",))
        if hasattr(subprocess, "_PopenSelector"):
            _state.patch_item(subprocess, "_PopenSelector", coselectors.PollSelector)

    return patch_module("subprocess", subprocess, cosubprocess, apply)


def patch_signal() -> bool:
    """``signal.signal`` installs handlers that may block (:mod:`corolib.signal`).

    The handlers installed already (the default ``SIGINT`` handler...) are
    wrapped too, so that their exceptions reach the main greenlet.
    """

    def apply() -> None:
        _copy(signal, cosignal, ("signal", "getsignal"))
        if threading.current_thread() is threading.main_thread():
            cosignal.wrap_installed_handlers()

    return patch_module("signal", signal, cosignal, apply)


def patch_queue() -> bool:
    """``queue.SimpleQueue`` (in C, it would block the hub) is corolib's.

    ``Queue``, ``LifoQueue`` and ``PriorityQueue`` are pure Python on
    ``threading``: green once threads are patched, so they are left as they
    are (subclasses overriding ``_put``/``_get`` keep working).  If
    ``threading`` is not patched, they are replaced by corolib's.
    """

    def apply() -> None:
        _copy(queue, coqueue, ("SimpleQueue",))
        if not _state.is_module_patched("thread"):
            _copy(queue, coqueue, ("Queue", "LifoQueue", "PriorityQueue"))

    return patch_module("queue", queue, coqueue, apply)
