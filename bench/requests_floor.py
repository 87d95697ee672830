"""What one `requests` call costs with no framework at all: the floor of bm_monkey's fan-out.

Run: ``.venv-bench-3.11/bin/python bench/requests_floor.py`` (needs ``requests``).

One unpatched thread calls ``Session.get`` in a loop against the same peer
bm_monkey's ``requests_fanout`` uses (``bench/_http_peer.py serve``) and
prints the CPU time per call.  No library can make the fan-out cheaper than
this per request, so it bounds what corolib (or gevent) can gain there:
the best possible ratio to gevent is gevent's CPU per request / this.
Not part of ``run.py``'s suite (nothing to compare: there is one program).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import requests

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_http_peer.py")


def main(calls: int = 3000, rounds: int = 3) -> None:
    peer = subprocess.Popen([sys.executable, PEER, "serve"], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{int(peer.stdout.readline())}/"  # type: ignore[union-attr]
        session = requests.Session()
        for _ in range(300):  # warm-up: the connection, caches
            session.get(url)
        costs = []
        for _ in range(rounds):
            cpu0 = time.process_time()
            for _ in range(calls):
                session.get(url)
            costs.append((time.process_time() - cpu0) / calls * 1e6)
        costs.sort()
        print(
            "requests.Session.get, one unpatched thread: "
            f"{costs[len(costs) // 2]:.0f} us CPU per call "
            f"(median of {rounds} rounds of {calls}; min {costs[0]:.0f}, max {costs[-1]:.0f})"
        )
    finally:
        peer.kill()
        peer.wait()


if __name__ == "__main__":
    main()
