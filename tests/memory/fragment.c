/*
 * Test program: heap fragmentation, not a leak. Allocates ~100 MB in
 * 256-byte blocks, then frees 99 % of them, keeping every 100th -- a pattern
 * no allocator can give back to the kernel (every page or run keeps a live
 * block). Takes a snapshot (raise(SIGUSR2), then one allocation to let the
 * shim write it) before, after the allocation and after the frees; with an
 * argument, stays that many seconds before the last one.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BLOCK  256
#define BLOCKS (100u * 1024 * 1024 / BLOCK)
#define KEEP   100 /* every KEEP-th block stays */

static void snapshot_now(void)
{
    raise(SIGUSR2);
    void *volatile p = malloc(16); /* the shim writes the requested snapshot here */
    free(p);
}

static void **blocks;

__attribute__((noinline)) static void fill(void)
{
    for (size_t i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(BLOCK);
        memset(blocks[i], 0x5a, BLOCK); /* resident, not just reserved */
    }
}

__attribute__((noinline)) static void free_most(void)
{
    for (size_t i = 0; i < BLOCKS; i++)
        if (i % KEEP != KEEP - 1) {
            free(blocks[i]);
            blocks[i] = NULL;
        }
}

int main(int argc, char **argv)
{
    /* The table of blocks is an mmap, not heap: the live heap is the kept blocks only. */
    blocks = mmap(NULL, BLOCKS * sizeof(*blocks), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED)
        return 2;
    snapshot_now();
    fill();
    snapshot_now();
    free_most();
    snapshot_now();
    if (argc > 1) /* linger (soak samples a running program) */
        sleep((unsigned)atoi(argv[1]));
    snapshot_now();
    return 0;
}
