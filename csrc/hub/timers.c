/* Deadlines: a binary min-heap of cl_tnode, and one libuv timer armed for
 * the earliest.
 *
 * libuv's clock has whole, truncated milliseconds; ours is uv_hrtime()
 * nanoseconds.  The libuv timer only bounds how long uv_run may block;
 * which deadlines have passed is decided here against uv_hrtime(), so a
 * deadline never fires early (if libuv wakes us a little before, the
 * timer is simply armed again for the rest).
 *
 * Ties fire in the order the deadlines were added (seq), so sleep(0.01)
 * callers wake in FIFO order.
 */
#include "hub.h"

static int
before(const cl_tnode *a, const cl_tnode *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void
place(cl_hub *hub, cl_tnode *t, size_t i)
{
    hub->heap[i] = t;
    t->index = i;
}

static void
sift_up(cl_hub *hub, size_t i)
{
    cl_tnode *t = hub->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(t, hub->heap[parent])) {
            break;
        }
        place(hub, hub->heap[parent], i);
        i = parent;
    }
    place(hub, t, i);
}

static void
sift_down(cl_hub *hub, size_t i)
{
    cl_tnode *t = hub->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= hub->nheap) {
            break;
        }
        if (child + 1 < hub->nheap && before(hub->heap[child + 1], hub->heap[child])) {
            child++;
        }
        if (!before(hub->heap[child], t)) {
            break;
        }
        place(hub, hub->heap[child], i);
        i = child;
    }
    place(hub, t, i);
}

int
cl__timer_add(cl_hub *hub, cl_tnode *t, uint64_t delay_ns)
{
    if (t->index != CL_T_NONE) {
        cl__timer_cancel(hub, t);
    }
    if (hub->nheap == hub->heapcap) {
        size_t ncap = hub->heapcap ? hub->heapcap * 2 : 64;
        cl_tnode **grown = PyMem_RawRealloc(hub->heap, ncap * sizeof(cl_tnode *));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        hub->heap = grown;
        hub->heapcap = ncap;
    }
    t->deadline = uv_hrtime() + delay_ns;
    t->seq = hub->tseq++;
    hub->nheap++;
    place(hub, t, hub->nheap - 1);
    sift_up(hub, t->index);
    if (t->ref) {
        hub->nheap_ref++;
    }
    return 0;
}

void
cl__timer_cancel(cl_hub *hub, cl_tnode *t)
{
    size_t i = t->index;
    cl_tnode *last;
    if (i == CL_T_NONE) {
        return;
    }
    t->index = CL_T_NONE;
    if (t->ref) {
        hub->nheap_ref--;
    }
    hub->nheap--;
    if (i == hub->nheap) {
        return;
    }
    last = hub->heap[hub->nheap];
    place(hub, last, i);
    if (i > 0 && before(last, hub->heap[(i - 1) / 2])) {
        sift_up(hub, i);
    }
    else {
        sift_down(hub, i);
    }
}

void
cl__timers_fire_due(cl_hub *hub)
{
    uint64_t now = uv_hrtime();
    hub->timers_due = 0;
    while (hub->nheap > 0 && hub->heap[0]->deadline <= now) {
        cl_tnode *t = hub->heap[0];
        cl__timer_cancel(hub, t);
        t->sink->fire(hub, t);
    }
}

/* Bound the next uv_run by the earliest deadline. */
void
cl__timers_arm(cl_hub *hub)
{
    uint64_t now, deadline;
    if (hub->nheap == 0) {
        cl_timer_stop(&hub->uvtimer);
        return;
    }
    deadline = hub->heap[0]->deadline;
    now = uv_hrtime();
    cl_timer_start(&hub->uvtimer, deadline > now ? deadline - now : 0, 0);
    if (hub->nheap_ref > 0) {
        cl_handle_ref(&hub->uvtimer.h);
    }
    else {
        cl_handle_unref(&hub->uvtimer.h);
    }
}

void
cl__timers_free(cl_hub *hub)
{
    while (hub->nheap > 0) {
        cl_tnode *t = hub->heap[0];
        cl__timer_cancel(hub, t);
        if (t->sink->dropped != NULL) {
            t->sink->dropped(t);
        }
    }
    PyMem_RawFree(hub->heap);
    hub->heap = NULL;
    hub->heapcap = 0;
}
