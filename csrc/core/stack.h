/* Stack slices: which greenlet owns which bytes of the one C stack.
 *
 * Plain C, no Python: this file and stack.c are also linked into the
 * pure-C switch test (tests/c/test_switch.c), which runs natively and, for
 * AArch64, under qemu.
 *
 * Invariants (the stack grows down):
 *   - A greenlet owns [start, stop).  stop is fixed when it first runs and
 *     never changes; start is the stack pointer at the moment it last left.
 *   - Of a suspended greenlet's slice, the low `saved` bytes live in the
 *     heap buffer `copy`; the rest is still in place on the real stack.
 *   - prev points at the greenlet that owns the stack just above `stop`;
 *     following prev from the running greenlet visits owners in address
 *     order and ends at the thread's main greenlet, whose stop is the top
 *     of the address space.
 *   - start == NULL means "not running and never will again" for a
 *     greenlet that has a stop (it is dead or dying: its bytes are garbage
 *     and are never saved); with stop == NULL too it has never run.
 *   - The running greenlet has saved == 0.
 */
#ifndef CL_STACK_H
#define CL_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "../switch/switch.h"

typedef struct cl_stack {
    char *start;
    char *stop;
    char *copy;
    size_t saved;    /* bytes of the slice currently in `copy` */
    size_t capacity; /* bytes allocated for `copy` */
    struct cl_stack *prev;
} cl_stack;

/* The switch in flight.  Set both, then call cl__switch().  One pair
 * serves every thread: in the Python build they are only touched with the
 * GIL held, and the GIL is never released between setting them and the end
 * of the switch. */
CL_HIDDEN extern cl_stack *volatile cl__stack_from;
CL_HIDDEN extern cl_stack *volatile cl__stack_to;
/* Where cl__stack_save leaves the distance from the current stack pointer
 * to the target's, for switch routines that keep it out of their frame. */
CL_HIDDEN extern intptr_t cl__switch_diff;

/* Marks: the main greenlet owns "everything above".  A running greenlet's
 * start is a placeholder until it next leaves. */
#define CL_STACK_RUNNING ((char *)1)
#define CL_STACK_TOP ((char *)UINTPTR_MAX)

/* Prepare `s` to be started by cl__switch() from `from`, with its slice
 * beginning at `mark` (an address in the caller's frame). */
CL_HIDDEN void cl__stack_init_new(cl_stack *s, cl_stack *from, char *mark);

/* Release the heap copy (greenlet freed, or finished). */
CL_HIDDEN void cl__stack_free(cl_stack *s);

#endif
