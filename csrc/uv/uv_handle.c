/* corolib.uv.Handle: what every handle object shares (CPython glue).
 *
 * The sink, the per-loop event queue, the keep-alive list, close and
 * dealloc.  Read uv_types.h first for who owns what.
 *
 * Invariants:
 *   - queued implies kept: the sink only queues handles that are active
 *     or closing, and those are kept (cl__uv_handle_sync runs after every
 *     operation that can start a handle).  So a queued object is never
 *     freed, and the sink never touches freed memory.
 *   - The sink changes no reference count and allocates nothing: it runs
 *     without the GIL.
 *   - mem is freed exactly once: by the dispatcher when the close record
 *     arrives, by dealloc when the close had already completed, or by the
 *     sink itself when the object was gone first (mem detached).
 *   - Nothing here calls uv_close twice: cl_handle_close guards it.
 */
#include "uv_types.h"

#include <string.h>

/* ---- the sink: runs inside uv_run, without the GIL -------------------- */

static void
queue_append(cl_pyloop *loop, cl_pyhandle *self)
{
    self->queued = 1;
    self->qnext = NULL;
    self->qprev = loop->qtail;
    if (loop->qtail != NULL) {
        loop->qtail->qnext = self;
    }
    else {
        loop->qhead = self;
    }
    loop->qtail = self;
}

static void
queue_remove(cl_pyloop *loop, cl_pyhandle *self)
{
    if (self->qprev != NULL) {
        self->qprev->qnext = self->qnext;
    }
    else {
        loop->qhead = self->qnext;
    }
    if (self->qnext != NULL) {
        self->qnext->qprev = self->qprev;
    }
    else {
        loop->qtail = self->qprev;
    }
    self->qnext = self->qprev = NULL;
    self->queued = 0;
}

static void
sink_fire(cl_handle *h, int events, int status)
{
    cl_pyhandle *self = h->data;
    if (self == NULL) {
        return; /* detached: nobody is listening any more */
    }
    self->pend.events |= events;
    if (status < 0) {
        self->pend.status = status;
    }
    self->pend.count++;
    if (!self->queued) {
        queue_append(self->loop, self);
    }
}

static void
sink_closed(cl_handle *h)
{
    cl_pyhandle *self = h->data;
    if (self == NULL) {
        PyMem_RawFree(CL_UVMEM_OF(h)); /* no GIL needed for the raw domain */
        return;
    }
    self->pend.closed = 1;
    if (!self->queued) {
        queue_append(self->loop, self);
    }
}

const cl_sink cl__uv_sink = {sink_fire, sink_closed};

/* ---- queue and keep-alive, with the GIL ------------------------------- */

cl_pyhandle *
cl__uv_queue_pop(cl_pyloop *loop, cl_pend *pend)
{
    cl_pyhandle *self = loop->qhead;
    if (self == NULL) {
        return NULL;
    }
    queue_remove(loop, self);
    *pend = self->pend;
    memset(&self->pend, 0, sizeof self->pend);
    return self;
}

void
cl__uv_handle_cancel(cl_pyhandle *self)
{
    self->gen++;
    if (self->queued && !self->pend.closed) {
        queue_remove(self->loop, self);
        memset(&self->pend, 0, sizeof self->pend);
    }
}

void
cl__uv_handle_sync(cl_pyhandle *self)
{
    cl_pyloop *loop = self->loop;
    int want = 0;
    if (self->mem != NULL) {
        cl_handle *h = CL_PYHANDLE_C(self);
        want = self->queued || h->state == CL_HANDLE_CLOSING || cl_handle_is_active(h);
    }
    if (want && !self->kept) {
        self->kept = 1;
        self->kprev = NULL;
        self->knext = loop->khead;
        if (loop->khead != NULL) {
            loop->khead->kprev = self;
        }
        loop->khead = self;
        Py_INCREF(self);
    }
    else if (!want && self->kept) {
        if (self->kprev != NULL) {
            self->kprev->knext = self->knext;
        }
        else {
            loop->khead = self->knext;
        }
        if (self->knext != NULL) {
            self->knext->kprev = self->kprev;
        }
        self->knext = self->kprev = NULL;
        self->kept = 0;
        Py_DECREF(self); /* may free self */
    }
}

PyObject *
cl__uv_handle_finish_close(cl_pyhandle *self)
{
    PyObject *cb = self->close_cb;
    if (self->mem != NULL) {
        PyMem_RawFree(self->mem);
        self->mem = NULL;
    }
    self->closing = 1;
    self->close_cb = NULL;
    Py_CLEAR(self->callback);
    return cb;
}

int
cl__uv_handle_set_callback(cl_pyhandle *self, PyObject *cb)
{
    if (cl__uv_check_callable(cb, "callback") < 0) {
        return -1;
    }
    Py_INCREF(cb);
    Py_XSETREF(self->callback, cb);
    return 0;
}

PyObject *
cl__uv_handle_changed(cl_pyhandle *self, int err, PyObject *cb)
{
    if (err < 0) {
        return cl__uv_raise(err);
    }
    cl__uv_handle_cancel(self);
    if (cb != NULL) {
        cl__uv_handle_set_callback(self, cb);
    }
    cl__uv_handle_sync(self);
    Py_RETURN_NONE;
}

int
cl__uv_handle_usable(cl_pyhandle *self)
{
    if (self->mem == NULL || self->closing) {
        cl__uv_raise_closed(Py_TYPE(self)->tp_name);
        return -1;
    }
    if (self->loop->in_uv_run) {
        PyErr_SetString(PyExc_RuntimeError, "the loop is running in another thread; only "
                                            "Async.send() may be called from there");
        return -1;
    }
    return 0;
}

/* ---- construction ----------------------------------------------------- */

cl_pyhandle *
cl__uv_handle_alloc(PyTypeObject *type, PyObject *loop, cl_uvkind kind)
{
    cl_pyhandle *self;
    if (cl__uv_loop_check(loop) < 0) {
        return NULL;
    }
    if (((cl_pyloop *)loop)->in_uv_run) {
        /* uv_<type>_init links into the loop's handle queue. */
        PyErr_SetString(PyExc_RuntimeError, "the loop is running in another thread; only "
                                            "Async.send() may be called from there");
        return NULL;
    }
    self = (cl_pyhandle *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->loop = (cl_pyloop *)Py_NewRef(loop);
    self->kind = kind;
    self->mem = PyMem_RawCalloc(1, sizeof(cl_uvmem));
    if (self->mem == NULL) {
        Py_DECREF(self);
        PyErr_NoMemory();
        return NULL;
    }
    return self;
}

PyObject *
cl__uv_handle_abort(cl_pyhandle *self, int err)
{
    /* The init failed, so libuv never saw the memory. */
    PyMem_RawFree(self->mem);
    self->mem = NULL;
    Py_DECREF(self);
    return cl__uv_raise(err);
}

/* ---- slots ------------------------------------------------------------ */

/* Let go of the libuv memory when the object dies. */
static void
handle_release(cl_pyhandle *self)
{
    cl_uvmem *mem = self->mem;
    cl_handle *h;
    if (mem == NULL) {
        return;
    }
    self->mem = NULL;
    if (self->queued) {
        queue_remove(self->loop, self);
    }
    h = CL_UVMEM_HANDLE(mem);
    h->data = NULL;
    if (h->state == CL_HANDLE_CLOSED) {
        PyMem_RawFree(mem);
    }
    else if (h->state == CL_HANDLE_OPEN) {
        if (self->loop->in_uv_run) {
            /* Another thread is inside uv_run (an open handle that is not
             * kept is inactive, so uv_run does not touch it meanwhile). */
            mem->deferred_next = self->loop->deferred;
            self->loop->deferred = mem;
        }
        else {
            cl_handle_close(h); /* sink_closed frees it */
        }
    }
    /* CLOSING: sink_closed frees it. */
}

static int
handle_traverse(cl_pyhandle *self, visitproc visit, void *arg)
{
    Py_VISIT(self->loop);
    Py_VISIT(self->callback);
    Py_VISIT(self->close_cb);
    return 0;
}

/* The loop reference stays: the libuv memory needs the loop until the
 * object dies, and the loop's own clear breaks the cycle. */
static int
handle_clear(cl_pyhandle *self)
{
    Py_CLEAR(self->callback);
    Py_CLEAR(self->close_cb);
    return 0;
}

static void
handle_dealloc(cl_pyhandle *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    handle_release(self);
    Py_CLEAR(self->callback);
    Py_CLEAR(self->close_cb);
    Py_CLEAR(self->loop);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
handle_close(cl_pyhandle *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"callback", NULL};
    PyObject *cb = Py_None;
    int err;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:close", kwlist, &cb)) {
        return NULL;
    }
    if (cb != Py_None && cl__uv_check_callable(cb, "callback") < 0) {
        return NULL;
    }
    if (cl__uv_handle_usable(self) < 0) {
        return NULL;
    }
    err = cl_handle_close(CL_PYHANDLE_C(self));
    if (err < 0) {
        return cl__uv_raise(err);
    }
    self->closing = 1;
    cl__uv_handle_cancel(self);
    if (cb != Py_None) {
        Py_INCREF(cb);
        Py_XSETREF(self->close_cb, cb);
    }
    cl__uv_handle_sync(self);
    Py_RETURN_NONE;
}

static PyObject *
handle_get_active(cl_pyhandle *self, void *Py_UNUSED(closure))
{
    if (self->mem == NULL || self->closing) {
        Py_RETURN_FALSE;
    }
    if (cl__uv_handle_usable(self) < 0) {
        return NULL;
    }
    return PyBool_FromLong(cl_handle_is_active(CL_PYHANDLE_C(self)));
}

static PyObject *
handle_get_closed(cl_pyhandle *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->mem == NULL || self->closing);
}

static PyObject *
handle_get_ref(cl_pyhandle *self, void *Py_UNUSED(closure))
{
    if (cl__uv_handle_usable(self) < 0) {
        return NULL;
    }
    return PyBool_FromLong(cl_handle_has_ref(CL_PYHANDLE_C(self)));
}

static int
handle_set_ref(cl_pyhandle *self, PyObject *value, void *Py_UNUSED(closure))
{
    int on, err;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete ref");
        return -1;
    }
    on = PyObject_IsTrue(value);
    if (on < 0 || cl__uv_handle_usable(self) < 0) {
        return -1;
    }
    err = on ? cl_handle_ref(CL_PYHANDLE_C(self)) : cl_handle_unref(CL_PYHANDLE_C(self));
    if (err < 0) {
        cl__uv_raise(err);
        return -1;
    }
    return 0;
}

static PyObject *
handle_get_loop(cl_pyhandle *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->loop);
}

static PyMethodDef handle_methods[] = {
    {"close", (PyCFunction)(void (*)(void))handle_close, METH_VARARGS | METH_KEYWORDS,
     "close(callback=None)\n--\n\n"
     "Close the handle: it stops at once, and callback(handle) runs from\n"
     "Loop.run once libuv has let go of it.  Every later use raises\n"
     "HandleClosedError."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef handle_getset[] = {
    {"active", (getter)handle_get_active, NULL,
     "True while started (an Async from creation until closed).", NULL},
    {"closed", (getter)handle_get_closed, NULL,
     "True once close() was called (or the loop was closed).", NULL},
    {"ref", (getter)handle_get_ref, (setter)handle_set_ref,
     "Whether the active handle keeps Loop.run going.", NULL},
    {"loop", (getter)handle_get_loop, NULL, "The Loop of the handle.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject cl__uv_handle_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib.uv.Handle",
    .tp_basicsize = sizeof(cl_pyhandle),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The base of every libuv handle type; not instantiable.",
    .tp_dealloc = (destructor)handle_dealloc,
    .tp_traverse = (traverseproc)handle_traverse,
    .tp_clear = (inquiry)handle_clear,
    .tp_weaklistoffset = offsetof(cl_pyhandle, weakreflist),
    .tp_methods = handle_methods,
    .tp_getset = handle_getset,
};
