/*
 * A target for `attach --inject`: leak_site() leaks 4 KiB every 100 ms
 * (40 KiB/s) and fd_site() opens /dev/null every second (1 fd/s), from the
 * moment it prints "ready" until argv[1] seconds have passed; scratch()
 * allocates and frees at each tick. Before "ready" it allocates
 * pre_attach_site()'s block (freed 3 s after "ready", i.e. after an attach
 * made at "ready") and pre_attach_leak()'s (never freed). Prints "done
 * <ticks>" at the end. Built with and without -fno-plt.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
static void *volatile sink;

NOINLINE void *pre_attach_site(void)
{
    char *p = malloc(3000);
    memset(p, 2, 3000);
    return p;
}

NOINLINE void pre_attach_leak(void)
{
    sink = malloc(777);
}

NOINLINE void leak_site(void)
{
    char *p = malloc(4096);
    memset(p, 1, 4096);
    sink = p;
}

NOINLINE int fd_site(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

NOINLINE void scratch(void)
{
    void *t = malloc(100);
    sink = t;
    free(t);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 10;
    void *pre = pre_attach_site();
    pre_attach_leak();
    printf("ready\n");
    fflush(stdout);
    double t0 = now();
    int ticks = 0;
    /* ticks on a fixed schedule, not after fixed sleeps: the rate stays
     * 40 KiB/s however long a tick takes */
    while (now() - t0 < secs) {
        double due = t0 + 0.1 * (ticks + 1);
        double wait = due - now();
        if (wait > 0) {
            struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
            nanosleep(&ts, NULL);
        }
        leak_site();
        scratch();
        if (ticks % 10 == 0)
            fd_site();
        if (ticks == 30)
            free(pre);
        ticks++;
    }
    printf("done %d\n", ticks);
    return 0;
}
