"""What a suspended greenlet keeps (issue 19): no eager __dict__, a small data stack."""

import abc
import gc
import os
import subprocess
import sys
import textwrap

import pytest

import corolib.greenlet as greenlet


def test_no_dict_until_an_attribute_is_set():
    g = greenlet.greenlet(lambda: None)
    assert not any(isinstance(o, dict) for o in gc.get_referents(g))
    g.note = 1
    assert g.__dict__ == {"note": 1}
    assert g.note == 1
    g.switch()


def test_abstract_subclass_still_refuses_to_instantiate():
    class Abstract(greenlet.greenlet, metaclass=abc.ABCMeta):
        @abc.abstractmethod
        def step(self):
            """To be defined."""

    with pytest.raises(TypeError, match="abstract"):
        Abstract()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="frames live in data-stack chunks on 3.11+")
def test_parked_greenlet_keeps_a_small_chunk_and_deep_ones_grow_it(tmp_path):
    # A fresh interpreter: the chunk size is per thread and only ever grows.
    code = textwrap.dedent(
        """
        import corolib.greenlet as greenlet
        main = greenlet.getcurrent()

        def shallow():
            main.switch()

        def deep(n):
            if n:
                return deep(n - 1)
            main.switch()

        a = greenlet.greenlet(shallow)
        a.switch()
        held, used = a._data_stack
        assert 0 < used <= held <= 256, (held, used)

        b = greenlet.greenlet(deep)
        b.switch(40)  # parks 40 frames deep: spills, and later chunks grow
        held_b, used_b = b._data_stack
        assert held_b > 256 and used_b > 256, (held_b, used_b)
        c = greenlet.greenlet(shallow)
        c.switch()
        assert c._data_stack[0] > held, c._data_stack
        for g in (a, b, c):
            g.switch()
            assert g.dead
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="frames live in data-stack chunks on 3.11+")
@pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", ""),
    reason="ASan's quarantine keeps freed memory resident",
)
def test_threads_that_spill_give_their_chunk_back_when_they_exit(tmp_path):
    # Each thread's greenlet calls across the end of its root chunk, so the
    # thread keeps one 16 KiB chunk for itself; 300 threads that exit must
    # not leave 300 of them behind (3.6 MiB of them written to).
    code = textwrap.dedent(
        """
        import threading
        import corolib.greenlet as greenlet

        body = "".join(f"    v{i} = {i}\\n" for i in range(60))
        src = "def big(n):\\n" + body + "    return big(n - 1) if n else v0\\n"
        ns = {}
        exec(src, ns)
        big = ns["big"]

        def work():
            def body():
                for _ in range(10):
                    big(20)  # about 12 KiB of frames past the root chunk

            greenlet.greenlet(body).switch()

        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096

        def batch(n):
            for _ in range(n):
                t = threading.Thread(target=work)
                t.start()
                t.join()

        batch(50)
        before = rss()
        batch(300)
        grown = rss() - before
        assert grown < 2 * 1024 * 1024, grown
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
