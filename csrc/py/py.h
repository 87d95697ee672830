/* The internal header of py/, the CPython types of the greenlet core and
 * the hub: what their .c files share, and the registration functions
 * module.c calls.  The corolib.uv binding has its own (uv/uv_types.h). */
#ifndef CL_PY_H
#define CL_PY_H

#include "../hub/hub.h"
#include "args.h"

/* hub_type.c: a timeout argument (None or seconds >= 0) as nanoseconds,
 * -1 for None.  Returns 0, or -1 with an exception naming `what`. */
CL_HIDDEN int cl__timeout_ns(PyObject *seconds, int64_t *ns, const char *what);

/* timer_handle.c: Hub.call_later(seconds, fn, *args) and
 * Hub.interrupt_later(seconds, greenlet, exc). */
CL_HIDDEN PyObject *cl__hub_call_later(cl_hub *hub, PyObject *args, PyObject *kwds);
CL_HIDDEN PyObject *cl__hub_interrupt_later(cl_hub *hub, PyObject *args, PyObject *kwds);

/* introspect.c: the Hub type's statistics() and describe_parked(), and
 * its loop_alive and thread_ident attributes. */
CL_HIDDEN PyObject *cl__hub_meth_statistics(cl_hub *self, PyObject *ignored);
CL_HIDDEN PyObject *cl__hub_meth_describe_parked(cl_hub *self, PyObject *ignored);
CL_HIDDEN PyObject *cl__hub_get_loop_alive(cl_hub *self, void *c);
CL_HIDDEN PyObject *cl__hub_get_thread_ident(cl_hub *self, void *c);

/* Type registration, each called once from module.c. */
CL_HIDDEN int cl__wait_queue_ready(PyObject *module);    /* wait_queue.c */
CL_HIDDEN int cl__timer_handle_ready(PyObject *module);  /* timer_handle.c */
CL_HIDDEN int cl__sockio_ready(PyObject *module);        /* sockio.c */
CL_HIDDEN int cl__aio_transport_ready(PyObject *module); /* aio_transport.c */
CL_HIDDEN int cl__aio_loop_ready(PyObject *module);      /* aio_loop.c */
CL_HIDDEN int cl__queue_base_ready(PyObject *module);    /* queue_base.c */
CL_HIDDEN int cl__task_type_ready(PyObject *module);     /* task_type.c */
CL_HIDDEN int cl__introspect_ready(PyObject *module);    /* introspect.c */

#endif
