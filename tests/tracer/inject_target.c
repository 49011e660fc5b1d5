/*
 * A target for injection: argv[1] worker threads malloc/free and hash what
 * they write (busy in libc most of the time), the main thread sleeps in
 * nanosleep and every 100 ms checks the workers' progress; after argv[2]
 * seconds it prints "sum=<hex>" of a computation that does not depend on
 * timing, then "ok". An injection that corrupted a register, the stack or
 * a syscall's restart would change the sum, crash it, or cut a sleep short
 * (a sleep that returns early is reported as "early wake").
 * argv[3]: "join" -- the main thread waits in pthread_join (a futex: not a
 * safe point, the injector must pick another thread); "seccomp" -- an
 * allow-everything seccomp filter is installed first (the injector must
 * refuse); "busy" -- the main thread works too, never sleeping (the
 * injector must find a moment when it is outside libc).
 * With INJECT_TARGET_STOP_FILE set, the run ends once that file exists
 * (looked for every 50 ms) instead of after argv[2] seconds: a test makes
 * its injections, then ends the run, however slow the machine is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
static uint64_t sums[16];

static uint64_t work(uint64_t seed, int rounds)
{
    uint64_t h = seed;
    for (int i = 0; i < rounds; i++) {
        size_t n = 16 + (h % 4096);
        unsigned char *p = malloc(n);
        memset(p, (int)(h & 0xff), n);
        for (size_t k = 0; k < n; k += 64)
            h = (h ^ p[k]) * 0x100000001b3ull;
        free(p);
        double d = (double)(h % 1000) / 7.0; /* floating point registers in use */
        h += (uint64_t)(d * 3.0);
    }
    return h;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t h = 0xcbf29ce484222325ull + (uint64_t)id;
    while (!stop)
        h = work(h, 1000);
    /* the reported value: a fixed amount of work, done after the loop */
    sums[id] = work(0x1234 + (uint64_t)id, 20000);
    return NULL;
}

static double secs;
static const char *stop_file;

static void *timer(void *arg)
{
    (void)arg;
    if (stop_file) {
        while (access(stop_file, F_OK) != 0) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL); /* an EINTR only shortens one look */
        }
        stop = 1;
        return NULL;
    }
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    stop = 1;
    return NULL;
}

int main(int argc, char **argv)
{
    int nt = argc > 1 ? atoi(argv[1]) : 2;
    secs = argc > 2 ? atof(argv[2]) : 3;
    const char *mode = argc > 3 ? argv[3] : "";
    stop_file = getenv("INJECT_TARGET_STOP_FILE");
    if (!strcmp(mode, "seccomp")) {
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog prog = {1, &allow};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
            perror("seccomp");
    }
    pthread_t t[16], tt;
    int early = 0;
    for (int i = 0; i < nt && i < 16; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    if (!strcmp(mode, "busy")) {
        printf("ready\n");
        fflush(stdout);
        pthread_create(&tt, NULL, timer, NULL);
        uint64_t h = 1;
        while (!stop)
            h = work(h, 100);
        pthread_join(tt, NULL);
        goto done;
    }
    if (!strcmp(mode, "join")) {
        printf("ready\n");
        fflush(stdout);
        pthread_create(&tt, NULL, timer, NULL);
        pthread_join(tt, NULL);
        goto done;
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec req = {0, 100 * 1000 * 1000}, a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        while (nanosleep(&req, &req) != 0 && errno == EINTR)
            ;
        clock_gettime(CLOCK_MONOTONIC, &b);
        if ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 99e6)
            early++;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (stop_file ? access(stop_file, F_OK) == 0
                      : (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= secs)
            break;
    }
    stop = 1;
done:;
    uint64_t sum = 0;
    for (int i = 0; i < nt && i < 16; i++) {
        pthread_join(t[i], NULL);
        sum ^= sums[i];
    }
    double f = 0;
    for (int i = 1; i < 1000; i++)
        f += 1.0 / i;
    printf("sum=%016llx f=%.12f\n", (unsigned long long)sum, f);
    if (early)
        printf("early wake %d\n", early);
    printf("ok\n");
    return 0;
}
