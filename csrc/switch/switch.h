/* The stack-switch contract.
 *
 * Every CPU port provides one routine, cl__switch(), written in assembly
 * (see switch_select.h for the list).  It is the only code in corolib that
 * moves the stack pointer.  Its contract:
 *
 *   1. Save every callee-saved register of the ABI, plus the floating-point
 *      control state the ABI says a callee must preserve, on the current
 *      stack.  Because they live on the stack, they belong to the slice of
 *      the greenlet being left and travel with it to the heap.
 *   2. Call cl__stack_save(sp, &diff) with sp = the stack pointer after the
 *      pushes.  That function copies to the heap whatever the target needs
 *      (see core/stack.c) and returns:
 *        -1  failure (out of memory); nothing moved, return -1;
 *         1  the target has never run: do not move, return 1 -- the caller
 *            goes on to run the new greenlet on the current stack;
 *         0  success: diff holds target_sp - sp.
 *   3. Add diff to the stack pointer.  The pushes of step 1 made by the
 *      target when it last left are now at the top of the stack.  The frame
 *      pointer needs no adjustment of its own: it is one of the registers
 *      restored in step 5, so it comes back exactly as the target left it.
 *   4. Call cl__stack_restore(), which copies the target's saved bytes back
 *      above the new stack pointer.  Its own frame lies below the stack
 *      pointer, so it never overwrites itself.
 *   5. Produce the return value 0 *after* step 4 (nothing computed before
 *      the move is valid after it), pop the registers and return.
 *
 * The routine is a separate assembly function rather than inline assembly
 * inside a C function: the compiler cannot cache anything across it, cannot
 * inline it, and cannot address locals through a frame pointer that we
 * move behind its back.  Callers must still treat it as returning into a
 * different greenlet: after it returns 0, every local of the caller belongs
 * to the resumed greenlet (its own values from when it left).
 *
 * Stacks grow down on every supported CPU.
 */
#ifndef CL_SWITCH_H
#define CL_SWITCH_H

#include <stdint.h>

#define CL_HIDDEN __attribute__((visibility("hidden")))

/* Implemented in assembly, one file per CPU. */
CL_HIDDEN extern int cl__switch(void);

/* Implemented in core/stack.c; called only from cl__switch. */
CL_HIDDEN int cl__stack_save(char *sp, intptr_t *diff);
CL_HIDDEN void cl__stack_restore(void);

#endif
