"""corolib.events: one subscriber list for monitor and patch events; no monkey import."""

from __future__ import annotations


def test_patch_events_are_corolib_events(run_python):
    result = run_python(
        """
        import sys
        import corolib, corolib.events, corolib.util, corolib.backdoor, corolib.config
        assert "corolib.monkey" not in sys.modules, "the core imported corolib.monkey"
        from corolib import events
        from corolib.monkey import events as monkey_events
        assert monkey_events.subscribers is events.subscribers
        for name in ("WillPatchAll", "DidPatchAll", "WillPatchModule", "DidPatchModule",
                     "DoNotPatch", "PatchEvent", "notify"):
            assert getattr(monkey_events, name) is getattr(events, name), name

        got = []
        events.subscribers.append(got.append)
        from corolib import monkey
        monkey.patch_all()
        kinds = [type(e).__name__ for e in got]
        assert kinds[0] == "WillPatchAll" and kinds[-1] == "DidPatchAll", kinds
        assert "DidPatchModule" in kinds
        print("ok")
        """
    )
    result.expect(0, stdout="ok\n")


def test_notify_quietly_keeps_going(capfd):
    from corolib import events

    got = []

    def broken(event):
        raise ValueError("subscriber bug")

    saved = list(events.subscribers)
    events.subscribers[:] = [broken, got.append]
    try:
        event = events.EventLoopBlocked(blocking_time=0.2)
        events.notify_quietly(event)
    finally:
        events.subscribers[:] = saved
    assert got == [event]
    assert "subscriber bug" in capfd.readouterr().err


def test_event_classes_are_distinct_records():
    from corolib import events

    will, did = events.WillPatchAll({"socket": True}), events.DidPatchAll({"socket": True})
    assert not isinstance(did, events.WillPatchAll) and not isinstance(will, events.DidPatchAll)
    assert will == events.WillPatchAll({"socket": True}) and will != did
    assert repr(did) == "DidPatchAll(arguments={'socket': True})"
    blocked = events.EventLoopBlocked(blocking_time=0.5, function="f")
    assert blocked.info == [] and blocked.stack == [] and blocked.greenlet is None
    assert isinstance(blocked, events.Event)


def test_import_stays_cheap(run_python):
    # The ops modules ride along with `import corolib`: nothing heavy with them.
    result = run_python(
        """
        import sys, corolib
        corolib.get_hub()
        heavy = {"dataclasses", "inspect", "ast", "dis"} & set(sys.modules)
        print(sorted(heavy))
        """
    )
    result.expect(0, stdout="[]\n")
