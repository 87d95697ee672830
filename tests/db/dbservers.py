"""Start a throw-away PostgreSQL or MariaDB server for a test session.

Each server gets a fresh data directory in a temporary directory, listens on
127.0.0.1 on a free port (and a Unix socket in that directory), runs as a
non-root user when the tests run as root (the servers refuse root), and is
stopped and removed at the end.  ``find_*`` return None with the reason when
the server programs are not installed (``make compat-deps`` installs them).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen
    directory: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        shutil.rmtree(self.directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(user: str | None) -> list[str]:
    """The command prefix that runs a program as ``user`` when we are root."""
    if os.geteuid() != 0 or user is None:
        return []
    return ["runuser", "-u", user, "--"]


def _service_user(name: str) -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        return "nobody"


def _give_to(user: str | None, path: str) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _wait_for_port(port: int, process: subprocess.Popen, log: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log) as f:
                raise RuntimeError(f"server exited with {process.returncode}:\n{f.read()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling the server's readiness, with a deadline
    process.kill()
    raise RuntimeError(f"server not accepting on port {port} after {timeout} s")


def find_postgres() -> tuple[str | None, str]:
    """(the directory of initdb/postgres, "") or (None, why not)."""
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(bindir, "initdb")):
            return bindir, ""
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb)), ""
    return None, "PostgreSQL server not installed (Debian package postgresql; make compat-deps)"


def start_postgres(bindir: str) -> Server:
    """initdb a cluster in a temporary directory and start it on 127.0.0.1 (trust auth)."""
    user = _service_user("postgres")
    directory = tempfile.mkdtemp(prefix="corolib-pg-")
    os.chmod(directory, 0o755)
    _give_to(user, directory)
    data = os.path.join(directory, "data")
    log = os.path.join(directory, "server.log")
    prefix = _run_as(user)
    subprocess.run(
        [
            *prefix,
            os.path.join(bindir, "initdb"),
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    with open(log, "w") as out:
        _give_to(user, log)
        process = subprocess.Popen(
            [
                *prefix,
                os.path.join(bindir, "postgres"),
                "-D",
                data,
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                directory,
                "-c",
                "max_connections=120",
                "-c",
                "fsync=off",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server("127.0.0.1", port, process, directory)
    try:
        _wait_for_port(port, process, log)
        _wait_for_postgres(bindir, port, process)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_for_postgres(
    bindir: str, port: int, process: subprocess.Popen, timeout: float = 60
) -> None:
    """Until the server accepts sessions: it listens before it has finished starting up."""
    deadline = time.monotonic() + timeout
    isready = [os.path.join(bindir, "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"]
    while subprocess.run(isready, timeout=30).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL on port {port} not ready after {timeout} s")
        time.sleep(0.05)  # polling the server's readiness, with a deadline


def find_mariadb() -> tuple[str | None, str]:
    for path in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld"):
        if os.path.exists(path) and shutil.which("mariadb-install-db"):
            return path, ""
    return None, "MariaDB server not installed (Debian package mariadb-server; make compat-deps)"


def start_mariadb(mariadbd: str) -> Server:
    """Install a fresh data directory and start MariaDB on 127.0.0.1 (no grant checks)."""
    user = _service_user("mysql")
    directory = tempfile.mkdtemp(prefix="corolib-mariadb-")
    os.chmod(directory, 0o755)
    _give_to(user, directory)
    data = os.path.join(directory, "data")
    log = os.path.join(directory, "server.log")
    prefix = _run_as(user)
    subprocess.run(
        [
            *prefix,
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    port = _free_port()
    with open(log, "w") as out:
        _give_to(user, log)
        process = subprocess.Popen(
            [
                *prefix,
                mariadbd,
                "--no-defaults",
                f"--datadir={data}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={directory}/mysqld.sock",
                f"--pid-file={directory}/mysqld.pid",
                "--skip-grant-tables",
                "--max-connections=120",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server("127.0.0.1", port, process, directory)
    try:
        _wait_for_port(port, process, log, timeout=120)
    except BaseException:
        server.stop()
        raise
    return server
