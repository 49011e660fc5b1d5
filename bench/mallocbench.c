/*
 * The malloc-heavy microbenchmark used by bench/shim.sh and bench/guard.sh:
 * the mix from shared/PEER-BASELINES.md -- 85% malloc, 10% calloc, 5% realloc,
 * sizes 16 B to 4 KiB, 30% of blocks kept live in a ring, one thread -- with
 * every other block freed. Prints calls made and ns per call.
 *
 *   mallocbench [CALLS]      default 4,000,000 allocation calls (+ frees)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 4096

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static inline uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

__attribute__((noinline)) static void *op_malloc(size_t n)
{
    return malloc(n);
}
__attribute__((noinline)) static void *op_calloc(size_t n)
{
    return calloc(1, n);
}
__attribute__((noinline)) static void *op_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 4000000;
    void **ring = calloc(RING, sizeof(void *));
    long ops = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < calls; i++) {
        uint64_t r = next();
        size_t size = 16 + (size_t)(r % 4081);
        unsigned kind = (unsigned)((r >> 32) % 100);
        unsigned slot = (unsigned)((r >> 40) % RING);
        void *p;
        if (kind < 85) {
            p = op_malloc(size);
        } else if (kind < 95) {
            p = op_calloc(size);
        } else {
            p = op_realloc(ring[slot], size);
            ring[slot] = NULL;
        }
        ((volatile char *)p)[0] = 1;
        ops++;
        if ((r >> 50) % 10 < 3) { /* 30% kept live: replaces (frees) a ring slot */
            if (ring[slot]) {
                free(ring[slot]);
                ops++;
            }
            ring[slot] = p;
        } else {
            free(p);
            ops++;
        }
    }
    uint64_t t1 = now_ns();
    for (int i = 0; i < RING; i++)
        free(ring[i]);
    free(ring);
    printf("calls=%ld ns_per_call=%.2f\n", ops, (double)(t1 - t0) / (double)ops);
    return 0;
}
