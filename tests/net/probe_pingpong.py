"""Raw socket throughput probe (not a test): one loopback TCP connection, ping-pong.

    python tests/net/probe_pingpong.py corolib [round_trips] [size]
    python tests/net/probe_pingpong.py gevent  [round_trips] [size]
    python tests/net/probe_pingpong.py threads [round_trips] [size]

The server echoes in a greenlet (an OS thread for ``threads``) of the same
process; the client sends ``size`` bytes and waits for them back,
``round_trips`` times.  Each round trip is two sends, two receives that
would block (so two parks/switches), and the tries that find no data.
Prints microseconds per round trip (best of 5 runs).  Run it from a
directory outside the source tree so that the installed corolib is used.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    impl = sys.argv[1] if len(sys.argv) > 1 else "corolib"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    if impl == "corolib":
        import corolib
        import corolib.socket as sockmod

        spawn = corolib.spawn
    elif impl == "gevent":
        import gevent
        import gevent.socket as sockmod

        spawn = gevent.spawn
    elif impl == "threads":
        import socket as sockmod
        import threading

        def spawn(fn, *args):
            t = threading.Thread(target=fn, args=args, daemon=True)
            t.start()
            return t

    else:
        raise SystemExit(f"unknown implementation {impl!r}")

    def echo(conn) -> None:
        recv, sendall = conn.recv, conn.sendall
        while True:
            data = recv(65536)
            if not data:
                break
            sendall(data)
        conn.close()

    best = float("inf")
    for _ in range(5):
        lsock = sockmod.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        client = sockmod.create_connection(lsock.getsockname())
        client.setsockopt(sockmod.IPPROTO_TCP, sockmod.TCP_NODELAY, 1)
        conn, _ = lsock.accept()
        conn.setsockopt(sockmod.IPPROTO_TCP, sockmod.TCP_NODELAY, 1)
        spawn(echo, conn)
        msg = b"x" * size
        send, recv = client.send, client.recv
        started = time.perf_counter()
        for _ in range(rounds):
            send(msg)
            got = recv(65536)
            while len(got) < size:
                got += recv(65536)
        elapsed = time.perf_counter() - started
        best = min(best, elapsed)
        client.close()
        lsock.close()
    print(
        f"{impl:8s} python {sys.version_info.major}.{sys.version_info.minor}: "
        f"{rounds} round trips of {size} bytes: {best / rounds * 1e6:.2f} us per round trip "
        f"({rounds / best:,.0f}/s, best of 5)"
    )


if __name__ == "__main__":
    main()
