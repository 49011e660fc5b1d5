/*
 * Target for the attach-mode reachability test: runs until killed. Each time
 * the file GO appears (the test creates it, then this program removes it) it
 * runs the next step and appends a line to LOG:
 *   step 1: case_kept (kept in a global) and case_dropped (its global is
 *           cleared: definitely lost), plus a lost tree (case_attach_root
 *           with case_attach_child blocks only reachable from it)
 *   step 2+: proves it is still alive and working: allocates, frees, logs.
 * Usage: reach_attach_target GO LOG
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE   __attribute__((noinline, noclone))
#define N_CHILDREN 4

void *g_kept, *g_dropped, *g_tree;

NOINLINE static void *alloc_block(size_t n)
{
    void *p = calloc(1, n);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

NOINLINE void case_kept(void)
{
    g_kept = alloc_block(1000);
}

NOINLINE void case_dropped(void)
{
    g_dropped = alloc_block(2000);
    g_dropped = NULL;
}

NOINLINE void *case_attach_child(void)
{
    return alloc_block(300);
}

NOINLINE void case_attach_root(void)
{
    void **root = alloc_block(N_CHILDREN * sizeof(void *));
    for (int i = 0; i < N_CHILDREN; i++)
        root[i] = case_attach_child();
    g_tree = root;
    g_tree = NULL;
}

NOINLINE static void scrub_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0, sizeof(junk));
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int step = 0;
    for (;;) {
        if (access(argv[1], F_OK) == 0) {
            unlink(argv[1]);
            step++;
            if (step == 1) {
                case_kept();
                case_dropped();
                case_attach_root();
            } else {
                void *p = malloc(4096 * step);
                memset(p, step, 4096);
                free(p);
            }
            scrub_stack();
            FILE *f = fopen(argv[2], "a");
            if (f) {
                fprintf(f, "step %d\n", step);
                fclose(f);
            }
        }
        usleep(20000);
    }
}
