/*
 * Workload for bench/reach.sh: N live blocks (16-256 bytes) held in one
 * global array of pointers, of which every tenth is dropped from the array
 * (each dropped block points to the next dropped one: a lost chain), plus
 * THREADS idle threads whose stacks and registers the scan must visit.
 * Usage: reach_million N THREADS exit|hold
 *   exit: allocate, then exit (the shim scans at exit)
 *   hold: allocate, print "ready", then sleep until killed (attach mode)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void **g_live;

static void *idle(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    long n = atol(argv[1]), threads = atol(argv[2]);
    for (long t = 0; t < threads; t++) {
        pthread_t th;
        pthread_create(&th, NULL, idle, NULL);
    }
    if (!strcmp(argv[3], "hold")) {
        printf("attach now\n");
        fflush(stdout);
        char line[16];
        if (!fgets(line, sizeof(line), stdin)) /* the bench says when it is attached */
            return 1;
    }
    g_live = calloc((size_t)n, sizeof(void *));
    void **prev_lost = NULL;
    for (long i = 0; i < n; i++) {
        void **b = calloc(1, 16 + (size_t)(i * 7 % 241));
        if (i % 10 == 0) {
            if (prev_lost)
                *prev_lost = b;
            prev_lost = b;
        } else {
            g_live[i] = b;
        }
    }
    if (!strcmp(argv[3], "hold")) {
        printf("ready\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    return 0;
}
