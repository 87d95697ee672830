"""Accept errors are survived: a server out of fds (EMFILE) backs off and goes on.

The server runs in a child process whose RLIMIT_NOFILE leaves it room for
only a few more connections; this process (plain blocking stdlib sockets)
connects more clients than that, frees some, and checks that the rest are
then served.  The child logs each failed accept with its back-off, and the
back-off keeps it from spinning.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

SERVER = textwrap.dedent(
    """
    import logging, os, resource, sys
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    import corolib
    from corolib.server import StreamServer

    def handle(sock, address):
        while True:
            data = sock.recv(100)
            if not data:
                return
            if data == b"quit":
                server.stop(timeout=5)
                return
            sock.sendall(data)

    server = StreamServer(("127.0.0.1", 0), handle, backlog=128)
    server.start()
    corolib.sleep(0)
    # Room for exactly ROOM more fds (accept returns the lowest free number).
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1 + ROOM, hard))
    print(server.server_port, flush=True)
    server.serve_forever()
    print("stopped", flush=True)
    """
)

ROOM = 5
CLIENTS = 15


def test_emfile_is_survived(tmp_path) -> None:
    script = tmp_path / "emfile_server.py"
    script.write_text(SERVER.replace("ROOM", str(ROOM)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    clients: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        for _ in range(CLIENTS):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=20))
        # The first ROOM are being served (the kernel queued the others).
        for i, sock in enumerate(clients[:ROOM]):
            sock.sendall(b"early %d" % i)
            assert sock.recv(100) == b"early %d" % i
        # Free the server's fds: its accept loop (backing off on EMFILE) goes on.
        for sock in clients[:ROOM]:
            sock.close()
        waiting = clients[ROOM:]
        for start in range(0, len(waiting), ROOM):
            batch = waiting[start : start + ROOM]
            for i, sock in enumerate(batch):
                sock.sendall(b"late %d" % i)
                assert sock.recv(100) == b"late %d" % i
            for sock in batch:
                sock.close()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"quit")
        out, err = proc.communicate(timeout=30)
    finally:
        for sock in clients:
            sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == "stopped\n"
    failures = [line for line in err.splitlines() if "accept failed" in line]
    assert failures, err
    assert all("Too many open files" in line and "retrying in" in line for line in failures), err
    assert "Traceback" not in err, err
    # Backing off: a handful of attempts, not a busy loop.
    assert len(failures) < 40, err
