/* Park nodes: the lists they are kept in, their allocation (a free list
 * per hub, so parking does not call malloc), and their release once the
 * owner is done.  Waking one and parking on one are in hub.c. */
#include "hub.h"

#define MAX_FREE_PARKS 1024

void
cl__parklist_append(cl_parklist *l, cl_park *p)
{
    p->list = l;
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail != NULL) {
        l->tail->next = p;
    }
    else {
        l->head = p;
    }
    l->tail = p;
    l->count++;
}

void
cl__parklist_remove(cl_park *p)
{
    cl_parklist *l = p->list;
    if (l == NULL) {
        return;
    }
    if (p->prev != NULL) {
        p->prev->next = p->next;
    }
    else {
        l->head = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    }
    else {
        l->tail = p->prev;
    }
    l->count--;
    p->list = NULL;
    p->next = p->prev = NULL;
}

/* A parked greenlet's timeout passed. */
static void
park_timeout_fire(cl_hub *hub, cl_tnode *t)
{
    cl__park_wake(hub, (cl_park *)((char *)t - offsetof(cl_park, timeout)), CL_PARK_TIMEOUT);
}

static const cl_tsink park_timeout_sink = {park_timeout_fire, NULL};

cl_park *
cl__park_new(cl_hub *hub, const char *what, intptr_t detail)
{
    cl_park *p = hub->free_parks;
    if (p != NULL) {
        hub->free_parks = p->next;
        hub->n_free_parks--;
    }
    else {
        p = PyMem_RawMalloc(sizeof(cl_park));
        if (p == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    memset(p, 0, sizeof(*p));
    p->hub = hub;
    p->timeout.index = CL_T_NONE;
    p->timeout.sink = &park_timeout_sink;
    p->timeout.ref = 1;
    p->what = what;
    p->detail = detail;
    return p;
}

void
cl__park_free(cl_hub *hub, cl_park *p)
{
    PyObject *hubref = p->hubref;
    p->hubref = NULL;
    Py_CLEAR(p->exc);
    Py_CLEAR(p->value);
    Py_CLEAR(p->keep);
    p->state = CL_PARK_FREE;
    if (hub->n_free_parks >= MAX_FREE_PARKS) {
        PyMem_RawFree(p);
    }
    else {
        p->next = hub->free_parks;
        hub->free_parks = p;
        hub->n_free_parks++;
    }
    Py_XDECREF(hubref); /* last: the hub may go with it */
}

/* Take `p` off the hub's list of parked nodes (if it is on it). */
void
cl__park_unlink_all(cl_hub *hub, cl_park *p)
{
    if (!p->in_all) {
        return;
    }
    if (p->all_prev != NULL) {
        p->all_prev->all_next = p->all_next;
    }
    else {
        hub->all_parked = p->all_next;
    }
    if (p->all_next != NULL) {
        p->all_next->all_prev = p->all_prev;
    }
    p->all_prev = p->all_next = NULL;
    p->in_all = 0;
    hub->n_parked--;
}

/* The owner is done with `p` (after cl__hub_park returned). */
void
cl__park_release(cl_hub *hub, cl_park *p)
{
    cl__parklist_remove(p);
    if (p->queued) {
        p->state = CL_PARK_ORPHAN; /* the queue entry frees it */
        Py_CLEAR(p->exc);
        Py_CLEAR(p->value);
        return;
    }
    cl__park_free(hub, p);
}
