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
 * The queue head and that count are written under the mutex with atomic
 * stores, so the hub's thread may peek at them without it.
 *
 * Greenlets parked when the hub goes: Hub.destroy() kills them
 * (cl__hub_kill_parked); when the hub's thread has exited they can never
 * run again, and the hub drops its references to them and frees their
 * nodes (release_parked), so they are freed like any greenlet of a dead
 * thread, frames included.  Either way no list outside the hub (a
 * WaitQueue, a task's joiners) keeps a pointer to a node afterwards.
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
        __atomic_store_n(&hub->xhead, x, __ATOMIC_RELEASE);
    }
    hub->xtail = x;
    __atomic_fetch_add(&hub->xpending, 1, __ATOMIC_RELAXED);
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
        __atomic_fetch_add(&hub->xpending, (size_t)(ssize_t)delta, __ATOMIC_RELAXED);
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
    if (__atomic_load_n(&hub->xhead, __ATOMIC_ACQUIRE) == NULL) {
        return 0; /* a peek without the lock; a send wakes us again */
    }
    pthread_mutex_lock(&hub->xlock);
    x = hub->xhead;
    __atomic_store_n(&hub->xhead, NULL, __ATOMIC_RELAXED);
    hub->xtail = NULL;
    pthread_mutex_unlock(&hub->xlock);
    while (x != NULL) {
        cl_xentry *next = x->next;
        if (cl__hub_push(hub, CL_E_CALL, x->fn, x->args, NULL) < 0) {
            PyErr_WriteUnraisable((PyObject *)hub);
        }
        pthread_mutex_lock(&hub->xlock);
        __atomic_fetch_sub(&hub->xpending, 1, __ATOMIC_RELAXED);
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
        PyErr_Format(PyExc_OSError, "corolib: cannot create a libuv loop (%d)", err);
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

/* ---- parked greenlets when the hub goes ------------------------------------ */

/* The hub's thread has exited (or the hub is freed): nothing can resume
 * what is still parked.  Take every node out of every list, drop the
 * references the nodes hold and free them.  The greenlets are then freed
 * like any greenlet of a dead thread (csrc/core: frames released, their
 * objects' finalizers run); the C stacks that owned the nodes are never
 * resumed.  In a forked child (a thread of the parent that does not exist
 * here) the references are leaked instead, as CPython leaks the frames of
 * such threads: their objects' finalizers must not run a second time in
 * the child (flushing a buffer the parent flushes too). */
static void
release_parked(cl_hub *hub)
{
    int drop = hub->pid == (unsigned long)getpid();
    cl_park *p;
    while ((p = hub->all_parked) != NULL) {
        cl_greenlet *g = p->g;
        PyObject *keep = p->keep;
        cl__park_unlink_all(hub, p);
        cl__parklist_remove(p); /* before `keep`, which may own the list */
        cl__timer_cancel(hub, &p->timeout);
        p->g = NULL;
        p->keep = NULL;
        if (g != NULL && g->sched == p) {
            g->sched = NULL;
        }
        if (p->proxies != NULL) {
            /* wait_fds: one proxy node per fd, in those fds' lists */
            for (Py_ssize_t i = 0; i < p->nproxies; i++) {
                cl__parklist_remove(p->proxies[i]);
                cl__park_free(hub, p->proxies[i]);
            }
            PyMem_RawFree(p->proxies);
            p->proxies = NULL;
            p->nproxies = 0;
        }
        cl__park_free(hub, p);
        if (drop) {
            Py_XDECREF(g);
            Py_XDECREF(keep);
        }
    }
}

/* Kill `g` (parked here, or queued to start) from the current greenlet:
 * GreenletExit is raised where it waits (its finally blocks run; parking
 * again raises RuntimeError), and it comes back here when it ends. */
static void
kill_from_here(cl_hub *hub, cl_greenlet *g)
{
    cl_thread *ts = hub->ts;
    cl_greenlet *parent = g->parent;
    PyObject *exc, *r;
    exc = PyObject_CallFunction(cl__GreenletExit, "s", "its hub was destroyed (Hub.destroy())");
    if (exc == NULL) {
        PyErr_WriteUnraisable((PyObject *)g);
        return;
    }
    g->parent = (cl_greenlet *)Py_NewRef(ts->current);
    r = cl__throw_into(ts, g, exc);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)g);
    }
    Py_XDECREF(r);
    Py_SETREF(g->parent, parent);
}

/* A parked greenlet that cannot be killed from here (the thread's main
 * greenlet, or one that did not die): its node leaves every list and is
 * made ready with RuntimeError, which its wait raises whenever something
 * next switches to it.  The node keeps the hub object alive until then. */
static void
detach(cl_hub *hub, cl_park *p)
{
    PyObject *exc = PyObject_CallFunction(PyExc_RuntimeError, "s", "the hub has been destroyed");
    if (exc == NULL) {
        exc = cl_err_take();
    }
    cl__park_unlink_all(hub, p);
    cl__parklist_remove(p);
    cl__timer_cancel(hub, &p->timeout);
    Py_XSETREF(p->exc, exc);
    p->state = CL_PARK_READY;
    if (p->hubref == NULL) {
        p->hubref = Py_NewRef((PyObject *)hub);
    }
}

/* Hub.destroy(), after the hub greenlet itself was killed (GIL held, the
 * hub's thread, hub->destroyed set): queued starts die unstarted, queued
 * callbacks are dropped, and every parked greenlet is killed. */
void
cl__hub_kill_parked(cl_hub *hub)
{
    PyObject *pending = cl_err_take();
    cl_thread *ts = hub->ts;
    cl_park *p;
    for (;;) {
        cl_entry e;
        cl_greenlet *g;
        while (cl__ring_pop(&hub->urgent, &e) || cl__ring_pop(&hub->ready, &e)) {
            if (e.kind == CL_E_WAKE) {
                cl_park *wp = e.target.park;
                wp->queued = 0;
                if (wp->state == CL_PARK_ORPHAN) {
                    cl__park_free(hub, wp);
                }
                else if (wp->what == cl__watch_what) {
                    cl__io_watch_drop(hub, wp); /* dropped, as queued callbacks are */
                }
                continue; /* a waiter still parked is killed below */
            }
            g = e.target.ptr; /* a greenlet only for CL_E_START */
            Py_XDECREF(e.args);
            Py_XDECREF(e.kwargs);
            if (e.kind == CL_E_START && !CL_G_STARTED(g) &&
                !(g->sched_flags & CL_S_START_CANCELLED)) {
                kill_from_here(hub, g);
            }
            Py_DECREF(g);
        }
        for (p = hub->all_parked; p != NULL; p = p->all_next) {
            if (p->g != NULL && !CL_G_IS_MAIN(p->g) && p->g != ts->current) {
                break;
            }
        }
        if (p == NULL) {
            if (CL_HUB_QUEUED(hub) == 0) {
                break;
            }
            continue;
        }
        g = (cl_greenlet *)Py_NewRef(p->g);
        kill_from_here(hub, g);
        if (g->sched == p) {
            detach(hub, p); /* still parked there: it did not get the exception */
        }
        Py_DECREF(g);
    }
    while ((p = hub->all_parked) != NULL) {
        detach(hub, p);
    }
    cl_err_give(pending);
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
        __atomic_store_n(&hub->xhead, NULL, __ATOMIC_RELAXED);
        hub->xtail = NULL;
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
                    cl_park *wp = e.target.park;
                    wp->queued = 0;
                    if (wp->state == CL_PARK_ORPHAN) {
                        cl__park_free(hub, wp);
                    }
                    else if (wp->what == cl__watch_what) {
                        cl__io_watch_drop(hub, wp);
                    }
                }
                else {
                    Py_XDECREF((PyObject *)e.target.ptr);
                    Py_XDECREF(e.args);
                    Py_XDECREF(e.kwargs);
                }
            }
            PyMem_RawFree(rings[i]->buf);
            rings[i]->buf = NULL;
            rings[i]->cap = 0;
        }
    }
    release_parked(hub);
    cl__timers_free(hub);
    while ((p = hub->free_parks) != NULL) {
        hub->free_parks = p->next;
        PyMem_RawFree(p);
    }
    hub->n_free_parks = 0;
}

/* The thread state of the hub's thread is being cleared (GIL held).
 * Normally by that thread as it exits: finalise the hub (returns 0).  At
 * interpreter shutdown, the main thread clears every thread state, that
 * of a daemon thread which may at this moment be inside uv_run on the
 * loop embedded in this hub, without the GIL: then nothing is touched and
 * the hub, its loop and whatever is parked in it are leaked on purpose
 * (returns 1).  (In a forked child, where the other threads do not exist,
 * the hub is finalised as usual; its inherited loop is left alone.) */
int
cl__hub_thread_exit(cl_hub *hub)
{
    if (hub->ts != NULL && hub->ts->tstate != PyThreadState_GET() &&
        hub->pid == (unsigned long)getpid()) {
        Py_INCREF(hub); /* never freed: its loop may be in use */
        return 1;
    }
    cl__hub_fini(hub);
    return 0;
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
    hub->sig_refresh = hub->sigfd[0] >= 0;
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
    hub = PyObject_CallNoArgs(cl__hub_class ? cl__hub_class : (PyObject *)&cl__hub_type);
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
