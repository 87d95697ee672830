/* corolib.uv: the Python objects over loop/ (CPython glue only).
 *
 * How events reach Python.  Every handle of a Loop shares one sink
 * (uv_handle.c).  Inside uv_run, with the GIL released, the sink only
 * writes the event into the handle object's `pend` record and appends the
 * object to its loop's queue; no reference counts change and nothing is
 * allocated.  Loop.run then takes the GIL back and dispatches the queue:
 * one Python callback per queued handle (per expiry for timers).
 *
 * Who owns what:
 *   - A handle object holds a strong reference to its loop for its whole
 *     life.
 *   - The libuv memory of a handle (cl_uvmem) is a separate raw
 *     allocation, because uv_close completes later, inside uv_run: when
 *     the object dies first, the memory is "detached" (its cl_handle.data
 *     is NULL) and the sink frees it when the close completes.
 *   - The loop keeps a strong reference to every handle that is active,
 *     closing or queued (the keep-alive list, visible to the GC), so that
 *     a started handle lives on when the user drops it, as in pyuv.
 *
 * Threads.  libuv is not thread-safe, so while one thread is inside
 * uv_run (`in_uv_run`, read and written with the GIL held) every other
 * thread gets RuntimeError from anything that touches libuv, except
 * Async.send.  A handle object that dies on another thread meanwhile is
 * put on the loop's `deferred` list and closed by the loop's thread when
 * uv_run returns.  The queue and the pend records are written by the sink
 * only inside uv_run, and otherwise only with the GIL held.
 */
#ifndef CL_PY_UV_TYPES_H
#define CL_PY_UV_TYPES_H

#include "../cl_internal.h"
#include "../loop/loop.h"

typedef struct cl_pyhandle cl_pyhandle;

/* The libuv part of a handle object.  Every member of the union starts
 * with a cl_handle, so a cl_uvmem * converts to a cl_handle * and back. */
typedef struct cl_uvmem {
    union {
        cl_timer timer;
        cl_poll poll;
        cl_async async;
        cl_prepare prepare;
        cl_check check;
        cl_idle idle;
    } u;
    struct cl_uvmem *deferred_next;
} cl_uvmem;

#define CL_UVMEM_HANDLE(mem) ((cl_handle *)(void *)(mem))
#define CL_UVMEM_OF(h) ((cl_uvmem *)(void *)(h))

typedef struct cl_pyloop {
    PyObject_HEAD
    PyObject *weakreflist;
    PyObject *excepthook; /* strong or NULL: default reporting */
    cl_pyhandle *qhead;   /* handles with a pending event, FIFO */
    cl_pyhandle *qtail;
    cl_pyhandle *khead; /* the keep-alive list: one strong ref each */
    cl_uvmem *deferred; /* detached while in_uv_run; close them later */
    int in_uv_run;      /* the GIL is released around uv_run */
    int running;        /* inside run() (or close()) */
    int stop;           /* stop() was called */
    cl_loop loop;
} cl_pyloop;

typedef enum {
    CL_UVK_TIMER,
    CL_UVK_POLL,
    CL_UVK_ASYNC,
    CL_UVK_PREPARE,
    CL_UVK_CHECK,
    CL_UVK_IDLE,
} cl_uvkind;

/* What the sink recorded since the last dispatch. */
typedef struct cl_pend {
    int events;         /* poll: OR of the events seen */
    int status;         /* poll: the last error (< 0), else 0 */
    unsigned int count; /* fires; a timer's callback runs once per fire */
    int closed;         /* the close completed */
} cl_pend;

struct cl_pyhandle {
    PyObject_HEAD
    PyObject *weakreflist;
    cl_pyloop *loop;    /* strong */
    cl_uvmem *mem;      /* owned; NULL once closed and freed */
    PyObject *callback; /* strong or NULL */
    PyObject *close_cb; /* strong or NULL */
    cl_uvkind kind;
    int closing;      /* close() was called or the loop closed it */
    int queued;       /* on loop->q*; implies `kept` */
    int kept;         /* on loop->k*, holding a reference */
    unsigned int gen; /* bumped by start/stop/close: stale events */
    cl_pend pend;
    cl_pyhandle *qnext;
    cl_pyhandle *qprev;
    cl_pyhandle *knext;
    cl_pyhandle *kprev;
};

#define CL_PYHANDLE_C(self) CL_UVMEM_HANDLE((self)->mem)

CL_HIDDEN extern PyTypeObject cl__uv_loop_type;
CL_HIDDEN extern PyTypeObject cl__uv_handle_type;
CL_HIDDEN extern PyTypeObject cl__uv_timer_type;
CL_HIDDEN extern PyTypeObject cl__uv_poll_type;
CL_HIDDEN extern PyTypeObject cl__uv_async_type;
CL_HIDDEN extern PyTypeObject cl__uv_prepare_type;
CL_HIDDEN extern PyTypeObject cl__uv_check_type;
CL_HIDDEN extern PyTypeObject cl__uv_idle_type;
CL_HIDDEN extern PyObject *cl__uv_UVError;
CL_HIDDEN extern PyObject *cl__uv_HandleClosedError;

/* uv_errors.c */
CL_HIDDEN int cl__uv_errors_ready(PyObject *module);
/* Raise UVError for a libuv code (HandleClosedError for CL_ECLOSED);
 * returns NULL for the caller to return. */
CL_HIDDEN PyObject *cl__uv_raise(int err);
CL_HIDDEN PyObject *cl__uv_raise_closed(const char *what);
/* A timeout or repeat in seconds as nanoseconds; -1 + ValueError/TypeError
 * for anything that is not a finite number >= 0 (and not absurdly big). */
CL_HIDDEN int cl__uv_seconds(PyObject *obj, const char *what, uint64_t *ns);
CL_HIDDEN int cl__uv_check_callable(PyObject *obj, const char *what);

/* uv_handle.c */
/* Allocate a handle object of `type` on `loop` (checked to be an open
 * Loop) with zeroed libuv memory, not yet initialised: the caller runs
 * cl_<type>_init(..., &cl__uv_sink, self) and on failure calls
 * cl__uv_handle_abort. */
CL_HIDDEN extern const cl_sink cl__uv_sink;
CL_HIDDEN cl_pyhandle *cl__uv_handle_alloc(PyTypeObject *type, PyObject *loop, cl_uvkind kind);
CL_HIDDEN PyObject *cl__uv_handle_abort(cl_pyhandle *self, int err);
/* 0 if the handle can be used now from this thread; -1 + exception
 * (HandleClosedError, or RuntimeError while the loop's thread is inside
 * uv_run). */
CL_HIDDEN int cl__uv_handle_usable(cl_pyhandle *self);
/* Drop a pending event (start/stop/close make it stale). */
CL_HIDDEN void cl__uv_handle_cancel(cl_pyhandle *self);
/* Take or drop the loop's reference so that it is held exactly while the
 * handle is active, closing or queued.  May free `self` when the caller
 * holds no reference of its own. */
CL_HIDDEN void cl__uv_handle_sync(cl_pyhandle *self);
/* Replace self->callback after checking it is callable. */
CL_HIDDEN int cl__uv_handle_set_callback(cl_pyhandle *self, PyObject *cb);
/* The end of a start/stop verb, given the loop/ call's result `err`: on
 * failure raise it; on success drop a pending event, make `cb` the
 * callback (NULL: keep it; checked callable beforehand) and sync the
 * loop's reference.  Returns None, or NULL with the exception. */
CL_HIDDEN PyObject *cl__uv_handle_changed(cl_pyhandle *self, int err, PyObject *cb);
/* The close completed: free the libuv memory; returns the close callback
 * (a new reference, or NULL if none). */
CL_HIDDEN PyObject *cl__uv_handle_finish_close(cl_pyhandle *self);
/* Take the oldest queued handle off the queue with its record. */
CL_HIDDEN cl_pyhandle *cl__uv_queue_pop(cl_pyloop *loop, cl_pend *pend);

/* uv_loop.c */
CL_HIDDEN int cl__uv_loop_check(PyObject *loop);
/* Report (or propagate) the exception a callback raised; see uv_loop.c. */
CL_HIDDEN int cl__uv_callback_error(cl_pyloop *loop);

#endif
