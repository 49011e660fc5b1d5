/*
 * The malloc family, interposed. Each hook forwards to the real function
 * (whatever allocator is next in the lookup order: glibc, or jemalloc /
 * tcmalloc / mimalloc preloaded after the shim) and records the result with
 * the caller's stack. Return values, errno, alignment and failure behaviour
 * are the real allocator's: the hooks never allocate or fail on their own.
 *
 * Before the real functions are resolved (dlsym itself calls calloc), blocks
 * come from the static bootstrap arena; they are never handed to the real
 * free and are never tracked.
 */
#include "shim.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define FRAME __builtin_frame_address(0)
#define RET   __builtin_return_address(0)

static void *early_alloc(size_t size, size_t align, int zero)
{
    shim_init();
    if (!shim_real.malloc)
        return shim_bootstrap_alloc(size, align); /* zeroed static memory */
    return NULL;
}

#define GUARDED    (SHIM_UNLIKELY(shim_fast_mode == SHIM_FAST_GUARD))
#define PAGES_ONLY SHIM_UNLIKELY(shim_guard_pages_only)

/* Everything but malloc's fast paths, out of line: inlined, its register
 * pressure made every call save and restore five registers. frame and ret
 * are malloc's own (the stack is captured from there). page_due: a guard
 * page slot is due (guard pages alone). */
static __attribute__((noinline)) void *malloc_slow(size_t size, int page_due, void *frame,
                                                   void *ret)
{
    if (page_due) {
        void *g = shim_guard_page_try_alloc(size, 16, SHIM_KIND_MALLOC, 0, frame, ret);
        if (g)
            return g;
        if (shim_fast_mode == SNAP_MODE_SAMPLED && (shim_tls.countdown -= (int64_t)size) > 0)
            return shim_real.malloc(size);
    }
    if (SHIM_UNLIKELY(!shim_real.malloc)) {
        void *b = early_alloc(size, 16, 0);
        if (!shim_real.malloc)
            return b;
    }
    if (GUARDED)
        return shim_guard_alloc(size, 16, SHIM_KIND_MALLOC, 0, frame, ret);
    if (!shim_should_track(size))
        return shim_real.malloc(size);
    shim_tls.busy = 1;
    void *p = shim_real.malloc(size);
    if (p)
        shim_record_alloc(p, size, SHIM_KIND_MALLOC, frame, ret);
    shim_tls.busy = 0;
    return p;
}

SHIM_EXPORT void *malloc(size_t size)
{
    /* Sampled mode's fast path: one global load, one TLS update, a tail
     * call. The busy flag needs no check here: a call that does not sample
     * only forwards. */
    if (SHIM_LIKELY(shim_fast_sampled) && SHIM_LIKELY((shim_tls.countdown -= (int64_t)size) > 0))
        return shim_real.malloc(size);
    int page_due;
    if (shim_fast_mode == SHIM_FAST_PAGES) {
        if (SHIM_LIKELY(--shim_tls.page_countdown > 0))
            return shim_real.malloc(size);
        page_due = 1;
    } else if (SHIM_LIKELY(!(page_due = PAGES_ONLY && --shim_tls.page_countdown <= 0))) {
        /* sampled mode with guard pages: the countdown as above */
        int mode = shim_fast_mode;
        if (!shim_fast_sampled && mode == SNAP_MODE_SAMPLED &&
            SHIM_LIKELY((shim_tls.countdown -= (int64_t)size) > 0))
            return shim_real.malloc(size);
        if (mode == 0 && SHIM_LIKELY(shim_real.malloc != NULL)) /* heap not tracked */
            return shim_real.malloc(size);
    }
    void *p = malloc_slow(size, page_due, FRAME, RET);
    __asm__ volatile("" : "+r"(p)); /* no tail call: malloc's frame must outlive malloc_slow */
    return p;
}

/* Guard pages alone: a block from the pool, or one from the bootstrap arena
 * (never given to the real free). Called as free's tail call, so frame and
 * return address are those free would have had. */
static __attribute__((noinline)) void free_pages_slow(void *p)
{
    if (shim_guard_in_pool(p))
        shim_guard_page_release(p, FRAME, RET);
}

/* Everything but sampled mode's fast path, out of line and reached by a tail
 * call: FRAME and RET here are those free would have had. */
static __attribute__((noinline)) void free_slow(void *p)
{
    if (shim_fast_mode == SHIM_FAST_PAGES) {
        if (SHIM_UNLIKELY(shim_guard_in_pool(p) || shim_is_bootstrap(p)))
            free_pages_slow(p);
        else
            shim_real.free(p); /* free(NULL) included */
        return;
    }
    if (!p)
        return;
    if (PAGES_ONLY && shim_guard_in_pool(p)) {
        shim_guard_page_release(p, FRAME, RET);
        return;
    }
    if (GUARDED && !shim_is_bootstrap(p)) {
        shim_guard_free(p, SHIM_KIND_MALLOC, FRAME, RET);
        return;
    }
    if (SHIM_LIKELY(shim_fast_mode == SNAP_MODE_SAMPLED) &&
        SHIM_LIKELY(!shim_sample_filter_hit(p)) && SHIM_LIKELY(!shim_is_bootstrap(p))) {
        shim_real.free(p); /* certainly not a sampled block */
        return;
    }
    if (SHIM_UNLIKELY(shim_is_bootstrap(p)))
        return;
    /* fast mode 0: heap tracking off (LEAKAUDIT_TRACK without heap, e.g.
     * guard pages alone) or not initialised yet: nothing to look up. */
    if (!shim_fast_mode || SHIM_UNLIKELY(!shim_active) || shim_tls.busy ||
        !shim_heap_maybe_tracked(p)) {
        shim_real.free(p);
        return;
    }
    shim_tls.busy = 1;
    shim_heap_on_free(p);
    shim_real.free(p);
    shim_tls.busy = 0;
}

SHIM_EXPORT void free(void *p)
{
    /* Sampled mode's fast path, without a stack frame: one bit of the
     * coarse filter's cache line (which also says sampled mode is on), a
     * tail call (free(NULL) included: the real free takes it). Frees the
     * coarse filter cannot clear, and every other mode, go on. */
    if (SHIM_LIKELY(!shim_sample_coarse_hit(p)) && SHIM_LIKELY(!shim_is_bootstrap(p))) {
        shim_real.free(p);
        return;
    }
    free_slow(p);
}

/* calloc's slow path, out of line for the same reason as malloc_slow. */
static __attribute__((noinline)) void *calloc_slow(size_t n, size_t size, int page_due, void *frame,
                                                   void *ret)
{
    if (SHIM_UNLIKELY(!shim_real.calloc)) {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }

        void *b = early_alloc(total, 16, 1);
        if (!shim_real.calloc)
            return b;
    }
    size_t total;
    if (GUARDED || PAGES_ONLY) {
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM; /* as the real calloc does */
            return NULL;
        }
        if (GUARDED)
            return shim_guard_alloc(total, 16, SHIM_KIND_MALLOC, 1, frame, ret);
        if (page_due) {
            void *g = shim_guard_page_try_alloc(total, 16, SHIM_KIND_MALLOC, 1, frame, ret);
            if (g)
                return g;
        }
    }
    if (__builtin_mul_overflow(n, size, &total) || !shim_should_track(total))
        return shim_real.calloc(n, size); /* overflow: the real calloc fails with ENOMEM */
    shim_tls.busy = 1;
    void *p = shim_real.calloc(n, size);
    if (p)
        shim_record_alloc(p, total, SHIM_KIND_MALLOC, frame, ret);
    shim_tls.busy = 0;
    return p;
}

SHIM_EXPORT void *calloc(size_t n, size_t size)
{
    size_t bytes;
    int page_due = 0;
    if (shim_fast_mode == SHIM_FAST_PAGES) {
        if (SHIM_LIKELY(--shim_tls.page_countdown > 0))
            return shim_real.calloc(n, size); /* overflow included: it fails with ENOMEM */
        page_due = !__builtin_mul_overflow(n, size, &bytes);
    } else if (SHIM_LIKELY(!__builtin_mul_overflow(n, size, &bytes))) {
        page_due = PAGES_ONLY && --shim_tls.page_countdown <= 0;
        int mode = shim_fast_mode;
        if (SHIM_LIKELY(!page_due)) {
            if (SHIM_LIKELY(mode == SNAP_MODE_SAMPLED) &&
                SHIM_LIKELY((shim_tls.countdown -= (int64_t)bytes) > 0))
                return shim_real.calloc(n, size);
            if (mode == 0 && SHIM_LIKELY(shim_real.calloc != NULL)) /* heap not tracked */
                return shim_real.calloc(n, size);
        }
    }
    void *p = calloc_slow(n, size, page_due, FRAME, RET);
    __asm__ volatile("" : "+r"(p)); /* no tail call: calloc's frame must outlive calloc_slow */
    return p;
}

/* realloc and reallocarray share this: detach the old block's record before
 * the real call (so a concurrent malloc reusing the address cannot be
 * confused with it) and put it back if the real call fails. */
static inline __attribute__((always_inline)) void *
realloc_common(void *p, size_t size, size_t n, int is_array, void *frame_addr, void *ret)
{
    if (p && SHIM_UNLIKELY(shim_is_bootstrap(p))) {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        void *q = malloc(total);
        if (q) {
            size_t old = shim_bootstrap_size(p);
            memcpy(q, p, old < total ? old : total);
        }
        return q;
    }
    size_t total;
    int overflow = __builtin_mul_overflow(n, size, &total);
    if (GUARDED || (PAGES_ONLY && p && shim_guard_in_pool(p))) {
        if (overflow) {
            errno = ENOMEM;
            return NULL;
        }
        if (GUARDED)
            return shim_guard_realloc(p, total, frame_addr, ret);
        /* a guard-page block grows into an ordinary one */
        size_t old = shim_guard_usable_size(p);
        if (total == 0) {
            shim_guard_page_release(p, frame_addr, ret);
            return NULL;
        }
        void *q = shim_real.malloc(total);
        if (!q)
            return NULL;
        memcpy(q, p, old < total ? old : total);
        if (shim_should_track(total)) {
            shim_tls.busy = 1;
            shim_record_alloc(q, total, SHIM_KIND_MALLOC, frame_addr, ret);
            shim_tls.busy = 0;
        }
        shim_guard_page_release(p, frame_addr, ret);
        return q;
    }
    if (SHIM_UNLIKELY(!shim_active) || shim_tls.busy || !shim_cfg.track_heap) {
        if (is_array)
            return shim_real.reallocarray(p, n, size);
        return shim_real.realloc(p, size);
    }
    shim_tls.busy = 1;
    struct shim_node *old = p && shim_heap_maybe_tracked(p) ? shim_heap_detach(p) : NULL;
    void *q = is_array ? shim_real.reallocarray(p, n, size) : shim_real.realloc(p, size);
    if (!q && (total != 0 || overflow)) {
        if (old)
            shim_heap_restore(old); /* failed: p is untouched and still live */
        shim_tls.busy = 0;
        return NULL;
    }
    int saved = errno;
    if (old)
        shim_heap_commit_free(old);
    else if (p && shim_injected)
        shim_prior_free_missed(p); /* a block from before the attach, being enumerated */
    errno = saved;
    if (q) {
        int sample = shim_cfg.mode != SNAP_MODE_SAMPLED || shim_heap_should_sample(total);
        if (sample)
            shim_record_alloc(q, total, SHIM_KIND_MALLOC, frame_addr, ret);
    }
    shim_tls.busy = 0;
    return q;
}

/* realloc's slow path, out of line for the same reason as malloc_slow. */
static __attribute__((noinline)) void *realloc_slow(void *p, size_t size, void *frame, void *ret)
{
    if (SHIM_UNLIKELY(!shim_real.realloc)) {
        void *b = early_alloc(size, 16, 0);
        if (!shim_real.realloc) {
            if (b && p)
                memcpy(b, p, shim_bootstrap_size(p) < size ? shim_bootstrap_size(p) : size);
            return b;
        }
    }
    return realloc_common(p, size, 1, 0, frame, ret);
}

SHIM_EXPORT void *realloc(void *p, size_t size)
{
    int mode = shim_fast_mode;
    /* Guard pages alone, or heap tracking off (fd/mmap tracking only): only
     * a guard-page block needs more than the real realloc. */
    if ((mode == SHIM_FAST_PAGES || mode == 0) && SHIM_LIKELY(shim_real.realloc != NULL) &&
        SHIM_LIKELY(!(PAGES_ONLY && shim_guard_in_pool(p)) && !shim_is_bootstrap(p)))
        return shim_real.realloc(p, size); /* realloc(NULL) included */
    /* Sampled fast path: the old block is certainly not sampled and the new
     * one will not be either. */
    if (SHIM_LIKELY(mode == SNAP_MODE_SAMPLED) &&
        (!p || (!shim_sample_filter_hit(p) && !shim_is_bootstrap(p) &&
                !(PAGES_ONLY && shim_guard_in_pool(p)))) &&
        SHIM_LIKELY((shim_tls.countdown -= (int64_t)size) > 0))
        return shim_real.realloc(p, size);
    void *q = realloc_slow(p, size, FRAME, RET);
    __asm__ volatile("" : "+r"(q)); /* no tail call: realloc's frame must outlive realloc_slow */
    return q;
}

SHIM_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    shim_init();
    if (!shim_real.reallocarray) {
        errno = ENOSYS;
        return NULL;
    }
    return realloc_common(p, size, n, 1, FRAME, RET);
}

SHIM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    shim_init();
    if (SHIM_UNLIKELY(!shim_real.posix_memalign)) {
        /* only reachable from inside dlsym during bootstrap */
        void *b = shim_bootstrap_alloc(size, align);
        if (!b)
            return ENOMEM;
        *out = b;
        return 0;
    }
    if (GUARDED) {
        if (align < sizeof(void *) || (align & (align - 1)))
            return EINVAL;
        int saved = errno;
        void *g = shim_guard_alloc(size, align, SHIM_KIND_ALIGNED, 0, FRAME, RET);
        errno = saved;
        if (!g)
            return ENOMEM;
        *out = g;
        return 0;
    }
    if (!shim_should_track(size))
        return shim_real.posix_memalign(out, align, size);
    shim_tls.busy = 1;
    int rc = shim_real.posix_memalign(out, align, size);
    if (rc == 0 && *out)
        shim_record_alloc(*out, size, SHIM_KIND_ALIGNED, FRAME, RET);
    shim_tls.busy = 0;
    return rc;
}

#define ALIGNED_HOOK(name, params, args, size_expr, align_expr)                                    \
    SHIM_EXPORT void *name params                                                                  \
    {                                                                                              \
        shim_init();                                                                               \
        if (SHIM_UNLIKELY(!shim_real.name))                                                        \
            return NULL;                                                                           \
        if (GUARDED) {                                                                             \
            size_t a_ = (align_expr);                                                              \
            if (a_ == 0 || (a_ & (a_ - 1))) {                                                      \
                errno = EINVAL;                                                                    \
                return NULL;                                                                       \
            }                                                                                      \
            return shim_guard_alloc(size_expr, a_ < 16 ? 16 : a_, SHIM_KIND_ALIGNED, 0, FRAME,     \
                                    RET);                                                          \
        }                                                                                          \
        if (!shim_should_track(size_expr))                                                         \
            return shim_real.name args;                                                            \
        shim_tls.busy = 1;                                                                         \
        void *p = shim_real.name args;                                                             \
        if (p)                                                                                     \
            shim_record_alloc(p, size_expr, SHIM_KIND_ALIGNED, FRAME, RET);                        \
        shim_tls.busy = 0;                                                                         \
        return p;                                                                                  \
    }

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) & ~(pg - 1);
}

ALIGNED_HOOK(aligned_alloc, (size_t align, size_t size), (align, size), size, align)
ALIGNED_HOOK(memalign, (size_t align, size_t size), (align, size), size, align)
ALIGNED_HOOK(valloc, (size_t size), (size), size, (size_t)sysconf(_SC_PAGESIZE))
ALIGNED_HOOK(pvalloc, (size_t size), (size), page_round(size), (size_t)sysconf(_SC_PAGESIZE))

SHIM_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (shim_is_bootstrap(p))
        return shim_bootstrap_size(p);
    shim_init();
    if (GUARDED || (PAGES_ONLY && shim_guard_in_pool(p)))
        return shim_guard_usable_size(p);
    return shim_real.malloc_usable_size ? shim_real.malloc_usable_size(p) : 0;
}
