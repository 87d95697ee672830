/* Waiting for file descriptors: one poll handle per fd, shared by every
 * greenlet waiting on it (libuv refuses a second active poll on an fd).
 *
 * The poll's event mask is the union of what its waiters want.  It is
 * widened at once when a waiter needs more, and narrowed (or the poll
 * stopped) only at the end of the hub's drain, so a greenlet that is woken,
 * does its I/O and waits again in the same round costs no epoll_ctl call.
 * A writable mask is never left on without writers: a writable socket
 * would wake the loop on every pass.
 *
 * Closing an fd that someone waits on must go through cl__io_cancel
 * (socket.close does): waiters get the exception, the poll is stopped and
 * closed before the fd goes, and the next user of that fd number gets a
 * fresh poll.  libuv must never see a closed or reused fd.
 *
 * Callers that cannot promise that (the public wait_readable/wait_writable
 * and select: anyone may os.close an fd behind our back) wait "untrusted":
 * before reusing an idle poll, the fd's identity (device and inode) is
 * checked against the one recorded when the poll was made, and a poll left
 * over from a closed fd whose number was reused is replaced.  corolib's
 * sockets, which always cancel before closing, skip that fstat.
 *
 * Read hint.  A recv on a stream socket that returns less than it asked
 * for has emptied the socket's receive queue; until the poll next reports
 * the fd readable, another recv would almost surely fail with EAGAIN.
 * corolib's sockets (trusted fds) note such short reads here and, on their
 * next blocking recv, wait at once instead of making that syscall -- one
 * syscall fewer per request on a busy keep-alive connection.  The poll is
 * level-triggered, so data that came in meanwhile (even while nobody
 * watched) wakes the waiter on the next loop pass: a stale hint costs one
 * pass, never a lost wake-up.
 */
#include "hub.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define READ_EVENTS (UV_READABLE | UV_DISCONNECT | UV_PRIORITIZED)

static void io_fire(cl_handle *h, int events, int status);
static void io_forget(cl_hub *hub, cl_io *io);
static void io_cancel_closed(cl_hub *hub, cl_io *io);
static int cancel_list(cl_hub *hub, cl_parklist *l, PyObject *exc);
static void io_closed(cl_handle *h);
static const cl_sink io_sink = {io_fire, io_closed};

static void
mark_idle(cl_hub *hub, cl_io *io)
{
    if (!io->idle_listed) {
        io->idle_listed = 1;
        io->idle_next = hub->idle_ios;
        hub->idle_ios = io;
    }
}

/* Wake every waiter of one direction.  They leave the list at once: a
 * woken greenlet that has not run yet must not keep the fd in the poll's
 * mask, or every loop pass until it runs would report the fd again. */
static void
wake_list(cl_hub *hub, cl_parklist *l, int events)
{
    while (l->head != NULL) {
        cl_park *p = l->head;
        cl__parklist_remove(p);
        cl__park_wake(hub, p, events);
    }
}

/* Inside uv_run: record only. */
static void
io_fire(cl_handle *h, int events, int status)
{
    cl_io *io = h->data;
    cl_hub *hub = (cl_hub *)((char *)h->loop - offsetof(cl_hub, loop));
    if (status < 0) {
        /* libuv stopped the handle (POLLERR): everyone retries its
         * syscall, which reports the real error. */
        io->mask = 0;
        events = UV_READABLE | UV_WRITABLE;
    }
    if (events & READ_EVENTS) {
        io->rdrained = 0;
        wake_list(hub, &io->readers, events);
    }
    if (events & UV_WRITABLE) {
        wake_list(hub, &io->writers, events);
    }
    mark_idle(hub, io);
}

static void
io_closed(cl_handle *h)
{
    PyMem_RawFree(h->data);
}

/* Does fd still refer to what it did when the poll was made? */
static int
io_still_valid(const cl_io *io)
{
    struct stat st;
    return fstat(io->fd, &st) == 0 && (unsigned long)st.st_dev == io->dev &&
           (unsigned long)st.st_ino == io->ino;
}

static int
want_mask(const cl_io *io)
{
    return (io->readers.count ? UV_READABLE : 0) | (io->writers.count ? UV_WRITABLE : 0);
}

static int
io_set_mask(cl_io *io, int mask)
{
    int err = 0;
    if (mask == io->mask) {
        return 0;
    }
    if (mask == 0) {
        cl_poll_stop(&io->poll);
        cl_handle_unref(&io->poll.h);
    }
    else {
        err = cl_poll_start(&io->poll, mask);
        cl_handle_ref(&io->poll.h);
    }
    io->mask = err < 0 ? 0 : mask;
    return err;
}

/* The poll for fd, created on first use.  NULL with *err = UV_EPERM for
 * files epoll cannot watch (always ready), other errors raised. */
static cl_io *
io_get(cl_hub *hub, int fd, int *err, int trusted)
{
    cl_io *io;
    int flags;
    struct stat st;
    *err = 0;
    if (fd < 0) {
        PyErr_Format(PyExc_ValueError, "invalid file descriptor %d", fd);
        *err = UV_EBADF;
        return NULL;
    }
    if ((size_t)fd < hub->nfds && hub->fds[fd] != NULL) {
        io = hub->fds[fd];
        if (trusted && io->trusted) {
            return io;
        }
        if (io_still_valid(io)) {
            io->trusted = io->trusted && trusted;
            return io;
        }
        /* A closed fd's number, reused: whoever still waits on the old one
         * learns that it was closed. */
        io_cancel_closed(hub, io);
    }
    /* An fd that is not open is refused before anything is sized to it. */
    if (fcntl(fd, F_GETFD) < 0) {
        *err = UV_EBADF;
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    if ((size_t)fd >= hub->nfds) {
        size_t n = hub->nfds ? hub->nfds : 64;
        cl_io **grown;
        while (n <= (size_t)fd) {
            n *= 2;
        }
        grown = PyMem_RawRealloc(hub->fds, n * sizeof(cl_io *));
        if (grown == NULL) {
            PyErr_NoMemory();
            *err = UV_ENOMEM;
            return NULL;
        }
        memset(grown + hub->nfds, 0, (n - hub->nfds) * sizeof(cl_io *));
        hub->fds = grown;
        hub->nfds = n;
    }
    io = PyMem_RawCalloc(1, sizeof(cl_io));
    if (io == NULL) {
        PyErr_NoMemory();
        *err = UV_ENOMEM;
        return NULL;
    }
    io->fd = fd;
    io->trusted = trusted ? 1 : 0;
    if (fstat(fd, &st) == 0) {
        io->dev = (unsigned long)st.st_dev;
        io->ino = (unsigned long)st.st_ino;
        if (trusted && S_ISSOCK(st.st_mode)) {
            int type = 0;
            socklen_t len = sizeof(type);
            io->stream =
                getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM ? 1
                                                                                             : 0;
        }
    }
    /* uv_poll_init makes the fd non-blocking; that is not ours to change
     * for an fd someone else may use with blocking calls. */
    flags = fcntl(fd, F_GETFL);
    *err = cl_poll_init(&hub->loop, &io->poll, fd, &io_sink, io);
    if (flags >= 0 && !(flags & O_NONBLOCK)) {
        fcntl(fd, F_SETFL, flags);
    }
    if (*err < 0) {
        PyMem_RawFree(io);
        if (*err == UV_EPERM) {
            return NULL; /* a regular file: always ready, as the kernel says */
        }
        if (*err == UV_EBADF) {
            errno = EBADF;
            PyErr_SetFromErrno(PyExc_OSError);
        }
        else {
            PyErr_Format(PyExc_OSError, "cannot watch fd %d (libuv error %d)", fd, *err);
        }
        return NULL;
    }
    cl_handle_unref(&io->poll.h);
    hub->fds[fd] = io;
    return io;
}

int
cl__io_wait(cl_hub *hub, int fd, int events, int64_t timeout_ns, int trusted)
{
    int err, r;
    cl_io *io = io_get(hub, fd, &err, trusted);
    cl_park *p;
    if (io == NULL) {
        return err == UV_EPERM ? events : -1;
    }
    p = cl__park_new(hub, "fd", fd);
    if (p == NULL) {
        return -1;
    }
    cl__parklist_append(events & UV_WRITABLE ? &io->writers : &io->readers, p);
    if ((want_mask(io) & ~io->mask) != 0 && (err = io_set_mask(io, io->mask | want_mask(io))) < 0) {
        cl__park_release(hub, p);
        mark_idle(hub, io);
        PyErr_Format(PyExc_OSError, "cannot watch fd %d (libuv error %d)", fd, err);
        return -1;
    }
    r = cl__hub_park(hub, p, timeout_ns);
    cl__park_release(hub, p);
    if (hub->fds != NULL && (size_t)fd < hub->nfds && hub->fds[fd] == io) {
        mark_idle(hub, io);
    }
    return r;
}

/* Wait until any of n fds has its events (select/poll): one park for the
 * greenlet, and a proxy node on each fd that wakes it.  Returns the events
 * that woke it (>= 0), CL_PARK_TIMEOUT, or -1 with an exception.  A
 * regular file is always ready: then it returns at once. */
int
cl__io_wait_many(cl_hub *hub, const int *fds, const int *events, Py_ssize_t n, int64_t timeout_ns)
{
    cl_park *main, **proxies;
    Py_ssize_t i, made = 0;
    int r = -1, err;

    proxies = PyMem_RawCalloc((size_t)(n > 0 ? n : 1), sizeof(cl_park *));
    if (proxies == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    main = cl__park_new(hub, "select()", n);
    if (main == NULL) {
        PyMem_RawFree(proxies);
        return -1;
    }
    for (i = 0; i < n; i++) {
        cl_io *io = io_get(hub, fds[i], &err, 0);
        cl_park *p;
        if (io == NULL) {
            r = err == UV_EPERM ? events[i] : -1;
            goto done;
        }
        p = cl__park_new(hub, "fd", fds[i]);
        if (p == NULL) {
            goto done;
        }
        p->state = CL_PARK_WAITING;
        p->target = main;
        proxies[made++] = p;
        cl__parklist_append(events[i] & UV_WRITABLE ? &io->writers : &io->readers, p);
        if ((want_mask(io) & ~io->mask) != 0 &&
            (err = io_set_mask(io, io->mask | want_mask(io))) < 0) {
            PyErr_Format(PyExc_OSError, "cannot watch fd %d (libuv error %d)", fds[i], err);
            goto done;
        }
    }
    main->proxies = proxies; /* see release_parked (life.c) */
    main->nproxies = made;
    r = cl__hub_park(hub, main, timeout_ns);
    main->proxies = NULL;
    main->nproxies = 0;
done:
    for (i = 0; i < made; i++) {
        int fd = (int)proxies[i]->detail;
        cl__park_release(hub, proxies[i]);
        if ((size_t)fd < hub->nfds && hub->fds[fd] != NULL) {
            mark_idle(hub, hub->fds[fd]);
        }
    }
    cl__park_release(hub, main);
    PyMem_RawFree(proxies);
    return r;
}

/* Would a recv on fd now fail with EAGAIN, as far as we know?  (See the
 * read hint at the top.)  Only for fds whose waiters cancel before close. */
int
cl__io_read_drained(cl_hub *hub, int fd)
{
    cl_io *io;
    if (fd < 0 || (size_t)fd >= hub->nfds || (io = hub->fds[fd]) == NULL) {
        return 0;
    }
    if (io->rdrained && io->trusted) {
        hub->recv_skipped++;
        return 1;
    }
    return 0;
}

/* A recv on fd returned less than it asked for. */
void
cl__io_note_drained(cl_hub *hub, int fd)
{
    cl_io *io;
    if (fd >= 0 && (size_t)fd < hub->nfds && (io = hub->fds[fd]) != NULL && io->stream &&
        io->trusted) {
        io->rdrained = 1;
    }
}

/* End of a drain: narrow or stop the polls nobody (or fewer) waits on. */
void
cl__io_stop_idle(cl_hub *hub)
{
    cl_io *io = hub->idle_ios;
    hub->idle_ios = NULL;
    while (io != NULL) {
        cl_io *next = io->idle_next;
        io->idle_listed = 0;
        io->idle_next = NULL;
        if (io->forgotten) {
            /* closing; nothing to do */
        }
        else if (!io->trusted && want_mask(io) == 0) {
            /* Nobody promised to tell us before closing this fd: let the
             * poll go rather than keep a watcher on a number that may be
             * closed and reused behind our back. */
            io_forget(hub, io);
        }
        else if (!io->trusted && want_mask(io) != io->mask && !io_still_valid(io)) {
            /* Restarting the poll on a reused number could hand libuv a
             * regular file, which it aborts on. */
            io_cancel_closed(hub, io);
        }
        else {
            io_set_mask(io, want_mask(io));
        }
        io = next;
    }
}

/* Take io out of the table and close its poll (io_closed frees it, inside
 * a later uv_run).  If it is on the idle list it stays there, marked: the
 * list is always emptied before the next uv_run, so it is still valid
 * memory when cl__io_stop_idle skips it. */
static void
io_forget(cl_hub *hub, cl_io *io)
{
    io->forgotten = 1;
    hub->fds[io->fd] = NULL;
    /* Entries in the table are always open; io_closed frees the memory. */
    cl_poll_stop(&io->poll);
    cl_handle_close(&io->poll.h);
}

/* Wake every waiter of a list with `exc`: an exception instance (shared),
 * an exception class (one instance per waiter, so their tracebacks do not
 * chain), or NULL (as if ready). */
static int
cancel_list(cl_hub *hub, cl_parklist *l, PyObject *exc)
{
    int n = 0;
    while (l->head != NULL) {
        cl_park *p = l->head;
        cl__parklist_remove(p);
        if (p->state == CL_PARK_WAITING || p->state == CL_PARK_READY) {
            PyObject *e = NULL;
            if (exc != NULL && PyExceptionClass_Check(exc)) {
                e = PyObject_CallNoArgs(exc);
                if (e == NULL) {
                    e = cl_err_take(); /* raise what constructing it raised */
                }
            }
            else {
                e = Py_XNewRef(exc);
            }
            Py_XSETREF(p->exc, e);
            cl__park_wake(hub, p, UV_READABLE | UV_WRITABLE);
            n++;
        }
    }
    return n;
}

/* The fd of `io` was closed behind the hub's back (its number now names
 * something else): its waiters get OSError(EBADF), the poll goes. */
static void
io_cancel_closed(cl_hub *hub, cl_io *io)
{
    PyObject *pending = cl_err_take();
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is", EBADF,
                                          "File descriptor was closed while waited on");
    if (exc == NULL) {
        PyErr_Clear();
    }
    cancel_list(hub, &io->readers, exc);
    cancel_list(hub, &io->writers, exc);
    Py_XDECREF(exc);
    io_forget(hub, io);
    cl_err_give(pending);
}

/* fd was just opened (a new socket, an accepted connection) or adopted by
 * a new socket object.  A poll still registered under its number can only
 * be left over from an fd closed behind the hub's back (os.close instead of
 * socket.close): libuv's epoll set no longer holds that number, so trusting
 * the poll would leave the new socket's waiters asleep forever.  If the
 * fd's identity changed, the old waiters get OSError(EBADF) and the poll
 * goes, so the next wait makes a fresh one.  An fd adopted while still
 * validly watched (same device and inode) keeps its poll.  Never switches;
 * one table lookup when nothing is registered under fd. */
void
cl__io_fresh(cl_hub *hub, int fd)
{
    cl_io *io;
    if (fd < 0 || (size_t)fd >= hub->nfds || (io = hub->fds[fd]) == NULL) {
        return;
    }
    if (!io_still_valid(io)) {
        io_cancel_closed(hub, io);
    }
}

/* The fd is about to be closed (or was): wake every waiter with `exc`
 * (or, if NULL, as if ready), stop and close its poll.  Returns the number
 * of waiters woken. */
int
cl__io_cancel(cl_hub *hub, int fd, PyObject *exc)
{
    cl_io *io;
    int n;
    if (fd < 0 || (size_t)fd >= hub->nfds || hub->fds[fd] == NULL) {
        return 0;
    }
    io = hub->fds[fd];
    n = cancel_list(hub, &io->readers, exc) + cancel_list(hub, &io->writers, exc);
    io_forget(hub, io);
    return n;
}

void
cl__io_free_all(cl_hub *hub)
{
    size_t i;
    for (i = 0; i < hub->nfds; i++) {
        if (hub->fds[i] != NULL) {
            cl_io *io = hub->fds[i];
            cl_park *p = io->readers.head;
            while (p != NULL) { /* watches go without being called */
                cl_park *next = p->next;
                if (p->what == cl__watch_what) {
                    cl__io_watch_drop(hub, p);
                }
                p = next;
            }
            cancel_list(hub, &io->readers, NULL);
            cancel_list(hub, &io->writers, NULL);
            io_forget(hub, io);
        }
    }
    PyMem_RawFree(hub->fds);
    hub->fds = NULL;
    hub->nfds = 0;
    hub->idle_ios = NULL;
}

Py_ssize_t
cl__io_count(cl_hub *hub)
{
    Py_ssize_t n = 0;
    size_t i;
    for (i = 0; i < hub->nfds; i++) {
        n += hub->fds[i] != NULL;
    }
    return n;
}

/* ---- watches --------------------------------------------------------------
 *
 * A server that waits for a new connection's first bytes needs no greenlet
 * for it: a watch is a park node with no greenlet, in the fd's readers list
 * (and, with a timeout, in the deadline heap) like any reader, woken the
 * same way (the poll callback only queues it).  When the drain reaches it,
 * it calls fn(arg, result) in the hub, once: result is True (readable, or
 * hung up, or failed: the next recv says which), False (the timeout
 * passed) or the exception the fd's waits were cancelled with (the socket
 * was closed).  Then the node is gone: a watch is one-shot. */
const char cl__watch_what[] = "watch";

int
cl__io_watch(cl_hub *hub, int fd, PyObject *fn, PyObject *arg, int64_t timeout_ns)
{
    int err;
    cl_io *io;
    cl_park *p;
    if (hub->destroyed) {
        PyErr_SetString(PyExc_RuntimeError, "the hub has been destroyed");
        return -1;
    }
    io = io_get(hub, fd, &err, 1);
    if (io == NULL) {
        if (err == UV_EPERM) {
            PyErr_Format(PyExc_ValueError, "fd %d cannot be watched (a regular file?)", fd);
        }
        return -1;
    }
    if (cl__ready_reserve(hub, 2) < 0 || (p = cl__park_new(hub, cl__watch_what, fd)) == NULL) {
        mark_idle(hub, io);
        return -1;
    }
    p->state = CL_PARK_WAITING;
    cl__parklist_append(&io->readers, p);
    if ((want_mask(io) & ~io->mask) != 0 && (err = io_set_mask(io, io->mask | want_mask(io))) < 0) {
        cl__park_release(hub, p);
        mark_idle(hub, io);
        PyErr_Format(PyExc_OSError, "cannot watch fd %d (libuv error %d)", fd, err);
        return -1;
    }
    if (timeout_ns >= 0 && cl__timer_add(hub, &p->timeout, (uint64_t)timeout_ns) < 0) {
        cl__park_release(hub, p);
        mark_idle(hub, io);
        return -1;
    }
    p->keep = Py_NewRef(fn);
    p->value = Py_NewRef(arg);
    hub->n_watches++;
    return 0;
}

/* Take the watch out of everything; its references go to the caller. */
static void
watch_unlink(cl_hub *hub, cl_park *p)
{
    int fd = (int)p->detail;
    cl__parklist_remove(p); /* still listed if its timeout woke it */
    cl__timer_cancel(hub, &p->timeout);
    hub->n_watches--;
    if ((size_t)fd < hub->nfds && hub->fds[fd] != NULL) {
        mark_idle(hub, hub->fds[fd]); /* narrow the poll at the end of the drain */
    }
}

/* The drain reached a woken watch: call it.  Returns what the callback
 * returned (NULL: it raised); *fn gets the callback (a reference), for
 * the error report. */
PyObject *
cl__io_watch_fire(cl_hub *hub, cl_park *p, PyObject **fn)
{
    PyObject *arg = p->value, *res = p->exc, *r;
    int result = p->result;
    *fn = p->keep;
    p->keep = p->value = p->exc = NULL;
    watch_unlink(hub, p);
    cl__park_free(hub, p);
    if (res == NULL) {
        res = PyBool_FromLong(result != CL_PARK_TIMEOUT);
    }
    r = PyObject_CallFunctionObjArgs(*fn, arg, res, NULL);
    Py_DECREF(res);
    Py_DECREF(arg);
    return r;
}

/* The hub goes with the watch pending (or queued): drop it uncalled. */
void
cl__io_watch_drop(cl_hub *hub, cl_park *p)
{
    watch_unlink(hub, p);
    cl__park_free(hub, p); /* drops the callback and its argument */
}
