/* corolib.uv's part of corolib._core: type readiness, constants, and the
 * debugging counter.  Called once from PyInit__core. */
#include "uv_types.h"

static PyObject *
mod_uv_live_handles(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromSize_t(cl_handles_alive());
}

static PyMethodDef uv_functions[] = {
    {"uv_live_handles", mod_uv_live_handles, METH_NOARGS,
     "uv_live_handles()\n--\n\n"
     "libuv handles initialised and not yet freed, over all loops (a\n"
     "debugging aid: it returns to its old value once loops are closed)."},
    {NULL, NULL, 0, NULL},
};

int
cl__uv_types_ready(PyObject *module)
{
    static const struct {
        const char *name;
        PyTypeObject *type;
    } types[] = {
        {"Loop", &cl__uv_loop_type},   {"Handle", &cl__uv_handle_type},
        {"Timer", &cl__uv_timer_type}, {"Poll", &cl__uv_poll_type},
        {"Async", &cl__uv_async_type}, {"Prepare", &cl__uv_prepare_type},
        {"Check", &cl__uv_check_type}, {"Idle", &cl__uv_idle_type},
    };
    static const struct {
        const char *name;
        int value;
    } constants[] = {
        {"UV_RUN_DEFAULT", UV_RUN_DEFAULT}, {"UV_RUN_ONCE", UV_RUN_ONCE},
        {"UV_RUN_NOWAIT", UV_RUN_NOWAIT},   {"UV_READABLE", UV_READABLE},
        {"UV_WRITABLE", UV_WRITABLE},       {"UV_DISCONNECT", UV_DISCONNECT},
        {"UV_PRIORITIZED", UV_PRIORITIZED},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (PyType_Ready(types[i].type) < 0 ||
            PyModule_AddObjectRef(module, types[i].name, (PyObject *)types[i].type) < 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        if (PyModule_AddIntConstant(module, constants[i].name, constants[i].value) < 0) {
            return -1;
        }
    }
    if (PyModule_AddStringConstant(module, "UV_VERSION", uv_version_string()) < 0 ||
        PyModule_AddFunctions(module, uv_functions) < 0 || cl__uv_errors_ready(module) < 0) {
        return -1;
    }
    return 0;
}
