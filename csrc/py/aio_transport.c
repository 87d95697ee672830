/* corolib.asyncio's socket transport: the hot path of asyncio.Transport in C.
 *
 * Two objects:
 *
 * - AioReactor: an epoll owned by C, one per corolib EventLoop.  Transports
 *   register their socket in it (not in the loop's Python selector).  The
 *   loop watches the reactor's epoll fd as one ordinary reader, so one
 *   Python-level callback per loop iteration (AioReactor.run) drains every
 *   ready transport: recv into the reactor's buffer and call the protocol's
 *   data_received (or get_buffer/buffer_updated) directly, send what the
 *   write buffer holds.  No Python frame per readiness event besides the
 *   protocol's own.
 *
 * - the transport base type, made at run time by aio_transport_base(mixin)
 *   as a subclass of asyncio.transports._FlowControlMixin (so transports are
 *   asyncio.Transport instances and the stdlib's flow-control methods,
 *   sendfile fallback and sslproto work on them).  Its C fields follow the
 *   mixin's slots.  C implements write() and the two readiness handlers; the
 *   rare paths (close, EOF, fatal errors, pause/resume of the protocol) are
 *   Python methods of corolib.asyncio._loop's subclass, which C calls.
 *
 * Semantics are those of the stdlib's _SelectorSocketTransport (selector
 * transports are the reference: the same errors, messages and order of
 * protocol callbacks).
 */
#include "py.h"

#include <errno.h>
#include <structmember.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024) /* as the stdlib transports' max_size */
#define MAX_EVENTS 128

/* ---- the reactor ---------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    int epfd;
    char *rbuf;           /* READ_SIZE bytes, data_received's source */
    PyObject *transports; /* dict fd -> transport: the registered ones */
    PyObject *on_active;  /* on_active(bool): the reactor has fds / has none */
    PyObject *on_error;   /* on_error(exc, transport): a handler raised */
    PyObject **by_fd;     /* fd -> the transport registered with it (borrowed), or NULL */
    int nfd;              /* the length of by_fd */
    uint32_t tokens;      /* the last registration's token */
} Reactor;

static PyTypeObject reactor_type;

/* ---- the transport's C fields (after the mixin's slots) ------------------ */

typedef struct {
    PyObject *protocol;     /* _protocol */
    PyObject *sock;         /* _sock */
    PyObject *server;       /* _server */
    PyObject *buffer;       /* _buffer: a bytearray, what send() did not take */
    PyObject *empty_waiter; /* _empty_waiter */
    Reactor *reactor;       /* _reactor */
    Py_ssize_t conn_lost;   /* _conn_lost */
    int fd;                 /* _sock_fd */
    int events;             /* what is registered in the reactor's epoll */
    uint32_t token;         /* this registration's token (with the fd in the epoll's data) */
    char closing;           /* _closing */
    char eof;               /* _eof */
    char paused;            /* _paused: pause_reading() */
    char protocol_connected;
    char buffered; /* _buffered: the protocol is a BufferedProtocol */
} Fields;

static PyTypeObject *transport_type; /* made by aio_transport_base() */
static Py_ssize_t fields_off;        /* where Fields start in an instance */
static Py_ssize_t loop_off = -1, paused_proto_off = -1;
static Py_ssize_t base_slots[16]; /* the mixin chain's object slots */
static int n_base_slots;

#define F(self) ((Fields *)((char *)(self) + fields_off))
#define SLOT(self, off) (*(PyObject **)((char *)(self) + (off)))

static PyObject *s_fatal_error, *s_on_eof, *s_maybe_pause, *s_maybe_resume, *s_call_lost,
    *s_data_received, *s_get_buffer, *s_buffer_updated, *s_set_result, *s_set_exception,
    *s_lost_write, *minus_one;

/* ---- registration ---------------------------------------------------------- */

/* Make the transport's registered events `ev` (0: not registered). */
static int
set_events(PyObject *self, int ev)
{
    Fields *f = F(self);
    Reactor *r = f->reactor;
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

static int
want(PyObject *self, int flag, int on)
{
    int ev = F(self)->events;
    return set_events(self, on ? (ev | flag) : (ev & ~flag));
}

/* ---- errors ----------------------------------------------------------------- */

/* An exception is set: SystemExit and KeyboardInterrupt propagate (-1);
 * anything else goes to self._fatal_error(exc, message) (0 unless that
 * raises).  The stdlib's "except (SystemExit, KeyboardInterrupt): raise;
 * except BaseException as exc: self._fatal_error(exc, message)". */
/* Hand `exc` to self._fatal_error(exc, message): 0 unless that raises. */
static int
fatal_with(PyObject *self, PyObject *exc, const char *message)
{
    PyObject *msg, *res;
    msg = PyUnicode_FromString(message);
    if (msg == NULL) {
        return -1;
    }
    res = PyObject_CallMethodObjArgs(self, s_fatal_error, exc, msg, NULL);
    Py_DECREF(msg);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* An exception is set: SystemExit and KeyboardInterrupt propagate (-1);
 * anything else goes to self._fatal_error(exc, message) (0 unless that
 * raises): the stdlib's "except (SystemExit, KeyboardInterrupt): raise;
 * except BaseException as exc: self._fatal_error(exc, message)". */
static int
fatal(PyObject *self, const char *message)
{
    PyObject *exc;
    int rc;
    if (PyErr_ExceptionMatches(PyExc_SystemExit) ||
        PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    exc = cl_err_take();
    rc = fatal_with(self, exc, message);
    Py_DECREF(exc);
    return rc;
}

static int
fatal_errno(PyObject *self, const char *message)
{
    PyErr_SetFromErrno(PyExc_OSError);
    return fatal(self, message);
}

static int
call_method0(PyObject *self, PyObject *name)
{
    PyObject *res = PyObject_CallMethodNoArgs(self, name);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* ---- reading ---------------------------------------------------------------- */

static int
read_ready(PyObject *self)
{
    Fields *f = F(self);
    PyObject *protocol, *res;
    ssize_t n;
    if (f->conn_lost || f->protocol == NULL) {
        return 0;
    }
    protocol = Py_NewRef(f->protocol);
    if (f->buffered) {
        Py_buffer view;
        PyObject *buf = PyObject_CallMethodOneArg(protocol, s_get_buffer, minus_one);
        if (buf == NULL) {
            goto get_buffer_failed;
        }
        if (PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE) < 0) {
            Py_DECREF(buf);
            goto get_buffer_failed;
        }
        Py_DECREF(buf);
        if (view.len == 0) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_RuntimeError, "get_buffer() returned an empty buffer");
            goto get_buffer_failed;
        }
        do {
            n = recv(f->fd, view.buf, (size_t)view.len, 0);
        } while (n < 0 && errno == EINTR && PyErr_CheckSignals() == 0);
        PyBuffer_Release(&view);
        if (n < 0) {
            goto recv_failed;
        }
        if (n == 0) {
            goto eof;
        }
        {
            PyObject *nbytes = PyLong_FromSsize_t(n);
            if (nbytes == NULL) {
                Py_DECREF(protocol);
                return -1;
            }
            res = PyObject_CallMethodOneArg(protocol, s_buffer_updated, nbytes);
            Py_DECREF(nbytes);
        }
        if (res == NULL) {
            Py_DECREF(protocol);
            return fatal(self, "Fatal error: protocol.buffer_updated() call failed.");
        }
        Py_DECREF(res);
        Py_DECREF(protocol);
        return 0;
    get_buffer_failed:
        Py_DECREF(protocol);
        return fatal(self, "Fatal error: protocol.get_buffer() call failed.");
    }
    else {
        PyObject *data;
        char *rbuf = f->reactor->rbuf;
        do {
            n = recv(f->fd, rbuf, READ_SIZE, 0);
        } while (n < 0 && errno == EINTR && PyErr_CheckSignals() == 0);
        if (n < 0) {
            goto recv_failed;
        }
        if (n == 0) {
            goto eof;
        }
        data = PyBytes_FromStringAndSize(rbuf, n);
        if (data == NULL) {
            Py_DECREF(protocol);
            return -1;
        }
        res = PyObject_CallMethodOneArg(protocol, s_data_received, data);
        Py_DECREF(data);
        Py_DECREF(protocol);
        if (res == NULL) {
            return fatal(self, "Fatal error: protocol.data_received() call failed.");
        }
        Py_DECREF(res);
        return 0;
    }
recv_failed:
    Py_DECREF(protocol);
    if (PyErr_Occurred()) { /* a signal handler raised */
        return -1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return 0;
    }
    return fatal_errno(self, "Fatal read error on socket transport");
eof:
    Py_DECREF(protocol);
    return call_method0(self, s_on_eof);
}

/* ---- writing ---------------------------------------------------------------- */

/* send() as much as it takes: bytes sent, 0 would block, -1 error (set). */
static Py_ssize_t
send_some(int fd, const char *p, Py_ssize_t len)
{
    ssize_t n;
    for (;;) {
        n = send(fd, p, (size_t)len, MSG_NOSIGNAL);
        if (n >= 0) {
            return n;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        if (errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
    }
}

static int
is_true_slot(PyObject *self, Py_ssize_t off)
{
    PyObject *v = off >= 0 ? SLOT(self, off) : NULL;
    return v != NULL && v != Py_False && v != Py_None && PyObject_IsTrue(v) == 1;
}

static int
write_ready(PyObject *self)
{
    Fields *f = F(self);
    Py_ssize_t len, n;
    if (f->conn_lost) {
        return 0;
    }
    len = f->buffer != NULL ? PyByteArray_GET_SIZE(f->buffer) : 0;
    if (len == 0) {
        return want(self, EPOLLOUT, 0);
    }
    n = send_some(f->fd, PyByteArray_AS_STRING(f->buffer), len);
    if (n < 0) {
        PyObject *exc, *res;
        int rc;
        if (!PyErr_ExceptionMatches(PyExc_OSError)) {
            return -1; /* a signal handler raised */
        }
        exc = cl_err_take();
        if (want(self, EPOLLOUT, 0) < 0 || PyByteArray_Resize(f->buffer, 0) < 0) {
            Py_DECREF(exc);
            return -1;
        }
        rc = fatal_with(self, exc, "Fatal write error on socket transport");
        if (rc == 0 && f->empty_waiter != NULL && f->empty_waiter != Py_None) {
            res = PyObject_CallMethodOneArg(f->empty_waiter, s_set_exception, exc);
            rc = res == NULL ? -1 : 0;
            Py_XDECREF(res);
        }
        Py_DECREF(exc);
        return rc;
    }
    if (n > 0 && PySequence_DelSlice(f->buffer, 0, n) < 0) {
        return -1;
    }
    if (is_true_slot(self, paused_proto_off) && call_method0(self, s_maybe_resume) < 0) {
        return -1; /* (it may have written more) */
    }
    if (PyByteArray_GET_SIZE(f->buffer) == 0) {
        if (want(self, EPOLLOUT, 0) < 0) {
            return -1;
        }
        if (f->empty_waiter != NULL && f->empty_waiter != Py_None) {
            PyObject *res = PyObject_CallMethodOneArg(f->empty_waiter, s_set_result, Py_None);
            if (res == NULL) {
                return -1;
            }
            Py_DECREF(res);
        }
        if (f->closing) {
            PyObject *res = PyObject_CallMethodOneArg(self, s_call_lost, Py_None);
            if (res == NULL) {
                return -1;
            }
            Py_DECREF(res);
        }
        else if (f->eof) {
            if (shutdown(f->fd, SHUT_WR) < 0) {
                PyErr_SetFromErrno(PyExc_OSError);
                return -1;
            }
        }
    }
    return 0;
}

static PyObject *
transport_write(PyObject *self, PyObject *data)
{
    Fields *f = F(self);
    Py_buffer view;
    Py_ssize_t n = 0, old;
    PyObject *res = NULL;
    if (!PyBytes_Check(data) && !PyByteArray_Check(data) && !PyMemoryView_Check(data)) {
        PyErr_Format(PyExc_TypeError, "data argument must be a bytes-like object, not '%.200s'",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (f->eof) {
        PyErr_SetString(PyExc_RuntimeError, "Cannot call write() after write_eof()");
        return NULL;
    }
    if (f->empty_waiter != NULL && f->empty_waiter != Py_None) {
        PyErr_SetString(PyExc_RuntimeError, "unable to write; sendfile is in progress");
        return NULL;
    }
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (view.len == 0) {
        goto done;
    }
    if (f->conn_lost) {
        f->conn_lost++;
        if (f->conn_lost > 5) { /* the stdlib's LOG_THRESHOLD_FOR_CONNLOST_WRITES */
            if (call_method0(self, s_lost_write) < 0) {
                goto fail;
            }
        }
        goto done;
    }
    if (f->buffer == NULL || f->sock == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the transport is not connected");
        goto fail;
    }
    old = PyByteArray_GET_SIZE(f->buffer);
    if (old == 0) {
        n = send_some(f->fd, view.buf, view.len);
        if (n < 0) {
            if (!PyErr_ExceptionMatches(PyExc_OSError) ||
                fatal(self, "Fatal write error on socket transport") < 0) {
                goto fail;
            }
            goto done;
        }
        if (n == view.len) {
            goto done;
        }
        if (want(self, EPOLLOUT, 1) < 0) {
            goto fail;
        }
    }
    if (PyByteArray_Resize(f->buffer, old + view.len - n) < 0) {
        goto fail;
    }
    memcpy(PyByteArray_AS_STRING(f->buffer) + old, (char *)view.buf + n, (size_t)(view.len - n));
    PyBuffer_Release(&view);
    if (call_method0(self, s_maybe_pause) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
done:
    res = Py_NewRef(Py_None);
fail:
    PyBuffer_Release(&view);
    return res;
}

/* ---- the Python-visible methods ------------------------------------------------ */

static PyObject *
transport_read_ready(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (read_ready(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
transport_write_ready(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (write_ready(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
transport_attach(PyObject *self, PyObject *args)
{
    Fields *f = F(self);
    PyObject *reactor;
    int fd;
    if (!PyArg_ParseTuple(args, "O!i:_attach_reactor", &reactor_type, &reactor, &fd)) {
        return NULL;
    }
    if (f->reactor != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the transport already has a reactor");
        return NULL;
    }
    f->reactor = (Reactor *)Py_NewRef(reactor);
    f->fd = fd;
    f->events = 0;
    if (f->buffer == NULL) {
        f->buffer = PyByteArray_FromStringAndSize(NULL, 0);
        if (f->buffer == NULL) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

#define WATCH(name, flag, on)                                           \
    static PyObject *name(PyObject *self, PyObject *Py_UNUSED(ignored)) \
    {                                                                   \
        if (want(self, flag, on) < 0) {                                 \
            return NULL;                                                \
        }                                                               \
        Py_RETURN_NONE;                                                 \
    }
WATCH(transport_add_reader, EPOLLIN, 1)
WATCH(transport_remove_reader, EPOLLIN, 0)
WATCH(transport_add_writer, EPOLLOUT, 1)
WATCH(transport_remove_writer, EPOLLOUT, 0)
#undef WATCH

static PyObject *
transport_polling(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    int ev = F(self)->events;
    return Py_BuildValue("(OO)", (ev & EPOLLIN) ? Py_True : Py_False,
                         (ev & EPOLLOUT) ? Py_True : Py_False);
}

static PyObject *
transport_is_closing(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(F(self)->closing);
}

static PyMethodDef transport_methods[] = {
    {"is_closing", transport_is_closing, METH_NOARGS,
     "is_closing()\n--\n\nTrue once close() or abort() was called or the connection was lost."},
    {"write", transport_write, METH_O,
     "write(data)\n--\n\nSend data: at once as far as the socket takes it, the rest\n"
     "buffered and sent when the socket is writable."},
    {"_read_ready", transport_read_ready, METH_NOARGS, "Handle readability (as the reactor does)."},
    {"_write_ready", transport_write_ready, METH_NOARGS,
     "Handle writability (as the reactor does)."},
    {"_attach_reactor", transport_attach, METH_VARARGS,
     "_attach_reactor(reactor, fd)\n--\n\nTie the transport to a reactor and its socket's fd."},
    {"_add_reader", transport_add_reader, METH_NOARGS, "Watch the socket for readability."},
    {"_remove_reader", transport_remove_reader, METH_NOARGS, "Stop watching for readability."},
    {"_add_writer", transport_add_writer, METH_NOARGS, "Watch the socket for writability."},
    {"_remove_writer", transport_remove_writer, METH_NOARGS, "Stop watching for writability."},
    {"_polling", transport_polling, METH_NOARGS,
     "(reading, writing): what the reactor watches the socket for."},
    {NULL, NULL, 0, NULL},
};

/* Offsets are filled in when the type is made. */
static PyMemberDef transport_members[] = {
    {"_protocol", T_OBJECT, 0, 0, "the protocol"},
    {"_sock", T_OBJECT, 0, 0, "the socket (None once closed)"},
    {"_server", T_OBJECT, 0, 0, "the server that accepted the connection, or None"},
    {"_buffer", T_OBJECT, 0, READONLY, "what is left to send (a bytearray)"},
    {"_empty_waiter", T_OBJECT, 0, 0, "a future resolved once the buffer is empty"},
    {"_reactor", T_OBJECT, 0, READONLY, "the reactor the socket is registered with"},
    {"_conn_lost", T_PYSSIZET, 0, 0, "connection_lost() scheduled (and writes since)"},
    {"_sock_fd", T_INT, 0, READONLY, "the socket's fd"},
    {"_closing", T_BOOL, 0, 0, "close() was called"},
    {"_eof", T_BOOL, 0, 0, "write_eof() was called"},
    {"_paused", T_BOOL, 0, 0, "pause_reading() was called"},
    {"_protocol_connected", T_BOOL, 0, 0, "the protocol gets connection_lost()"},
    {"_buffered", T_BOOL, 0, 0, "the protocol is a BufferedProtocol"},
    {NULL, 0, 0, 0, NULL},
};

static int
transport_traverse(PyObject *self, visitproc visit, void *arg)
{
    Fields *f = F(self);
    for (int i = 0; i < n_base_slots; i++) {
        Py_VISIT(SLOT(self, base_slots[i]));
    }
    Py_VISIT(f->protocol);
    Py_VISIT(f->sock);
    Py_VISIT(f->server);
    Py_VISIT(f->buffer);
    Py_VISIT(f->empty_waiter);
    Py_VISIT(f->reactor);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int
transport_clear(PyObject *self)
{
    Fields *f = F(self);
    for (int i = 0; i < n_base_slots; i++) {
        Py_CLEAR(SLOT(self, base_slots[i]));
    }
    Py_CLEAR(f->protocol);
    Py_CLEAR(f->sock);
    Py_CLEAR(f->server);
    Py_CLEAR(f->buffer);
    Py_CLEAR(f->empty_waiter);
    Py_CLEAR(f->reactor);
    return 0;
}

static void
transport_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    /* Registered transports are referenced by their reactor: never here
     * while registered. */
    transport_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot transport_slots[] = {
    {Py_tp_doc, "The C part of corolib.asyncio's socket transport."},
    {Py_tp_methods, transport_methods},
    {Py_tp_members, transport_members},
    {Py_tp_traverse, transport_traverse},
    {Py_tp_clear, transport_clear},
    {Py_tp_dealloc, transport_dealloc},
    {0, NULL},
};

static Py_ssize_t
slot_offset(PyObject *cls, const char *name)
{
    PyObject *d = PyObject_GetAttrString(cls, name);
    Py_ssize_t off = -1;
    if (d == NULL) {
        PyErr_Clear();
        return -1;
    }
    if (Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        off = ((PyMemberDescrObject *)d)->d_member->offset;
    }
    Py_DECREF(d);
    return off;
}

static PyObject *
mod_aio_transport_base(PyObject *module, PyObject *mixin)
{
    PyType_Spec spec;
    PyObject *bases, *mro;
    PyTypeObject *base;
    (void)module;
    if (transport_type != NULL) {
        return Py_NewRef((PyObject *)transport_type);
    }
    if (!PyType_Check(mixin)) {
        PyErr_SetString(PyExc_TypeError, "aio_transport_base() needs a class");
        return NULL;
    }
    base = (PyTypeObject *)mixin;
    if (base->tp_dictoffset != 0 || base->tp_weaklistoffset != 0 || base->tp_itemsize != 0) {
        PyErr_SetString(PyExc_TypeError, "aio_transport_base(): the base must use __slots__");
        return NULL;
    }
    /* The object slots of the base classes, which our traverse, clear and
     * dealloc must handle (their own subtype_* functions never run). */
    mro = base->tp_mro;
    n_base_slots = 0;
    for (Py_ssize_t i = 0; mro != NULL && i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *t = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE) || t->tp_members == NULL) {
            continue;
        }
        for (PyMemberDef *m = t->tp_members; m->name != NULL; m++) {
            if (m->type == T_OBJECT_EX && !(m->flags & READONLY)) {
                if (n_base_slots == (int)(sizeof base_slots / sizeof base_slots[0])) {
                    PyErr_SetString(PyExc_TypeError, "aio_transport_base(): too many slots");
                    return NULL;
                }
                base_slots[n_base_slots++] = m->offset;
            }
        }
    }
    loop_off = slot_offset(mixin, "_loop");
    paused_proto_off = slot_offset(mixin, "_protocol_paused");
    if (loop_off < 0 || paused_proto_off < 0) {
        PyErr_SetString(PyExc_TypeError,
                        "aio_transport_base(): the base has no _loop/_protocol_paused slots");
        return NULL;
    }
    fields_off = base->tp_basicsize;
    {
        static const Py_ssize_t offs[] = {
            offsetof(Fields, protocol),     offsetof(Fields, sock),
            offsetof(Fields, server),       offsetof(Fields, buffer),
            offsetof(Fields, empty_waiter), offsetof(Fields, reactor),
            offsetof(Fields, conn_lost),    offsetof(Fields, fd),
            offsetof(Fields, closing),      offsetof(Fields, eof),
            offsetof(Fields, paused),       offsetof(Fields, protocol_connected),
            offsetof(Fields, buffered),
        };
        for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
            transport_members[i].offset = fields_off + offs[i];
        }
    }
    spec.name = "corolib._core.AioTransportBase";
    spec.basicsize = (int)(fields_off + (Py_ssize_t)sizeof(Fields));
    spec.itemsize = 0;
    spec.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC;
    spec.slots = transport_slots;
    bases = PyTuple_Pack(1, mixin);
    if (bases == NULL) {
        return NULL;
    }
    transport_type = (PyTypeObject *)PyType_FromSpecWithBases(&spec, bases);
    Py_DECREF(bases);
    if (transport_type == NULL) {
        return NULL;
    }
    return Py_NewRef((PyObject *)transport_type);
}

/* ---- the reactor's methods ------------------------------------------------------- */

static PyObject *
reactor_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"on_active", "on_error", NULL};
    PyObject *on_active, *on_error;
    Reactor *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:AioReactor", kwlist, &on_active, &on_error)) {
        return NULL;
    }
    self = (Reactor *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->epfd = -1;
    self->transports = PyDict_New();
    self->rbuf = PyMem_RawMalloc(READ_SIZE);
    if (self->transports == NULL || self->rbuf == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->on_active = Py_NewRef(on_active);
    self->on_error = Py_NewRef(on_error);
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
reactor_forget(Reactor *self)
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
reactor_traverse(Reactor *self, visitproc visit, void *arg)
{
    Py_VISIT(self->transports);
    Py_VISIT(self->on_active);
    Py_VISIT(self->on_error);
    return 0;
}

static int
reactor_clear(Reactor *self)
{
    reactor_forget(self);
    Py_CLEAR(self->transports);
    Py_CLEAR(self->on_active);
    Py_CLEAR(self->on_error);
    return 0;
}

static void
reactor_dealloc(Reactor *self)
{
    PyObject_GC_UnTrack(self);
    reactor_clear(self);
    if (self->epfd >= 0) {
        close(self->epfd);
    }
    PyMem_RawFree(self->rbuf);
    PyMem_Free(self->by_fd);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
reactor_run(Reactor *self, PyObject *Py_UNUSED(ignored))
{
    struct epoll_event events[MAX_EVENTS];
    PyObject *held[MAX_EVENTS];
    int n, i, rc = 0;
    if (self->epfd < 0) {
        Py_RETURN_NONE;
    }
    n = epoll_wait(self->epfd, events, MAX_EVENTS, 0);
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
        Fields *f;
        if (t == NULL) {
            continue; /* a stale entry */
        }
        f = F(t);
        if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && (f->events & EPOLLIN)) {
            rc = read_ready(t);
        }
        if (rc == 0 && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && (f->events & EPOLLOUT)) {
            rc = write_ready(t);
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
reactor_close(Reactor *self, PyObject *Py_UNUSED(ignored))
{
    reactor_forget(self);
    if (self->epfd >= 0) {
        close(self->epfd);
        self->epfd = -1;
    }
    Py_RETURN_NONE;
}

static PyObject *
reactor_fileno(Reactor *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(self->epfd);
}

static Py_ssize_t
reactor_len(Reactor *self)
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
    {"fileno", (PyCFunction)reactor_fileno, METH_NOARGS,
     "fileno()\n--\n\nThe epoll fd (-1 once closed): readable while a transport is ready."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject reactor_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.AioReactor",
    .tp_basicsize = sizeof(Reactor),
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

static PyMethodDef aio_methods[] = {
    {"aio_transport_base", mod_aio_transport_base, METH_O,
     "aio_transport_base(mixin)\n--\n\n"
     "The C base of corolib.asyncio's socket transport, a subclass of mixin\n"
     "(asyncio.transports._FlowControlMixin); made once."},
    {NULL, NULL, 0, NULL},
};

int
cl__aio_transport_ready(PyObject *module)
{
#define INTERN(var, s)                                   \
    if ((var = PyUnicode_InternFromString(s)) == NULL) { \
        return -1;                                       \
    }
    INTERN(s_fatal_error, "_fatal_error");
    INTERN(s_on_eof, "_read_ready__on_eof");
    INTERN(s_maybe_pause, "_maybe_pause_protocol");
    INTERN(s_maybe_resume, "_maybe_resume_protocol");
    INTERN(s_call_lost, "_call_connection_lost");
    INTERN(s_data_received, "data_received");
    INTERN(s_get_buffer, "get_buffer");
    INTERN(s_buffer_updated, "buffer_updated");
    INTERN(s_set_result, "set_result");
    INTERN(s_set_exception, "set_exception");
    INTERN(s_lost_write, "_lost_write");
    if ((minus_one = PyLong_FromLong(-1)) == NULL) {
        return -1;
    }
#undef INTERN
    if (PyType_Ready(&reactor_type) < 0 ||
        PyModule_AddObjectRef(module, "AioReactor", (PyObject *)&reactor_type) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, aio_methods);
}
