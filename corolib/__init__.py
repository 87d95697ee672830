"""corolib: cooperative networking for CPython.

Layer map (a module may import only from layers below it; nothing imports
``corolib.monkey``):

    corolib._core        the compiled core: greenlets, the libuv binding
      corolib.greenlet   the greenlet-package-compatible surface
        corolib.hub      hub, waiting, timeouts, tasks
          corolib.sync, .queue, .pool, .local, .threadpool
            corolib.socket, .dns, .ssl, .select, .selectors, .subprocess
              corolib.server
                corolib.monkey
"""

from corolib.greenlet import GreenletExit as GreenletExit
from corolib.greenlet import getcurrent as getcurrent

__version__ = "0.1.0"
