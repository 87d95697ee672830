"""corolib.gunicorn's workers under a real gunicorn master (subprocess, loopback only)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from wsgiutil import HERE, free_port

WORKERS = ["corolib.gunicorn.Worker", "corolib.gunicorn.GunicornParserWorker"]
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


class Gunicorn:
    def __init__(self, tmp_path, worker: str, *args: str) -> None:
        if not os.path.exists(GUNICORN):
            pytest.fail("gunicorn is not installed (make wsgi-deps installs it)")
        self.port = free_port()
        self.log_path = str(tmp_path / f"gunicorn-{self.port}.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [GUNICORN, "-k", worker, "-b", f"127.0.0.1:{self.port}", "--no-control-socket",
                 "--worker-tmp-dir", str(tmp_path), *args, "gapp:app"],
                cwd=HERE, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.wait_serving()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_for(self, cond: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; log:\n{self.log()}")
            time.sleep(0.05)

    def wait_serving(self) -> None:
        def serving() -> bool:
            assert self.proc.poll() is None, self.log()
            try:
                return requests.get(self.url("/"), timeout=5).ok
            except requests.ConnectionError:
                return False

        self.wait_for(serving, "gunicorn to serve")

    def pid(self) -> int:
        return int(requests.get(self.url("/pid"), timeout=10).text)

    def pid_or_none(self) -> int | None:
        """The pid of the worker that answers, or None while workers come and go."""
        try:
            return self.pid()
        except requests.ConnectionError:
            return None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def gunicorn(tmp_path) -> Iterator[Callable[..., Gunicorn]]:
    started: list[Gunicorn] = []

    def start(worker: str, *args: str) -> Gunicorn:
        g = Gunicorn(tmp_path, worker, *args)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


@pytest.mark.parametrize("worker", WORKERS)
def test_one_worker_serves(gunicorn, worker: str, tmp_path) -> None:
    access = tmp_path / "access.log"
    g = gunicorn(worker, "-w", "1", "--access-logfile", str(access))
    with requests.Session() as s:
        assert s.get(g.url("/patched"), timeout=10).text == "True corolib.socket"
        payload = os.urandom(2_000_000)
        r = s.post(g.url("/sha"), data=payload, timeout=30)
        assert r.text == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"
        pids = {s.get(g.url("/pid"), timeout=10).text for _ in range(5)}
        assert len(pids) == 1
    module = requests.get(g.url("/env"), timeout=10).text
    assert module.endswith("gunicorn.http.body" if "Parser" in worker else "corolib.pywsgi")
    g.wait_for(lambda: access.exists() and "GET /pid HTTP/1.1" in access.read_text(), "access log")
    assert '"GET /pid HTTP/1.1" 200' in access.read_text()
    assert "MonkeyPatchWarning" not in g.log()
    assert g.stop() == 0


@pytest.mark.parametrize("worker", WORKERS)
def test_graceful_term_with_requests_in_flight(gunicorn, worker: str) -> None:
    g = gunicorn(worker, "-w", "2", "--graceful-timeout", "20")
    results: list[object] = []

    def slow() -> None:
        try:
            r = requests.get(g.url("/sleep?1.5"), timeout=30)
            results.append(r.status_code)
        except Exception as exc:  # noqa: BLE001
            results.append(exc)

    threads = [threading.Thread(target=slow) for _ in range(8)]
    for t in threads:
        t.start()
    # all 8 are in the application (for 1.5 s) before the TERM
    g.wait_for(lambda: g.log().count("sleeping") >= 8, "the requests to reach the app")
    g.proc.send_signal(signal.SIGTERM)
    termed = time.monotonic()
    for t in threads:
        t.join(30)
    assert results == [200] * 8, (results, g.log())
    assert g.proc.wait(30) == 0
    # The workers finish their requests and exit; the master never has to
    # wait out --graceful-timeout (20 s) and kill one.
    assert time.monotonic() - termed < 12, g.log()
    assert "Worker graceful timeout" not in g.log()


def test_worker_sigkilled_is_replaced(gunicorn) -> None:
    g = gunicorn("corolib.gunicorn.PyWSGIWorker", "-w", "2")
    g.wait_for(lambda: g.log().count("Booting worker") >= 2, "two workers")
    victim = g.pid()
    os.kill(victim, signal.SIGKILL)
    g.wait_for(lambda: g.log().count("Booting worker") >= 3, "a replacement worker")
    # The port kept serving all along, and the dead worker answers no more.
    pids = set()
    for _ in range(20):
        pids.add(g.pid())
    assert victim not in pids


@pytest.mark.parametrize("worker", WORKERS)
def test_max_requests_restarts(gunicorn, worker: str) -> None:
    g = gunicorn(worker, "-w", "1", "--max-requests", "5")
    first = g.pid()
    seen = {first}
    deadline = time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        try:
            seen.add(g.pid())
        except requests.ConnectionError:
            pass  # the instant between the old worker and the new one
    assert len(seen) >= 2, g.log()
    assert "Autorestarting worker after current request" in g.log()


def test_timeout_blocked_hub_is_killed(gunicorn) -> None:
    g = gunicorn("corolib.gunicorn.Worker", "-w", "1", "--timeout", "2")
    victim = g.pid()
    time.sleep(3)  # not waiting for anyone: an idle worker must outlive its 2 s timeout
    assert g.pid() == victim and "WORKER TIMEOUT" not in g.log()
    try:
        requests.get(g.url("/block?30"), timeout=20)
    except requests.RequestException:
        pass
    g.wait_for(lambda: "WORKER TIMEOUT" in g.log(), "the master to kill the blocked worker")
    g.wait_for(lambda: g.pid_or_none() not in (None, victim), "a new worker")


def test_signals(gunicorn) -> None:
    g = gunicorn("corolib.gunicorn.Worker", "-w", "1")
    worker = g.pid()
    os.kill(worker, signal.SIGUSR1)  # reopen logs: the worker goes on
    g.wait_for(lambda: g.pid_or_none() == worker, "the worker after USR1")
    g.proc.send_signal(signal.SIGHUP)  # reload: new workers
    g.wait_for(lambda: "Handling signal: hup" in g.log(), "HUP")
    g.wait_for(lambda: g.pid_or_none() not in (None, worker), "a reloaded worker")
    newer = g.pid()
    os.kill(newer, signal.SIGQUIT)  # a worker told to quit exits at once; replaced
    g.wait_for(lambda: g.pid_or_none() not in (None, newer), "a replacement after QUIT")
    start = time.monotonic()
    g.proc.send_signal(signal.SIGQUIT)  # the master: fast shutdown
    assert g.proc.wait(20) == 0
    assert time.monotonic() - start < 10


def test_tls(gunicorn, tmp_path) -> None:
    key, crt = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", crt],
        check=True, capture_output=True,
    )  # fmt: skip
    for worker in WORKERS:
        port = free_port()
        log_path = tmp_path / f"tls-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [GUNICORN, "-k", worker, "-b", f"127.0.0.1:{port}", "--no-control-socket",
                 "--certfile", crt, "--keyfile", key, "gapp:app"],
                cwd=HERE, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    r = requests.get(f"https://127.0.0.1:{port}/env", verify=crt, timeout=5)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.05)
            assert r.text.startswith("https ")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0


def test_hooks(gunicorn, tmp_path) -> None:
    marks = tmp_path / "hooks.txt"
    conf = tmp_path / "conf.py"
    conf.write_text(
        "def pre_request(worker, req):\n"
        f"    open({str(marks)!r}, 'a').write('pre %s %s\\n' % (req.method, req.path))\n"
        "def post_request(worker, req, environ, resp):\n"
        f"    open({str(marks)!r}, 'a').write('post %s %s\\n' % (req.path, resp.status))\n"
    )
    g = gunicorn("corolib.gunicorn.Worker", "-w", "1", "-c", str(conf))
    requests.get(g.url("/pid?x=1"), timeout=10)
    g.wait_for(lambda: marks.exists() and "post /pid" in marks.read_text(), "the hooks")
    assert "pre GET /pid\n" in marks.read_text() and "post /pid 200 OK\n" in marks.read_text()


@pytest.mark.parametrize("worker", WORKERS)
def test_worker_connections(gunicorn, worker: str) -> None:
    from wsgiutil import connect, read_response, recv_all

    g = gunicorn(worker, "-w", "1", "--worker-connections", "2", "--keep-alive", "30")
    held = [connect(g.port) for _ in range(2)]
    try:
        for sock in held:
            sock.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock.makefile("rb"))[0] == 200
        extra = connect(g.port)
        extra.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        extra.settimeout(0.5)
        with pytest.raises(TimeoutError):
            extra.recv(100)  # both connections busy: not served, not refused
        held.pop().close()
        assert recv_all(extra, 10).startswith(b"HTTP/1.1 200")
        extra.close()
    finally:
        for sock in held:
            sock.close()
