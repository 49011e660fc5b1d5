/*
 * A library built with -O2 -fomit-frame-pointer (like every distro library):
 * an allocation two calls deep, and one made by its constructor, before the
 * shim's own constructor may have run. tests/unwind/ checks both stacks.
 */
#include <stdlib.h>

void *ctor_block;
volatile int deep_sink;

__attribute__((noinline)) void *deep_inner(size_t n)
{
    void *p = malloc(n);
    deep_sink += p != NULL; /* not a tail call: the frame stays */
    return p;
}

__attribute__((noinline)) void *deep_outer(size_t n)
{
    void *p = deep_inner(n + 1);
    deep_sink += p != NULL;
    return p;
}

__attribute__((noinline)) void *ctor_helper(size_t n)
{
    void *p = malloc(n);
    deep_sink += p != NULL;
    return p;
}

__attribute__((constructor)) static void deep_ctor(void)
{
    ctor_block = ctor_helper(2222);
    deep_sink++;
}
