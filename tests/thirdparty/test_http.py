"""requests, http.server and urllib.request under patch_all()."""

from __future__ import annotations

SERVER = """
import faulthandler
faulthandler.dump_traceback_later(100, exit=True)
from corolib import monkey
monkey.patch_all()

import threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(0.2)
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))[::-1]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ThreadingHTTPServer.request_queue_size = 1024
server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % server.server_address[1]
"""


def test_requests_200_concurrent_calls(run_python):
    run_python(
        SERVER
        + """
import requests
def call(i, out):
    r = requests.get(f"{base}/{i}", timeout=30)
    out[i] = (r.status_code, r.text)
out = {}
# one warm-up call, then 200 at once, each in its own (green) thread
call(-1, {})
started = time.monotonic()
threads = [threading.Thread(target=call, args=(i, out)) for i in range(200)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - started
assert out == {i: (200, f"/{i}") for i in range(200)}, len(out)
# sequentially that is 40 s; concurrently it is the time of a few calls
assert elapsed < 3.0, elapsed
session = requests.Session()
assert session.post(base, data=b"abc", timeout=10).content == b"cba"
print("ok", round(elapsed, 2))
""",
        timeout=120,
    ).expect(stdout=None)


def test_http_server_and_urllib_in_one_process(run_python):
    result = run_python(
        SERVER
        + """
import urllib.request, json
from concurrent.futures import ThreadPoolExecutor
def fetch(i):
    with urllib.request.urlopen(f"{base}/u{i}", timeout=30) as r:
        return r.status, r.read()
started = time.monotonic()
with ThreadPoolExecutor(max_workers=50) as ex:
    results = list(ex.map(fetch, range(50)))
elapsed = time.monotonic() - started
assert results == [(200, f"/u{i}".encode()) for i in range(50)]
assert elapsed < 2.0, elapsed
req = urllib.request.Request(base, data=b"hello", method="POST")
assert urllib.request.urlopen(req, timeout=10).read() == b"olleh"
print("ok")
""",
        timeout=120,
    )
    result.expect(stdout="ok\n")
