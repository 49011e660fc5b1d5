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

#endif
