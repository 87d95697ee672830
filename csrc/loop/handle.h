/* The handle lifecycle shared by every file in loop/ (internal).
 *
 * Each handle type follows the same three steps, so that no type file
 * repeats the bookkeeping:
 *   1. cl__handle_check_init: the loop is open and the handle is not in
 *      use (re-initialising a live libuv handle would corrupt the loop's
 *      queues);
 *   2. uv_<type>_init: if it fails, nothing was registered and the
 *      handle is left as it was;
 *   3. cl__handle_open: link into the loop's list, count, point the libuv
 *      handle back at us.
 * Every verb starts with CL__ENSURE_OPEN, so a closing or closed handle
 * gets CL_ECLOSED and libuv never sees it (libuv asserts on some of those
 * calls).
 */
#ifndef CL_LOOP_HANDLE_H
#define CL_LOOP_HANDLE_H

#include "loop.h"

#define CL__ENSURE_OPEN(h)                  \
    do {                                    \
        if ((h)->state != CL_HANDLE_OPEN) { \
            return CL_ECLOSED;              \
        }                                   \
    } while (0)

CL_HIDDEN int cl__handle_check_init(cl_loop *loop, const cl_handle *h, const cl_sink *sink);
CL_HIDDEN void cl__handle_open(cl_loop *loop, cl_handle *h, uv_handle_t *uv, const cl_sink *sink,
                               void *data);

/* The cl_handle a libuv handle belongs to (set by cl__handle_open). */
static inline cl_handle *
cl__handle_of(void *uv)
{
    return (cl_handle *)((uv_handle_t *)uv)->data;
}

#endif
