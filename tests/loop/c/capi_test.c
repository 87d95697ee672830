/* The loop/ C API used from plain C, as hub/ will use it: no Python.
 *
 * Built and run by tests/loop/test_capi.py, also under ASan+UBSan.  Each
 * check prints nothing on success; a failure prints the line and exits 1.
 * The sink records into a small array, the way the hub's will.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop/loop.h"

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__,          \
                    __LINE__, #cond);                                       \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

typedef struct {
    cl_handle *h;
    int events;
    int status;
} record;

static record fired[64];
static int n_fired;
static cl_handle *closed[64];
static int n_closed;

static void
sink_fire(cl_handle *h, int events, int status)
{
    if (n_fired < 64) {
        fired[n_fired++] = (record){h, events, status};
    }
}

static void
sink_closed(cl_handle *h)
{
    if (n_closed < 64) {
        closed[n_closed++] = h;
    }
}

static const cl_sink sink = {sink_fire, sink_closed};

static void
reset(void)
{
    n_fired = n_closed = 0;
}

static void
test_timer_never_early(void)
{
    cl_loop loop = {0};
    cl_timer t = {0};
    CHECK(cl_loop_init(&loop) == 0);
    CHECK(cl_timer_init(&loop, &t, &sink, NULL) == 0);
    CHECK(t.h.state == CL_HANDLE_OPEN && t.h.loop == &loop);
    for (int i = 0; i < 20; i++) {
        uint64_t start, timeout = (uint64_t)(i % 5 + 1) * 1000000u;
        reset();
        usleep(2000); /* leave the cached loop time stale */
        start = uv_hrtime();
        CHECK(cl_timer_start(&t, timeout, 0) == 0);
        while (n_fired == 0) {
            CHECK(cl_loop_run(&loop, UV_RUN_ONCE) >= 0);
        }
        CHECK(uv_hrtime() - start >= timeout);
        CHECK(fired[0].h == &t.h && fired[0].events == 0);
    }
    CHECK(cl_timer_again(&t) == 0); /* repeat 0: nothing */
    CHECK(!cl_handle_is_active(&t.h));
    CHECK(cl_timer_set_repeat(&t, 1500000) == 0);
    CHECK(cl_timer_get_repeat(&t) == 2000000); /* whole milliseconds */
    reset();
    CHECK(cl_handle_close(&t.h) == 0);
    CHECK(cl_handle_close(&t.h) == CL_ECLOSED);
    CHECK(cl_timer_start(&t, 0, 0) == CL_ECLOSED);
    CHECK(cl_loop_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(n_closed == 1 && closed[0] == &t.h && t.h.state == CL_HANDLE_CLOSED);
    CHECK(cl_timer_stop(&t) == CL_ECLOSED);
    /* A closed handle may be initialised again (the hub reuses them). */
    CHECK(cl_timer_init(&loop, &t, &sink, NULL) == 0);
    CHECK(cl_timer_init(&loop, &t, &sink, NULL) == UV_EBUSY);
    CHECK(cl_loop_close(&loop, NULL) == 0);
    CHECK(t.h.state == CL_HANDLE_CLOSED);
}

static void
test_poll_and_watcher_order(void)
{
    cl_loop loop = {0};
    cl_poll p = {0};
    cl_prepare pre = {0};
    cl_check chk = {0};
    cl_idle idle = {0};
    int sv[2];
    size_t n_open = 99;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(cl_loop_init(&loop) == 0);
    CHECK(cl_poll_init(&loop, &p, sv[0], &sink, NULL) == 0);
    CHECK(cl_poll_fd(&p) == sv[0]);
    CHECK(cl_poll_start(&p, 0x100) == UV_EINVAL);
    CHECK(cl_prepare_init(&loop, &pre, &sink, NULL) == 0);
    CHECK(cl_check_init(&loop, &chk, &sink, NULL) == 0);
    CHECK(cl_idle_init(&loop, &idle, &sink, NULL) == 0);
    CHECK(cl_poll_start(&p, UV_READABLE) == 0);
    CHECK(cl_prepare_start(&pre) == 0);
    CHECK(cl_check_start(&chk) == 0);
    CHECK(cl_idle_start(&idle) == 0);
    CHECK(write(sv[1], "x", 1) == 1);
    reset();
    CHECK(cl_loop_run(&loop, UV_RUN_NOWAIT) > 0);
    CHECK(n_fired == 4);
    CHECK(fired[0].h == &idle.h && fired[1].h == &pre.h);
    CHECK(fired[2].h == &p.h && fired[2].events == UV_READABLE);
    CHECK(fired[3].h == &chk.h);
    CHECK(loop.n_handles == 4);
    /* Closing the loop closes what is still open and reports it. */
    CHECK(cl_handle_close(&idle.h) == 0);
    reset();
    CHECK(cl_loop_close(&loop, &n_open) == 0);
    CHECK(n_open == 3 && n_closed == 4 && n_fired == 0);
    CHECK(loop.n_handles == 0 && !cl_loop_is_open(&loop));
    CHECK(cl_loop_run(&loop, UV_RUN_NOWAIT) == CL_ECLOSED);
    CHECK(cl_poll_start(&p, UV_READABLE) == CL_ECLOSED);
    CHECK(cl_timer_init(&loop, &(cl_timer){0}, &sink, NULL) == CL_ECLOSED);
    CHECK(cl_loop_close(&loop, NULL) == 0);
    close(sv[0]);
    close(sv[1]);
}

static void
test_poll_errors(void)
{
    cl_loop loop = {0};
    cl_poll p = {0}, q = {0};
    int sv[2];
    char name[32], msg[64];
    CHECK(cl_loop_init(&loop) == 0);
    CHECK(cl_poll_init(&loop, &p, -1, &sink, NULL) == UV_EBADF);
    CHECK(p.h.state == CL_HANDLE_UNUSED);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(cl_poll_init(&loop, &p, sv[0], &sink, NULL) == 0);
    CHECK(cl_poll_start(&p, UV_READABLE) == 0);
    CHECK(cl_poll_init(&loop, &q, sv[0], &sink, NULL) == UV_EEXIST);
    CHECK(strcmp(cl_err_name(UV_EEXIST, name, sizeof name), "EEXIST") == 0);
    CHECK(strcmp(cl_err_name(CL_ECLOSED, name, sizeof name), "ECLOSED") == 0);
    CHECK(strcmp(cl_strerror(CL_ECLOSED, msg, sizeof msg),
                 "handle is closed") == 0);
    CHECK(cl_loop_close(&loop, NULL) == 0);
    close(sv[0]);
    close(sv[1]);
}

static void *
sender(void *arg)
{
    for (int i = 0; i < 1000; i++) {
        CHECK(cl_async_send(arg) == 0);
    }
    return NULL;
}

static void
test_async_threads(void)
{
    cl_loop loop = {0};
    cl_async a = {0};
    pthread_t threads[8];
    CHECK(cl_loop_init(&loop) == 0);
    CHECK(cl_async_init(&loop, &a, &sink, NULL) == 0);
    CHECK(cl_handle_is_active(&a.h));
    for (int i = 0; i < 8; i++) {
        CHECK(pthread_create(&threads[i], NULL, sender, &a) == 0);
    }
    for (int i = 0; i < 8; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
    }
    reset();
    CHECK(cl_loop_run(&loop, UV_RUN_ONCE) > 0);
    CHECK(n_fired == 1); /* 8000 sends, one callback */
    CHECK(cl_handle_unref(&a.h) == 0);
    CHECK(!cl_handle_has_ref(&a.h) && !cl_loop_alive(&loop));
    CHECK(cl_loop_close(&loop, NULL) == 0);
}

static void
test_stop_and_reentrancy(void)
{
    cl_loop loop = {0};
    cl_timer t = {0};
    CHECK(cl_loop_init(&loop) == 0);
    CHECK(cl_loop_init(&loop) == UV_EBUSY);
    CHECK(cl_timer_init(&loop, &t, &sink, NULL) == 0);
    CHECK(cl_timer_start(&t, 1000000, 1000000) == 0);
    CHECK(cl_loop_alive(&loop));
    cl_loop_stop(&loop);
    reset();
    CHECK(cl_loop_run(&loop, UV_RUN_DEFAULT) > 0); /* returns at once */
    CHECK(n_fired == 0);
    CHECK(cl_loop_run(&loop, 42) == UV_EINVAL);
    CHECK(cl_loop_now(&loop) > 0);
    /* A stop left over does not keep cl_loop_close from finishing. */
    cl_loop_stop(&loop);
    CHECK(cl_loop_close(&loop, NULL) == 0);
}

int
main(void)
{
    size_t before = cl_handles_alive();
    test_timer_never_early();
    test_poll_and_watcher_order();
    test_poll_errors();
    test_async_threads();
    test_stop_and_reentrancy();
    CHECK(cl_handles_alive() == before);
    printf("ok\n");
    return 0;
}
