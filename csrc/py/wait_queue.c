/* WaitQueue: the one parking queue every synchronisation primitive uses.
 * CPython glue over hub/. */
#include "py.h"

/* A FIFO of parked greenlets.  wait() parks the caller until wake() picks
 * it; wake() resumes waiters in the order they arrived.  All waiters must
 * belong to one hub at a time (the thread that owns them).  The queue
 * keeps no pointer to that hub: it is the hub of its first waiter's node,
 * and a hub takes its nodes out of every queue before it goes (destroyed,
 * or its thread exited), so a queue with waiters always has a live hub.
 *
 * With handoff=True, what wake() gives a waiter is never lost: a waiter
 * that is interrupted (killed, timed out) after it was picked but before it
 * ran passes the value on to the next waiter.  Semaphores and queues hand
 * units and items over this way. */
typedef struct {
    PyObject_HEAD
    cl_parklist waiters;
    int handoff;
    PyObject *weakreflist;
} WaitQueue;

static PyTypeObject waitqueue_type;

static const char *const wait_names[] = {"timeout"};
static const char *const wake_names[] = {"n", "value"};
static const char *const wake_all_names[] = {"value"};

static PyObject *
waitqueue_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"handoff", NULL};
    int handoff = 0;
    WaitQueue *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$p:WaitQueue", kwlist, &handoff)) {
        return NULL;
    }
    self = (WaitQueue *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->handoff = handoff;
    }
    return (PyObject *)self;
}

static void
waitqueue_dealloc(WaitQueue *self)
{
    /* Waiters hold a reference to us through their frames; a queue that is
     * freed has none. */
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t wake_n(WaitQueue *self, Py_ssize_t n, PyObject *value);

/* The hub of the current waiters (borrowed), or NULL if there are none. */
static cl_hub *
waiters_hub(WaitQueue *self)
{
    return self->waiters.head != NULL ? self->waiters.head->hub : NULL;
}

static PyObject *
waitqueue_wait(WaitQueue *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[1], *value, *keep;
    int64_t ns;
    cl_hub *hub;
    cl_park *p;
    int r;
    if (cl_args("wait", wait_names, 1, args, nargs, kwnames, a) < 0 ||
        cl__timeout_ns(a[0], &ns, "timeout") < 0 || (hub = cl__hub_get()) == NULL) {
        return NULL;
    }
    if (self->waiters.count > 0 && waiters_hub(self) != hub) {
        PyErr_SetString(cl__greenlet_error, "this WaitQueue has waiters in another thread");
        return NULL;
    }
    p = cl__park_new(hub, "a WaitQueue", 0);
    if (p == NULL) {
        return NULL;
    }
    cl__parklist_append(&self->waiters, p);
    /* The waiter keeps the queue it is in alive, through its node: if it
     * is never resumed, the hub drops that reference with the node. */
    p->keep = Py_NewRef((PyObject *)self);
    r = cl__hub_park(hub, p, ns);
    value = p->value;
    p->value = NULL;
    keep = p->keep;
    p->keep = NULL;
    cl__park_release(hub, p);
    if (r == -1 || r == CL_PARK_TIMEOUT) {
        if (value != NULL && self->handoff) {
            /* Picked, but interrupted before it could take it: the next
             * waiter gets it instead. */
            PyObject *pending = cl_err_take();
            if (self->waiters.count > 0 && waiters_hub(self) == hub) {
                wake_n(self, 1, value);
            }
            cl_err_give(pending);
        }
        Py_XDECREF(value);
        Py_XDECREF(keep);
        if (r == -1) {
            return NULL;
        }
        Py_RETURN_FALSE;
    }
    Py_XDECREF(keep);
    return value != NULL ? value : Py_NewRef(Py_True);
}

/* Wake up to n waiters with `value`; returns how many. */
static Py_ssize_t
wake_n(WaitQueue *self, Py_ssize_t n, PyObject *value)
{
    Py_ssize_t woken = 0;
    while (woken < n && self->waiters.head != NULL) {
        cl_park *p = self->waiters.head;
        cl__parklist_remove(p);
        if (p->state != CL_PARK_WAITING) {
            continue;
        }
        Py_XINCREF(value);
        Py_XSETREF(p->value, value);
        cl__park_wake(p->hub, p, 0);
        woken++;
    }
    return woken;
}

static int
check_waker_thread(WaitQueue *self)
{
    cl_hub *hub = waiters_hub(self);
    if (hub != NULL &&
        (hub->ts == NULL || hub->ts != cl__tls_thread || hub->ts->tstate != PyThreadState_GET())) {
        PyErr_SetString(cl__greenlet_error, "WaitQueue.wake() from another thread: use "
                                            "wake_threadsafe()");
        return -1;
    }
    return 0;
}

static PyObject *
waitqueue_wake(WaitQueue *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2];
    Py_ssize_t n = 1;
    if (cl_args("wake", wake_names, 2, args, nargs, kwnames, a) < 0) {
        return NULL;
    }
    if (a[0] != NULL && (n = PyLong_AsSsize_t(a[0])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must be non-negative");
        return NULL;
    }
    if (check_waker_thread(self) < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(wake_n(self, n, a[1] != NULL ? a[1] : Py_True));
}

static PyObject *
waitqueue_wake_all(WaitQueue *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[1];
    if (cl_args("wake_all", wake_all_names, 1, args, nargs, kwnames, a) < 0 ||
        check_waker_thread(self) < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(wake_n(self, PY_SSIZE_T_MAX, a[0] != NULL ? a[0] : Py_True));
}

/* From any thread: the waking happens in the waiters' hub, soon.  Only
 * waiters parked by then are woken: to wake one that may be about to park,
 * publish your state first and check it in the waiter (as corolib.sync
 * does), or defer through run_callback_threadsafe. */
static PyObject *
waitqueue_wake_threadsafe(WaitQueue *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    PyObject *a[2], *method, *r, *targs;
    cl_thread *me = cl__tls_thread;
    cl_hub *hub = waiters_hub(self);
    if (cl_args("wake_threadsafe", wake_names, 2, args, nargs, kwnames, a) < 0) {
        return NULL;
    }
    if (hub == NULL) {
        return PyLong_FromLong(0);
    }
    if (me != NULL && hub->ts == me && PyThreadState_GET() == me->tstate) {
        return waitqueue_wake(self, args, nargs, kwnames);
    }
    method = PyObject_GetAttrString((PyObject *)self, "wake");
    if (method == NULL) {
        return NULL;
    }
    targs = a[0] != NULL ? PyTuple_Pack(2, a[0], a[1] != NULL ? a[1] : Py_True)
                         : Py_BuildValue("(iO)", 1, a[1] != NULL ? a[1] : Py_True);
    /* `hub` is still the waiters' hub: nothing above can switch (and a
     * hub only goes on its own thread, with the GIL). */
    r = targs != NULL && cl__hub_xpush(hub, method, targs) == 0 ? PyLong_FromLong(-1) : NULL;
    Py_XDECREF(targs);
    Py_DECREF(method);
    return r;
}

static Py_ssize_t
waitqueue_len(WaitQueue *self)
{
    return self->waiters.count;
}

static PyObject *
waitqueue_statistics(WaitQueue *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("{s:n}", "waiting", self->waiters.count);
}

static PyMethodDef waitqueue_methods[] = {
    {"wait", (PyCFunction)(void (*)(void))waitqueue_wait, METH_FASTCALL | METH_KEYWORDS,
     "wait(timeout=None)\n--\n\n"
     "Park the current greenlet at the back of the queue until wake()\n"
     "picks it.  Returns the value given to wake(), or False if the\n"
     "timeout passed first.  Always switches."},
    {"wake", (PyCFunction)(void (*)(void))waitqueue_wake, METH_FASTCALL | METH_KEYWORDS,
     "wake(n=1, value=True)\n--\n\n"
     "Resume up to n waiters, oldest first, handing each ``value``.\n"
     "Returns how many.  Never switches: they run when the hub gets to them."},
    {"wake_all", (PyCFunction)(void (*)(void))waitqueue_wake_all, METH_FASTCALL | METH_KEYWORDS,
     "wake_all(value=True)\n--\n\nResume every waiter; returns how many."},
    {"wake_threadsafe", (PyCFunction)(void (*)(void))waitqueue_wake_threadsafe,
     METH_FASTCALL | METH_KEYWORDS,
     "wake_threadsafe(n=1, value=True)\n--\n\n"
     "wake() from any thread: done by the waiters' hub (returns -1 when\n"
     "deferred that way)."},
    {"statistics", (PyCFunction)waitqueue_statistics, METH_NOARGS,
     "statistics()\n--\n\n{'waiting': number of parked greenlets}"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods waitqueue_as_sequence = {
    .sq_length = (lenfunc)waitqueue_len,
};

static PyTypeObject waitqueue_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.WaitQueue",
    .tp_basicsize = sizeof(WaitQueue),
    .tp_dealloc = (destructor)waitqueue_dealloc,
    .tp_as_sequence = &waitqueue_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "WaitQueue(*, handoff=False)\n--\n\n"
              "A FIFO of parked greenlets: the waiting mechanism every\n"
              "synchronisation primitive in corolib is built on.  With\n"
              "handoff, a value given by wake() to a waiter that is interrupted\n"
              "before it runs goes to the next waiter instead of being lost.",
    .tp_weaklistoffset = offsetof(WaitQueue, weakreflist),
    .tp_methods = waitqueue_methods,
    .tp_new = waitqueue_new,
};

int
cl__wait_queue_ready(PyObject *module)
{
    if (PyType_Ready(&waitqueue_type) < 0 ||
        PyModule_AddObjectRef(module, "WaitQueue", (PyObject *)&waitqueue_type) < 0) {
        return -1;
    }
    return 0;
}
