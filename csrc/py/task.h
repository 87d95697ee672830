/* The Task type's internals: what task_type.c (the type, running, kill)
 * and task_links.c (join, get, links) share. */
#ifndef CL_PY_TASK_H
#define CL_PY_TASK_H

#include "py.h"

enum { T_STARTED = 1, T_CANCELLED = 2, T_READY = 4 };

/* What few tasks use, allocated on first use and kept until the task goes
 * (issue 19: 40 bytes less in every task object, a pymalloc size class). */
typedef struct {
    PyObject *kwargs;      /* dict or NULL */
    PyObject *links;       /* managed by the Python subclass */
    PyObject *start_timer; /* TimerHandle of start_later() */
    cl_parklist joiners;   /* the nodes point here: it never moves */
} cl_task_extra;

typedef struct {
    cl_greenlet g;
    cl_hub *hub;    /* strong */
    PyObject *fn;   /* what to run; NULL: self._run */
    PyObject *args; /* tuple */
    PyObject *value;
    PyObject *exception;
    cl_task_extra *x; /* NULL until needed */
    int tflags;
    PyObject *spawner; /* weakref to the greenlet that created it */
} cl_task;

/* A field of self->x, NULL if there is none. */
#define X_GET(self, field) ((self)->x != NULL ? (self)->x->field : NULL)

static inline int
cl__task_is_ready(cl_task *self)
{
    return (self->tflags & (T_READY | T_CANCELLED)) != 0;
}

/* task_type.c: self->x, allocated if needed; NULL with MemoryError. */
CL_HIDDEN cl_task_extra *cl__task_extra(cl_task *self);

/* task_links.c */
CL_HIDDEN extern PyObject *cl__task_timeout_class; /* corolib.Timeout, or NULL */
/* Park until ready or the timeout; 0 either way, -1 on error. */
CL_HIDDEN int cl__task_wait_ready(cl_task *self, PyObject *timeout);
CL_HIDDEN PyObject *cl__task_join(cl_task *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames);
CL_HIDDEN PyObject *cl__task_get(cl_task *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames);
CL_HIDDEN PyObject *cl__task_get_links(cl_task *self, void *c);
CL_HIDDEN int cl__task_set_links(cl_task *self, PyObject *v, void *c);

#endif
