/* The door: parking greenlets, the ready queue, and the hub's run loop.
 *
 * cl__hub_park is the only function in corolib that switches to the hub.
 * Every blocking primitive (sleep, fd waits, wait queues, join) builds a
 * cl_park node, registers it where the wake-up will come from, and calls
 * it.  The hub is the only caller of cl__switch_to into parked greenlets.
 *
 * Invariants:
 *   - Only the hub's thread touches the ready queue, the heap, the fd table
 *     and the park nodes; other threads go through cl__hub_xpush (mutex +
 *     async handle).  Sinks run inside uv_run without the GIL but on the
 *     hub's thread, so they may touch those structures; they never touch a
 *     Python object's reference count.
 *   - A node is queued at most once (WAITING -> READY), and the ready queue
 *     always has room for every parked node: capacity is reserved when a
 *     greenlet parks, so a wake inside uv_run never allocates.
 *   - A node stays allocated while a queue entry points at it.
 */
#include "hub.h"

#include <unistd.h>

PyObject *cl__LoopExit;
PyObject *cl__BlockingSwitchOutError;
PyObject *cl__InvalidSwitchError;
PyObject *cl__hub_class;
PyObject *cl__empty_tuple;

/* Run queued work for at most this long before polling for I/O again. */
#define DRAIN_BUDGET_NS (2 * 1000 * 1000)

/* ---- ready queues ------------------------------------------------------- */

static int
ring_reserve(cl_ring *r, size_t need)
{
    size_t ncap, i;
    cl_slot *grown;
    need += r->count;
    if (need <= r->cap) {
        return 0;
    }
    ncap = r->cap ? r->cap : 64;
    while (ncap < need) {
        ncap *= 2;
    }
    grown = PyMem_RawMalloc(ncap * sizeof(cl_slot));
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < r->count; i++) {
        grown[i] = r->buf[(r->head + i) % r->cap];
    }
    PyMem_RawFree(r->buf);
    r->buf = grown;
    r->head = 0;
    r->cap = ncap;
    return 0;
}

/* Append without allocating: room was reserved. */
static void
ring_append(cl_ring *r, int kind, void *a, PyObject *b, PyObject *c)
{
    cl_slot *s = &r->buf[(r->head + r->count) % r->cap];
    assert(((uintptr_t)a & 7) == 0 && kind > 0 && kind <= 7);
    s->a = (uintptr_t)a | (uintptr_t)kind;
    s->b = b;
    s->c = c;
    r->count++;
}

int
cl__ring_pop(cl_ring *r, cl_entry *e)
{
    if (r->count == 0) {
        return 0;
    }
    cl_slot *s = &r->buf[r->head];
    e->kind = (int)(s->a & 7);
    e->target.ptr = (void *)(s->a & ~(uintptr_t)7);
    e->args = s->b;
    e->kwargs = s->c;
    r->head = (r->head + 1) % r->cap;
    r->count--;
    return 1;
}

/* Every parked node (and watch) may be woken into either queue: keep room
 * for all of them in both, so a wake inside uv_run never allocates. */
static int
ready_reserve(cl_hub *hub, size_t extra)
{
    size_t need = (size_t)hub->n_parked + (size_t)hub->n_watches + extra;
    return ring_reserve(&hub->ready, need) < 0 || ring_reserve(&hub->urgent, need) < 0 ? -1 : 0;
}

int
cl__ready_reserve(cl_hub *hub, size_t extra)
{
    return ready_reserve(hub, extra);
}

static cl_ring *
target_ring(cl_hub *hub)
{
    return hub->urgent_phase ? &hub->urgent : &hub->ready;
}

/* Queue work for the hub (GIL held, hub's thread).  Steals the references
 * in a (for CALL/START), b and c. */
int
cl__hub_push(cl_hub *hub, int kind, void *a, PyObject *b, PyObject *c)
{
    if (ready_reserve(hub, 2) < 0) {
        if (kind != CL_E_WAKE) {
            Py_XDECREF((PyObject *)a);
        }
        Py_XDECREF(b);
        Py_XDECREF(c);
        return -1;
    }
    ring_append(target_ring(hub), kind, a, b, c);
    return 0;
}

/* ---- waking parked greenlets (their nodes' storage: park.c) ----------- */

void
cl__park_wake(cl_hub *hub, cl_park *p, int result)
{
    if (p->state != CL_PARK_WAITING) {
        return; /* already woken: the first reason wins */
    }
    if (p->target != NULL) {
        /* One of several things a greenlet waits for: wake the greenlet,
         * handing over an exception given to this part (cancel_wait). */
        p->state = CL_PARK_READY;
        if (p->exc != NULL && p->target->exc == NULL && p->target->state == CL_PARK_WAITING) {
            p->target->exc = p->exc;
            p->exc = NULL;
        }
        cl__park_wake(hub, p->target, result);
        return;
    }
    p->state = CL_PARK_READY;
    p->result = result;
    p->queued = 1;
    ring_append(target_ring(hub), CL_E_WAKE, p, NULL, NULL);
}

static int
is_system_exit(PyObject *exc)
{
    return PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_KeyboardInterrupt) ||
           PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_SystemExit);
}

/* Several interrupts for one wait in the same round (two nested Timeouts
 * expiring together, a kill and a Timeout): the first one wins -- deadlines
 * fire in order, so it is the one that was due first -- except that
 * KeyboardInterrupt and SystemExit always get through to where they go. */
static int
replaces(PyObject *pending, PyObject *exc)
{
    return pending == NULL || (is_system_exit(exc) && !is_system_exit(pending));
}

int
cl__hub_interrupt(cl_hub *hub, cl_greenlet *g, PyObject *exc)
{
    cl_park *p = g->sched;
    if (p == NULL || (p->state != CL_PARK_WAITING && p->state != CL_PARK_READY)) {
        return 0;
    }
    if (cl__find_main(g) != hub->ts->main) {
        return 0; /* parked in another thread's hub: not ours to touch */
    }
    if (replaces(p->exc, exc)) {
        Py_INCREF(exc);
        Py_XSETREF(p->exc, exc);
    }
    cl__park_wake(hub, p, 0);
    return 1;
}

int
cl__hub_check_thread(cl_hub *hub)
{
    if (hub->ts == NULL || hub->ts != cl__tls_thread || hub->ts->tstate != PyThreadState_GET()) {
        PyErr_SetString(cl__greenlet_error, "this hub belongs to another thread");
        return -1;
    }
    if (hub->destroyed) {
        PyErr_SetString(PyExc_RuntimeError, "the hub has been destroyed");
        return -1;
    }
    return 0;
}

/* ---- the door ----------------------------------------------------------- */

/* Undo cl__hub_park_enter's registration of `p` (its greenlet runs). */
static void
park_leave_list(cl_hub *hub, cl_park *p)
{
    p->g->sched = NULL;          /* p->g: the greenlet, until just below */
    cl__park_unlink_all(hub, p); /* Hub.destroy() may have done it */
    cl__timer_cancel(hub, &p->timeout);
    Py_CLEAR(p->g);
}

/* cl__hub_park's first half: register `p`.  0, or -1 with an exception
 * (nothing registered). */
CL_NOINLINE int
cl__hub_park_enter(cl_hub *hub, cl_park *p, int64_t timeout_ns)
{
    cl_greenlet *me = hub->ts->current;

    if (me == &hub->g) {
        PyErr_SetString(cl__BlockingSwitchOutError,
                        "Impossible to call blocking function in the event "
                        "loop callback");
        return -1;
    }
    if (me->sched != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "corolib: a greenlet parked twice");
        return -1;
    }
    if (hub->destroyed) {
        /* e.g. a finally block of a greenlet Hub.destroy() is killing */
        PyErr_SetString(PyExc_RuntimeError, "the hub has been destroyed");
        return -1;
    }
    if (ready_reserve(hub, 2) < 0) { /* n_parked + 2 in each queue */
        return -1;
    }
    if (p->state == CL_PARK_FREE) {
        p->state = CL_PARK_WAITING;
    }
    p->g = (cl_greenlet *)Py_NewRef(me);
    p->all_prev = NULL;
    p->all_next = hub->all_parked;
    if (hub->all_parked != NULL) {
        hub->all_parked->all_prev = p;
    }
    hub->all_parked = p;
    hub->n_parked++;
    p->in_all = 1;
    me->sched = p;
    if (timeout_ns >= 0 && cl__timer_add(hub, &p->timeout, (uint64_t)timeout_ns) < 0) {
        park_leave_list(hub, p);
        return -1;
    }
    return 0;
}

/* cl__hub_park's second half, back in the parked greenlet: `r` is what the
 * switch to the hub returned. */
CL_NOINLINE int
cl__hub_park_leave(cl_park *p, PyObject *r)
{
    cl_hub *hub = p->hub;
    cl_greenlet *me = p->g; /* running: ts->current holds it */
    park_leave_list(hub, p);
    if (r == NULL) {
        return -1; /* thrown into us directly */
    }
    Py_DECREF(r);
    if (p->state != CL_PARK_READY) {
        PyErr_Format(cl__InvalidSwitchError,
                     "Invalid switch into %R: it is waiting for %s and only "
                     "the hub may resume it",
                     (PyObject *)me, p->what ? p->what : "an event");
        return -1;
    }
    p->state = CL_PARK_DONE;
    if (p->exc != NULL) {
        PyObject *exc = p->exc;
        p->exc = NULL;
        cl_err_give(exc);
        return -1;
    }
    return p->result;
}

/* Park the current greenlet on `p` until the hub resumes it.  Returns the
 * result the waker gave (events >= 0, or CL_PARK_TIMEOUT when timeout_ns
 * >= 0 elapsed), or -1 with an exception (thrown in, or delivered through
 * the node).  The caller still owns `p` and releases it.  Only this frame
 * (`p`) and cl__switch_bare's stay on the parked greenlet's stack (issue
 * 19); a caller that must be small too does the three steps itself. */
int
cl__hub_park(cl_hub *hub, cl_park *p, int64_t timeout_ns)
{
    if (cl__hub_park_enter(hub, p, timeout_ns) < 0) {
        return -1;
    }
    hub = p->hub; /* the same: read back, so only `p` is kept across the enter */
    return cl__hub_park_leave(p, cl__switch_bare(hub->ts, &hub->g));
}

/* sleep(0): let everything already queued run once, then continue. */
int
cl__hub_yield(cl_hub *hub)
{
    cl_park *p;
    int r;
    if (hub->destroyed) {
        PyErr_SetString(PyExc_RuntimeError, "the hub has been destroyed");
        return -1;
    }
    if (ready_reserve(hub, 2) < 0) { /* n_parked + 2 in each queue */
        return -1;
    }
    p = cl__park_new(hub, "sleep(0)", 0);
    if (p == NULL) {
        return -1;
    }
    p->state = CL_PARK_READY;
    p->queued = 1;
    ring_append(&hub->ready, CL_E_WAKE, p, NULL, NULL);
    r = cl__hub_park(hub, p, -1);
    cl__park_release(hub, p);
    return r < 0 ? -1 : 0;
}

int
cl__hub_sleep(cl_hub *hub, int64_t ns)
{
    cl_park *p;
    int r;
    if (ns <= 0) {
        return cl__hub_yield(hub);
    }
    p = cl__park_new(hub, "sleep", 0);
    if (p == NULL) {
        return -1;
    }
    r = cl__hub_park(hub, p, ns);
    cl__park_release(hub, p);
    return r < 0 && r != CL_PARK_TIMEOUT ? -1 : 0;
}

/* ---- errors -------------------------------------------------------------- */

/* An exception reached the hub (from a callback, or a greenlet whose
 * parent is the hub).  Give it to hub.handle_error(context, type, value,
 * tb) when the Python layer defines it, else print it. */
static void
report_error(cl_hub *hub, PyObject *context)
{
    static PyObject *name;
    PyObject *exc = cl_err_take();
    PyObject *handler, *r;
    if (exc == NULL) {
        return;
    }
    if (name == NULL) {
        name = PyUnicode_InternFromString("handle_error");
    }
    handler = name ? PyObject_GetAttr((PyObject *)hub, name) : NULL;
    if (handler == NULL) {
        PyErr_Clear();
        cl_err_give(exc);
        PyErr_WriteUnraisable(context ? context : (PyObject *)hub);
        return;
    }
    {
        PyObject *tb = PyException_GetTraceback(exc);
        r = PyObject_CallFunctionObjArgs(handler, context ? context : Py_None,
                                         (PyObject *)Py_TYPE(exc), exc, tb ? tb : Py_None, NULL);
        Py_XDECREF(tb);
    }
    Py_DECREF(handler);
    Py_DECREF(exc);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)hub);
    }
    Py_XDECREF(r);
}

/* The hub got control back with r (NULL: an exception).  GreenletExit
 * there means the hub itself is being killed (Hub.destroy, or its last
 * reference going): remember it, and the run loop unwinds.  Anything else
 * is reported and the loop goes on. */
static void
resumed(cl_hub *hub, PyObject *r, PyObject *context)
{
    PyObject *origin = hub->ts != NULL ? hub->ts->failed_origin : NULL;
    if (origin != NULL) {
        hub->ts->failed_origin = NULL; /* the greenlet that died on us */
    }
    if (r != NULL) {
        Py_XDECREF(origin);
        Py_DECREF(r);
        return;
    }
    if (PyErr_ExceptionMatches(cl__GreenletExit)) {
        PyObject *exc = cl_err_take();
        if (hub->exiting == NULL) {
            hub->exiting = exc;
        }
        else {
            Py_DECREF(exc);
        }
        Py_XDECREF(origin);
        return;
    }
    report_error(hub, context != NULL ? context : origin);
    Py_XDECREF(origin);
}

/* ---- the run loop -------------------------------------------------------- */

/* Run one queue entry.  Returns -1 when the hub must stop. */
static int
run_entry(cl_hub *hub, cl_entry *e)
{
    cl_thread *ts = hub->ts;
    PyObject *r = NULL;

    switch (e->kind) {
    case CL_E_WAKE: {
        cl_park *p = e->target.park;
        p->queued = 0;
        if (p->state == CL_PARK_ORPHAN) {
            cl__park_free(hub, p);
            return 0;
        }
        if (p->what == cl__watch_what) {
            PyObject *fn = NULL;
            r = cl__io_watch_fire(hub, p, &fn);
            resumed(hub, r, fn);
            Py_XDECREF(fn);
            return hub->exiting != NULL ? -1 : 0;
        }
        if (p->state != CL_PARK_READY || p->g == NULL) {
            return 0;
        }
        CL_HUB_COUNT_RESUME(hub);
        r = cl__switch_to(ts, p->g, Py_NewRef(cl__empty_tuple), NULL);
        break;
    }
    case CL_E_CALL:
        r = PyObject_Call(e->target.fn, e->args, NULL);
        resumed(hub, r, e->target.fn);
        r = Py_NewRef(Py_None);
        Py_DECREF(e->target.fn);
        Py_DECREF(e->args);
        break;
    case CL_E_START: {
        cl_greenlet *g = e->target.g;
        if (CL_G_STARTED(g) || (g->sched_flags & CL_S_START_CANCELLED)) {
            Py_DECREF(g);
            Py_XDECREF(e->args);
            Py_XDECREF(e->kwargs);
            return 0;
        }
        CL_HUB_COUNT_RESUME(hub);
        r = cl__switch_to(ts, g, e->args, e->kwargs);
        Py_DECREF(g);
        break;
    }
    }
    resumed(hub, r, NULL);
    return hub->exiting != NULL ? -1 : 0;
}

/* Everything the last loop pass produced, then the rest of the queued work
 * for at most DRAIN_BUDGET_NS.  Returns -1 only when the hub itself must
 * stop (GreenletExit thrown into it). */
static int
drain(cl_hub *hub)
{
    uint64_t start = 0;
    unsigned n = 0;
    cl_entry e;

    while (cl__ring_pop(&hub->urgent, &e)) {
        if (run_entry(hub, &e) < 0) {
            return -1;
        }
    }
    while (cl__ring_pop(&hub->ready, &e)) {
        if (run_entry(hub, &e) < 0) {
            return -1;
        }
        if ((++n & 31) == 0) {
            uint64_t now = uv_hrtime();
            if (start == 0) {
                start = now;
            }
            else if (now - start > DRAIN_BUDGET_NS) {
                break;
            }
        }
    }
    return 0;
}

static int
has_work(cl_hub *hub)
{
    return hub->nheap_ref > 0 || __atomic_load_n(&hub->xpending, __ATOMIC_RELAXED) > 0 ||
           cl_loop_alive(&hub->loop);
}

/* Nothing can ever wake anything: wake Hub.join() callers, or raise
 * LoopExit in the hub's parent (the thread's main greenlet). */
static void
loop_exhausted(cl_hub *hub)
{
    PyObject *msg, *exc;
    cl_greenlet *parent;

    if (hub->joiners.count > 0) {
        while (hub->joiners.head != NULL) {
            cl_park *p = hub->joiners.head;
            cl__parklist_remove(p);
            cl__park_wake(hub, p, 1);
        }
        return;
    }
    msg = cl__hub_describe_parked(hub);
    if (msg == NULL) {
        report_error(hub, NULL);
        return;
    }
    exc = PyObject_CallOneArg(cl__LoopExit, msg);
    Py_DECREF(msg);
    if (exc == NULL) {
        report_error(hub, NULL);
        return;
    }
    parent = hub->g.parent;
    if (parent != NULL && cl__hub_interrupt(hub, parent, exc)) {
        Py_DECREF(exc);
        return;
    }
    if (parent != NULL) {
        resumed(hub, cl__throw_into(hub->ts, parent, exc), NULL);
        return;
    }
    Py_DECREF(exc);
}

PyObject *
cl__hub_describe_parked(cl_hub *hub)
{
    PyObject *lines = PyList_New(0), *r, *sep;
    cl_park *p;
    int shown = 0;
    if (lines == NULL) {
        return NULL;
    }
    for (p = hub->all_parked; p != NULL; p = p->all_next) {
        PyObject *line;
        if (shown++ == 20) {
            line = PyUnicode_FromFormat("\t... and %zd more", hub->n_parked - 20);
            if (line == NULL || PyList_Append(lines, line) < 0) {
                Py_XDECREF(line);
                Py_DECREF(lines);
                return NULL;
            }
            Py_DECREF(line);
            break;
        }
        if (p->what != NULL && strcmp(p->what, "fd") == 0) {
            line = PyUnicode_FromFormat("\t%R waits for fd %zd", (PyObject *)p->g,
                                        (Py_ssize_t)p->detail);
        }
        else {
            line = PyUnicode_FromFormat("\t%R waits for %s", (PyObject *)p->g,
                                        p->what ? p->what : "an event");
        }
        if (line == NULL || PyList_Append(lines, line) < 0) {
            Py_XDECREF(line);
            Py_DECREF(lines);
            return NULL;
        }
        Py_DECREF(line);
    }
    sep = PyUnicode_FromString("\n");
    if (sep == NULL) {
        Py_DECREF(lines);
        return NULL;
    }
    r = PyUnicode_Join(sep, lines);
    Py_DECREF(sep);
    Py_DECREF(lines);
    if (r == NULL) {
        return NULL;
    }
    {
        PyObject *full =
            PyUnicode_FromFormat("This operation would block forever: nothing can wake any of "
                                 "the %zd greenlet(s) waiting in hub %R%s%U",
                                 hub->n_parked, (PyObject *)hub, hub->n_parked ? ":\n" : "", r);
        Py_DECREF(r);
        return full;
    }
}

/* A signal handler raised (KeyboardInterrupt): the main greenlet gets it,
 * wherever it waits. */
static void
deliver_signal_error(cl_hub *hub)
{
    PyObject *exc = cl_err_take();
    cl_greenlet *main = hub->ts->main;
    if (exc == NULL) {
        return;
    }
    if (!cl__hub_interrupt(hub, main, exc)) {
        /* Main runs now, outside the urgent phase, until it switches back. */
        hub->urgent_phase = 0;
        resumed(hub, cl__throw_into(hub->ts, main, Py_NewRef(exc)), NULL);
        hub->urgent_phase = 1;
    }
    Py_DECREF(exc);
}

/* The hub is being killed: unwind, re-raising the GreenletExit. */
static PyObject *
unwind(cl_hub *hub)
{
    PyObject *exc = hub->exiting;
    hub->exiting = NULL;
    cl_err_give(exc);
    return NULL;
}

PyObject *
cl__hub_run(cl_hub *hub)
{
    for (;;) {
        int err;
        if (drain(hub) < 0) {
            return unwind(hub);
        }
        if (hub->fork_gen != cl__fork_generation && cl__hub_after_fork(hub) < 0) {
            report_error(hub, NULL);
        }
        if (hub->sig_refresh) {
            cl__signals_refresh(hub);
        }
        cl__io_stop_idle(hub);
        hub->urgent_phase = 1; /* what happens now goes in the urgent queue */
        if (CL_HUB_QUEUED(hub) > 0) {
            err = cl_loop_run(&hub->loop, UV_RUN_NOWAIT);
        }
        else if (!has_work(hub)) {
            hub->urgent_phase = 0;
            loop_exhausted(hub);
            if (hub->exiting != NULL) {
                return unwind(hub);
            }
            continue;
        }
        else {
            cl__timers_arm(hub);
            __atomic_store_n(&hub->polling, 1, __ATOMIC_RELAXED);
            Py_BEGIN_ALLOW_THREADS
                err = cl_loop_run(&hub->loop, UV_RUN_ONCE);
            Py_END_ALLOW_THREADS
            __atomic_store_n(&hub->polling, 0, __ATOMIC_RELAXED);
        }
        if (err < 0 && err != UV_EBUSY) {
            PyErr_Format(PyExc_SystemError, "corolib: uv_run failed (%d)", err);
            report_error(hub, NULL);
        }
        if (hub->sig_pending && cl__signals_drain(hub) < 0) {
            deliver_signal_error(hub);
            if (hub->exiting != NULL) {
                return unwind(hub);
            }
        }
        if (hub->timers_due || hub->nheap > 0) {
            cl__timers_fire_due(hub);
        }
        cl__hub_xmove(hub);
        hub->urgent_phase = 0;
    }
}
