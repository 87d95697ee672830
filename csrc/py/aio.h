/* corolib.asyncio's stream transports: what aio_transport.c (the transport)
 * and aio_reactor.c (the epoll its sockets are registered in) share, and
 * aio_loop.c (the loop's call_soon and handles) uses. */
#ifndef CL_PY_AIO_H
#define CL_PY_AIO_H

#include "py.h"

#include <stdint.h>

#define CL_AIO_READ_SIZE (256 * 1024) /* as the stdlib transports' max_size */
#define CL_AIO_MAX_EVENTS 128         /* epoll events taken per loop iteration */

typedef struct {
    PyObject_HEAD
    int epfd;
    char *rbuf;           /* CL_AIO_READ_SIZE bytes, data_received's source */
    PyObject *transports; /* dict fd -> transport: the registered ones */
    PyObject *on_active;  /* on_active(bool): the reactor has fds / has none */
    PyObject *on_error;   /* on_error(exc, transport): a handler raised */
    PyObject **by_fd;     /* fd -> the transport registered with it (borrowed), or NULL */
    int nfd;              /* the length of by_fd */
    uint32_t tokens;      /* the last registration's token */
    int owns_epfd;        /* 0: epfd is the loop selector's (shared), not closed here */
    int npending;         /* transport events poll() took, for the next run() */
    uint32_t pending_ev[CL_AIO_MAX_EVENTS];
    uint64_t pending_data[CL_AIO_MAX_EVENTS];
} cl_aio_reactor;

/* A transport's C fields, after its base class's slots. */
typedef struct {
    PyObject *protocol;      /* _protocol */
    PyObject *sock;          /* _sock */
    PyObject *server;        /* _server */
    PyObject *buffer;        /* _buffer: a bytearray, what send() did not take */
    PyObject *empty_waiter;  /* _empty_waiter */
    cl_aio_reactor *reactor; /* _reactor */
    Py_ssize_t conn_lost;    /* _conn_lost */
    int fd;                  /* _sock_fd */
    int events;              /* what is registered in the reactor's epoll */
    uint32_t token;          /* this registration's token (with the fd in the epoll's data) */
    char closing;            /* _closing */
    char eof;                /* _eof */
    char paused;             /* _paused: pause_reading() */
    char protocol_connected;
    char buffered; /* _buffered: the protocol is a BufferedProtocol */
} cl_aio_fields;

/* The object pointer a __slots__ member at byte offset `off` holds. */
#define CL_AIO_SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))
/* aio_transport.c: a __slots__ member's offset in `cls` (-1: none, no error set). */
CL_HIDDEN Py_ssize_t cl__aio_slot_offset(PyObject *cls, const char *name);

/* aio_transport.c: where the fields start in a transport, and its handlers
 * (0, or -1 with an exception: SystemExit, KeyboardInterrupt, or what a
 * rare-path Python method raised). */
CL_HIDDEN extern Py_ssize_t cl__aio_fields_off;
#define CL_AIO_F(t) ((cl_aio_fields *)((char *)(t) + cl__aio_fields_off))
CL_HIDDEN int cl__aio_read_ready(PyObject *t);
CL_HIDDEN int cl__aio_write_ready(PyObject *t);

/* aio_reactor.c */
CL_HIDDEN extern PyTypeObject cl__aio_reactor_type;
/* Make the transport's registered events `ev` (0: not registered). */
CL_HIDDEN int cl__aio_set_events(PyObject *t, int ev);
CL_HIDDEN int cl__aio_reactor_ready(PyObject *module);

#endif
