"""gunicorn workers on corolib: ``gunicorn -k corolib.gunicorn.Worker app:app``.

The worker classes:

- :class:`Worker` (and its other name :class:`PyWSGIWorker`, after
  gunicorn's ``gevent_pywsgi``) serves through :mod:`corolib.pywsgi`: the
  llhttp parser, pywsgi's limits and timeouts (gunicorn's
  ``--limit-request-*`` and ``--keep-alive`` mapped onto them), gunicorn's
  access log and its ``pre_request``/``post_request`` hooks.  This is the
  fast one (see bench/bm_gunicorn.py).
- :class:`GunicornParserWorker` parses with gunicorn's own HTTP parser and
  runs gunicorn's request handling (its error pages, header policies, PROXY
  protocol, HTTP/2 when enabled) in one greenlet per connection on
  :class:`corolib.server.StreamServer`, as ``-k gevent`` does.

Both apply :func:`corolib.monkey.patch_all` in the worker process, after the
fork and before the application is imported (unless ``--preload`` imported
it in the master already), and honour ``--worker-connections`` (connections
per worker; the accept loop waits when all are busy), ``--keep-alive``,
``--timeout`` (a heartbeat greenlet touches the worker's tmp file; a hub
blocked longer than the timeout gets the worker killed by the master),
``--graceful-timeout``, ``--max-requests`` (with jitter), TLS (``--certfile``
...) and gunicorn's signals: TERM stops gracefully (no new connections,
requests in flight finish with ``Connection: close``, then the worker
exits), QUIT and INT stop at once, HUP (to the master) reloads, USR1
reopens the log files.  Importing this module (which the master does)
patches nothing, starts no thread and creates no hub.
"""

from __future__ import annotations

import datetime
import os
import signal as _stdsignal
import sys
import time
from functools import partial
from typing import Any

from gunicorn.workers.base_async import AsyncWorker

__all__ = ["Worker", "PyWSGIWorker", "GunicornParserWorker"]


class _Request:
    """What gunicorn's hooks read from a request (method, path, query, headers ...)."""

    __slots__ = ("_request",)

    def __init__(self, request: Any) -> None:
        self._request = request

    @property
    def method(self) -> str:
        return self._request.method  # type: ignore[no-any-return]

    @property
    def uri(self) -> str:
        return self._request.url.decode("latin-1")  # type: ignore[no-any-return]

    @property
    def path(self) -> str:
        return self.uri.partition("?")[0]

    @property
    def query(self) -> str:
        return self.uri.partition("?")[2]

    @property
    def version(self) -> tuple[int, int]:
        major, _, minor = self._request.version.partition(".")
        return int(major), int(minor)

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [
            (k.decode("latin-1").upper(), v.decode("latin-1")) for k, v in self._request.headers
        ]


class _Response:
    """What gunicorn's access log reads from a response (``PyWSGIWorker``)."""

    __slots__ = ("status", "headers", "sent")

    def __init__(self, status: str, headers: list[tuple[str, str]], sent: int) -> None:
        self.status = status
        self.headers = headers
        self.sent = sent


def _drain(queue: Any) -> list[Any]:
    """What a gunicorn arbiter's signal queue holds (a SimpleQueue, or a list before 25)."""
    items: list[Any] = []
    if isinstance(queue, list):
        items, queue[:] = list(queue), []
    elif queue is not None and hasattr(queue, "get_nowait"):
        while True:
            try:
                items.append(queue.get_nowait())
            except Exception:  # noqa: BLE001 - queue.Empty
                break
    return items


class _Listener:
    """A listener whose address outlives it (gunicorn asks for it per connection).

    Connections accepted just before a graceful stop closed the listener are
    then still served.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._name = sock.getsockname()

    def getsockname(self) -> Any:
        return self._name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Worker(AsyncWorker):  # type: ignore[misc]
    """A gunicorn worker serving each connection in a corolib greenlet, through corolib.pywsgi."""

    #: False in :class:`GunicornParserWorker`: gunicorn's parser and request handling
    use_pywsgi = True

    def init_process(self) -> None:
        """Patch, adopt the listeners, then gunicorn's own setup (which runs :meth:`run`)."""
        from corolib import get_hub, monkey, socket as cosocket

        # Until gunicorn installs the worker's handlers (in super().init_process),
        # the child still has the master's, which only queue the signal for a
        # master loop that does not run here: a TERM sent while this worker boots
        # (patching and importing take a while) would be lost, and the master
        # would wait out --graceful-timeout and kill it.  Remember it instead.
        # A signal that came between the fork and now sits in the master's queue
        # (this process's copy of it): take those too.
        self._quit = False
        inherited = getattr(_stdsignal.getsignal(_stdsignal.SIGTERM), "__self__", None)
        _stdsignal.signal(_stdsignal.SIGTERM, self._early_exit)
        _stdsignal.signal(_stdsignal.SIGINT, self._early_quit)
        _stdsignal.signal(_stdsignal.SIGQUIT, self._early_quit)
        for sig in _drain(getattr(inherited, "SIG_QUEUE", None)):
            if sig == _stdsignal.SIGTERM:
                self._early_exit(sig, None)
            elif sig in (_stdsignal.SIGINT, _stdsignal.SIGQUIT):
                self._early_quit(sig, None)
        monkey.patch_all()
        get_hub()  # the hub owns the signal wakeup fd (see init_signals)
        self.sockets: list[Any] = [
            cosocket.socket(s.FAMILY, cosocket.SOCK_STREAM, fileno=s.sock.detach())
            for s in self.sockets
        ]
        super().init_process()

    def _early_exit(self, sig: int, frame: Any) -> None:
        self.alive = False

    def _early_quit(self, sig: int, frame: Any) -> None:
        self.alive = False
        self._quit = True

    def init_signals(self) -> None:
        """Gunicorn's handlers; the hub keeps the wakeup fd so that signals wake it at once."""
        hub_fd = _stdsignal.set_wakeup_fd(-1)
        _stdsignal.set_wakeup_fd(hub_fd)
        super().init_signals()
        if hub_fd != -1:
            _stdsignal.set_wakeup_fd(hub_fd, warn_on_full_buffer=False)

    def timeout_ctx(self) -> Any:
        """The keep-alive wait for the next request (gunicorn's parser), ended silently."""
        from corolib import Timeout

        return Timeout(self.cfg.keepalive, False)

    def notify(self) -> None:
        """The heartbeat; a worker whose master died exits."""
        super().notify()
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            sys.exit(0)

    # -- signals (each runs in a greenlet of its own: corolib.signal wraps them) ------------

    def handle_exit(self, sig: int, frame: Any) -> None:
        """TERM: stop gracefully."""
        self.alive = False
        self._wake()

    def handle_quit(self, sig: int, frame: Any) -> None:
        """QUIT, INT: stop now (the main greenlet exits the process)."""
        self.alive = False
        self._quit = True
        self._wake()

    def _wake(self) -> None:
        event = getattr(self, "_stop_event", None)
        if event is not None:
            event.set()

    # -- serving ------------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        from corolib import sleep

        interval = max(0.05, min(1.0, self.timeout / 2.0))
        while True:
            self.notify()
            sleep(interval)

    def _make_server(self, listener: Any, ssl_context: Any) -> Any:
        from corolib.pool import Pool

        pool = Pool(self.worker_connections)
        if self.use_pywsgi:
            return _make_pywsgi_server(self, listener, pool, ssl_context)
        from corolib.server import StreamServer

        return StreamServer(
            listener,
            handle=partial(self.handle, _Listener(listener)),
            spawn=pool,
            ssl_context=ssl_context,
        )

    def run(self) -> None:
        """Serve every listener until told to stop, then stop as gunicorn's signals ask."""
        from corolib import sleep, spawn
        from corolib.sync import Event

        self._stop_event = Event()
        ssl_context = None
        if self.cfg.is_ssl:
            from gunicorn.sock import ssl_context as make_ssl_context

            ssl_context = make_ssl_context(self.cfg)
        servers = []
        for listener in self.sockets:
            listener.setblocking(True)
            server = self._make_server(listener, ssl_context)
            if self.cfg.workers > 1:
                server.max_accept = 1  # leave the next connections to the other workers
            server.start()
            servers.append(server)
        heartbeat = spawn(self._heartbeat)
        try:
            while self.alive:
                self._stop_event.wait(1.0)  # gunicorn's own code may clear alive too
            if self._quit:
                self.cfg.worker_int(self)
                sys.exit(0)
            for server in servers:
                server.close()
            deadline = time.monotonic() + self.cfg.graceful_timeout
            while any(len(server.pool) for server in servers):
                if time.monotonic() >= deadline:
                    self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
                    for server in servers:
                        server.stop(timeout=1)
                    break
                if self._quit:
                    self.cfg.worker_int(self)
                    sys.exit(0)
                sleep(0.05)
        finally:
            heartbeat.kill(block=False)

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        """One connection, with gunicorn's parser and request handling."""
        client.setblocking(True)
        super().handle(listener, client, addr)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        """Gunicorn's request handling; a killed greenlet or exit ends it quietly."""
        from corolib import GreenletExit

        try:
            return super().handle_request(listener_name, req, sock, addr)
        except (GreenletExit, SystemExit):
            return None
        finally:
            if not self.alive:  # max_requests reached: stop now, not at the next check
                self._wake()

    def count_request(self) -> bool:
        """Count one request (``PyWSGIWorker``); False once ``max_requests`` is reached."""
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
            self._wake()
        return self.alive


class PyWSGIWorker(Worker):
    """:class:`Worker` under the name of gunicorn's ``gevent_pywsgi`` worker."""


class GunicornParserWorker(Worker):
    """A worker with gunicorn's own parser and request handling (as ``-k gevent``)."""

    use_pywsgi = False


def _make_pywsgi_server(worker: Worker, listener: Any, pool: Any, ssl_context: Any) -> Any:
    from gunicorn.http.wsgi import base_environ

    from corolib.pywsgi import WSGIHandler, WSGIServer

    cfg = worker.cfg

    class Handler(WSGIHandler):
        def handle_one_response(self, request: Any) -> None:
            if not worker.count_request():
                self.close_connection = True
            req = _Request(request)
            try:
                cfg.pre_request(worker, req)
            except Exception:  # noqa: BLE001 - as gunicorn: logged, the request goes on
                worker.log.exception("Exception in pre_request hook")
            try:
                WSGIHandler.handle_one_response(self, request)
            finally:
                try:
                    resp = _Response(
                        self.status or "000", self.response_headers, self.response_length
                    )
                    cfg.post_request(worker, req, self.environ, resp)
                except Exception:  # noqa: BLE001
                    worker.log.exception("Exception in post_request hook")

        def get_environ(self, request: Any) -> dict[str, Any]:
            environ = WSGIHandler.get_environ(self, request)
            environ["gunicorn.socket"] = self.socket
            return environ

        def log_request(self) -> None:
            log = worker.log
            if not getattr(log, "access_log_enabled", True):
                return
            seconds = max(0.0, self.time_finish - self.time_start)
            resp = _Response(self.status or "000", self.response_headers, self.response_length)
            request = self.request
            headers = (
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
                if request is not None
                else []
            )
            log.access(resp, headers, self.environ, datetime.timedelta(seconds=seconds))

    environ = base_environ(cfg)
    environ.pop("wsgi.file_wrapper", None)  # pywsgi's own, which it sends with sendfile
    environ["wsgi.multithread"] = True
    field_size = cfg.limit_request_field_size or 65536
    fields = cfg.limit_request_fields or 32768
    server = WSGIServer(
        listener,
        worker.wsgi,
        spawn=pool,
        log=None,
        error_log=_ErrorLog(worker.log),
        handler_class=Handler,
        environ=environ,
        ssl_context=ssl_context,
        max_request_line=cfg.limit_request_line or 65535,
        max_header_count=fields,
        max_header_size=min(field_size * fields, 1 << 20),
        keepalive_timeout=cfg.keepalive,
    )
    return server


class _ErrorLog:
    """pywsgi's ``error_log`` as gunicorn's error log."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def write(self, msg: str) -> None:
        self._log.error(msg.rstrip("\n"))

    def flush(self) -> None:
        pass
