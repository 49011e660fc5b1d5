/*
 * A target for the heap walk of `attach --inject`: before it prints
 * "ready" it allocates
 *   pre_lost      777 bytes, its only pointer overwritten (a leak)
 *   g_kept        5000 bytes held by a global (still reachable)
 *   pre_freed     3000 bytes, freed when SIGUSR1 arrives (after the attach)
 *   g_big         1 MiB (served by mmap), held by a global
 *   arena_blocks  100 x 200 bytes made by a thread (a second arena),
 *                 held by a global array
 * and frees 40 small blocks of 48 bytes into the tcache and fastbins
 * (they must not be listed). After SIGUSR1 it frees pre_freed, prints
 * "freed", and waits for SIGTERM.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
void *volatile g_sink;
void *g_kept, *g_big, *g_arena_blocks[100];
static volatile sig_atomic_t go;

NOINLINE void pre_lost(void)
{
    g_sink = malloc(777);
    memset(g_sink, 7, 777);
    g_sink = NULL;
}

static void *arena_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        g_arena_blocks[i] = malloc(200);
    return NULL;
}

static void on_usr1(int sig)
{
    (void)sig;
    go = 1;
}

int main(void)
{
    signal(SIGUSR1, on_usr1);
    g_kept = malloc(5000);
    char *pre_freed = malloc(3000);
    memset(pre_freed, 1, 3000);
    g_big = malloc(1 << 20);
    pre_lost();
    pthread_t t;
    pthread_create(&t, NULL, arena_thread, NULL);
    pthread_join(t, NULL);
    void *small[40];
    for (int i = 0; i < 40; i++)
        small[i] = malloc(48);
    for (int i = 0; i < 40; i++)
        free(small[i]);
    printf("ready\n");
    fflush(stdout);
    while (!go)
        pause();
    free(pre_freed);
    printf("freed\n");
    fflush(stdout);
    for (;;)
        pause();
}
