/* corolib.asyncio's socket transport: the hot path of asyncio.Transport in C.
 *
 * The sockets are registered in an AioReactor (aio_reactor.c), whose run()
 * calls the handlers here for every ready transport: recv into the
 * reactor's buffer and call the protocol's data_received (or
 * get_buffer/buffer_updated) directly, send what the write buffer holds.
 *
 * The transport base type, made at run time by aio_transport_base(mixin)
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
#include "aio.h"

#include <errno.h>
#include <structmember.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static PyTypeObject *transport_type; /* made by aio_transport_base() */
Py_ssize_t cl__aio_fields_off;       /* where cl_aio_fields start in an instance */
static Py_ssize_t loop_off = -1, paused_proto_off = -1;
static Py_ssize_t base_slots[16]; /* the mixin chain's object slots */
static int n_base_slots;

#define F(self) CL_AIO_F(self)

static PyObject *s_fatal_error, *s_on_eof, *s_maybe_pause, *s_maybe_resume, *s_call_lost,
    *s_data_received, *s_get_buffer, *s_buffer_updated, *s_set_result, *s_set_exception,
    *s_lost_write, *minus_one;

static int
want(PyObject *self, int flag, int on)
{
    int ev = F(self)->events;
    return cl__aio_set_events(self, on ? (ev | flag) : (ev & ~flag));
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

int
cl__aio_read_ready(PyObject *self)
{
    cl_aio_fields *f = F(self);
    PyObject *protocol, *res;
    ssize_t n;
    int err = 0;
    if (f->conn_lost || f->protocol == NULL || f->reactor == NULL) {
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
            err = errno;
        } while (n < 0 && err == EINTR && PyErr_CheckSignals() == 0);
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
            n = recv(f->fd, rbuf, CL_AIO_READ_SIZE, 0);
            err = errno;
        } while (n < 0 && err == EINTR && PyErr_CheckSignals() == 0);
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
    if (err == EAGAIN || err == EWOULDBLOCK) {
        return 0;
    }
    errno = err; /* (the DECREF above may have run code) */
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
    PyObject *v = off >= 0 ? CL_AIO_SLOT(self, off) : NULL;
    return v != NULL && v != Py_False && v != Py_None && PyObject_IsTrue(v) == 1;
}

int
cl__aio_write_ready(PyObject *self)
{
    cl_aio_fields *f = F(self);
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
            /* close() left this to the drained buffer; counted as lost now,
             * so that a later write() or abort() is a no-op (the stdlib's
             * transport would reach for its cleared loop and socket). */
            PyObject *res;
            f->conn_lost++;
            res = PyObject_CallMethodOneArg(self, s_call_lost, Py_None);
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
    cl_aio_fields *f = F(self);
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
    if (cl__aio_read_ready(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
transport_write_ready(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (cl__aio_write_ready(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
transport_attach(PyObject *self, PyObject *args)
{
    cl_aio_fields *f = F(self);
    PyObject *reactor;
    int fd;
    if (!PyArg_ParseTuple(args, "O!i:_attach_reactor", &cl__aio_reactor_type, &reactor, &fd)) {
        return NULL;
    }
    if (f->reactor != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the transport already has a reactor");
        return NULL;
    }
    f->reactor = (cl_aio_reactor *)Py_NewRef(reactor);
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
    cl_aio_fields *f = F(self);
    for (int i = 0; i < n_base_slots; i++) {
        Py_VISIT(CL_AIO_SLOT(self, base_slots[i]));
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
    cl_aio_fields *f = F(self);
    for (int i = 0; i < n_base_slots; i++) {
        Py_CLEAR(CL_AIO_SLOT(self, base_slots[i]));
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

Py_ssize_t
cl__aio_slot_offset(PyObject *cls, const char *name)
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
    loop_off = cl__aio_slot_offset(mixin, "_loop");
    paused_proto_off = cl__aio_slot_offset(mixin, "_protocol_paused");
    if (loop_off < 0 || paused_proto_off < 0) {
        PyErr_SetString(PyExc_TypeError,
                        "aio_transport_base(): the base has no _loop/_protocol_paused slots");
        return NULL;
    }
    cl__aio_fields_off = base->tp_basicsize;
    {
        static const Py_ssize_t offs[] = {
            offsetof(cl_aio_fields, protocol),     offsetof(cl_aio_fields, sock),
            offsetof(cl_aio_fields, server),       offsetof(cl_aio_fields, buffer),
            offsetof(cl_aio_fields, empty_waiter), offsetof(cl_aio_fields, reactor),
            offsetof(cl_aio_fields, conn_lost),    offsetof(cl_aio_fields, fd),
            offsetof(cl_aio_fields, closing),      offsetof(cl_aio_fields, eof),
            offsetof(cl_aio_fields, paused),       offsetof(cl_aio_fields, protocol_connected),
            offsetof(cl_aio_fields, buffered),
        };
        for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
            transport_members[i].offset = cl__aio_fields_off + offs[i];
        }
    }
    spec.name = "corolib._core.AioTransportBase";
    spec.basicsize = (int)(cl__aio_fields_off + (Py_ssize_t)sizeof(cl_aio_fields));
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
    if (cl__aio_reactor_ready(module) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, aio_methods);
}
