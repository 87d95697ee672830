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

/* One chunk per thread without the lock: a greenlet whose calls keep
 * crossing the end of its root chunk takes and returns the same chunk on
 * every call (issue 19 made root chunks small, so this is common).  The
 * thread's chunk goes back to the allocator when the thread exits. */
static __thread void *own CL_TLS_MODEL;
static __thread int own_registered CL_TLS_MODEL;
static pthread_key_t own_key;
static pthread_once_t own_once = PTHREAD_ONCE_INIT;
static int own_key_ok;

static void
own_release(void *unused)
{
    (void)unused;
    if (own != NULL) {
        void *p = own;
        own = NULL;
        previous.free(previous.ctx, p, CACHED_SIZE);
    }
}

static void
own_key_create(void)
{
    own_key_ok = pthread_key_create(&own_key, own_release) == 0;
}

static void *
arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size == CACHED_SIZE) {
        void *p = own;
        if (p != NULL) {
            own = NULL;
            return p;
        }
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
        if (own == NULL) {
            if (!own_registered) {
                /* once per thread: have the thread's exit free it */
                pthread_once(&own_once, own_key_create);
                own_registered = own_key_ok && pthread_setspecific(own_key, &own) == 0 ? 1 : -1;
            }
            if (own_registered > 0) {
                own = ptr;
                return;
            }
        }
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
