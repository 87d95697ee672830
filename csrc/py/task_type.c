/* Task: the compiled base of corolib.Greenlet.
 *
 * The hot paths of a task -- construct, start, run, finish, join, get,
 * kill -- live here so that spawning and joining costs a few hundred
 * nanoseconds of C instead of microseconds of Python.  The Python subclass
 * (corolib/hub/_greenlet.py) adds links, names and repr.
 *
 * A task's parent is its hub.  Its state, beyond the greenlet's own:
 *   STARTED    start() or start_later() was called
 *   CANCELLED  killed before it ran: it never will
 *   READY      finished: value or exception is final
 * Joiners park on the task's own list and are woken, oldest first, when it
 * is ready.  Links (a Python list in `_links`) are notified by calling the
 * subclass's `_notify_links` from the hub.  join(), get() and the `_links`
 * record are in task_links.c (task.h: what the two files share).
 */
#include "task.h"

/* self->x, allocated if needed; NULL with MemoryError. */
cl_task_extra *
cl__task_extra(cl_task *self)
{
    if (self->x == NULL) {
        self->x = PyMem_Calloc(1, sizeof(cl_task_extra));
        if (self->x == NULL) {
            PyErr_NoMemory();
        }
    }
    return self->x;
}

static PyObject *Greenlet_class; /* corolib.Greenlet, what spawn() makes */
static PyObject *spawn_hook;     /* called with each task started, or NULL */

/* Greenlet.add_spawn_callback's callbacks, before a task is started. */
static int
call_spawn_hook(cl_task *self)
{
    PyObject *r;
    if (spawn_hook == NULL) {
        return 0;
    }
    r = PyObject_CallOneArg(spawn_hook, (PyObject *)self);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* ---- construction --------------------------------------------------------- */

static PyObject *
task_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    cl_hub *hub = cl__hub_get();
    cl_task *self;
    (void)args;
    (void)kwds;
    if (hub == NULL) {
        return NULL;
    }
    self = (cl_task *)cl__greenlet_type.tp_new(type, cl__empty_tuple, NULL);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(hub);
    Py_XSETREF(self->g.parent, &hub->g);
    self->hub = (cl_hub *)Py_NewRef((PyObject *)hub);
    self->args = Py_NewRef(cl__empty_tuple);
    self->value = Py_NewRef(Py_None);
    /* For run info's spawn tree.  A weak reference: a chain of greenlets
     * each spawning the next must not keep every ancestor alive.  CPython
     * hands out the same basic weakref for the same spawner, so spawning
     * many from one greenlet costs an incref. */
    self->spawner = PyWeakref_NewRef((PyObject *)hub->ts->current, NULL);
    if (self->spawner == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
task_init(cl_task *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *fn = n > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
    PyObject *run_kw = kwds != NULL ? PyDict_GetItemString(kwds, "run") : NULL;
    if (CL_G_STARTED(&self->g)) {
        /* run() uses fn, args and kwargs without references of its own */
        PyErr_SetString(PyExc_RuntimeError, "cannot re-initialise a Greenlet that has started");
        return -1;
    }
    if (run_kw != NULL) {
        /* Greenlet(run=fn, ...): run is the first parameter, by keyword */
        int r;
        if (n > 0) {
            PyErr_SetString(PyExc_TypeError, "Greenlet() got multiple values for argument 'run'");
            return -1;
        }
        fn = run_kw;
        kwds = PyDict_Copy(kwds);
        if (kwds == NULL) {
            return -1;
        }
        Py_INCREF(fn);
        PyDict_DelItemString(kwds, "run");
        r = task_init(self, args, kwds);
        Py_DECREF(kwds);
        if (r == 0 && fn != Py_None) {
            Py_XSETREF(self->fn, fn);
            fn = NULL;
        }
        Py_XDECREF(fn);
        return r;
    }
    if (fn != Py_None) {
        if (!PyCallable_Check(fn)) {
            PyErr_Format(PyExc_TypeError,
                         "The run argument or self._run must be callable, "
                         "not %R",
                         fn);
            return -1;
        }
        Py_INCREF(fn);
        Py_XSETREF(self->fn, fn);
    }
    else {
        Py_CLEAR(self->fn); /* the subclass's _run, looked up when it runs */
    }
    Py_XSETREF(self->args, n > 1 ? PyTuple_GetSlice(args, 1, n) : Py_NewRef(cl__empty_tuple));
    if (self->args == NULL) {
        return -1;
    }
    if (kwds != NULL && PyDict_GET_SIZE(kwds) > 0) {
        PyObject *copy;
        if (cl__task_extra(self) == NULL || (copy = PyDict_Copy(kwds)) == NULL) {
            return -1;
        }
        Py_XSETREF(self->x->kwargs, copy);
    }
    else if (self->x != NULL) {
        Py_CLEAR(self->x->kwargs);
    }
    return 0;
}

static int
task_traverse(cl_task *self, visitproc visit, void *arg)
{
    if (!CL_G_ACTIVE(&self->g)) {
        Py_VISIT(self->fn);
        Py_VISIT(self->args);
        Py_VISIT(self->value);
        Py_VISIT(self->exception);
        if (self->x != NULL) {
            Py_VISIT(self->x->kwargs);
            Py_VISIT(self->x->links);
            Py_VISIT(self->x->start_timer);
        }
        Py_VISIT(self->hub);
    }
    /* Not self->spawner: a weakref without a callback holds no strong
     * reference, so no cycle can pass through it, and leaving it out keeps
     * collections from paying for it on every task. */
    return cl__greenlet_type.tp_traverse((PyObject *)self, visit, arg);
}

static int
task_clear(cl_task *self)
{
    if (!CL_G_ACTIVE(&self->g)) {
        Py_CLEAR(self->fn);
        Py_CLEAR(self->args);
        Py_CLEAR(self->value);
        Py_CLEAR(self->exception);
        if (self->x != NULL) {
            Py_CLEAR(self->x->kwargs);
            Py_CLEAR(self->x->links);
            Py_CLEAR(self->x->start_timer);
        }
    }
    Py_CLEAR(self->spawner);
    return cl__greenlet_type.tp_clear((PyObject *)self);
}

static void
task_dealloc(cl_task *self)
{
    if (cl__greenlet_release((PyObject *)self) < 0) {
        return;
    }
    Py_CLEAR(self->fn);
    Py_CLEAR(self->args);
    Py_CLEAR(self->value);
    Py_CLEAR(self->exception);
    if (self->x != NULL) {
        cl_task_extra *x = self->x;
        Py_CLEAR(x->kwargs);
        Py_CLEAR(x->links);
        Py_CLEAR(x->start_timer);
        self->x = NULL;
        PyMem_Free(x); /* no joiner is left: each kept the task alive */
    }
    Py_CLEAR(self->hub);
    Py_CLEAR(self->spawner);
    cl__greenlet_type.tp_dealloc((PyObject *)self);
}

/* ---- state ---------------------------------------------------------------- */

/* Finished, killed before it ran, or its thread has exited (it can never
 * run again; a raw greenlet reports dead then too), also if it was only
 * scheduled to start then. */
static int
is_dead(cl_task *self)
{
    return cl__task_is_ready(self) ||
           (CL_G_STARTED(&self->g) &&
            (!CL_G_ACTIVE(&self->g) || (self->g.main != NULL && self->g.main->thread == NULL))) ||
           ((self->tflags & T_STARTED) && self->hub != NULL && self->hub->ts == NULL);
}

/* Record the outcome (both stolen, one of them NULL), wake joiners, and
 * have the hub notify links. */
static int
finish(cl_task *self, PyObject *value, PyObject *exception)
{
    /* Failed: value holds the exception's traceback as it was raised, so
     * that every get() raises it with that one (a re-raise would grow it). */
    if (value == NULL && exception != NULL) {
        value = PyException_GetTraceback(exception);
    }
    Py_XSETREF(self->value, value ? value : Py_NewRef(Py_None));
    Py_XSETREF(self->exception, exception);
    self->tflags |= T_READY;
    Py_XSETREF(self->args, Py_NewRef(cl__empty_tuple));
    if (self->x == NULL) {
        return 0; /* no links, no joiners */
    }
    Py_CLEAR(self->x->kwargs);
    Py_CLEAR(self->x->start_timer);
    /* Links first: they run before the joiners resume, so what a link does
     * (a Pool freeing the slot) has happened when join() returns. */
    if (self->x->links != NULL && PyObject_IsTrue(self->x->links) == 1) {
        static PyObject *name;
        PyObject *notify;
        if (name == NULL && (name = PyUnicode_InternFromString("_notify_links")) == NULL) {
            return -1;
        }
        notify = PyObject_GetAttr((PyObject *)self, name);
        if (notify == NULL ||
            cl__hub_push(self->hub, CL_E_CALL, notify, Py_NewRef(cl__empty_tuple), NULL) < 0) {
            return -1;
        }
    }
    while (self->x->joiners.head != NULL) {
        cl_park *p = self->x->joiners.head;
        cl__parklist_remove(p);
        cl__park_wake(self->hub, p, 1);
    }
    return 0;
}

/* hub.handle_error(self, type, value, tb); never raises. */
static void
report(cl_task *self, PyObject *exc)
{
    PyObject *tb = PyException_GetTraceback(exc);
    PyObject *r =
        PyObject_CallMethod((PyObject *)self->hub, "handle_error", "OOOO", (PyObject *)self,
                            (PyObject *)Py_TYPE(exc), exc, tb ? tb : Py_None);
    Py_XDECREF(tb);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    Py_XDECREF(r);
}

/* ---- running -------------------------------------------------------------- */

/* self._run(*self.args, **self.kwargs).  A plain function defined on the
 * class is called unbound, with no reference held here: a bound method
 * kept on this C stack would keep the task alive for ever if it never
 * resumes (its thread exits while it waits). */
static CL_NOINLINE PyObject *
call_run_method(cl_task *self)
{
    static PyObject *name;
    PyTypeObject *type = Py_TYPE(self);
    PyObject *fn, *result;
    if (name == NULL && (name = PyUnicode_InternFromString("_run")) == NULL) {
        return NULL;
    }
    if (type->tp_getattro == PyObject_GenericGetAttr) {
        PyObject *own = self->g.dict != NULL ? PyDict_GetItemWithError(self->g.dict, name) : NULL;
        PyObject *descr = _PyType_Lookup(type, name); /* borrowed */
        if (own == NULL && PyErr_Occurred()) {
            return NULL;
        }
        if (own == NULL && descr != NULL && PyFunction_Check(descr)) {
            PyObject *small[8], **stack = small;
            Py_ssize_t n = PyTuple_GET_SIZE(self->args), i;
            if (n + 1 > (Py_ssize_t)(sizeof(small) / sizeof(small[0]))) {
                stack = PyMem_Malloc((size_t)(n + 1) * sizeof(PyObject *));
                if (stack == NULL) {
                    return PyErr_NoMemory();
                }
            }
            stack[0] = (PyObject *)self;
            for (i = 0; i < n; i++) {
                stack[i + 1] = PyTuple_GET_ITEM(self->args, i);
            }
            /* The frame the call makes holds the function itself. */
            result = PyObject_VectorcallDict(descr, stack, (size_t)n + 1, X_GET(self, kwargs));
            if (stack != small) {
                PyMem_Free(stack);
            }
            return result;
        }
    }
    fn = PyObject_GetAttr((PyObject *)self, name);
    if (fn == NULL) {
        return NULL;
    }
    result = PyObject_Call(fn, self->args, X_GET(self, kwargs));
    Py_DECREF(fn);
    return result;
}

/* What follows the task's function: its frame is not on the stack while
 * the task runs (task_run's stays there for the task's life, so it must not
 * take this one's locals, nor call_run_method's). */
static CL_NOINLINE PyObject *
run_done(cl_task *self, PyObject *result)
{
    PyObject *exc;
    if (result != NULL) {
        if (finish(self, result, NULL) < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        Py_RETURN_NONE;
    }
    exc = cl_err_take();
    if (PyObject_TypeCheck(exc, (PyTypeObject *)cl__GreenletExit)) {
        /* Killed: a normal end, the exception is the value. */
        if (finish(self, exc, NULL) < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        Py_RETURN_NONE;
    }
    if (finish(self, NULL, Py_NewRef(exc)) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    report(self, exc);
    Py_DECREF(exc);
    Py_RETURN_NONE;
}

static PyObject *
task_run(cl_task *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *result;
    /* fn, args and kwargs stay the task's while it runs (__init__ refuses
     * a started task), so no reference is taken here; see call_run_method. */
    if (self->fn != NULL) {
        result = PyObject_Call(self->fn, self->args, X_GET(self, kwargs));
    }
    else {
        result = call_run_method(self);
    }
    return run_done(self, result);
}

static PyObject *
task_start(cl_task *self, PyObject *Py_UNUSED(ignored))
{
    if ((self->tflags & (T_STARTED | T_CANCELLED)) || CL_G_STARTED(&self->g)) {
        Py_RETURN_NONE;
    }
    if (cl__hub_check_thread(self->hub) < 0 || call_spawn_hook(self) < 0) {
        return NULL;
    }
    self->tflags |= T_STARTED;
    self->g.sched_flags &= ~CL_S_START_CANCELLED;
    if (cl__hub_push(self->hub, CL_E_START, Py_NewRef(self), Py_NewRef(cl__empty_tuple), NULL) <
        0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
task_start_later(cl_task *self, PyObject *seconds)
{
    PyObject *start, *timer;
    if ((self->tflags & (T_STARTED | T_CANCELLED)) || CL_G_STARTED(&self->g)) {
        Py_RETURN_NONE;
    }
    if (call_spawn_hook(self) < 0) {
        return NULL;
    }
    start = PyObject_GetAttrString((PyObject *)self->hub, "start_greenlet");
    if (start == NULL) {
        return NULL;
    }
    timer = PyObject_CallMethod((PyObject *)self->hub, "call_later", "OOO", seconds, start,
                                (PyObject *)self);
    Py_DECREF(start);
    if (timer == NULL) {
        return NULL;
    }
    if (cl__task_extra(self) == NULL) {
        PyObject *r = PyObject_CallMethod(timer, "cancel", NULL);
        Py_XDECREF(r);
        Py_DECREF(timer);
        return NULL;
    }
    self->tflags |= T_STARTED;
    Py_XSETREF(self->x->start_timer, timer);
    Py_RETURN_NONE;
}

static const char *const kill_names[] = {"exception", "block", "timeout"};

static PyObject *
make_exc(PyObject *exception)
{
    if (PyExceptionClass_Check(exception)) {
        return PyObject_CallNoArgs(exception);
    }
    if (PyExceptionInstance_Check(exception)) {
        return Py_NewRef(exception);
    }
    PyErr_Format(PyExc_TypeError, "kill() needs an exception class or instance, not %R", exception);
    return NULL;
}

static PyObject *
task_kill(cl_task *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[3], *exception, *timeout, *exc;
    int block = 1;
    if (cl_args("kill", kill_names, 3, args, nargs, kwnames, a) < 0 ||
        (a[1] != NULL && (block = PyObject_IsTrue(a[1])) < 0)) {
        return NULL;
    }
    exception = a[0] != NULL ? a[0] : cl__GreenletExit;
    timeout = a[2] != NULL ? a[2] : Py_None;
    if (block && timeout != Py_None) {
        int64_t ns;
        if (cl__timeout_ns(timeout, &ns, "timeout") < 0) {
            return NULL;
        }
    }
    if (cl__task_is_ready(self)) {
        Py_RETURN_NONE;
    }
    if ((exc = make_exc(exception)) == NULL) {
        return NULL;
    }
    if (self->hub->destroyed && CL_G_STARTED(&self->g)) {
        Py_DECREF(exc); /* its hub is gone: it can never run again */
        Py_RETURN_NONE;
    }
    if (!CL_G_STARTED(&self->g)) {
        /* Not running yet: it never will. */
        self->g.sched_flags |= CL_S_START_CANCELLED;
        if (X_GET(self, start_timer) != NULL) {
            PyObject *r = PyObject_CallMethod(self->x->start_timer, "cancel", NULL);
            Py_XDECREF(r);
            if (r == NULL) {
                Py_DECREF(exc);
                return NULL;
            }
        }
        self->tflags |= T_CANCELLED;
        if (PyObject_TypeCheck(exc, (PyTypeObject *)cl__GreenletExit)) {
            if (finish(self, exc, NULL) < 0) {
                return NULL;
            }
        }
        else if (finish(self, NULL, exc) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (!CL_G_ACTIVE(&self->g)) {
        Py_DECREF(exc);
        Py_RETURN_NONE;
    }
    if (self->hub->ts->current == &self->g) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
        return NULL;
    }
    if (cl__hub_check_thread(self->hub) < 0) {
        Py_DECREF(exc);
        return NULL;
    }
    if (!cl__hub_interrupt(self->hub, &self->g, exc)) {
        /* Suspended by a plain switch: throw from the hub. */
        PyObject *throw = PyObject_GetAttrString((PyObject *)self, "throw");
        PyObject *targs = PyTuple_Pack(1, exc);
        if (throw == NULL || targs == NULL) {
            Py_XDECREF(throw);
            Py_XDECREF(targs);
            Py_DECREF(exc);
            return NULL;
        }
        if (cl__hub_push(self->hub, CL_E_CALL, throw, targs, NULL) < 0) {
            Py_DECREF(exc);
            return NULL;
        }
    }
    Py_DECREF(exc);
    if (block && cl__task_wait_ready(self, timeout) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
task_ready(cl_task *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(cl__task_is_ready(self));
}

static PyObject *
task_successful(cl_task *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(cl__task_is_ready(self) && self->exception == NULL);
}

static int
task_bool(cl_task *self)
{
    return ((self->tflags & T_STARTED) || CL_G_STARTED(&self->g)) && !is_dead(self);
}

static PyMethodDef task_methods[] = {
    {"run", (PyCFunction)task_run, METH_NOARGS,
     "The greenlet's body: run the function, keep its outcome, notify."},
    {"start", (PyCFunction)task_start, METH_NOARGS,
     "start()\n--\n\nSchedule it to run in the hub's next round (once)."},
    {"start_later", (PyCFunction)task_start_later, METH_O,
     "start_later(seconds)\n--\n\nSchedule it to run after `seconds`."},
    {"join", (PyCFunction)(void (*)(void))cl__task_join, METH_FASTCALL | METH_KEYWORDS,
     "join(timeout=None)\n--\n\n"
     "Wait until it is done or `timeout` seconds passed; returns None."},
    {"get", (PyCFunction)(void (*)(void))cl__task_get, METH_FASTCALL | METH_KEYWORDS,
     "get(block=True, timeout=None)\n--\n\n"
     "Its value, or raise its exception.  Not done: with block, wait up to\n"
     "`timeout`; then (or without block) raise Timeout."},
    {"kill", (PyCFunction)(void (*)(void))task_kill, METH_FASTCALL | METH_KEYWORDS,
     "kill(exception=GreenletExit, block=True, timeout=None)\n--\n\n"
     "Raise `exception` in it; one that never started never runs.  With\n"
     "block, wait up to `timeout` for it to die.  Never raises here."},
    {"ready", (PyCFunction)task_ready, METH_NOARGS,
     "ready()\n--\n\nTrue once finished, or killed before it started."},
    {"successful", (PyCFunction)task_successful, METH_NOARGS,
     "successful()\n--\n\nTrue if finished without an exception\n"
     "(GreenletExit counts as success)."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
get_value(cl_task *self, void *c)
{
    (void)c;
    return Py_NewRef(self->value && !self->exception ? self->value : Py_None);
}

static PyObject *
get_exc_tb(cl_task *self, void *c)
{
    (void)c;
    return Py_NewRef(self->value && self->exception ? self->value : Py_None);
}

static PyObject *
get_exception(cl_task *self, void *c)
{
    (void)c;
    return Py_NewRef(self->exception ? self->exception : Py_None);
}

static PyObject *
get_args(cl_task *self, void *c)
{
    (void)c;
    return Py_NewRef(self->args ? self->args : cl__empty_tuple);
}

static PyObject *
get_kwargs(cl_task *self, void *c)
{
    (void)c;
    PyObject *kwargs = X_GET(self, kwargs);
    return kwargs ? Py_NewRef(kwargs) : PyDict_New();
}

static PyObject *
get_dead(cl_task *self, void *c)
{
    (void)c;
    return PyBool_FromLong(is_dead(self));
}

static PyObject *
get_started(cl_task *self, void *c)
{
    (void)c;
    /* gevent: killed before it ran, it never started. */
    return PyBool_FromLong(((self->tflags & T_STARTED) && !(self->tflags & T_CANCELLED)) ||
                           CL_G_STARTED(&self->g));
}

static PyObject *
get_fn(cl_task *self, void *c)
{
    (void)c;
    return Py_NewRef(self->fn ? self->fn : Py_None);
}

static PyObject *
get_spawner(cl_task *self, void *c)
{
    (void)c;
    return Py_NewRef(self->spawner ? self->spawner : Py_None);
}

static PyGetSetDef task_getsets[] = {
    {"value", (getter)get_value, NULL, "What run returned (None until then).", NULL},
    {"exception", (getter)get_exception, NULL, "The exception run raised, or None.", NULL},
    {"_exc_tb", (getter)get_exc_tb, NULL, "The traceback exception was raised with.", NULL},
    {"args", (getter)get_args, NULL, "Positional arguments for run.", NULL},
    {"kwargs", (getter)get_kwargs, NULL, "Keyword arguments for run.", NULL},
    {"dead", (getter)get_dead, NULL, "True once finished, or killed before it started.", NULL},
    {"started", (getter)get_started, NULL, "True once start() was called.", NULL},
    {"_links", (getter)cl__task_get_links, (setter)cl__task_set_links, "Link records (internal).",
     NULL},
    {"_function", (getter)get_fn, NULL, "The callable given to the constructor.", NULL},
    {"spawning_greenlet", (getter)get_spawner, NULL,
     "A weak reference to the greenlet that created this one.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyNumberMethods task_as_number = {
    .nb_bool = (inquiry)task_bool,
};

static PyTypeObject task_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.Task",
    .tp_basicsize = sizeof(cl_task),
    .tp_dealloc = (destructor)task_dealloc,
    .tp_as_number = &task_as_number,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The compiled base of corolib.Greenlet.",
    .tp_traverse = (traverseproc)task_traverse,
    .tp_clear = (inquiry)task_clear,
    .tp_methods = task_methods,
    .tp_getset = task_getsets,
    .tp_init = (initproc)task_init,
    .tp_new = task_new,
};

static PyObject *
mod_set_timeout_class(PyObject *m, PyObject *cls)
{
    (void)m;
    if (!PyExceptionClass_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "needs an exception class");
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(cl__task_timeout_class, cls);
    Py_RETURN_NONE;
}

static PyObject *
mod_set_greenlet_class(PyObject *m, PyObject *cls)
{
    (void)m;
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &task_type)) {
        PyErr_SetString(PyExc_TypeError, "needs a subclass of corolib._core.Task");
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(Greenlet_class, cls);
    Py_RETURN_NONE;
}

static PyObject *
mod_set_spawn_hook(PyObject *m, PyObject *hook)
{
    (void)m;
    if (hook != Py_None && !PyCallable_Check(hook)) {
        PyErr_SetString(PyExc_TypeError, "needs a callable or None");
        return NULL;
    }
    Py_XSETREF(spawn_hook, hook == Py_None ? NULL : Py_NewRef(hook));
    Py_RETURN_NONE;
}

/* spawn(fn, *args, **kwargs): Greenlet(fn, *args, **kwargs).start() */
static PyObject *
mod_spawn(PyObject *m, PyObject *args, PyObject *kwds)
{
    PyObject *cls = Greenlet_class ? Greenlet_class : (PyObject *)&task_type;
    PyObject *g, *r;
    (void)m;
    if (PyTuple_GET_SIZE(args) < 1 || !PyCallable_Check(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError, "spawn() needs a callable");
        return NULL;
    }
    g = PyObject_Call(cls, args, kwds);
    if (g == NULL) {
        return NULL;
    }
    r = task_start((cl_task *)g, NULL);
    if (r == NULL) {
        Py_DECREF(g);
        return NULL;
    }
    Py_DECREF(r);
    return g;
}

static PyMethodDef task_module_methods[] = {
    {"_set_timeout_class", mod_set_timeout_class, METH_O,
     "The class Task.get() raises when it times out."},
    {"_set_greenlet_class", mod_set_greenlet_class, METH_O, "The class spawn() instantiates."},
    {"_set_spawn_hook", mod_set_spawn_hook, METH_O,
     "hook(task) runs as each task is started (None: nothing)."},
    {"spawn", (PyCFunction)(void (*)(void))mod_spawn, METH_VARARGS | METH_KEYWORDS,
     "spawn(function, *args, **kwargs)\n--\n\n"
     "Create a Greenlet running ``function(*args, **kwargs)`` and start it."},
    {NULL, NULL, 0, NULL},
};

int
cl__task_type_ready(PyObject *module)
{
    task_type.tp_base = &cl__greenlet_type;
    if (PyType_Ready(&task_type) < 0 ||
        PyModule_AddObjectRef(module, "Task", (PyObject *)&task_type) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, task_module_methods);
}
