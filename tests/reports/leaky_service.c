/*
 * A tiny "service" for the end-to-end test under the real shim: each round
 * it decodes frames (one error path forgets its buffer: a steady leak), fills
 * a bounded cache (grows for 4 rounds, then stays: a plateau) and allocates
 * scratch memory that it frees (churn), then asks the shim for a snapshot
 * with SIGUSR2. Lines checked by the test are marked.
 *
 *   leaky_service [ROUNDS] [clean]
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE    __attribute__((noinline))
#define CACHE_SLOTS 4
#define FRAME_BYTES 65536

static void *volatile sink;
static void *cache[CACHE_SLOTS];

NOINLINE static int decode_frame(int round, int leak)
{
    unsigned char *buf = malloc(FRAME_BYTES); /* SERVICE-LEAK-SITE */
    memset(buf, round & 0xff, FRAME_BYTES);
    if (leak)
        return -1; /* error path: returns without freeing buf */
    sink = buf;
    free(buf);
    return 0;
}

NOINLINE static void cache_put(int round)
{
    if (round < CACHE_SLOTS && !cache[round])
        cache[round] = calloc(1, 32768); /* SERVICE-CACHE-SITE */
}

NOINLINE static void scratch(int round)
{
    for (int i = 0; i < 50 + round % 7; i++) {
        void *p = malloc(100 + (size_t)i);
        sink = p;
        free(p);
    }
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 16;
    int clean = argc > 2 && !strcmp(argv[2], "clean");
    struct timespec pause = {0, 100 * 1000 * 1000}; /* lets the shim finish the snapshot */
    for (int r = 0; r < rounds; r++) {
        for (int f = 0; f < 10; f++)
            decode_frame(r, !clean && f == 9);
        cache_put(r);
        scratch(r);
        raise(SIGUSR2); /* the shim writes a snapshot */
        nanosleep(&pause, NULL);
    }
    return 0;
}
