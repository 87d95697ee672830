/* Pure-C test of the stack-slicing switch: no Python involved.
 *
 * Builds tiny coroutines on cl_stack + cl__switch() exactly the way the
 * greenlet core does (start on the current stack below a mark, switch by
 * copying overlapping slices), then checks that locals, deep recursion and
 * floating-point control state survive arbitrary interleavings.  Built and
 * run natively by `make test`, and cross-compiled for AArch64 and run under
 * qemu-aarch64 by `make cross` when the tools are present.
 */
#include <fenv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/core/stack.h"

#define NOINLINE __attribute__((noinline))

typedef struct coro coro;
struct coro {
    cl_stack stack; /* first member: a cl_stack* is a coro* */
    void (*fn)(coro *);
    coro *parent;
    long arg;
    long result;
};

static coro main_coro;
static coro *current;
static int failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                       \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static void switch_to(coro *target);

static void NOINLINE
finish_switch(void)
{
    current = (coro *)cl__stack_to;
}

static void NOINLINE
start_stub(coro *target, char *mark)
{
    cl__stack_init_new(&target->stack, &current->stack, mark);
    cl__stack_from = &current->stack;
    cl__stack_to = &target->stack;
    int r = cl__switch();
    if (r < 0) {
        fprintf(stderr, "switch failed\n");
        exit(2);
    }
    finish_switch();
    if (r == 1) {
        coro *self = current;
        self->stack.start = CL_STACK_RUNNING;
        self->fn(self);
        self->stack.start = NULL; /* dying: never saved again */
        switch_to(self->parent);
        fprintf(stderr, "a dead coroutine was resumed\n");
        abort();
    }
}

static void NOINLINE
switch_to(coro *target)
{
    if (target == current) {
        return;
    }
    if (target->stack.stop == NULL) {
        char mark;
        start_stub(target, &mark);
        return;
    }
    cl__stack_from = &current->stack;
    cl__stack_to = &target->stack;
    if (cl__switch() != 0) {
        fprintf(stderr, "switch failed\n");
        exit(2);
    }
    finish_switch();
}

static coro *
new_coro(void (*fn)(coro *), coro *parent, long arg)
{
    coro *c = calloc(1, sizeof(coro));
    c->fn = fn;
    c->parent = parent;
    c->arg = arg;
    return c;
}

static void
free_coro(coro *c)
{
    cl__stack_free(&c->stack);
    free(c);
}

/* --- ping-pong: locals on both sides survive a million switches --- */

static coro *ping_peer;
static long ping_box;

static void
pong(coro *self)
{
    volatile long mine[16];
    for (int i = 0; i < 16; i++) {
        mine[i] = i * 7 + self->arg;
    }
    for (;;) {
        long v = ping_box;
        if (v < 0) {
            break;
        }
        ping_box = v + 1;
        switch_to(ping_peer);
        for (int i = 0; i < 16; i++) {
            if (mine[i] != i * 7 + self->arg) {
                failures++;
            }
        }
    }
    self->result = 42;
}

static void
test_ping_pong(void)
{
    volatile long mine[16];
    for (int i = 0; i < 16; i++) {
        mine[i] = i * 3;
    }
    coro *p = new_coro(pong, current, 5);
    ping_peer = current;
    ping_box = 0;
    for (long n = 0; n < 1000000; n++) {
        long before = ping_box;
        switch_to(p);
        CHECK(ping_box == before + 1 || failures);
    }
    ping_box = -1;
    switch_to(p);
    CHECK(p->result == 42);
    CHECK(p->stack.start == NULL && p->stack.stop != NULL);
    for (int i = 0; i < 16; i++) {
        CHECK(mine[i] == i * 3);
    }
    free_coro(p);
}

/* --- deep recursion on both sides, switching at every level --- */

static long NOINLINE
recurse(int depth, long salt, coro *peer)
{
    volatile char pad[200];
    memset((char *)pad, (int)(salt + depth) & 0x7f, sizeof pad);
    if (depth > 0) {
        long below = recurse(depth - 1, salt, peer);
        if (depth % 97 == 0) {
            switch_to(peer);
        }
        for (size_t i = 0; i < sizeof pad; i++) {
            if (pad[i] != (char)((salt + depth) & 0x7f)) {
                return -1000000;
            }
        }
        return below < 0 ? below : below + depth;
    }
    switch_to(peer);
    return 0;
}

static void
deep_body(coro *self)
{
    for (int round = 0; round < 20; round++) {
        self->result = recurse((int)self->arg, 11, self->parent);
        switch_to(self->parent);
    }
}

static void
test_deep_recursion(void)
{
    coro *d = new_coro(deep_body, current, 3000);
    for (int round = 0; round < 20; round++) {
        long mine = recurse(500, 3, d);
        CHECK(mine == 500L * 501 / 2);
        /* the coroutine finished a recursion in between; its result: */
        while (d->result == 0 && d->stack.start != NULL) {
            switch_to(d);
        }
        CHECK(d->result == 3000L * 3001 / 2);
        d->result = 0;
        switch_to(d);
    }
    while (d->stack.start != NULL) {
        switch_to(d);
    }
    free_coro(d);
}

/* --- many coroutines, round robin, each with its own depth --- */

#define NCORO 1000
static coro *ring[NCORO];
static long ring_total;

static long NOINLINE
ring_work(coro *self, int depth)
{
    volatile long local = self->arg * 1000 + depth;
    if (depth > 0) {
        long r = ring_work(self, depth - 1);
        return local == self->arg * 1000 + depth ? r + 1 : -1000000;
    }
    for (int round = 0; round < 10; round++) {
        ring_total++;
        coro *next = ring[(self->arg + 1) % NCORO];
        switch_to(next->stack.start != NULL || next->stack.stop == NULL ? next : &main_coro);
    }
    return local == self->arg * 1000 ? 0 : -1000000;
}

static void
ring_body(coro *self)
{
    self->result = ring_work(self, (int)(self->arg % 37));
}

static void
test_ring(void)
{
    for (int i = 0; i < NCORO; i++) {
        ring[i] = new_coro(ring_body, &main_coro, i);
    }
    ring_total = 0;
    for (int guard = 0; guard < 100000; guard++) {
        int live = 0;
        for (int i = 0; i < NCORO; i++) {
            if (ring[i]->stack.stop == NULL || ring[i]->stack.start != NULL) {
                live = 1;
                switch_to(ring[i]);
            }
        }
        if (!live) {
            break;
        }
    }
    CHECK(ring_total == NCORO * 10);
    for (int i = 0; i < NCORO; i++) {
        CHECK(ring[i]->result == i % 37);
        free_coro(ring[i]);
    }
}

/* --- floating-point control state is per coroutine --- */

static void
fp_body(coro *self)
{
    fesetround(FE_UPWARD);
    switch_to(self->parent);
    self->result = fegetround() == FE_UPWARD;
}

static void
test_fp_control(void)
{
    coro *c = new_coro(fp_body, current, 0);
    CHECK(fegetround() == FE_TONEAREST);
    switch_to(c);
    CHECK(fegetround() == FE_TONEAREST);
    switch_to(c);
    CHECK(c->result == 1);
    CHECK(fegetround() == FE_TONEAREST);
    free_coro(c);
}

int
main(void)
{
    main_coro.stack.start = CL_STACK_RUNNING;
    main_coro.stack.stop = CL_STACK_TOP;
    current = &main_coro;

    test_ping_pong();
    test_deep_recursion();
    test_ring();
    test_fp_control();
    CHECK(current == &main_coro);
    cl__stack_free(&main_coro.stack);
    if (failures) {
        fprintf(stderr, "test_switch: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_switch: ok\n");
    return 0;
}
