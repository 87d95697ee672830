/* Cooperative socket I/O in one C call: try the syscall, park on the fd
 * only if it would block, retry.  corolib.socket uses these for the hot
 * paths (recv, recv_into, send, sendall) so that waiting costs no Python
 * exception.  Semantics are the stdlib socket's:
 *   timeout None  wait as long as it takes
 *   timeout 0     never wait: BlockingIOError when it would block
 *   timeout > 0   TimeoutError("timed out") once that much time passed;
 *                 for sendall the timeout covers the whole call.
 * EINTR is retried after running signal handlers (PEP 475).
 */
#include "../hub/hub.h"

#include <errno.h>
#include <sys/socket.h>

CL_HIDDEN int cl__timeout_ns(PyObject *seconds, int64_t *ns, const char *what);

static PyObject *
timeout_error(void)
{
    PyErr_SetString(PyExc_TimeoutError, "timed out");
    return NULL;
}

/* Wait for fd; ns < 0 forever.  1 ready, 0 timed out, -1 error. */
static int
wait_io(int fd, int events, int64_t ns)
{
    cl_hub *hub;
    int r;
    if (ns == 0) {
        errno = EAGAIN;
        PyErr_SetFromErrno(PyExc_BlockingIOError);
        return -1;
    }
    if ((hub = cl__hub_get()) == NULL) {
        return -1;
    }
    /* corolib.socket cancels the wait before it closes or detaches. */
    r = cl__io_wait(hub, fd, events, ns, 1);
    if (r == -1) {
        return -1;
    }
    return r != CL_PARK_TIMEOUT;
}

/* What is left of a deadline made by deadline_of(): -1 forever, 0 never
 * wait (timeout 0), else at least 1 ns. */
static int64_t
remaining(int64_t deadline)
{
    int64_t now;
    if (deadline <= 0) {
        return deadline;
    }
    now = (int64_t)uv_hrtime();
    return deadline > now ? deadline - now : 1; /* one more try, at once */
}

static int64_t
deadline_of(int64_t ns)
{
    return ns > 0 ? (int64_t)uv_hrtime() + ns : ns;
}

static PyObject *
os_error(void)
{
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* recv(fd, bufsize, flags=0, timeout=None) -> bytes */
static PyObject *
mod_recv(PyObject *m, PyObject *args)
{
    int fd, flags = 0, r;
    Py_ssize_t size, n;
    PyObject *timeout = Py_None, *buf;
    int64_t ns, deadline;
    (void)m;
    if (!PyArg_ParseTuple(args, "in|iO:sock_recv", &fd, &size, &flags, &timeout) ||
        cl__timeout_ns(timeout, &ns, "timeout") < 0) {
        return NULL;
    }
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "negative buffersize in recv");
        return NULL;
    }
    buf = PyBytes_FromStringAndSize(NULL, size);
    if (buf == NULL) {
        return NULL;
    }
    deadline = deadline_of(ns);
    for (;;) {
        n = recv(fd, PyBytes_AS_STRING(buf), (size_t)size, flags);
        if (n >= 0) {
            break;
        }
        if (errno == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                goto fail;
            }
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            os_error();
            goto fail;
        }
        r = wait_io(fd, UV_READABLE, remaining(deadline));
        if (r < 0) {
            goto fail;
        }
        if (r == 0) {
            timeout_error();
            goto fail;
        }
    }
    if (n != size && _PyBytes_Resize(&buf, n) < 0) {
        return NULL;
    }
    return buf;
fail:
    Py_DECREF(buf);
    return NULL;
}

/* recv_into(fd, buffer, nbytes=0, flags=0, timeout=None) -> int */
static PyObject *
mod_recv_into(PyObject *m, PyObject *args)
{
    int fd, flags = 0, r;
    Py_ssize_t nbytes = 0, n;
    Py_buffer view;
    PyObject *timeout = Py_None, *result = NULL;
    int64_t ns, deadline;
    (void)m;
    if (!PyArg_ParseTuple(args, "iw*|niO:sock_recv_into", &fd, &view, &nbytes, &flags,
                          &timeout)) {
        return NULL;
    }
    if (cl__timeout_ns(timeout, &ns, "timeout") < 0) {
        goto done;
    }
    if (nbytes < 0) {
        PyErr_SetString(PyExc_ValueError, "negative buffersize in recv_into");
        goto done;
    }
    if (nbytes == 0) {
        nbytes = view.len;
    }
    if (nbytes > view.len) {
        PyErr_SetString(PyExc_ValueError, "buffer too small for requested bytes");
        goto done;
    }
    deadline = deadline_of(ns);
    for (;;) {
        n = recv(fd, view.buf, (size_t)nbytes, flags);
        if (n >= 0) {
            result = PyLong_FromSsize_t(n);
            break;
        }
        if (errno == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                break;
            }
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            os_error();
            break;
        }
        r = wait_io(fd, UV_READABLE, remaining(deadline));
        if (r < 0) {
            break;
        }
        if (r == 0) {
            timeout_error();
            break;
        }
    }
done:
    PyBuffer_Release(&view);
    return result;
}

/* One send; returns bytes sent, or -1 with an exception. */
static Py_ssize_t
send_some(int fd, const char *data, Py_ssize_t len, int flags, int64_t deadline)
{
    for (;;) {
        Py_ssize_t n = send(fd, data, (size_t)len, flags | MSG_NOSIGNAL);
        int r;
        if (n >= 0) {
            return n;
        }
        if (errno == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                return -1;
            }
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            os_error();
            return -1;
        }
        r = wait_io(fd, UV_WRITABLE, remaining(deadline));
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            timeout_error();
            return -1;
        }
    }
}

/* send(fd, data, flags=0, timeout=None) -> int */
static PyObject *
mod_send(PyObject *m, PyObject *args)
{
    int fd, flags = 0;
    Py_buffer view;
    PyObject *timeout = Py_None, *result = NULL;
    int64_t ns;
    Py_ssize_t n;
    (void)m;
    if (!PyArg_ParseTuple(args, "iy*|iO:sock_send", &fd, &view, &flags, &timeout)) {
        return NULL;
    }
    if (cl__timeout_ns(timeout, &ns, "timeout") == 0) {
        n = send_some(fd, view.buf, view.len, flags, deadline_of(ns));
        if (n >= 0) {
            result = PyLong_FromSsize_t(n);
        }
    }
    PyBuffer_Release(&view);
    return result;
}

/* sendall(fd, data, flags=0, timeout=None) -> None */
static PyObject *
mod_sendall(PyObject *m, PyObject *args)
{
    int fd, flags = 0;
    Py_buffer view;
    PyObject *timeout = Py_None;
    int64_t ns, deadline;
    Py_ssize_t done = 0;
    (void)m;
    if (!PyArg_ParseTuple(args, "iy*|iO:sock_sendall", &fd, &view, &flags, &timeout)) {
        return NULL;
    }
    if (cl__timeout_ns(timeout, &ns, "timeout") < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    deadline = deadline_of(ns);
    while (done < view.len) {
        Py_ssize_t n = send_some(fd, (const char *)view.buf + done,
                                 view.len - done, flags, deadline);
        if (n < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
        done += n;
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyMethodDef sockio_methods[] = {
    {"sock_recv", mod_recv, METH_VARARGS,
     "sock_recv(fd, bufsize, flags=0, timeout=None)\n--\n\n"
     "recv(2) on a non-blocking fd, parking the greenlet while it would\n"
     "block (stdlib socket timeout semantics)."},
    {"sock_recv_into", mod_recv_into, METH_VARARGS,
     "sock_recv_into(fd, buffer, nbytes=0, flags=0, timeout=None)\n--\n\n"
     "recv(2) into a writable buffer, cooperatively."},
    {"sock_send", mod_send, METH_VARARGS,
     "sock_send(fd, data, flags=0, timeout=None)\n--\n\n"
     "send(2), cooperatively; returns the number of bytes sent."},
    {"sock_sendall", mod_sendall, METH_VARARGS,
     "sock_sendall(fd, data, flags=0, timeout=None)\n--\n\n"
     "Send all of data, cooperatively; the timeout covers the whole call."},
    {NULL, NULL, 0, NULL},
};

int
cl__sockio_ready(PyObject *module)
{
    return PyModule_AddFunctions(module, sockio_methods);
}
