"""subprocess, os.waitpid and signal under patch_all(), in fresh interpreters."""

from __future__ import annotations

import textwrap

import pytest

TICKER = """
import corolib
ticks = []
def ticker(n=1000):
    for _ in range(n):
        ticks.append(1)
        corolib.sleep(0.01)
"""


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_popen_waits_cooperatively(patched, pidfd):
    patched(
        TICKER
        + textwrap.dedent(
            f"""
        import subprocess, time
        if not {pidfd}:
            import corolib.subprocess
            corolib.subprocess._pidfd_open = None
        corolib.spawn(ticker)
        p = subprocess.Popen(["sleep", "0.3"])
        assert (p._pidfd >= 0) == {pidfd}
        try:
            p.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
        else:
            raise AssertionError("no timeout")
        assert p.poll() is None
        assert p.wait() == 0 and p.returncode == 0
        assert len(ticks) >= 15, len(ticks)
        assert p._pidfd == -1
        started = time.monotonic()
        procs = [subprocess.Popen(["sleep", "0.3"]) for _ in range(20)]
        codes = corolib.joinall([corolib.spawn(q.wait) for q in procs])
        assert [g.value for g in codes] == [0] * 20
        assert time.monotonic() - started < 1.5
        print("ok")
        """
        )
    ).expect(stdout="ok\n")


def test_communicate_run_check_output(patched):
    patched(
        TICKER
        + textwrap.dedent(
            """
        import subprocess, sys
        corolib.spawn(ticker)
        out = subprocess.check_output(["sh", "-c", "sleep 0.2; echo hi"])
        assert out == b"hi\\n", out
        n = len(ticks)
        assert n >= 10, n
        r = subprocess.run(["cat"], input=b"x" * 1_000_000, capture_output=True)
        assert r.returncode == 0 and len(r.stdout) == 1_000_000 and r.stderr == b""
        r = subprocess.run([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"],
                           input="abc", text=True, capture_output=True, timeout=30)
        assert r.stdout == "ABC\\n", r
        try:
            subprocess.run(["sleep", "5"], timeout=0.2)
        except subprocess.TimeoutExpired as exc:
            assert 0 < exc.timeout <= 0.2
        else:
            raise AssertionError("no timeout")
        try:
            subprocess.check_call(["sh", "-c", "exit 3"])
        except subprocess.CalledProcessError as exc:
            assert exc.returncode == 3
        assert subprocess.call(["true"]) == 0
        assert subprocess.getoutput("echo a; echo b") == "a\\nb"
        assert subprocess.getstatusoutput("exit 2") == (2, "")
        p = subprocess.Popen(["sh", "-c", "sleep 0.3; echo late"], stdout=subprocess.PIPE)
        try:
            p.communicate(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
        assert p.communicate() == (b"late\\n", None)
        print("ok")
        """
        )
    ).expect(stdout="ok\n")


def test_pipes_are_cooperative_and_pipelines_work(patched):
    patched(
        TICKER
        + textwrap.dedent(
            """
        import subprocess
        corolib.spawn(ticker)
        p = subprocess.Popen(["sh", "-c", "sleep 0.2; echo one; sleep 0.2; echo two"],
                             stdout=subprocess.PIPE, text=True)
        lines = [line for line in p.stdout]
        p.wait()
        assert lines == ["one\\n", "two\\n"], lines
        assert len(ticks) >= 20, len(ticks)
        # A pipe handed on to another child stays a normal (blocking) pipe for it.
        p1 = subprocess.Popen(["sh", "-c", "sleep 0.1; printf 'b\\\\na\\\\n'"],
                              stdout=subprocess.PIPE)
        p2 = subprocess.Popen(["sort"], stdin=p1.stdout, stdout=subprocess.PIPE)
        p1.stdout.close()
        assert p2.communicate()[0] == b"a\\nb\\n"
        assert p1.wait() == 0
        # unbuffered binary pipes
        p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        p.stdin.write(b"ping")
        assert p.stdout.read(4) == b"ping"
        p.stdin.close()
        assert p.stdout.read() == b""
        p.wait()
        print("ok")
        """
        )
    ).expect(stdout="ok\n")


def test_os_waitpid_and_wait(patched):
    patched(
        TICKER
        + textwrap.dedent(
            """
        import os, time
        faulthandler.cancel_dump_traceback_later()  # its thread would make fork() warn
        corolib.spawn(ticker)
        pid = os.fork()
        if pid == 0:
            time.sleep(0.2)
            os._exit(5)
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)
        got, status = os.waitpid(pid, 0)
        assert got == pid and os.waitstatus_to_exitcode(status) == 5
        assert len(ticks) >= 10, len(ticks)
        pid = os.fork()
        if pid == 0:
            time.sleep(0.1)
            os._exit(6)
        got, status = os.wait()
        assert got == pid and os.waitstatus_to_exitcode(status) == 6
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            pass
        else:
            raise AssertionError("no children left")
        print("ok")
        """
        )
    ).expect(stdout="ok\n")


def test_os_read_on_a_pipe_lets_the_writer_run(patched):
    # CPython's test_thread.TestForkInThread shape: the main greenlet reads a
    # pipe that a green thread (which forks) writes.  Regular files and
    # non-blocking fds behave exactly as unpatched.
    patched(
        """
        import os, tempfile, time, _thread
        faulthandler.cancel_dump_traceback_later()  # its thread would make fork() warn
        r, w = os.pipe()
        def fork_thread():
            if os.fork() == 0:
                os.write(w, b"OK")
                os._exit(0)
        _thread.start_new_thread(fork_thread, ())
        assert os.read(r, 2) == b"OK"
        os.wait()

        got = []
        def writer():
            time.sleep(0.05)
            os.write(w, b"late")
            os.close(w)
        _thread.start_new_thread(writer, ())
        while (chunk := os.read(r, 65536)):
            got.append(chunk)
        assert got == [b"late"], got

        os.set_blocking(r, False)
        try:
            os.read(r, 1)
        except BlockingIOError:
            raise AssertionError("closed writer: EOF expected")
        r2, w2 = os.pipe()
        os.set_blocking(r2, False)
        try:
            os.read(r2, 1)
        except BlockingIOError:
            pass
        else:
            raise AssertionError("non-blocking read of an empty pipe must raise")
        with tempfile.TemporaryFile() as f:
            os.write(f.fileno(), b"file")
            os.lseek(f.fileno(), 0, 0)
            assert os.read(f.fileno(), 10) == b"file"
        try:
            os.read(12345, 1)
        except OSError as exc:
            assert exc.errno == 9, exc
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_signal_handler_may_block_and_exceptions_reach_main(patched):
    patched(
        """
        import os, signal, threading, time
        seen = []
        lock = threading.Lock()
        def handler(signum, frame):
            with lock:
                time.sleep(0.05)  # would fail in the hub greenlet
                seen.append(signum)
        assert signal.signal(signal.SIGUSR1, handler) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGUSR1) is handler
        threading.Timer(0.05, os.kill, args=(os.getpid(), signal.SIGUSR1)).start()
        time.sleep(0.3)
        assert seen == [signal.SIGUSR1], seen

        class Boom(Exception):
            pass
        def raiser(signum, frame):
            raise Boom
        assert signal.signal(signal.SIGUSR2, raiser) == signal.SIG_DFL
        threading.Timer(0.05, os.kill, args=(os.getpid(), signal.SIGUSR2)).start()
        started = time.monotonic()
        try:
            time.sleep(5)
        except Boom:
            assert time.monotonic() - started < 1
        else:
            raise AssertionError("not interrupted")
        assert signal.signal(signal.SIGUSR2, signal.SIG_DFL) is raiser
        # Started from a background shell, SIGINT may arrive ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        threading.Timer(0.05, os.kill, args=(os.getpid(), signal.SIGINT)).start()
        try:
            time.sleep(5)
        except KeyboardInterrupt:
            print("ok")
        """
    ).expect(stdout="ok\n")
