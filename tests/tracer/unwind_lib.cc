/*
 * The library half of target_unwind (not a test itself), built with -O2
 * -fomit-frame-pointer: an allocation two calls deep in a library without
 * frame pointers, and one made by a destructor that runs while an
 * exception unwinds the stack (its landing pad).
 */
#include <cstddef>
#include <cstdlib>

#define INNER_BYTES   4242
#define CLEANUP_BYTES 2424

static void *volatile sink;

extern "C" __attribute__((noinline)) void lib_inner(size_t n)
{
    sink = malloc(INNER_BYTES + n - n);
}

extern "C" __attribute__((noinline)) void lib_outer(size_t n)
{
    lib_inner(n);
    asm volatile(""); /* not a tail call: lib_outer stays on the stack */
}

struct Guard {
    __attribute__((noinline)) ~Guard()
    {
        sink = malloc(CLEANUP_BYTES);
    }
};

extern "C" __attribute__((noinline)) void lib_thrower(int v)
{
    Guard g;
    if (v >= 0)
        throw v;
}

extern "C" __attribute__((noinline)) void lib_exception_leak(void)
{
    try {
        lib_thrower(1);
    } catch (int) {
    }
}
