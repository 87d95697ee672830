/* A loop: our own uv_loop_t (never libuv's default loop), one pass of
 * uv_run at a time, and a close that leaves nothing behind.
 *
 * Invariants:
 *   - cl_loop_run never nests: uv_run is not re-entrant, and a sink that
 *     tried would be breaking the record-only rule anyway.
 *   - cl_loop_close frees nothing itself: it closes what is open, runs the
 *     loop until every close callback ran (each hands its handle back to
 *     its owner through the sink), and only then calls uv_loop_close,
 *     which libuv refuses while any handle is still closing.
 *   - No handle can be initialised once the loop is closing, so the close
 *     loop below terminates.
 */
#include "handle.h"

enum {
    CL__LOOP_UNUSED = 0,
    CL__LOOP_OPEN,
    CL__LOOP_CLOSING,
    CL__LOOP_CLOSED,
};

int
cl_loop_init(cl_loop *loop)
{
    int err;
    if (loop->state == CL__LOOP_OPEN || loop->state == CL__LOOP_CLOSING) {
        return UV_EBUSY;
    }
    err = uv_loop_init(&loop->uv);
    if (err < 0) {
        return err;
    }
    loop->uv.data = loop;
    loop->handles = NULL;
    loop->n_handles = 0;
    loop->running = 0;
    loop->state = CL__LOOP_OPEN;
    return 0;
}

int
cl_loop_is_open(const cl_loop *loop)
{
    return loop->state == CL__LOOP_OPEN;
}

int
cl_loop_run(cl_loop *loop, uv_run_mode mode)
{
    int r;
    if (loop->state != CL__LOOP_OPEN) {
        return CL_ECLOSED;
    }
    if (loop->running) {
        return UV_EBUSY;
    }
    if (mode != UV_RUN_DEFAULT && mode != UV_RUN_ONCE && mode != UV_RUN_NOWAIT) {
        return UV_EINVAL;
    }
    loop->running = 1;
    r = uv_run(&loop->uv, mode);
    loop->running = 0;
    return r;
}

void
cl_loop_stop(cl_loop *loop)
{
    if (loop->state == CL__LOOP_OPEN) {
        uv_stop(&loop->uv);
    }
}

uint64_t
cl_loop_now(const cl_loop *loop)
{
    return loop->state == CL__LOOP_OPEN ? uv_now(&loop->uv) : 0;
}

void
cl_loop_update_time(cl_loop *loop)
{
    if (loop->state == CL__LOOP_OPEN) {
        uv_update_time(&loop->uv);
    }
}

int
cl_loop_alive(const cl_loop *loop)
{
    return loop->state == CL__LOOP_OPEN && uv_loop_alive(&loop->uv);
}

int
cl_loop_close(cl_loop *loop, size_t *n_open)
{
    size_t opened = 0;
    int err;
    if (n_open != NULL) {
        *n_open = 0;
    }
    if (loop->state != CL__LOOP_OPEN) {
        return 0;
    }
    if (loop->running) {
        return UV_EBUSY;
    }
    loop->state = CL__LOOP_CLOSING;
    /* cl_handle_close only changes state; the list changes in on_close,
     * inside uv_run below, so walking it here is safe. */
    for (cl_handle *h = loop->handles; h != NULL; h = h->next) {
        if (h->state == CL_HANDLE_OPEN) {
            cl_handle_close(h);
            opened++;
        }
    }
    if (n_open != NULL) {
        *n_open = opened;
    }
    /* Close callbacks run at the end of every iteration, so one NOWAIT
     * pass completes them all; the loop is for a uv_stop left over from
     * before, which makes the first uv_run return without iterating. */
    while (loop->handles != NULL) {
        uv_run(&loop->uv, UV_RUN_NOWAIT);
    }
    err = uv_loop_close(&loop->uv);
    if (err < 0) {
        loop->state = CL__LOOP_OPEN;
        return err;
    }
    loop->state = CL__LOOP_CLOSED;
    return 0;
}
