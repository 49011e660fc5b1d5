/*
 * Test program: a heap leak under a live heap that shrinks. Allocates 16 MB
 * in 256-byte blocks and frees all but every 16th (the allocator keeps the
 * pages: retention), then leak_site() leaks 512 KiB in 4 KiB blocks per
 * round, 8 rounds, 200 ms apart. A snapshot (SIGUSR2, then one allocation
 * for the shim to write it) after the fill, after the frees and after each
 * round. First to last snapshot the live heap shrinks and the allocator's
 * retention grows more than the leak -- the leak is still the answer.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define BLOCK  256
#define BLOCKS (16u * 1024 * 1024 / BLOCK)
#define KEEP   16 /* the gaps (15 x 272 bytes) are too small for a 4 KiB block */

static void snapshot_now(void)
{
    raise(SIGUSR2);
    void *volatile p = malloc(16);
    free(p);
}

static void **blocks;
void **g_leaked;
static size_t n_leaked;

__attribute__((noinline)) static void fill(void)
{
    for (size_t i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(BLOCK);
        memset(blocks[i], 0x5a, BLOCK);
    }
}

__attribute__((noinline)) static void free_most(void)
{
    for (size_t i = 0; i < BLOCKS; i++)
        if (i % KEEP != KEEP - 1)
            free(blocks[i]);
}

__attribute__((noinline)) void leak_site(void)
{
    for (int i = 0; i < 128; i++) {
        void *p = malloc(4096);
        memset(p, 1, 4096);
        g_leaked[n_leaked++] = p; /* held, never freed: growth that stays */
    }
}

int main(void)
{
    blocks = mmap(NULL, BLOCKS * sizeof(*blocks), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_leaked = mmap(NULL, 8 * 128 * sizeof(void *), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED || g_leaked == MAP_FAILED)
        return 2;
    fill();
    snapshot_now();
    free_most();
    snapshot_now();
    for (int round = 0; round < 8; round++) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        leak_site();
        snapshot_now();
    }
    return 0;
}
