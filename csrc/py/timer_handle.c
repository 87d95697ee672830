/* TimerHandle: deadlines that call a function or interrupt a greenlet
 * (Hub.call_later, Hub.interrupt_later).  CPython glue over hub/timers.c. */
#include "py.h"

enum { TH_CALL = 1, TH_INTERRUPT };

typedef struct {
    PyObject_HEAD
    cl_tnode node; /* its sink: timerhandle_sink */
    cl_hub *hub;   /* strong */
    int mode;
    PyObject *a; /* callable, or the greenlet to interrupt */
    PyObject *b; /* args tuple, or the exception */
    double seconds;
} TimerHandle;

static PyTypeObject timerhandle_type;

#define TH_OF(t) ((TimerHandle *)((char *)(t) - offsetof(TimerHandle, node)))

/* A deadline of a TimerHandle passed (hub/timers.c, GIL held). */
static void
timerhandle_fire(cl_hub *hub, cl_tnode *t)
{
    TimerHandle *th = TH_OF(t); /* the heap's reference is now ours */
    if (th->mode == TH_CALL) {
        if (cl__hub_push(hub, CL_E_CALL, Py_NewRef(th->a), Py_NewRef(th->b), NULL) < 0) {
            PyErr_WriteUnraisable((PyObject *)th);
        }
    }
    else {
        cl_greenlet *g = (cl_greenlet *)th->a;
        if (CL_G_ACTIVE(g) && !cl__hub_interrupt(hub, g, th->b)) {
            /* Not parked through the hub (suspended by a plain switch):
             * throw from the hub's next round instead. */
            PyObject *throw = PyObject_GetAttrString(th->a, "throw");
            PyObject *args = PyTuple_Pack(1, th->b);
            if (throw == NULL || args == NULL) {
                Py_XDECREF(throw);
                Py_XDECREF(args);
                PyErr_WriteUnraisable((PyObject *)th);
            }
            else if (cl__hub_push(hub, CL_E_CALL, throw, args, NULL) < 0) {
                PyErr_WriteUnraisable((PyObject *)th);
            }
        }
    }
    Py_DECREF(th);
}

/* The hub is being torn down with this deadline still pending. */
static void
timerhandle_dropped(cl_tnode *t)
{
    Py_DECREF(TH_OF(t));
}

static const cl_tsink timerhandle_sink = {timerhandle_fire, timerhandle_dropped};

static int
timerhandle_schedule(TimerHandle *self, int64_t ns)
{
    if (cl__timer_add(self->hub, &self->node, (uint64_t)ns) < 0) {
        return -1;
    }
    Py_INCREF(self); /* held by the heap while scheduled */
    return 0;
}

static PyObject *
timerhandle_cancel(TimerHandle *self, PyObject *Py_UNUSED(ignored))
{
    if (self->node.index != CL_T_NONE) {
        if (cl__hub_check_thread(self->hub) < 0) {
            return NULL;
        }
        cl__timer_cancel(self->hub, &self->node);
        Py_DECREF(self);
    }
    Py_RETURN_NONE;
}

static PyObject *
timerhandle_get_pending(TimerHandle *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->node.index != CL_T_NONE);
}

static PyObject *
timerhandle_get_seconds(TimerHandle *self, void *c)
{
    (void)c;
    return PyFloat_FromDouble(self->seconds);
}

static void
timerhandle_dealloc(TimerHandle *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->hub);
    Py_CLEAR(self->a);
    Py_CLEAR(self->b);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
timerhandle_traverse(TimerHandle *self, visitproc visit, void *arg)
{
    Py_VISIT(self->a);
    Py_VISIT(self->b);
    return 0;
}

static int
timerhandle_clear(TimerHandle *self)
{
    Py_CLEAR(self->a);
    Py_CLEAR(self->b);
    return 0;
}

static PyMethodDef timerhandle_methods[] = {
    {"cancel", (PyCFunction)timerhandle_cancel, METH_NOARGS,
     "cancel()\n--\n\nThe deadline will not fire (no effect if it did)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef timerhandle_getsets[] = {
    {"pending", (getter)timerhandle_get_pending, NULL,
     "True until the deadline fires or is cancelled.", NULL},
    {"seconds", (getter)timerhandle_get_seconds, NULL, "The delay it was set with.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject timerhandle_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.TimerHandle",
    .tp_basicsize = sizeof(TimerHandle),
    .tp_dealloc = (destructor)timerhandle_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A deadline in a hub: made by Hub.call_later() and\n"
              "Hub.interrupt_later().",
    .tp_traverse = (traverseproc)timerhandle_traverse,
    .tp_clear = (inquiry)timerhandle_clear,
    .tp_methods = timerhandle_methods,
    .tp_getset = timerhandle_getsets,
};

static TimerHandle *
timerhandle_make(cl_hub *hub, int mode, PyObject *seconds, int ref)
{
    TimerHandle *th;
    int64_t ns;
    if (seconds == Py_None) {
        PyErr_SetString(PyExc_TypeError, "a delay in seconds is needed");
        return NULL;
    }
    if (cl__timeout_ns(seconds, &ns, "delay") < 0 || cl__hub_check_thread(hub) < 0) {
        return NULL;
    }
    th = PyObject_GC_New(TimerHandle, &timerhandle_type);
    if (th == NULL) {
        return NULL;
    }
    th->node.index = CL_T_NONE;
    th->node.sink = &timerhandle_sink;
    th->node.ref = ref;
    th->hub = (cl_hub *)Py_NewRef((PyObject *)hub);
    th->mode = mode;
    th->a = th->b = NULL;
    th->seconds = PyFloat_AsDouble(seconds);
    PyObject_GC_Track(th);
    (void)ns;
    return th;
}

/* Hub.call_later(seconds, fn, *args) */
PyObject *
cl__hub_call_later(cl_hub *hub, PyObject *args, PyObject *kwds)
{
    TimerHandle *th;
    PyObject *fn;
    int64_t ns;
    int ref = 1;
    if (kwds != NULL) {
        PyObject *r = PyDict_GetItemString(kwds, "ref");
        if (r != NULL && (ref = PyObject_IsTrue(r)) < 0) {
            return NULL;
        }
        if (PyDict_GET_SIZE(kwds) > (r != NULL)) {
            PyErr_SetString(PyExc_TypeError, "call_later() takes only ref=");
            return NULL;
        }
    }
    if (PyTuple_GET_SIZE(args) < 2 || !PyCallable_Check(PyTuple_GET_ITEM(args, 1))) {
        PyErr_SetString(PyExc_TypeError, "call_later(seconds, fn, *args)");
        return NULL;
    }
    if (cl__timeout_ns(PyTuple_GET_ITEM(args, 0), &ns, "delay") < 0) {
        return NULL;
    }
    th = timerhandle_make(hub, TH_CALL, PyTuple_GET_ITEM(args, 0), ref);
    if (th == NULL) {
        return NULL;
    }
    fn = PyTuple_GET_ITEM(args, 1);
    th->a = Py_NewRef(fn);
    th->b = PyTuple_GetSlice(args, 2, PyTuple_GET_SIZE(args));
    if (th->b == NULL || timerhandle_schedule(th, ns) < 0) {
        Py_DECREF(th);
        return NULL;
    }
    return (PyObject *)th;
}

/* Hub.interrupt_later(seconds, greenlet, exc) */
PyObject *
cl__hub_interrupt_later(cl_hub *hub, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seconds", "greenlet", "exc", "ref", NULL};
    TimerHandle *th;
    PyObject *seconds, *g, *exc;
    int64_t ns;
    int ref = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O|p:interrupt_later", kwlist, &seconds,
                                     &cl__greenlet_type, &g, &exc, &ref)) {
        return NULL;
    }
    if (!PyExceptionInstance_Check(exc)) {
        PyErr_SetString(PyExc_TypeError, "interrupt_later() needs an exception instance");
        return NULL;
    }
    if (hub->ts == NULL || cl__find_main((cl_greenlet *)g) != hub->ts->main) {
        PyErr_SetString(cl__greenlet_error,
                        "interrupt_later() needs a greenlet of the hub's own thread");
        return NULL;
    }
    if (cl__timeout_ns(seconds, &ns, "delay") < 0) {
        return NULL;
    }
    th = timerhandle_make(hub, TH_INTERRUPT, seconds, ref);
    if (th == NULL) {
        return NULL;
    }
    th->a = Py_NewRef(g);
    th->b = Py_NewRef(exc);
    if (timerhandle_schedule(th, ns) < 0) {
        Py_DECREF(th);
        return NULL;
    }
    return (PyObject *)th;
}

int
cl__timer_handle_ready(PyObject *module)
{
    if (PyType_Ready(&timerhandle_type) < 0 ||
        PyModule_AddObjectRef(module, "TimerHandle", (PyObject *)&timerhandle_type) < 0) {
        return -1;
    }
    return 0;
}
