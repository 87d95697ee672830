"""corolib.selectors: the stdlib selectors, waiting through the hub."""

from __future__ import annotations

import random
import selectors as std_selectors
import tempfile
import time

import pytest
from netutil import World, raise_nofile

import corolib
import corolib.selectors as CSel
import corolib.socket as S

SELECTOR_NAMES = ["DefaultSelector", "SelectSelector", "PollSelector", "EpollSelector"]


def _took(started: float, seconds: float) -> None:
    elapsed = time.monotonic() - started
    assert seconds * 0.9 <= elapsed < seconds + 2.0, elapsed


@pytest.mark.parametrize("name", SELECTOR_NAMES)
def test_selector_basics(world: World, name: str) -> None:
    EV_R, EV_W = world.selectors.EVENT_READ, world.selectors.EVENT_WRITE
    a, b = world.socket.socketpair()
    with a, b, getattr(world.selectors, name)() as sel:
        key = sel.register(a, EV_R, data="a")
        assert sel.get_key(a) == key and key.fd == a.fileno() and key.data == "a"
        assert sel.select(0) == []
        started = time.monotonic()
        assert sel.select(0.2) == []
        _took(started, 0.2)

        def later():
            world.sleep(0.05)
            b.sendall(b"x")

        t = world.spawn(later)
        assert sel.select(None) == [(key, EV_R)]
        t.get()
        key = sel.modify(a, EV_R | EV_W, data="rw")
        assert sel.select(1) == [(key, EV_R | EV_W)]
        with pytest.raises(KeyError):
            sel.register(a, EV_R)
        with pytest.raises(ValueError):
            sel.register(b, 0)
        assert set(sel.get_map()) == {a.fileno()}
        sel.unregister(a)
        with pytest.raises(KeyError):
            sel.unregister(a)
        assert sel.select(0) == []


def test_thousand_fds_in_a_selector(world: World) -> None:
    raise_nofile(4096)
    pairs = [world.socket.socketpair() for _ in range(1000)]
    try:
        with world.selectors.DefaultSelector() as sel:
            keys = {
                a.fileno(): sel.register(a, world.selectors.EVENT_READ, i)
                for i, (a, _b) in enumerate(pairs)
            }
            assert sel.select(0.05) == []
            chosen = random.Random(5).sample(range(1000), 100)

            def writer():
                world.sleep(0.02)
                for i in chosen:
                    pairs[i][1].send(b"!")

            t = world.spawn(writer)
            ready: set[int] = set()
            deadline = time.monotonic() + 10
            while len(ready) < 100 and time.monotonic() < deadline:
                for key, events in sel.select(1):
                    assert events == world.selectors.EVENT_READ
                    ready.add(key.data)
                    key.fileobj.recv(1)
            t.get()
            assert ready == set(chosen)
            assert sel.select(0) == []
            assert len(keys) == 1000
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_selector_survives_a_closed_fd(world: World) -> None:
    a, b = world.socket.socketpair()
    with b, world.selectors.DefaultSelector() as sel:
        sel.register(a, world.selectors.EVENT_READ)
        a.close()
        assert sel.select(0.05) == []
        sel.unregister(a)  # a closed file object: found by identity, as the stdlib does


# ---- corolib only ---------------------------------------------------------------------


def test_default_selector_is_the_hub_selector() -> None:
    assert CSel.DefaultSelector is CSel.HubSelector
    with CSel.DefaultSelector() as sel:
        assert isinstance(sel, std_selectors.EpollSelector)
        assert isinstance(sel, std_selectors.BaseSelector)
    assert CSel.SelectorKey is std_selectors.SelectorKey
    assert CSel.EVENT_READ == std_selectors.EVENT_READ
    assert CSel.EVENT_WRITE == std_selectors.EVENT_WRITE


def test_regular_files_always_ready() -> None:
    EV_R, EV_W = CSel.EVENT_READ, CSel.EVENT_WRITE
    a, b = S.socketpair()
    with tempfile.TemporaryFile() as f, a, b, CSel.DefaultSelector() as sel:
        fkey = sel.register(f, EV_R | EV_W)
        akey = sel.register(a, EV_R)
        assert sel.select(None) == [(fkey, EV_R | EV_W)]
        b.sendall(b"x")
        assert sorted(sel.select(5), key=lambda kv: kv[0].fd) == sorted(
            [(fkey, EV_R | EV_W), (akey, EV_R)], key=lambda kv: kv[0].fd
        )
        sel.modify(f, EV_W)
        assert (sel.get_key(f), EV_W) in sel.select(0)
        sel.unregister(f)
        assert sel.select(0) == [(akey, EV_R)]
    # The plain EpollSelector refuses them, as the stdlib's does.
    with tempfile.TemporaryFile() as f, CSel.EpollSelector() as sel, pytest.raises(PermissionError):
        sel.register(f, EV_R)


@pytest.mark.parametrize("name", SELECTOR_NAMES)
def test_selector_waits_cooperatively(name: str) -> None:
    a, b = S.socketpair()
    ticks = []

    def ticker():
        for _ in range(5):
            ticks.append(1)
            corolib.sleep(0.01)
        b.sendall(b"x")

    with a, b, getattr(CSel, name)() as sel:
        sel.register(a, CSel.EVENT_READ)
        g = corolib.spawn(ticker)
        [(key, _events)] = sel.select(5)
        assert key.fileobj is a and len(ticks) == 5
        g.get()


def test_closing_a_selector_wakes_its_waiter() -> None:
    a, b = S.socketpair()
    sel = CSel.DefaultSelector()
    sel.register(a, CSel.EVENT_READ)

    def waiter():
        try:
            return sel.select(5)
        except OSError as exc:
            return exc.errno

    g = corolib.spawn(waiter)
    corolib.sleep(0.01)
    sel.close()
    assert g.get(timeout=5) == 9  # EBADF, not a 5 s hang
    a.close()
    b.close()
