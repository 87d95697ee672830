/* corolib._core: internal declarations shared across csrc/.
 *
 * Layer map (an arrow points to what a layer may use; nothing points up):
 *
 *     switch/   per-CPU stack switch (assembly)
 *       ^
 *     core/     greenlet objects: stack slices, interpreter-state swap,
 *       ^       threads.  Never includes uv.h.
 *     hub/      the run loop and ready queue; the only place where core/
 *       ^       and loop/ meet.
 *     py/       CPython type objects and argument parsing only.
 *
 *     loop/     the libuv binding; never sees greenlets: it reports events
 *               through a small callback struct that hub/ fills in.
 *
 * Naming: public C API cl_*, cross-file internals cl__*, file-local static.
 * Every PY_VERSION_HEX test lives in cl_pycompat.h.
 */
#ifndef CL_INTERNAL_H
#define CL_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include "cl_pycompat.h"
#include "core/stack.h"

#include <stdint.h>

#define CL_LIKELY(x) __builtin_expect(!!(x), 1)
#define CL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CL_NOINLINE __attribute__((noinline))
#define CL_ALWAYS_INLINE inline __attribute__((always_inline))
/* Marks the caller's frame as the last one to unwind (its return address
 * as undefined, in the unwind tables). */
#if defined(__x86_64__)
#define CL_OUTERMOST_FRAME() __asm__ volatile(".cfi_undefined rip")
#elif defined(__aarch64__)
#define CL_OUTERMOST_FRAME() __asm__ volatile(".cfi_undefined x30")
#else
#define CL_OUTERMOST_FRAME() ((void)0)
#endif
/* The extension is loaded with dlopen; initial-exec TLS avoids a
 * __tls_get_addr call on every switch and takes 8 bytes of the surplus
 * static TLS that glibc reserves for such modules. */
#define CL_TLS_MODEL __attribute__((tls_model("initial-exec")))

typedef struct cl_thread cl_thread;

/* A greenlet.  Its state is derived from the stack slice (see stack.h):
 *   unstarted   stack.stop == NULL
 *   active      stack.start != NULL  (running or suspended)
 *   dead        stack.stop != NULL && stack.start == NULL
 * A main greenlet is born active and becomes dead when its thread exits
 * (then its `thread` is NULL). */
typedef struct cl_greenlet {
    PyObject_HEAD
    PyObject *weakreflist;
    PyObject *dict;
    cl_stack stack;
    cl_pystate pystate;
    struct cl_greenlet *parent; /* strong; NULL for a main greenlet */
    struct cl_greenlet *main;   /* strong, once started: main of its thread */
    PyObject *run;              /* strong; the callable, until it finishes */
    PyObject *sw_args;          /* payload in flight to this greenlet: */
    PyObject *sw_kwargs;        /* a tuple + dict, or NULL = an exception */
    cl_thread *thread;          /* main greenlets only; NULL once exited */
    unsigned int flags;
    /* Owned by the scheduler (hub/): what this greenlet is parked on.
     * sched_flags sits next to flags, where it costs no padding: 8 bytes
     * less per greenlet, a 16-byte size class less for a task on 3.11. */
    unsigned int sched_flags;
    void *sched;
} cl_greenlet;

#define CL_G_MAIN 0x1    /* the root greenlet of a thread */
#define CL_G_HAS_RUN 0x2 /* `run` was given (argument or attribute) */
#define CL_G_REFUSED 0x4 /* survived GreenletExit without being kept alive */
#define CL_G_KEEPS_ORIGIN \
    0x8 /* wants to know which greenlet died on it with
                                 an exception (the hub, for its reports) */
#define CL_G_RUN_UNBOUND \
    0x10 /* `run` is the class's function: call it
                                 with the greenlet first (no bound method) */

/* sched_flags bits (owned by hub/ and the types of py/ on it). */
#define CL_S_START_CANCELLED \
    0x1u /* a queued start of this greenlet is not
                                     to happen (Hub.cancel_start, Task.kill
                                     before it ran) */

#define CL_G_STARTED(g) ((g)->stack.stop != NULL)
#define CL_G_ACTIVE(g) ((g)->stack.start != NULL)
#define CL_G_IS_MAIN(g) (((g)->flags & CL_G_MAIN) != 0)

/* Per-OS-thread state.  Allocated with the C allocator: it may outlive the
 * Python thread state it belongs to by a few moments during thread exit. */
struct cl_thread {
    cl_greenlet *main;    /* strong */
    cl_greenlet *current; /* strong */
    PyObject *trace;      /* strong or NULL: greenlet.settrace() callback */
    PyObject *deleteme;   /* list or NULL: greenlets other threads freed */
    PyThreadState *tstate;
    cl_chunk *free_chunks; /* recycled data-stack chunks (3.11+) */
    int n_free_chunks;
    size_t chunk_bytes;              /* size of the root chunk new greenlets get */
    PyObject *hub;                   /* strong or NULL: the scheduler of this thread */
    void (*hub_exit)(PyObject *hub); /* set by the scheduler: thread exits */
    PyObject *failed_origin;         /* strong or NULL: see CL_G_KEEPS_ORIGIN */
    cl_thread *next;                 /* all live thread states, for introspection */
    cl_thread *prevp;
};

CL_HIDDEN extern PyTypeObject cl__greenlet_type;
CL_HIDDEN extern PyObject *cl__GreenletExit;
CL_HIDDEN extern PyObject *cl__greenlet_error;

#define CL_GREENLET_CHECK(op) PyObject_TypeCheck((op), &cl__greenlet_type)

/* core/thread.c */
CL_HIDDEN cl_thread *cl__thread_slow(void);
CL_HIDDEN extern __thread cl_thread *cl__tls_thread CL_TLS_MODEL;
CL_HIDDEN int cl__thread_process_deleteme(cl_thread *ts);
CL_HIDDEN int cl__thread_defer_release(cl_greenlet *g);
CL_HIDDEN cl_chunk *cl__chunk_get(cl_thread *ts);
CL_HIDDEN void cl__chunk_grow(cl_thread *ts, size_t outgrown);
CL_HIDDEN void cl__chunk_put(cl_thread *ts, cl_chunk *chunk);
CL_HIDDEN Py_ssize_t cl__pending_cleanup_count(void);
CL_HIDDEN extern Py_ssize_t cl__total_main_greenlets;

/* The calling thread's state, created on first use (NULL + exception only
 * when out of memory or during interpreter shutdown). */
static inline cl_thread *
cl__thread(void)
{
    cl_thread *ts = cl__tls_thread;
    if (CL_LIKELY(ts != NULL && ts->tstate == PyThreadState_GET())) {
        if (CL_UNLIKELY(ts->deleteme != NULL)) {
            if (cl__thread_process_deleteme(ts) < 0) {
                return NULL;
            }
        }
        return ts;
    }
    return cl__thread_slow();
}

/* core/arena.c */
CL_HIDDEN void cl__arena_cache_install(void);

/* core/greenlet.c */
CL_HIDDEN cl_greenlet *cl__greenlet_new_main(cl_thread *ts);
CL_HIDDEN PyObject *cl__switch_to(cl_thread *ts, cl_greenlet *target, PyObject *args,
                                  PyObject *kwargs);
CL_HIDDEN PyObject *cl__switch_bare(cl_thread *ts, cl_greenlet *target);
CL_HIDDEN PyObject *cl__throw_into(cl_thread *ts, cl_greenlet *target, PyObject *exc);
CL_HIDDEN int cl__check_same_thread(cl_thread *ts, cl_greenlet *g);
CL_HIDDEN cl_greenlet *cl__find_main(cl_greenlet *g);
CL_HIDDEN void cl__kill_released(cl_thread *ts, cl_greenlet *g);
CL_HIDDEN void cl__forget(cl_greenlet *g);

/* py/greenlet_type.c, py/hub_type.c */
CL_HIDDEN int cl__greenlet_type_ready(PyObject *module);
CL_HIDDEN int cl__greenlet_release(PyObject *op);
CL_HIDDEN int cl__hub_types_ready(PyObject *module);

/* uv/uv_module.c */
CL_HIDDEN int cl__uv_types_ready(PyObject *module);

#endif
