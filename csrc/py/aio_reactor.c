/* corolib.asyncio's AioReactor: the stream transports' registrations (owned
 * by C, one per EventLoop) in the loop selector's own epoll, which it shares
 * (or, made without one, in an epoll of its own).  The selector's select()
 * is poll(): one epoll_wait per loop iteration, whose transport events are
 * kept for run() -- queued through a key reported readable, as a reader's
 * callback would be, so the order of callbacks stays the stdlib's -- and
 * whose other events are returned as the selector's (key, events) list.
 * run() handles every ready transport through aio_transport.c's handlers,
 * with no Python frame per event besides the protocols'.
 *
 * The epoll's data is a socket's fd and its registration's token, looked up
 * in a by-fd table, never a pointer: an entry left behind (a socket closed
 * behind its transport's back while a dup kept the file open) cannot reach
 * a freed transport.  The dict `transports` owns the registered transports.
 */
#include "aio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS CL_AIO_MAX_EVENTS
#define F(t) CL_AIO_F(t)

int
cl__aio_set_events(PyObject *self, int ev)
{
    cl_aio_fields *f = F(self);
    cl_aio_reactor *r = f->reactor;
    struct epoll_event e;
    PyObject *key;
    int op, rc;
    if (ev == f->events) {
        return 0;
    }
    if (r == NULL || r->epfd < 0) {
        if (ev == 0) {
            f->events = 0;
            return 0;
        }
        PyErr_SetString(PyExc_RuntimeError, "the transport's event loop is closed");
        return -1;
    }
    op = f->events == 0 ? EPOLL_CTL_ADD : ev == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (op == EPOLL_CTL_ADD) {
        if (f->fd < 0) {
            PyErr_SetString(PyExc_ValueError, "the transport's socket has no fd");
            return -1;
        }
        if (f->fd >= r->nfd) {
            int n = f->fd + 64;
            PyObject **grown = PyMem_Realloc(r->by_fd, (size_t)n * sizeof(PyObject *));
            if (grown == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            memset(grown + r->nfd, 0, (size_t)(n - r->nfd) * sizeof(PyObject *));
            r->by_fd = grown;
            r->nfd = n;
        }
        if (++r->tokens == 0) {
            r->tokens = 1;
        }
        f->token = r->tokens;
    }
    /* The epoll's data is the fd and a token, never a pointer: an entry
     * left behind (its socket closed behind the transport's back while a
     * dup kept it open) can then never reach a freed transport. */
    e.events = (uint32_t)ev;
    e.data.u64 = ((uint64_t)f->token << 32) | (uint32_t)f->fd;
    rc = epoll_ctl(r->epfd, op, f->fd, &e);
    if (rc < 0 && op == EPOLL_CTL_ADD && errno == EEXIST) {
        /* The fd was closed behind a transport's back and reused. */
        rc = epoll_ctl(r->epfd, EPOLL_CTL_MOD, f->fd, &e);
    }
    if (rc < 0 && op == EPOLL_CTL_MOD && errno == ENOENT) {
        rc = epoll_ctl(r->epfd, EPOLL_CTL_ADD, f->fd, &e);
    }
    if (rc < 0 && op != EPOLL_CTL_DEL) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    /* DEL errors (EBADF, ENOENT: the fd is already closed) leave nothing behind. */
    f->events = ev;
    if (op == EPOLL_CTL_MOD) {
        return 0;
    }
    key = PyLong_FromLong(f->fd);
    if (key == NULL) {
        return -1;
    }
    if (op == EPOLL_CTL_ADD) {
        PyObject *old = PyDict_GetItemWithError(r->transports, key);
        if (old != NULL && old != self) {
            F(old)->events = 0; /* its fd is gone; this one owns the number now */
        }
        rc = PyDict_SetItem(r->transports, key, self);
        if (rc == 0) {
            r->by_fd[f->fd] = self;
        }
        if (rc == 0 && PyDict_GET_SIZE(r->transports) == 1 && r->on_active != NULL) {
            PyObject *res = PyObject_CallOneArg(r->on_active, Py_True);
            rc = res == NULL ? -1 : 0;
            Py_XDECREF(res);
        }
    }
    else {
        PyObject *cur = PyDict_GetItemWithError(r->transports, key);
        rc = 0;
        if (cur == self) {
            r->by_fd[f->fd] = NULL;
            rc = PyDict_DelItem(r->transports, key);
            if (rc == 0 && PyDict_GET_SIZE(r->transports) == 0 && r->on_active != NULL) {
                PyObject *res = PyObject_CallOneArg(r->on_active, Py_False);
                rc = res == NULL ? -1 : 0;
                Py_XDECREF(res);
            }
        }
        else if (cur == NULL && PyErr_Occurred()) {
            rc = -1;
        }
    }
    Py_DECREF(key);
    return rc;
}

/* ---- the reactor's methods ------------------------------------------------------- */

static PyObject *
reactor_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"on_active", "on_error", "epfd", NULL};
    PyObject *on_active, *on_error;
    cl_aio_reactor *self;
    int epfd = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|i:AioReactor", kwlist, &on_active, &on_error,
                                     &epfd)) {
        return NULL;
    }
    self = (cl_aio_reactor *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->epfd = -1;
    self->transports = PyDict_New();
    self->rbuf = PyMem_RawMalloc(CL_AIO_READ_SIZE);
    if (self->transports == NULL || self->rbuf == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->on_active = on_active == Py_None ? NULL : Py_NewRef(on_active);
    self->on_error = Py_NewRef(on_error);
    if (epfd >= 0) {
        self->epfd = epfd; /* the loop selector's: events taken by poll() */
        return (PyObject *)self;
    }
    self->owns_epfd = 1;
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* Forget every registration (their events are 0 from now on). */
static void
reactor_forget(cl_aio_reactor *self)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    if (self->transports == NULL) {
        return;
    }
    while (PyDict_Next(self->transports, &pos, &key, &value)) {
        F(value)->events = 0;
    }
    if (self->by_fd != NULL) {
        memset(self->by_fd, 0, (size_t)self->nfd * sizeof(PyObject *));
    }
    PyDict_Clear(self->transports);
}

static int
reactor_traverse(cl_aio_reactor *self, visitproc visit, void *arg)
{
    Py_VISIT(self->transports);
    Py_VISIT(self->on_active);
    Py_VISIT(self->on_error);
    return 0;
}

static int
reactor_clear(cl_aio_reactor *self)
{
    reactor_forget(self);
    Py_CLEAR(self->transports);
    Py_CLEAR(self->on_active);
    Py_CLEAR(self->on_error);
    return 0;
}

static void
reactor_dealloc(cl_aio_reactor *self)
{
    PyObject_GC_UnTrack(self);
    reactor_clear(self);
    if (self->epfd >= 0 && self->owns_epfd) {
        close(self->epfd);
    }
    PyMem_RawFree(self->rbuf);
    PyMem_Free(self->by_fd);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
reactor_run(cl_aio_reactor *self, PyObject *Py_UNUSED(ignored))
{
    struct epoll_event events[MAX_EVENTS];
    PyObject *held[MAX_EVENTS];
    int n, i, rc = 0;
    if (self->epfd < 0) {
        Py_RETURN_NONE;
    }
    if (!self->owns_epfd) {
        /* What the last poll() took: the loop's one epoll_wait of this iteration. */
        n = self->npending;
        self->npending = 0;
        for (i = 0; i < n; i++) {
            events[i].events = self->pending_ev[i];
            events[i].data.u64 = self->pending_data[i];
        }
    }
    else {
        n = epoll_wait(self->epfd, events, MAX_EVENTS, 0);
    }
    if (n < 0) {
        if (errno == EINTR) {
            Py_RETURN_NONE;
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    /* Every transport of the batch stays alive until the batch is done,
     * even one that an earlier handler closes. */
    for (i = 0; i < n; i++) {
        uint64_t data = events[i].data.u64;
        int fd = (int)(uint32_t)data;
        PyObject *t = fd < self->nfd ? self->by_fd[fd] : NULL;
        held[i] = t != NULL && F(t)->token == (uint32_t)(data >> 32) ? Py_NewRef(t) : NULL;
    }
    for (i = 0; i < n && rc == 0; i++) {
        PyObject *t = held[i];
        uint32_t ev = events[i].events;
        cl_aio_fields *f;
        if (t == NULL) {
            continue; /* a stale entry */
        }
        f = F(t);
        if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && (f->events & EPOLLIN)) {
            rc = cl__aio_read_ready(t);
        }
        if (rc == 0 && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && (f->events & EPOLLOUT)) {
            rc = cl__aio_write_ready(t);
        }
        if (rc < 0 && !PyErr_ExceptionMatches(PyExc_SystemExit) &&
            !PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
            /* As an exception in a loop callback: reported, and the loop goes on. */
            PyObject *exc = cl_err_take();
            PyObject *res = PyObject_CallFunctionObjArgs(self->on_error, exc, t, NULL);
            Py_DECREF(exc);
            if (res != NULL) {
                Py_DECREF(res);
                rc = 0;
            }
        }
    }
    for (i = 0; i < n; i++) {
        Py_XDECREF(held[i]);
    }
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
reactor_close(cl_aio_reactor *self, PyObject *Py_UNUSED(ignored))
{
    reactor_forget(self);
    self->npending = 0;
    if (self->epfd >= 0 && self->owns_epfd) {
        close(self->epfd);
    }
    self->epfd = -1;
    Py_RETURN_NONE;
}

/* poll(fd_to_key, reactor_key): the selector's select() without waiting,
 * for a reactor sharing the loop selector's epoll.  One epoll_wait: the
 * transports' events are kept for the next run() (and reactor_key, whose
 * data holds run()'s handle, is reported once as readable when there are
 * any); the others are the selector's, returned as its (key, events) list. */
static PyObject *
reactor_poll(cl_aio_reactor *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct epoll_event events[MAX_EVENTS];
    PyObject *fd_to_key, *reactor_key, *ready;
    int n, i, np = 0;
    if (nargs != 2 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "poll(fd_to_key: dict, reactor_key)");
        return NULL;
    }
    fd_to_key = args[0];
    reactor_key = args[1];
    ready = PyList_New(0);
    if (ready == NULL) {
        return NULL;
    }
    if (self->epfd < 0 || self->owns_epfd) {
        return ready;
    }
    n = epoll_wait(self->epfd, events, MAX_EVENTS, 0);
    if (n < 0) {
        if (errno == EINTR) {
            return ready;
        }
        Py_DECREF(ready);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    for (i = 0; i < n; i++) {
        uint64_t data = events[i].data.u64;
        uint32_t ev = events[i].events;
        int fd = (int)(uint32_t)data;
        PyObject *t = fd >= 0 && fd < self->nfd ? self->by_fd[fd] : NULL;
        PyObject *key, *item, *kev;
        long mask = 0, want;
        if (t != NULL && F(t)->token == (uint32_t)(data >> 32)) {
            self->pending_ev[np] = ev;
            self->pending_data[np] = data;
            np++;
            continue;
        }
        item = PyLong_FromLong(fd);
        if (item == NULL) {
            goto fail;
        }
        key = PyDict_GetItemWithError(fd_to_key, item);
        Py_DECREF(item);
        if (key == NULL) {
            if (PyErr_Occurred()) {
                goto fail;
            }
            continue; /* a transport's stale entry, or unregistered meanwhile */
        }
        if (ev & ~(uint32_t)EPOLLIN) {
            mask |= 2; /* selectors.EVENT_WRITE */
        }
        if (ev & ~(uint32_t)EPOLLOUT) {
            mask |= 1; /* selectors.EVENT_READ */
        }
        if (PyTuple_Check(key) && PyTuple_GET_SIZE(key) >= 3) {
            kev = Py_NewRef(PyTuple_GET_ITEM(key, 2));
        }
        else {
            kev = PyObject_GetAttrString(key, "events");
            if (kev == NULL) {
                goto fail;
            }
        }
        want = PyLong_AsLong(kev);
        Py_DECREF(kev);
        if (want == -1 && PyErr_Occurred()) {
            goto fail;
        }
        item = Py_BuildValue("(Ol)", key, mask & want);
        if (item == NULL || PyList_Append(ready, item) < 0) {
            Py_XDECREF(item);
            goto fail;
        }
        Py_DECREF(item);
    }
    self->npending = np;
    if (np > 0) {
        PyObject *item = Py_BuildValue("(Oi)", reactor_key, 1);
        if (item == NULL || PyList_Append(ready, item) < 0) {
            Py_XDECREF(item);
            self->npending = 0;
            Py_DECREF(ready);
            return NULL;
        }
        Py_DECREF(item);
    }
    return ready;
fail:
    Py_DECREF(ready);
    return NULL;
}

/* In a forked child: the inherited epoll fd is the parent's epoll instance,
 * so a change made through it (a transport closed, a read paused) would
 * change the parent's registrations, and a wait on it would take the
 * parent's events.  A private epoll with the same registrations takes its
 * place under the same fd number (which the loop's selector watches). */
static PyObject *
reactor_renew(cl_aio_reactor *self, PyObject *args)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int fresh = -1;
    if (!PyArg_ParseTuple(args, "|i:renew", &fresh)) {
        return NULL;
    }
    if (self->epfd < 0) {
        Py_RETURN_NONE;
    }
    self->npending = 0;
    if (fresh >= 0 && !self->owns_epfd) {
        /* Shared: the selector's fresh epoll, which it re-registers its own fds in. */
        self->epfd = fresh;
    }
    else if (fresh < 0 && self->owns_epfd) {
        fresh = epoll_create1(EPOLL_CLOEXEC);
        if (fresh < 0) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    else {
        PyErr_SetString(PyExc_ValueError,
                        "renew(epfd): a reactor sharing an epoll needs the new one (and only it)");
        return NULL;
    }
    while (self->transports != NULL && PyDict_Next(self->transports, &pos, &key, &value)) {
        cl_aio_fields *f = F(value);
        struct epoll_event e;
        if (f->events == 0 || f->fd < 0) {
            continue;
        }
        e.events = (uint32_t)f->events;
        e.data.u64 = ((uint64_t)f->token << 32) | (uint32_t)f->fd;
        (void)epoll_ctl(fresh, EPOLL_CTL_ADD, f->fd, &e); /* a closed fd: nothing to watch */
    }
    if (!self->owns_epfd) {
        Py_RETURN_NONE;
    }
    if (dup3(fresh, self->epfd, O_CLOEXEC) < 0) {
        int err = errno;
        close(fresh);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    close(fresh);
    Py_RETURN_NONE;
}

static PyObject *
reactor_fileno(cl_aio_reactor *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(self->epfd);
}

static Py_ssize_t
reactor_len(cl_aio_reactor *self)
{
    return self->transports != NULL ? PyDict_GET_SIZE(self->transports) : 0;
}

static PySequenceMethods reactor_as_sequence = {
    .sq_length = (lenfunc)reactor_len,
};

static PyMethodDef reactor_methods[] = {
    {"run", (PyCFunction)reactor_run, METH_NOARGS,
     "run()\n--\n\nHandle every ready transport once (never waits)."},
    {"close", (PyCFunction)reactor_close, METH_NOARGS,
     "close()\n--\n\nForget every transport and close the epoll fd."},
    {"renew", (PyCFunction)reactor_renew, METH_VARARGS,
     "renew(epfd=-1)\n--\n\nIn a forked child: a private epoll with the same registrations\n"
     "(same fd; a reactor sharing the selector's epoll is given its fresh one)."},
    {"poll", (PyCFunction)(void (*)(void))reactor_poll, METH_FASTCALL,
     "poll(fd_to_key, reactor_key)\n--\n\nThe shared epoll's ready events, without waiting: the\n"
     "transports' kept for run(), the selector's returned as (key, events)."},
    {"fileno", (PyCFunction)reactor_fileno, METH_NOARGS,
     "fileno()\n--\n\nThe epoll fd (-1 once closed): readable while a transport is ready."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cl__aio_reactor_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.AioReactor",
    .tp_basicsize = sizeof(cl_aio_reactor),
    .tp_dealloc = (destructor)reactor_dealloc,
    .tp_as_sequence = &reactor_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "AioReactor(on_active, on_error)\n--\n\n"
              "The epoll that corolib.asyncio's socket transports are registered in;\n"
              "on_active(bool) is called when it gets its first transport and loses\n"
              "its last, on_error(exc, transport) when a handler raises.",
    .tp_traverse = (traverseproc)reactor_traverse,
    .tp_clear = (inquiry)reactor_clear,
    .tp_methods = reactor_methods,
    .tp_new = reactor_new,
};

int
cl__aio_reactor_ready(PyObject *module)
{
    if (PyType_Ready(&cl__aio_reactor_type) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "AioReactor", (PyObject *)&cl__aio_reactor_type);
}
