/*
 * Allocator library and shim lookup shared by `leakaudit run` and
 * `leakaudit soak`, and naming the allocator a library path belongs to
 * (the shim's and the tracer's snapshot headers; see allocators.h). Library directories are
 * searched starting with the one libc itself was loaded from, so a multiarch system picks the
 * library built for the same architecture.
 */
#include "allocators.h"
#include "audit_options.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct alloc_info allocators[] = {
    {"glibc", {NULL}, NULL},
    {"jemalloc", {"libjemalloc.so.2", NULL}, "libjemalloc2"},
    {"tcmalloc", {"libtcmalloc_minimal.so.4", "libtcmalloc.so.4", NULL}, "libtcmalloc-minimal4"},
    {"mimalloc", {"libmimalloc.so.2", "libmimalloc.so", NULL}, "libmimalloc2.0"},
};

const struct alloc_info *alloc_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(allocators) / sizeof(allocators[0]); i++)
        if (!strcmp(allocators[i].name, name))
            return &allocators[i];
    return NULL;
}

const char *alloc_name_from_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof(allocators) / sizeof(allocators[0]); i++)
        if (allocators[i].files[0] && strstr(base, allocators[i].name))
            return allocators[i].name;
    if (!strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5))
        return "glibc";
    return NULL;
}

const char *alloc_known_names(void)
{
    return "glibc, jemalloc, tcmalloc or mimalloc";
}

static int find_in_dirs(const char *file, char *out, size_t cap)
{
    const char *override = getenv(audit_env(AUDIT_ALLOCATOR_DIR));
    if (override && *override) {
        snprintf(out, cap, "%s/%s", override, file);
        return access(out, R_OK) == 0 ? 0 : -ENOENT;
    }
    char libc_dir[PATH_MAX / 2] = "";
    Dl_info info;
    if (dladdr((void *)printf, &info) && info.dli_fname) {
        util_strlcpy(libc_dir, info.dli_fname, sizeof(libc_dir));
        char *slash = strrchr(libc_dir, '/');
        if (slash)
            *slash = '\0';
    }
    const char *dirs[] = {libc_dir,
                          "/usr/lib/x86_64-linux-gnu",
                          "/usr/lib/aarch64-linux-gnu",
                          "/lib/x86_64-linux-gnu",
                          "/usr/lib",
                          "/usr/local/lib",
                          NULL};
    for (int i = 0; dirs[i]; i++) {
        if (!dirs[i][0])
            continue;
        snprintf(out, cap, "%s/%s", dirs[i], file);
        if (access(out, R_OK) == 0)
            return 0;
    }
    return -ENOENT;
}

int alloc_find_library(const struct alloc_info *a, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    if (!a->files[0])
        return 0;
    for (int i = 0; i < ALLOC_MAX_FILES && a->files[i]; i++)
        if (find_in_dirs(a->files[i], out, cap) == 0)
            return 0;
    if (cap)
        out[0] = '\0';
    return -ENOENT;
}

int alloc_find_shim(char *out, size_t cap)
{
    const char *env = getenv(audit_env(AUDIT_SHIM));
    if (env && *env) {
        util_strlcpy(out, env, cap);
        return access(out, R_OK) == 0 ? 0 : -errno;
    }
    char exe[PATH_MAX - 32];
    ssize_t n = util_read_exe(0, exe, sizeof(exe));
    if (n < 0)
        return (int)n;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    /* the build tree (build/bin, build/lib), then an installed tree
     * (PREFIX/bin, PREFIX/lib/leakaudit: `make install`) */
    snprintf(out, cap, "%s/../lib/libleakaudit.so", exe);
    if (access(out, R_OK) != 0) {
        snprintf(out, cap, "%s/../lib/leakaudit/libleakaudit.so", exe);
        if (access(out, R_OK) != 0)
            return -ENOENT;
    }
    char real[PATH_MAX];
    if (realpath(out, real))
        util_strlcpy(out, real, cap);
    return 0;
}

int alloc_compose_preload(char *out, size_t cap, const char *shim, const char *allocator_lib,
                          const char *old)
{
    const char *parts[] = {shim, allocator_lib, old};
    size_t len = 0;
    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (!parts[i] || !*parts[i])
            continue;
        if (len && len + 1 < cap)
            out[len++] = ' ';
        size_t n = util_strlcpy(out + len, parts[i], len < cap ? cap - len : 0);
        if (len + n >= cap)
            return -ENAMETOOLONG;
        len += n;
    }
    return 0;
}
