"""What a suspended greenlet keeps (issue 19): no eager __dict__, a small data stack."""

import abc
import gc
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
