"""Helpers for the hub tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import tempfile
import textwrap

from _support.leaks import TEST_SCALE
from _support.plugin import settle as settle

import corolib

#: COROLIB_TEST_SCALE, for loop counts.
SCALE = TEST_SCALE


def close_fd(fd: int) -> None:
    """Close an fd the way corolib's own objects do: cancel_wait, then close."""
    corolib.cancel_wait(fd)
    os.close(fd)


@contextlib.contextmanager
def refs_back(*objs):
    """Assert that the reference counts of ``objs`` are back at the end.

    Use inside the test, so its own references are counted on both sides::

        with refs_back(arg, callback):
            ... pass them to corolib ...
    """
    gc.collect()
    before = [sys.getrefcount(o) for o in objs]
    yield
    settle()
    gc.collect()
    after = [sys.getrefcount(o) for o in objs]
    bad = [f"{o!r}: {b} -> {a}" for o, b, a in zip(objs, before, after, strict=True) if a != b]
    assert not bad, "reference counts not back: " + "; ".join(bad)


# ---- subprocesses ---------------------------------------------------------------


def _default_sigint() -> None:
    # A child of a non-interactive shell inherits SIGINT ignored; Python then
    # keeps it ignored.  Restore the default so Python installs its own.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def child_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONFAULTHANDLER"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_py(
    code: str,
    *args: str,
    timeout: float = 120,
    check_rc: int | None = 0,
    raise_on_timeout: bool = True,
    **kwargs,
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; by default require exit code 0.

    ``raise_on_timeout=False``: a child that hangs is killed and returned
    with returncode None (its output so far in stdout/stderr), so that a
    test can assert on it instead of erroring out.
    """
    with tempfile.TemporaryDirectory() as cwd:
        try:
            proc = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(code), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=cwd,
                env=child_env(),
                preexec_fn=_default_sigint,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            if raise_on_timeout:
                raise

            def text(b):
                return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")

            return subprocess.CompletedProcess(
                exc.cmd, None, text(exc.stdout), text(exc.stderr) + "\n[killed: hung]"
            )
    if check_rc is not None:
        assert proc.returncode == check_rc, (
            f"exit code {proc.returncode} (wanted {check_rc})\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def popen_py(code: str, *args: str, cwd: str, **kwargs) -> subprocess.Popen:
    """Start ``code`` in a fresh interpreter with SIGINT at its default."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=child_env(),
        preexec_fn=_default_sigint,
        **kwargs,
    )
