/* cl__switch for AArch64, AAPCS64 (Linux, the BSDs, macOS).
 *
 * Callee-saved state under this ABI, all of which is saved here:
 *   x19-x28                 general-purpose registers
 *   x29 (fp), x30 (lr)      frame record; lr is our own return address
 *   d8-d15                  low 64 bits of v8-v15
 *   FPCR                    rounding mode and flush-to-zero bits
 * x18 (platform register) is left alone, as the ABI asks.
 *
 * Frame layout (176 bytes, a multiple of 16 as sp must always be):
 *   0 x29,x30  16 x19,x20 ... 80 x27,x28  96 d8,d9 ... 144 d14,d15
 *   160 FPCR   168 diff slot
 * The frame pointer is reloaded from the target's own frame record, which
 * is how it "moves" with the stack pointer.
 *
 * History: written for corolib.  The return value is produced by a
 * "mov w0, #0" after the restore call, never kept across the move: a
 * compiler-generated version once reloaded a stale 0 from a stack slot that
 * by then belonged to another greenlet.  "hint #34" is BTI C, a no-op on
 * CPUs without branch-target identification.
 */
/* One instruction a line, comments aligned by hand: */
/* clang-format off */
__asm__(
    "    .text\n"
    "    .globl  cl__switch\n"
    "    .hidden cl__switch\n"
    "    .type   cl__switch, %function\n"
    "    .p2align 2\n"
    "cl__switch:\n"
    "    .cfi_startproc\n"
    "    hint    #34\n"
    "    sub     sp, sp, #176\n"
    "    .cfi_def_cfa_offset 176\n"
    "    stp     x29, x30, [sp, #0]\n"
    "    .cfi_offset x29, -176\n"
    "    .cfi_offset x30, -168\n"
    "    stp     x19, x20, [sp, #16]\n"
    "    stp     x21, x22, [sp, #32]\n"
    "    stp     x23, x24, [sp, #48]\n"
    "    stp     x25, x26, [sp, #64]\n"
    "    stp     x27, x28, [sp, #80]\n"
    "    stp     d8,  d9,  [sp, #96]\n"
    "    stp     d10, d11, [sp, #112]\n"
    "    stp     d12, d13, [sp, #128]\n"
    "    stp     d14, d15, [sp, #144]\n"
    "    mrs     x9, fpcr\n"
    "    str     x9, [sp, #160]\n"
    "    mov     x29, sp\n"
    "    mov     x0, sp\n"                /* sp: the low end of our slice */
    "    add     x1, sp, #168\n"          /* &diff */
    "    bl      cl__stack_save\n"
    "    cbnz    w0, 1f\n"                /* 1 (new target) or -1: stay put */
    "    ldr     x9, [sp, #168]\n"
    "    add     sp, sp, x9\n"            /* onto the target's slice */
    "    bl      cl__stack_restore\n"
    "    mov     w0, #0\n"                /* made after the move, on purpose */
    "1:\n"
    "    ldr     x9, [sp, #160]\n"
    "    msr     fpcr, x9\n"
    "    ldp     d14, d15, [sp, #144]\n"
    "    ldp     d12, d13, [sp, #128]\n"
    "    ldp     d10, d11, [sp, #112]\n"
    "    ldp     d8,  d9,  [sp, #96]\n"
    "    ldp     x27, x28, [sp, #80]\n"
    "    ldp     x25, x26, [sp, #64]\n"
    "    ldp     x23, x24, [sp, #48]\n"
    "    ldp     x21, x22, [sp, #32]\n"
    "    ldp     x19, x20, [sp, #16]\n"
    "    ldp     x29, x30, [sp, #0]\n"
    "    add     sp, sp, #176\n"
    "    .cfi_def_cfa_offset 0\n"
    "    ret\n"
    "    .cfi_endproc\n"
    "    .size   cl__switch, .-cl__switch\n");
/* clang-format on */
