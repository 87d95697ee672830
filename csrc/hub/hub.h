/* The hub: one per OS thread, a greenlet that runs a libuv loop.
 *
 * This directory is the only place where greenlets (core/) and libuv
 * (loop/) meet.  Its contract:
 *   - libuv callbacks (sinks) only record: they mark a parked greenlet
 *     ready and append it to the ready queue, or set a flag.  They run
 *     inside uv_run, on the hub's stack, without the GIL.
 *   - The hub greenlet runs the loop: drain the ready queue (switching to
 *     each woken greenlet, or calling a callback), then one uv_run pass
 *     (UV_RUN_NOWAIT when work is queued, UV_RUN_ONCE otherwise, with the
 *     GIL released), and again.  No Python frame on that path.
 *   - Every blocking call parks the calling greenlet through cl__hub_park
 *     (hub.c), the only function that switches to the hub: the one door.
 *
 * A parked greenlet is described by a cl_park node (heap-allocated from
 * the hub's pool: a suspended greenlet's stack bytes do not stay at their
 * address).  Nodes move WAITING -> READY -> (resumed); a second wake of
 * the same node is ignored, so a timeout and an I/O event can race
 * harmlessly.
 */
#ifndef CL_HUB_H
#define CL_HUB_H

#include "../cl_internal.h"
#include "../loop/loop.h"

#include <pthread.h>

typedef struct cl_hub cl_hub;
typedef struct cl_park cl_park;

/* ---- deadlines (timers.c) -------------------------------------------- */

typedef struct cl_tnode cl_tnode;

/* What a deadline does, filled in by its owner (as loop/'s cl_sink is by
 * hub/): timers.c calls these and knows nothing else about the node. */
typedef struct cl_tsink {
    /* The deadline passed; the node is already out of the heap. */
    void (*fire)(cl_hub *hub, cl_tnode *t);
    /* The hub is torn down with the deadline still pending (may be NULL). */
    void (*dropped)(cl_tnode *t);
} cl_tsink;

/* One deadline in the hub's heap (ordered by deadline, then by seq so
 * equal deadlines fire in the order they were set). */
struct cl_tnode {
    uint64_t deadline; /* uv_hrtime() nanoseconds */
    uint64_t seq;
    size_t index; /* in the heap; CL_T_NONE when not scheduled */
    const cl_tsink *sink;
    int ref; /* counts towards "the loop has work" */
};
#define CL_T_NONE ((size_t)-1)

CL_HIDDEN int cl__timer_add(cl_hub *hub, cl_tnode *t, uint64_t delay_ns);
CL_HIDDEN void cl__timer_cancel(cl_hub *hub, cl_tnode *t);
CL_HIDDEN void cl__timers_fire_due(cl_hub *hub);
CL_HIDDEN void cl__timers_arm(cl_hub *hub);
CL_HIDDEN void cl__timers_free(cl_hub *hub);

/* ---- parked greenlets ------------------------------------------------- */

enum {
    CL_PARK_FREE = 0,
    CL_PARK_WAITING, /* registered, nothing happened yet */
    CL_PARK_READY,   /* woken; queued in the ready queue */
    CL_PARK_DONE,    /* resumed; its owner cleans up */
    CL_PARK_ORPHAN,  /* resumed by something else while queued: the queue
                        entry frees it */
};

/* Result codes of cl__hub_park besides events (>= 0). */
#define CL_PARK_TIMEOUT (-2)

/* Doubly linked FIFO of parked nodes (fd directions, wait queues). */
typedef struct cl_parklist {
    cl_park *head;
    cl_park *tail;
    Py_ssize_t count;
} cl_parklist;

struct cl_park {
    cl_greenlet *g;   /* strong while parked */
    cl_hub *hub;      /* the hub it parks in (borrowed: the hub takes
                            every node out of every list before it goes) */
    PyObject *keep;   /* strong or NULL: what the waiting code needs
                            alive (the WaitQueue, the joined task); dropped
                            with the node if its greenlet never resumes */
    PyObject *hubref; /* strong or NULL: set on a node left behind by
                            Hub.destroy() (see cl__hub_kill_parked) */
    int state;
    int queued;       /* 1 while a ready-queue entry points here */
    int in_all;       /* 1 while on the hub's all_parked list */
    int result;       /* events, or CL_PARK_TIMEOUT */
    PyObject *exc;    /* strong: raise this when resumed */
    PyObject *value;  /* strong: handed over by the waker */
    const char *what; /* what it waits for, for LoopExit messages */
    intptr_t detail;  /* e.g. the fd */
    cl_tnode timeout;
    cl_parklist *list; /* the list it is in, if any */
    cl_park *target;   /* a proxy (one of several fds a greenlet waits
                            on): waking it wakes the target instead */
    cl_park **proxies; /* on the target while parked: its proxies (owned
                            by the waiting code; freed with the node if it
                            never resumes) */
    Py_ssize_t nproxies;
    cl_park *next;
    cl_park *prev;
    cl_park *all_next; /* every parked node of the hub */
    cl_park *all_prev;
};

/* park.c: the lists, allocation and release of park nodes. */
CL_HIDDEN void cl__parklist_append(cl_parklist *l, cl_park *p);
CL_HIDDEN void cl__parklist_remove(cl_park *p);
CL_HIDDEN cl_park *cl__park_new(cl_hub *hub, const char *what, intptr_t detail);
CL_HIDDEN void cl__park_release(cl_hub *hub, cl_park *p);
CL_HIDDEN void cl__park_free(cl_hub *hub, cl_park *p);
CL_HIDDEN void cl__park_unlink_all(cl_hub *hub, cl_park *p);

/* ---- file descriptors (io.c) ----------------------------------------- */

/* One poll handle per fd, shared by every waiter on it.  One per open
 * connection, so kept small: the hub is found from the poll's loop (it
 * embeds it), the flags are bits. */
typedef struct cl_io {
    cl_poll poll; /* first: its sink data points back here */
    int fd;
    int mask;                 /* events the poll handle watches now */
    unsigned idle_listed : 1; /* on the hub's list of polls to stop if idle */
    unsigned forgotten : 1;   /* out of the table, its poll closing */
    unsigned trusted : 1;     /* only waited on by callers that cancel before close */
    unsigned stream : 1;      /* a stream socket (found when a trusted poll is made) */
    unsigned rdrained : 1;    /* read hint: see cl__io_read_drained */
    unsigned long dev;        /* identity of what fd referred to when we took it */
    unsigned long ino;
    cl_parklist readers;
    cl_parklist writers;
    struct cl_io *idle_next;
} cl_io;

CL_HIDDEN int cl__io_wait(cl_hub *hub, int fd, int events, int64_t timeout_ns, int trusted);
CL_HIDDEN int cl__io_wait_many(cl_hub *hub, const int *fds, const int *events, Py_ssize_t n,
                               int64_t timeout_ns);
CL_HIDDEN int cl__io_cancel(cl_hub *hub, int fd, PyObject *exc);
CL_HIDDEN void cl__io_fresh(cl_hub *hub, int fd);
CL_HIDDEN void cl__io_stop_idle(cl_hub *hub);
CL_HIDDEN int cl__io_read_drained(cl_hub *hub, int fd);
CL_HIDDEN void cl__io_note_drained(cl_hub *hub, int fd);
CL_HIDDEN void cl__io_free_all(cl_hub *hub);
CL_HIDDEN Py_ssize_t cl__io_count(cl_hub *hub);

/* Watches (io.c): a callback, not a greenlet, waits for an fd to become
 * readable.  A watch is a park node without a greenlet, told apart by its
 * `what` (cl__watch_what); `keep` is the callback, `value` its argument.
 * It is not on the hub's list of parked greenlets (hub->n_watches counts
 * it, for the ready queues' reserved room).  When woken, the drain calls
 * cl__io_watch_fire instead of switching. */
CL_HIDDEN extern const char cl__watch_what[];
CL_HIDDEN int cl__io_watch(cl_hub *hub, int fd, PyObject *fn, PyObject *arg, int64_t timeout_ns);
CL_HIDDEN PyObject *cl__io_watch_fire(cl_hub *hub, cl_park *p, PyObject **fn);
CL_HIDDEN void cl__io_watch_drop(cl_hub *hub, cl_park *p);

/* ---- the ready queue -------------------------------------------------- */

enum {
    CL_E_WAKE = 1, /* target.park                  resume the parked greenlet */
    CL_E_CALL,     /* target.fn, args (a tuple)    call it in the hub */
    CL_E_START,    /* target.g, args, kwargs (may be NULL): start it */
};

typedef struct cl_entry {
    int kind;
    union {
        void *ptr;      /* as pushed (cl__hub_push's `a`) */
        cl_park *park;  /* CL_E_WAKE: not a reference */
        PyObject *fn;   /* CL_E_CALL: strong */
        cl_greenlet *g; /* CL_E_START: strong */
    } target;
    PyObject *args;   /* CALL, START: strong (START: may be NULL) */
    PyObject *kwargs; /* START: strong or NULL */
} cl_entry;

/* How a ring stores an entry: 24 bytes, the kind in the low bits of `a`
 * (a park node or an object: aligned to 8). */
typedef struct cl_slot {
    uintptr_t a;
    PyObject *b;
    PyObject *c;
} cl_slot;

typedef struct cl_ring {
    cl_slot *buf;
    size_t head;
    size_t count;
    size_t cap;
} cl_ring;

#define CL_HUB_QUEUED(hub) ((hub)->ready.count + (hub)->urgent.count)

/* Cross-thread callbacks, appended under the mutex by any thread. */
typedef struct cl_xentry {
    PyObject *fn;
    PyObject *args;
    struct cl_xentry *next;
} cl_xentry;

struct cl_hub {
    cl_greenlet g;              /* the hub is a greenlet */
    cl_thread *ts;              /* its thread; NULL once that has exited */
    unsigned long thread_ident; /* threading.get_ident() of that thread */
    cl_loop loop;
    int loop_open;
    int destroyed;
    int destroying;         /* Hub.destroy() is killing what is parked */
    unsigned long pid;      /* the process that made the loop */
    unsigned long fork_gen; /* cl__fork_generation when (re)initialised */

    /* Two ready queues (ring buffers, only touched by the hub's thread).
     * `urgent` gets what the outside world did during a loop pass -- I/O
     * readiness, deadlines, signals, other threads -- and is emptied first;
     * `ready` gets starts, callbacks and the wake-ups greenlets give each
     * other, and is drained within a time budget.  So a timer that fires
     * is not queued behind a backlog of 100,000 task starts. */
    cl_ring ready;
    cl_ring urgent;
    int urgent_phase; /* processing a loop pass's results */

    /* deadlines */
    cl_tnode **heap;
    size_t nheap;
    size_t heapcap;
    size_t nheap_ref;
    uint64_t tseq;
    cl_timer uvtimer; /* armed for the earliest deadline */
    int timers_due;   /* set by its sink */

    /* file descriptors */
    cl_io **fds;
    size_t nfds;
    cl_io *idle_ios;

    /* parked greenlets, for LoopExit messages and statistics */
    cl_park *all_parked;
    Py_ssize_t n_parked;
    cl_park *free_parks;
    size_t n_free_parks;
    Py_ssize_t n_watches; /* watches (io.c) registered or queued */

    /* cross-thread wake-ups: one async handle per hub */
    cl_async async;
    pthread_mutex_t xlock;
    cl_xentry *xhead;
    cl_xentry *xtail;
    size_t xpending; /* threadsafe work announced, keeps loop alive */

    /* signals (main thread's hub only) */
    int sigfd[2];
    cl_poll sigpoll;
    int sig_pending;
    int old_wakeup_fd;
    int sig_refresh; /* forked child: put sigfd[1] back as the wakeup fd */

    /* joiners of Hub.join(): woken when the loop runs out of work */
    cl_parklist joiners;

    /* Read without the GIL by the monitor thread (py/introspect.c): written
     * with relaxed atomic stores, which compile to plain stores. */
    uint64_t switches;     /* statistics: greenlets resumed */
    int polling;           /* 1 while blocked in uv_run, GIL released */
    uint64_t recv_skipped; /* statistics: recv calls the read hint spared */
    PyObject *exiting;     /* GreenletExit thrown into the hub itself:
                                   its loop unwinds and re-raises it */
};

#define CL_HUB_COUNT_RESUME(hub) \
    __atomic_store_n(&(hub)->switches, (hub)->switches + 1, __ATOMIC_RELAXED)

#define CL_HUB_CHECK(op) PyObject_TypeCheck((op), &cl__hub_type)

CL_HIDDEN extern PyTypeObject cl__hub_type;
CL_HIDDEN extern PyObject *cl__LoopExit;
CL_HIDDEN extern PyObject *cl__BlockingSwitchOutError;
CL_HIDDEN extern PyObject *cl__InvalidSwitchError;
CL_HIDDEN extern PyObject *cl__hub_class; /* what get_hub() instantiates */
CL_HIDDEN extern PyObject *cl__empty_tuple;

/* hub.c and life.c */
CL_HIDDEN cl_hub *cl__hub_get(void); /* borrowed; creates on first use */

/* The calling thread's hub if it has one (borrowed), else NULL; never
 * creates anything or raises. */
static inline cl_hub *
cl__hub_peek(void)
{
    cl_thread *ts = cl__tls_thread;
    if (ts != NULL && ts->tstate == PyThreadState_GET()) {
        return (cl_hub *)ts->hub;
    }
    return NULL;
}
CL_HIDDEN int cl__ring_pop(cl_ring *r, cl_entry *e);
CL_HIDDEN int cl__hub_park(cl_hub *hub, cl_park *p, int64_t timeout_ns);
/* cl__hub_park in three steps: enter (0, or -1 with nothing registered),
 * cl__switch_bare(hub->ts, &hub->g), leave with what that returned. */
CL_HIDDEN int cl__hub_park_enter(cl_hub *hub, cl_park *p, int64_t timeout_ns);
CL_HIDDEN int cl__hub_park_leave(cl_park *p, PyObject *r);
CL_HIDDEN void cl__park_wake(cl_hub *hub, cl_park *p, int result);
CL_HIDDEN int cl__hub_interrupt(cl_hub *hub, cl_greenlet *g, PyObject *exc);
CL_HIDDEN int cl__hub_push(cl_hub *hub, int kind, void *a, PyObject *b, PyObject *c);
CL_HIDDEN int cl__ready_reserve(cl_hub *hub, size_t extra);
CL_HIDDEN int cl__hub_yield(cl_hub *hub);
CL_HIDDEN int cl__hub_sleep(cl_hub *hub, int64_t ns);
CL_HIDDEN int cl__hub_xpush(cl_hub *hub, PyObject *fn, PyObject *args);
CL_HIDDEN void cl__hub_hold(cl_hub *hub, int delta);
CL_HIDDEN int cl__hub_xmove(cl_hub *hub);
CL_HIDDEN int cl__hub_init(cl_hub *hub, cl_thread *ts);
CL_HIDDEN void cl__hub_fini(cl_hub *hub);
CL_HIDDEN void cl__hub_kill_parked(cl_hub *hub);
CL_HIDDEN int cl__hub_thread_exit(cl_hub *hub);
CL_HIDDEN PyObject *cl__hub_run(cl_hub *hub);
CL_HIDDEN int cl__hub_check_thread(cl_hub *hub);
CL_HIDDEN PyObject *cl__hub_describe_parked(cl_hub *hub);
CL_HIDDEN int cl__hub_after_fork(cl_hub *hub);

CL_HIDDEN extern volatile unsigned long cl__fork_generation;
CL_HIDDEN void cl__fork_watch_install(void);

/* signals.c */
CL_HIDDEN int cl__signals_start(cl_hub *hub);
CL_HIDDEN void cl__signals_stop(cl_hub *hub);
CL_HIDDEN int cl__signals_drain(cl_hub *hub);
CL_HIDDEN int cl__signals_after_fork(cl_hub *hub);
CL_HIDDEN void cl__signals_refresh(cl_hub *hub);

/* py/hub_*.c */
CL_HIDDEN int cl__hub_types_ready(PyObject *module);

#endif
