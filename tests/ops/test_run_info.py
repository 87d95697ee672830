"""Run info: threads, hubs, greenlets with what they are parked on, the spawn tree."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import corolib
from corolib import util
from corolib.sync import Event


def waits_on_a_socket(sock):
    sock.recv(1)


def waits_on_an_event(event):
    event.wait()


def sleeps_long():
    corolib.sleep(60)


def test_run_info_lists_parked_greenlets_and_what_they_wait_on():
    a, b = socket.socketpair()
    ca = corolib.socket.socket(fileno=a.detach())
    event = Event()
    g_sock = corolib.spawn(waits_on_a_socket, ca)
    g_event = corolib.spawn(waits_on_an_event, event)
    g_sleep = corolib.spawn(sleeps_long)
    joiner = corolib.spawn(g_sleep.join)
    not_started = corolib.Greenlet(sleeps_long)
    try:
        corolib.sleep(0)
        text = "".join(util.format_run_info())
        lines = text.splitlines()

        def line_of(g):
            found = [ln for ln in lines if repr(g) in ln and ";" in ln]
            assert found, f"{g!r} missing from:\n{text}"
            return found[0]

        assert line_of(g_sock).endswith(f"parked: waits for fd {ca.fileno()}")
        assert line_of(g_event).endswith("parked: waits for a WaitQueue")
        assert line_of(g_sleep).endswith("parked: waits for sleep")
        assert line_of(joiner).endswith("parked: waits for Greenlet.join()")
        assert line_of(not_started).endswith("; not started")
        # Their stacks, and the running (main) greenlet's.
        for name in ("waits_on_a_socket", "waits_on_an_event", "sleeps_long"):
            assert f"in {name}" in text
        assert "; running" in text
        assert "* Threads" in text and "(CURRENT)" in text
        assert "hub: " in text
    finally:
        for g in (g_sock, g_event, g_sleep, joiner):
            g.kill()
        ca.close()
        b.close()


def test_run_info_from_another_thread_sees_this_hubs_greenlets():
    g = corolib.spawn(sleeps_long)
    corolib.sleep(0)
    out = []
    t = threading.Thread(target=lambda: out.append("".join(util.format_run_info())))
    t.start()
    while t.is_alive():
        corolib.sleep(0.005)  # this hub keeps running while the thread reads it
    try:
        assert f"{g!r}; parked: waits for sleep" in out[0]
        assert "in sleeps_long" in out[0]
    finally:
        g.kill()


def test_spawn_tree_follows_the_spawner_and_shares_tree_locals():
    children = []

    def child():
        corolib.sleep(60)

    def parent():
        corolib.getcurrent().spawn_tree_locals["request"] = "r-1"
        children.append(corolib.spawn(child))
        corolib.sleep(60)

    p = corolib.spawn(parent)
    other = corolib.spawn(child)
    corolib.sleep(0)
    corolib.sleep(0)
    try:
        c = children[0]
        assert c.spawning_greenlet() is p
        assert p.spawning_greenlet() is corolib.getcurrent()
        # Spawned by the same tree: one dict; spawned by main: a tree of its own.
        assert c.spawn_tree_locals is p.spawn_tree_locals
        assert c.spawn_tree_locals == {"request": "r-1"}
        assert other.spawn_tree_locals is not p.spawn_tree_locals
        tree = util.GreenletTree.current_tree()
        assert tree.greenlet is corolib.getcurrent() and tree.root
        (p_node,) = [t for t in tree.children if t.greenlet is p]
        assert [t.greenlet for t in p_node.children] == [c]
        assert any(t.greenlet is other for t in tree.children)
        text = tree.format()
        assert "Spawn tree locals: {'request': 'r-1'}" in text
        # The child is drawn under its spawner, not under the hub.
        p_at = text.index(repr(p))
        assert text.index(repr(c)) > p_at
    finally:
        for g in (p, other, *children):
            g.kill()


def test_sigusr1_one_liner_dumps_run_info(tmp_path):
    script = tmp_path / "dumper.py"
    script.write_text(
        textwrap.dedent(
            """
            import signal, sys, corolib, corolib.util
            signal.signal(signal.SIGUSR1, lambda *_: corolib.util.print_run_info())

            def parked_forever():
                corolib.sleep(3600)

            g = corolib.spawn(parked_forever)
            corolib.sleep(0)
            print("ready", flush=True)
            g.join()
            """
        )
    )
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGUSR1)
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "parked: waits for sleep" in line:
                break
        text = "".join(seen)
        assert "parked_forever" in text and "parked: waits for sleep" in text, text
    finally:
        proc.kill()
        proc.communicate()


def test_wrap_errors():
    def divide(a, b):
        return a / b

    safe = util.wrap_errors(ZeroDivisionError, divide)
    assert safe(6, 3) == 2
    err = safe(1, 0)
    assert isinstance(err, ZeroDivisionError)
    with pytest.raises(TypeError):
        safe(1, "x")  # not listed: raised
    assert safe.__name__ == "divide"
    g = corolib.spawn(util.wrap_errors((KeyError,), {}.__getitem__), "missing")
    assert isinstance(g.get(), KeyError)


def test_assert_switches():
    with util.assert_switches():
        corolib.sleep(0)
    with util.assert_switches(hub_only=True):
        corolib.sleep(0)
    with pytest.raises(util.FailedToSwitch, match="did not switch"):
        with util.assert_switches():
            sum(range(10))
    with util.assert_switches(max_blocking_time=5.0):
        pass  # fast enough, even without switching
    with pytest.raises(util.FailedToSwitch, match="without switching"):
        with util.assert_switches(max_blocking_time=0.01):
            end = time.monotonic() + 0.05
            while time.monotonic() < end:
                pass
    # A trace function installed before is chained, then put back.
    calls = []
    previous = corolib.greenlet.settrace(lambda ev, args: calls.append(ev))
    try:
        with util.assert_switches():
            corolib.sleep(0)
        assert calls
        assert corolib.greenlet.gettrace() is not None
    finally:
        corolib.greenlet.settrace(previous)
