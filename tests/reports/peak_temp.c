/*
 * Heaptrack's per-stack figures, planted: burst() holds 64 blocks of 16 KiB
 * at once and frees them all (peak 1 MiB, nothing live at any snapshot);
 * scratch() allocates and frees at once 500 times (500 temporary
 * allocations); pair_first()/pair_second() allocate two blocks and free the
 * first one first (only the second block of each pair is temporary: the
 * thread allocated again before the first was freed); keep() leaks 10
 * blocks of 1000 bytes (argv[1]: another number). Prints "done" at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))
static void *volatile sink;

NOINLINE void burst(void)
{
    void *b[64];
    for (int i = 0; i < 64; i++) {
        b[i] = malloc(16384);
        memset(b[i], i, 16384);
    }
    for (int i = 0; i < 64; i++)
        free(b[i]);
}

NOINLINE void scratch(void)
{
    char *p = malloc(100);
    memset(p, 1, 100);
    sink = p;
    free(p);
}

NOINLINE void *pair_first(void)
{
    return malloc(48);
}

NOINLINE void *pair_second(void)
{
    return malloc(80);
}

NOINLINE void keep(void)
{
    sink = malloc(1000);
}

int main(int argc, char **argv)
{
    int keeps = argc > 1 ? atoi(argv[1]) : 10;
    burst();
    for (int i = 0; i < 500; i++)
        scratch();
    for (int i = 0; i < 200; i++) {
        void *a = pair_first(), *b = pair_second();
        sink = a;
        sink = b;
        free(a);
        free(b);
    }
    for (int i = 0; i < keeps; i++)
        keep();
    puts("done");
    return 0;
}
