"""Make existing blocking code cooperative: ``corolib.monkey.patch_all()``.

Call it first thing, in the main module, before anything else is imported::

    from corolib import monkey
    monkey.patch_all()

    import requests  # now waits in the hub, as do threading, time.sleep, ...

or run a program with everything patched first, without changing it::

    python -m corolib.monkey script.py args...
    python -m corolib.monkey -m package.module args...

What it does.  The attributes of the standard library's module objects are
replaced in place by corolib's cooperative ones (the originals are kept:
:func:`get_original`), so code that looks them up *after* patching --
``socket.socket(...)``, ``time.sleep(...)`` -- gets the cooperative
version.  Code that captured a reference *before* (``from socket import
socket`` in a module imported earlier) keeps the blocking original: that is
why patching must come first, and why ``patch_all()`` warns
(:class:`MonkeyPatchWarning`, once, naming the modules) when it finds such
references, or OS threads already running.

Modules, in the order ``patch_all`` patches them (each ``patch_<name>()``
may also be called alone; each is idempotent and returns True if the
module is patched on return):

- ``os``: ``waitpid``/``wait`` wait cooperatively (:mod:`corolib.os`);
  ``fork`` re-initialises the hub in the child (always true of corolib).
- ``thread``: ``_thread`` and ``threading`` -- threads become greenlets,
  locks, conditions, events, semaphores, barriers and ``local`` become
  green (:mod:`corolib.thread`, :mod:`corolib.threading`); the interpreter
  waits for non-daemon green threads at exit.  Real OS threads stay
  available: :mod:`corolib.threadpool`, or ``get_original("_thread",
  "start_new_thread")``.
- ``time``: ``time.sleep``.
- ``socket`` (with ``dns``): the socket class and the resolver functions.
- ``select`` and ``selectors``: ``select``/``poll`` are cooperative and
  ``epoll``/``devpoll``/``kqueue`` are removed, so libraries fall back to
  them; ``selectors.DefaultSelector`` is corolib's, and the stdlib
  selectors' captured references are fixed.
- ``ssl``: when :mod:`corolib.ssl` exists (else skipped).
- ``subprocess``: ``Popen``, ``call``, ``check_call``, ``check_output``,
  ``run`` wait for the child and its pipes cooperatively.
- ``signal``: Python signal handlers may block (they run in a greenlet
  when the signal arrives while the thread waits in the hub).
- ``queue``: ``queue.SimpleQueue`` (C, would block the hub) is
  :class:`corolib.queue.SimpleQueue`; the other queues are green through
  green ``threading`` (or corolib's own when threads are not patched).
- ``asyncio``: the loops asyncio makes by default (``asyncio.run``,
  ``new_event_loop``, ``get_event_loop``) are
  :class:`corolib.asyncio.EventLoop`, so asyncio code and greenlets share
  the thread and greenlets wake the loop (:func:`patch_asyncio`).
- ``psycopg``: the PostgreSQL drivers' waits, when they are installed
  (:func:`patch_psycopg`).

Plugins can hook in before and after: see :mod:`corolib.monkey.events`.
Nothing in corolib imports this package.
"""

from __future__ import annotations

import importlib
import inspect
import os as _os
import runpy
import sys
import warnings as _warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from corolib.monkey import _state, events
from corolib.monkey._asyncio import patch_asyncio
from corolib.monkey._modules import (
    patch_dns,
    patch_os,
    patch_queue,
    patch_select,
    patch_selectors,
    patch_signal,
    patch_socket,
    patch_ssl,
    patch_subprocess,
    patch_time,
)
from corolib.monkey._psycopg import patch_psycopg
from corolib.monkey._session import MonkeyPatchWarning, session
from corolib.monkey._threading import patch_thread

__all__ = [
    "patch_all",
    "patch_os",
    "patch_thread",
    "patch_time",
    "patch_socket",
    "patch_dns",
    "patch_select",
    "patch_selectors",
    "patch_ssl",
    "patch_subprocess",
    "patch_signal",
    "patch_queue",
    "patch_asyncio",
    "patch_sys",
    "patch_builtins",
    "patch_psycopg",
    "patch_module",
    "get_original",
    "is_module_patched",
    "is_object_patched",
    "is_anything_patched",
    "MonkeyPatchWarning",
    "main",
    "events",
]

get_original = _state.get_original
is_module_patched = _state.is_module_patched
is_object_patched = _state.is_object_patched

#: The union of every patch_all() call's arguments so far.
_all_arguments: dict[str, Any] = {}


def is_anything_patched() -> bool:
    """Tell whether any patching happened in this process."""
    return bool(_state.patched_modules)


def patch_all(
    socket: bool = True,
    dns: bool = True,
    time: bool = True,
    select: bool = True,
    thread: bool = True,
    os: bool = True,
    ssl: bool = True,
    subprocess: bool = True,
    signal: bool = True,
    queue: bool = True,
    Event: bool = True,  # noqa: N803 - gevent's spelling
    logging: bool = True,
    sys: bool = False,
    aggressive: bool = True,
    builtins: bool = True,
    contextvars: bool = True,
    psycopg: bool = True,
    asyncio: bool = True,
    **kwargs: Any,
) -> bool:
    """Patch every module listed in the package docstring (those given True).

    Call it before importing anything else, on the main thread.  Calling it
    again is harmless (what is patched stays patched; newly requested
    modules are patched; differing arguments warn, as gevent does, that the
    union of all True ones is what is patched).  gevent's other arguments
    are accepted: ``sys`` (:func:`patch_sys`), ``aggressive`` (False keeps
    ``select.epoll`` & co.), ``builtins`` and ``contextvars`` (nothing to
    do on Python 3: corolib switches contextvars natively).  ``psycopg``
    installs the database drivers' cooperative waits (:func:`patch_psycopg`)
    when psycopg2 or psycopg 3 is importable.  ``asyncio`` makes asyncio's
    default loop corolib's (:func:`patch_asyncio`; it imports asyncio).  Extra keyword arguments are
    passed on to event subscribers (:class:`events.WillPatchAll`).  Returns
    False if a subscriber vetoed (:class:`events.DoNotPatch`), else True.
    """
    arguments = dict(
        socket=socket,
        dns=dns,
        time=time,
        select=select,
        thread=thread,
        os=os,
        ssl=ssl,
        subprocess=subprocess,
        signal=signal,
        queue=queue,
        Event=Event,
        logging=logging,
        sys=sys,
        aggressive=aggressive,
        builtins=builtins,
        contextvars=contextvars,
        psycopg=psycopg,
        asyncio=asyncio,
        **kwargs,
    )
    if _all_arguments and any(_all_arguments.get(k) != bool(v) for k, v in arguments.items()):
        _warnings.warn(
            "Patching more than once will result in the union of all True parameters being patched",
            MonkeyPatchWarning,
            stacklevel=2,
        )
    for key, value in arguments.items():
        _all_arguments[key] = bool(_all_arguments.get(key)) or bool(value)
    with session(stacklevel=3) as current:
        try:
            events.notify(events.WillPatchAll(dict(arguments)))
        except events.DoNotPatch:
            current.cancelled = True
            return False
        steps: list[tuple[bool, Callable[[], object]]] = [
            (os, patch_os),
            (thread, lambda: patch_thread(Event=Event, logging=logging)),
            (time, patch_time),
            (socket, lambda: patch_socket(dns=dns)),
            (dns and not socket, patch_dns),
            (sys, patch_sys),
            (select, lambda: patch_select(aggressive=aggressive)),
            (ssl, patch_ssl),
            (subprocess, patch_subprocess),
            (signal, patch_signal),
            (queue, patch_queue),
            (asyncio, patch_asyncio),
            (psycopg, patch_psycopg),
        ]
        for wanted, step in steps:
            if wanted:
                step()
        events.notify(events.DidPatchAll(dict(arguments)))
    return True


def patch_sys(stdin: bool = True, stdout: bool = True, stderr: bool = True) -> bool:
    """Accepted for gevent compatibility; does nothing and returns True.

    gevent's ``patch_sys`` is a no-op on Python 3 as well: reading
    ``sys.stdin`` still blocks the thread.  Use
    :class:`corolib.fileobject.FileObjectThread` (or ``FileObjectPosix`` on a
    pipe or terminal) to read it cooperatively.
    """
    _state.patched_modules.add("sys")
    return True


def patch_builtins() -> bool:
    """Accepted for gevent compatibility; does nothing (as gevent's on Python 3)."""
    return True


def patch_module(
    target_module: str | ModuleType,
    source_module: str | ModuleType | None = None,
    items: Iterable[str] | None = None,
) -> bool:
    """Copy ``items`` from ``source_module`` onto ``target_module``, keeping the originals.

    gevent's plugin helper.  ``target_module`` / ``source_module`` are
    modules or their names; ``source_module`` defaults to
    ``corolib.<target name>``; ``items`` defaults to the source's
    ``__implements__`` (or, failing that, the public names both modules
    have).  :func:`get_original` then gives back what was replaced.
    """
    target = (
        importlib.import_module(target_module) if isinstance(target_module, str) else target_module
    )
    if source_module is None:
        source_module = "corolib." + target.__name__
    source = (
        importlib.import_module(source_module) if isinstance(source_module, str) else source_module
    )
    names = items if items is not None else getattr(source, "__implements__", None)
    if names is None:
        names = [n for n in vars(source) if not n.startswith("_") and hasattr(target, n)]
    for name in names:
        _state.patch_item(target, name, getattr(source, name))
    _state.patched_modules.add(target.__name__)
    return True


@contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv[:]
    sys.argv[:] = argv
    try:
        yield
    finally:
        sys.argv[:] = saved


_USAGE = """\
usage: python -m corolib.monkey [--no-MODULE]... [--MODULE]... [--module|-m] PROGRAM [ARGS...]

Patch everything (corolib.monkey.patch_all()), then run PROGRAM (a script
path, or a module name with -m) as __main__ with ARGS.  --no-socket,
--no-thread, ... leave that module alone (patch_all(socket=False, ...));
--sys, --psycopg, ... turn one on.  MODULE is any of patch_all's arguments.
"""

#: patch_all's arguments, for the command line's --MODULE / --no-MODULE
_FLAGS = tuple(name for name in inspect.signature(patch_all).parameters if name not in ("kwargs",))


def main(argv: list[str] | None = None) -> int:
    """``python -m corolib.monkey [-m] PROGRAM ARGS...``: run PROGRAM with everything patched."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_module = False
    options: dict[str, bool] = {}
    while args and args[0].startswith("--") and args[0] not in ("--module", "--help"):
        flag = args.pop(0)[2:]
        value = not flag.startswith("no-")
        name = flag if value else flag[3:]
        if name not in _FLAGS:
            sys.stderr.write(f"corolib.monkey: unknown option --{flag}\n{_USAGE}")
            return 2
        options[name] = value
    if args and args[0] in ("-m", "--module"):
        as_module = True
        args.pop(0)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(_USAGE)
        return 0 if args else 2
    patch_all(**options)
    target, rest = args[0], args[1:]
    if as_module:
        with _argv([target, *rest]):
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.path[0] = _os.path.dirname(_os.path.abspath(target))
        with _argv([target, *rest]):
            runpy.run_path(target, run_name="__main__")
    return 0
