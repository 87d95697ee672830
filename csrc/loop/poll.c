/* Readiness of a file descriptor (uv_poll_t).
 *
 * Facts the owner must know (measured on libuv 1.44, see docs/loop.md):
 *   - uv_poll_init sets O_NONBLOCK on the fd and never clears it; a Python
 *     socket keeps reporting getblocking() True afterwards.
 *   - Regular files and directories give UV_EPERM: epoll cannot watch
 *     them (they are always ready, which select() emulation must report).
 *   - One active poll handle per fd per loop: a second one is UV_EEXIST at
 *     init, and a stale stopped handle on a reused fd number confuses
 *     libuv.  The hub multiplexes waiters onto one handle per fd.
 *   - On POLLERR (e.g. a refused non-blocking connect) libuv stops the
 *     handle itself and reports status UV_EBADF with events 0; the real
 *     error is the socket's SO_ERROR.
 *   - Level-triggered and possibly spurious: always retry the syscall.
 *
 * Invariants: uv_poll_* is only called on an OPEN handle, with a mask
 * inside the four flags (libuv asserts on anything else).
 */
#include "handle.h"

#define EVENT_MASK (UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED)

static void
on_poll(uv_poll_t *uv, int status, int events)
{
    cl_handle *h = cl__handle_of(uv);
    h->sink->fire(h, status < 0 ? 0 : events, status < 0 ? status : 0);
}

int
cl_poll_init(cl_loop *loop, cl_poll *p, int fd, const cl_sink *sink, void *data)
{
    int err = cl__handle_check_init(loop, &p->h, sink);
    if (err < 0) {
        return err;
    }
    if (fd < 0) {
        return UV_EBADF;
    }
    err = uv_poll_init(&loop->uv, &p->uv, fd);
    if (err < 0) {
        return err;
    }
    p->fd = fd;
    cl__handle_open(loop, &p->h, (uv_handle_t *)&p->uv, sink, data);
    return 0;
}

int
cl_poll_start(cl_poll *p, int events)
{
    CL__ENSURE_OPEN(&p->h);
    if ((events & ~EVENT_MASK) != 0) {
        return UV_EINVAL;
    }
    return uv_poll_start(&p->uv, events, on_poll);
}

int
cl_poll_stop(cl_poll *p)
{
    CL__ENSURE_OPEN(&p->h);
    return uv_poll_stop(&p->uv);
}

int
cl_poll_fd(const cl_poll *p)
{
    return p->fd;
}
