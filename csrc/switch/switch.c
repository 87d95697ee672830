/* Compiles the stack-switch routine chosen for this CPU.  Nothing else
 * belongs in this file: the routine is file-scope assembly, so it never
 * inherits the surrounding C function's prologue or optimisation. */
#include "switch.h"
#include "switch_select.h"
