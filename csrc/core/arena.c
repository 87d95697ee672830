/* A small cache in front of CPython's arena allocator, for data-stack
 * chunks (3.11+).
 *
 * A greenlet starts on a small root chunk of ours (thread.c).  When its
 * frames outgrow it, CPython adds a 16 KiB chunk from the "arena
 * allocator" -- an mmap -- and unmaps it again when those frames return.
 * A greenlet that keeps calling across that boundary would pay an mmap, a
 * page fault and a munmap per call.  This cache keeps a few such chunks
 * mapped and hands them out again, for every thread of the process.
 *
 * Only that one size is cached: obmalloc's own arenas (256 KiB or 1 MiB)
 * and everything else pass straight through to the allocator that was
 * installed before us.  A mutex guards the cache: with per-interpreter
 * GILs (3.12+) another interpreter may allocate concurrently.
 */
#include "../cl_internal.h"

#include <pthread.h>

#ifdef CL_PY311

#define CACHED_SIZE (16 * 1024) /* CPython's DATA_STACK_CHUNK_SIZE */
#define CACHE_SLOTS 32

static PyObjectArenaAllocator previous;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *cache[CACHE_SLOTS];
static int cached;
static int installed;

static void *
arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size == CACHED_SIZE) {
        void *p = NULL;
        pthread_mutex_lock(&lock);
        if (cached > 0) {
            p = cache[--cached];
        }
        pthread_mutex_unlock(&lock);
        if (p != NULL) {
            return p;
        }
    }
    return previous.alloc(previous.ctx, size);
}

static void
arena_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (size == CACHED_SIZE && ptr != NULL) {
        int kept = 0;
        pthread_mutex_lock(&lock);
        if (cached < CACHE_SLOTS) {
            cache[cached++] = ptr;
            kept = 1;
        }
        pthread_mutex_unlock(&lock);
        if (kept) {
            return;
        }
    }
    previous.free(previous.ctx, ptr, size);
}

void
cl__arena_cache_install(void)
{
    PyObjectArenaAllocator ours;
    if (installed) {
        return;
    }
    PyObject_GetArenaAllocator(&previous);
    ours.ctx = NULL;
    ours.alloc = arena_alloc;
    ours.free = arena_free;
    PyObject_SetArenaAllocator(&ours);
    installed = 1;
}

#else

void
cl__arena_cache_install(void)
{
}

#endif
