/*
 * A plugin tests/unwind/unwind_cases dlopens after start-up (-O2
 * -fomit-frame-pointer): the unwinder must find a module it did not know
 * when the first allocation was made.
 */
#include <stdlib.h>

volatile int plugin_sink;

__attribute__((noinline)) void *plugin_alloc(size_t n)
{
    void *p = malloc(n);
    plugin_sink += p != NULL;
    return p;
}

__attribute__((noinline)) void *plugin_entry(size_t n)
{
    void *p = plugin_alloc(n);
    plugin_sink++;
    return p;
}
