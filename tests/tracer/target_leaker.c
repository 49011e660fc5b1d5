/*
 * Target program for the tracer tests (not a test itself). It churns
 * (malloc/free, open/close) from the start; once the file GO exists it
 * plants known leaks -- heap blocks in leak_heap() at a steady rate, blocks
 * that make_obj() allocates for leak_wrapped() (a function a test tracks
 * as a resource with a return probe), fds via dup, fcntl(F_DUPFD) and
 * memfd_create -- writes its own counters to
 * COUNTERS and then idles until killed (so a snapshot taken after that sees
 * no transient blocks or fds). Without GO it churns forever.
 * Mode steady ignores GO and COUNTERS: from the start it leaks STEADY_BYTES
 * every STEADY_TICK_NS (40 KiB/s) and one dup()ed fd every second, on an
 * absolute clock so the rates are exact, forever.
 *
 *   target_leaker leak|clean|steady GO COUNTERS [ITERATIONS]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define LEAK_BYTES           1000
#define OBJ_BYTES            48
#define DUP_LEAKS            5
#define FCNTL_LEAKS          4
#define MEMFD_LEAKS          3
#define STEADY_BYTES         4096
#define STEADY_TICK_NS       100000000L /* 10 ticks a second: 40,960 B/s */
#define STEADY_TICKS_PER_DUP 10         /* one fd a second */

static void *volatile sink;
static unsigned long leaked_bytes, leaked_count, wrapped_count;

__attribute__((noinline)) void leak_heap(size_t n)
{
    char *p = malloc(n);
    memset(p, 1, n);
    sink = p; /* never freed */
    leaked_bytes += n;
    leaked_count++;
}

__attribute__((noinline)) void *make_obj(size_t n)
{
    char *p = malloc(n);
    memset(p, 2, n);
    return p;
}

__attribute__((noinline)) void drop_obj(void *p)
{
    free(p);
}

__attribute__((noinline)) void leak_wrapped(void)
{
    sink = make_obj(OBJ_BYTES); /* never dropped */
    wrapped_count++;
}

__attribute__((noinline)) void churn(void)
{
    for (int i = 0; i < 20; i++) {
        char *p = malloc(64 + i * 8);
        sink = p;
        free(p);
    }
    char *c = calloc(4, 100);
    c = realloc(c, 800);
    free(c);
}

__attribute__((noinline)) int leak_dup(int fd)
{
    return dup(fd);
}

__attribute__((noinline)) int leak_fcntl(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 100);
}

__attribute__((noinline)) int leak_memfd(void)
{
    return memfd_create("tracer-frame", MFD_CLOEXEC);
}

__attribute__((noinline)) void clean_fds(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int d = dup(fd);
    close(d);
    close(fd);
}

static void nap(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static void steady(int fd)
{
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (unsigned long tick = 1;; tick++) {
        next.tv_nsec += STEADY_TICK_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        churn();
        leak_heap(STEADY_BYTES);
        if (tick % STEADY_TICKS_PER_DUP == 0)
            leak_dup(fd);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: target_leaker leak|clean GO COUNTERS [ITERATIONS]\n");
        return 2;
    }
    int leak = !strcmp(argv[1], "leak");
    long iterations = argc > 4 ? atol(argv[4]) : 200;
    int devnull = open("/dev/null", O_RDONLY);
    if (!strcmp(argv[1], "steady"))
        steady(devnull);
    while (access(argv[2], F_OK) != 0) {
        churn();
        clean_fds();
        nap(1000);
    }
    int fds = 0;
    for (long i = 0; i < iterations; i++) {
        churn();
        clean_fds();
        if (leak) {
            leak_heap(LEAK_BYTES);
            leak_wrapped();
            if (i < DUP_LEAKS && leak_dup(devnull) >= 0)
                fds++;
            if (i < FCNTL_LEAKS && leak_fcntl(devnull) >= 0)
                fds++;
            if (i < MEMFD_LEAKS && leak_memfd() >= 0)
                fds++;
        }
        nap(500);
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[3]);
    FILE *f = fopen(tmp, "w");
    fprintf(f,
            "leaked_bytes=%lu leaked_count=%lu wrapped_count=%lu dup=%d fcntl=%d memfd=%d "
            "fds=%d\n",
            leaked_bytes, leaked_count, wrapped_count, leak ? DUP_LEAKS : 0, leak ? FCNTL_LEAKS : 0,
            leak ? MEMFD_LEAKS : 0, fds);
    fclose(f);
    rename(tmp, argv[3]);
    for (;;) /* keep running, quietly (no transient blocks or fds), until killed */
        pause();
}
