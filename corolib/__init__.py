"""corolib: cooperative networking for CPython.

Layer map (a module may import only from layers below it; nothing imports
``corolib.monkey``):

    corolib._core        the compiled core: greenlets, hub, libuv binding
      corolib.greenlet   the greenlet-package-compatible surface
        corolib.hub      hub, waiting, timeouts, tasks
          corolib.sync, .queue, .pool, .local, .threadpool
            corolib.socket, .dns, .ssl, .select, .selectors, .subprocess
              corolib.server
                corolib.monkey
"""

import os as _os
import sys as _sys

from corolib.greenlet import GreenletExit as GreenletExit
from corolib.greenlet import getcurrent as getcurrent
from corolib.hub import BlockingSwitchOutError as BlockingSwitchOutError
from corolib.hub import Greenlet as Greenlet
from corolib.hub import Hub as Hub
from corolib.hub import InvalidSwitchError as InvalidSwitchError
from corolib.hub import LoopExit as LoopExit
from corolib.hub import Timeout as Timeout
from corolib.hub import cancel_wait as cancel_wait
from corolib.hub import get_hub as get_hub
from corolib.hub import idle as idle
from corolib.hub import iwait as iwait
from corolib.hub import joinall as joinall
from corolib.hub import kill as kill
from corolib.hub import killall as killall
from corolib.hub import reinit as reinit
from corolib.hub import signal_handler as signal_handler
from corolib.hub import sleep as sleep
from corolib.hub import spawn as spawn
from corolib.hub import spawn_later as spawn_later
from corolib.hub import spawn_raw as spawn_raw
from corolib.hub import wait as wait
from corolib.hub import wait_readable as wait_readable
from corolib.hub import wait_writable as wait_writable
from corolib.hub import with_timeout as with_timeout
from corolib.sync import AsyncResult as AsyncResult
from corolib.sync import BoundedSemaphore as BoundedSemaphore
from corolib.sync import DummySemaphore as DummySemaphore
from corolib.sync import Event as Event
from corolib.sync import InvalidThreadUseError as InvalidThreadUseError
from corolib.sync import Lock as Lock
from corolib.sync import RLock as RLock
from corolib.sync import Semaphore as Semaphore

#: gevent's spellings of the interpreter's switch interval and of fork
#: (corolib re-initialises the hub in the child of any fork)
getswitchinterval = _sys.getswitchinterval
setswitchinterval = _sys.setswitchinterval
fork = _os.fork

__version__ = "0.1.0"
