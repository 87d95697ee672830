/* corolib.uv's exceptions and argument checks shared by the handle types.
 *
 * UVError(OSError) carries libuv's view of an error: .errno is the
 * positive errno value (libuv's codes are its negation on Unix), .strerror
 * libuv's message and .name its symbolic name, and str() reads
 * "EBADF: bad file descriptor".  It is created with the `type` metaclass
 * (PyErr_NewException) rather than as a static type, so that CPython's own
 * subtype machinery manages its instances; __str__ is a C function bound
 * as a method through PyInstanceMethod.
 */
#include "uv_types.h"

#include <math.h>

PyObject *cl__uv_UVError;
PyObject *cl__uv_HandleClosedError;

static PyObject *
uverror_str(PyObject *Py_UNUSED(unbound), PyObject *self)
{
    PyObject *name = PyObject_GetAttrString(self, "name");
    PyObject *strerror, *res;
    if (name == NULL) {
        return NULL;
    }
    if (!PyUnicode_Check(name)) {
        /* Constructed by hand, without a name: OSError's own format. */
        Py_DECREF(name);
        return ((PyTypeObject *)PyExc_OSError)->tp_str(self);
    }
    strerror = PyObject_GetAttrString(self, "strerror");
    if (strerror == NULL) {
        Py_DECREF(name);
        return NULL;
    }
    res = PyUnicode_FromFormat("%U: %S", name, strerror);
    Py_DECREF(name);
    Py_DECREF(strerror);
    return res;
}

static PyMethodDef uverror_str_def = {"__str__", uverror_str, METH_O, "'NAME: message'."};

int
cl__uv_errors_ready(PyObject *module)
{
    PyObject *dict = PyDict_New();
    PyObject *func = NULL, *meth = NULL;
    int r = -1;
    if (dict == NULL) {
        return -1;
    }
    func = PyCFunction_New(&uverror_str_def, NULL);
    if (func == NULL) {
        goto done;
    }
    meth = PyInstanceMethod_New(func);
    if (meth == NULL || PyDict_SetItemString(dict, "__str__", meth) < 0 ||
        PyDict_SetItemString(dict, "name", Py_None) < 0) {
        goto done;
    }
    cl__uv_UVError =
        PyErr_NewExceptionWithDoc("corolib.uv.UVError",
                                  "An error reported by libuv.\n\n"
                                  ".errno is the errno value, .strerror libuv's message and .name\n"
                                  "libuv's symbolic name for it (such as 'EBADF'); str() gives\n"
                                  "'EBADF: bad file descriptor'.",
                                  PyExc_OSError, dict);
    if (cl__uv_UVError == NULL) {
        goto done;
    }
    cl__uv_HandleClosedError = PyErr_NewExceptionWithDoc(
        "corolib.uv.HandleClosedError", "A handle (or loop) was used after it was closed.",
        PyExc_RuntimeError, NULL);
    if (cl__uv_HandleClosedError == NULL) {
        goto done;
    }
    if (PyModule_AddObjectRef(module, "UVError", cl__uv_UVError) < 0 ||
        PyModule_AddObjectRef(module, "HandleClosedError", cl__uv_HandleClosedError) < 0) {
        goto done;
    }
    r = 0;
done:
    Py_XDECREF(meth);
    Py_XDECREF(func);
    Py_DECREF(dict);
    return r;
}

PyObject *
cl__uv_raise_closed(const char *what)
{
    PyErr_Format(cl__uv_HandleClosedError, "%s is closed", what);
    return NULL;
}

PyObject *
cl__uv_raise(int err)
{
    char name[64], message[256];
    PyObject *exc, *pyname;
    int r;
    if (err == CL_ECLOSED) {
        return cl__uv_raise_closed("handle");
    }
    cl_err_name(err, name, sizeof name);
    cl_strerror(err, message, sizeof message);
    exc = PyObject_CallFunction(cl__uv_UVError, "is", -err, message);
    if (exc == NULL) {
        return NULL;
    }
    pyname = PyUnicode_FromString(name);
    r = pyname == NULL ? -1 : PyObject_SetAttrString(exc, "name", pyname);
    Py_XDECREF(pyname);
    if (r == 0) {
        PyErr_SetObject(cl__uv_UVError, exc);
    }
    Py_DECREF(exc);
    return NULL;
}

int
cl__uv_seconds(PyObject *obj, const char *what, uint64_t *ns)
{
    /* 2**63 ns is about 292 years: far beyond any use, well inside uint64
     * and libuv's millisecond arithmetic. */
    const double max_seconds = 9.2e9;
    double seconds = PyFloat_AsDouble(obj);
    if (seconds == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError, "%s must be a number of seconds, not %s", what,
                         Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    if (isnan(seconds) || seconds < 0) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0, not %R", what, obj);
        return -1;
    }
    if (!(seconds <= max_seconds)) {
        PyErr_Format(PyExc_ValueError, "%s is too large: %R", what, obj);
        return -1;
    }
    *ns = (uint64_t)(seconds * 1e9 + 0.5);
    return 0;
}

int
cl__uv_check_callable(PyObject *obj, const char *what)
{
    if (!PyCallable_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be callable, not %s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    return 0;
}
