/* The only place that chooses a stack-switch routine by CPU and ABI.
 *
 * Each port lives in its own header, contains nothing but the assembly for
 * cl__switch (see switch.h for the contract), and documents the registers
 * it saves.  Adding a CPU means adding a file and a line here.
 */
#ifndef CL_SWITCH_SELECT_H
#define CL_SWITCH_SELECT_H

#if defined(__x86_64__) && !defined(_WIN32)
#include "switch_x86_64_sysv.h"
#elif defined(__aarch64__) && !defined(_WIN32)
#include "switch_aarch64_aapcs.h"
#else
#error "corolib: no stack-switch routine for this CPU/ABI (see csrc/switch/switch.h)"
#endif

#endif
