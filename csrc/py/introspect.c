/* Read-only views of a hub for corolib's operational tools: the blocking
 * monitor (corolib/_monitor.py) and run info (corolib/util.py).
 *
 * Both may be called from any thread, holding the GIL.  The hub's own
 * thread only changes what is read here while it holds the GIL, so a read
 * is consistent as long as it does not let the GIL go half-way: anything
 * that could run Python code (allocating Python objects can start the
 * collector, whose finalizers can release the GIL) happens only after the
 * C state was copied out.  Nothing here switches or blocks, and the switch
 * path is untouched: the monitor reads the counter the hub already keeps
 * (hub->switches, one increment per greenlet resumed).
 */
#include "../hub/hub.h"

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
                              (Py_ssize_t)items[i].detail,
                              items[i].ready ? Py_True : Py_False);
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
    return PyModule_AddFunctions(module, introspect_methods);
}
