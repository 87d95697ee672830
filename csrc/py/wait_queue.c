/* WaitQueue: the one parking queue every synchronisation primitive uses.
 * CPython glue over hub/. */
#include "py.h"

#include <structmember.h>

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

/* Parking on a WaitQueue, in three steps: waitqueue_enter queues a node
 * and registers it with the hub, the caller switches to the hub
 * (cl__switch_bare), waitqueue_leave takes the result.  The callers
 * (wait(), Event.wait) keep only the node across the switch: their frame
 * stays on the stack of every greenlet parked here (issue 19), and the
 * work before and after is out of line.
 *
 * The node of the current greenlet (of `hub`), queued at the back and
 * registered; NULL with an exception. */
static CL_NOINLINE cl_park *
waitqueue_enter(WaitQueue *self, cl_hub *hub, int64_t ns)
{
    cl_park *p;
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
    if (cl__hub_park_enter(hub, p, ns) < 0) {
        p->keep = NULL;
        cl__park_release(hub, p); /* out of the queue too */
        Py_DECREF(self);
        return NULL;
    }
    return p;
}

/* What wait() returns once the switch to the hub returned `r`. */
static CL_NOINLINE PyObject *
waitqueue_leave(cl_park *p, PyObject *r)
{
    cl_hub *hub = p->hub;
    int rc = cl__hub_park_leave(p, r);
    PyObject *value = p->value;
    PyObject *keep = p->keep; /* the queue: set while the greenlet could resume */
    WaitQueue *self = (WaitQueue *)keep;
    p->value = NULL;
    p->keep = NULL;
    cl__park_release(hub, p);
    if (rc == -1 || rc == CL_PARK_TIMEOUT) {
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
        Py_DECREF(keep);
        if (rc == -1) {
            return NULL;
        }
        Py_RETURN_FALSE;
    }
    Py_DECREF(keep);
    return value != NULL ? value : Py_NewRef(Py_True);
}

/* wait()'s arguments, the node: NULL with an exception. */
static CL_NOINLINE cl_park *
wait_enter(WaitQueue *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[1];
    int64_t ns;
    cl_hub *hub;
    if (cl_args("wait", wait_names, 1, args, nargs, kwnames, a) < 0 ||
        cl__timeout_ns(a[0], &ns, "timeout") < 0 || (hub = cl__hub_get()) == NULL) {
        return NULL;
    }
    return waitqueue_enter(self, hub, ns);
}

static PyObject *
waitqueue_wait(WaitQueue *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    cl_park *p = wait_enter(self, args, nargs, kwnames);
    if (p == NULL) {
        return NULL;
    }
    return waitqueue_leave(p, cl__switch_bare(p->hub->ts, &p->hub->g));
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

/* ---- NotifierBase and Event.wait: corolib.sync's Event without a frame --
 *
 * corolib.sync._Notifier (Event's and AsyncResult's base) keeps its flag,
 * its first hub and that hub's WaitQueue in NotifierBase's fields
 * (_flag, _hub, _waiters); the rest of it is Python.  _event_wait() makes
 * Event.wait: the common case -- the flag clear, the caller in the hub the
 * queue belongs to -- parks straight from here, so a greenlet blocked on an
 * Event keeps neither a Python frame for wait() nor a call into
 * WaitQueue.wait on its stack while it waits (issue 19: each would be saved
 * with every parked task).  Everything else goes to the Python method
 * _park(timeout). */
typedef struct {
    PyObject_HEAD
    PyObject *waiters; /* the WaitQueue of _hub's waiters */
    PyObject *hub;     /* the hub that first waited, or None */
    char flag;
} NotifierBase;

static PyObject *s_park, *s_queue_for, *s_zero;

static int
nb_traverse(NotifierBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->waiters);
    Py_VISIT(self->hub);
    return 0;
}

static int
nb_clear(NotifierBase *self)
{
    Py_CLEAR(self->waiters);
    Py_CLEAR(self->hub);
    return 0;
}

static void
nb_dealloc(NotifierBase *self)
{
    PyObject_GC_UnTrack(self);
    nb_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef nb_members[] = {
    {"_flag", T_BOOL, offsetof(NotifierBase, flag), 0, "set (True) or clear"},
    {"_waiters", T_OBJECT_EX, offsetof(NotifierBase, waiters), 0,
     "the WaitQueue the waiters of _hub park on"},
    {"_hub", T_OBJECT_EX, offsetof(NotifierBase, hub), 0,
     "the hub of _waiters (bound on first use), or None"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject notifierbase_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.NotifierBase",
    .tp_basicsize = sizeof(NotifierBase),
    .tp_dealloc = (destructor)nb_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The fields of corolib.sync's Event and AsyncResult.",
    .tp_traverse = (traverseproc)nb_traverse,
    .tp_clear = (inquiry)nb_clear,
    .tp_members = nb_members,
    .tp_new = PyType_GenericNew,
};

/* Event.wait's timeout: negative means "don't wait" (threading.Event's
 * rule).  *timeout becomes what the Python path gets.  Out of line, as are
 * the helpers below: their locals would widen event_wait's frame, which
 * stays on every waiter's stack. */
static CL_NOINLINE int
event_timeout(PyObject **timeout, int64_t *ns)
{
    int negative;
    if (*timeout == NULL || *timeout == Py_None) {
        *timeout = Py_None;
        *ns = -1;
        return 0;
    }
    negative = PyObject_RichCompareBool(*timeout, s_zero, Py_LT);
    if (negative < 0) {
        return -1;
    }
    if (negative) {
        *timeout = s_zero;
    }
    return cl__timeout_ns(*timeout, ns, "timeout");
}

/* The queue of `hub`'s waiters is _waiters: 1; another one: 0; -1 on
 * error.  The first wait binds the hub (under corolib.sync's lock, in
 * _queue_for); that Python frame is gone before the caller parks. */
static CL_NOINLINE int
event_bind(NotifierBase *self, cl_hub *hub)
{
    int ours;
    PyObject *q = PyObject_CallMethodOneArg((PyObject *)self, s_queue_for, (PyObject *)hub);
    if (q == NULL) {
        return -1;
    }
    ours = q == self->waiters;
    Py_DECREF(q);
    return ours;
}

/* Another thread's hub, or a _waiters that is not a WaitQueue: _park(). */
static CL_NOINLINE PyObject *
event_wait_python(NotifierBase *self, PyObject *timeout)
{
    PyObject *call[2] = {(PyObject *)self, timeout};
    return PyObject_VectorcallMethod(s_park, call, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* What event_enter returns: a node to park on, or (tagged with the low
 * bit, which no object pointer has) wait()'s result without parking, or 0
 * (NULL) with an exception.  One return value rather than an out
 * parameter: the slot for it would stay on every waiter's stack. */
typedef uintptr_t event_step;
#define EVENT_DONE(obj) ((obj) == NULL ? (event_step)0 : (event_step)(obj) | 1)

/* Event.wait's work before it parks. */
static CL_NOINLINE event_step
event_enter(NotifierBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[1];
    int64_t ns;
    cl_hub *hub;
    int ours = 1;
    if (cl_args("wait", wait_names, 1, args, nargs, kwnames, a) < 0) {
        return 0;
    }
    if (self->flag) {
        return EVENT_DONE(Py_NewRef(Py_True));
    }
    if (event_timeout(&a[0], &ns) < 0 || (hub = cl__hub_get()) == NULL ||
        ((PyObject *)hub != self->hub && (ours = event_bind(self, hub)) < 0)) {
        return 0;
    }
    if (!ours || self->waiters == NULL || !Py_IS_TYPE(self->waiters, &waitqueue_type)) {
        return EVENT_DONE(event_wait_python(self, a[0]));
    }
    if (self->flag) {
        return EVENT_DONE(Py_NewRef(Py_True));
    }
    return (event_step)waitqueue_enter((WaitQueue *)self->waiters, hub, ns);
}

/* Event.wait's result once the switch to the hub returned `r`. */
static CL_NOINLINE PyObject *
event_leave(cl_park *p, PyObject *r)
{
    PyObject *result = waitqueue_leave(p, r);
    if (result == NULL) {
        return NULL;
    }
    Py_DECREF(result);
    return Py_NewRef(result != Py_False ? Py_True : Py_False);
}

/* Event.wait(timeout=None).  `self` is an Event (the method descriptor
 * checked), so a NotifierBase. */
static PyObject *
event_wait(NotifierBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    event_step step = event_enter(self, args, nargs, kwnames);
    cl_park *p = (cl_park *)step;
    if (step & 1 || p == NULL) {
        return (PyObject *)(step & ~(event_step)1);
    }
    return event_leave(p, cl__switch_bare(p->hub->ts, &p->hub->g));
}

static PyMethodDef event_wait_def = {
    "wait", (PyCFunction)(void (*)(void))event_wait, METH_FASTCALL | METH_KEYWORDS,
    "wait(timeout=None)\n--\n\n"
    "Block until the flag is set, or ``timeout`` seconds passed.\n\n"
    "Returns True if the flag was set (even if cleared again since), False\n"
    "on timeout.  Returns at once, without switching, if already set."};

/* _event_wait(cls): Event.wait, a method of `cls` itself.  CPython's
 * specialised call of a C method checks that the instance's type is
 * exactly the method's: one defined on a base class would always take the
 * generic call, whose two C frames would stay on every waiter's stack. */
static PyObject *
mod_event_wait(PyObject *m, PyObject *cls)
{
    (void)m;
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &notifierbase_type)) {
        PyErr_SetString(PyExc_TypeError, "_event_wait() needs a subclass of NotifierBase");
        return NULL;
    }
    return PyDescr_NewMethod((PyTypeObject *)cls, &event_wait_def);
}

static PyMethodDef module_functions[] = {
    {"_event_wait", mod_event_wait, METH_O,
     "_event_wait(cls)\n--\n\ncorolib.sync.Event's compiled wait(), as a method of cls."},
    {NULL, NULL, 0, NULL},
};

int
cl__wait_queue_ready(PyObject *module)
{
    s_park = PyUnicode_InternFromString("_park");
    s_queue_for = PyUnicode_InternFromString("_queue_for");
    s_zero = PyFloat_FromDouble(0.0);
    if (s_park == NULL || s_queue_for == NULL || s_zero == NULL ||
        PyType_Ready(&waitqueue_type) < 0 ||
        PyModule_AddObjectRef(module, "WaitQueue", (PyObject *)&waitqueue_type) < 0 ||
        PyType_Ready(&notifierbase_type) < 0 ||
        PyModule_AddObjectRef(module, "NotifierBase", (PyObject *)&notifierbase_type) < 0 ||
        PyModule_AddFunctions(module, module_functions) < 0) {
        return -1;
    }
    return 0;
}
