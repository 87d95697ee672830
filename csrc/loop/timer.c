/* Timers that never expire early.
 *
 * libuv's loop time is whole milliseconds, truncated, cached at the start
 * of each iteration; uv_timer_start computes the expiry from that cached
 * value and does not refresh it.  Two ways to expire early follow: a
 * stale cached time (it can be many milliseconds old when the owner did
 * work between passes), and truncation (the real time is up to 1 ms past
 * the cached one when the timer is armed).  So every arming refreshes the
 * time first and adds one millisecond to the rounded-up timeout.  The
 * owner may still re-check against uv_hrtime() when it wakes.
 *
 * Invariants: uv_timer_* is only called on an OPEN handle; the sink is
 * fired with (0, 0) and nothing else happens in the libuv callback.
 */
#include "handle.h"

#define NS_PER_MS 1000000u

static uint64_t
ms_ceil(uint64_t ns)
{
    return ns / NS_PER_MS + (ns % NS_PER_MS != 0);
}

/* The libuv timeout for "no earlier than timeout_ns from now". */
static uint64_t
arm_ms(uint64_t timeout_ns)
{
    return timeout_ns == 0 ? 0 : ms_ceil(timeout_ns) + 1;
}

static void
on_timer(uv_timer_t *uv)
{
    cl_handle *h = cl__handle_of(uv);
    h->sink->fire(h, 0, 0);
}

int
cl_timer_init(cl_loop *loop, cl_timer *t, const cl_sink *sink, void *data)
{
    int err = cl__handle_check_init(loop, &t->h, sink);
    if (err < 0) {
        return err;
    }
    err = uv_timer_init(&loop->uv, &t->uv);
    if (err < 0) {
        return err;
    }
    t->started = 0;
    cl__handle_open(loop, &t->h, (uv_handle_t *)&t->uv, sink, data);
    return 0;
}

int
cl_timer_start(cl_timer *t, uint64_t timeout_ns, uint64_t repeat_ns)
{
    CL__ENSURE_OPEN(&t->h);
    uv_update_time(&t->h.loop->uv);
    t->started = 1;
    return uv_timer_start(&t->uv, on_timer, arm_ms(timeout_ns), ms_ceil(repeat_ns));
}

int
cl_timer_stop(cl_timer *t)
{
    CL__ENSURE_OPEN(&t->h);
    return uv_timer_stop(&t->uv);
}

/* Not uv_timer_again: it neither refreshes the time nor adds the
 * millisecond that keeps the first expiry from being early. */
int
cl_timer_again(cl_timer *t)
{
    uint64_t repeat;
    CL__ENSURE_OPEN(&t->h);
    if (!t->started) {
        return UV_EINVAL;
    }
    repeat = uv_timer_get_repeat(&t->uv);
    if (repeat == 0) {
        return 0;
    }
    uv_update_time(&t->h.loop->uv);
    return uv_timer_start(&t->uv, on_timer, repeat + 1, repeat);
}

int
cl_timer_set_repeat(cl_timer *t, uint64_t repeat_ns)
{
    CL__ENSURE_OPEN(&t->h);
    uv_timer_set_repeat(&t->uv, ms_ceil(repeat_ns));
    return 0;
}

uint64_t
cl_timer_get_repeat(const cl_timer *t)
{
    uint64_t ms;
    if (t->h.state != CL_HANDLE_OPEN) {
        return 0;
    }
    ms = uv_timer_get_repeat(&t->uv);
    return ms > UINT64_MAX / NS_PER_MS ? UINT64_MAX : ms * NS_PER_MS;
}
