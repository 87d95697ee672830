/* Prepare, check and idle handles, generated from one macro (they differ
 * only in when libuv runs them).
 *
 * Per loop iteration libuv 1.44 runs: timers, pending, idle, prepare,
 * poll for I/O, check, close callbacks.  Prepare fires just before the
 * loop may block and check right after; while an idle handle is active
 * the poll does not block.  start on an active handle is a no-op.
 *
 * Invariants: uv_<name>_* is only called on an OPEN handle; the sink is
 * fired with (0, 0) and nothing else happens in the libuv callback.
 */
#include "handle.h"

#define CL__WATCHER_DEFINE(name)                                                       \
    static void on_##name(uv_##name##_t *uv)                                           \
    {                                                                                  \
        cl_handle *h = cl__handle_of(uv);                                              \
        h->sink->fire(h, 0, 0);                                                        \
    }                                                                                  \
                                                                                       \
    int cl_##name##_init(cl_loop *loop, cl_##name *w, const cl_sink *sink, void *data) \
    {                                                                                  \
        int err = cl__handle_check_init(loop, &w->h, sink);                            \
        if (err < 0) {                                                                 \
            return err;                                                                \
        }                                                                              \
        err = uv_##name##_init(&loop->uv, &w->uv);                                     \
        if (err < 0) {                                                                 \
            return err;                                                                \
        }                                                                              \
        cl__handle_open(loop, &w->h, (uv_handle_t *)&w->uv, sink, data);               \
        return 0;                                                                      \
    }                                                                                  \
                                                                                       \
    int cl_##name##_start(cl_##name *w)                                                \
    {                                                                                  \
        CL__ENSURE_OPEN(&w->h);                                                        \
        return uv_##name##_start(&w->uv, on_##name);                                   \
    }                                                                                  \
                                                                                       \
    int cl_##name##_stop(cl_##name *w)                                                 \
    {                                                                                  \
        CL__ENSURE_OPEN(&w->h);                                                        \
        return uv_##name##_stop(&w->uv);                                               \
    }

CL__WATCHER_DEFINE(prepare)
CL__WATCHER_DEFINE(check)
CL__WATCHER_DEFINE(idle)
