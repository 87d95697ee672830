/* corolib.uv.Async (CPython glue over loop/async.c).
 *
 * send() is the one method any thread may call while the loop's thread is
 * inside uv_run.  It is safe because the libuv memory is only freed, and
 * `closing` only set, with the GIL held, which send() holds too.
 */
#include "uv_types.h"

#define ASYNC(self) (&(self)->mem->u.async)

static PyObject *
async_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", "callback", NULL};
    PyObject *loop, *cb;
    cl_pyhandle *self;
    int err;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:Async", kwlist, &loop, &cb)) {
        return NULL;
    }
    if (cl__uv_check_callable(cb, "callback") < 0) {
        return NULL;
    }
    self = cl__uv_handle_alloc(type, loop, CL_UVK_ASYNC);
    if (self == NULL) {
        return NULL;
    }
    err = cl_async_init(&self->loop->loop, ASYNC(self), &cl__uv_sink, self);
    if (err < 0) {
        return cl__uv_handle_abort(self, err);
    }
    self->callback = Py_NewRef(cb);
    cl__uv_handle_sync(self); /* active from birth: the loop keeps it */
    return (PyObject *)self;
}

static PyObject *
async_send(cl_pyhandle *self, PyObject *Py_UNUSED(ignored))
{
    int err;
    if (self->mem == NULL || self->closing) {
        return cl__uv_raise_closed(Py_TYPE(self)->tp_name);
    }
    err = cl_async_send(ASYNC(self));
    if (err < 0) {
        return cl__uv_raise(err);
    }
    Py_RETURN_NONE;
}

static PyMethodDef async_methods[] = {
    {"send", (PyCFunction)async_send, METH_NOARGS,
     "send()\n--\n\n"
     "Wake the loop and have it call callback(async); safe from any\n"
     "thread.  Sends coalesce: several before the loop wakes give one\n"
     "call."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cl__uv_async_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib.uv.Async",
    .tp_basicsize = sizeof(cl_pyhandle),
    .tp_flags = Py_TPFLAGS_DEFAULT, /* GC and its slots: inherited */
    .tp_doc = "Async(loop, callback)\n--\n\n"
              "Wakes the loop from another thread.  Active (and kept alive\n"
              "by the loop) until closed.",
    .tp_base = &cl__uv_handle_type,
    .tp_new = async_new,
    .tp_methods = async_methods,
};
