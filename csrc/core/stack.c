/* Saving and restoring stack slices around cl__switch().
 *
 * cl__stack_save() and cl__stack_restore() run *inside* the switch, with
 * the stack half moved.  They must never be inlined into anything (the
 * restore would overwrite its own frame; the save would count its locals as
 * part of the slice), must not call into Python, and must not use anything
 * but their arguments and the two globals below.  Memory comes from the C
 * allocator: it is used without the GIL's help from the pure-C tests, and
 * it keeps the switch path free of anything that could run the garbage
 * collector.
 */
#include "stack.h"

#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CL_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CL_ASAN 1
#endif

#ifdef CL_ASAN
#include <sanitizer/asan_interface.h>
/* Copying stack slices reads other frames' redzones, and a restored slice
 * does not bring its shadow memory back with it.  Under AddressSanitizer
 * the copies are done by an uninstrumented loop and the restored region is
 * unpoisoned: we lose checking of stale stack bytes, and keep everything
 * else (the heap, which is where switching bugs land). */
#define CL_NO_ASAN __attribute__((no_sanitize_address, noinline))

/* Uninstrumented code (the interpreter) that lands on stack bytes left
 * poisoned by frames that were abandoned, not returned from, would trip
 * the memcpy/memset interceptors.  Clear a window below the new stack
 * pointer at every switch. */
#define ASAN_WINDOW (256 * 1024)
static CL_NO_ASAN void
unpoison_around(char *low, char *high)
{
    __asan_unpoison_memory_region(low - ASAN_WINDOW, (size_t)(high - low) + ASAN_WINDOW);
}

static CL_NO_ASAN void
copy_bytes(char *dst, const char *src, size_t n)
{
    volatile char *d = dst;
    const volatile char *s = src;
    while (n--) {
        *d++ = *s++;
    }
}
#else
#define CL_NO_ASAN __attribute__((noinline))
#define copy_bytes(d, s, n) memcpy((d), (s), (n))
#endif

cl_stack *volatile cl__stack_from;
cl_stack *volatile cl__stack_to;
intptr_t cl__switch_diff;

/* Keep a resumed greenlet's buffer for its next switch when it is this
 * small: a ping-pong then costs two copies and no allocation. */
#define KEEP_COPY_BYTES 16384

/* Make sure the heap copy of `s` covers its slice up to `until`. */
static CL_NO_ASAN int
save_until(cl_stack *s, char *until)
{
    size_t want;
    if (until <= s->start) {
        return 0; /* the target lies wholly below this slice */
    }
    want = (size_t)(until - s->start);
    if (want <= s->saved) {
        return 0;
    }
    if (want > s->capacity) {
        char *copy = realloc(s->copy, want);
        if (copy == NULL) {
            return -1;
        }
        s->copy = copy;
        s->capacity = want;
    }
    copy_bytes(s->copy + s->saved, s->start + s->saved, want - s->saved);
    s->saved = want;
    return 0;
}

CL_NO_ASAN int
cl__stack_save(char *sp, intptr_t *diff)
{
    cl_stack *from = cl__stack_from;
    cl_stack *to = cl__stack_to;
    cl_stack *owner = from;
    char *limit = to->stop;

    if (owner->start == NULL) {
        owner = owner->prev; /* dying: its bytes are never needed again */
    }
    else {
        owner->start = sp;
    }
    /* Owners entirely below the target's top are saved whole; the first
     * one reaching past it only up to that point. */
    while (owner->stop < limit) {
        if (save_until(owner, owner->stop) < 0) {
            goto fail;
        }
        owner = owner->prev;
    }
    if (owner != to && save_until(owner, limit) < 0) {
        goto fail;
    }
    if (to->start == NULL) {
#ifdef CL_ASAN
        unpoison_around(sp, sp);
#endif
        return 1; /* never ran: it starts right here, on this stack */
    }
    *diff = to->start - sp;
    return 0;

fail:
    /* The greenlet we are in keeps running, so a partial copy of its own
     * slice would go stale.  Copies grown for suspended owners stay: their
     * bytes are not touched by the running greenlet. */
    if (from->start != NULL) {
        from->saved = 0;
    }
    return -1;
}

CL_NO_ASAN void
cl__stack_restore(void)
{
    cl_stack *to = cl__stack_to;
    cl_stack *owner = cl__stack_from;

#ifdef CL_ASAN
    unpoison_around(to->start, to->start + to->saved);
#endif
    if (to->saved != 0) {
        copy_bytes(to->start, to->copy, to->saved);
        to->saved = 0;
        if (to->capacity > KEEP_COPY_BYTES) {
            free(to->copy);
            to->copy = NULL;
            to->capacity = 0;
        }
    }
    if (owner->start == NULL) {
        owner = owner->prev;
    }
    while (owner != NULL && owner->stop <= to->stop) {
        owner = owner->prev;
    }
    to->prev = owner;
}

void
cl__stack_init_new(cl_stack *s, cl_stack *from, char *mark)
{
    s->start = NULL;
    s->stop = mark;
    s->saved = 0;
    s->prev = from->start != NULL ? from : from->prev;
}

void
cl__stack_free(cl_stack *s)
{
    free(s->copy);
    s->copy = NULL;
    s->saved = 0;
    s->capacity = 0;
}
