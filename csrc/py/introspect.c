/* Read-only views of a hub for corolib's operational tools: the blocking
 * monitor (corolib/_monitor.py) and run info (corolib/util.py), and the
 * Hub type's statistics(), describe_parked(), loop_alive and thread_ident.
 *
 * _hub_monitor_state and _hub_parked may be called from any thread,
 * holding the GIL.  The hub's own thread only changes what they read while
 * it holds the GIL, so a read is consistent as long as it does not let the
 * GIL go half-way: anything that could run Python code (allocating Python
 * objects can start the collector, whose finalizers can release the GIL)
 * happens only after the C state was copied out.
 *
 * HubWatch.wait() is the monitor's sampling loop, and runs WITHOUT the
 * GIL: asking for the GIL forty times a second would make the hub's thread
 * hand it over forty times a second, which on a busy machine costs far
 * more than the sampling.  Without the GIL it reads only two fields that
 * the hub writes with relaxed atomic stores (plain stores on every CPU we
 * build for): hub->switches (greenlets resumed, counted anyway) and
 * hub->polling (blocked in uv_run).  It takes the GIL again only to report
 * a suspect: the count has not moved for the threshold while the hub was
 * not polling.  Nothing here switches, and the switch path is untouched.
 */
#include "py.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

/* _hub_monitor_state(hub) -> (resumes, current, waiting) or None
 *   resumes  how many greenlets the hub has resumed, ever
 *   current  the greenlet running in the hub's thread now
 *   waiting  parked greenlets + queued entries: who a block delays
 * None once the hub's thread has exited. */
static PyObject *
mod_hub_monitor_state(PyObject *m, PyObject *arg)
{
    cl_hub *hub;
    cl_thread *ts;
    unsigned long long resumes;
    Py_ssize_t waiting;
    cl_greenlet *current;
    PyObject *r;
    (void)m;
    if (!CL_HUB_CHECK(arg)) {
        PyErr_Format(PyExc_TypeError, "expected a Hub, not %.200s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    hub = (cl_hub *)arg;
    ts = hub->ts;
    if (ts == NULL || ts->current == NULL || hub->destroyed) {
        Py_RETURN_NONE;
    }
    resumes = (unsigned long long)hub->switches;
    waiting = hub->n_parked + (Py_ssize_t)CL_HUB_QUEUED(hub);
    current = (cl_greenlet *)Py_NewRef(ts->current);
    r = Py_BuildValue("(KOn)", resumes, (PyObject *)current, waiting);
    Py_DECREF(current);
    return r;
}

/* _hub_parked(hub) -> [(greenlet, what, detail, ready), ...]
 * Every greenlet parked in the hub (newest first): what it waits for (the
 * same words as LoopExit's message), a detail (the fd for "fd", the number
 * of fds for "select()", else 0) and whether it was woken and waits only
 * for its turn. */
static PyObject *
mod_hub_parked(PyObject *m, PyObject *arg)
{
    typedef struct {
        cl_greenlet *g;
        const char *what;
        intptr_t detail;
        int ready;
    } item;
    cl_hub *hub;
    cl_park *p;
    item *items;
    Py_ssize_t n = 0, cap, i;
    PyObject *list = NULL;
    (void)m;
    if (!CL_HUB_CHECK(arg)) {
        PyErr_Format(PyExc_TypeError, "expected a Hub, not %.200s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    hub = (cl_hub *)arg;
    cap = hub->n_parked;
    items = PyMem_RawMalloc(sizeof(item) * (size_t)(cap > 0 ? cap : 1));
    if (items == NULL) {
        return PyErr_NoMemory();
    }
    /* Copy out first: no Python code can run in this loop. */
    for (p = hub->all_parked; p != NULL && n < cap; p = p->all_next) {
        if (p->g == NULL) {
            continue;
        }
        items[n].g = (cl_greenlet *)Py_NewRef(p->g);
        items[n].what = p->what;
        items[n].detail = p->detail;
        items[n].ready = p->state == CL_PARK_READY;
        n++;
    }
    list = PyList_New(n);
    for (i = 0; i < n; i++) {
        PyObject *t = NULL;
        if (list != NULL) {
            t = Py_BuildValue("(OsnO)", (PyObject *)items[i].g,
                              items[i].what ? items[i].what : "an event",
                              (Py_ssize_t)items[i].detail, items[i].ready ? Py_True : Py_False);
            if (t == NULL) {
                Py_CLEAR(list);
            }
            else {
                PyList_SET_ITEM(list, i, t);
            }
        }
        Py_DECREF(items[i].g);
    }
    PyMem_RawFree(items);
    return list;
}

/* ---- the Hub type's statistics and introspection ------------------------ */

PyObject *
cl__hub_meth_statistics(cl_hub *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue(
        "{s:n,s:n,s:n,s:n,s:n,s:n,s:K,s:K,s:O}", "ready", (Py_ssize_t)CL_HUB_QUEUED(self), "parked",
        self->n_parked, "watches", self->n_watches, "timers", (Py_ssize_t)self->nheap, "fds",
        cl__io_count(self), "handles", (Py_ssize_t)self->loop.n_handles, "switches",
        (unsigned long long)self->switches, "recv_skipped", (unsigned long long)self->recv_skipped,
        "destroyed", self->destroyed ? Py_True : Py_False);
}

PyObject *
cl__hub_meth_describe_parked(cl_hub *self, PyObject *Py_UNUSED(ignored))
{
    return cl__hub_describe_parked(self);
}

PyObject *
cl__hub_get_loop_alive(cl_hub *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->loop_open && (CL_HUB_QUEUED(self) > 0 || self->nheap_ref > 0 ||
                                               cl_loop_alive(&self->loop)));
}

PyObject *
cl__hub_get_thread_ident(cl_hub *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLong(self->thread_ident);
}

/* ---- HubWatch: the monitor's sampler ----------------------------------- */

typedef struct {
    PyObject_HEAD
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled by stop() */
    int stopped;       /* under mu */
    int busy;          /* a wait() is running (GIL held to change) */
    uint64_t last;     /* switches when last seen changing */
    uint64_t since;    /* monotonic ns of that */
    uint64_t fired;    /* `last` already reported as a suspect */
    int have_last;
} cl_hubwatch;

static uint64_t
mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static PyObject *
hubwatch_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    cl_hubwatch *self;
    pthread_condattr_t attr;
    if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "HubWatch() takes no arguments");
        return NULL;
    }
    self = (cl_hubwatch *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&self->cv, &attr) != 0) {
        /* tp_dealloc must not destroy what was never made */
        Py_TYPE(self)->tp_free(self);
        return PyErr_NoMemory();
    }
    pthread_condattr_destroy(&attr);
    if (pthread_mutex_init(&self->mu, NULL) != 0) {
        pthread_cond_destroy(&self->cv);
        Py_TYPE(self)->tp_free(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void
hubwatch_dealloc(cl_hubwatch *self)
{
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    Py_TYPE(self)->tp_free(self);
}

static int
seconds_arg(PyObject *o, const char *what, uint64_t *ns)
{
    double s = PyFloat_AsDouble(o);
    if (s == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (!(s > 0 && s < 86400.0)) {
        PyErr_Format(PyExc_ValueError, "%s must be > 0 and < 86400 seconds", what);
        return -1;
    }
    *ns = (uint64_t)(s * 1e9);
    return 0;
}

/* wait(hub, tick, threshold, budget) -> (switches, seconds) or None */
static PyObject *
hubwatch_wait(cl_hubwatch *self, PyObject *const *args, Py_ssize_t nargs)
{
    cl_hub *hub;
    uint64_t tick, threshold, budget, end, found = 0, blocked = 0;
    int suspect = 0;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "wait(hub, tick, threshold, budget)");
        return NULL;
    }
    if (!CL_HUB_CHECK(args[0])) {
        PyErr_Format(PyExc_TypeError, "expected a Hub, not %.200s", Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    if (seconds_arg(args[1], "tick", &tick) < 0 ||
        seconds_arg(args[2], "threshold", &threshold) < 0 ||
        seconds_arg(args[3], "budget", &budget) < 0) {
        return NULL;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "HubWatch.wait() is already running");
        return NULL;
    }
    /* The caller's reference keeps the hub (and so the two fields) alive
     * for the whole call. */
    hub = (cl_hub *)args[0];
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&self->mu);
        end = mono_ns() + budget;
        while (!self->stopped) {
            uint64_t now = mono_ns(), wake;
            uint64_t sw = __atomic_load_n(&hub->switches, __ATOMIC_RELAXED);
            int polling = __atomic_load_n(&hub->polling, __ATOMIC_RELAXED);
            struct timespec ts;
            if (!self->have_last || sw != self->last || polling) {
                self->have_last = 1;
                self->last = sw;
                self->since = now;
                if (polling) {
                    self->fired = sw - 1; /* a new stretch starts after the poll */
                }
            }
            else if (now - self->since >= threshold && self->fired != sw) {
                self->fired = sw;
                found = sw;
                blocked = now - self->since;
                suspect = 1;
                break;
            }
            if (now >= end) {
                break;
            }
            wake = now + tick < end ? now + tick : end;
            ts.tv_sec = (time_t)(wake / 1000000000u);
            ts.tv_nsec = (long)(wake % 1000000000u);
            while (!self->stopped && pthread_cond_timedwait(&self->cv, &self->mu, &ts) == EINTR) {
            }
        }
        pthread_mutex_unlock(&self->mu);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (!suspect) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(Kd)", (unsigned long long)found, (double)blocked / 1e9);
}

static PyObject *
hubwatch_stop(cl_hubwatch *self, PyObject *Py_UNUSED(ignored))
{
    pthread_mutex_lock(&self->mu);
    self->stopped = 1;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
    Py_RETURN_NONE;
}

static PyObject *
hubwatch_get_stopped(cl_hubwatch *self, void *c)
{
    int stopped;
    (void)c;
    pthread_mutex_lock(&self->mu);
    stopped = self->stopped;
    pthread_mutex_unlock(&self->mu);
    return PyBool_FromLong(stopped);
}

static PyMethodDef hubwatch_methods[] = {
    {"wait", (PyCFunction)(void (*)(void))hubwatch_wait, METH_FASTCALL,
     "wait(hub, tick, threshold, budget)\n--\n\n"
     "Sample hub every `tick` seconds, without the GIL, for up to `budget`\n"
     "seconds.  Returns (switches, seconds) as soon as the hub has resumed\n"
     "no greenlet for `threshold` seconds while not polling (once per such\n"
     "stretch), else None (budget spent, or stop() called)."},
    {"stop", (PyCFunction)hubwatch_stop, METH_NOARGS,
     "stop()\n--\n\nEnd wait() now, and every later one at once."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef hubwatch_getsets[] = {
    {"stopped", (getter)hubwatch_get_stopped, NULL, "True once stop() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject hubwatch_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.HubWatch",
    .tp_basicsize = sizeof(cl_hubwatch),
    .tp_dealloc = (destructor)hubwatch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "HubWatch()\n--\n\n"
              "The blocking monitor's sampler: watches a hub's resume count\n"
              "from another thread without taking the GIL.",
    .tp_methods = hubwatch_methods,
    .tp_getset = hubwatch_getsets,
    .tp_new = hubwatch_new,
};

static PyMethodDef introspect_methods[] = {
    {"_hub_monitor_state", mod_hub_monitor_state, METH_O,
     "_hub_monitor_state(hub)\n--\n\n"
     "(greenlets resumed so far, greenlet running now, greenlets waiting)\n"
     "of a hub, from any thread; None once its thread has exited."},
    {"_hub_parked", mod_hub_parked, METH_O,
     "_hub_parked(hub)\n--\n\n"
     "[(greenlet, what, detail, ready)] for every greenlet parked in hub."},
    {NULL, NULL, 0, NULL},
};

int
cl__introspect_ready(PyObject *module)
{
    if (PyType_Ready(&hubwatch_type) < 0 ||
        PyModule_AddObjectRef(module, "HubWatch", (PyObject *)&hubwatch_type) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, introspect_methods);
}
