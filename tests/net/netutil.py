"""Helpers for the networking tests (see conftest.py for the fixtures).

A ``World`` (tests/_support/worlds.py) is one way of running concurrent
socket code: corolib's modules with greenlets, or the stdlib's modules with
OS threads.  A test written against ``world.socket`` / ``world.spawn`` /
``world.sleep`` checks that corolib behaves observably like the stdlib.
"""

from __future__ import annotations

import select as std_select
import selectors as std_selectors
import socket as std_socket
from types import ModuleType

from _support import worlds
from _support.leaks import open_fds as open_fds, raise_nofile as raise_nofile, rss_kib as rss_kib
from _support.worlds import ThreadTask as ThreadTask, listener as listener

import corolib.select
import corolib.selectors
import corolib.socket


class World(worlds.World):
    """The socket modules and concurrency primitives of one world."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.socket: ModuleType = corolib.socket if self.coop else std_socket
        self.select: ModuleType = corolib.select if self.coop else std_select
        self.selectors: ModuleType = corolib.selectors if self.coop else std_selectors
