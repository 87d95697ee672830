/* Per-OS-thread greenlet state: the main greenlet, the current greenlet,
 * the trace function, greenlets freed by other threads, and recycled
 * data-stack chunks.
 *
 * Lifetime: created on first use in a thread.  A capsule stored in the
 * thread's Python state dict owns it, so CPython tells us when the thread
 * state is cleared (thread exit, or interpreter shutdown for the main
 * thread): the capsule's destructor marks the main greenlet dead, which
 * makes every greenlet of the thread report dead, and frees what is left
 * without running any code in those greenlets.  The destructor runs with
 * the GIL held.
 *
 * Never run greenlet code during interpreter shutdown: creation of thread
 * state is refused then.
 */
#include "../cl_internal.h"

__thread cl_thread *cl__tls_thread CL_TLS_MODEL;
Py_ssize_t cl__total_main_greenlets;
static cl_thread *all_threads; /* GIL-protected */

/* Root data-stack chunks for new greenlets (3.11+).  Small, because every
 * suspended greenlet keeps one: a task blocked one frame deep uses about
 * 150 bytes of it (issue 19: a 1 KiB start was 870 bytes of waste per
 * parked task).  Frames that do not fit spill into chunks CPython allocates
 * from its arena allocator (cached: see arena.c).  When a greenlet of this thread is seen to
 * spill (at a switch), later greenlets get chunks large enough for what it
 * used (cl__chunk_grow), up to CPython's own chunk size, so deep code soon
 * stops paying for spills. */
#define CHUNK_MIN_BYTES 256
/* A chunk asks malloc for chunk_bytes less its header, so that what malloc
 * takes is chunk_bytes, not the next 16-byte granule above it. */
#define CHUNK_ALLOC(ts) ((ts)->chunk_bytes - sizeof(size_t))
#define CHUNK_MAX_BYTES (16 * 1024)
#define MAX_FREE_CHUNKS 64

static const char capsule_name[] = "corolib._core.thread";

static void
free_chunks(cl_thread *ts)
{
#ifdef CL_PY311
    while (ts->free_chunks != NULL) {
        cl_chunk *next = ts->free_chunks->previous;
        PyMem_RawFree(ts->free_chunks);
        ts->free_chunks = next;
    }
#endif
    ts->n_free_chunks = 0;
}

cl_chunk *
cl__chunk_get(cl_thread *ts)
{
#ifdef CL_PY311
    cl_chunk *c = ts->free_chunks;
    if (c != NULL) {
        ts->free_chunks = c->previous;
        ts->n_free_chunks--;
        return c;
    }
    c = PyMem_RawMalloc(CHUNK_ALLOC(ts));
    if (c == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    c->size = CHUNK_ALLOC(ts);
    return c;
#else
    (void)ts;
    return NULL;
#endif
}

/* A greenlet switched away with frames that outgrew its root chunk: they
 * use `need` bytes.  Later greenlets get room for that and 64 bytes more,
 * in 64-byte steps (and at least a quarter more than now, so a slowly
 * deepening program re-sizes a few times only), not the next power of two:
 * a handler parked in recv() needs about 300. */
void
cl__chunk_grow(cl_thread *ts, size_t need)
{
    size_t want = (need + sizeof(size_t) + 64 + 63) & ~(size_t)63;
    if (want > ts->chunk_bytes && ts->chunk_bytes < CHUNK_MAX_BYTES) {
        size_t step = ts->chunk_bytes + ts->chunk_bytes / 4;
        want = want > step ? want : (step + 63) & ~(size_t)63;
        ts->chunk_bytes = want < CHUNK_MAX_BYTES ? want : CHUNK_MAX_BYTES;
        free_chunks(ts); /* the pooled ones are now too small */
    }
}

void
cl__chunk_put(cl_thread *ts, cl_chunk *chunk)
{
#ifdef CL_PY311
    if (chunk == NULL) {
        return;
    }
    if (ts->n_free_chunks >= MAX_FREE_CHUNKS || chunk->size != CHUNK_ALLOC(ts)) {
        PyMem_RawFree(chunk);
        return;
    }
    chunk->previous = ts->free_chunks;
    ts->free_chunks = chunk;
    ts->n_free_chunks++;
#else
    (void)ts;
    (void)chunk;
#endif
}

/* The thread state is going away (capsule destructor, GIL held). */
static void
thread_exited(PyObject *capsule)
{
    cl_thread *ts = PyCapsule_GetPointer(capsule, capsule_name);
    PyObject *deleteme;
    if (ts == NULL) {
        PyErr_Clear();
        return;
    }
    if (cl__tls_thread == ts) {
        cl__tls_thread = NULL;
    }
    if (ts->next != NULL) {
        ts->next->prevp = ts->prevp;
    }
    if (ts->prevp != NULL) {
        ts->prevp->next = ts->next;
    }
    else {
        all_threads = ts->next;
    }
    /* From now on every greenlet of this thread reports dead, and freeing
     * one runs none of its code. */
    ts->main->thread = NULL;
    deleteme = ts->deleteme;
    ts->deleteme = NULL;
    Py_XDECREF(deleteme);
    if (ts->hub != NULL && ts->hub_exit != NULL) {
        ts->hub_exit(ts->hub);
    }
    Py_CLEAR(ts->hub);
    Py_CLEAR(ts->trace);
    Py_CLEAR(ts->failed_origin);
    Py_CLEAR(ts->current);
    Py_CLEAR(ts->main);
    free_chunks(ts);
    PyMem_RawFree(ts);
}

cl_thread *
cl__thread_slow(void)
{
    static PyObject *key;
    PyThreadState *tstate = PyThreadState_GET();
    PyObject *dict, *capsule;
    cl_thread *ts;

    if (key == NULL) {
        key = PyUnicode_InternFromString(capsule_name);
        if (key == NULL) {
            return NULL;
        }
    }
    dict = PyThreadState_GetDict();
    if (dict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "corolib: this thread has no Python thread state");
        return NULL;
    }
    capsule = PyDict_GetItemWithError(dict, key);
    if (capsule != NULL) {
        ts = PyCapsule_GetPointer(capsule, capsule_name);
        if (ts != NULL) {
            cl__tls_thread = ts;
        }
        return ts;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (cl_is_finalizing()) {
        PyErr_SetString(PyExc_RuntimeError, "greenlet is being finalized");
        return NULL;
    }
    ts = PyMem_RawCalloc(1, sizeof(cl_thread));
    if (ts == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    ts->tstate = tstate;
    ts->chunk_bytes = CHUNK_MIN_BYTES;
    ts->main = cl__greenlet_new_main(ts);
    if (ts->main == NULL) {
        PyMem_RawFree(ts);
        return NULL;
    }
    ts->current = (cl_greenlet *)Py_NewRef(ts->main);
    capsule = PyCapsule_New(ts, capsule_name, thread_exited);
    if (capsule == NULL) {
        ts->main->thread = NULL;
        Py_DECREF(ts->current);
        Py_DECREF(ts->main);
        PyMem_RawFree(ts);
        return NULL;
    }
    if (PyDict_SetItem(dict, key, capsule) < 0) {
        Py_DECREF(capsule); /* runs thread_exited */
        return NULL;
    }
    Py_DECREF(capsule);
    ts->next = all_threads;
    if (all_threads != NULL) {
        all_threads->prevp = ts;
    }
    all_threads = ts;
    cl__tls_thread = ts;
    return ts;
}

int
cl__thread_process_deleteme(cl_thread *ts)
{
    PyObject *list = ts->deleteme;
    PyObject *pending;
    Py_ssize_t i;

    ts->deleteme = NULL;
    pending = cl_err_take();
    for (i = 0; i < PyList_GET_SIZE(list); i++) {
        cl_greenlet *g = (cl_greenlet *)PyList_GET_ITEM(list, i);
        if (CL_G_ACTIVE(g) && g->main == ts->main) {
            cl__kill_released(ts, g);
        }
    }
    Py_DECREF(list);
    cl_err_give(pending);
    return 0;
}

/* A suspended greenlet of another, live thread lost its last reference
 * here: keep it alive on its own thread's list; that thread kills it the
 * next time it uses greenlets. */
int
cl__thread_defer_release(cl_greenlet *g)
{
    cl_thread *owner = g->main->thread;
    if (owner->deleteme == NULL) {
        owner->deleteme = PyList_New(0);
        if (owner->deleteme == NULL) {
            return -1;
        }
    }
    return PyList_Append(owner->deleteme, (PyObject *)g);
}

Py_ssize_t
cl__pending_cleanup_count(void)
{
    Py_ssize_t n = 0;
    cl_thread *ts;
    for (ts = all_threads; ts != NULL; ts = ts->next) {
        if (ts->deleteme != NULL) {
            n += PyList_GET_SIZE(ts->deleteme);
        }
    }
    return n;
}
