"""Lifetime: finalisation of suspended greenlets, GC, resurrection,
subclasses, weakrefs, __dict__, copy/pickle, repr."""

import copy
import gc
import pickle
import re
import sys
import weakref

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import GreenletExit, getcurrent


def parked(log, body=None):
    """A suspended greenlet whose finally/with-exit record into ``log``."""

    class Ctx:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            log.append(("exit", exc[0]))

    def run():
        with Ctx():
            try:
                getcurrent().parent.switch("parked")
            except GreenletExit as e:
                log.append(("GreenletExit", str(e)))
                raise
            finally:
                log.append("finally")
                if body is not None:
                    body()

    g = greenlet.greenlet(run)
    assert g.switch() == "parked"
    return g


# ---- finalisation of suspended greenlets ------------------------------------


def test_last_reference_drop_kills_suspended_greenlet():
    log = []
    g = parked(log)
    del g
    assert log == [
        ("GreenletExit", "Killing the greenlet because all references have vanished."),
        "finally",
        ("exit", GreenletExit),
    ]


def test_killed_greenlet_runs_with_current_as_parent():
    seen = []
    g = parked([], body=lambda: seen.append(getcurrent().parent))
    me = getcurrent()
    del g
    assert seen == [me]


def test_kill_on_drop_from_within_another_greenlet():
    log = []

    def run():
        g = parked(log)
        del g
        return list(log)

    assert greenlet.greenlet(run).switch() == [
        ("GreenletExit", "Killing the greenlet because all references have vanished."),
        "finally",
        ("exit", GreenletExit),
    ]


def test_gc_of_cycle_through_dead_greenlet():
    def run():
        return "done"

    g = greenlet.greenlet(run)
    g.cycle = g
    g.switch()
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None


def test_gc_of_cycle_through_unstarted_greenlet():
    class Holder:
        pass

    h = Holder()
    g = greenlet.greenlet(lambda holder=h: holder)
    h.g = g
    refs = weakref.ref(g), weakref.ref(h)
    del g, h
    gc.collect()
    assert refs[0]() is None and refs[1]() is None


def test_gc_of_cycle_through_unstarted_greenlet_run():
    def make():
        g = greenlet.greenlet()

        def run():
            return g

        g.run = run
        return weakref.ref(g)

    ref = make()
    gc.collect()
    assert ref() is None


def test_gc_of_parent_cycle_of_dead_greenlets():
    a = greenlet.greenlet(lambda: None)
    b = greenlet.greenlet(lambda: None)
    a.switch()
    b.switch()
    a.parent = b
    b.other = a
    refs = weakref.ref(a), weakref.ref(b)
    del a, b
    gc.collect()
    assert refs[0]() is None and refs[1]() is None


def test_suspended_greenlet_cycle_is_not_collected_by_design():
    # Same documented limitation as the greenlet package: the collector
    # treats a suspended greenlet as opaque.
    log = []
    g = parked(log)
    g.me = g
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is not None
    assert log == []
    # breaking the cycle by hand releases it and runs its cleanup
    g = ref()
    del g.me
    del g
    gc.collect()
    assert ref() is None
    assert "finally" in log


def test_gc_collects_garbage_holding_suspended_greenlet():
    # A suspended greenlet referenced only from collectable garbage (not a
    # cycle through the greenlet itself) is killed when the garbage goes.
    log = []

    class Node:
        pass

    a, b = Node(), Node()
    a.b, b.a = b, a
    a.g = parked(log)
    ref = weakref.ref(a.g)
    del a, b
    gc.collect()
    assert ref() is None
    assert "finally" in log


def test_greenlet_that_catches_greenlet_exit_on_drop():
    log = []

    def run():
        try:
            getcurrent().parent.switch()
        except GreenletExit:
            log.append("caught")
        log.append("ends normally")
        return "ignored"

    g = greenlet.greenlet(run)
    g.switch()
    del g
    assert log == ["caught", "ends normally"]


def test_greenlet_that_refuses_to_die_is_reported(capfd):
    # It catches GreenletExit and switches away again: it cannot be killed
    # and must be leaked, with a message, not crash.
    keep = []

    def run():
        while True:
            try:
                getcurrent().parent.switch()
            except GreenletExit:
                keep.append("refused")

    g = greenlet.greenlet(run)
    g.switch()
    del g
    assert keep == ["refused"]
    err = capfd.readouterr().err
    assert "GreenletExit did not kill" in err


def test_resurrection_in_finally():
    saved = []
    log = []

    def body():
        saved.append(getcurrent())

    g = parked(log, body=body)
    ref = weakref.ref(g)
    del g
    assert "finally" in log
    assert ref() is saved[0]
    g = saved.pop()
    assert g.dead
    del g
    gc.collect()
    assert ref() is None


def test_resurrection_while_still_suspended():
    saved = []

    def run():
        try:
            getcurrent().parent.switch()
        except GreenletExit:
            saved.append(getcurrent())
            getcurrent().parent.switch("resurrected and parked")
        return "finished later"

    g = greenlet.greenlet(run)
    g.switch()
    del g
    g = saved.pop()
    assert g and not g.dead
    assert g.switch() == "finished later"


def test_resurrected_greenlet_is_not_reported_as_leaked(capfd):
    saved = []

    def run():
        try:
            getcurrent().parent.switch()
        except GreenletExit:
            saved.append(getcurrent())
            getcurrent().parent.switch()

    g = greenlet.greenlet(run)
    g.switch()
    del g
    assert saved and saved[0]
    saved[0].switch()
    assert saved.pop().dead
    assert "did not kill" not in capfd.readouterr().err


def test_resurrected_suspended_greenlet_is_killed_again_on_next_drop():
    log = []
    saved = []

    def run():
        for attempt in range(2):
            try:
                getcurrent().parent.switch()
            except GreenletExit:
                log.append(("killed", attempt))
                if attempt == 0:
                    saved.append(getcurrent())
        log.append("end")

    g = greenlet.greenlet(run)
    g.switch()
    del g
    assert log == [("killed", 0)]
    g = saved.pop()
    assert g and not g.dead
    del g
    gc.collect()
    assert log == [("killed", 0), ("killed", 1), "end"]


def test_kill_with_pending_exception_preserved():
    log = []
    g = parked(log)
    try:
        raise KeyError("outer")
    except KeyError:
        del g
        assert sys.exc_info()[0] is KeyError
    assert "finally" in log


def test_exception_raised_while_dying_is_unraisable(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    def run():
        try:
            getcurrent().parent.switch()
        finally:
            raise ValueError("from finally")  # noqa: B012

    g = greenlet.greenlet(run)
    g.switch()
    del g
    assert len(seen) == 1
    assert type(seen[0].exc_value) is ValueError
    assert str(seen[0].exc_value) == "from finally"


# ---- subclasses ---------------------------------------------------------------


def test_subclass_with_run_method():
    class G(greenlet.greenlet):
        def run(self, a, b=0):
            return ("subclass", a, b, self)

    g = G()
    assert g.switch(1, b=2) == ("subclass", 1, 2, g)


def test_subclass_run_method_without_arguments():
    class G(greenlet.greenlet):
        def run(self):
            return ("no args", self)

    g = G()
    assert g.switch() == ("no args", g)


def test_instance_run_overrides_the_class_method():
    class G(greenlet.greenlet):
        def run(self):
            return "class"

    g = G()
    g.run = lambda: "instance"
    assert g.switch() == "instance"


def test_custom_getattribute_supplies_run():
    class G(greenlet.greenlet):
        def run(self):
            return "class"

        def __getattribute__(self, name):
            if name == "run":
                return lambda *a: ("hooked", a)
            return super().__getattribute__(name)

    assert G().switch(1) == ("hooked", (1,))


def test_subclass_run_from_a_c_method_descriptor():
    """A class whose run is a builtin method descriptor gets it unbound too."""

    class G(greenlet.greenlet):
        run = dict.keys  # run(self) -> self is not a dict: the descriptor refuses it

    with pytest.raises(TypeError):
        G().switch()


def test_started_subclass_greenlets_add_no_tracked_objects():
    """Suspended greenlets whose run is a method cost the collector nothing:
    no bound method per greenlet (a full collection's work stays flat)."""

    class G(greenlet.greenlet):
        def run(self):
            self.parent.switch()

    gc.collect()
    gs = [G() for _ in range(2000)]
    for g in gs:
        g.switch()
    gc.collect()
    before = len(gc.get_objects())
    more = [G() for _ in range(2000)]
    for g in more:
        g.switch()
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert grown < 200, f"{grown} tracked objects for 2000 suspended greenlets"
    for g in gs + more:
        g.throw()


def test_subclass_init_not_calling_super():
    class G(greenlet.greenlet):
        def __init__(self, value):
            self.value = value

        def run(self):
            return self.value

    g = G(5)
    assert g.parent is getcurrent()
    assert g.switch() == 5


def test_subclass_init_calling_super_with_run_and_parent():
    class G(greenlet.greenlet):
        def __init__(self, run, parent):
            super().__init__(run, parent)
            self.extra = 1

    p = greenlet.greenlet(lambda *a: ("p", a))
    g = G(lambda: 3, p)
    assert g.parent is p
    assert g.switch() == ("p", (3,))


def test_subclass_with_del():
    log = []

    class G(greenlet.greenlet):
        def __del__(self):
            log.append(("del", self.dead))

    g = G(lambda: None)
    g.switch()
    del g
    gc.collect()
    assert log == [("del", True)]

    g = G(lambda: getcurrent().parent.switch())
    g.switch()
    del g
    gc.collect()
    assert len(log) == 2


def test_subclass_with_del_in_cycle():
    log = []

    class G(greenlet.greenlet):
        def __del__(self):
            log.append("del")

    g = G(lambda: None)
    g.me = g
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None
    assert log == ["del"]


def parked_forever():
    getcurrent().parent.switch()


def test_subclass_instances_are_collected(leakcheck):
    # run is a plain function: a run *method* would keep a suspended
    # greenlet alive through its own bound method (a cycle through a
    # suspended greenlet, not collected by design).
    class G(greenlet.greenlet):
        pass

    def once():
        g = G(parked_forever)
        g.switch()
        del g

    leakcheck(once, calls=200)


def test_subclass_type_refcount_stable_after_kills():
    class G(greenlet.greenlet):
        pass

    for _ in range(10):
        g = G(parked_forever)
        g.switch()
        del g
    before = sys.getrefcount(G)
    for _ in range(100):
        g = G(parked_forever)
        g.switch()
        del g
        h = G(lambda: None)
        h.switch()
        del h
        G()
    assert sys.getrefcount(G) == before


def test_suspended_subclass_with_run_method_stays_alive():
    # The documented limitation: its own bound run method keeps it alive.
    class G(greenlet.greenlet):
        def run(self):
            getcurrent().parent.switch()

    g = G()
    g.switch()
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is not None
    ref().throw()
    gc.collect()
    assert ref() is None


def test_abstract_subclass_refused():
    import abc

    class Abstract(greenlet.greenlet, metaclass=abc.ABCMeta):
        @abc.abstractmethod
        def must(self):
            pass

    with pytest.raises(TypeError, match="abstract"):
        Abstract()


def test_main_greenlet_type_is_subclassable():
    class Sub(type(getcurrent())):
        pass

    assert Sub(lambda: 1).switch() == 1


# ---- weakrefs, __dict__, copy, repr -------------------------------------------------


def test_weakref_to_unstarted_and_dead():
    g = greenlet.greenlet(lambda: None)
    r = weakref.ref(g)
    assert r() is g
    g.switch()
    assert r() is g
    del g
    assert r() is None


def test_weakref_callback_runs_after_kill():
    log = []
    g = parked(log)
    weakref.ref(g, lambda r: log.append("callback"))
    r = weakref.ref(g, lambda r: log.append("callback"))  # noqa: F841
    del g
    assert log[-1] == "callback"
    assert "finally" in log


def test_weakref_to_main_greenlet():
    r = weakref.ref(getcurrent())
    assert r() is getcurrent()


def test_weakref_callback_switching(leakcheck):
    # A weakref callback that switches, fired while a greenlet is freed.
    log = []

    def cb(_):
        g2 = greenlet.greenlet(lambda: log.append("in callback greenlet"))
        g2.switch()

    g = greenlet.greenlet(lambda: None)
    r = weakref.ref(g, cb)  # noqa: F841
    g.switch()
    del g
    assert log == ["in callback greenlet"]


def test_instance_dict():
    g = greenlet.greenlet()
    g.x = 1
    assert g.__dict__ == {"x": 1}
    g.__dict__ = {"y": 2}
    assert g.y == 2 and not hasattr(g, "x")
    with pytest.raises(TypeError):
        g.__dict__ = 5
    with pytest.raises(TypeError):
        del g.__dict__
    getcurrent().attr = "main has a dict too"
    assert getcurrent().attr == "main has a dict too"
    del getcurrent().attr


@pytest.mark.parametrize("how", [copy.copy, copy.deepcopy, pickle.dumps])
def test_copy_and_pickle_refused(how):
    g = greenlet.greenlet(lambda: None)
    with pytest.raises(TypeError, match="cannot serialize"):
        how(g)
    with pytest.raises(TypeError, match="cannot serialize"):
        how(getcurrent())


def test_repr():
    main = getcurrent()
    r = repr(main)
    assert re.fullmatch(
        r"<corolib\.greenlet\.greenlet object at 0x[0-9a-f]+ \(otid=0x[0-9a-f]+\) "
        r"current active started main>",
        r,
    ), r

    g = greenlet.greenlet(lambda: getcurrent().parent.switch(repr(getcurrent())))
    assert repr(g).endswith(" pending>")
    running = g.switch()
    assert running.endswith(" current active started>")
    assert repr(g).endswith(" suspended active started>")
    g.switch()
    assert repr(g).endswith(" dead>")
    assert f"at {hex(id(g))}" in repr(g)

    class Named(greenlet.greenlet):
        pass

    assert "Named object at" in repr(Named())


def test_repr_of_another_threads_greenlets():
    # Running in its own thread is "current" there, whoever asks.
    import threading

    box = {}
    ready, done = threading.Event(), threading.Event()

    def body():
        ready.set()
        done.wait(60)

    def thread():
        main = getcurrent()
        parked = greenlet.greenlet(lambda: main.switch())
        parked.switch()
        box["main"], box["parked"] = main, parked
        box["running"] = g = greenlet.greenlet(body)
        g.switch()
        parked.switch()  # let it end before its thread does

    t = threading.Thread(target=thread)
    t.start()
    try:
        assert ready.wait(60)
        assert repr(box["running"]).endswith(" current active started>"), box
        assert repr(box["parked"]).endswith(" suspended active started>"), box
        assert repr(box["main"]).endswith(" suspended active started main>"), box
    finally:
        done.set()
        t.join()
        box.clear()


def test_otid_same_for_greenlets_of_one_thread():
    def otid(g):
        return re.search(r"otid=(0x[0-9a-f]+)", repr(g)).group(1)

    g = greenlet.greenlet(lambda: None)
    assert otid(g) == otid(getcurrent())


def test_greenlet_object_leaks(leakcheck):
    def once():
        g = greenlet.greenlet(lambda: getcurrent().parent.switch())
        g.switch()
        g.switch()
        g2 = greenlet.greenlet(lambda: getcurrent().parent.switch())
        g2.switch()
        del g2  # killed

    leakcheck(once, calls=300)


def test_unstarted_greenlets_do_not_leak(leakcheck):
    def once():
        greenlet.greenlet(lambda: None)
        g = greenlet.greenlet(lambda: None)
        g.throw()

    leakcheck(once, calls=300)
