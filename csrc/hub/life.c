/* The hub's life cycle and its cross-thread door.
 *
 * Creating a hub (its own libuv loop, the deadline timer, one async handle
 * for cross-thread wake-ups, the signal fd on the main thread), tearing it
 * down (closing the loop only if this process made it: a loop inherited
 * through fork shares its epoll instance with the parent), re-initialising
 * it after fork, and finding the current thread's hub.
 *
 * Cross-thread: other threads append (callable, args) under a mutex and
 * send the async handle; the hub moves them into its ready queue after
 * each uv_run.  hold()/unhold() count cross-thread work in flight, so the
 * hub does not mistake "waiting for another thread" for "nothing left".
 */
#include "hub.h"

#include <sys/types.h>
#include <unistd.h>

/* Bumped in every forked child (pthread_atfork): the hub notices a fork
 * nobody told it about without a getpid() syscall per loop pass. */
volatile unsigned long cl__fork_generation;

static void
forked_child(void)
{
    cl__fork_generation++;
}

void
cl__fork_watch_install(void)
{
    static int installed;
    if (!installed) {
        pthread_atfork(NULL, NULL, forked_child);
        installed = 1;
    }
}

/* ---- cross-thread ------------------------------------------------------ */

int
cl__hub_xpush(cl_hub *hub, PyObject *fn, PyObject *args)
{
    cl_xentry *x = PyMem_RawMalloc(sizeof(cl_xentry));
    int err;
    if (x == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    x->fn = Py_NewRef(fn);
    x->args = Py_NewRef(args);
    x->next = NULL;
    pthread_mutex_lock(&hub->xlock);
    if (hub->destroyed || !hub->loop_open) {
        pthread_mutex_unlock(&hub->xlock);
        Py_DECREF(x->fn);
        Py_DECREF(x->args);
        PyMem_RawFree(x);
        PyErr_SetString(PyExc_RuntimeError, "the hub has been destroyed");
        return -1;
    }
    if (hub->xtail != NULL) {
        hub->xtail->next = x;
    }
    else {
        hub->xhead = x;
    }
    hub->xtail = x;
    hub->xpending++;
    err = cl_async_send(&hub->async);
    pthread_mutex_unlock(&hub->xlock);
    (void)err; /* the queue is checked at every iteration anyway */
    return 0;
}

/* Cross-thread work announced but not yet queued (Hub.hold): an empty
 * loop is then not a reason for LoopExit.  Any thread. */
void
cl__hub_hold(cl_hub *hub, int delta)
{
    pthread_mutex_lock(&hub->xlock);
    if (delta > 0 || hub->xpending >= (size_t)-delta) {
        hub->xpending += (size_t)(ssize_t)delta;
    }
    pthread_mutex_unlock(&hub->xlock);
    if (delta < 0 && hub->loop_open) {
        cl_async_send(&hub->async); /* re-evaluate "nothing left to do" */
    }
}

int
cl__hub_xmove(cl_hub *hub)
{
    cl_xentry *x;
    if (hub->xhead == NULL) {
        return 0; /* racy peek; a send wakes us again */
    }
    pthread_mutex_lock(&hub->xlock);
    x = hub->xhead;
    hub->xhead = hub->xtail = NULL;
    pthread_mutex_unlock(&hub->xlock);
    while (x != NULL) {
        cl_xentry *next = x->next;
        if (cl__hub_push(hub, CL_E_CALL, x->fn, x->args, NULL) < 0) {
            PyErr_WriteUnraisable((PyObject *)hub);
        }
        pthread_mutex_lock(&hub->xlock);
        hub->xpending--;
        pthread_mutex_unlock(&hub->xlock);
        PyMem_RawFree(x);
        x = next;
    }
    return 0;
}

/* ---- life cycle ----------------------------------------------------------- */

static void
async_fire(cl_handle *h, int events, int status)
{
    (void)h;
    (void)events;
    (void)status; /* xmove() looks at the queue after every pass */
}

static void
handle_closed(cl_handle *h)
{
    (void)h;
}

static const cl_sink async_sink = {async_fire, handle_closed};

static void
uvtimer_fire(cl_handle *h, int events, int status)
{
    cl_hub *hub = h->data;
    (void)events;
    (void)status;
    hub->timers_due = 1;
    /* libuv runs due timers at the start of an iteration, before it polls;
     * without this, UV_RUN_ONCE would go on to block in epoll_wait with
     * the deadline we are here for already passed. */
    cl_loop_stop(&hub->loop);
}

static const cl_sink uvtimer_sink = {uvtimer_fire, handle_closed};

int
cl__hub_init(cl_hub *hub, cl_thread *ts)
{
    int err;
    hub->ts = ts;
    hub->pid = (unsigned long)getpid();
    hub->fork_gen = cl__fork_generation;
    hub->sigfd[0] = hub->sigfd[1] = -1;
    hub->old_wakeup_fd = -1;
    err = cl_loop_init(&hub->loop);
    if (err < 0) {
        PyErr_Format(PyExc_OSError, "corolib: cannot create a libuv loop (%d)",
                     err);
        return -1;
    }
    hub->loop_open = 1;
    if (cl_timer_init(&hub->loop, &hub->uvtimer, &uvtimer_sink, hub) < 0 ||
        cl_async_init(&hub->loop, &hub->async, &async_sink, hub) < 0) {
        cl_loop_close(&hub->loop, NULL);
        hub->loop_open = 0;
        PyErr_SetString(PyExc_OSError, "corolib: cannot set up the hub's loop");
        return -1;
    }
    cl_handle_unref(&hub->async.h);
    pthread_mutex_init(&hub->xlock, NULL);
    if (cl__signals_start(hub) < 0) {
        /* Without signals the hub still works; say why. */
        PyErr_WriteUnraisable((PyObject *)hub);
    }
    return 0;
}

/* Free everything the hub owns.  Its greenlet is dead or forgotten. */
void
cl__hub_fini(cl_hub *hub)
{
    cl_xentry *x;
    cl_park *p;
    if (hub->loop_open) {
        int ours = hub->pid == (unsigned long)getpid();
        hub->destroyed = 1;
        cl__signals_stop(hub);
        if (ours) {
            cl__io_free_all(hub);
            cl_loop_close(&hub->loop, NULL);
        }
        /* else: a loop inherited through fork shares its epoll instance
         * with the parent; touching it would unregister the parent's fds.
         * It is leaked on purpose. */
        hub->loop_open = 0;
        pthread_mutex_lock(&hub->xlock);
        x = hub->xhead;
        hub->xhead = hub->xtail = NULL;
        pthread_mutex_unlock(&hub->xlock);
        while (x != NULL) {
            cl_xentry *next = x->next;
            Py_DECREF(x->fn);
            Py_DECREF(x->args);
            PyMem_RawFree(x);
            x = next;
        }
    }
    {
        cl_ring *rings[2] = {&hub->urgent, &hub->ready};
        cl_entry e;
        for (int i = 0; i < 2; i++) {
            while (cl__ring_pop(rings[i], &e)) {
                if (e.kind == CL_E_WAKE) {
                    cl_park *wp = e.a;
                    wp->queued = 0;
                    if (wp->state == CL_PARK_ORPHAN) {
                        cl__park_free(hub, wp);
                    }
                }
                else {
                    Py_XDECREF((PyObject *)e.a);
                    Py_XDECREF(e.b);
                    Py_XDECREF(e.c);
                }
            }
            PyMem_RawFree(rings[i]->buf);
            rings[i]->buf = NULL;
            rings[i]->cap = 0;
        }
    }
    cl__timers_free(hub);
    while ((p = hub->free_parks) != NULL) {
        hub->free_parks = p->next;
        PyMem_RawFree(p);
    }
    hub->n_free_parks = 0;
}

int
cl__hub_after_fork(cl_hub *hub)
{
    int err;
    hub->pid = (unsigned long)getpid();
    hub->fork_gen = cl__fork_generation;
    pthread_mutex_init(&hub->xlock, NULL);
    /* Callbacks other threads posted before the fork are this hub's work
     * (an Event.set() whose waiter is parked here): they stay queued.  What
     * those threads announced but never posted (hold) cannot come here. */
    hub->xpending = 0;
    hub->xtail = NULL;
    for (cl_xentry *x = hub->xhead; x != NULL; x = x->next) {
        hub->xtail = x;
        hub->xpending++;
    }
    if (!hub->loop_open) {
        return 0;
    }
    /* The signal socketpair is shared with the parent: make our own
     * before libuv re-registers its fd with a new epoll instance. */
    if (cl__signals_after_fork(hub) < 0) {
        return -1;
    }
    err = uv_loop_fork(&hub->loop.uv);
    if (err < 0) {
        PyErr_Format(PyExc_OSError, "corolib: uv_loop_fork failed (%d)", err);
        return -1;
    }
    cl_async_after_fork(&hub->async);
    if (hub->xhead != NULL) {
        cl_async_send(&hub->async); /* the next pass must not block */
    }
    return 0;
}

cl_hub *
cl__hub_get(void)
{
    cl_thread *ts = cl__thread();
    PyObject *hub;
    if (ts == NULL) {
        return NULL;
    }
    if (ts->hub != NULL) {
        return (cl_hub *)ts->hub;
    }
    hub = PyObject_CallNoArgs(cl__hub_class ? cl__hub_class
                                            : (PyObject *)&cl__hub_type);
    if (hub == NULL) {
        return NULL;
    }
    if (!CL_HUB_CHECK(hub)) {
        Py_DECREF(hub);
        PyErr_SetString(PyExc_TypeError, "the hub class must derive from "
                                         "corolib._core.Hub");
        return NULL;
    }
    if (ts->hub == NULL) {
        ts->hub = hub; /* the constructor usually installed it already */
    }
    else {
        Py_DECREF(hub);
    }
    return (cl_hub *)ts->hub;
}
