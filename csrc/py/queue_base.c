/* QueueBase: the compiled fast paths of corolib.queue's FIFO queues.
 *
 * corolib.queue.SimpleQueue and Queue keep their state in the fields of
 * this type (exposed as _items, _getters, _putters, _peekers, _unfinished,
 * _maxsize) and implement every slow path in Python.  put() and get()
 * here handle the common case -- no timeout given, room (or an item) in
 * the deque -- with no Python frame, and otherwise call the Python methods
 * _put(item, block, timeout) and _get(block, timeout) that know about
 * waiters, shutdown and other threads.  Only the case that never waits is
 * in C, so these never switch; the Python slow paths document theirs.
 *
 * The containers are collections.deque objects, touched through the
 * deque type's own methods (fetched once), so Python and C see the same
 * state.
 */
#include "py.h"

#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *items;   /* deque of items */
    PyObject *getters; /* deque of parked getters (Python records) */
    PyObject *putters;
    PyObject *peekers;
    PyObject *unfinished; /* a deque, one None per unfinished task, or None */
    Py_ssize_t maxsize;
    PyObject *weakreflist;
} QueueBase;

static PyTypeObject *deque_type;
static PyObject *deque_append;  /* collections.deque.append (unbound) */
static PyObject *deque_popleft; /* collections.deque.popleft */
static PyObject *s_put, *s_get, *s_serve_waiters, *s_admit_putters;

static const char *const put_names[] = {"item", "block", "timeout"};
static const char *const get_names[] = {"block", "timeout"};

/* Append to a container: a deque (FIFO) or a list (LIFO). */
static int
append(PyObject *dq, PyObject *item)
{
    PyObject *args[2] = {dq, item};
    PyObject *r;
    if (PyList_CheckExact(dq)) {
        return PyList_Append(dq, item);
    }
    r = PyObject_Vectorcall(deque_append, args, 2, NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* len() of a container.  A deque keeps its length in ob_size (CPython
 * 3.10-3.13, _collectionsmodule.c), read here without a call. */
static inline Py_ssize_t
size_of(PyObject *dq)
{
    if (dq == NULL || dq == Py_None) {
        return 0;
    }
    if (Py_IS_TYPE(dq, deque_type)) {
        return Py_SIZE(dq);
    }
    return PyObject_Length(dq);
}

static PyObject *
call_method0(PyObject *self, PyObject *name)
{
    return PyObject_CallMethodNoArgs(self, name);
}

/* put(item, block=True, timeout=None) */
static PyObject *
qb_put(QueueBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[3];
    Py_ssize_t n;
    if (cl_args("put", put_names, 3, args, nargs, kwnames, a) < 0) {
        return NULL;
    }
    if (a[0] == NULL) {
        PyErr_SetString(PyExc_TypeError, "put() missing required argument 'item'");
        return NULL;
    }
    if ((a[2] == NULL || a[2] == Py_None) && self->items != NULL &&
        (Py_IS_TYPE(self->items, deque_type) || PyList_CheckExact(self->items))) {
        n = size_of(self->items);
        if (n < 0) {
            return NULL;
        }
        if (n < self->maxsize) {
            /* The item goes in first, then we look for waiters: a greenlet
             * of another thread about to wait publishes itself first, then
             * looks for items, so one of the two sees the other. */
            if (append(self->items, a[0]) < 0) {
                return NULL;
            }
            if (self->unfinished != NULL && self->unfinished != Py_None &&
                append(self->unfinished, Py_None) < 0) {
                return NULL;
            }
            if (size_of(self->getters) || size_of(self->peekers)) {
                return call_method0((PyObject *)self, s_serve_waiters);
            }
            Py_RETURN_NONE;
        }
    }
    return PyObject_CallMethodObjArgs((PyObject *)self, s_put, a[0], a[1] != NULL ? a[1] : Py_True,
                                      a[2] != NULL ? a[2] : Py_None, NULL);
}

/* get(block=True, timeout=None) */
static PyObject *
qb_get(QueueBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2];
    if (cl_args("get", get_names, 2, args, nargs, kwnames, a) < 0) {
        return NULL;
    }
    if ((a[1] == NULL || a[1] == Py_None) && self->items != NULL &&
        Py_IS_TYPE(self->items, deque_type) && size_of(self->items) > 0) {
        PyObject *item = PyObject_CallOneArg(deque_popleft, self->items);
        if (item == NULL) {
            return NULL;
        }
        if (size_of(self->putters)) {
            PyObject *r = call_method0((PyObject *)self, s_admit_putters);
            if (r == NULL) {
                Py_DECREF(item);
                return NULL;
            }
            Py_DECREF(r);
        }
        return item;
    }
    return PyObject_CallMethodObjArgs((PyObject *)self, s_get, a[0] != NULL ? a[0] : Py_True,
                                      a[1] != NULL ? a[1] : Py_None, NULL);
}

static PyObject *
qb_put_nowait(QueueBase *self, PyObject *item)
{
    PyObject *args[2] = {item, Py_False};
    return qb_put(self, args, 2, NULL);
}

static PyObject *
qb_get_nowait(QueueBase *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *args[1] = {Py_False};
    return qb_get(self, args, 1, NULL);
}

static Py_ssize_t
qb_len(QueueBase *self)
{
    return size_of(self->items);
}

static PyObject *
qb_qsize(QueueBase *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = size_of(self->items);
    return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

static PyObject *
qb_empty(QueueBase *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = size_of(self->items);
    return n < 0 ? NULL : PyBool_FromLong(n == 0);
}

static int
qb_traverse(QueueBase *self, visitproc visit, void *arg)
{
    Py_VISIT(self->items);
    Py_VISIT(self->getters);
    Py_VISIT(self->putters);
    Py_VISIT(self->peekers);
    Py_VISIT(self->unfinished);
    return 0; /* (a heap subclass's subtype_traverse visits its type) */
}

static int
qb_clear(QueueBase *self)
{
    Py_CLEAR(self->items);
    Py_CLEAR(self->getters);
    Py_CLEAR(self->putters);
    Py_CLEAR(self->peekers);
    Py_CLEAR(self->unfinished);
    return 0;
}

static void
qb_dealloc(QueueBase *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    qb_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
qb_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    QueueBase *self = (QueueBase *)type->tp_alloc(type, 0);
    (void)args;
    (void)kwds;
    if (self != NULL) {
        self->maxsize = PY_SSIZE_T_MAX;
    }
    return (PyObject *)self;
}

static PyMethodDef qb_methods[] = {
    {"put", (PyCFunction)(void (*)(void))qb_put, METH_FASTCALL | METH_KEYWORDS,
     "put(item, block=True, timeout=None)\n--\n\n"
     "Put item in; while full, wait (up to timeout, then queue.Full).\n"
     "Without block, raise Full at once if full.  ShutDown after shutdown()."},
    {"get", (PyCFunction)(void (*)(void))qb_get, METH_FASTCALL | METH_KEYWORDS,
     "get(block=True, timeout=None)\n--\n\n"
     "Take the next item; while empty, wait (up to timeout, then\n"
     "queue.Empty).  Without block, raise Empty at once if empty.  After\n"
     "shutdown(), items still in are returned, then ShutDown."},
    {"put_nowait", (PyCFunction)qb_put_nowait, METH_O,
     "put_nowait(item)\n--\n\nput(item, block=False): Full if there is no room."},
    {"get_nowait", (PyCFunction)qb_get_nowait, METH_NOARGS,
     "get_nowait()\n--\n\nget(block=False): Empty if there is no item."},
    {"qsize", (PyCFunction)qb_qsize, METH_NOARGS,
     "qsize()\n--\n\nHow many items are in the queue (not counting waiting putters)."},
    {"empty", (PyCFunction)qb_empty, METH_NOARGS,
     "empty()\n--\n\nTell whether no item is in the queue."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef qb_members[] = {
    {"_items", T_OBJECT_EX, offsetof(QueueBase, items), 0, "the items (a deque)"},
    {"_getters", T_OBJECT_EX, offsetof(QueueBase, getters), 0, "parked getters"},
    {"_putters", T_OBJECT_EX, offsetof(QueueBase, putters), 0, "parked putters"},
    {"_peekers", T_OBJECT_EX, offsetof(QueueBase, peekers), 0, "parked peekers"},
    {"_unfinished", T_OBJECT, offsetof(QueueBase, unfinished), 0,
     "one None per unfinished task (a thread-safe counter), or None"},
    {"_maxsize", T_PYSSIZET, offsetof(QueueBase, maxsize), 0, "room; sys.maxsize: unbounded"},
    {NULL, 0, 0, 0, NULL},
};

static PySequenceMethods qb_as_sequence = {
    .sq_length = (lenfunc)qb_len,
};

static PyTypeObject queuebase_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corolib._core.QueueBase",
    .tp_basicsize = sizeof(QueueBase),
    .tp_dealloc = (destructor)qb_dealloc,
    .tp_as_sequence = &qb_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The compiled fast paths of corolib.queue's FIFO queues.",
    .tp_traverse = (traverseproc)qb_traverse,
    .tp_clear = (inquiry)qb_clear,
    .tp_weaklistoffset = offsetof(QueueBase, weakreflist),
    .tp_methods = qb_methods,
    .tp_members = qb_members,
    .tp_new = qb_new,
};

int
cl__queue_base_ready(PyObject *module)
{
    PyObject *collections, *deque;
    collections = PyImport_ImportModule("collections");
    if (collections == NULL) {
        return -1;
    }
    deque = PyObject_GetAttrString(collections, "deque");
    Py_DECREF(collections);
    if (deque == NULL) {
        return -1;
    }
    deque_append = PyObject_GetAttrString(deque, "append");
    deque_popleft = PyObject_GetAttrString(deque, "popleft");
    deque_type = (PyTypeObject *)deque; /* kept: collections holds it anyway */
    s_put = PyUnicode_InternFromString("_put");
    s_get = PyUnicode_InternFromString("_get");
    s_serve_waiters = PyUnicode_InternFromString("_serve_waiters");
    s_admit_putters = PyUnicode_InternFromString("_admit_putters");
    if (deque_append == NULL || deque_popleft == NULL || s_put == NULL || s_get == NULL ||
        s_serve_waiters == NULL || s_admit_putters == NULL) {
        return -1;
    }
    if (PyType_Ready(&queuebase_type) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "QueueBase", (PyObject *)&queuebase_type);
}
