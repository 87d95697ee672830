/* corolib's libuv binding: the C API that hub/ and py/ build on.
 *
 * Pure C over libuv.  Nothing under loop/ includes Python.h, core/ or hub/
 * headers, so this layer runs with the GIL released and can be tested
 * from plain C.  docs/loop.md is the reference; this header is the summary.
 *
 * The one rule: nothing but recording happens inside uv_run.  libuv calls
 * back into this layer, and this layer calls the owner's sink
 * (cl_sink.fire / cl_sink.closed) and nothing else.  A sink must only
 * record the event (append to a C queue, set a flag) and return: it must
 * not call Python, switch greenlets, block, or run or close the loop.  The
 * owner acts on what was recorded after cl_loop_run returns.  This is what
 * makes switching greenlets safe: only the hub's own stack is ever inside
 * uv_run, and libuv's bookkeeping on that stack is never moved.
 *
 * Ownership: the owner provides the memory of every cl_loop and cl_handle
 * (embedded in its own structs or allocated; zero-filled before the first
 * init).  uv_close is asynchronous, so a handle's memory may be freed or
 * reused only once its sink's `closed` callback has run, and a loop only
 * once cl_loop_close returned 0.
 *
 * Threads: every function here must be called from the thread that runs
 * the loop, and never while cl_loop_run runs in another thread.  The one
 * exception is cl_async_send, which any thread may call at any time while
 * the async handle is open.  Sinks run on the loop's thread, inside
 * cl_loop_run (or cl_loop_close), without the GIL.
 *
 * Errors: functions returning int return 0 (or a documented count) on
 * success and a negative libuv error code (UV_E*) on failure, or
 * CL_ECLOSED when the handle or loop has been closed (or was never
 * initialised).  Using a closed handle is an error, never a crash, as long
 * as its memory is still there.
 */
#ifndef CL_LOOP_H
#define CL_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifndef CL_HIDDEN
#define CL_HIDDEN __attribute__((visibility("hidden")))
#endif

/* Use of a closed (or never initialised) handle or loop.  Chosen outside
 * the range of libuv's own codes so that it can share their int. */
#define CL_ECLOSED (-4200)

typedef struct cl_loop cl_loop;
typedef struct cl_handle cl_handle;

/* How a handle reports to its owner.  Both callbacks run inside uv_run
 * and must only record (see the rule above).
 *   fire(h, events, status)  the handle's event: a timer expired, a poll
 *       handle saw `events` (UV_READABLE | ...) or failed with `status`
 *       < 0 (then events is 0 and libuv has already stopped it), an async
 *       handle was sent to, a prepare/check/idle handle ran.  Except for
 *       poll, events and status are 0.
 *   closed(h)  the close completed; from now on this layer never touches
 *       h again and the owner may free or reuse it.  May be NULL. */
typedef struct cl_sink {
    void (*fire)(cl_handle *h, int events, int status);
    void (*closed)(cl_handle *h);
} cl_sink;

typedef enum {
    CL_HANDLE_UNUSED = 0, /* zero-filled, or never initialised */
    CL_HANDLE_OPEN,       /* initialised, close not requested */
    CL_HANDLE_CLOSING,    /* cl_handle_close called, `closed` not yet run */
    CL_HANDLE_CLOSED      /* `closed` has run; may be initialised again */
} cl_handle_state;

/* The part every handle shares; first member of each handle struct, so a
 * pointer to the handle converts to a pointer to this and back. */
struct cl_handle {
    const cl_sink *sink;   /* owner's; set by init */
    void *data;            /* owner's; never read by this layer */
    cl_loop *loop;         /* read-only */
    cl_handle_state state; /* read-only */
    uv_handle_t *uv;       /* private: the libuv handle inside the type */
    cl_handle *next;       /* private: the loop's list of handles */
    cl_handle *prev;
};

struct cl_loop {
    uv_loop_t uv;       /* private: use the functions below */
    cl_handle *handles; /* private: every handle not yet closed */
    size_t n_handles;   /* read-only: length of that list */
    int running;        /* read-only: inside cl_loop_run */
    int state;          /* private: CL__LOOP_* in loop.c */
    void *data;         /* owner's */
};

typedef struct cl_timer {
    cl_handle h;
    uv_timer_t uv;
    int started; /* private: again() needs a prior start */
} cl_timer;

typedef struct cl_poll {
    cl_handle h;
    uv_poll_t uv;
    int fd;
} cl_poll;

typedef struct cl_async {
    cl_handle h;
    uv_async_t uv;
} cl_async;

typedef struct cl_prepare {
    cl_handle h;
    uv_prepare_t uv;
} cl_prepare;

typedef struct cl_check {
    cl_handle h;
    uv_check_t uv;
} cl_check;

typedef struct cl_idle {
    cl_handle h;
    uv_idle_t uv;
} cl_idle;

/* ---- loop.c ----------------------------------------------------------- */

/* Initialise a loop of our own (never libuv's default loop). */
CL_HIDDEN int cl_loop_init(cl_loop *loop);
/* One uv_run: UV_RUN_ONCE or UV_RUN_NOWAIT are the useful modes, since
 * the owner must act on recorded events between passes; UV_RUN_DEFAULT
 * runs until no work is left, or until a sink calls cl_loop_stop.
 * Returns non-zero if work remains, UV_EBUSY if called re-entrantly,
 * CL_ECLOSED on a closed loop.  Call it with the GIL released. */
CL_HIDDEN int cl_loop_run(cl_loop *loop, uv_run_mode mode);
/* Make the running (or the next) uv_run return as soon as possible; for
 * use from a sink to end a UV_RUN_DEFAULT run. */
CL_HIDDEN void cl_loop_stop(cl_loop *loop);
/* The loop's cached time in milliseconds (refreshed at the start of each
 * iteration and after polling), and the call that refreshes it now. */
CL_HIDDEN uint64_t cl_loop_now(const cl_loop *loop);
CL_HIDDEN void cl_loop_update_time(cl_loop *loop);
/* Non-zero while the loop has active ref'd handles or closing handles. */
CL_HIDDEN int cl_loop_alive(const cl_loop *loop);
/* Close every handle still open (their sinks' `closed` run, inside this
 * call), run the loop until every close completed, then uv_loop_close.
 * Stores in *n_open (if not NULL) how many handles the owner had left open.
 * Returns 0 (also for an already closed loop), UV_EBUSY if the loop is
 * running or libuv still has requests or foreign handles on it (the loop
 * then stays open and usable). */
CL_HIDDEN int cl_loop_close(cl_loop *loop, size_t *n_open);
/* Non-zero between a successful cl_loop_init and cl_loop_close. */
CL_HIDDEN int cl_loop_is_open(const cl_loop *loop);

/* ---- handle.c: what every handle type shares ------------------------- */

/* Request the close; the sink's `closed` runs later, inside uv_run.  A
 * pending fire is cancelled: `fire` is never called after this. */
CL_HIDDEN int cl_handle_close(cl_handle *h);
/* Active: started and not stopped (an async handle is active from init).
 * Both predicates are 0 for a handle that is not open. */
CL_HIDDEN int cl_handle_is_active(const cl_handle *h);
CL_HIDDEN int cl_handle_has_ref(const cl_handle *h);
/* An unref'd active handle does not keep cl_loop_alive / uv_run going. */
CL_HIDDEN int cl_handle_ref(cl_handle *h);
CL_HIDDEN int cl_handle_unref(cl_handle *h);
/* Handles initialised and not yet closed, over all loops (a debug
 * counter, like uvloop's; safe to read from any thread). */
CL_HIDDEN size_t cl_handles_alive(void);
/* libuv's error name ("EBADF") and message ("bad file descriptor") for a
 * code, including CL_ECLOSED; the result is `buf` (never NULL). */
CL_HIDDEN const char *cl_err_name(int err, char *buf, size_t len);
CL_HIDDEN const char *cl_strerror(int err, char *buf, size_t len);

/* ---- timer.c ---------------------------------------------------------- */

CL_HIDDEN int cl_timer_init(cl_loop *loop, cl_timer *t, const cl_sink *sink, void *data);
/* Arm the timer: first expiry after timeout_ns, then every repeat_ns (0 =
 * once).  Refreshes the loop time first and rounds the timeout up to the
 * next millisecond plus one, so the timer never expires early: libuv's
 * clock has whole milliseconds, truncated.  Zero means "next iteration".
 * Restarting an active timer re-arms it. */
CL_HIDDEN int cl_timer_start(cl_timer *t, uint64_t timeout_ns, uint64_t repeat_ns);
CL_HIDDEN int cl_timer_stop(cl_timer *t);
/* Re-arm a repeating timer with its repeat as the timeout (rounded as in
 * start); a no-op when repeat is 0.  UV_EINVAL if never started. */
CL_HIDDEN int cl_timer_again(cl_timer *t);
/* Takes effect at the next expiry (or again()); rounded up to a whole
 * millisecond.  The getter returns 0 for a handle that is not open. */
CL_HIDDEN int cl_timer_set_repeat(cl_timer *t, uint64_t repeat_ns);
CL_HIDDEN uint64_t cl_timer_get_repeat(const cl_timer *t);

/* ---- poll.c ----------------------------------------------------------- */

/* Watch fd for readiness.  uv_poll_init puts the fd in O_NONBLOCK mode
 * (and does not restore it); regular files and directories give UV_EPERM
 * (epoll cannot watch them), a closed fd UV_EBADF, and an fd that already
 * has an active poll handle on this loop UV_EEXIST.  Never close the fd
 * while the handle is active: stop or close the handle first. */
CL_HIDDEN int cl_poll_init(cl_loop *loop, cl_poll *p, int fd, const cl_sink *sink, void *data);
/* events: UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED
 * (UV_EINVAL for other bits; 0 stops).  Replaces the current mask. */
CL_HIDDEN int cl_poll_start(cl_poll *p, int events);
CL_HIDDEN int cl_poll_stop(cl_poll *p);
/* The fd given to init, also after close. */
CL_HIDDEN int cl_poll_fd(const cl_poll *p);

/* ---- async.c ---------------------------------------------------------- */

/* Active from init on; there is no start or stop. */
CL_HIDDEN int cl_async_init(cl_loop *loop, cl_async *a, const cl_sink *sink, void *data);
/* Wake the loop and fire the handle in its next iteration.  Safe from any
 * thread (and from a signal handler) while the handle is open; sends
 * coalesce: several sends before the loop notices give one fire. */
CL_HIDDEN int cl_async_send(cl_async *a);
CL_HIDDEN void cl_async_after_fork(cl_async *a);

/* ---- watcher.c: prepare, check, idle --------------------------------- */

/* Prepare fires once per loop iteration just before polling for I/O,
 * check just after, idle once per iteration (and while any idle handle is
 * active the loop polls without blocking). */
#define CL__WATCHER_DECLARE(name)                                                                 \
    CL_HIDDEN int cl_##name##_init(cl_loop *loop, cl_##name *w, const cl_sink *sink, void *data); \
    CL_HIDDEN int cl_##name##_start(cl_##name *w);                                                \
    CL_HIDDEN int cl_##name##_stop(cl_##name *w);
CL__WATCHER_DECLARE(prepare)
CL__WATCHER_DECLARE(check)
CL__WATCHER_DECLARE(idle)
#undef CL__WATCHER_DECLARE

#endif
