"""Generators inside greenlets, greenlets inside generators, and
generators built from greenlets."""

import pytest

import corolib.greenlet as greenlet
from corolib.greenlet import getcurrent


def test_generator_suspended_across_greenlet_switches():
    def gen(n):
        for i in range(n):
            getcurrent().parent.switch(("in gen", i))
            yield i

    def run():
        return list(gen(3))

    g = greenlet.greenlet(run)
    assert g.switch() == ("in gen", 0)
    assert g.switch() == ("in gen", 1)
    assert g.switch() == ("in gen", 2)
    assert g.switch() == [0, 1, 2]


def test_generator_shared_between_greenlets():
    def counter():
        i = 0
        while True:
            yield i
            i += 1

    it = counter()

    def run():
        a = next(it)
        getcurrent().parent.switch()
        return a, next(it)

    g1 = greenlet.greenlet(run)
    g2 = greenlet.greenlet(run)
    g1.switch()
    g2.switch()
    assert g1.switch() == (0, 2)
    assert g2.switch() == (1, 3)


def test_running_generator_cannot_be_resumed_from_another_greenlet():
    def run_other():
        with pytest.raises(ValueError, match="already executing"):
            next(it)
        return "checked"

    def gen():
        yield greenlet.greenlet(run_other).switch()

    it = gen()
    assert next(it) == "checked"


def test_greenlet_inside_generator():
    def gen():
        for i in range(3):
            g = greenlet.greenlet(lambda x: x * 10)
            yield g.switch(i)

    assert list(gen()) == [0, 10, 20]


def test_greenlet_suspended_inside_generator_frame():
    def body():
        x = getcurrent().parent.switch("parked")
        return x + 1

    def gen():
        g = greenlet.greenlet(body)
        yield g.switch()
        yield g.switch(41)

    assert list(gen()) == ["parked", 42]


def test_generator_frame_switches_to_greenlet_that_resumes_generator_later():
    log = []

    def gen():
        log.append("gen start")
        v = yield 1
        log.append(("gen got", v))
        getcurrent().parent.switch("gen switched out")
        log.append("gen back")
        yield 2

    it = gen()

    def run():
        next(it)
        return it.send("sent")

    g = greenlet.greenlet(run)
    assert g.switch() == "gen switched out"
    assert g.switch() == 2
    assert log == ["gen start", ("gen got", "sent"), "gen back"]


class GreenletGenerator:
    """A generator made from a greenlet: the classic greenlet example."""

    def __init__(self, func, *args):
        self.func = func
        self.args = args
        self.g = greenlet.greenlet(self._run)
        self.consumer = None

    def _run(self):
        self.func(self, *self.args)
        raise StopIteration  # delivered to the consumer as an exception

    def yield_(self, value):
        self.g.parent.switch(value)

    def __iter__(self):
        return self

    def __next__(self):
        self.g.parent = getcurrent()
        try:
            return self.g.switch()
        except StopIteration:
            raise StopIteration from None


def test_generator_from_greenlets():
    def body(gen, n):
        for i in range(n):
            gen.yield_(i * i)

    assert list(GreenletGenerator(body, 5)) == [0, 1, 4, 9, 16]


def test_nested_greenlet_generators():
    def inner(gen, n):
        for i in range(n):
            gen.yield_(i)

    def outer(gen, n):
        for i in range(n):
            for j in GreenletGenerator(inner, i):
                gen.yield_((i, j))

    assert list(GreenletGenerator(outer, 4)) == [
        (1, 0),
        (2, 0),
        (2, 1),
        (3, 0),
        (3, 1),
        (3, 2),
    ]


def test_permutations_with_greenlet_generators():
    def perms(gen, items):
        if len(items) <= 1:
            gen.yield_(list(items))
            return
        for i, head in enumerate(items):
            for rest in GreenletGenerator(perms, items[:i] + items[i + 1 :]):
                gen.yield_([head, *rest])

    result = list(GreenletGenerator(perms, [1, 2, 3, 4]))
    assert len(result) == 24
    assert len({tuple(p) for p in result}) == 24


def test_async_generator_and_coroutine_inside_greenlet():
    async def agen():
        for i in range(3):
            getcurrent().parent.switch(("agen", i))
            yield i

    async def consume():
        return [x async for x in agen()]

    def run():
        coro = consume()
        try:
            coro.send(None)
        except StopIteration as e:
            return e.value

    g = greenlet.greenlet(run)
    assert g.switch() == ("agen", 0)
    assert g.switch() == ("agen", 1)
    assert g.switch() == ("agen", 2)
    assert g.switch() == [0, 1, 2]


def test_generator_closed_when_greenlet_killed():
    log = []

    def gen():
        try:
            yield 1
            getcurrent().parent.switch()
            yield 2
        finally:
            log.append("gen finally")

    def run():
        it = gen()
        next(it)
        next(it)

    g = greenlet.greenlet(run)
    g.switch()
    g.throw()
    assert log == ["gen finally"]
