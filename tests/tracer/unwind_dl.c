/*
 * A library target_unwind dlopens after the attach (not a test itself),
 * built with -O2 -fomit-frame-pointer: dl_outer -> dl_inner -> malloc.
 */
#include <stdlib.h>

#define DL_BYTES 3131

static void *volatile sink;

__attribute__((noinline)) void dl_inner(size_t n)
{
    sink = malloc(DL_BYTES + n - n);
}

__attribute__((noinline)) void dl_outer(size_t n)
{
    dl_inner(n);
    __asm__ volatile(""); /* not a tail call */
}
