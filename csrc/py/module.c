/* corolib._core: module functions and initialisation. */
#include "py.h"

static PyObject *
mod_getcurrent(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    cl_thread *ts = cl__thread();
    (void)module;
    if (ts == NULL) {
        return NULL;
    }
    return Py_NewRef(ts->current);
}

static PyObject *
mod_settrace(PyObject *module, PyObject *callback)
{
    cl_thread *ts = cl__thread();
    PyObject *previous;
    (void)module;
    if (ts == NULL) {
        return NULL;
    }
    if (callback != Py_None && !PyCallable_Check(callback)) {
        PyErr_Format(PyExc_TypeError, "settrace() argument must be callable or None, not %s",
                     Py_TYPE(callback)->tp_name);
        return NULL;
    }
    previous = ts->trace;
    ts->trace = callback == Py_None ? NULL : Py_NewRef(callback);
    if (previous == NULL) {
        Py_RETURN_NONE;
    }
    return previous;
}

static PyObject *
mod_gettrace(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    cl_thread *ts = cl__thread();
    (void)module;
    if (ts == NULL) {
        return NULL;
    }
    if (ts->trace == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(ts->trace);
}

static PyObject *
mod_get_pending_cleanup_count(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromSsize_t(cl__pending_cleanup_count());
}

static PyObject *
mod_get_total_main_greenlets(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromSsize_t(cl__total_main_greenlets);
}

static PyMethodDef module_methods[] = {
    {"getcurrent", mod_getcurrent, METH_NOARGS,
     "getcurrent()\n--\n\nThe greenlet running in this thread."},
    {"settrace", mod_settrace, METH_O,
     "settrace(callback)\n--\n\n"
     "Set this thread's greenlet trace function, called as\n"
     "callback(event, (origin, target)) with event 'switch' or 'throw'\n"
     "on every switch.  None removes it.  Returns the previous one."},
    {"gettrace", mod_gettrace, METH_NOARGS,
     "gettrace()\n--\n\nThis thread's greenlet trace function, or None."},
    {"get_pending_cleanup_count", mod_get_pending_cleanup_count, METH_NOARGS,
     "get_pending_cleanup_count()\n--\n\n"
     "Greenlets freed by other threads, waiting to be killed by their own."},
    {"get_total_main_greenlets", mod_get_total_main_greenlets, METH_NOARGS,
     "get_total_main_greenlets()\n--\n\n"
     "Main greenlets alive: one per thread that has used greenlets, plus\n"
     "those of exited threads still referenced."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "corolib._core",
    .m_doc = "corolib's compiled core: greenlets and the libuv binding.",
    .m_size = -1,
    .m_methods = module_methods,
};

static int
add_type_attrs(PyObject *module)
{
    /* greenlet also exposes these on the type, for old code. */
    static const char *names[] = {"getcurrent", "error",    "GreenletExit",
                                  "settrace",   "gettrace", NULL};
    PyObject *dict = cl__greenlet_type.tp_dict;
    for (int i = 0; names[i] != NULL; i++) {
        PyObject *v = PyObject_GetAttrString(module, names[i]);
        int r;
        if (v == NULL) {
            return -1;
        }
        if (PyCFunction_Check(v)) {
            PyObject *sm = PyStaticMethod_New(v);
            Py_DECREF(v);
            if (sm == NULL) {
                return -1;
            }
            v = sm;
        }
        r = PyDict_SetItemString(dict, names[i], v);
        Py_DECREF(v);
        if (r < 0) {
            return -1;
        }
    }
    PyType_Modified(&cl__greenlet_type);
    return 0;
}

PyMODINIT_FUNC
PyInit__core(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    if (cl__greenlet_type_ready(m) < 0) {
        goto fail;
    }
    cl__arena_cache_install();
#ifdef CL_PY312
    cl__frame_dealloc_hook_install();
#endif
    cl__GreenletExit = PyErr_NewExceptionWithDoc(
        "corolib.greenlet.GreenletExit",
        "Raised in a greenlet to end it quietly; its parent receives the\n"
        "exception instance as a return value.",
        PyExc_BaseException, NULL);
    if (cl__GreenletExit == NULL) {
        goto fail;
    }
    cl__greenlet_error =
        PyErr_NewExceptionWithDoc("corolib.greenlet.error",
                                  "A switch that cannot be done (another thread, a dead main "
                                  "greenlet).",
                                  PyExc_Exception, NULL);
    if (cl__greenlet_error == NULL) {
        goto fail;
    }
    if (PyModule_AddObjectRef(m, "greenlet", (PyObject *)&cl__greenlet_type) < 0 ||
        PyModule_AddObjectRef(m, "GreenletExit", cl__GreenletExit) < 0 ||
        PyModule_AddObjectRef(m, "error", cl__greenlet_error) < 0 ||
        PyModule_AddIntConstant(m, "GREENLET_USE_GC", 1) < 0 ||
        PyModule_AddIntConstant(m, "GREENLET_USE_TRACING", 1) < 0 ||
        PyModule_AddIntConstant(m, "GREENLET_USE_CONTEXT_VARS", 1) < 0) {
        goto fail;
    }
    if (add_type_attrs(m) < 0) {
        goto fail;
    }
    /* Every type of the module, in dependency order: the hub's types
     * after the greenlet's (Hub and Task derive from it). */
    if (cl__hub_types_ready(m) < 0 || cl__wait_queue_ready(m) < 0 ||
        cl__timer_handle_ready(m) < 0 || cl__sockio_ready(m) < 0 ||
        cl__aio_transport_ready(m) < 0 || cl__aio_loop_ready(m) < 0 ||
        cl__queue_base_ready(m) < 0 || cl__task_type_ready(m) < 0 || cl__uv_types_ready(m) < 0 ||
        cl__introspect_ready(m) < 0) {
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
