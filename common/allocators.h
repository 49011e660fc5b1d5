/*
 * The allocators leakaudit can run a program under (glibc, jemalloc,
 * tcmalloc, mimalloc) and where their shared libraries and the shim itself
 * are found, so that `leakaudit run -a` and `leakaudit soak` preload exactly
 * the same files. LEAKAUDIT_ALLOCATOR_DIR, when set, is the only directory
 * searched for allocator libraries (packaged builds elsewhere, and tests of
 * the "not installed" error).
 */
#ifndef LEAKAUDIT_ALLOCATORS_H
#define LEAKAUDIT_ALLOCATORS_H

#include <stddef.h>

#define ALLOC_MAX_FILES 3

struct alloc_info {
    const char *name;                   /* "jemalloc" */
    const char *files[ALLOC_MAX_FILES]; /* sonames tried in order, NULL-terminated */
    const char *package;                /* Debian package that ships files[0] */
};

/* The allocator called name, or NULL when leakaudit does not know it. */
const struct alloc_info *alloc_lookup(const char *name);

/* The allocator a shared library's path belongs to ("jemalloc" for
 * /usr/lib/x86_64-linux-gnu/libjemalloc.so.2, "glibc" for libc.so.6), or NULL
 * for any other file. Allocation-free: the shim and the tracer both use it. */
const char *alloc_name_from_path(const char *path);

/* "glibc, jemalloc, tcmalloc or mimalloc", for error messages. */
const char *alloc_known_names(void);

/* Full path of a's library into out (empty for glibc, which needs no
 * preload). Returns 0, or -ENOENT when none of its files is installed. */
int alloc_find_library(const struct alloc_info *a, char *out, size_t cap);

/* The shim: $LEAKAUDIT_SHIM, else ../lib/libleakaudit.so next to the running
 * binary (resolved to an absolute path). Returns 0 or -errno. */
int alloc_find_shim(char *out, size_t cap);

/* The LD_PRELOAD value that runs a program under the shim: the shim, then
 * the allocator's library (NULL or "": glibc, nothing to add), then what was
 * preloaded already (old, NULL or "": nothing). 0, or -ENAMETOOLONG. */
int alloc_compose_preload(char *out, size_t cap, const char *shim, const char *allocator_lib,
                          const char *old);

/* The C++ allocation operators' mangled names (Itanium ABI, 64-bit size_t):
 * the functions a tracker hooks besides the malloc family (the tracer's
 * probes, the injected shim's GOT patching). */
#define ALLOC_CXX_NEW_NAMES                                                                        \
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",        \
        "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",                              \
        "_ZnamSt11align_val_tRKSt9nothrow_t"
#define ALLOC_CXX_DELETE_NAMES                                                                     \
    "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",    \
        "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t", "_ZdlPvRKSt9nothrow_t",                \
        "_ZdaPvRKSt9nothrow_t", "_ZdlPvSt11align_val_tRKSt9nothrow_t",                             \
        "_ZdaPvSt11align_val_tRKSt9nothrow_t"

#endif
