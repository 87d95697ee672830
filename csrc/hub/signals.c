/* Python signal handlers while the thread sits in the hub.
 *
 * libuv's own signal handles would replace Python's handlers, and its
 * epoll wait silently restarts after EINTR, so a Ctrl-C would not be seen
 * until something else woke the loop.  Instead the main thread's hub gives
 * CPython a socketpair through signal.set_wakeup_fd(): CPython's C-level
 * handler writes the signal number there, the poll on the other end wakes
 * uv_run at once, and the hub runs the Python handlers (PyErr_CheckSignals)
 * as soon as uv_run returns.  An exception from a handler (the default
 * SIGINT handler raises KeyboardInterrupt) goes to the main greenlet.
 *
 * Only the main thread of the main interpreter can do this; other hubs
 * simply have no signal fd (set_wakeup_fd refuses them with ValueError).
 */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static void
sig_fire(cl_handle *h, int events, int status)
{
    cl_hub *hub = h->data;
    (void)events;
    (void)status;
    hub->sig_pending = 1;
}

static void
sig_closed(cl_handle *h)
{
    (void)h;
}

static const cl_sink sig_sink = {sig_fire, sig_closed};

/* signal.set_wakeup_fd(fd, warn_on_full_buffer=False); returns the old fd,
 * -2 if this thread may not (not the main thread), -1 on error. */
static int
set_wakeup_fd(int fd)
{
    PyObject *mod = PyImport_ImportModule("signal");
    PyObject *fn, *args, *kwargs, *r;
    int old = -1;
    if (mod == NULL) {
        return -1;
    }
    fn = PyObject_GetAttrString(mod, "set_wakeup_fd");
    Py_DECREF(mod);
    if (fn == NULL) {
        return -1;
    }
    args = Py_BuildValue("(i)", fd);
    kwargs = Py_BuildValue("{s:O}", "warn_on_full_buffer", Py_False);
    r = args && kwargs ? PyObject_Call(fn, args, kwargs) : NULL;
    Py_DECREF(fn);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    if (r == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            return -2;
        }
        return -1;
    }
    old = (int)PyLong_AsLong(r);
    Py_DECREF(r);
    if (old == -1 && PyErr_Occurred()) {
        return -1;
    }
    return old;
}

int
cl__signals_start(cl_hub *hub)
{
    int fds[2], old, err;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    old = set_wakeup_fd(fds[1]);
    if (old < -1) {
        close(fds[0]);
        close(fds[1]);
        return 0; /* not the main thread: no signals here */
    }
    if (old == -1 && PyErr_Occurred()) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    err = cl_poll_init(&hub->loop, &hub->sigpoll, fds[0], &sig_sink, hub);
    if (err == 0) {
        err = cl_poll_start(&hub->sigpoll, UV_READABLE);
    }
    if (err < 0) {
        set_wakeup_fd(old);
        close(fds[0]);
        close(fds[1]);
        PyErr_Format(PyExc_OSError, "cannot watch the signal fd (%d)", err);
        return -1;
    }
    cl_handle_unref(&hub->sigpoll.h); /* signals alone keep nothing alive */
    hub->sigfd[0] = fds[0];
    hub->sigfd[1] = fds[1];
    hub->old_wakeup_fd = old;
    return 0;
}

/* Stop watching the signal fd and hand CPython's wakeup fd back.
 *
 * In a child forked from another thread, this runs for the main thread's
 * hub when CPython clears the thread states it did not fork (the hub is
 * not the child's: hub->pid is the parent's).  Its loop shares its epoll
 * instance with the parent, so the poll handle is left alone: stopping it
 * would unregister the parent's signal fd and the parent would no longer
 * wake on Ctrl-C.  And CPython has not named the forking thread main yet,
 * so set_wakeup_fd() refuses: CPython keeps writing to our socket, whose
 * fd numbers then get fresh sockets of the child's own (the parent hears
 * nothing of the child's signals) and stay open. */
void
cl__signals_stop(cl_hub *hub)
{
    PyObject *pending;
    int ours = hub->pid == (unsigned long)getpid();
    int released = 1; /* CPython no longer writes to sigfd[1] */
    if (hub->sigfd[0] < 0) {
        return;
    }
    pending = cl_err_take();
    if (!cl_is_finalizing()) {
        int now = set_wakeup_fd(hub->old_wakeup_fd);
        if (now == -2) {
            released = 0; /* not the main thread (any more, or yet) */
        }
        else if (now >= 0 && now != hub->sigfd[1]) {
            set_wakeup_fd(now); /* someone else took it over: leave theirs */
        }
        PyErr_Clear();
    }
    if (ours) {
        cl_poll_stop(&hub->sigpoll);
        cl_handle_close(&hub->sigpoll.h);
    }
    if (released) {
        close(hub->sigfd[0]);
        close(hub->sigfd[1]);
    }
    else if (!ours && cl__signals_after_fork(hub) < 0) {
        PyErr_Clear(); /* no fds left: the child's signals wake the parent once */
    }
    hub->sigfd[0] = hub->sigfd[1] = -1;
    cl_err_give(pending);
}

/* After fork: the socketpair is shared with the parent.  Put fresh sockets
 * under the same fd numbers, so the poll handle and CPython's wakeup fd
 * stay valid and only this process hears its own signals. */
int
cl__signals_after_fork(cl_hub *hub)
{
    int fds[2];
    if (hub->sigfd[0] < 0) {
        return 0;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (dup3(fds[0], hub->sigfd[0], O_CLOEXEC) < 0 || dup3(fds[1], hub->sigfd[1], O_CLOEXEC) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    close(fds[0]);
    close(fds[1]);
    return 0;
}

/* The hub's first pass in a forked child, once every at-fork hook has run:
 * asyncio's (3.12+) clears the wakeup fd in the child, which would leave
 * the hub deaf to signals while it waits.  Put ours back if it was
 * cleared; leave a wakeup fd someone else set. */
void
cl__signals_refresh(cl_hub *hub)
{
    PyObject *pending;
    int now;
    hub->sig_refresh = 0;
    if (hub->sigfd[1] < 0 || cl_is_finalizing()) {
        return;
    }
    pending = cl_err_take();
    now = set_wakeup_fd(hub->sigfd[1]);
    if (now >= 0 && now != hub->sigfd[1]) {
        set_wakeup_fd(now);
    }
    PyErr_Clear();
    cl_err_give(pending);
}

/* Read what the C-level handler wrote, then run the Python handlers. */
int
cl__signals_drain(cl_hub *hub)
{
    char buf[64];
    hub->sig_pending = 0;
    while (hub->sigfd[0] >= 0 && recv(hub->sigfd[0], buf, sizeof buf, 0) > 0) {
    }
    return PyErr_CheckSignals();
}
