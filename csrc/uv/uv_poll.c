/* corolib.uv.Poll (CPython glue over loop/poll.c).
 *
 * cb(poll, events, error): error is None, or a positive errno value when
 * libuv reports a failure (then events is 0 and the handle is stopped).
 * libuv reports POLLERR as EBADF; getsockopt(SO_ERROR) has the cause.
 * Poll(loop, fd) puts fd in non-blocking mode, as uv_poll_init does.
 */
#include "uv_types.h"

#define POLL(self) (&(self)->mem->u.poll)
#define EVENT_MASK (UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED)

static PyObject *
poll_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", "fd", NULL};
    PyObject *loop, *fdobj;
    cl_pyhandle *self;
    int fd, err;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:Poll", kwlist, &loop, &fdobj)) {
        return NULL;
    }
    if (cl__uv_loop_check(loop) < 0) {
        return NULL;
    }
    fd = PyObject_AsFileDescriptor(fdobj);
    if (fd < 0) {
        return NULL;
    }
    self = cl__uv_handle_alloc(type, loop, CL_UVK_POLL);
    if (self == NULL) {
        return NULL;
    }
    err = cl_poll_init(&self->loop->loop, POLL(self), fd, &cl__uv_sink, self);
    if (err < 0) {
        return cl__uv_handle_abort(self, err);
    }
    return (PyObject *)self;
}

static PyObject *
poll_start(cl_pyhandle *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"events", "callback", NULL};
    PyObject *cb;
    int events;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iO:start", kwlist, &events, &cb)) {
        return NULL;
    }
    if (events == 0 || (events & ~EVENT_MASK) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "events must combine UV_READABLE, UV_WRITABLE, "
                     "UV_DISCONNECT and UV_PRIORITIZED, not %d",
                     events);
        return NULL;
    }
    if (cl__uv_check_callable(cb, "callback") < 0 || cl__uv_handle_usable(self) < 0) {
        return NULL;
    }
    return cl__uv_handle_changed(self, cl_poll_start(POLL(self), events), cb);
}

static PyObject *
poll_stop(cl_pyhandle *self, PyObject *Py_UNUSED(ignored))
{
    if (cl__uv_handle_usable(self) < 0) {
        return NULL;
    }
    return cl__uv_handle_changed(self, cl_poll_stop(POLL(self)), NULL);
}

static PyObject *
poll_fileno(cl_pyhandle *self, PyObject *Py_UNUSED(ignored))
{
    if (self->mem == NULL || self->closing) {
        return cl__uv_raise_closed(Py_TYPE(self)->tp_name);
    }
    return PyLong_FromLong(cl_poll_fd(POLL(self)));
}

static PyMethodDef poll_methods[] = {
    {"start", (PyCFunction)(void (*)(void))poll_start, METH_VARARGS | METH_KEYWORDS,
     "start(events, callback)\n--\n\n"
     "Call callback(poll, events, error) while the fd is ready for any\n"
     "of events (UV_READABLE | UV_WRITABLE | UV_DISCONNECT |\n"
     "UV_PRIORITIZED).  Level-triggered; replaces the previous mask and\n"
     "callback, and drops an event not yet dispatched."},
    {"stop", (PyCFunction)poll_stop, METH_NOARGS,
     "stop()\n--\n\nStop polling; a pending event is dropped."},
    {"fileno", (PyCFunction)poll_fileno, METH_NOARGS,
     "fileno()\n--\n\nThe polled file descriptor."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cl__uv_poll_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib.uv.Poll",
    .tp_basicsize = sizeof(cl_pyhandle),
    .tp_flags = Py_TPFLAGS_DEFAULT, /* GC and its slots: inherited */
    .tp_doc = "Poll(loop, fd)\n--\n\n"
              "Readiness of a file descriptor (an int or an object with\n"
              "fileno()).  Sets O_NONBLOCK on it; regular files raise\n"
              "UVError(EPERM).",
    .tp_base = &cl__uv_handle_type,
    .tp_new = poll_new,
    .tp_methods = poll_methods,
};
