/* Switching between greenlets: start, switch, throw, finish, kill.
 *
 * The rules this file lives by:
 *   - After cl__switch() returns 0, the caller's locals are those of the
 *     greenlet that was resumed, from when *it* last left.  Who switched to
 *     whom is read from cl__stack_from / cl__stack_to at once, in a
 *     function that is never inlined (after_switch).
 *   - Between saving the interpreter state of the greenlet being left and
 *     restoring that of the target, no Python code runs and nothing is
 *     allocated through the Python allocator (which could run the
 *     collector, whose finalizers could switch).
 *   - The payload of a switch (args + kwargs, or an exception travelling in
 *     the thread's error indicator) is moved into locals before anything
 *     that can run Python code: a trace function, a decref that frees a
 *     greenlet, a `run` attribute lookup.
 *   - A greenlet is marked dead (stack.start = NULL) before its last switch,
 *     so its garbage stack is never saved.
 */
#include "../cl_internal.h"

#define G_OF(s) ((cl_greenlet *)((char *)(s) - offsetof(cl_greenlet, stack)))

PyObject *cl__GreenletExit;
PyObject *cl__greenlet_error;

cl_greenlet *
cl__greenlet_new_main(cl_thread *ts)
{
    cl_greenlet *g = (cl_greenlet *)cl__greenlet_type.tp_alloc(&cl__greenlet_type, 0);
    if (g == NULL) {
        return NULL;
    }
    g->flags = CL_G_MAIN;
    g->stack.start = CL_STACK_RUNNING;
    g->stack.stop = CL_STACK_TOP;
    g->thread = ts;
    cl__total_main_greenlets++;
    return g;
}

/* The main greenlet of the thread `g` belongs to: its own once started,
 * otherwise that of its parent chain.  Borrowed; NULL if the chain is
 * broken (only after the collector cleared it). */
cl_greenlet *
cl__find_main(cl_greenlet *g)
{
    for (; g != NULL; g = g->parent) {
        if (CL_G_IS_MAIN(g)) {
            return g;
        }
        if (CL_G_STARTED(g)) {
            return g->main;
        }
    }
    return NULL;
}

int
cl__check_same_thread(cl_thread *ts, cl_greenlet *g)
{
    cl_greenlet *main = cl__find_main(g);
    if (CL_LIKELY(main == ts->main)) {
        return 0;
    }
    if (main == NULL) {
        PyErr_SetString(cl__greenlet_error, "cannot switch to a garbage collected greenlet");
    }
    else if (main->thread == NULL) {
        PyErr_SetString(cl__greenlet_error, "cannot switch to a different thread "
                                            "(which happens to have exited)");
    }
    else {
        PyErr_Format(cl__greenlet_error,
                     "Cannot switch to a different thread\n"
                     "\tCurrent:  %R\n\tExpected: %R",
                     ts->current, main);
    }
    return -1;
}

/* What a switch() call returns, from the payload (both stolen):
 * one positional -> itself, several -> the tuple, keywords alone -> the
 * dict, both -> (args, kwargs), nothing -> (). */
static PyObject *
package(PyObject *args, PyObject *kwargs)
{
    PyObject *r;
    if (args == NULL) {
        Py_XDECREF(kwargs);
        return NULL;
    }
    if (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0) {
        Py_XDECREF(kwargs);
        if (PyTuple_GET_SIZE(args) == 1) {
            r = Py_NewRef(PyTuple_GET_ITEM(args, 0));
            Py_DECREF(args);
            return r;
        }
        return args;
    }
    if (PyTuple_GET_SIZE(args) == 0) {
        Py_DECREF(args);
        return kwargs;
    }
    r = PyTuple_Pack(2, args, kwargs);
    Py_DECREF(args);
    Py_DECREF(kwargs);
    return r;
}

/* Call the thread's greenlet trace function.  The pending exception of a
 * throw is kept aside around it.  If the trace function fails, it is
 * removed and its exception replaces the payload: returns -1 with it set. */
static int
call_trace(cl_thread *ts, int throwing, cl_greenlet *origin, cl_greenlet *target)
{
    PyObject *trace = Py_NewRef(ts->trace);
    PyObject *pending = throwing ? cl_err_take() : NULL;
    PyObject *r;
    cl_enter_tracing(ts->tstate);
    r = PyObject_CallFunction(trace, "s(OO)", throwing ? "throw" : "switch", (PyObject *)origin,
                              (PyObject *)target);
    cl_leave_tracing(ts->tstate);
    Py_DECREF(trace);
    if (r == NULL) {
        Py_CLEAR(ts->trace);
        Py_XDECREF(pending);
        return -1;
    }
    Py_DECREF(r);
    if (throwing) {
        cl_err_give(pending);
    }
    return 0;
}

/* Drop the reference to the greenlet we came from, keeping a travelling
 * exception safe (freeing it may kill it, which runs code).  A greenlet
 * that just died leaves its data stack for reuse. */
static void
release_origin(cl_thread *ts, cl_greenlet *origin, int throwing)
{
    PyObject *pending;
    if (!CL_G_ACTIVE(origin) && !CL_G_IS_MAIN(origin)) {
        cl_chunk *chunk = cl_pystate_take_chunks(&origin->pystate);
        if (chunk != NULL) {
            cl__chunk_put(ts, chunk);
        }
    }
    if (Py_REFCNT(origin) > 1) {
        Py_DECREF(origin);
        return;
    }
    pending = throwing ? cl_err_take() : NULL;
    Py_DECREF(origin);
    if (throwing) {
        cl_err_give(pending);
    }
}

/* Runs in the greenlet that was just switched to, right after the stacks
 * moved: install its interpreter state and make it current.  Hands the
 * reference ts->current held on the greenlet we came from to the caller. */
static CL_NOINLINE int
after_switch(cl_thread *ts, int status, cl_greenlet **origin_out)
{
    cl_greenlet *self = G_OF(cl__stack_to);
    cl_pystate_restore(&self->pystate, ts->tstate);
    *origin_out = ts->current;
    ts->current = (cl_greenlet *)Py_NewRef(self);
    return status;
}

/* What comes before the stacks move: save the current greenlet's
 * interpreter state and name both ends.  -1 with an exception on failure. */
static CL_ALWAYS_INLINE int
switch_prepare(cl_thread *ts, cl_greenlet *current, cl_greenlet *target)
{
    if (cl_pystate_save(&current->pystate, ts->tstate) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    {
        size_t outgrown = cl_pystate_overflowed(&current->pystate);
        if (CL_UNLIKELY(outgrown != 0)) {
            cl__chunk_grow(ts, outgrown);
        }
    }
    cl__stack_from = &current->stack;
    cl__stack_to = &target->stack;
    return 0;
}

/* Leave the current greenlet for `target` (active, or never started with
 * its start already committed).  Returns 0 when someone switches back to
 * us, 1 when running `target` for the first time, -1 (nothing changed,
 * exception set) on failure. */
static CL_NOINLINE int
switch_stack(cl_thread *ts, cl_greenlet *target, cl_greenlet **origin_out)
{
    cl_greenlet *current = ts->current;
    int status;
    if (switch_prepare(ts, current, target) < 0) {
        return -1;
    }
    status = cl__switch();
    if (CL_UNLIKELY(status < 0)) {
        cl_pystate_restore(&current->pystate, ts->tstate);
        PyErr_NoMemory();
        return -1;
    }
    return after_switch(ts, status, origin_out);
}

static CL_NOINLINE _Noreturn void bootstrap(cl_greenlet *self, cl_greenlet *origin, PyObject *args,
                                            PyObject *kwargs, PyObject *replaced);

/* The callable to start `self` with: what was given, or the `run`
 * attribute (a subclass may define it as a method).  When `run` is a plain
 * function or C method of the class (nothing in the instance or a custom
 * __getattribute__ can intervene), the class's descriptor itself is
 * returned and *unbound set: bootstrap then calls it with the greenlet as
 * first argument.  That spares a bound-method object -- one tracked by the
 * garbage collector -- per started greenlet, which with 100,000 suspended
 * tasks is most of what a full collection has to walk. */
static CL_NOINLINE PyObject * /* its locals stay out of start_new's frame */
lookup_run(cl_greenlet *self, int *unbound)
{
    static PyObject *name;
    PyTypeObject *type = Py_TYPE(self);

    *unbound = 0;
    if (self->run != NULL && type == &cl__greenlet_type) {
        return Py_NewRef(self->run);
    }
    if (name == NULL) {
        name = PyUnicode_InternFromString("run");
        if (name == NULL) {
            return NULL;
        }
    }
    if (type->tp_getattro == PyObject_GenericGetAttr) {
        PyObject *descr = _PyType_Lookup(type, name); /* borrowed */
        if (descr != NULL && PyType_HasFeature(Py_TYPE(descr), Py_TPFLAGS_METHOD_DESCRIPTOR)) {
            PyObject *own = NULL;
            if (self->dict != NULL) {
                own = PyDict_GetItemWithError(self->dict, name);
                if (own == NULL && PyErr_Occurred()) {
                    return NULL;
                }
            }
            if (own == NULL) {
                *unbound = 1;
                return Py_NewRef(descr);
            }
        }
    }
    return PyObject_GetAttr((PyObject *)self, name);
}

/* A C method without arguments (a Task's run) is called directly: the
 * two C frames of the generic call would otherwise stay on the greenlet's
 * stack, and be saved with it, for as long as it lives (issue 19). */
static PyObject *
call_noargs_method(cl_greenlet *self, PyObject *run, PyObject **vec)
{
    PyMethodDef *def = ((PyMethodDescrObject *)run)->d_method;
    const int kinds =
        METH_VARARGS | METH_KEYWORDS | METH_NOARGS | METH_O | METH_FASTCALL | METH_METHOD;
    if ((def->ml_flags & kinds) == METH_NOARGS) {
        return def->ml_meth((PyObject *)self, NULL);
    }
    return PyObject_Vectorcall(run, vec, 1, NULL);
}

/* Call `run` as bootstrap does: bound to `self` when lookup_run said so. */
static PyObject *
call_run(cl_greenlet *self, PyObject *run, PyObject *args, PyObject *kwargs)
{
    PyObject *bound, *result;

    if (!(self->flags & CL_G_RUN_UNBOUND)) {
        return PyObject_Call(run, args, kwargs);
    }
    if (PyTuple_GET_SIZE(args) == 0 && (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0)) {
        PyObject *vec[1] = {(PyObject *)self};
        if (Py_IS_TYPE(run, &PyMethodDescr_Type)) {
            return call_noargs_method(self, run, vec);
        }
        return PyObject_Vectorcall(run, vec, 1, NULL);
    }
    bound = PyMethod_New(run, (PyObject *)self);
    if (bound == NULL) {
        return NULL;
    }
    result = PyObject_Call(bound, args, kwargs);
    Py_DECREF(bound);
    return result;
}

/* Start `self` on the current stack, below `mark` (an address in our
 * caller's frame).  Returns 0 in the starting greenlet once something
 * switches back to it, -1 on failure (nothing changed), or 2 if running
 * `run`'s lookup started `self` elsewhere (the caller retries). */
static CL_NOINLINE int
start_new(cl_thread *ts, cl_greenlet *self, char *mark, cl_greenlet **origin_out)
{
    cl_cframe cframe; /* on the new greenlet's own stack, from the start */
    PyObject *args = self->sw_args;
    PyObject *kwargs = self->sw_kwargs;
    PyObject *pending = NULL;
    PyObject *run;
    PyObject *replaced; /* the run given before, dropped in the new greenlet */
    cl_chunk *chunk = NULL;
    cl_greenlet *origin;
    int status, unbound;

    self->sw_args = self->sw_kwargs = NULL;
    if (args == NULL) {
        pending = cl_err_take();
    }
    run = lookup_run(self, &unbound);
    if (run == NULL) {
        goto fail;
    }
    if (CL_G_STARTED(self)) {
        /* The lookup ran code that started it; deliver as a plain switch. */
        Py_DECREF(run);
        self->sw_args = args;
        self->sw_kwargs = kwargs;
        cl_err_give(pending);
        return 2;
    }
    if (cl__check_same_thread(ts, self) < 0) {
        goto fail;
    }
#ifdef CL_PY311
    chunk = cl__chunk_get(ts);
    if (chunk == NULL) {
        goto fail;
    }
#endif
    /* Committed: from here to the switch no Python code runs. */
    cl__stack_init_new(&self->stack, &ts->current->stack, mark);
    cl_pystate_init_new(&self->pystate, ts->tstate, &cframe, chunk);
    Py_INCREF(ts->main);
    Py_XSETREF(self->main, ts->main);
    /* The object holds the callable while it runs (the run attribute reads
     * as missing once started): what keeps it alive can then be dropped
     * from outside if the greenlet can never run again.  What it held
     * before (a `run` given to the constructor that a subclass's lookup
     * overrode) is released by bootstrap, in the new greenlet: its
     * finaliser may run any code, switches included, and must find this
     * greenlet running, as greenlet orders it. */
    replaced = self->run;
    self->run = run;
    if (unbound) {
        self->flags |= CL_G_RUN_UNBOUND;
    }
    /* While active it is opaque to the collector anyway (see
     * green_traverse): leave it out of the collections altogether, which
     * keeps full collections cheap with a million suspended greenlets. */
    if (PyObject_GC_IsTracked((PyObject *)self)) {
        PyObject_GC_UnTrack(self);
    }
    if (pending != NULL) {
        cl_err_give(pending);
        pending = NULL;
    }
    status = switch_stack(ts, self, &origin);
    if (status == 1) {
        /* start_new's frame is dead in the new greenlet but for the
         * cframe, which bootstrap moves into its own: the slice then ends
         * at bootstrap's frame. */
        bootstrap(self, origin, args, kwargs, replaced);
    }
    if (status == 0) {
        /* The starting greenlet, resumed.  run/args/kwargs in this copy of
         * the frame were handed to the new greenlet: not ours any more. */
        *origin_out = origin;
        return 0;
    }
    /* Could not switch: undo the commit. */
    if (!PyObject_GC_IsTracked((PyObject *)self)) {
        PyObject_GC_Track(self);
    }
    self->stack.stop = NULL;
    self->stack.start = NULL;
    self->flags &= ~CL_G_RUN_UNBOUND;
    Py_CLEAR(self->main);
#ifdef CL_PY311
    cl__chunk_put(ts, cl_pystate_take_chunks(&self->pystate));
#endif
    chunk = NULL;
    self->run = replaced; /* as before the attempt; `run` is dropped below */
fail:
    Py_XDECREF(run);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_XDECREF(pending);
    if (chunk != NULL) {
        cl__chunk_put(ts, chunk);
    }
    return -1;
}

/* bootstrap before `run` is called: the greenlet is running from here.
 * `throwing`: an exception travels instead of args.  Returns whether one
 * does now (the trace function may fail): then the caller drops args. */
static CL_NOINLINE int
bootstrap_begin(cl_greenlet *self, cl_greenlet *origin, int throwing, PyObject *replaced)
{
    cl_thread *ts = cl__tls_thread;
    self->stack.start = CL_STACK_RUNNING;
    if (ts->trace != NULL && call_trace(ts, throwing, origin, self) < 0) {
        throwing = 1;
    }
    release_origin(ts, origin, throwing);
    if (replaced != NULL) {
        PyObject *travelling = throwing ? cl_err_take() : NULL;
        Py_DECREF(replaced);
        if (throwing) {
            cl_err_give(travelling);
        }
    }
    return throwing;
}

/* call_run, taking over args and kwargs. */
static CL_NOINLINE PyObject *
call_run_owned(cl_greenlet *self, PyObject *args, PyObject *kwargs)
{
    PyObject *result = call_run(self, self->run, args, kwargs);
    Py_DECREF(args);
    Py_XDECREF(kwargs);
    return result;
}

/* A Task's start: `run` is the class's C method without arguments, and
 * there are none to pass (see call_noargs_method). */
static inline int
runs_bare(cl_greenlet *self, PyObject *args, PyObject *kwargs)
{
    const int kinds =
        METH_VARARGS | METH_KEYWORDS | METH_NOARGS | METH_O | METH_FASTCALL | METH_METHOD;
    return (self->flags & CL_G_RUN_UNBOUND) && Py_IS_TYPE(self->run, &PyMethodDescr_Type) &&
           PyTuple_GET_SIZE(args) == 0 && (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0) &&
           (((PyMethodDescrObject *)self->run)->d_method->ml_flags & kinds) == METH_NOARGS;
}

/* bootstrap once `run` returned `result` (NULL: raised): hand it to the
 * first ancestor that can take it. */
static CL_NOINLINE _Noreturn void
bootstrap_end(cl_greenlet *self, PyObject *result)
{
    cl_thread *ts = cl__tls_thread;
    cl_greenlet *parent;

    Py_CLEAR(self->run);
    self->flags &= ~CL_G_RUN_UNBOUND;

    if (result == NULL && PyErr_ExceptionMatches(cl__GreenletExit)) {
        /* Being killed is a normal way to end: the exception becomes the
         * value, unless someone switched a value to us as we died. */
        PyObject *exc = cl_err_take();
        if (self->sw_args != NULL) {
            result = package(self->sw_args, self->sw_kwargs);
            self->sw_args = self->sw_kwargs = NULL;
            Py_DECREF(exc);
        }
        else {
            result = exc;
        }
    }
    self->stack.start = NULL; /* dying: our stack is garbage from here */
    if (!PyObject_GC_IsTracked((PyObject *)self)) {
        PyObject_GC_Track(self); /* collectable again: cycles through it go */
    }

    for (parent = self->parent; parent != NULL; parent = parent->parent) {
        PyObject *payload = NULL;
        if (result != NULL) {
            payload = PyTuple_Pack(1, result);
            Py_CLEAR(result);
        }
        /* Returns only if the parent could not be switched to; then its
         * exception goes to the next ancestor. */
        result = cl__switch_to(ts, parent, payload, NULL);
        Py_CLEAR(result);
    }
    PyErr_WriteUnraisable((PyObject *)self);
    Py_FatalError("corolib: a greenlet ended and no ancestor can run");
}

/* The first and last C frame of every greenlet but the main ones: run
 * `run` (self->run, set by start_new), then hand its result (or exception)
 * to the parent.  `replaced` (owned, may be NULL) is the run object
 * start_new replaced: the first Python code that may run here, after the
 * switch is complete.  This frame stays on the greenlet's stack for its
 * whole life (issue 19): the work before and after the call is out of
 * line, and only the cframe and `self` are kept across it. */
static CL_NOINLINE _Noreturn void
bootstrap(cl_greenlet *self, cl_greenlet *origin, PyObject *args, PyObject *kwargs,
          PyObject *replaced)
{
    PyObject *result = NULL;
    /* Where this frame ends: the caller's stack pointer at the call. */
    char *cfa = (char *)__builtin_dwarf_cfa();
#ifndef CL_PY313
    cl_thread *ts = cl__tls_thread;
    cl_cframe cframe = *ts->tstate->cframe; /* start_new's, nothing links to it yet */
    char *here = (char *)&cframe;

    ts->tstate->cframe = &cframe;
#else
    char *here = (char *)&result;
#endif
    /* The outermost frame of this stack, as a thread's start routine is:
     * what lies above is not this greenlet's.  Unwinders stop here: gdb, and
     * pthread_exit's forced unwinding (CPython's end for a daemon thread that
     * wakes after finalisation), which would follow return addresses into
     * start_new's frame, long reused by the greenlet that started us. */
    CL_OUTERMOST_FRAME();
    /* start_new never resumes here, and nothing of this frame (all its
     * arguments come in registers) lies above its end: the bytes there are
     * no longer this greenlet's.  Only if that end is where it should be
     * (not a sanitizer's fake stack). */
    if (here < cfa && cfa < self->stack.stop) {
        self->stack.stop = cfa;
    }

    if (bootstrap_begin(self, origin, args == NULL, replaced)) {
        Py_CLEAR(args);
        Py_CLEAR(kwargs);
    }
    if (args == NULL) {
        result = NULL;
    }
    else if (runs_bare(self, args, kwargs)) {
        /* Nothing to keep across the call: args is (), kwargs empty. */
        Py_DECREF(args);
        Py_XDECREF(kwargs);
        result = ((PyMethodDescrObject *)self->run)->d_method->ml_meth((PyObject *)self, NULL);
    }
    else {
        result = call_run_owned(self, args, kwargs);
    }
    bootstrap_end(self, result);
}

/* In the greenlet someone just switched back to (after after_switch): take
 * the payload, call the trace function, drop `origin`; what the switch
 * that left returns. */
static CL_ALWAYS_INLINE PyObject *
resumed(cl_thread *ts, cl_greenlet *origin)
{
    cl_greenlet *self = ts->current;
    PyObject *args = self->sw_args;
    PyObject *kwargs = self->sw_kwargs;
    int throwing;
    self->sw_args = self->sw_kwargs = NULL;
    throwing = args == NULL;
    if (ts->trace != NULL && call_trace(ts, throwing, origin, self) < 0) {
        Py_CLEAR(args);
        Py_CLEAR(kwargs);
        throwing = 1;
    }
    if (throwing && (self->flags & CL_G_KEEPS_ORIGIN) && !CL_G_ACTIVE(origin)) {
        Py_INCREF(origin);
        Py_XSETREF(ts->failed_origin, (PyObject *)origin);
    }
    release_origin(ts, origin, throwing);
    return package(args, kwargs);
}

PyObject *
cl__switch_to(cl_thread *ts, cl_greenlet *target, PyObject *args, PyObject *kwargs)
{
    cl_greenlet *origin = NULL;
    int status;

    for (;;) {
        char mark; /* the top of a greenlet we may start: its stack.stop */

        if (cl__check_same_thread(ts, target) < 0) {
            Py_XDECREF(args);
            Py_XDECREF(kwargs);
            return NULL;
        }
        /* A dead greenlet hands the payload to its first live ancestor. */
        while (CL_G_STARTED(target) && !CL_G_ACTIVE(target) && target->parent != NULL) {
            target = target->parent;
        }
        if (target == ts->current) {
            return package(args, kwargs);
        }
        if (!CL_G_STARTED(target) || CL_G_ACTIVE(target)) {
            Py_XSETREF(target->sw_args, args);
            Py_XSETREF(target->sw_kwargs, kwargs);
        }
        else {
            Py_XDECREF(args);
            Py_XDECREF(kwargs);
            PyErr_SetString(cl__greenlet_error, "cannot switch to a dead main greenlet");
            return NULL;
        }
        if (CL_G_STARTED(target)) {
            status = switch_stack(ts, target, &origin);
            break;
        }
        status = start_new(ts, target, &mark, &origin);
        if (status != 2) {
            break;
        }
        args = target->sw_args;
        kwargs = target->sw_kwargs;
        target->sw_args = target->sw_kwargs = NULL;
    }
    if (status < 0) {
        Py_CLEAR(target->sw_args);
        Py_CLEAR(target->sw_kwargs);
        return NULL;
    }

    /* Back in the greenlet that called us: someone switched here. */
    return resumed(ts, origin);
}

static char bare_switch_go; /* its address: "switch now" */

/* All of cl__switch_bare before the switch: &bare_switch_go when the
 * stacks can move, else the result (cl__switch_to's, or NULL with an
 * exception). */
static CL_NOINLINE PyObject *
bare_switch_prepare(cl_thread *ts, cl_greenlet *target)
{
    cl_greenlet *current = ts->current;
    PyObject *none = PyTuple_New(0);
    if (none == NULL) {
        return NULL;
    }
    if (target == current || !CL_G_STARTED(target) || !CL_G_ACTIVE(target) ||
        cl__find_main(target) != ts->main) {
        return cl__switch_to(ts, target, none, NULL);
    }
    Py_XSETREF(target->sw_args, none);
    Py_CLEAR(target->sw_kwargs);
    if (switch_prepare(ts, current, target) < 0) {
        Py_CLEAR(target->sw_args);
        return NULL;
    }
    return (PyObject *)&bare_switch_go;
}

static CL_NOINLINE PyObject *
bare_switch_finish(int status)
{
    cl_thread *ts = cl__tls_thread;
    cl_greenlet *origin;
    if (CL_UNLIKELY(status < 0)) {
        cl_greenlet *target = G_OF(cl__stack_to);
        cl_pystate_restore(&ts->current->pystate, ts->tstate);
        PyErr_NoMemory();
        Py_CLEAR(target->sw_args);
        return NULL;
    }
    after_switch(ts, status, &origin);
    return resumed(ts, origin);
}

/* target.switch() with no arguments, for the park path (cl__hub_park
 * switching to the hub); returns what cl__switch_to would.  Everything but
 * the switch itself is out of line, and nothing is kept across it (the
 * thread comes back from TLS): this frame stays on the stack of every
 * parked greenlet, so it is kept to a word or two (issue 19).  Anything
 * unusual -- a target not started, dead, the current one, in another
 * thread -- takes cl__switch_to. */
PyObject *
cl__switch_bare(cl_thread *ts, cl_greenlet *target)
{
    PyObject *r = bare_switch_prepare(ts, target);
    if (CL_UNLIKELY(r != (PyObject *)&bare_switch_go)) {
        return r;
    }
    return bare_switch_finish(cl__switch());
}

PyObject *
cl__throw_into(cl_thread *ts, cl_greenlet *target, PyObject *exc)
{
    if (CL_G_STARTED(target) && !CL_G_ACTIVE(target) &&
        PyObject_TypeCheck(exc, (PyTypeObject *)cl__GreenletExit)) {
        /* Killing what is already dead just returns the exception. */
        PyObject *payload = PyTuple_Pack(1, exc);
        Py_DECREF(exc);
        if (payload == NULL) {
            return NULL;
        }
        return cl__switch_to(ts, target, payload, NULL);
    }
    cl_err_give(exc);
    return cl__switch_to(ts, target, NULL, NULL);
}

/* The last reference to suspended greenlet `g` of this thread is gone:
 * throw GreenletExit into it so its finally blocks run.  Control comes
 * back here when it ends (its parent is the current greenlet meanwhile). */
void
cl__kill_released(cl_thread *ts, cl_greenlet *g)
{
    PyObject *pending = cl_err_take();
    cl_greenlet *parent = g->parent;
    PyObject *exc, *r;

    g->parent = (cl_greenlet *)Py_NewRef(ts->current);
    exc = PyObject_CallFunction(cl__GreenletExit, "s",
                                "Killing the greenlet because all references have vanished.");
    if (exc == NULL) {
        PyErr_WriteUnraisable((PyObject *)g);
    }
    else {
        r = cl__throw_into(ts, g, exc);
        if (r == NULL) {
            PyErr_WriteUnraisable((PyObject *)g);
        }
        Py_XDECREF(r);
    }
    Py_SETREF(g->parent, parent);
    /* Still suspended and nobody took a reference (which would be a
     * resurrection, legitimate): it refused to die. */
    if (CL_G_ACTIVE(g) && Py_REFCNT(g) <= 1) {
        g->flags |= CL_G_REFUSED;
        PySys_WriteStderr("corolib: GreenletExit did not kill %s at %p; "
                          "it is leaked\n",
                          Py_TYPE(g)->tp_name, (void *)g);
    }
    cl_err_give(pending);
}

/* Free a greenlet's resources without running any of its code: its thread
 * has exited, the interpreter is shutting down, or it refused to die.
 * Only when its thread has exited are its frames released too (nothing can
 * ever resume them); otherwise releasing what they reference could run
 * code that expects the stack they no longer have, and they are leaked on
 * purpose. */
void
cl__forget(cl_greenlet *g)
{
    int thread_gone = g->main != NULL && g->main->thread == NULL;
    cl__stack_free(&g->stack);
    g->stack.start = NULL;
#ifdef CL_PY312
    cl_fixups_free(&g->pystate.fixups);
#endif
    if (thread_gone && !cl_is_finalizing()) {
        Py_CLEAR(g->run); /* often a bound method of the greenlet itself */
    }
    if (thread_gone && !cl_is_finalizing() && cl_pystate_release_frames(&g->pystate)) {
#ifdef CL_PY311
        PyMem_RawFree(cl_pystate_take_chunks(&g->pystate));
#endif
    }
}

#ifdef CL_PY312
/* ---- checkpoint marks on frame objects (see cl_frames_detach) ---------- */

uint64_t cl__checkpoint_serial;
static destructor frame_dealloc_orig;

/* A frame object that does not own its frame's data never had those words
 * used by CPython: clear our mark before the memory goes back, so that no
 * later frame object allocated there can pass for a checkpoint.
 *
 * CPython's frame dealloc uses the trashcan (long f_back chains are freed
 * without deep C recursion) only when it is the type's tp_dealloc, which it
 * no longer is: the hook provides it instead, the way frame_dealloc does
 * (untracked first, as the trashcan requires). */
static void
frame_dealloc_hook(PyObject *op)
{
    PyFrameObject *fo = (PyFrameObject *)op;
    if (fo->f_frame != (_PyInterpreterFrame *)(void *)fo->_f_frame_data) {
        CL_MARK(fo)[0] = 0;
    }
    PyObject_GC_UnTrack(op);
    Py_TRASHCAN_BEGIN(op, frame_dealloc_hook) frame_dealloc_orig(op);
    Py_TRASHCAN_END
}

void
cl__frame_dealloc_hook_install(void)
{
    if (frame_dealloc_orig == NULL && PyFrame_Type.tp_dealloc != frame_dealloc_hook) {
        frame_dealloc_orig = PyFrame_Type.tp_dealloc;
        PyFrame_Type.tp_dealloc = frame_dealloc_hook;
    }
}
#endif
