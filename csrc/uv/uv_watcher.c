/* corolib.uv.Prepare, Check and Idle, generated from one macro (CPython
 * glue over loop/watcher.c).  The callback is cb(handle), once per loop
 * iteration in which the handle ran. */
#include "uv_types.h"

#define CL__PYWATCHER_DEFINE(name, Name, KIND, doc)                                        \
    static PyObject *name##_new(PyTypeObject *type, PyObject *args, PyObject *kwds)        \
    {                                                                                      \
        static char *kwlist[] = {"loop", NULL};                                            \
        PyObject *loop;                                                                    \
        cl_pyhandle *self;                                                                 \
        int err;                                                                           \
        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:" #Name, kwlist, &loop)) {         \
            return NULL;                                                                   \
        }                                                                                  \
        self = cl__uv_handle_alloc(type, loop, KIND);                                      \
        if (self == NULL) {                                                                \
            return NULL;                                                                   \
        }                                                                                  \
        err = cl_##name##_init(&self->loop->loop, &self->mem->u.name, &cl__uv_sink, self); \
        if (err < 0) {                                                                     \
            return cl__uv_handle_abort(self, err);                                         \
        }                                                                                  \
        return (PyObject *)self;                                                           \
    }                                                                                      \
                                                                                           \
    static PyObject *name##_start(cl_pyhandle *self, PyObject *args, PyObject *kwds)       \
    {                                                                                      \
        static char *kwlist[] = {"callback", NULL};                                        \
        PyObject *cb;                                                                      \
        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:start", kwlist, &cb)) {            \
            return NULL;                                                                   \
        }                                                                                  \
        if (cl__uv_check_callable(cb, "callback") < 0 || cl__uv_handle_usable(self) < 0) { \
            return NULL;                                                                   \
        }                                                                                  \
        return cl__uv_handle_changed(self, cl_##name##_start(&self->mem->u.name), cb);     \
    }                                                                                      \
                                                                                           \
    static PyObject *name##_stop(cl_pyhandle *self, PyObject *Py_UNUSED(ignored))          \
    {                                                                                      \
        if (cl__uv_handle_usable(self) < 0) {                                              \
            return NULL;                                                                   \
        }                                                                                  \
        return cl__uv_handle_changed(self, cl_##name##_stop(&self->mem->u.name), NULL);    \
    }                                                                                      \
                                                                                           \
    static PyMethodDef name##_methods[] = {                                                \
        {"start", (PyCFunction)(void (*)(void))name##_start, METH_VARARGS | METH_KEYWORDS, \
         "start(callback)\n--\n\nCall callback(handle) " doc "."},                         \
        {"stop", (PyCFunction)name##_stop, METH_NOARGS,                                    \
         "stop()\n--\n\nStop; a pending call is dropped."},                                \
        {NULL, NULL, 0, NULL},                                                             \
    };                                                                                     \
                                                                                           \
    PyTypeObject cl__uv_##name##_type = {                                                  \
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "corolib.uv." #Name,                      \
        .tp_basicsize = sizeof(cl_pyhandle),                                               \
        .tp_flags = Py_TPFLAGS_DEFAULT, /* GC: inherited */                                \
        .tp_doc = #Name "(loop)\n--\n\nCalls a function " doc ".",                         \
        .tp_base = &cl__uv_handle_type,                                                    \
        .tp_new = name##_new,                                                              \
        .tp_methods = name##_methods,                                                      \
    };

CL__PYWATCHER_DEFINE(prepare, Prepare, CL_UVK_PREPARE,
                     "once per loop iteration, just before it polls for I/O")
CL__PYWATCHER_DEFINE(check, Check, CL_UVK_CHECK,
                     "once per loop iteration, just after it polled for I/O")
CL__PYWATCHER_DEFINE(idle, Idle, CL_UVK_IDLE,
                     "once per loop iteration; while started, the loop "
                     "polls without blocking")
