/* Cooperative socket I/O in one C call: try the syscall, park on the fd
 * only if it would block, retry.  corolib.socket uses these for the hot
 * paths (recv, recv_into, send, sendall) so that waiting costs no Python
 * exception, and sock_wait for its other waits.  Semantics are the stdlib
 * socket's:
 *   timeout None  wait as long as it takes
 *   timeout 0     never wait: BlockingIOError when it would block
 *   timeout > 0   TimeoutError("timed out") once that much time passed;
 *                 for sendall the timeout covers the whole call.
 * EINTR is retried after running signal handlers (PEP 475).
 *
 * The waits here are "trusted": corolib.socket cancels them before it
 * closes or detaches an fd, so the hub skips its fd-identity check.
 *
 * Arguments are positional (METH_FASTCALL): these run once per I/O call.
 */
#include "py.h"

#include <errno.h>
#include <sys/socket.h>

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

/* The read hint (hub/io.c): a blocking recv (no timeout, no flags) on a
 * socket whose last read emptied it waits before its first syscall. */
static int
read_would_block(int fd, int flags, int64_t ns)
{
    cl_hub *hub;
    if (ns >= 0 || flags != 0 || (hub = cl__hub_peek()) == NULL) {
        return 0;
    }
    return cl__io_read_drained(hub, fd);
}

static void
note_read(int fd, int flags, Py_ssize_t got, Py_ssize_t asked)
{
    cl_hub *hub;
    if (got < asked && flags == 0 && (hub = cl__hub_peek()) != NULL) {
        cl__io_note_drained(hub, fd);
    }
}

/* ---- argument helpers --------------------------------------------------- */

static int
check_nargs(const char *fname, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max)
{
    if (nargs < min || nargs > max) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd positional arguments (%zd given)",
                     fname, min, max, nargs);
        return -1;
    }
    return 0;
}

static int
int_arg(PyObject *o, int *out, const char *what)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s out of range", what);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* (fd, X, [flags], [timeout]) with flags at args[2] and timeout at args[3]. */
static int
fd_flags_timeout(const char *fname, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t max,
                 int *fd, int *flags, int64_t *ns)
{
    if (check_nargs(fname, nargs, 2, max) < 0 || int_arg(args[0], fd, "fd") < 0) {
        return -1;
    }
    *flags = 0;
    *ns = -1;
    if (nargs > 2 && int_arg(args[2], flags, "flags") < 0) {
        return -1;
    }
    if (nargs > 3 && cl__timeout_ns(args[3], ns, "timeout") < 0) {
        return -1;
    }
    return 0;
}

/* ---- the calls ------------------------------------------------------------- */

/* Small receives go through this buffer and are copied out at their real
 * size: cheaper than allocating bufsize bytes (often 64 KiB) and shrinking
 * them for a 100-byte message.  Used with the GIL held, never across a
 * wait, so one buffer serves every thread. */
#define SCRATCH_BYTES 65536
static char scratch[SCRATCH_BYTES];

/* sock_recv(fd, bufsize, flags=0, timeout=None) -> bytes */
static PyObject *
mod_recv(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, flags, r, skip;
    Py_ssize_t size, n;
    PyObject *buf;
    int64_t ns, deadline;
    (void)m;
    if (fd_flags_timeout("sock_recv", args, nargs, 4, &fd, &flags, &ns) < 0) {
        return NULL;
    }
    size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "negative buffersize in recv");
        return NULL;
    }
    skip = size > 0 && read_would_block(fd, flags, ns);
    if (size <= SCRATCH_BYTES) {
        deadline = deadline_of(ns);
        for (;;) {
            if (!skip) {
                n = recv(fd, scratch, (size_t)size, flags);
                if (n >= 0) {
                    note_read(fd, flags, n, size);
                    return PyBytes_FromStringAndSize(scratch, n);
                }
                if (errno == EINTR) {
                    if (PyErr_CheckSignals() < 0) {
                        return NULL;
                    }
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    return os_error();
                }
            }
            skip = 0;
            r = wait_io(fd, UV_READABLE, remaining(deadline));
            if (r < 0) {
                return NULL;
            }
            if (r == 0) {
                return timeout_error();
            }
        }
    }
    buf = PyBytes_FromStringAndSize(NULL, size);
    if (buf == NULL) {
        return NULL;
    }
    deadline = deadline_of(ns);
    for (;;) {
        if (!skip) {
            n = recv(fd, PyBytes_AS_STRING(buf), (size_t)size, flags);
            if (n >= 0) {
                note_read(fd, flags, n, size);
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
        }
        skip = 0;
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

/* sock_recv_into(fd, buffer, nbytes=0, flags=0, timeout=None) -> int */
static PyObject *
mod_recv_into(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, flags = 0, r, skip;
    Py_ssize_t nbytes = 0, n;
    Py_buffer view;
    PyObject *result = NULL;
    int64_t ns = -1, deadline;
    (void)m;
    if (check_nargs("sock_recv_into", nargs, 2, 5) < 0 || int_arg(args[0], &fd, "fd") < 0) {
        return NULL;
    }
    if (nargs > 2 && (nbytes = PyLong_AsSsize_t(args[2])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if ((nargs > 3 && int_arg(args[3], &flags, "flags") < 0) ||
        (nargs > 4 && cl__timeout_ns(args[4], &ns, "timeout") < 0)) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &view, PyBUF_WRITABLE) < 0) {
        return NULL;
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
    skip = nbytes > 0 && read_would_block(fd, flags, ns);
    for (;;) {
        if (!skip) {
            n = recv(fd, view.buf, (size_t)nbytes, flags);
            if (n >= 0) {
                note_read(fd, flags, n, nbytes);
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
        }
        skip = 0;
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

/* sock_send(fd, data, flags=0, timeout=None) -> int */
static PyObject *
mod_send(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, flags;
    Py_buffer view;
    PyObject *result = NULL;
    int64_t ns;
    Py_ssize_t n;
    (void)m;
    if (fd_flags_timeout("sock_send", args, nargs, 4, &fd, &flags, &ns) < 0 ||
        PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    n = send_some(fd, view.buf, view.len, flags, deadline_of(ns));
    if (n >= 0) {
        result = PyLong_FromSsize_t(n);
    }
    PyBuffer_Release(&view);
    return result;
}

/* sock_sendall(fd, data, flags=0, timeout=None) -> None */
static PyObject *
mod_sendall(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, flags;
    Py_buffer view;
    int64_t ns, deadline;
    Py_ssize_t done = 0;
    (void)m;
    if (fd_flags_timeout("sock_sendall", args, nargs, 4, &fd, &flags, &ns) < 0 ||
        PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    deadline = deadline_of(ns);
    while (done < view.len) {
        Py_ssize_t n =
            send_some(fd, (const char *)view.buf + done, view.len - done, flags, deadline);
        if (n < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
        done += n;
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* sock_wait(fd, writable, timeout=None) -> bool: True ready, False timeout */
static PyObject *
mod_wait(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, writable, r;
    int64_t ns = -1;
    cl_hub *hub;
    (void)m;
    if (check_nargs("sock_wait", nargs, 2, 3) < 0 || int_arg(args[0], &fd, "fd") < 0 ||
        (writable = PyObject_IsTrue(args[1])) < 0 ||
        (nargs > 2 && cl__timeout_ns(args[2], &ns, "timeout") < 0) ||
        (hub = cl__hub_get()) == NULL) {
        return NULL;
    }
    r = cl__io_wait(hub, fd, writable ? UV_WRITABLE : UV_READABLE, ns, 1);
    if (r == -1) {
        return NULL;
    }
    return PyBool_FromLong(r != CL_PARK_TIMEOUT);
}

/* sock_watch(fd, fn, arg, timeout=None): call fn(arg, result) in the hub
 * once fd is readable (see the watches in hub/io.c). */
static PyObject *
mod_watch(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    int64_t ns = -1;
    cl_hub *hub;
    (void)m;
    if (check_nargs("sock_watch", nargs, 3, 4) < 0 || int_arg(args[0], &fd, "fd") < 0 ||
        (nargs > 3 && cl__timeout_ns(args[3], &ns, "timeout") < 0) ||
        (hub = cl__hub_get()) == NULL) {
        return NULL;
    }
    if (!PyCallable_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "sock_watch() needs a callable, not %R", args[1]);
        return NULL;
    }
    if (cl__hub_check_thread(hub) < 0 || cl__io_watch(hub, fd, args[1], args[2], ns) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* sock_fresh(fd): fd was just opened or adopted by a socket object; drop a
 * stale poll left under its number by an fd closed behind our back. */
static PyObject *
mod_fresh(PyObject *m, PyObject *arg)
{
    int fd;
    cl_hub *hub;
    (void)m;
    if (int_arg(arg, &fd, "fd") < 0) {
        return NULL;
    }
    if ((hub = cl__hub_peek()) != NULL) {
        cl__io_fresh(hub, fd);
    }
    Py_RETURN_NONE;
}

static PyMethodDef sockio_methods[] = {
    {"sock_recv", (PyCFunction)(void (*)(void))mod_recv, METH_FASTCALL,
     "sock_recv(fd, bufsize, flags=0, timeout=None, /)\n--\n\n"
     "recv(2) on a non-blocking fd, parking the greenlet while it would\n"
     "block (stdlib socket timeout semantics)."},
    {"sock_recv_into", (PyCFunction)(void (*)(void))mod_recv_into, METH_FASTCALL,
     "sock_recv_into(fd, buffer, nbytes=0, flags=0, timeout=None, /)\n--\n\n"
     "recv(2) into a writable buffer, cooperatively."},
    {"sock_send", (PyCFunction)(void (*)(void))mod_send, METH_FASTCALL,
     "sock_send(fd, data, flags=0, timeout=None, /)\n--\n\n"
     "send(2), cooperatively; returns the number of bytes sent."},
    {"sock_sendall", (PyCFunction)(void (*)(void))mod_sendall, METH_FASTCALL,
     "sock_sendall(fd, data, flags=0, timeout=None, /)\n--\n\n"
     "Send all of data, cooperatively; the timeout covers the whole call."},
    {"sock_wait", (PyCFunction)(void (*)(void))mod_wait, METH_FASTCALL,
     "sock_wait(fd, writable, timeout=None, /)\n--\n\n"
     "Park until fd is readable (or writable): True, or False on timeout.\n"
     "For corolib's own sockets, which cancel waits before closing."},
    {"sock_watch", (PyCFunction)(void (*)(void))mod_watch, METH_FASTCALL,
     "sock_watch(fd, callback, arg, timeout=None, /)\n--\n\n"
     "Call callback(arg, result) in the hub once fd is readable, without a\n"
     "greenlet waiting: result is True (readable or hung up), False (timeout)\n"
     "or the exception the fd's waits were cancelled with (socket closed).\n"
     "One-shot; the callback must not block.  For corolib's own sockets.\n"
     "Never switches."},
    {"sock_fresh", (PyCFunction)mod_fresh, METH_O,
     "sock_fresh(fd, /)\n--\n\n"
     "fd was just opened, or adopted by a new socket object: forget a poll\n"
     "left under its number by an fd closed behind the hub's back (its\n"
     "waiters get OSError(EBADF)).  Never switches."},
    {NULL, NULL, 0, NULL},
};

int
cl__sockio_ready(PyObject *module)
{
    return PyModule_AddFunctions(module, sockio_methods);
}
