/* The Hub type and the module functions that wait: CPython glue only.
 * The scheduling is in hub/; this file converts arguments and results. */
#include "py.h"

#include <math.h>

/* seconds (None, int or float) -> nanoseconds; -1 for None. */
int
cl__timeout_ns(PyObject *seconds, int64_t *ns, const char *what)
{
    double s;
    if (seconds == NULL || seconds == Py_None) {
        *ns = -1;
        return 0;
    }
    s = PyFloat_AsDouble(seconds);
    if (s == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError, "%s must be a number of seconds or None, not %.100s",
                         what, Py_TYPE(seconds)->tp_name);
        }
        return -1;
    }
    if (isnan(s)) {
        PyErr_Format(PyExc_ValueError, "%s must not be NaN", what);
        return -1;
    }
    if (s < 0) {
        PyErr_Format(PyExc_ValueError, "%s must be non-negative", what);
        return -1;
    }
    if (s >= 9.2e9) {
        *ns = INT64_MAX / 2; /* about 146 years: forever, for a loop */
        return 0;
    }
    *ns = (int64_t)ceil(s * 1e9);
    return 0;
}

/* The current thread's hub, checked for use from its own thread. */
static cl_hub *
this_hub(cl_hub *hub)
{
    if (hub == NULL) {
        return cl__hub_get();
    }
    if (cl__hub_check_thread(hub) < 0) {
        return NULL;
    }
    return hub;
}

static int
fd_of(PyObject *obj)
{
    return PyObject_AsFileDescriptor(obj);
}

/* ---- waiting (shared by methods and module functions) ----------------- */

static PyObject *
do_sleep(cl_hub *hub, PyObject *seconds)
{
    int64_t ns;
    if (seconds == NULL) {
        ns = 0;
    }
    else if (seconds == Py_None) {
        PyErr_SetString(PyExc_TypeError, "sleep() needs a number of seconds");
        return NULL;
    }
    else if (cl__timeout_ns(seconds, &ns, "sleep length") < 0) {
        return NULL;
    }
    if ((hub = this_hub(hub)) == NULL || cl__hub_sleep(hub, ns) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static const char *const wait_fd_names[] = {"fd", "timeout"};

static PyObject *
do_wait_fd(cl_hub *hub, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int events,
           const char *fname)
{
    PyObject *a[2];
    int64_t ns;
    int fd, r;
    if (cl_args(fname, wait_fd_names, 2, args, nargs, kwnames, a) < 0) {
        return NULL;
    }
    if (a[0] == NULL) {
        PyErr_Format(PyExc_TypeError, "%s() missing required argument 'fd'", fname);
        return NULL;
    }
    if ((fd = fd_of(a[0])) < 0 || cl__timeout_ns(a[1], &ns, "timeout") < 0) {
        return NULL;
    }
    if ((hub = this_hub(hub)) == NULL) {
        return NULL;
    }
    r = cl__io_wait(hub, fd, events, ns, 0);
    if (r == -1) {
        return NULL;
    }
    return PyBool_FromLong(r != CL_PARK_TIMEOUT);
}

/* Collect the fds of an iterable (ints or objects with fileno()). */
static int
collect_fds(PyObject *iterable, int events, int **fds, int **evs, Py_ssize_t *n, Py_ssize_t *cap)
{
    PyObject *it, *item;
    if (iterable == NULL || iterable == Py_None) {
        return 0;
    }
    it = PyObject_GetIter(iterable);
    if (it == NULL) {
        return -1;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        int fd = PyObject_AsFileDescriptor(item);
        Py_DECREF(item);
        if (fd < 0) {
            Py_DECREF(it);
            return -1;
        }
        if (*n == *cap) {
            Py_ssize_t ncap = *cap ? *cap * 2 : 16;
            int *nf = PyMem_Realloc(*fds, (size_t)ncap * sizeof(int));
            int *ne = nf ? PyMem_Realloc(*evs, (size_t)ncap * sizeof(int)) : NULL;
            if (nf != NULL) {
                *fds = nf;
            }
            if (ne == NULL) {
                Py_DECREF(it);
                PyErr_NoMemory();
                return -1;
            }
            *evs = ne;
            *cap = ncap;
        }
        (*fds)[*n] = fd;
        (*evs)[*n] = events;
        (*n)++;
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *
do_wait_fds(cl_hub *hub, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"readable", "writable", "timeout", NULL};
    PyObject *rd = NULL, *wr = NULL, *timeout = Py_None, *result = NULL;
    int *fds = NULL, *evs = NULL, r;
    Py_ssize_t n = 0, cap = 0;
    int64_t ns;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOO:wait_fds", kwlist, &rd, &wr, &timeout)) {
        return NULL;
    }
    if (cl__timeout_ns(timeout, &ns, "timeout") < 0 ||
        collect_fds(rd, UV_READABLE, &fds, &evs, &n, &cap) < 0 ||
        collect_fds(wr, UV_WRITABLE, &fds, &evs, &n, &cap) < 0 || (hub = this_hub(hub)) == NULL) {
        goto done;
    }
    r = cl__io_wait_many(hub, fds, evs, n, ns);
    if (r != -1) {
        result = PyBool_FromLong(r != CL_PARK_TIMEOUT);
    }
done:
    PyMem_Free(fds);
    PyMem_Free(evs);
    return result;
}

static PyObject *
do_cancel_wait(cl_hub *hub, PyObject *args)
{
    PyObject *fdobj, *exc = NULL;
    int fd;
    if (!PyArg_ParseTuple(args, "O|O:cancel_wait", &fdobj, &exc)) {
        return NULL;
    }
    if ((fd = fd_of(fdobj)) < 0) {
        return NULL;
    }
    if (hub != NULL && hub->destroyed && hub->ts != NULL && hub->ts == cl__tls_thread) {
        /* An fd closed by a finally block while Hub.destroy() kills the
         * greenlets: its watcher still goes (none is left after that). */
    }
    else if ((hub = this_hub(hub)) == NULL) {
        return NULL;
    }
    if (exc == Py_None) {
        exc = NULL;
    }
    if (exc != NULL && !PyExceptionInstance_Check(exc) && !PyExceptionClass_Check(exc)) {
        PyErr_SetString(PyExc_TypeError,
                        "cancel_wait() needs an exception class or instance, or None");
        return NULL;
    }
    return PyLong_FromLong(cl__io_cancel(hub, fd, exc));
}

/* ---- the Hub type ------------------------------------------------------ */

/* The hub's thread is exiting (its thread state is being cleared, GIL
 * held): the hub greenlet can never run again.  Close its loop and fds
 * now, release what is parked, and refuse cross-thread callbacks from
 * here on (see cl__hub_thread_exit for the shutdown case). */
static void
hub_thread_exit(PyObject *hub)
{
    PyObject *pending = cl_err_take();
    if (cl__hub_thread_exit((cl_hub *)hub) == 0) {
        /* Its suspended stack still "calls" its bound run method, which
         * refers to the hub: drop that, or the hub could never be freed. */
        Py_CLEAR(((cl_hub *)hub)->g.run);
    }
    ((cl_hub *)hub)->ts = NULL; /* the thread state goes with the thread */
    cl_err_give(pending);
}

static PyObject *
hub_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    cl_thread *ts = cl__thread();
    cl_hub *self;
    (void)args;
    (void)kwds;
    if (ts == NULL) {
        return NULL;
    }
    if (ts->hub != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this thread already has a hub (use get_hub())");
        return NULL;
    }
    self = (cl_hub *)cl__greenlet_type.tp_new(type, cl__empty_tuple, NULL);
    if (self == NULL) {
        return NULL;
    }
    /* The hub runs on behalf of the whole thread: when it must raise
     * LoopExit or deliver Ctrl-C, the main greenlet gets it. */
    Py_INCREF(ts->main);
    Py_XSETREF(self->g.parent, ts->main);
    self->g.flags |= CL_G_KEEPS_ORIGIN;
    self->thread_ident = PyThread_get_thread_ident();
    if (cl__hub_init(self, ts) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    ts->hub = Py_NewRef((PyObject *)self);
    ts->hub_exit = hub_thread_exit;
    return (PyObject *)self;
}

static int
hub_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    (void)self;
    (void)args;
    (void)kwds;
    return 0; /* greenlet.__init__'s run/parent make no sense here */
}

static void
hub_dealloc(cl_hub *self)
{
    if (cl__greenlet_release((PyObject *)self) < 0) {
        return;
    }
    cl__hub_fini(self);
    cl__greenlet_type.tp_dealloc((PyObject *)self);
}

static PyObject *
hub_run(cl_hub *self, PyObject *Py_UNUSED(ignored))
{
    if (cl__hub_check_thread(self) < 0) {
        return NULL;
    }
    if (self->ts->current != &self->g) {
        PyErr_SetString(PyExc_RuntimeError, "Hub.run() runs only as the hub greenlet itself");
        return NULL;
    }
    return cl__hub_run(self);
}

static PyObject *
hub_sleep(cl_hub *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "sleep() takes at most 1 argument");
        return NULL;
    }
    return do_sleep(self, nargs ? args[0] : NULL);
}

static PyObject *
hub_wait_readable(cl_hub *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return do_wait_fd(self, args, nargs, kwnames, UV_READABLE, "wait_readable");
}

static PyObject *
hub_wait_writable(cl_hub *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return do_wait_fd(self, args, nargs, kwnames, UV_WRITABLE, "wait_writable");
}

static PyObject *
hub_cancel_wait(cl_hub *self, PyObject *args)
{
    return do_cancel_wait(self, args);
}

static PyObject *
args_tail(PyObject *args, const char *fname, PyObject **first)
{
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_Format(PyExc_TypeError, "%s() needs a callable", fname);
        return NULL;
    }
    *first = PyTuple_GET_ITEM(args, 0);
    if (!PyCallable_Check(*first)) {
        PyErr_Format(PyExc_TypeError, "%s() needs a callable, not %.100s", fname,
                     Py_TYPE(*first)->tp_name);
        return NULL;
    }
    return PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
}

static PyObject *
hub_run_callback(cl_hub *self, PyObject *args)
{
    PyObject *fn, *rest;
    if (cl__hub_check_thread(self) < 0) {
        return NULL;
    }
    if ((rest = args_tail(args, "run_callback", &fn)) == NULL) {
        return NULL;
    }
    if (cl__hub_push(self, CL_E_CALL, Py_NewRef(fn), rest, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
hub_run_callback_threadsafe(cl_hub *self, PyObject *args)
{
    PyObject *fn, *rest;
    int r;
    if ((rest = args_tail(args, "run_callback_threadsafe", &fn)) == NULL) {
        return NULL;
    }
    r = cl__hub_xpush(self, fn, rest);
    Py_DECREF(rest);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
hub_start_greenlet(cl_hub *self, PyObject *args, PyObject *kwds)
{
    PyObject *g, *rest;
    if (cl__hub_check_thread(self) < 0) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(args) < 1 || !CL_GREENLET_CHECK(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError, "start_greenlet() needs a greenlet");
        return NULL;
    }
    g = PyTuple_GET_ITEM(args, 0);
    if (CL_G_STARTED((cl_greenlet *)g)) {
        PyErr_SetString(PyExc_ValueError, "the greenlet has already started");
        return NULL;
    }
    ((cl_greenlet *)g)->sched_flags &= ~CL_S_START_CANCELLED;
    /* Started by the hub, it returns to the hub when it ends. */
    if (((cl_greenlet *)g)->parent != &self->g) {
        Py_INCREF(self);
        Py_XSETREF(((cl_greenlet *)g)->parent, &self->g);
    }
    rest = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    if (rest == NULL) {
        return NULL;
    }
    Py_XINCREF(kwds);
    if (cl__hub_push(self, CL_E_START, Py_NewRef(g), rest, kwds) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
hub_cancel_start(cl_hub *self, PyObject *g)
{
    (void)self;
    if (!CL_GREENLET_CHECK(g)) {
        PyErr_SetString(PyExc_TypeError, "cancel_start() needs a greenlet");
        return NULL;
    }
    ((cl_greenlet *)g)->sched_flags |= CL_S_START_CANCELLED;
    Py_RETURN_NONE;
}

static PyObject *
hub_interrupt(cl_hub *self, PyObject *args)
{
    PyObject *g, *exc;
    if (!PyArg_ParseTuple(args, "O!O:interrupt", &cl__greenlet_type, &g, &exc)) {
        return NULL;
    }
    if (cl__hub_check_thread(self) < 0) {
        return NULL;
    }
    if (!PyExceptionInstance_Check(exc)) {
        PyErr_SetString(PyExc_TypeError, "interrupt() needs an exception instance");
        return NULL;
    }
    if (cl__find_main((cl_greenlet *)g) != self->ts->main) {
        PyErr_SetString(cl__greenlet_error, "interrupt() needs a greenlet of the hub's own thread");
        return NULL;
    }
    return PyBool_FromLong(cl__hub_interrupt(self, (cl_greenlet *)g, exc));
}

static PyObject *
hub_join(cl_hub *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *timeout = Py_None;
    int64_t ns;
    cl_park *p;
    int r;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:join", kwlist, &timeout)) {
        return NULL;
    }
    if (cl__timeout_ns(timeout, &ns, "timeout") < 0 || cl__hub_check_thread(self) < 0) {
        return NULL;
    }
    p = cl__park_new(self, "Hub.join()", 0);
    if (p == NULL) {
        return NULL;
    }
    p->timeout.ref = 0; /* waiting for the loop to finish keeps nothing alive */
    cl__parklist_append(&self->joiners, p);
    r = cl__hub_park(self, p, ns);
    cl__park_release(self, p);
    if (r == -1) {
        return NULL;
    }
    return PyBool_FromLong(r == 1);
}

static PyObject *
hub_destroy(cl_hub *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"destroy_loop", NULL};
    PyObject *destroy_loop = Py_None;
    cl_thread *ts = self->ts;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:destroy", kwlist, &destroy_loop)) {
        return NULL;
    }
    if (ts == NULL || ts != cl__tls_thread) {
        PyErr_SetString(cl__greenlet_error, "a hub can only be destroyed by its own thread");
        return NULL;
    }
    if (ts->current == &self->g) {
        PyErr_SetString(PyExc_RuntimeError, "the hub cannot destroy itself");
        return NULL;
    }
    if (self->destroying) {
        Py_RETURN_NONE; /* from a finally block the first call runs: it finishes */
    }
    Py_INCREF(self);
    if (!self->destroyed) {
        /* From here on nothing parks, starts or queues in this hub. */
        self->destroyed = 1;
        self->destroying = 1;
        if (CL_G_ACTIVE(&self->g)) {
            cl__kill_released(ts, &self->g);
        }
        cl__hub_kill_parked(self);
        self->destroying = 0;
    }
    cl__hub_fini(self);
    if (ts->hub == (PyObject *)self) {
        Py_CLEAR(ts->hub);
    }
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyObject *
hub_wait_fds(cl_hub *self, PyObject *args, PyObject *kwds)
{
    return do_wait_fds(self, args, kwds);
}

static PyObject *
hub_hold(cl_hub *self, PyObject *Py_UNUSED(ignored))
{
    cl__hub_hold(self, 1);
    Py_RETURN_NONE;
}

static PyObject *
hub_unhold(cl_hub *self, PyObject *Py_UNUSED(ignored))
{
    cl__hub_hold(self, -1);
    Py_RETURN_NONE;
}

static PyObject *
hub_call_later(cl_hub *self, PyObject *args, PyObject *kwds)
{
    return cl__hub_call_later(self, args, kwds);
}

static PyObject *
hub_interrupt_later(cl_hub *self, PyObject *args, PyObject *kwds)
{
    return cl__hub_interrupt_later(self, args, kwds);
}

static PyMethodDef hub_methods[] = {
    {"call_later", (PyCFunction)(void (*)(void))hub_call_later, METH_VARARGS | METH_KEYWORDS,
     "call_later(seconds, fn, *args, ref=True)\n--\n\n"
     "Call fn(*args) in the hub after `seconds` (never early).  Returns a\n"
     "TimerHandle; ref=False: this deadline alone keeps nothing waiting."},
    {"interrupt_later", (PyCFunction)(void (*)(void))hub_interrupt_later,
     METH_VARARGS | METH_KEYWORDS,
     "interrupt_later(seconds, greenlet, exc, ref=True)\n--\n\n"
     "After `seconds`, make the wait the greenlet is parked in raise exc.\n"
     "Returns a TimerHandle.  (Timeout is built on this.)"},
    {"run", (PyCFunction)hub_run, METH_NOARGS,
     "The hub's loop (runs as the hub greenlet; never returns)."},
    {"sleep", (PyCFunction)(void (*)(void))hub_sleep, METH_FASTCALL,
     "sleep(seconds=0)\n--\n\nPark the current greenlet for `seconds`."},
    {"wait_readable", (PyCFunction)(void (*)(void))hub_wait_readable, METH_FASTCALL | METH_KEYWORDS,
     "wait_readable(fd, timeout=None)\n--\n\n"
     "Park until fd is readable: True, or False if the timeout passed."},
    {"wait_writable", (PyCFunction)(void (*)(void))hub_wait_writable, METH_FASTCALL | METH_KEYWORDS,
     "wait_writable(fd, timeout=None)\n--\n\n"
     "Park until fd is writable: True, or False if the timeout passed."},
    {"cancel_wait", (PyCFunction)hub_cancel_wait, METH_VARARGS,
     "cancel_wait(fd, exc=None)\n--\n\n"
     "fd is being closed: wake every greenlet waiting on it with `exc`\n"
     "(or as if ready), and release its watcher.  Returns how many."},
    {"run_callback", (PyCFunction)hub_run_callback, METH_VARARGS,
     "run_callback(fn, *args)\n--\n\n"
     "Call fn(*args) in the hub, in FIFO order, before the next poll."},
    {"run_callback_threadsafe", (PyCFunction)hub_run_callback_threadsafe, METH_VARARGS,
     "run_callback_threadsafe(fn, *args)\n--\n\n"
     "Like run_callback, from any thread; wakes the hub."},
    {"start_greenlet", (PyCFunction)(void (*)(void))hub_start_greenlet,
     METH_VARARGS | METH_KEYWORDS,
     "start_greenlet(g, *args, **kwargs)\n--\n\n"
     "Start the unstarted greenlet g from the hub, in FIFO order; its\n"
     "parent becomes the hub."},
    {"cancel_start", (PyCFunction)hub_cancel_start, METH_O,
     "cancel_start(g)\n--\n\nA queued start of g will not happen."},
    {"interrupt", (PyCFunction)hub_interrupt, METH_VARARGS,
     "interrupt(g, exc)\n--\n\n"
     "If g is parked in this hub, make its wait raise exc: True.\n"
     "False if g is not waiting here."},
    {"join", (PyCFunction)(void (*)(void))hub_join, METH_VARARGS | METH_KEYWORDS,
     "join(timeout=None)\n--\n\n"
     "Run the loop until it has nothing left to do (True) or the timeout\n"
     "passed (False)."},
    {"destroy", (PyCFunction)(void (*)(void))hub_destroy, METH_VARARGS | METH_KEYWORDS,
     "destroy(destroy_loop=None)\n--\n\nKill the hub greenlet and every greenlet parked in it\n"
     "(GreenletExit where it waits; the thread's main greenlet, if parked,\n"
     "gets RuntimeError when next switched to), close its loop and detach\n"
     "it from the thread; get_hub() will make a new one.  destroy_loop is\n"
     "accepted as in gevent: a hub's loop is always its own, and closed."},
    {"wait_fds", (PyCFunction)(void (*)(void))hub_wait_fds, METH_VARARGS | METH_KEYWORDS,
     "wait_fds(readable=(), writable=(), timeout=None)\n--\n\n"
     "Park until any fd in `readable` is readable or any in `writable` is\n"
     "writable: True, or False if the timeout passed.  One park however\n"
     "many fds (select() and poll() are built on it)."},
    {"hold", (PyCFunction)hub_hold, METH_NOARGS,
     "hold()\n--\n\n"
     "Another thread will wake a greenlet here later (through\n"
     "run_callback_threadsafe): until the matching unhold(), an empty loop\n"
     "does not raise LoopExit.  Thread-safe."},
    {"unhold", (PyCFunction)hub_unhold, METH_NOARGS,
     "unhold()\n--\n\nUndo one hold().  Thread-safe."},
    {"statistics", (PyCFunction)cl__hub_meth_statistics, METH_NOARGS,
     "statistics()\n--\n\nCounts: ready, parked, watches, timers, fds, handles, switches, "
     "recv_skipped\n"
     "(blocking receives that waited without a syscall: the fd's last read emptied it)."},
    {"describe_parked", (PyCFunction)cl__hub_meth_describe_parked, METH_NOARGS,
     "describe_parked()\n--\n\nWhat every parked greenlet waits for."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef hub_getsets[] = {
    {"loop_alive", (getter)cl__hub_get_loop_alive, NULL,
     "True while something can still wake a parked greenlet.", NULL},
    {"thread_ident", (getter)cl__hub_get_thread_ident, NULL,
     "threading.get_ident() of the hub's thread.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject cl__hub_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.Hub",
    .tp_basicsize = sizeof(cl_hub),
    .tp_dealloc = (destructor)hub_dealloc,
    /* GC support (and the greenlet's traverse/clear) is inherited. */
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The thread's hub: a greenlet that runs a libuv loop and resumes\n"
              "parked greenlets.  Use get_hub().",
    .tp_methods = hub_methods,
    .tp_getset = hub_getsets,
    .tp_init = hub_init,
    .tp_new = hub_new,
};

/* ---- module functions ---------------------------------------------------- */

static PyObject *
mod_get_hub(PyObject *m, PyObject *Py_UNUSED(ignored))
{
    cl_hub *hub = cl__hub_get();
    (void)m;
    return hub ? Py_NewRef((PyObject *)hub) : NULL;
}

static PyObject *
mod_get_hub_if_exists(PyObject *m, PyObject *Py_UNUSED(ignored))
{
    cl_thread *ts = cl__tls_thread;
    (void)m;
    if (ts == NULL || ts->hub == NULL || ts->tstate != PyThreadState_GET()) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(ts->hub);
}

static PyObject *
mod_sleep(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "sleep() takes at most 1 argument");
        return NULL;
    }
    return do_sleep(NULL, nargs ? args[0] : NULL);
}

static PyObject *
mod_wait_readable(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)m;
    return do_wait_fd(NULL, args, nargs, kwnames, UV_READABLE, "wait_readable");
}

static PyObject *
mod_wait_writable(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)m;
    return do_wait_fd(NULL, args, nargs, kwnames, UV_WRITABLE, "wait_writable");
}

static PyObject *
mod_wait_fds(PyObject *m, PyObject *args, PyObject *kwds)
{
    (void)m;
    return do_wait_fds(NULL, args, kwds);
}

static PyObject *
mod_cancel_wait(PyObject *m, PyObject *args)
{
    (void)m;
    return do_cancel_wait(NULL, args);
}

static PyObject *
mod_set_hub_class(PyObject *m, PyObject *cls)
{
    (void)m;
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &cl__hub_type)) {
        PyErr_SetString(PyExc_TypeError, "set_hub_class() needs a subclass of corolib._core.Hub");
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(cl__hub_class, cls);
    Py_RETURN_NONE;
}

static PyObject *
mod_after_fork_in_child(PyObject *m, PyObject *Py_UNUSED(ignored))
{
    cl_thread *ts = cl__tls_thread;
    (void)m;
    if (ts != NULL && ts->hub != NULL && cl__hub_after_fork((cl_hub *)ts->hub) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef cl__hub_module_methods[] = {
    {"get_hub", mod_get_hub, METH_NOARGS,
     "get_hub()\n--\n\nThe current thread's hub, created on first use."},
    {"get_hub_if_exists", mod_get_hub_if_exists, METH_NOARGS,
     "get_hub_if_exists()\n--\n\nThe current thread's hub, or None."},
    {"sleep", (PyCFunction)(void (*)(void))mod_sleep, METH_FASTCALL,
     "sleep(seconds=0)\n--\n\n"
     "Park the current greenlet for `seconds`.  sleep(0) lets every other\n"
     "ready greenlet run once, in FIFO order, then continues."},
    {"wait_readable", (PyCFunction)(void (*)(void))mod_wait_readable, METH_FASTCALL | METH_KEYWORDS,
     "wait_readable(fd, timeout=None)\n--\n\n"
     "Park until fd is readable: True, or False if the timeout passed."},
    {"wait_writable", (PyCFunction)(void (*)(void))mod_wait_writable, METH_FASTCALL | METH_KEYWORDS,
     "wait_writable(fd, timeout=None)\n--\n\n"
     "Park until fd is writable: True, or False if the timeout passed."},
    {"cancel_wait", (PyCFunction)mod_cancel_wait, METH_VARARGS,
     "cancel_wait(fd, exc=None)\n--\n\n"
     "Wake every greenlet waiting on fd with exc; release the watcher."},
    {"wait_fds", (PyCFunction)(void (*)(void))mod_wait_fds, METH_VARARGS | METH_KEYWORDS,
     "wait_fds(readable=(), writable=(), timeout=None)\n--\n\n"
     "Park until any of the fds is ready: True, or False on timeout."},
    {"set_hub_class", mod_set_hub_class, METH_O,
     "set_hub_class(cls)\n--\n\nThe class get_hub() instantiates."},
    {"_after_fork_in_child", mod_after_fork_in_child, METH_NOARGS,
     "Re-initialise this thread's hub in a forked child."},
    {NULL, NULL, 0, NULL},
};

int
cl__hub_types_ready(PyObject *module)
{
    cl__fork_watch_install();
    cl__hub_type.tp_base = &cl__greenlet_type;
    if (PyType_Ready(&cl__hub_type) < 0 ||
        PyModule_AddObjectRef(module, "Hub", (PyObject *)&cl__hub_type) < 0) {
        return -1;
    }
    cl__empty_tuple = PyTuple_New(0);
    if (cl__empty_tuple == NULL) {
        return -1;
    }
    cl__LoopExit =
        PyErr_NewExceptionWithDoc("corolib.LoopExit",
                                  "Raised when the hub has nothing left that could ever wake the\n"
                                  "waiting greenlet: the operation would block forever.",
                                  PyExc_Exception, NULL);
    cl__BlockingSwitchOutError = PyErr_NewExceptionWithDoc(
        "corolib.BlockingSwitchOutError",
        "A blocking call was made from inside the hub (a callback).", PyExc_AssertionError, NULL);
    cl__InvalidSwitchError =
        PyErr_NewExceptionWithDoc("corolib.InvalidSwitchError",
                                  "A parked greenlet was resumed by something other than the hub.",
                                  PyExc_AssertionError, NULL);
    if (cl__LoopExit == NULL || cl__BlockingSwitchOutError == NULL ||
        cl__InvalidSwitchError == NULL ||
        PyModule_AddObjectRef(module, "LoopExit", cl__LoopExit) < 0 ||
        PyModule_AddObjectRef(module, "BlockingSwitchOutError", cl__BlockingSwitchOutError) < 0 ||
        PyModule_AddObjectRef(module, "InvalidSwitchError", cl__InvalidSwitchError) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, cl__hub_module_methods);
}
