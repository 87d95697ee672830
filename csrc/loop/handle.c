/* The handle lifecycle every handle type shares: init, the open check,
 * ref/unref, and close with its completion callback.
 *
 * Invariants:
 *   - A handle is on its loop's list exactly while its state is OPEN or
 *     CLOSING; the list is what cl_loop_close walks.
 *   - uv_close is called at most once per initialisation (libuv aborts on
 *     a second call); the state machine OPEN -> CLOSING -> CLOSED ensures
 *     it.
 *   - on_close is the last time this layer touches a handle: it unlinks,
 *     marks it CLOSED, and only then hands it to the sink's `closed`,
 *     which may free it.
 *   - Nothing here calls anything but the sink.
 */
#include "handle.h"

#include <stdio.h>

/* Read from any thread for statistics, so updated atomically. */
static size_t handles_alive;

int
cl__handle_check_init(cl_loop *loop, const cl_handle *h, const cl_sink *sink)
{
    if (!cl_loop_is_open(loop)) {
        return CL_ECLOSED;
    }
    if (sink == NULL || sink->fire == NULL) {
        return UV_EINVAL;
    }
    if (h->state == CL_HANDLE_OPEN || h->state == CL_HANDLE_CLOSING) {
        return UV_EBUSY;
    }
    return 0;
}

void
cl__handle_open(cl_loop *loop, cl_handle *h, uv_handle_t *uv, const cl_sink *sink, void *data)
{
    h->sink = sink;
    h->data = data;
    h->loop = loop;
    h->uv = uv;
    uv->data = h;
    h->state = CL_HANDLE_OPEN;
    h->prev = NULL;
    h->next = loop->handles;
    if (loop->handles != NULL) {
        loop->handles->prev = h;
    }
    loop->handles = h;
    loop->n_handles++;
    __atomic_add_fetch(&handles_alive, 1, __ATOMIC_RELAXED);
}

static void
on_close(uv_handle_t *uv)
{
    cl_handle *h = cl__handle_of(uv);
    cl_loop *loop = h->loop;
    if (h->prev != NULL) {
        h->prev->next = h->next;
    }
    else {
        loop->handles = h->next;
    }
    if (h->next != NULL) {
        h->next->prev = h->prev;
    }
    h->next = h->prev = NULL;
    loop->n_handles--;
    __atomic_sub_fetch(&handles_alive, 1, __ATOMIC_RELAXED);
    h->state = CL_HANDLE_CLOSED;
    if (h->sink->closed != NULL) {
        h->sink->closed(h); /* may free h: nothing after this */
    }
}

int
cl_handle_close(cl_handle *h)
{
    CL__ENSURE_OPEN(h);
    h->state = CL_HANDLE_CLOSING;
    uv_close(h->uv, on_close);
    return 0;
}

int
cl_handle_is_active(const cl_handle *h)
{
    return h->state == CL_HANDLE_OPEN && uv_is_active(h->uv);
}

int
cl_handle_has_ref(const cl_handle *h)
{
    return h->state == CL_HANDLE_OPEN && uv_has_ref(h->uv);
}

int
cl_handle_ref(cl_handle *h)
{
    CL__ENSURE_OPEN(h);
    uv_ref(h->uv);
    return 0;
}

int
cl_handle_unref(cl_handle *h)
{
    CL__ENSURE_OPEN(h);
    uv_unref(h->uv);
    return 0;
}

size_t
cl_handles_alive(void)
{
    return __atomic_load_n(&handles_alive, __ATOMIC_RELAXED);
}

/* The _r variants: the plain ones leak memory for unknown codes. */
const char *
cl_err_name(int err, char *buf, size_t len)
{
    if (err == CL_ECLOSED) {
        snprintf(buf, len, "ECLOSED");
        return buf;
    }
    return uv_err_name_r(err, buf, len);
}

const char *
cl_strerror(int err, char *buf, size_t len)
{
    if (err == CL_ECLOSED) {
        snprintf(buf, len, "handle is closed");
        return buf;
    }
    return uv_strerror_r(err, buf, len);
}
