"""corolib: cooperative networking for CPython.

Layer map (a module may import only from layers below it; nothing imports
``corolib.monkey``)::

    corolib.config, corolib.events   settings, events (import nothing of corolib)
    corolib._core        the compiled core: greenlets, hub, libuv binding
      corolib.greenlet   the greenlet-package-compatible surface
        corolib.hub      hub, waiting, timeouts, tasks; its monitor thread
          corolib.sync, .queue, .pool, .local, .threadpool
            corolib.socket, .dns, .ssl, .select, .selectors, .subprocess
              corolib.server, corolib.util, corolib.backdoor
                corolib.monkey
"""

import os as _os
import sys as _sys

from corolib.greenlet import GreenletExit as GreenletExit, getcurrent as getcurrent
from corolib.hub import (
    BlockingSwitchOutError as BlockingSwitchOutError,
    Greenlet as Greenlet,
    Hub as Hub,
    InvalidSwitchError as InvalidSwitchError,
    LoopExit as LoopExit,
    Timeout as Timeout,
    cancel_wait as cancel_wait,
    get_hub as get_hub,
    idle as idle,
    iwait as iwait,
    joinall as joinall,
    kill as kill,
    killall as killall,
    reinit as reinit,
    signal_handler as signal_handler,
    sleep as sleep,
    spawn as spawn,
    spawn_later as spawn_later,
    spawn_raw as spawn_raw,
    wait as wait,
    wait_readable as wait_readable,
    wait_writable as wait_writable,
    with_timeout as with_timeout,
)
from corolib.sync import (
    AsyncResult as AsyncResult,
    BoundedSemaphore as BoundedSemaphore,
    DummySemaphore as DummySemaphore,
    Event as Event,
    InvalidThreadUseError as InvalidThreadUseError,
    Lock as Lock,
    RLock as RLock,
    Semaphore as Semaphore,
)

#: gevent's spellings of the interpreter's switch interval and of fork
#: (corolib re-initialises the hub in the child of any fork)
getswitchinterval = _sys.getswitchinterval
setswitchinterval = _sys.setswitchinterval
fork = _os.fork

__version__ = "0.1.0"
