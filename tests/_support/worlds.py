"""One test, two worlds: corolib's greenlets, and the stdlib's OS threads.

A ``World`` is one way of running concurrent code: corolib's modules with
greenlets, or the stdlib's modules with OS threads.  A test written against
``world.spawn`` / ``world.sleep`` / ``world.event`` (and the modules a
directory's subclass adds: ``world.socket``, ``world.ssl``...) checks that
corolib behaves observably like the stdlib.  tests/net and tests/ssl
subclass it (netutil.py, sslutil.py).
"""

from __future__ import annotations

import socket as std_socket
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import corolib
from corolib._core import get_hub_if_exists


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

    def ready(self) -> bool:
        return not self.thread.is_alive()

    def get(self, timeout: float | None = 30, cooperative: bool = False) -> Any:
        if cooperative:
            # Keep the hub running (greenlets of this thread may be the
            # thread's peer) while waiting for the thread.
            deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
            while self.thread.is_alive() and time.monotonic() < deadline:
                corolib.sleep(0.002)
        else:
            self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError("thread did not finish")
        if self.exception is not None:
            raise self.exception
        return self.value


def join(task: Any, timeout: float | None = 30) -> Any:
    """Wait for a greenlet or a thread task, keeping the hub running; return its value."""
    if isinstance(task, ThreadTask):
        # Only a thread with a hub may have greenlets to keep running (and
        # corolib.sleep would give a plain thread a hub of its own).
        return task.get(timeout, cooperative=get_hub_if_exists() is not None)
    return task.get(timeout=timeout)


class World:
    """The concurrency primitives of one world ("corolib" or "threads")."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.coop = name == "corolib"

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
        return [join(t, max(0.0, deadline - time.monotonic())) for t in tasks]

    def __repr__(self) -> str:
        return f"<World {self.name}>"


def listener(
    sock_mod: ModuleType,
    backlog: int = 128,
    family: int = std_socket.AF_INET,
    *,
    nodelay: bool = False,
) -> Any:
    """A stream socket of ``sock_mod`` listening on 127.0.0.1, any port.

    ``nodelay``: TCP_NODELAY on the listener (accepted sockets inherit it).
    """
    s = sock_mod.socket(family, sock_mod.SOCK_STREAM)
    s.setsockopt(sock_mod.SOL_SOCKET, sock_mod.SO_REUSEADDR, 1)
    if nodelay:
        s.setsockopt(sock_mod.IPPROTO_TCP, sock_mod.TCP_NODELAY, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    return s
