/* Cross-thread wake-ups (uv_async_t).
 *
 * The handle is active from init; uv_async_send is the only libuv call
 * that is safe from another thread, and it coalesces: any number of sends
 * before the loop thread notices give one callback.  libuv 1.44 scans
 * every async handle of a loop on each wake-up, so an owner wants one per
 * loop plus its own queue of what to do.
 *
 * Invariants: the other thread may only call cl_async_send, and only
 * while the handle is OPEN; the owner must make sure it is not closed
 * concurrently (this file cannot, without a lock on every send).
 */
#include "handle.h"

static void
on_async(uv_async_t *uv)
{
    cl_handle *h = cl__handle_of(uv);
    h->sink->fire(h, 0, 0);
}

int
cl_async_init(cl_loop *loop, cl_async *a, const cl_sink *sink, void *data)
{
    int err = cl__handle_check_init(loop, &a->h, sink);
    if (err < 0) {
        return err;
    }
    err = uv_async_init(&loop->uv, &a->uv, on_async);
    if (err < 0) {
        return err;
    }
    cl__handle_open(loop, &a->h, (uv_handle_t *)&a->uv, sink, data);
    return 0;
}

int
cl_async_send(cl_async *a)
{
    CL__ENSURE_OPEN(&a->h);
    return uv_async_send(&a->uv);
}

/* After uv_loop_fork, in the child.  A send the parent made that its loop
 * had not seen yet leaves the handle marked pending, and libuv (1.44 at
 * least) does not clear that when it re-creates its wake-up fd: every later
 * send would then be swallowed, and the child's loop never woken by
 * another thread.  No other thread exists here yet. */
void
cl_async_after_fork(cl_async *a)
{
    a->uv.pending = 0;
}
