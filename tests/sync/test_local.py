"""Greenlet-local storage: threading.local's semantics, per greenlet, without leaks."""

import gc
import threading
import weakref

import pytest

import corolib
from corolib import getcurrent, sleep, spawn, spawn_raw
from corolib.local import local, statistics


class Big:
    """Something to hold a weak reference to."""


def test_isolation_across_1000_greenlets():
    loc = local()
    loc.value = "main"
    seen = []

    def worker(i):
        assert not hasattr(loc, "value")
        loc.value = i
        sleep(0)  # everyone else sets theirs meanwhile
        seen.append(loc.value == i)

    greenlets = [spawn(worker, i) for i in range(1000)]
    sleep(0)
    assert statistics(loc)["greenlets"] == 1001
    corolib.joinall(greenlets)
    assert all(seen) and len(seen) == 1000
    assert loc.value == "main"
    sleep(0)  # the links that drop finished greenlets' values
    assert statistics(loc)["greenlets"] == 1


def test_values_vanish_when_the_greenlet_ends_even_if_referenced():
    loc = local()
    refs = []

    def worker():
        loc.big = Big()
        refs.append(weakref.ref(loc.big))

    g = spawn(worker)
    g.join()
    sleep(0)
    assert g.dead  # still referenced here...
    assert refs[0]() is None  # ...but its values are gone


def test_values_vanish_with_a_raw_greenlet():
    loc = local()
    refs = []

    def worker():
        loc.big = Big()
        refs.append(weakref.ref(loc.big))

    spawn_raw(worker)
    sleep(0)
    gc.collect()
    assert refs[0]() is None
    assert statistics(loc)["greenlets"] == 1  # the creator's


def test_dropping_the_local_drops_every_value():
    loc = local()
    loc.big = Big()
    ref = weakref.ref(loc.big)
    wloc = weakref.ref(loc)
    del loc
    gc.collect()
    assert wloc() is None and ref() is None


def test_subclass_init_runs_per_greenlet_with_arguments():
    calls = []

    class MyLocal(local):
        default = "class attribute"

        def __init__(self, a, b=0):
            calls.append(getcurrent())
            self.a = a
            self.b = b

        @property
        def total(self):
            return self.a + self.b

        def double(self):
            return 2 * self.total

    loc = MyLocal(1, b=2)
    assert loc.total == 3 and loc.double() == 6 and loc.default == "class attribute"

    def worker():
        assert loc.a == 1 and loc.b == 2  # __init__ ran again here
        loc.a = 10
        return loc.total

    assert spawn(worker).get() == 12
    assert loc.a == 1
    assert len(calls) == 2


def test_arguments_without_init_are_refused():
    with pytest.raises(TypeError):
        local(1)
    with pytest.raises(TypeError):
        threading.local(1)


def test_dict_and_attribute_errors_like_threading_local():
    for loc in (local(), threading.local()):
        loc.x = 1
        assert loc.__dict__ == {"x": 1}
        del loc.x
        with pytest.raises(AttributeError):
            loc.x  # noqa: B018
        with pytest.raises(AttributeError):
            del loc.x
        with pytest.raises(AttributeError):
            loc.__dict__ = {}


def test_slots_and_descriptors_are_shared():
    class Slotted(local):
        __slots__ = ("shared",)

    loc = Slotted()
    loc.shared = "everyone"
    loc.own = "mine"

    def worker():
        return loc.shared, hasattr(loc, "own")

    assert spawn(worker).get() == ("everyone", False)


def test_getattr_hook():
    class Defaulting(local):
        def __getattr__(self, name):
            return f"default {name}"

    loc = Defaulting()
    loc.set = 1
    assert loc.set == 1 and loc.unset == "default unset"


def test_separate_per_thread():
    loc = local()
    loc.x = "main"
    out = []
    t = threading.Thread(target=lambda: out.append(getattr(loc, "x", None)))
    t.start()
    t.join()
    assert out == [None]


def test_failing_init_is_retried_like_threading_local():
    attempts = []

    class Flaky(local):
        def __init__(self):
            attempts.append(1)
            if len(attempts) == 2:
                raise RuntimeError("first try in this greenlet")
            self.ok = True

    loc = Flaky()

    def worker():
        with pytest.raises(RuntimeError):
            loc.ok  # noqa: B018
        return loc.ok

    assert spawn(worker).get() is True
    assert len(attempts) == 3
