"""Exceptions: callback errors, excepthook, propagation, UVError."""

import errno
import sys

import pytest

from corolib import uv


def _raiser(exc):
    def cb(*args):
        raise exc

    return cb


def test_excepthook_gets_the_error_and_the_loop_carries_on(loop):
    seen = []
    loop.excepthook = lambda *info: seen.append(info)
    bad, good = uv.Timer(loop), uv.Timer(loop)
    after = []
    bad.start(_raiser(ValueError("boom")), 0)
    good.start(after.append, 0.001)
    assert loop.run() is False
    assert after == [good]
    assert len(seen) == 1
    typ, value, tb = seen[0]
    assert typ is ValueError and str(value) == "boom"
    assert tb is not None and tb.tb_frame.f_code.co_name == "cb"
    bad.close()
    good.close()


def test_default_report_goes_to_sys_excepthook(loop, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *info: seen.append(info))
    assert loop.excepthook is None
    t = uv.Timer(loop)
    t.start(_raiser(RuntimeError("x")), 0)
    loop.run()
    assert [info[0] for info in seen] == [RuntimeError]
    t.close()


def test_default_report_prints_a_traceback(loop, capsys):
    t = uv.Timer(loop)
    t.start(_raiser(ZeroDivisionError("nope")), 0)
    loop.run()
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: nope" in err
    t.close()


def test_failing_excepthook_reports_both(loop, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *info: seen.append(info[0]))
    loop.excepthook = _raiser(LookupError("hook"))
    t = uv.Timer(loop)
    t.start(_raiser(ValueError("cb")), 0)
    loop.run()
    assert seen == [ValueError, LookupError]
    t.close()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_propagate_and_keep_the_rest_queued(loop, exc):
    first, second = uv.Timer(loop), uv.Timer(loop)
    later = []
    first.start(_raiser(exc()), 0)
    second.start(later.append, 0)
    with pytest.raises(exc):
        loop.run()
    assert later == []  # not lost: still queued
    assert loop.run() is False
    assert later == [second]
    first.close()
    second.close()


def test_base_exception_in_close_callback_propagates_from_loop_close():
    lp = uv.Loop()
    calls = []
    a, b = uv.Timer(lp), uv.Timer(lp)
    a.close(_raiser(KeyboardInterrupt()))
    b.close(calls.append)
    with pytest.raises(KeyboardInterrupt):
        lp.close()
    assert lp.closed
    assert calls == [b]  # every close callback still ran


def test_excepthook_validation(loop):
    with pytest.raises(TypeError, match="callable"):
        loop.excepthook = 1
    hook = print
    loop.excepthook = hook
    assert loop.excepthook is hook
    loop.excepthook = None
    assert loop.excepthook is None


def test_uverror_is_an_oserror():
    assert issubclass(uv.UVError, OSError)
    assert issubclass(uv.HandleClosedError, RuntimeError)
    assert not issubclass(uv.HandleClosedError, uv.UVError)
    manual = uv.UVError(errno.EBADF, "bad file descriptor")
    assert manual.name is None
    assert str(manual) == "[Errno 9] bad file descriptor"


def test_module_surface():
    assert uv.UV_RUN_DEFAULT == 0 and uv.UV_RUN_ONCE == 1 and uv.UV_RUN_NOWAIT == 2
    assert (uv.UV_READABLE, uv.UV_WRITABLE, uv.UV_DISCONNECT, uv.UV_PRIORITIZED) == (1, 2, 4, 8)
    assert uv.UV_VERSION.count(".") == 2
    for name in uv.__all__:
        obj = getattr(uv, name)
        if isinstance(obj, type):
            assert obj.__module__ == "corolib.uv", name
