/* cl__switch for x86-64, System V ABI (Linux, the BSDs, macOS).
 *
 * Callee-saved state under this ABI, all of which is saved here:
 *   rbx, rbp, r12, r13, r14, r15    general-purpose registers
 *   MXCSR control bits              (SSE rounding mode and exception masks)
 *   x87 control word                (x87 precision/rounding)
 * The two control words are easy to forget: a greenlet that changes the
 * rounding mode must not leak it into the others.
 *
 * Frame layout after the pushes (offsets from the final rsp):
 *   0   MXCSR (4 bytes)    4  x87 CW (2 bytes)    8 r15 ... 48 rbp
 *   56  return address
 * 6 pushes + 8 bytes keep rsp 16-byte aligned at the calls, as the ABI
 * requires.  The distance to the target's stack comes back in
 * cl__switch_diff, not in this frame: the frame is saved with every
 * suspended greenlet's slice (issue 19), a slot in it costs 16 bytes each.  rbp is restored by its pop, which is how the frame pointer
 * "moves" with the stack pointer.
 *
 * History: written for corolib; the register set follows the ABI document
 * (System V AMD64 psABI, section 3.2.1).  endbr64 keeps the routine valid
 * under Intel CET indirect-branch tracking.
 */
/* One instruction a line, comments aligned by hand: */
/* clang-format off */
__asm__(
    "    .text\n"
    "    .globl  cl__switch\n"
    "    .hidden cl__switch\n"
    "    .type   cl__switch, @function\n"
    "    .p2align 4\n"
    "cl__switch:\n"
    "    .cfi_startproc\n"
    "    endbr64\n"
    "    pushq   %rbp\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    .cfi_rel_offset %rbp, 0\n"
    "    pushq   %rbx\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    .cfi_rel_offset %rbx, 0\n"
    "    pushq   %r12\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    .cfi_rel_offset %r12, 0\n"
    "    pushq   %r13\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    .cfi_rel_offset %r13, 0\n"
    "    pushq   %r14\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    .cfi_rel_offset %r14, 0\n"
    "    pushq   %r15\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    .cfi_rel_offset %r15, 0\n"
    "    subq    $8, %rsp\n"
    "    .cfi_adjust_cfa_offset 8\n"
    "    stmxcsr 0(%rsp)\n"
    "    fnstcw  4(%rsp)\n"
    "    movq    %rsp, %rdi\n"          /* sp: the low end of our slice */
    "    leaq    cl__switch_diff(%rip), %rsi\n" /* &diff */
    "    call    cl__stack_save\n"
    "    testl   %eax, %eax\n"
    "    jnz     1f\n"                  /* 1 (new target) or -1: stay put */
    "    addq    cl__switch_diff(%rip), %rsp\n" /* onto the target's slice */
    "    call    cl__stack_restore\n"
    "    xorl    %eax, %eax\n"          /* made after the move, on purpose */
    "1:\n"
    "    ldmxcsr 0(%rsp)\n"
    "    fldcw   4(%rsp)\n"
    "    addq    $8, %rsp\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    popq    %r15\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    popq    %r14\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    popq    %r13\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    popq    %r12\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    popq    %rbx\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    popq    %rbp\n"
    "    .cfi_adjust_cfa_offset -8\n"
    "    ret\n"
    "    .cfi_endproc\n"
    "    .size   cl__switch, .-cl__switch\n");
/* clang-format on */
