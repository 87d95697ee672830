/* Everything that depends on the CPython minor version, in one place.
 *
 * The heart of it is cl_pystate: the part of PyThreadState that belongs to
 * one greenlet rather than to the OS thread, and that a switch therefore
 * moves out of the thread state (save) and back in (restore).  Each CPython
 * minor version gets one definition of the struct and one save/restore
 * pair; nothing else in csrc/ may test PY_VERSION_HEX.
 *
 * What is switched, per version (field names as in the CPython headers):
 *                 3.10              3.11             3.12             3.13
 *   frames        frame, cframe     cframe           cframe           current_frame
 *   recursion     recursion_depth   py (limit-rem.)  py + C           py + C
 *   data stack    -                 chunk/top/limit  chunk/top/limit  chunk/top/limit
 *   trashcan      trash nesting     trash nesting    trash.nesting    delete_later
 *   exceptions    exc_info + exc_state (all versions)
 *   contextvars   context, and context_ver is bumped on restore (all)
 * Deliberately not switched: the exception being raised (it is how throw()
 * and a dying greenlet's error travel), trace/profile functions (per
 * thread, as in CPython), and everything else in the thread state.
 *
 * Recursion is saved as a depth, not as "remaining", so that a
 * sys.setrecursionlimit() made while a greenlet is suspended applies to it
 * when it resumes.
 *
 * 3.12 and 3.13 put an "entry frame" on the C stack each time C code calls
 * Python, and Python frames link to it through `previous`.  A suspended
 * greenlet's C stack may be in the heap or overwritten, so before it leaves
 * we relink its Python frames around those entry frames, and undo that when
 * it comes back (cl_frame_fixups below).  gr_frame and f_back of a
 * suspended greenlet are then always safe to walk.
 */
#ifndef CL_PYCOMPAT_H
#define CL_PYCOMPAT_H

#include <Python.h>
#include <frameobject.h>
#include <stdlib.h>

#if PY_VERSION_HEX < 0x030A0000 || PY_VERSION_HEX >= 0x030E0000
#error "corolib supports CPython 3.10 to 3.13"
#endif

#if PY_VERSION_HEX >= 0x030B0000
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
#define CL_PY311 1 /* 3.11+: frames live in per-thread data stacks */
#endif
#if PY_VERSION_HEX >= 0x030C0000
#define CL_PY312 1 /* 3.12+: entry frames on the C stack, split recursion */
#endif
#if PY_VERSION_HEX >= 0x030D0000
#define CL_PY313 1 /* 3.13: no cframe */
#endif

/* ---- the data stack a new greenlet starts with (3.11+) -------------- */

#ifdef CL_PY311
typedef _PyStackChunk cl_chunk;
#else
typedef struct cl_chunk cl_chunk; /* never defined: no data stack */
#endif

/* ---- C-stack frame links that point into the greenlet's own stack ---- */

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
typedef _PyCFrame cl_cframe;
#elif PY_VERSION_HEX < 0x030B0000
typedef CFrame cl_cframe;
#else
typedef struct {
    int unused;
} cl_cframe; /* 3.13 has none */
#endif

#ifdef CL_PY312
typedef struct {
    _PyInterpreterFrame *frame;
    _PyInterpreterFrame *previous; /* the original link, into the C stack */
    _PyInterpreterFrame *relinked; /* the link while suspended */
} cl_fixup;

/* A frame of the greenlet, seen at an earlier switch, that is recognised
 * at the next one if it is still running: through its frame object
 * (borrowed: the running frame holds it), which carries our mark. */
typedef struct {
    _PyInterpreterFrame *frame;
    PyFrameObject *obj;
    uint64_t serial;
    int nbelow; /* fixups recorded for this frame and those below it */
} cl_checkpoint;

#define CL_FIXUPS_INLINE 1 /* a task parked in a wait: one entry frame */
typedef struct {
    int count;    /* fixups, outermost frame first */
    int capacity; /* > CL_FIXUPS_INLINE when `heap` is in use */
    cl_fixup *heap;
    cl_fixup inline_[CL_FIXUPS_INLINE];
    int ncheck, checkcap;
    cl_checkpoint *checks; /* outermost first */
} cl_frame_fixups;
#endif

typedef struct cl_pystate {
#if PY_VERSION_HEX < 0x030B0000
    PyFrameObject *frame; /* borrowed, as in the thread state */
    CFrame *cframe;
    int recursion_depth;
    int trash_delete_nesting;
#else
#ifndef CL_PY313
    _PyCFrame *cframe;
#endif
    _PyInterpreterFrame *top; /* innermost frame, NULL if none */
    int py_recursion_depth;
#ifdef CL_PY312
    int c_recursion_depth;
    cl_frame_fixups fixups;
#endif
    _PyStackChunk *datastack_chunk;
    PyObject **datastack_top;
    PyObject **datastack_limit;
    cl_chunk *root_chunk; /* ours, from the pool; NULL if CPython's */
#ifdef CL_PY313
    PyObject *delete_later;
#else
    int trash_delete_nesting;
#endif
#endif
    _PyErr_StackItem *exc_info; /* NULL means &tstate->exc_state */
    _PyErr_StackItem exc_state;
    PyObject *context; /* strong */
} cl_pystate;

/* ---- tracing flag continuity (3.10, 3.11) ---------------------------- */

/* On 3.10 and 3.11 each C frame of the eval loop caches "is tracing on".
 * A greenlet that resumes must see the thread's current tracing setting,
 * not the one it had when it left. */
static inline void
cl_pystate_refresh_tracing(PyThreadState *ts)
{
#if PY_VERSION_HEX < 0x030B0000
    ts->cframe->use_tracing =
        ts->tracing == 0 && (ts->c_tracefunc != NULL || ts->c_profilefunc != NULL);
#elif !defined(CL_PY312)
    ts->cframe->use_tracing =
        (ts->tracing == 0 && (ts->c_tracefunc != NULL || ts->c_profilefunc != NULL)) ? 255 : 0;
#else
    (void)ts;
#endif
}

/* The innermost frame of the running greenlet. */
#if PY_VERSION_HEX >= 0x030D0000
#define CL_TS_TOP(ts) ((ts)->current_frame)
#elif PY_VERSION_HEX >= 0x030B0000
#define CL_TS_TOP(ts) ((ts)->cframe->current_frame)
#endif

/* ---- 3.12+: keep suspended frame chains off the C stack -------------- */

#ifdef CL_PY312
/* Defined in core/greenlet.c. */
__attribute__((visibility("hidden"))) extern uint64_t cl__checkpoint_serial;
__attribute__((visibility("hidden"))) void cl__frame_dealloc_hook_install(void);

/* A frame object's words that CPython uses only once the object owns its
 * frame's data (after the frame finished): free to mark while it runs.
 * The dealloc hook clears the mark, so a freed object's memory reused by
 * another frame object never carries it. */
#define CL_MARK(fo) ((uintptr_t *)(void *)(fo)->_f_frame_data)
#define CL_MARK_TAG(fx) ((uintptr_t)0x636c6b70UL ^ (uintptr_t)(fx))
/* Walk distances from the top at which running frames become checkpoints:
 * CHECK_FIRST, then doubling; only after a walk of CHECK_WALK frames or
 * more (shallow greenlets, the common case, never pay for frame objects). */
#define CL_CHECK_FIRST 4
#define CL_CHECK_WALK 32
#define CL_CHECK_MAX 40

static inline int
cl_frame_on_cstack(_PyInterpreterFrame *f)
{
    return f->owner == FRAME_OWNED_BY_CSTACK;
}

static inline cl_fixup *
cl_fixups_slots(cl_frame_fixups *fx)
{
    return fx->capacity > CL_FIXUPS_INLINE ? fx->heap : fx->inline_;
}

static inline int
cl_fixups_reserve(cl_frame_fixups *fx, int want)
{
    cl_fixup *slots = cl_fixups_slots(fx);
    int cap = fx->capacity > CL_FIXUPS_INLINE ? fx->capacity : CL_FIXUPS_INLINE;
    if (want > cap) {
        int ncap = cap;
        cl_fixup *grown;
        while (ncap < want) {
            ncap *= 2;
        }
        grown = malloc(sizeof(cl_fixup) * (size_t)ncap);
        if (grown == NULL) {
            return -1;
        }
        memcpy(grown, slots, sizeof(cl_fixup) * (size_t)fx->count);
        free(fx->heap);
        fx->heap = grown;
        fx->capacity = ncap;
    }
    return 0;
}

/* The checkpoint `f` is, if it is one of ours and still running. */
static inline int
cl_checkpoint_find(cl_frame_fixups *fx, _PyInterpreterFrame *f)
{
    PyFrameObject *fo = f->frame_obj;
    if (fo == NULL || f->owner != FRAME_OWNED_BY_THREAD) {
        return -1;
    }
    for (int i = fx->ncheck - 1; i >= 0; i--) {
        cl_checkpoint *c = &fx->checks[i];
        if (c->frame == f && c->obj == fo && fo->f_frame == f &&
            CL_MARK(fo)[0] == CL_MARK_TAG(fx) && CL_MARK(fo)[1] == c->serial) {
            return i;
        }
    }
    return -1;
}

/* Make `f` (running, complete, owned by the thread) a checkpoint recording
 * `nbelow`.  Best effort: on any failure it is simply not one. */
static inline void
cl_checkpoint_add(cl_frame_fixups *fx, PyThreadState *ts, _PyInterpreterFrame *f, int nbelow)
{
    PyFrameObject *fo;
    if (f->owner != FRAME_OWNED_BY_THREAD) {
        return;
    }
    if (fx->ncheck == fx->checkcap) {
        int ncap = fx->checkcap ? fx->checkcap * 2 : 4;
        cl_checkpoint *grown = realloc(fx->checks, sizeof(cl_checkpoint) * (size_t)ncap);
        if (grown == NULL) {
            return;
        }
        fx->checks = grown;
        fx->checkcap = ncap;
    }
    fo = f->frame_obj;
    if (fo == NULL) {
        /* CPython's own lookup creates it (an allocation: since 3.12 the
         * collector only gets scheduled, no code runs).  The frame keeps
         * the reference; ours is dropped at once. */
        _PyInterpreterFrame *saved = CL_TS_TOP(ts);
        PyObject *travelling = PyErr_GetRaisedException();
        CL_TS_TOP(ts) = f;
        fo = PyThreadState_GetFrame(ts);
        CL_TS_TOP(ts) = saved;
        PyErr_Clear();
        PyErr_SetRaisedException(travelling);
        if (fo == NULL) {
            return;
        }
        Py_DECREF(fo);
        if (f->frame_obj != fo) {
            return; /* not the frame itself (it was incomplete) */
        }
    }
    cl_checkpoint *c = &fx->checks[fx->ncheck++];
    c->frame = f;
    c->obj = fo;
    c->serial = ++cl__checkpoint_serial;
    c->nbelow = nbelow;
    CL_MARK(fo)[0] = CL_MARK_TAG(fx);
    CL_MARK(fo)[1] = c->serial;
}

/* Relink every Python frame of the leaving greenlet past the entry frames
 * that live on its C stack.  Runs while that stack is still in place.
 *
 * Only the frames pushed since the last switch are walked: the walk stops
 * at the first checkpoint still running, below which nothing has changed
 * (a running frame's callers are all still running, with the links they
 * had), so the fixups recorded below it are re-applied as they are.  After
 * a long walk, new checkpoints are made at doubling distances from the top,
 * so a switch costs about the frames pushed and popped since the last one
 * (plus a few), whatever the depth.  Fails only when out of memory; then nothing is relinked. */
static inline int
cl_frames_detach(cl_frame_fixups *fx, PyThreadState *ts, _PyInterpreterFrame *f)
{
    cl_fixup local[16], *fresh = local; /* new fixups, innermost first */
    int nfresh = 0, capfresh = 16;
    struct {
        _PyInterpreterFrame *frame;
        int above;
    } cand[CL_CHECK_MAX];
    int ncand = 0, keep = 0, found = -1;
    long dist = 0, next_check = CL_CHECK_FIRST;

    while (f != NULL) {
        _PyInterpreterFrame *prev;
        if (fx->ncheck > 0 && (found = cl_checkpoint_find(fx, f)) >= 0) {
            keep = fx->checks[found].nbelow;
            break;
        }
        if (dist == next_check && ncand < CL_CHECK_MAX) {
            cand[ncand].frame = f;
            cand[ncand].above = nfresh;
            ncand++;
            next_check *= 2;
        }
        dist++;
        prev = f->previous;
        if (prev != NULL && cl_frame_on_cstack(prev)) {
            _PyInterpreterFrame *real = prev->previous;
            while (real != NULL && cl_frame_on_cstack(real)) {
                real = real->previous;
            }
            if (nfresh == capfresh) {
                cl_fixup *grown = malloc(sizeof(cl_fixup) * (size_t)capfresh * 2);
                if (grown == NULL) {
                    goto nomem;
                }
                memcpy(grown, fresh, sizeof(cl_fixup) * (size_t)nfresh);
                if (fresh != local) {
                    free(fresh);
                }
                fresh = grown;
                capfresh *= 2;
            }
            fresh[nfresh].frame = f;
            fresh[nfresh].previous = prev;
            fresh[nfresh].relinked = real;
            nfresh++;
            f->previous = real;
            f = real;
        }
        else {
            f = prev;
        }
    }
    if (found < 0) {
        fx->ncheck = 0; /* none of them is running any more */
    }
    else {
        fx->ncheck = found + 1;
    }
    fx->count = keep;
    if (cl_fixups_reserve(fx, keep + nfresh) < 0) {
        goto nomem;
    }
    {
        cl_fixup *slots = cl_fixups_slots(fx);
        for (int i = 0; i < keep; i++) {
            slots[i].frame->previous = slots[i].relinked;
        }
        for (int i = nfresh - 1; i >= 0; i--) {
            slots[fx->count++] = fresh[i];
        }
    }
    /* Outermost candidates first, to keep the checkpoints in chain order. */
    for (int i = dist >= CL_CHECK_WALK ? ncand - 1 : -1; i >= 0; i--) {
        cl_checkpoint_add(fx, ts, cand[i].frame, keep + nfresh - cand[i].above);
    }
    if (fresh != local) {
        free(fresh);
    }
    return 0;
nomem:
    while (nfresh > 0) {
        nfresh--;
        fresh[nfresh].frame->previous = fresh[nfresh].previous;
    }
    if (fresh != local) {
        free(fresh);
    }
    fx->count = 0;
    fx->ncheck = 0;
    return -1;
}

/* Undo cl_frames_detach once the greenlet's C stack is back in place.  The
 * fixups stay recorded for the next detach. */
static inline void
cl_frames_attach(cl_frame_fixups *fx)
{
    cl_fixup *slots = cl_fixups_slots(fx);
    for (int i = 0; i < fx->count; i++) {
        slots[i].frame->previous = slots[i].previous;
    }
}

static inline void
cl_fixups_free(cl_frame_fixups *fx)
{
    if (fx->capacity > CL_FIXUPS_INLINE) {
        free(fx->heap);
    }
    fx->heap = NULL;
    fx->capacity = 0;
    fx->count = 0;
    free(fx->checks);
    fx->checks = NULL;
    fx->ncheck = fx->checkcap = 0;
}
#endif

/* ---- save / restore ---------------------------------------------------- */

/* Move the running greenlet's state out of the thread state.  Returns -1
 * (with nothing moved) only on 3.12+ when out of memory. */
static inline int
cl_pystate_save(cl_pystate *st, PyThreadState *ts)
{
#if PY_VERSION_HEX < 0x030B0000
    st->frame = ts->frame;
    st->cframe = ts->cframe;
    st->recursion_depth = ts->recursion_depth;
    st->trash_delete_nesting = ts->trash_delete_nesting;
#else
#ifdef CL_PY312
    if (cl_frames_detach(&st->fixups, ts, CL_TS_TOP(ts)) < 0) {
        return -1;
    }
#endif
#ifndef CL_PY313
    st->cframe = ts->cframe;
#endif
    st->top = CL_TS_TOP(ts);
#ifdef CL_PY312
    st->py_recursion_depth = ts->py_recursion_limit - ts->py_recursion_remaining;
#ifdef CL_PY313
    st->c_recursion_depth = Py_C_RECURSION_LIMIT - ts->c_recursion_remaining;
#else
    st->c_recursion_depth = C_RECURSION_LIMIT - ts->c_recursion_remaining;
#endif
#else
    st->py_recursion_depth = ts->recursion_limit - ts->recursion_remaining;
#endif
    st->datastack_chunk = ts->datastack_chunk;
    st->datastack_top = ts->datastack_top;
    st->datastack_limit = ts->datastack_limit;
#ifdef CL_PY313
    st->delete_later = ts->delete_later;
#elif defined(CL_PY312)
    st->trash_delete_nesting = ts->trash.delete_nesting;
#else
    st->trash_delete_nesting = ts->trash_delete_nesting;
#endif
#endif
    st->exc_info = ts->exc_info == &ts->exc_state ? NULL : ts->exc_info;
    st->exc_state = ts->exc_state;
    st->context = ts->context;
    ts->context = NULL;
    return 0;
}

/* Move a greenlet's state into the thread state.  Its C stack is already
 * back in place. */
static inline void
cl_pystate_restore(cl_pystate *st, PyThreadState *ts)
{
#if PY_VERSION_HEX < 0x030B0000
    ts->frame = st->frame;
    ts->cframe = st->cframe;
    ts->recursion_depth = st->recursion_depth;
    ts->trash_delete_nesting = st->trash_delete_nesting;
    cl_pystate_refresh_tracing(ts);
#else
#ifndef CL_PY313
    ts->cframe = st->cframe;
#endif
#ifdef CL_PY313
    ts->current_frame = st->top;
#else
    ts->cframe->current_frame = st->top;
#endif
#ifdef CL_PY312
    cl_frames_attach(&st->fixups);
    ts->py_recursion_remaining = ts->py_recursion_limit - st->py_recursion_depth;
#ifdef CL_PY313
    ts->c_recursion_remaining = Py_C_RECURSION_LIMIT - st->c_recursion_depth;
#else
    ts->c_recursion_remaining = C_RECURSION_LIMIT - st->c_recursion_depth;
#endif
#else
    ts->recursion_remaining = ts->recursion_limit - st->py_recursion_depth;
    cl_pystate_refresh_tracing(ts);
#endif
    ts->datastack_chunk = st->datastack_chunk;
    ts->datastack_top = st->datastack_top;
    ts->datastack_limit = st->datastack_limit;
#ifdef CL_PY313
    ts->delete_later = st->delete_later;
    st->delete_later = NULL;
#elif defined(CL_PY312)
    ts->trash.delete_nesting = st->trash_delete_nesting;
#else
    ts->trash_delete_nesting = st->trash_delete_nesting;
#endif
#endif
    ts->exc_info = st->exc_info != NULL ? st->exc_info : &ts->exc_state;
    ts->exc_state = st->exc_state;
    memset(&st->exc_state, 0, sizeof st->exc_state);
    ts->context = st->context;
    ts->context_ver++;
    st->context = NULL;
}

/* State for a greenlet about to run for the first time: no frames, no
 * handled exception, the recursion depth of the thread right now, its own
 * C-frame link (which lives in the starting function's stack frame, i.e.
 * on the new greenlet's own stack), and on 3.11+ a data stack of its own.
 * st->context is kept: gr_context may have been set before the start. */
static inline void
cl_pystate_init_new(cl_pystate *st, PyThreadState *ts, cl_cframe *cframe, cl_chunk *chunk)
{
#if PY_VERSION_HEX < 0x030B0000
    (void)chunk;
    cframe->use_tracing = ts->cframe->use_tracing;
    cframe->previous = &ts->root_cframe;
    st->frame = NULL;
    st->cframe = cframe;
    st->recursion_depth = ts->recursion_depth;
    st->trash_delete_nesting = 0;
#else
#ifndef CL_PY313
#ifndef CL_PY312
    cframe->use_tracing = ts->cframe->use_tracing;
#endif
    cframe->current_frame = NULL;
    cframe->previous = &ts->root_cframe;
    st->cframe = cframe;
#else
    (void)cframe;
#endif
    st->top = NULL;
#ifdef CL_PY312
    st->py_recursion_depth = ts->py_recursion_limit - ts->py_recursion_remaining;
#ifdef CL_PY313
    st->c_recursion_depth = Py_C_RECURSION_LIMIT - ts->c_recursion_remaining;
#else
    st->c_recursion_depth = C_RECURSION_LIMIT - ts->c_recursion_remaining;
#endif
    st->fixups.count = 0;
#else
    st->py_recursion_depth = ts->recursion_limit - ts->recursion_remaining;
#endif
    /* A root chunk: CPython never pops the first slot of a chunk without a
     * predecessor, so frames start at data[1], as in CPython's own. */
    chunk->previous = NULL;
    chunk->top = 0;
    st->root_chunk = chunk;
    st->datastack_chunk = chunk;
    st->datastack_top = &chunk->data[1];
    st->datastack_limit = (PyObject **)((char *)chunk + chunk->size);
#ifdef CL_PY313
    st->delete_later = NULL;
#else
    st->trash_delete_nesting = 0;
#endif
#endif
    st->exc_info = NULL;
    memset(&st->exc_state, 0, sizeof st->exc_state);
}

/* After a greenlet finished: the data stack chunks it still holds.  When it
 * ran to completion only its root chunk remains, ours to recycle.  Chunks
 * CPython added for deep calls came from its arena allocator and go back
 * there.  Returns the root chunk (NULL before 3.11 or if none). */
#ifdef CL_PY311
/* Chunks CPython added on top of ours go back to its arena allocator.  Out
 * of line: the allocator struct would widen the callers' frames. */
static __attribute__((noinline, unused)) void
cl_free_spilled(_PyStackChunk *c, const cl_chunk *root)
{
    PyObjectArenaAllocator arena;
    PyObject_GetArenaAllocator(&arena);
    while (c != NULL && c != root) {
        _PyStackChunk *prev = c->previous;
        arena.free(arena.ctx, c, c->size);
        c = prev;
    }
}
#endif

static inline cl_chunk *
cl_pystate_take_chunks(cl_pystate *st)
{
#ifdef CL_PY311
    cl_chunk *root = st->root_chunk;
    if (st->datastack_chunk != root) {
        cl_free_spilled(st->datastack_chunk, root);
    }
    st->datastack_chunk = NULL;
    st->datastack_top = NULL;
    st->datastack_limit = NULL;
    st->root_chunk = NULL;
    return root;
#else
    (void)st;
    return NULL;
#endif
}

/* If the greenlet's frames outgrew the root chunk we gave it (CPython then
 * added one of its own), the bytes one chunk would need for its frames
 * now; else 0. */
static inline size_t
cl_pystate_overflowed(const cl_pystate *st)
{
#ifdef CL_PY311
    if (st->root_chunk != NULL && st->datastack_chunk != st->root_chunk) {
        const _PyStackChunk *c = st->datastack_chunk;
        size_t used = (size_t)((char *)st->datastack_top - (char *)c);
        for (c = c->previous; c != NULL; c = c->previous) {
            used += c->top * sizeof(PyObject *);
        }
        return used;
    }
    return 0;
#else
    (void)st;
    return 0;
#endif
}

/* A new reference to the innermost complete frame of a suspended greenlet,
 * or NULL without an exception if it has none. */
static inline PyObject *
cl_pystate_frame(cl_pystate *st, PyThreadState *ts)
{
#if PY_VERSION_HEX < 0x030B0000
    (void)ts;
    Py_XINCREF(st->frame);
    return (PyObject *)st->frame;
#else
    /* CPython's own lookup, pointed at the suspended frame for a moment.
     * It may allocate the frame object, so the collector is kept from
     * running code in between. */
    PyFrameObject *frame;
    _PyInterpreterFrame *saved = CL_TS_TOP(ts);
    int gc_was_enabled;
    if (st->top == NULL) {
        return NULL;
    }
    gc_was_enabled = PyGC_Disable();
    CL_TS_TOP(ts) = st->top;
    frame = PyThreadState_GetFrame(ts);
    CL_TS_TOP(ts) = saved;
    if (gc_was_enabled) {
        PyGC_Enable();
    }
    return (PyObject *)frame;
#endif
}

/* A suspended greenlet that can never run again (its thread exited): drop
 * what its frames hold without running any of its code -- what CPython's
 * frame clearing does, done from outside.  Stops at a frame that something
 * else still uses (a frame object with other references, a generator's
 * frame): that one and those below it are leaked.  Returns 1 if every frame
 * was released, so the data stack holding them can be freed. */
static inline int
cl_pystate_release_frames(cl_pystate *st)
{
#if PY_VERSION_HEX < 0x030B0000
    PyFrameObject *f = st->frame;
    st->frame = NULL;
    while (f != NULL) {
        PyFrameObject *back = f->f_back;
        if (f->f_gen != NULL) {
            return 0;
        }
        Py_DECREF(f); /* the reference its evaluation held */
        f = back;
    }
    return 1;
#else
    _PyInterpreterFrame *f = st->top;
    st->top = NULL;
    while (f != NULL) {
        _PyInterpreterFrame *back = f->previous;
#ifdef CL_PY313
        PyCodeObject *code = (PyCodeObject *)f->f_executable;
#else
        PyCodeObject *code = f->f_code;
#endif
        int n, i;
        if (f->owner != FRAME_OWNED_BY_THREAD) {
            return 0;
        }
        if (f->frame_obj != NULL) {
            PyFrameObject *fo = f->frame_obj;
            if (Py_REFCNT(fo) > 1) {
                return 0;
            }
            f->frame_obj = NULL;
            Py_DECREF(fo);
        }
        /* The innermost frame was running (stacktop is -1): only its
         * locals are known, not its value stack. */
        n = f->stacktop >= 0 ? f->stacktop : code->co_nlocalsplus;
        for (i = 0; i < n; i++) {
            Py_CLEAR(f->localsplus[i]);
        }
        f->stacktop = 0;
        Py_CLEAR(f->f_locals);
#ifdef CL_PY312
        Py_CLEAR(f->f_funcobj);
#ifdef CL_PY313
        Py_CLEAR(f->f_executable);
#else
        Py_CLEAR(f->f_code);
#endif
#else
        Py_CLEAR(f->f_func);
        Py_CLEAR(f->f_code);
#endif
        f = back;
    }
    return 1;
#endif
}

/* Drop the references a saved state holds (greenlet dead or freed). */
static inline void
cl_pystate_clear_refs(cl_pystate *st)
{
#if PY_VERSION_HEX < 0x030B0000
    Py_CLEAR(st->exc_state.exc_type);
    Py_CLEAR(st->exc_state.exc_value);
    Py_CLEAR(st->exc_state.exc_traceback);
#else
    Py_CLEAR(st->exc_state.exc_value);
#endif
    Py_CLEAR(st->context);
}

static inline int
cl_pystate_traverse(cl_pystate *st, visitproc visit, void *arg)
{
#if PY_VERSION_HEX < 0x030B0000
    Py_VISIT(st->exc_state.exc_type);
    Py_VISIT(st->exc_state.exc_value);
    Py_VISIT(st->exc_state.exc_traceback);
#else
    Py_VISIT(st->exc_state.exc_value);
#endif
    Py_VISIT(st->context);
    return 0;
}

/* ---- small API differences ------------------------------------------- */

#ifdef CL_PY313
#define cl_is_finalizing() Py_IsFinalizing()
#else
#define cl_is_finalizing() _Py_IsFinalizing()
#endif

/* Take the exception being raised as one object (NULL if none).  Not
 * inlined: before 3.12 its three out-parameters would widen the frame of
 * every caller, start_new's among them, which stays on each greenlet's
 * stack for life (issue 19). */
static __attribute__((noinline, unused)) PyObject *
cl_err_take(void)
{
#ifdef CL_PY312
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* Make `exc` (stolen, may be NULL) the exception being raised. */
static inline void
cl_err_give(PyObject *exc)
{
#ifdef CL_PY312
    PyErr_SetRaisedException(exc);
#else
    if (exc == NULL) {
        return;
    }
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

static inline void
cl_enter_tracing(PyThreadState *ts)
{
#if PY_VERSION_HEX < 0x030B0000
    ts->tracing++;
    ts->cframe->use_tracing = 0;
#else
    PyThreadState_EnterTracing(ts);
#endif
}

static inline void
cl_leave_tracing(PyThreadState *ts)
{
#if PY_VERSION_HEX < 0x030B0000
    ts->tracing--;
    cl_pystate_refresh_tracing(ts);
#else
    PyThreadState_LeaveTracing(ts);
#endif
}

#endif
