/*
 * A target for `attach --inject`: leak_site() leaks 4 KiB every 100 ms
 * (40 KiB/s) and fd_site() opens /dev/null every second (1 fd/s), from the
 * moment it prints "ready" until argv[1] seconds have passed; scratch()
 * allocates and frees at each tick. Before "ready" it allocates
 * pre_attach_site()'s block (freed 3 s after "ready", i.e. after an attach
 * made at "ready") and pre_attach_leak()'s (never freed). Prints "done
 * <ticks>" at the end. Built with and without -fno-plt.
 * With INJECT_LEAKER_CONTROL=DIR the test says when instead of the clock:
 * the pre-attach block is freed once DIR/free exists (made when the attach
 * is in) and the run ends once DIR/stop exists (argv[1] is then ignored),
 * so a slow attach (ASan, a loaded machine) never finds the target gone or
 * the block already freed.
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

/* Whether DIR/NAME exists. */
static int told(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 10;
    const char *ctl = getenv("INJECT_LEAKER_CONTROL");
    void *pre = pre_attach_site();
    pre_attach_leak();
    printf("ready\n");
    fflush(stdout);
    double t0 = now();
    int ticks = 0;
    /* ticks on a fixed schedule, not after fixed sleeps: the rate stays
     * 40 KiB/s however long a tick takes */
    while (ctl ? !told(ctl, "stop") : now() - t0 < secs) {
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
        if (pre && (ctl ? told(ctl, "free") : ticks == 30)) {
            free(pre);
            pre = NULL;
        }
        ticks++;
    }
    printf("done %d\n", ticks);
    return 0;
}
