/* Task's waiting side and its links: join(), get(), and the `_links`
 * record the Python subclass (corolib/hub/_greenlet.py) manages.  The rest
 * of the type is in task_type.c; task.h is what the two share. */
#include "task.h"

PyObject *cl__task_timeout_class; /* corolib.Timeout, registered at import */

/* Park until ready or the timeout; 0 either way, -1 on error. */
int
cl__task_wait_ready(cl_task *self, PyObject *timeout)
{
    int64_t ns;
    cl_hub *hub;
    cl_park *p;
    PyObject *keep;
    int r;
    if (cl__task_is_ready(self)) {
        return 0;
    }
    if (cl__timeout_ns(timeout, &ns, "timeout") < 0) {
        return -1;
    }
    if ((hub = cl__hub_get()) == NULL) {
        return -1;
    }
    if (hub->ts->current == &self->g) {
        PyErr_SetString(PyExc_RuntimeError, "a greenlet cannot join itself");
        return -1;
    }
    if (hub != self->hub) {
        PyErr_SetString(cl__greenlet_error, "cannot wait for a greenlet of another thread");
        return -1;
    }
    if (cl__task_extra(self) == NULL || (p = cl__park_new(hub, "Greenlet.join()", 0)) == NULL) {
        return -1;
    }
    cl__parklist_append(&self->x->joiners, p);
    /* The joiner keeps the task alive through its node (dropped with the
     * node if the joiner is never resumed). */
    p->keep = Py_NewRef((PyObject *)self);
    r = cl__hub_park(hub, p, ns);
    keep = p->keep;
    p->keep = NULL;
    cl__park_release(hub, p);
    Py_XDECREF(keep);
    return r == -1 ? -1 : 0;
}

static const char *const join_names[] = {"timeout"};
static const char *const get_names[] = {"block", "timeout"};

PyObject *
cl__task_join(cl_task *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[1];
    if (cl_args("join", join_names, 1, args, nargs, kwnames, a) < 0 ||
        cl__task_wait_ready(self, a[0] != NULL ? a[0] : Py_None) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
raise_timeout(PyObject *timeout)
{
    PyObject *exc;
    if (cl__task_timeout_class == NULL) {
        PyErr_SetString(PyExc_TimeoutError, "the greenlet is not ready");
        return NULL;
    }
    exc = PyObject_CallOneArg(cl__task_timeout_class, timeout ? timeout : Py_None);
    if (exc != NULL) {
        PyErr_SetObject(cl__task_timeout_class, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

PyObject *
cl__task_get(cl_task *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2], *timeout;
    int block = 1;
    if (cl_args("get", get_names, 2, args, nargs, kwnames, a) < 0 ||
        (a[0] != NULL && (block = PyObject_IsTrue(a[0])) < 0)) {
        return NULL;
    }
    timeout = a[1] != NULL ? a[1] : Py_None;
    if (!cl__task_is_ready(self)) {
        if (!block) {
            return raise_timeout(NULL);
        }
        if (cl__task_wait_ready(self, timeout) < 0) {
            return NULL;
        }
        if (!cl__task_is_ready(self)) {
            return raise_timeout(timeout);
        }
    }
    if (self->exception != NULL) {
        if (PyException_SetTraceback(self->exception, self->value) < 0) {
            return NULL;
        }
        PyErr_SetObject((PyObject *)Py_TYPE(self->exception), self->exception);
        return NULL;
    }
    return Py_NewRef(self->value);
}

PyObject *
cl__task_get_links(cl_task *self, void *c)
{
    (void)c;
    PyObject *links = X_GET(self, links);
    return Py_NewRef(links ? links : Py_None);
}

int
cl__task_set_links(cl_task *self, PyObject *v, void *c)
{
    (void)c;
    if (v == Py_None || v == NULL) {
        if (self->x != NULL) {
            Py_CLEAR(self->x->links);
        }
        return 0;
    }
    if (cl__task_extra(self) == NULL) {
        return -1;
    }
    Py_INCREF(v);
    Py_XSETREF(self->x->links, v);
    return 0;
}
