"""A socket's fd closed with os.close() behind corolib's back, its number reused.

The hub keeps one poll per fd number.  corolib's sockets always cancel it
before they close, but a program (or a library) may ``os.close`` the fd of
a socket some greenlet waits on.  The kernel drops that fd from the epoll
set; the next socket to get the number must not inherit the dead poll:
with the stdlib its recv/sendall simply work, so they must here too, and
the greenlet still waiting on the closed socket learns ``EBADF``.

Each case runs in a subprocess: the failure being tested for is a hang.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import os, sys, corolib
    from corolib import socket

    a, b = socket.socketpair()
    old = corolib.spawn(a.recv, 10)      # parked: the hub polls a's fd
    corolib.sleep(0.05)
    n = a.fileno()
    os.close(n)                          # behind corolib's back (a still "owns" n)
    c, d = socket.socketpair()           # c gets the same number
    assert c.fileno() == n, (c.fileno(), n)
    old.join(timeout=2)
    print("old waiter:", old.ready() and repr(old.exception), flush=True)
    c.settimeout(10)
    d.settimeout(10)
    if sys.argv[1] == "read":
        reader = corolib.spawn(c.recv, 100)
        corolib.sleep(0.05)              # parked before the data comes
        d.sendall(b"data for c")
        print("read", reader.get(timeout=10), flush=True)
    else:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        size = 4 << 20
        writer = corolib.spawn(c.sendall, b"x" * size)   # must wait for writability
        corolib.sleep(0.05)
        got = 0
        while got < size:
            got += len(d.recv(1 << 20))
        writer.get(timeout=10)
        print("wrote", got, flush=True)
    os._exit(0)                          # a's finalizer would close c's fd
    """
)


@pytest.mark.parametrize("mode", ["read", "write"])
def test_new_socket_on_a_number_closed_behind_our_back(mode: str, tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", PROGRAM, mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    expected = "read b'data for c'" if mode == "read" else f"wrote {4 << 20}"
    old, done = proc.stdout.strip().splitlines()
    # The greenlet still waiting on the closed socket was told, as a close() would.
    assert old == "old waiter: OSError(9, 'File descriptor was closed while waited on')", proc
    assert done == expected, proc
