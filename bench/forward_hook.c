/*
 * Reference point for bench/shim.sh: an LD_PRELOAD library whose malloc
 * family only forwards to the next definition (dlsym RTLD_NEXT) -- the cost
 * of interposition itself, the floor under any shim. Not part of leakaudit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static char boot[65536]; /* dlsym's own calloc, before next_calloc is known */
static size_t boot_used;

__attribute__((constructor)) static void resolve(void)
{
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
}

void *malloc(size_t n)
{
    if (!next_malloc)
        resolve();
    return next_malloc(n);
}

void free(void *p)
{
    if ((char *)p >= boot && (char *)p < boot + sizeof(boot))
        return;
    if (!next_free)
        resolve();
    next_free(p);
}

void *calloc(size_t a, size_t b)
{
    if (!next_calloc) {
        void *p = boot + boot_used;
        boot_used += (a * b + 15) & ~(size_t)15;
        return p;
    }
    return next_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    if (!next_realloc)
        resolve();
    return next_realloc(p, n);
}
