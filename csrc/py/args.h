/* Argument parsing for METH_FASTCALL | METH_KEYWORDS functions on hot
 * paths: PyArg_ParseTupleAndKeywords costs hundreds of instructions per
 * call, which shows on a wait/wake round trip.  cl_args() only sorts the
 * positional and keyword arguments into slots; callers convert them. */
#ifndef CL_PY_ARGS_H
#define CL_PY_ARGS_H

#include <Python.h>

/* Fill out[0..n) from args/kwnames by the parameter names `names` (n of
 * them); missing ones stay NULL.  Returns 0, or -1 with TypeError. */
static inline int
cl_args(const char *fname, const char *const *names, Py_ssize_t n, PyObject *const *args,
        Py_ssize_t nargs, PyObject *kwnames, PyObject **out)
{
    Py_ssize_t i, j, nkw;
    for (i = 0; i < n; i++) {
        out[i] = NULL;
    }
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", fname, n,
                     nargs);
        return -1;
    }
    for (i = 0; i < nargs; i++) {
        out[i] = args[i];
    }
    if (kwnames == NULL) {
        return 0;
    }
    nkw = PyTuple_GET_SIZE(kwnames);
    for (j = 0; j < nkw; j++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, j);
        for (i = 0; i < n; i++) {
            if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) {
                break;
            }
        }
        if (i == n) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname,
                         key);
            return -1;
        }
        if (out[i] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                         names[i]);
            return -1;
        }
        out[i] = args[nargs + j];
    }
    return 0;
}

#endif
