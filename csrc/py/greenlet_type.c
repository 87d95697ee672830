/* The greenlet type: slots, methods and attributes.  Argument checking and
 * CPython glue only; the switching itself is in core/greenlet.c. */
#include "../cl_internal.h"

/* ---- helpers ---------------------------------------------------------- */

/* The thread whose current greenlet `g` is, or NULL if it is not running
 * anywhere. */
static cl_thread *
running_thread(cl_greenlet *g)
{
    cl_greenlet *main = CL_G_IS_MAIN(g) ? g : g->main;
    if (!CL_G_ACTIVE(g) || main == NULL || main->thread == NULL) {
        return NULL;
    }
    return main->thread->current == g ? main->thread : NULL;
}

/* True once the thread `g` belongs to has exited. */
static int
thread_exited(cl_greenlet *g)
{
    if (CL_G_IS_MAIN(g)) {
        return g->thread == NULL;
    }
    return CL_G_STARTED(g) && g->main != NULL && g->main->thread == NULL;
}

static int
set_parent(cl_greenlet *self, PyObject *value)
{
    cl_greenlet *p;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "can't delete attribute");
        return -1;
    }
    if (!CL_GREENLET_CHECK(value)) {
        PyErr_Format(PyExc_TypeError, "GreenletChecker: Expected any type of greenlet, not %s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    if (CL_G_IS_MAIN(self)) {
        PyErr_SetString(PyExc_AttributeError, "cannot set the parent of a main greenlet");
        return -1;
    }
    for (p = (cl_greenlet *)value; p != NULL; p = p->parent) {
        if (p == self) {
            PyErr_SetString(PyExc_ValueError, "cyclic parent chain");
            return -1;
        }
    }
    p = (cl_greenlet *)value;
    if (cl__find_main(p) == NULL) {
        PyErr_SetString(PyExc_ValueError, "parent must not be garbage collected");
        return -1;
    }
    if (CL_G_STARTED(self) && cl__find_main(p) != self->main) {
        PyErr_SetString(PyExc_ValueError, "parent cannot be on a different thread");
        return -1;
    }
    Py_INCREF(value);
    Py_XSETREF(self->parent, p);
    return 0;
}

/* ---- construction and destruction ------------------------------------ */

static PyObject *empty_tuple;

static PyObject *
green_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    cl_thread *ts = cl__thread();
    cl_greenlet *self;
    (void)args;
    (void)kwds;
    if (ts == NULL) {
        return NULL;
    }
    /* object.__new__ keeps abstract-method checks working for subclasses,
     * but on 3.11 it also gives every instance an empty __dict__ (64 bytes
     * and one more object for the collector per task): only abstract
     * classes go through it, the rest get their __dict__ when one is set. */
    if (CL_UNLIKELY(type->tp_flags & Py_TPFLAGS_IS_ABSTRACT)) {
        self = (cl_greenlet *)PyBaseObject_Type.tp_new(type, empty_tuple, NULL);
    }
    else {
        self = (cl_greenlet *)type->tp_alloc(type, 0);
    }
    if (self == NULL) {
        return NULL;
    }
    self->parent = (cl_greenlet *)Py_NewRef(ts->current);
    return (PyObject *)self;
}

static int
green_init(cl_greenlet *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"run", "parent", NULL};
    PyObject *run = NULL, *parent = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:greenlet", kwlist, &run, &parent)) {
        return -1;
    }
    if (run != NULL) {
        if (CL_G_STARTED(self)) {
            PyErr_SetString(PyExc_AttributeError,
                            "run cannot be set after the start of the greenlet");
            return -1;
        }
        /* Anything goes, as in greenlet: a run that cannot be called
         * fails at the first switch, in the new greenlet. */
        Py_INCREF(run);
        Py_XSETREF(self->run, run);
        self->flags |= CL_G_HAS_RUN;
    }
    if (parent != NULL && parent != Py_None && set_parent(self, parent) < 0) {
        return -1;
    }
    return 0;
}

static int
green_traverse(cl_greenlet *self, visitproc visit, void *arg)
{
    /* A suspended greenlet is opaque to the collector: its frames hold
     * references we cannot show it, so everything it refers to counts as
     * reachable.  That keeps the collector from ever tearing down objects
     * a suspended greenlet could still use when it is killed. */
    if (CL_G_ACTIVE(self) && !thread_exited(self)) {
        return 0;
    }
    Py_VISIT(self->dict);
    Py_VISIT(self->parent);
    Py_VISIT(self->main);
    Py_VISIT(self->run);
    Py_VISIT(self->sw_args);
    Py_VISIT(self->sw_kwargs);
    return cl_pystate_traverse(&self->pystate, visit, arg);
}

static int
green_clear(cl_greenlet *self)
{
    if (CL_G_ACTIVE(self) && !thread_exited(self)) {
        return 0;
    }
    Py_CLEAR(self->dict);
    Py_CLEAR(self->parent);
    Py_CLEAR(self->main);
    Py_CLEAR(self->run);
    Py_CLEAR(self->sw_args);
    Py_CLEAR(self->sw_kwargs);
    cl_pystate_clear_refs(&self->pystate);
    return 0;
}

/* PEP 442 finalizer: a suspended greenlet is being freed (last reference,
 * or garbage found by the collector): kill it so its finally blocks run. */
static void
green_finalize(cl_greenlet *self)
{
    cl_thread *ts;
    if (!CL_G_ACTIVE(self) || CL_G_IS_MAIN(self) || thread_exited(self) || cl_is_finalizing()) {
        return;
    }
    ts = cl__tls_thread;
    if (ts != NULL && self->main == ts->main) {
        cl__kill_released(ts, self);
        return;
    }
    /* It lives on another thread: that thread must do the killing. */
    {
        PyObject *pending = cl_err_take();
        if (cl__thread_defer_release(self) < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        cl_err_give(pending);
    }
}

/* The first step of every greenlet type's tp_dealloc: kill a suspended
 * greenlet (its finally blocks run).  Returns -1 if it was resurrected --
 * queued for its own thread, or it kept a reference to itself -- and the
 * caller must return at once without touching anything.
 *
 * The PEP 442 finalizer runs only once per object.  A greenlet that was
 * resurrected once and loses its last reference again is killed here by
 * hand, with the same temporary resurrection CPython's finalizer call
 * uses. */
int
cl__greenlet_release(PyObject *op)
{
    cl_greenlet *self = (cl_greenlet *)op;
    cl_thread *ts;
    Py_ssize_t refcnt;
    if (PyObject_CallFinalizerFromDealloc(op) < 0) {
        return -1;
    }
    ts = cl__tls_thread;
    if (!CL_G_ACTIVE(self) || CL_G_IS_MAIN(self) || thread_exited(self) || cl_is_finalizing() ||
        ts == NULL || self->main != ts->main || (self->flags & CL_G_REFUSED)) {
        return 0;
    }
    Py_SET_REFCNT(op, 1);
    cl__kill_released(ts, self);
    refcnt = Py_REFCNT(op) - 1;
    if (refcnt == 0) {
        Py_SET_REFCNT(op, 0);
        return 0;
    }
    /* Resurrected again: as if the last decref never happened. */
    _Py_NewReference(op);
    Py_SET_REFCNT(op, refcnt);
    if (Py_TYPE(op)->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        /* subtype_dealloc drops a reference to the type after we return */
        Py_INCREF(Py_TYPE(op));
    }
    return -1;
}

static void
green_dealloc(cl_greenlet *self)
{
    if (cl__greenlet_release((PyObject *)self) < 0) {
        return;
    }
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    if (CL_G_ACTIVE(self) && !CL_G_IS_MAIN(self)) {
        cl__forget(self); /* could not be killed: see cl__forget */
    }
    else {
#ifdef CL_PY311
        /* A main greenlet's data stack is its thread's, freed by CPython. */
        if (!CL_G_IS_MAIN(self)) {
            PyMem_RawFree(cl_pystate_take_chunks(&self->pystate));
        }
#endif
#ifdef CL_PY312
        cl_fixups_free(&self->pystate.fixups);
#endif
        cl__stack_free(&self->stack);
    }
    Py_CLEAR(self->dict);
    Py_CLEAR(self->parent);
    Py_CLEAR(self->main);
    Py_CLEAR(self->run);
    Py_CLEAR(self->sw_args);
    Py_CLEAR(self->sw_kwargs);
    cl_pystate_clear_refs(&self->pystate);
    if (CL_G_IS_MAIN(self)) {
        cl__total_main_greenlets--;
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- methods ---------------------------------------------------------- */

static PyObject *
green_switch(cl_greenlet *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    cl_thread *ts = cl__thread();
    PyObject *targs, *kwargs = NULL;
    Py_ssize_t i, nkw;
    if (ts == NULL) {
        return NULL;
    }
    targs = PyTuple_New(nargs);
    if (targs == NULL) {
        return NULL;
    }
    for (i = 0; i < nargs; i++) {
        PyTuple_SET_ITEM(targs, i, Py_NewRef(args[i]));
    }
    if (kwnames != NULL && (nkw = PyTuple_GET_SIZE(kwnames)) > 0) {
        kwargs = PyDict_New();
        if (kwargs == NULL) {
            Py_DECREF(targs);
            return NULL;
        }
        for (i = 0; i < nkw; i++) {
            if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
                Py_DECREF(targs);
                Py_DECREF(kwargs);
                return NULL;
            }
        }
    }
    return cl__switch_to(ts, self, targs, kwargs);
}

/* Build the exception instance for throw(typ, val, tb), with `raise`'s
 * rules.  New reference, or NULL with TypeError. */
static PyObject *
make_exception(PyObject *typ, PyObject *val, PyObject *tb)
{
    PyObject *exc;
    if (tb == Py_None) {
        tb = NULL;
    }
    else if (tb != NULL && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError, "throw() third argument must be a traceback object");
        return NULL;
    }
    if (PyExceptionClass_Check(typ)) {
        if (val != NULL && val != Py_None && PyObject_TypeCheck(val, (PyTypeObject *)typ)) {
            exc = Py_NewRef(val);
        }
        else if (val == NULL || val == Py_None) {
            exc = PyObject_CallNoArgs(typ);
        }
        else if (PyTuple_Check(val)) {
            exc = PyObject_Call(typ, val, NULL);
        }
        else {
            exc = PyObject_CallOneArg(typ, val);
        }
        if (exc == NULL) {
            return NULL;
        }
        if (!PyExceptionInstance_Check(exc)) {
            PyErr_Format(PyExc_TypeError,
                         "calling %R should have returned an instance of "
                         "BaseException, not %s",
                         typ, Py_TYPE(exc)->tp_name);
            Py_DECREF(exc);
            return NULL;
        }
    }
    else if (PyExceptionInstance_Check(typ)) {
        if (val != NULL && val != Py_None) {
            PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
            return NULL;
        }
        exc = Py_NewRef(typ);
    }
    else {
        PyErr_Format(PyExc_TypeError, "exceptions must be classes, or instances, not %s",
                     Py_TYPE(typ)->tp_name);
        return NULL;
    }
    if (tb != NULL && PyException_SetTraceback(exc, tb) < 0) {
        Py_DECREF(exc);
        return NULL;
    }
    return exc;
}

static PyObject *
green_throw(cl_greenlet *self, PyObject *args)
{
    PyObject *typ = cl__GreenletExit, *val = NULL, *tb = NULL, *exc;
    cl_thread *ts;
    if (!PyArg_ParseTuple(args, "|OOO:throw", &typ, &val, &tb)) {
        return NULL;
    }
    ts = cl__thread();
    if (ts == NULL) {
        return NULL;
    }
    exc = make_exception(typ, val, tb);
    if (exc == NULL) {
        return NULL;
    }
    return cl__throw_into(ts, self, exc);
}

static PyObject *
green_getstate(cl_greenlet *self, PyObject *Py_UNUSED(ignored))
{
    PyErr_Format(PyExc_TypeError, "cannot serialize '%s' object", Py_TYPE(self)->tp_name);
    return NULL;
}

static PyMethodDef green_methods[] = {
    {"switch", (PyCFunction)(void (*)(void))green_switch, METH_FASTCALL | METH_KEYWORDS,
     "switch(*args, **kwargs)\n--\n\n"
     "Switch to this greenlet.  If it has not started, it starts with\n"
     "``run(*args, **kwargs)``; otherwise its pending switch() returns the\n"
     "arguments (one positional as itself, several as a tuple).  Returns\n"
     "what is switched back to the caller later."},
    {"throw", (PyCFunction)green_throw, METH_VARARGS,
     "throw(typ=GreenletExit, val=None, tb=None)\n--\n\n"
     "Switch to this greenlet and raise the exception there at once.\n"
     "A greenlet that never started dies without running."},
    {"__getstate__", (PyCFunction)green_getstate, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* ---- attributes ------------------------------------------------------- */

static PyObject *
green_get_run(cl_greenlet *self, void *c)
{
    (void)c;
    if (CL_G_STARTED(self) || self->run == NULL) {
        PyErr_SetString(PyExc_AttributeError, "run");
        return NULL;
    }
    return Py_NewRef(self->run);
}

static int
green_set_run(cl_greenlet *self, PyObject *value, void *c)
{
    (void)c;
    if (CL_G_STARTED(self)) {
        PyErr_SetString(PyExc_AttributeError, "run cannot be set after the start of the greenlet");
        return -1;
    }
    Py_XINCREF(value);
    Py_XSETREF(self->run, value);
    return 0;
}

static PyObject *
green_get_parent(cl_greenlet *self, void *c)
{
    (void)c;
    if (self->parent == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(self->parent);
}

static int
green_set_parent(cl_greenlet *self, PyObject *value, void *c)
{
    (void)c;
    return set_parent(self, value);
}

static PyObject *
green_get_dead(cl_greenlet *self, void *c)
{
    (void)c;
    if (thread_exited(self)) {
        Py_RETURN_TRUE;
    }
    return PyBool_FromLong(CL_G_STARTED(self) && !CL_G_ACTIVE(self));
}

static int
green_bool(cl_greenlet *self)
{
    return CL_G_ACTIVE(self) && !thread_exited(self);
}

static PyObject *
green_get_frame(cl_greenlet *self, void *c)
{
    PyObject *frame;
    (void)c;
    if (!CL_G_ACTIVE(self) || thread_exited(self) || running_thread(self) != NULL) {
        Py_RETURN_NONE;
    }
    frame = cl_pystate_frame(&self->pystate, PyThreadState_GET());
    if (frame == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    return frame;
}

static PyObject *
green_get_context(cl_greenlet *self, void *c)
{
    cl_thread *running = running_thread(self);
    PyObject *ctx;
    (void)c;
    if (running != NULL) {
        if (running != cl__tls_thread) {
            PyErr_SetString(PyExc_ValueError, "cannot get context of a greenlet that is "
                                              "running in a different thread");
            return NULL;
        }
        ctx = running->tstate->context;
    }
    else {
        ctx = self->pystate.context;
    }
    if (ctx == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(ctx);
}

static int
green_set_context(cl_greenlet *self, PyObject *value, void *c)
{
    cl_thread *running = running_thread(self);
    (void)c;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "can't delete context attribute");
        return -1;
    }
    if (value == Py_None) {
        value = NULL;
    }
    else if (!PyContext_CheckExact(value)) {
        PyErr_SetString(PyExc_TypeError, "greenlet context must be a contextvars.Context "
                                         "or None");
        return -1;
    }
    Py_XINCREF(value);
    if (running != NULL) {
        PyThreadState *tstate;
        if (running != cl__tls_thread) {
            Py_XDECREF(value);
            PyErr_SetString(PyExc_ValueError, "cannot set context of a greenlet that is "
                                              "running in a different thread");
            return -1;
        }
        tstate = running->tstate;
        Py_XSETREF(tstate->context, value);
        tstate->context_ver++;
    }
    else {
        Py_XSETREF(self->pystate.context, value);
    }
    return 0;
}

static PyObject *
green_get_stack_saved(cl_greenlet *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(self->stack.saved);
}

/* (bytes of data-stack chunks held, bytes of them in use) of a suspended
 * greenlet: what its Python frames cost while it is parked (3.11+). */
static PyObject *
green_get_data_stack(cl_greenlet *self, void *c)
{
    size_t held = 0, used = 0;
    (void)c;
    (void)self;
#ifdef CL_PY311
    cl_thread *ts = cl__tls_thread;
    /* Only this thread's suspended greenlets: a running one's saved state
     * is stale. */
    if (ts != NULL && CL_G_ACTIVE(self) && self != ts->current && self->main == ts->main) {
        const _PyStackChunk *ch = self->pystate.datastack_chunk;
        if (ch != NULL) {
            used = (size_t)((char *)self->pystate.datastack_top - (char *)ch);
        }
        for (; ch != NULL; ch = ch->previous) {
            held += ch->size;
            if (ch != self->pystate.datastack_chunk) {
                used += ch->top * sizeof(PyObject *) + offsetof(_PyStackChunk, data);
            }
        }
    }
#endif
    return Py_BuildValue("(nn)", (Py_ssize_t)held, (Py_ssize_t)used);
}

static PyGetSetDef green_getsets[] = {
    {"run", (getter)green_get_run, (setter)green_set_run,
     "The callable the greenlet starts with (only before it starts).", NULL},
    {"parent", (getter)green_get_parent, (setter)green_set_parent,
     "The greenlet that gets control, and run's result, when this one ends.", NULL},
    {"dead", (getter)green_get_dead, NULL,
     "True once the greenlet has finished (or its thread has exited).", NULL},
    {"gr_frame", (getter)green_get_frame, NULL,
     "The innermost frame of a suspended greenlet, else None.", NULL},
    {"gr_context", (getter)green_get_context, (setter)green_set_context,
     "The contextvars.Context the greenlet runs in (None: a fresh one).", NULL},
    {"_stack_saved", (getter)green_get_stack_saved, NULL,
     "Bytes of this greenlet's C stack currently copied to the heap.", NULL},
    {"_data_stack", (getter)green_get_data_stack, NULL,
     "(bytes held, bytes used) of a suspended greenlet's data-stack chunks.", NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ---- repr ------------------------------------------------------------- */

static PyObject *
green_repr(cl_greenlet *self)
{
    const char *tp_name = Py_TYPE(self)->tp_name;
    cl_greenlet *main = cl__find_main(self);
    void *otid = main != NULL ? (void *)main->thread : NULL;
    if (thread_exited(self)) {
        return PyUnicode_FromFormat("<%s object at %p (otid=%p) (thread "
                                    "exited) dead>",
                                    tp_name, self, otid);
    }
    if (CL_G_ACTIVE(self)) {
        return PyUnicode_FromFormat("<%s object at %p (otid=%p)%s active started%s>", tp_name, self,
                                    otid, running_thread(self) != NULL ? " current" : " suspended",
                                    CL_G_IS_MAIN(self) ? " main" : "");
    }
    return PyUnicode_FromFormat("<%s object at %p (otid=%p) %s>", tp_name, self, otid,
                                CL_G_STARTED(self) ? "dead" : "pending");
}

static PyNumberMethods green_as_number = {
    .nb_bool = (inquiry)green_bool,
};

PyTypeObject cl__greenlet_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib.greenlet.greenlet",
    .tp_basicsize = sizeof(cl_greenlet),
    .tp_dealloc = (destructor)green_dealloc,
    .tp_repr = (reprfunc)green_repr,
    .tp_as_number = &green_as_number,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "greenlet(run=None, parent=None)\n--\n\n"
              "A micro-thread: a function call that can be suspended and\n"
              "resumed by switching, sharing the C stack with the others.",
    .tp_traverse = (traverseproc)green_traverse,
    .tp_clear = (inquiry)green_clear,
    .tp_weaklistoffset = offsetof(cl_greenlet, weakreflist),
    .tp_methods = green_methods,
    .tp_getset = green_getsets,
    .tp_dictoffset = offsetof(cl_greenlet, dict),
    .tp_init = (initproc)green_init,
    .tp_new = green_new,
    .tp_finalize = (destructor)green_finalize,
};

int
cl__greenlet_type_ready(PyObject *module)
{
    (void)module;
    empty_tuple = PyTuple_New(0);
    if (empty_tuple == NULL) {
        return -1;
    }
    return PyType_Ready(&cl__greenlet_type);
}
