"""libuv event loops and handles with a pyuv-shaped API.

This is the Python face of corolib's libuv binding (``csrc/loop/``). It
offers what the pyuv package offered for loops, timers, fd polling and
cross-thread wake-ups, on CPython 3.10 to 3.13 and the system libuv::

    loop = Loop()
    timer = Timer(loop)
    timer.start(lambda t: print("tick"), 0.5, 0.5)
    loop.run()
    loop.close()

How callbacks run: libuv's own callbacks only record what happened.
``Loop.run`` waits in ``uv_run`` with the GIL released and, after each pass,
calls the Python callbacks in the order the events occurred, with the GIL
held. No Python code runs inside ``uv_run``.

Callback signatures (the handle comes first, as in pyuv):

- ``Timer``: ``cb(timer)``, once per expiry.
- ``Poll``: ``cb(poll, events, error)``. ``error`` is ``None``, or an errno
  value when libuv reports a failure; then ``events`` is 0 and the handle
  has been stopped. libuv reports ``POLLERR`` (such as a refused
  non-blocking connect) as ``EBADF``; ``getsockopt(SO_ERROR)`` has the
  cause.
- ``Async``, ``Prepare``, ``Check``, ``Idle``: ``cb(handle)``.
- ``close(callback)``: ``callback(handle)``.

Rules worth knowing:

- An ``Exception`` raised by a callback goes to ``loop.excepthook(type,
  value, traceback)``, or to ``sys.excepthook`` when that is ``None``, and
  the loop carries on. ``KeyboardInterrupt``, ``SystemExit`` and other
  ``BaseException`` subclasses propagate out of ``run()``.
- A started handle stays alive while it is active, even when nothing else
  refers to it; a closed handle, or any handle of a closed loop, raises
  ``HandleClosedError`` when used. ``Loop.close()`` closes every handle.
- Starting, stopping or closing a handle drops an event it had pending.
- Timers never fire early: timeouts are rounded up to the next millisecond,
  plus one, from a freshly read clock.
- ``Poll(loop, fd)`` puts ``fd`` in non-blocking mode (libuv does) and
  raises ``UVError`` (``EPERM``) for regular files. Only one active poll
  handle per fd.
- Only ``Async.send()`` may be called from another thread while the loop
  runs; everything else raises ``RuntimeError`` there.
- ``Loop.now()`` is in seconds (pyuv used milliseconds).
- A signal arriving while ``run()`` waits is only acted on when the loop
  wakes up for some other reason.

Constants: ``UV_RUN_DEFAULT``, ``UV_RUN_ONCE`` and ``UV_RUN_NOWAIT`` are the
modes of ``Loop.run``; ``UV_READABLE``, ``UV_WRITABLE``, ``UV_DISCONNECT``
and ``UV_PRIORITIZED`` the event bits of ``Poll``; ``UV_VERSION`` is the
version string of the libuv corolib runs on.
"""

from corolib._core import (
    UV_DISCONNECT as UV_DISCONNECT,
    UV_PRIORITIZED as UV_PRIORITIZED,
    UV_READABLE as UV_READABLE,
    UV_RUN_DEFAULT as UV_RUN_DEFAULT,
    UV_RUN_NOWAIT as UV_RUN_NOWAIT,
    UV_RUN_ONCE as UV_RUN_ONCE,
    UV_VERSION as UV_VERSION,
    UV_WRITABLE as UV_WRITABLE,
    Async as Async,
    Check as Check,
    Handle as Handle,
    HandleClosedError as HandleClosedError,
    Idle as Idle,
    Loop as Loop,
    Poll as Poll,
    Prepare as Prepare,
    Timer as Timer,
    UVError as UVError,
    uv_live_handles as _uv_live_handles,
)

__all__ = [
    "Loop",
    "Handle",
    "Timer",
    "Poll",
    "Async",
    "Prepare",
    "Check",
    "Idle",
    "UVError",
    "HandleClosedError",
    "UV_RUN_DEFAULT",
    "UV_RUN_ONCE",
    "UV_RUN_NOWAIT",
    "UV_READABLE",
    "UV_WRITABLE",
    "UV_DISCONNECT",
    "UV_PRIORITIZED",
    "UV_VERSION",
    "live_handles",
]


def live_handles() -> int:
    """Return how many libuv handles exist (initialised, not yet freed).

    Counts over all loops. A debugging aid for leak tests: it returns to
    its earlier value once the loops involved are closed.
    """
    return _uv_live_handles()
