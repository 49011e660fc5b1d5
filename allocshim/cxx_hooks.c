/*
 * C++ operator new/delete, interposed. jemalloc's and tcmalloc's operator
 * new never call malloc, so hooking malloc alone would miss every C++
 * allocation under those allocators. Each hook forwards to the next
 * definition of the same operator (libstdc++'s, or the preloaded
 * allocator's), which keeps its exact semantics, including throwing
 * std::bad_alloc. This file is built with -fexceptions so the cleanup that
 * clears the busy flag also runs when the real operator throws.
 */
#include "shim.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

typedef void *(*new_fn)(size_t);
typedef void *(*new_align_fn)(size_t, size_t);
typedef void *(*new_nothrow_fn)(size_t, const void *);
typedef void *(*new_align_nothrow_fn)(size_t, size_t, const void *);
typedef void (*del_fn)(void *);
typedef void (*del_size_fn)(void *, size_t);
typedef void (*del_align_fn)(void *, size_t);
typedef void (*del_size_align_fn)(void *, size_t, size_t);
typedef void (*del_nothrow_fn)(void *, const void *);
typedef void (*del_align_nothrow_fn)(void *, size_t, const void *);

static void *resolve(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (SHIM_LIKELY(f))
        return f;
    shim_init();
    SHIM_UNTRACKED(f = shim_dlsym_next(name));
    __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    return f;
}

static void clear_busy(int *unused)
{
    shim_tls.busy = 0;
}

#define BUSY_SCOPE int busy_scope_ __attribute__((cleanup(clear_busy))) = (shim_tls.busy = 1)

/* Used only when no next definition exists (no libstdc++ loaded): behave
 * like the nothrow variants, and abort where a throwing one would throw. */
static void *fallback_new(size_t size, size_t align, int nothrow)
{
    void *p = NULL;
    if (align)
        p = aligned_alloc(align, (size + align - 1) / align * align);
    else
        p = malloc(size ? size : 1);
    if (!p && !nothrow)
        abort();
    return p;
}

/* Guard mode: C++ blocks get redzones like malloc's; a failed allocation is
 * turned into std::bad_alloc by asking the real operator for SIZE_MAX. */
#define GUARD_NEW(size, align, kind, nothrow, thrower)                                             \
    if (SHIM_UNLIKELY(shim_fast_mode == SHIM_FAST_GUARD)) {                                        \
        void *g_ = shim_guard_alloc((size) ? (size) : 1, (align), kind, 0,                         \
                                    __builtin_frame_address(0), __builtin_return_address(0));      \
        if (!g_ && !(nothrow) && (thrower))                                                        \
            return thrower;                                                                        \
        return g_;                                                                                 \
    }

/* Guard pages alone: C++ blocks are sampled like malloc's (jemalloc's and
 * tcmalloc's new never reach our malloc). The hook counts the allocation
 * and may put it in a page slot; otherwise, while the real operator runs,
 * the countdown is parked so that its own malloc calls (libstdc++ over
 * glibc) do not count it again, and restored after -- also when it throws. */
#define PAGE_COUNT_PARKED INT32_MIN
static void restore_countdown(int32_t *saved)
{
    if (*saved != PAGE_COUNT_PARKED)
        shim_tls.page_countdown = *saved;
}

#define PAGE_NEW(size, align, kind)                                                                \
    int32_t page_saved_ __attribute__((cleanup(restore_countdown))) = PAGE_COUNT_PARKED;           \
    if (SHIM_UNLIKELY(shim_guard_pages_only) && !shim_tls.busy) {                                  \
        if (--shim_tls.page_countdown <= 0) {                                                      \
            void *g_ = shim_guard_page_try_alloc((size) ? (size) : 1, (align), kind, 0,            \
                                                 __builtin_frame_address(0),                       \
                                                 __builtin_return_address(0));                     \
            if (g_)                                                                                \
                return g_;                                                                         \
        }                                                                                          \
        page_saved_ = shim_tls.page_countdown;                                                     \
        shim_tls.page_countdown = INT32_MAX;                                                       \
    }

#define NEW_HOOK(sym, kind)                                                                        \
    SHIM_EXPORT void *sym(size_t size)                                                             \
    {                                                                                              \
        static void *next;                                                                         \
        new_fn f = (new_fn)resolve(&next, #sym);                                                   \
        if (!f)                                                                                    \
            return fallback_new(size, 0, 0);                                                       \
        GUARD_NEW(size, 16, kind, 0, f(SIZE_MAX))                                                  \
        PAGE_NEW(size, 16, kind)                                                                   \
        if (!shim_should_track(size))                                                              \
            return f(size);                                                                        \
        BUSY_SCOPE;                                                                                \
        void *p = f(size);                                                                         \
        shim_record_alloc(p, size, kind, __builtin_frame_address(0), __builtin_return_address(0)); \
        return p;                                                                                  \
    }

#define NEW_NOTHROW_HOOK(sym, kind)                                                                \
    SHIM_EXPORT void *sym(size_t size, const void *nt)                                             \
    {                                                                                              \
        static void *next;                                                                         \
        new_nothrow_fn f = (new_nothrow_fn)resolve(&next, #sym);                                   \
        if (!f)                                                                                    \
            return fallback_new(size, 0, 1);                                                       \
        GUARD_NEW(size, 16, kind, 1, NULL)                                                         \
        PAGE_NEW(size, 16, kind)                                                                   \
        if (!shim_should_track(size))                                                              \
            return f(size, nt);                                                                    \
        BUSY_SCOPE;                                                                                \
        void *p = f(size, nt);                                                                     \
        if (p)                                                                                     \
            shim_record_alloc(p, size, kind, __builtin_frame_address(0),                           \
                              __builtin_return_address(0));                                        \
        return p;                                                                                  \
    }

#define NEW_ALIGN_HOOK(sym, kind)                                                                  \
    SHIM_EXPORT void *sym(size_t size, size_t align)                                               \
    {                                                                                              \
        static void *next;                                                                         \
        new_align_fn f = (new_align_fn)resolve(&next, #sym);                                       \
        if (!f)                                                                                    \
            return fallback_new(size, align, 0);                                                   \
        GUARD_NEW(size, align < 16 ? 16 : align, kind, 0, f(SIZE_MAX, align))                      \
        PAGE_NEW(size, align < 16 ? 16 : align, kind)                                              \
        if (!shim_should_track(size))                                                              \
            return f(size, align);                                                                 \
        BUSY_SCOPE;                                                                                \
        void *p = f(size, align);                                                                  \
        shim_record_alloc(p, size, kind, __builtin_frame_address(0), __builtin_return_address(0)); \
        return p;                                                                                  \
    }

#define NEW_ALIGN_NOTHROW_HOOK(sym, kind)                                                          \
    SHIM_EXPORT void *sym(size_t size, size_t align, const void *nt)                               \
    {                                                                                              \
        static void *next;                                                                         \
        new_align_nothrow_fn f = (new_align_nothrow_fn)resolve(&next, #sym);                       \
        if (!f)                                                                                    \
            return fallback_new(size, align, 1);                                                   \
        GUARD_NEW(size, align < 16 ? 16 : align, kind, 1, NULL)                                    \
        PAGE_NEW(size, align < 16 ? 16 : align, kind)                                              \
        if (!shim_should_track(size))                                                              \
            return f(size, align, nt);                                                             \
        BUSY_SCOPE;                                                                                \
        void *p = f(size, align, nt);                                                              \
        if (p)                                                                                     \
            shim_record_alloc(p, size, kind, __builtin_frame_address(0),                           \
                              __builtin_return_address(0));                                        \
        return p;                                                                                  \
    }

/* operator new(size_t), new[](size_t) and their nothrow / aligned forms */
NEW_HOOK(_Znwm, SHIM_KIND_NEW)
NEW_HOOK(_Znam, SHIM_KIND_NEW_ARRAY)
NEW_NOTHROW_HOOK(_ZnwmRKSt9nothrow_t, SHIM_KIND_NEW)
NEW_NOTHROW_HOOK(_ZnamRKSt9nothrow_t, SHIM_KIND_NEW_ARRAY)
NEW_ALIGN_HOOK(_ZnwmSt11align_val_t, SHIM_KIND_NEW)
NEW_ALIGN_HOOK(_ZnamSt11align_val_t, SHIM_KIND_NEW_ARRAY)
NEW_ALIGN_NOTHROW_HOOK(_ZnwmSt11align_val_tRKSt9nothrow_t, SHIM_KIND_NEW)
NEW_ALIGN_NOTHROW_HOOK(_ZnamSt11align_val_tRKSt9nothrow_t, SHIM_KIND_NEW_ARRAY)

/* Untracks p (if tracked) before the real delete can hand the address out again. */
static inline int delete_prologue(void *p)
{
    if (!p || SHIM_UNLIKELY(!shim_active) || shim_tls.busy || !shim_heap_maybe_tracked(p))
        return 0;
    shim_tls.busy = 1;
    shim_heap_on_free(p);
    return 1;
}

#define DEL_HOOK(sym, type, params, args, kind)                                                    \
    SHIM_EXPORT void sym params                                                                    \
    {                                                                                              \
        static void *next;                                                                         \
        type f = (type)resolve(&next, #sym);                                                       \
        if (SHIM_UNLIKELY(shim_fast_mode == SHIM_FAST_GUARD) ||                                    \
            (SHIM_UNLIKELY(shim_guard_pages_only) && shim_guard_in_pool(p))) {                     \
            if (p)                                                                                 \
                shim_guard_free(p, shim_guard_pages_only ? -1 : kind, __builtin_frame_address(0),  \
                                __builtin_return_address(0));                                      \
            return;                                                                                \
        }                                                                                          \
        int was = delete_prologue(p);                                                              \
        if (f)                                                                                     \
            f args;                                                                                \
        else if (p)                                                                                \
            free(p);                                                                               \
        if (was)                                                                                   \
            shim_tls.busy = 0;                                                                     \
    }

DEL_HOOK(_ZdlPv, del_fn, (void *p), (p), SHIM_KIND_NEW)
DEL_HOOK(_ZdaPv, del_fn, (void *p), (p), SHIM_KIND_NEW_ARRAY)
DEL_HOOK(_ZdlPvm, del_size_fn, (void *p, size_t n), (p, n), SHIM_KIND_NEW)
DEL_HOOK(_ZdaPvm, del_size_fn, (void *p, size_t n), (p, n), SHIM_KIND_NEW_ARRAY)
DEL_HOOK(_ZdlPvRKSt9nothrow_t, del_nothrow_fn, (void *p, const void *nt), (p, nt), SHIM_KIND_NEW)
DEL_HOOK(_ZdaPvRKSt9nothrow_t, del_nothrow_fn, (void *p, const void *nt), (p, nt),
         SHIM_KIND_NEW_ARRAY)
DEL_HOOK(_ZdlPvSt11align_val_t, del_align_fn, (void *p, size_t a), (p, a), SHIM_KIND_NEW)
DEL_HOOK(_ZdaPvSt11align_val_t, del_align_fn, (void *p, size_t a), (p, a), SHIM_KIND_NEW_ARRAY)
DEL_HOOK(_ZdlPvmSt11align_val_t, del_size_align_fn, (void *p, size_t n, size_t a), (p, n, a),
         SHIM_KIND_NEW)
DEL_HOOK(_ZdaPvmSt11align_val_t, del_size_align_fn, (void *p, size_t n, size_t a), (p, n, a),
         SHIM_KIND_NEW_ARRAY)
DEL_HOOK(_ZdlPvSt11align_val_tRKSt9nothrow_t, del_align_nothrow_fn,
         (void *p, size_t a, const void *nt), (p, a, nt), SHIM_KIND_NEW)
DEL_HOOK(_ZdaPvSt11align_val_tRKSt9nothrow_t, del_align_nothrow_fn,
         (void *p, size_t a, const void *nt), (p, a, nt), SHIM_KIND_NEW_ARRAY)
