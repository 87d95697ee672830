/* corolib.asyncio's loop fast path: call_soon and its handles in C.
 *
 * - AioLoopBase: a base class of corolib.asyncio.EventLoop with no
 *   instance layout of its own (it mixes with the stdlib's loop classes),
 *   whose methods replace the loop's per-message Python frames: call_soon,
 *   _call_soon, get_debug and create_future.  They read the loop's own
 *   attributes (_closed, _debug, _ready, _parked) and leave debug mode
 *   (source tracebacks, thread checks) to the stdlib's Python code.
 * - a Handle subclass made at run time by aio_loop_setup() from
 *   asyncio.Handle (so handles are asyncio.Handle instances) whose _run is
 *   C; call_soon fills its slots without running Handle.__init__.
 *
 * Semantics are the stdlib's (asyncio.base_events, asyncio.events).
 */
#include "aio.h"

#include <structmember.h>

/* The loop attributes call_soon reads, kept here rather than in the
 * instance dict (the stdlib's code sets them as usual: these are data
 * descriptors).  NULL until the loop's __init__ sets them. */
typedef struct {
    PyObject_HEAD
    PyObject *ready;  /* _ready: the deque of handles to run */
    PyObject *closed; /* _closed */
    PyObject *debug;  /* _debug */
    PyObject *parked; /* _parked: the loop's greenlet is parked in select() */
} LoopBase;

static PyTypeObject *handle_type; /* the C Handle subclass */
static PyObject *deque_append;    /* collections.deque.append */
static PyObject *future_type;     /* asyncio.Future */
static PyObject *slow_call_soon;  /* slow_call_soon(loop, callback, args, context) */
static PyObject *handle_failed;   /* handle_failed(handle, exc) */
static PyObject *std_handle_run;  /* asyncio.Handle._run */
static PyObject *s_wake, *s_loop_kw;
static Py_ssize_t h_callback = -1, h_args = -1, h_cancelled = -1, h_loop = -1, h_tb = -1,
                  h_repr = -1, h_context = -1;

/* ---- the handle ------------------------------------------------------------- */

static PyObject *
handle_run(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *ctx = CL_AIO_SLOT(self, h_context), *cb = CL_AIO_SLOT(self, h_callback),
             *args = CL_AIO_SLOT(self, h_args), *res, *exc;
    if (ctx == NULL || cb == NULL || args == NULL || !PyTuple_CheckExact(args) ||
        !PyContext_CheckExact(ctx)) {
        /* Not made by call_soon (or changed since): the stdlib's code. */
        return PyObject_CallOneArg(std_handle_run, self);
    }
    Py_INCREF(ctx);
    Py_INCREF(cb);
    Py_INCREF(args);
    if (PyContext_Enter(ctx) < 0) {
        res = NULL;
    }
    else {
        res = PyObject_Vectorcall(cb, &PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args), NULL);
        if (PyContext_Exit(ctx) < 0) {
            Py_CLEAR(res);
        }
    }
    Py_DECREF(ctx);
    Py_DECREF(cb);
    Py_DECREF(args);
    if (res != NULL) {
        Py_DECREF(res);
        Py_RETURN_NONE;
    }
    if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
        PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return NULL;
    }
    exc = cl_err_take();
    res = PyObject_CallFunctionObjArgs(handle_failed, self, exc, NULL);
    Py_DECREF(exc);
    return res;
}

static PyMethodDef handle_methods[] = {
    {"_run", handle_run, METH_NOARGS, "Run the callback in its context; report what it raises."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot handle_slots[] = {
    {Py_tp_doc, "asyncio.Handle, as corolib.asyncio's call_soon makes it (_run in C)."},
    {Py_tp_methods, handle_methods},
    {0, NULL},
};

/* A handle of callback(*args) in context (NULL: a copy of the current one). */
static PyObject *
new_handle(PyObject *loop, PyObject *callback, PyObject *args, PyObject *context)
{
    PyObject *h;
    if (context == NULL || context == Py_None) {
        context = PyContext_CopyCurrent();
        if (context == NULL) {
            return NULL;
        }
    }
    else {
        Py_INCREF(context);
    }
    h = handle_type->tp_alloc(handle_type, 0);
    if (h == NULL) {
        Py_DECREF(context);
        return NULL;
    }
    CL_AIO_SLOT(h, h_callback) = Py_NewRef(callback);
    CL_AIO_SLOT(h, h_args) = Py_NewRef(args);
    CL_AIO_SLOT(h, h_cancelled) = Py_NewRef(Py_False);
    CL_AIO_SLOT(h, h_loop) = Py_NewRef(loop);
    CL_AIO_SLOT(h, h_tb) = Py_NewRef(Py_None);
    CL_AIO_SLOT(h, h_repr) = Py_NewRef(Py_None);
    CL_AIO_SLOT(h, h_context) = context;
    return h;
}

/* ---- the loop's methods ---------------------------------------------------------- */

/* 1 if v (a LoopBase field) is true, 0 if not (or unset), -1 error. */
static inline int
is_true(PyObject *v)
{
    return v == Py_True ? 1 : (v == NULL || v == Py_False || v == Py_None) ? 0 : PyObject_IsTrue(v);
}

/* The common tail of call_soon and _call_soon (debug mode off). */
static PyObject *
schedule(PyObject *loop, PyObject *callback, PyObject *args, PyObject *context)
{
    LoopBase *lb = (LoopBase *)loop;
    PyObject *h, *res, *argv[2];
    int parked;
    if (lb->ready == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the event loop is not initialized");
        return NULL;
    }
    h = new_handle(loop, callback, args, context);
    if (h == NULL) {
        return NULL;
    }
    argv[0] = lb->ready;
    argv[1] = h;
    res = PyObject_Vectorcall(deque_append, argv, 2, NULL);
    if (res == NULL) {
        goto fail;
    }
    Py_DECREF(res);
    if ((parked = is_true(lb->parked)) < 0) {
        goto fail;
    }
    if (parked) {
        res = PyObject_CallMethodNoArgs(loop, s_wake);
        if (res == NULL) {
            goto fail;
        }
        Py_DECREF(res);
    }
    return h;
fail:
    Py_DECREF(h);
    return NULL;
}

static PyObject *
loop_call_soon(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *context = NULL, *cbargs, *res;
    int r;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "call_soon() missing the callback argument");
        return NULL;
    }
    if (kwnames != NULL) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nk; i++) {
            PyObject *k = PyTuple_GET_ITEM(kwnames, i);
            if (!PyUnicode_Check(k) || PyUnicode_CompareWithASCIIString(k, "context") != 0) {
                PyErr_Format(PyExc_TypeError, "call_soon() got an unexpected keyword argument '%S'",
                             k);
                return NULL;
            }
            context = args[nargs + i];
        }
    }
    if ((r = is_true(((LoopBase *)self)->closed)) != 0) {
        if (r > 0) {
            PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        }
        return NULL;
    }
    cbargs = PyTuple_New(nargs - 1);
    if (cbargs == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 1; i < nargs; i++) {
        PyTuple_SET_ITEM(cbargs, i - 1, Py_NewRef(args[i]));
    }
    if ((r = is_true(((LoopBase *)self)->debug)) != 0) {
        if (r < 0) {
            Py_DECREF(cbargs);
            return NULL;
        }
        /* Debug mode: the stdlib's checks and source tracebacks. */
        res = PyObject_CallFunctionObjArgs(slow_call_soon, self, args[0], cbargs,
                                           context != NULL ? context : Py_None, Py_True, NULL);
        Py_DECREF(cbargs);
        return res;
    }
    res = schedule(self, args[0], cbargs, context);
    Py_DECREF(cbargs);
    return res;
}

static PyObject *
loop__call_soon(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int r;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_call_soon(callback, args, context)");
        return NULL;
    }
    if ((r = is_true(((LoopBase *)self)->debug)) != 0 || !PyTuple_Check(args[1])) {
        if (r < 0) {
            return NULL;
        }
        return PyObject_CallFunctionObjArgs(slow_call_soon, self, args[0], args[1], args[2],
                                            Py_False, NULL);
    }
    return schedule(self, args[0], args[1], args[2]);
}

static PyObject *
loop_get_debug(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *v = ((LoopBase *)self)->debug;
    return Py_NewRef(v != NULL ? v : Py_False);
}

static PyObject *
loop_create_future(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *argv[1] = {self};
    return PyObject_Vectorcall(future_type, argv, 0, s_loop_kw);
}

static PyMethodDef loop_methods[] = {
    {"call_soon", (PyCFunction)(void (*)(void))loop_call_soon, METH_FASTCALL | METH_KEYWORDS,
     "call_soon(callback, *args, context=None)\n--\n\n"
     "Arrange for callback(*args) to be called soon, in FIFO order; return its Handle."},
    {"_call_soon", (PyCFunction)(void (*)(void))loop__call_soon, METH_FASTCALL,
     "_call_soon(callback, args, context)\n--\n\nQueue a Handle (no closed check)."},
    {"get_debug", loop_get_debug, METH_NOARGS, "get_debug()\n--\n\nWhether debug mode is on."},
    {"create_future", loop_create_future, METH_NOARGS,
     "create_future()\n--\n\nA new asyncio.Future attached to the loop."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef loop_members[] = {
    {"_ready", T_OBJECT, offsetof(LoopBase, ready), 0, "the handles to run (a deque)"},
    {"_closed", T_OBJECT, offsetof(LoopBase, closed), 0, "close() was called"},
    {"_debug", T_OBJECT, offsetof(LoopBase, debug), 0, "debug mode"},
    {"_parked", T_OBJECT, offsetof(LoopBase, parked), 0,
     "the loop's greenlet is parked in select()"},
    {NULL, 0, 0, 0, NULL},
};

static int
loop_traverse(LoopBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->ready);
    Py_VISIT(self->closed);
    Py_VISIT(self->debug);
    Py_VISIT(self->parked);
    return 0;
}

static int
loop_clear(LoopBase *self)
{
    Py_CLEAR(self->ready);
    Py_CLEAR(self->closed);
    Py_CLEAR(self->debug);
    Py_CLEAR(self->parked);
    return 0;
}

static void
loop_dealloc(LoopBase *self)
{
    PyObject_GC_UnTrack(self);
    loop_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject loop_base_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.AioLoopBase",
    .tp_basicsize = sizeof(LoopBase),
    .tp_dealloc = (destructor)loop_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C methods of corolib.asyncio.EventLoop, and the loop attributes they read.",
    .tp_traverse = (traverseproc)loop_traverse,
    .tp_clear = (inquiry)loop_clear,
    .tp_members = loop_members,
    .tp_methods = loop_methods,
    .tp_new = PyType_GenericNew,
};

static PyObject *
mod_aio_loop_setup(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyType_Spec spec;
    PyObject *bases, *handle_cls;
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "aio_loop_setup(handle_cls, future_cls, slow_call_soon, handle_failed)");
        return NULL;
    }
    if (handle_type != NULL) {
        return Py_NewRef((PyObject *)handle_type);
    }
    handle_cls = args[0];
    if (!PyType_Check(handle_cls)) {
        PyErr_SetString(PyExc_TypeError, "aio_loop_setup(): handle_cls must be a class");
        return NULL;
    }
    h_callback = cl__aio_slot_offset(handle_cls, "_callback");
    h_args = cl__aio_slot_offset(handle_cls, "_args");
    h_cancelled = cl__aio_slot_offset(handle_cls, "_cancelled");
    h_loop = cl__aio_slot_offset(handle_cls, "_loop");
    h_tb = cl__aio_slot_offset(handle_cls, "_source_traceback");
    h_repr = cl__aio_slot_offset(handle_cls, "_repr");
    h_context = cl__aio_slot_offset(handle_cls, "_context");
    if (h_callback < 0 || h_args < 0 || h_cancelled < 0 || h_loop < 0 || h_tb < 0 || h_repr < 0 ||
        h_context < 0) {
        PyErr_SetString(PyExc_TypeError, "aio_loop_setup(): not asyncio.Handle's slots");
        return NULL;
    }
    std_handle_run = PyObject_GetAttrString(handle_cls, "_run");
    if (std_handle_run == NULL) {
        return NULL;
    }
    spec.name = "corolib._core.Handle";
    spec.basicsize = 0; /* the base's: no fields of its own */
    spec.itemsize = 0;
    spec.flags = Py_TPFLAGS_DEFAULT; /* GC support is inherited with the slots */
    spec.slots = handle_slots;
    bases = PyTuple_Pack(1, handle_cls);
    if (bases == NULL) {
        return NULL;
    }
    handle_type = (PyTypeObject *)PyType_FromSpecWithBases(&spec, bases);
    Py_DECREF(bases);
    if (handle_type == NULL) {
        return NULL;
    }
    future_type = Py_NewRef(args[1]);
    slow_call_soon = Py_NewRef(args[2]);
    handle_failed = Py_NewRef(args[3]);
    return Py_NewRef((PyObject *)handle_type);
}

static PyMethodDef aio_loop_module_methods[] = {
    {"aio_loop_setup", (PyCFunction)(void (*)(void))mod_aio_loop_setup, METH_FASTCALL,
     "aio_loop_setup(handle_cls, future_cls, slow_call_soon, handle_failed)\n--\n\n"
     "Make (once) and return the C subclass of handle_cls (asyncio.Handle) that\n"
     "AioLoopBase.call_soon creates; future_cls is what create_future makes,\n"
     "slow_call_soon(loop, callback, args, context, check) schedules in debug mode\n"
     "and handle_failed(handle, exc) reports a callback's exception."},
    {NULL, NULL, 0, NULL},
};

int
cl__aio_loop_ready(PyObject *module)
{
#define INTERN(var, s)                                   \
    if ((var = PyUnicode_InternFromString(s)) == NULL) { \
        return -1;                                       \
    }
    INTERN(s_wake, "_wake");
#undef INTERN
    {
        PyObject *collections = PyImport_ImportModule("collections"), *deque;
        if (collections == NULL) {
            return -1;
        }
        deque = PyObject_GetAttrString(collections, "deque");
        Py_DECREF(collections);
        if (deque == NULL) {
            return -1;
        }
        deque_append = PyObject_GetAttrString(deque, "append");
        Py_DECREF(deque);
        if (deque_append == NULL) {
            return -1;
        }
    }
    if ((s_loop_kw = Py_BuildValue("(s)", "loop")) == NULL) {
        return -1;
    }
    if (PyType_Ready(&loop_base_type) < 0 ||
        PyModule_AddObjectRef(module, "AioLoopBase", (PyObject *)&loop_base_type) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, aio_loop_module_methods);
}
