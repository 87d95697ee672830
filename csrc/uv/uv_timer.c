/* corolib.uv.Timer (CPython glue over loop/timer.c).
 *
 * Seconds (float) at the surface, nanoseconds to loop/, milliseconds in
 * libuv; the rounding that keeps timers from firing early is loop/'s.
 * The callback is cb(timer), run from Loop.run once per expiry.
 */
#include "uv_types.h"

#define TIMER(self) (&(self)->mem->u.timer)

static PyObject *
timer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", NULL};
    PyObject *loop;
    cl_pyhandle *self;
    int err;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Timer", kwlist, &loop)) {
        return NULL;
    }
    self = cl__uv_handle_alloc(type, loop, CL_UVK_TIMER);
    if (self == NULL) {
        return NULL;
    }
    err = cl_timer_init(&self->loop->loop, TIMER(self), &cl__uv_sink, self);
    if (err < 0) {
        return cl__uv_handle_abort(self, err);
    }
    return (PyObject *)self;
}

static PyObject *
timer_start(cl_pyhandle *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"callback", "timeout", "repeat", NULL};
    PyObject *cb, *timeout, *repeat = NULL;
    uint64_t timeout_ns, repeat_ns = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O:start", kwlist, &cb, &timeout, &repeat)) {
        return NULL;
    }
    if (cl__uv_check_callable(cb, "callback") < 0 ||
        cl__uv_seconds(timeout, "timeout", &timeout_ns) < 0 ||
        (repeat != NULL && cl__uv_seconds(repeat, "repeat", &repeat_ns) < 0) ||
        cl__uv_handle_usable(self) < 0) {
        return NULL;
    }
    return cl__uv_handle_changed(self, cl_timer_start(TIMER(self), timeout_ns, repeat_ns), cb);
}

static PyObject *
timer_stop(cl_pyhandle *self, PyObject *Py_UNUSED(ignored))
{
    if (cl__uv_handle_usable(self) < 0) {
        return NULL;
    }
    return cl__uv_handle_changed(self, cl_timer_stop(TIMER(self)), NULL);
}

static PyObject *
timer_again(cl_pyhandle *self, PyObject *Py_UNUSED(ignored))
{
    if (cl__uv_handle_usable(self) < 0) {
        return NULL;
    }
    return cl__uv_handle_changed(self, cl_timer_again(TIMER(self)), NULL);
}

static PyObject *
timer_get_repeat(cl_pyhandle *self, void *Py_UNUSED(closure))
{
    if (cl__uv_handle_usable(self) < 0) {
        return NULL;
    }
    return PyFloat_FromDouble((double)cl_timer_get_repeat(TIMER(self)) / 1e9);
}

static int
timer_set_repeat(cl_pyhandle *self, PyObject *value, void *Py_UNUSED(closure))
{
    uint64_t ns;
    int err;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete repeat");
        return -1;
    }
    if (cl__uv_seconds(value, "repeat", &ns) < 0 || cl__uv_handle_usable(self) < 0) {
        return -1;
    }
    err = cl_timer_set_repeat(TIMER(self), ns);
    if (err < 0) {
        cl__uv_raise(err);
        return -1;
    }
    return 0;
}

static PyMethodDef timer_methods[] = {
    {"start", (PyCFunction)(void (*)(void))timer_start, METH_VARARGS | METH_KEYWORDS,
     "start(callback, timeout, repeat=0.0)\n--\n\n"
     "Call callback(timer) after timeout seconds, then every repeat\n"
     "seconds (0: once).  Never early: the timeout is rounded up to the\n"
     "next millisecond, plus one, from a freshly read clock.  Restarting\n"
     "drops an expiry not yet dispatched."},
    {"stop", (PyCFunction)timer_stop, METH_NOARGS,
     "stop()\n--\n\nStop the timer; a pending expiry is dropped."},
    {"again", (PyCFunction)timer_again, METH_NOARGS,
     "again()\n--\n\n"
     "Restart a repeating timer with repeat as the timeout (nothing when\n"
     "repeat is 0).  UVError(EINVAL) if the timer was never started."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef timer_getset[] = {
    {"repeat", (getter)timer_get_repeat, (setter)timer_set_repeat,
     "The repeat interval in seconds, rounded up to a millisecond; a new\n"
     "value takes effect at the next expiry.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject cl__uv_timer_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib.uv.Timer",
    .tp_basicsize = sizeof(cl_pyhandle),
    .tp_flags = Py_TPFLAGS_DEFAULT, /* GC and its slots: inherited */
    .tp_doc = "Timer(loop)\n--\n\nCalls a function after a delay.",
    .tp_base = &cl__uv_handle_type,
    .tp_new = timer_new,
    .tp_methods = timer_methods,
    .tp_getset = timer_getset,
};
