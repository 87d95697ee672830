/* corolib.uv.Loop: uv_run passes with the GIL released, and the dispatch
 * of recorded events to Python callbacks between them (CPython glue).
 *
 * run(mode) is a sequence of passes.  Each pass is one uv_run(ONCE) (or
 * NOWAIT) during which libuv callbacks only record (uv_handle.c's sink);
 * after it returns, with the GIL held, the queue is dispatched in the
 * order libuv produced the events.  UV_RUN_DEFAULT repeats passes while
 * the loop is alive and stop() was not called.  No Python code ever runs
 * inside uv_run, so callbacks may do anything, including closing handles,
 * starting new ones, or switching greenlets.
 *
 * Exceptions from callbacks: an Exception goes to loop.excepthook(type,
 * value, traceback), or when that is None to sys.excepthook, and the loop
 * carries on; anything else (KeyboardInterrupt, SystemExit, ...) stops the
 * dispatch and propagates out of run(); the events not yet dispatched stay
 * queued for the next run().
 *
 * Invariants:
 *   - `running` is set for the whole of run(); run() and close() refuse to
 *     start while it is set (uv_run is not re-entrant).
 *   - The deferred list is emptied before every uv_run and before the
 *     loop closes, so that no detached memory outlives its loop.
 *   - After close (or GC), every handle object of this loop has mem ==
 *     NULL: each open handle yields exactly one close record, and the
 *     drain consumes them all.
 */
#include "uv_types.h"

int
cl__uv_loop_check(PyObject *loop)
{
    if (!PyObject_TypeCheck(loop, &cl__uv_loop_type)) {
        PyErr_Format(PyExc_TypeError, "loop must be a corolib.uv.Loop, not %s",
                     Py_TYPE(loop)->tp_name);
        return -1;
    }
    if (!cl_loop_is_open(&((cl_pyloop *)loop)->loop)) {
        cl__uv_raise_closed("the loop");
        return -1;
    }
    return 0;
}

/* ---- reporting callback errors ---------------------------------------- */

/* Print `exc` the way an uncaught exception would be (no exception may be
 * set when this is called). */
static void
report_default(PyObject *exc)
{
    PyObject *hook = PySys_GetObject("excepthook"); /* borrowed */
    PyObject *tb = PyException_GetTraceback(exc);
    PyObject *type = (PyObject *)Py_TYPE(exc);
    PyObject *res = NULL;
    if (hook != NULL && hook != Py_None) {
        res = PyObject_CallFunctionObjArgs(hook, type, exc, tb != NULL ? tb : Py_None, NULL);
        if (res == NULL) {
            PyErr_Clear();
        }
    }
    if (res == NULL) {
        PyErr_Display(type, exc, tb != NULL ? tb : Py_None);
    }
    Py_XDECREF(res);
    Py_XDECREF(tb);
}

int
cl__uv_callback_error(cl_pyloop *loop)
{
    PyObject *exc, *hook, *tb, *res, *hook_exc;
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return -1; /* KeyboardInterrupt, SystemExit...: propagate */
    }
    exc = cl_err_take();
    if (loop->excepthook == NULL) {
        report_default(exc);
        Py_DECREF(exc);
        return 0;
    }
    hook = Py_NewRef(loop->excepthook);
    tb = PyException_GetTraceback(exc);
    res = PyObject_CallFunctionObjArgs(hook, (PyObject *)Py_TYPE(exc), exc,
                                       tb != NULL ? tb : Py_None, NULL);
    Py_XDECREF(tb);
    Py_DECREF(hook);
    if (res != NULL) {
        Py_DECREF(res);
        Py_DECREF(exc);
        return 0;
    }
    /* The hook failed: the original error must not be lost with it. */
    hook_exc = cl_err_take();
    report_default(exc);
    Py_DECREF(exc);
    if (!PyObject_TypeCheck(hook_exc, (PyTypeObject *)PyExc_Exception)) {
        cl_err_give(hook_exc);
        return -1;
    }
    report_default(hook_exc);
    Py_DECREF(hook_exc);
    return 0;
}

/* ---- dispatch --------------------------------------------------------- */

static int
call_one(cl_pyloop *loop, PyObject *cb, cl_pyhandle *h, const cl_pend *pend)
{
    PyObject *res;
    if (h->kind == CL_UVK_POLL && pend != NULL) {
        if (pend->status < 0) {
            res = PyObject_CallFunction(cb, "Oii", (PyObject *)h, 0, -pend->status);
        }
        else {
            res = PyObject_CallFunction(cb, "OiO", (PyObject *)h, pend->events, Py_None);
        }
    }
    else {
        res = PyObject_CallOneArg(cb, (PyObject *)h);
    }
    if (res == NULL) {
        return cl__uv_callback_error(loop);
    }
    Py_DECREF(res);
    return 0;
}

static int
dispatch_fire(cl_pyloop *loop, cl_pyhandle *h, const cl_pend *pend)
{
    /* A timer that expired more than once in a pass (a short repeat and a
     * slow dispatch) runs once per expiry, unless a callback restarted,
     * stopped or closed it in between. */
    unsigned int n = h->kind == CL_UVK_TIMER ? pend->count : 1;
    unsigned int gen = h->gen;
    for (unsigned int i = 0; i < n; i++) {
        PyObject *cb = h->callback;
        int r;
        if (cb == NULL || h->gen != gen || h->mem == NULL || h->closing) {
            break;
        }
        Py_INCREF(cb);
        r = call_one(loop, cb, h, pend);
        Py_DECREF(cb);
        if (r < 0) {
            return -1;
        }
    }
    return 0;
}

/* Dispatch the queue.  With `closed` (the loop was just closed) events
 * other than close completions are dropped, every close callback runs
 * (if `call`), and an exception to propagate is raised at the end rather
 * than stopping the drain: every handle must see its close completed. */
static int
dispatch(cl_pyloop *loop, int closed, int call)
{
    PyObject *propagate = NULL;
    cl_pyhandle *h;
    cl_pend pend;
    while ((h = cl__uv_queue_pop(loop, &pend)) != NULL) {
        int r = 0;
        Py_INCREF(h);
        if (pend.closed) {
            PyObject *cb = cl__uv_handle_finish_close(h);
            if (cb != NULL) {
                r = call ? call_one(loop, cb, h, NULL) : 0;
                Py_DECREF(cb);
            }
        }
        else if (!closed) {
            r = dispatch_fire(loop, h, &pend);
        }
        cl__uv_handle_sync(h);
        Py_DECREF(h);
        if (r < 0) {
            if (!closed) {
                return -1;
            }
            if (propagate == NULL) {
                propagate = cl_err_take();
            }
            else {
                PyObject *exc = cl_err_take();
                report_default(exc);
                Py_DECREF(exc);
            }
        }
    }
    if (propagate != NULL) {
        cl_err_give(propagate);
        return -1;
    }
    return 0;
}

static void
close_deferred(cl_pyloop *self)
{
    while (self->deferred != NULL) {
        cl_uvmem *mem = self->deferred;
        self->deferred = mem->deferred_next;
        cl_handle_close(CL_UVMEM_HANDLE(mem)); /* detached: the sink frees */
    }
}

/* Close the C loop and complete every handle; `call`: run the close
 * callbacks that were asked for. */
static int
loop_close_impl(cl_pyloop *self, int call)
{
    int err;
    if (!cl_loop_is_open(&self->loop)) {
        return 0;
    }
    close_deferred(self);
    err = cl_loop_close(&self->loop, NULL);
    if (err < 0) {
        cl__uv_raise(err);
        return -1;
    }
    return dispatch(self, 1, call);
}

/* ---- methods ---------------------------------------------------------- */

static int
loop_usable(cl_pyloop *self)
{
    if (!cl_loop_is_open(&self->loop)) {
        cl__uv_raise_closed("the loop");
        return -1;
    }
    if (self->in_uv_run) {
        PyErr_SetString(PyExc_RuntimeError, "the loop is running in another thread");
        return -1;
    }
    return 0;
}

static PyObject *
loop_run(cl_pyloop *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"mode", NULL};
    int mode = UV_RUN_DEFAULT;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|i:run", kwlist, &mode)) {
        return NULL;
    }
    if (mode != UV_RUN_DEFAULT && mode != UV_RUN_ONCE && mode != UV_RUN_NOWAIT) {
        PyErr_Format(PyExc_ValueError,
                     "mode must be UV_RUN_DEFAULT, UV_RUN_ONCE or "
                     "UV_RUN_NOWAIT, not %d",
                     mode);
        return NULL;
    }
    if (loop_usable(self) < 0) {
        return NULL;
    }
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "the loop is already running");
        return NULL;
    }
    self->running = 1;
    for (;;) {
        uv_run_mode pass = mode == UV_RUN_NOWAIT || self->stop ? UV_RUN_NOWAIT : UV_RUN_ONCE;
        int r;
        close_deferred(self);
        self->in_uv_run = 1;
        Py_BEGIN_ALLOW_THREADS
            r = cl_loop_run(&self->loop, pass);
        Py_END_ALLOW_THREADS
        self->in_uv_run = 0;
        close_deferred(self);
        if (r < 0) {
            cl__uv_raise(r);
            goto fail;
        }
        if (PyErr_CheckSignals() < 0 || dispatch(self, 0, 1) < 0) {
            goto fail;
        }
        if (self->stop) {
            self->stop = 0;
            break;
        }
        if (mode != UV_RUN_DEFAULT || !cl_loop_alive(&self->loop)) {
            break;
        }
    }
    self->running = 0;
    return PyBool_FromLong(cl_loop_alive(&self->loop));
fail:
    self->running = 0;
    return NULL;
}

static PyObject *
loop_stop(cl_pyloop *self, PyObject *Py_UNUSED(ignored))
{
    if (cl_loop_is_open(&self->loop)) {
        self->stop = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *
loop_now(cl_pyloop *self, PyObject *Py_UNUSED(ignored))
{
    if (loop_usable(self) < 0) {
        return NULL;
    }
    return PyFloat_FromDouble((double)cl_loop_now(&self->loop) / 1e3);
}

static PyObject *
loop_update_time(cl_pyloop *self, PyObject *Py_UNUSED(ignored))
{
    if (loop_usable(self) < 0) {
        return NULL;
    }
    cl_loop_update_time(&self->loop);
    Py_RETURN_NONE;
}

static PyObject *
loop_close(cl_pyloop *self, PyObject *Py_UNUSED(ignored))
{
    if (self->running || self->in_uv_run) {
        PyErr_SetString(PyExc_RuntimeError, "cannot close a running loop");
        return NULL;
    }
    if (loop_close_impl(self, 1) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
loop_get_alive(cl_pyloop *self, void *Py_UNUSED(closure))
{
    if (!cl_loop_is_open(&self->loop)) {
        Py_RETURN_FALSE;
    }
    if (loop_usable(self) < 0) {
        return NULL;
    }
    return PyBool_FromLong(cl_loop_alive(&self->loop));
}

static PyObject *
loop_get_closed(cl_pyloop *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(!cl_loop_is_open(&self->loop));
}

static PyObject *
loop_get_excepthook(cl_pyloop *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->excepthook != NULL ? self->excepthook : Py_None);
}

static int
loop_set_excepthook(cl_pyloop *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value != NULL && value != Py_None && cl__uv_check_callable(value, "excepthook") < 0) {
        return -1;
    }
    Py_XINCREF(value == Py_None ? NULL : value);
    Py_XSETREF(self->excepthook, value == Py_None ? NULL : value);
    return 0;
}

/* ---- slots ------------------------------------------------------------ */

static PyObject *
loop_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    cl_pyloop *self;
    int err;
    if (!PyArg_ParseTuple(args, ":Loop") ||
        (kwds != NULL && !PyArg_ValidateKeywordArguments(kwds))) {
        return NULL;
    }
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "Loop() takes no arguments");
        return NULL;
    }
    self = (cl_pyloop *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    err = cl_loop_init(&self->loop);
    if (err < 0) {
        Py_DECREF(self);
        return cl__uv_raise(err);
    }
    self->loop.data = self;
    return (PyObject *)self;
}

static int
loop_traverse(cl_pyloop *self, visitproc visit, void *arg)
{
    Py_VISIT(self->excepthook);
    for (cl_pyhandle *h = self->khead; h != NULL; h = h->knext) {
        Py_VISIT(h);
    }
    return 0;
}

static int
loop_clear(cl_pyloop *self)
{
    if (loop_close_impl(self, 0) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    Py_CLEAR(self->excepthook);
    return 0;
}

/* An unclosed loop that becomes garbage is closed here, with its close
 * callbacks, after a ResourceWarning (as asyncio does). */
static void
loop_finalize(cl_pyloop *self)
{
    PyObject *saved;
    if (!cl_loop_is_open(&self->loop) || self->running) {
        return;
    }
    saved = cl_err_take();
    if (PyErr_ResourceWarning((PyObject *)self, 1, "unclosed loop %R", (PyObject *)self) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    if (loop_close_impl(self, 1) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    cl_err_give(saved);
}

static void
loop_dealloc(cl_pyloop *self)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return; /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    loop_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef loop_methods[] = {
    {"run", (PyCFunction)(void (*)(void))loop_run, METH_VARARGS | METH_KEYWORDS,
     "run(mode=UV_RUN_DEFAULT)\n--\n\n"
     "Run the loop and call the callbacks of what happened.\n\n"
     "UV_RUN_DEFAULT: until no active ref'd handle is left, or stop().\n"
     "UV_RUN_ONCE: one pass, blocking for I/O if nothing is pending.\n"
     "UV_RUN_NOWAIT: one pass without blocking.\n"
     "Returns whether work remains.  The GIL is released while waiting."},
    {"stop", (PyCFunction)loop_stop, METH_NOARGS,
     "stop()\n--\n\n"
     "Make run() return after the current pass; if the loop is not\n"
     "running, the next run() makes one non-blocking pass and returns."},
    {"now", (PyCFunction)loop_now, METH_NOARGS,
     "now()\n--\n\n"
     "The loop's cached time in seconds (millisecond resolution),\n"
     "refreshed at the start of each iteration."},
    {"update_time", (PyCFunction)loop_update_time, METH_NOARGS,
     "update_time()\n--\n\nRefresh the cached time now."},
    {"close", (PyCFunction)loop_close, METH_NOARGS,
     "close()\n--\n\n"
     "Close every handle (their close callbacks run), then the loop.\n"
     "Later uses raise HandleClosedError; closing again does nothing."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef loop_getset[] = {
    {"alive", (getter)loop_get_alive, NULL,
     "True while active ref'd handles (or closing handles) remain.", NULL},
    {"closed", (getter)loop_get_closed, NULL, "True once closed.", NULL},
    {"excepthook", (getter)loop_get_excepthook, (setter)loop_set_excepthook,
     "Called as excepthook(type, value, traceback) when a callback\n"
     "raises an Exception; None (the default) reports it with\n"
     "sys.excepthook.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject cl__uv_loop_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib.uv.Loop",
    .tp_basicsize = sizeof(cl_pyloop),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Loop()\n--\n\nAn event loop with its own uv_loop_t.",
    .tp_new = loop_new,
    .tp_dealloc = (destructor)loop_dealloc,
    .tp_finalize = (destructor)loop_finalize,
    .tp_traverse = (traverseproc)loop_traverse,
    .tp_clear = (inquiry)loop_clear,
    .tp_weaklistoffset = offsetof(cl_pyloop, weakreflist),
    .tp_methods = loop_methods,
    .tp_getset = loop_getset,
};
