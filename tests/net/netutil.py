"""Helpers for the networking tests (see conftest.py for the fixtures).

A ``World`` is one way of running concurrent socket code: corolib's
modules with greenlets, or the stdlib's modules with OS threads.  A test
written against ``world.socket`` / ``world.spawn`` / ``world.sleep`` checks
that corolib behaves observably like the stdlib.
"""

from __future__ import annotations

import os
import resource
import select as std_select
import selectors as std_selectors
import socket as std_socket
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import corolib
import corolib.select
import corolib.selectors
import corolib.socket


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def raise_nofile(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (capped by the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---- worlds -------------------------------------------------------------------------


class ThreadTask:
    """A function running in an OS thread, with greenlet-like ``get``."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.value: Any = None
        self.exception: BaseException | None = None

        def run() -> None:
            try:
                self.value = fn(*args)
            except BaseException as exc:  # noqa: BLE001
                self.exception = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def get(self, timeout: float | None = 30) -> Any:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError("thread did not finish")
        if self.exception is not None:
            raise self.exception
        return self.value

    def ready(self) -> bool:
        return not self.thread.is_alive()


class World:
    """The modules and concurrency primitives of one world."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.coop = name == "corolib"
        self.socket: ModuleType = corolib.socket if self.coop else std_socket
        self.select: ModuleType = corolib.select if self.coop else std_select
        self.selectors: ModuleType = corolib.selectors if self.coop else std_selectors

    def spawn(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.coop:
            return corolib.spawn(fn, *args)
        return ThreadTask(fn, args)

    def sleep(self, seconds: float) -> None:
        if self.coop:
            corolib.sleep(seconds)
        else:
            time.sleep(seconds)

    def event(self) -> Any:
        return corolib.Event() if self.coop else threading.Event()

    def join_all(self, tasks: list[Any], timeout: float = 60) -> list[Any]:
        deadline = time.monotonic() + timeout
        return [t.get(timeout=max(0.0, deadline - time.monotonic())) for t in tasks]

    def __repr__(self) -> str:
        return f"<World {self.name}>"


# ---- helpers ------------------------------------------------------------------------


def listener(sock_mod: ModuleType, backlog: int = 128, family: int = std_socket.AF_INET) -> Any:
    s = sock_mod.socket(family, sock_mod.SOCK_STREAM)
    s.setsockopt(sock_mod.SOL_SOCKET, sock_mod.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    return s
