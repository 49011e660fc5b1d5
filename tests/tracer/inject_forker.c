/*
 * A multi-threaded target that forks while `attach --inject` is in it.
 * Two threads malloc/free all the time (so the shim's locks are often
 * held when the main thread forks). Once argv[1] exists, it writes to
 * argv[2]: which module its own malloc slot points to ("parent malloc in
 * libleakaudit.so" while attached); that of a child forked then, which
 * lives 1.5 s allocating ("child malloc in libc.so.6" when the child runs
 * without the shim); then argv[3] quick forks whose children malloc/free
 * 2,000 times and exit 7: "forks=N hung=H bad=B" (hung: no exit within
 * 2 s, then killed -- a lock inherited held; bad: another exit).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;

static void *churn(void *arg)
{
    (void)arg;
    while (!stop) {
        void *p[64];
        for (int i = 0; i < 64; i++)
            p[i] = malloc(16 + (size_t)i * 8);
        for (int i = 0; i < 64; i++)
            free(p[i]);
    }
    return NULL;
}

/* The module holding what this program's malloc slot points to now. */
static const char *malloc_module(void)
{
    void *(*volatile f)(size_t) = malloc; /* read from the GOT at run time */
    Dl_info info;
    if (!dladdr((void *)f, &info) || !info.dli_fname)
        return "?";
    const char *b = strrchr(info.dli_fname, '/');
    return b ? b + 1 : info.dli_fname;
}

/* Waits up to 2 s for child c; 0 exited 7, 1 other exit, 2 hung (killed). */
static int reap(pid_t c)
{
    int st = 0;
    for (int waited = 0; waitpid(c, &st, WNOHANG) != c; waited++) {
        if (waited == 2000) {
            kill(c, SIGKILL);
            waitpid(c, &st, 0);
            return 2;
        }
        usleep(1000);
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: inject_forker GO-FILE OUT-FILE FORKS\n");
        return 2;
    }
    int forks = atoi(argv[3]);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    while (access(argv[1], F_OK) != 0)
        usleep(10000);
    FILE *out = fopen(argv[2], "w");
    if (!out)
        return 2;
    fprintf(out, "parent malloc in %s\n", malloc_module());
    fflush(out);
    pid_t c = fork();
    if (c == 0) {
        fprintf(out, "child malloc in %s\n", malloc_module());
        fflush(out);
        struct timespec t0, now;
        double elapsed;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            free(malloc(100));
            usleep(100);
            clock_gettime(CLOCK_MONOTONIC, &now);
            elapsed = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        } while (elapsed < 1.5);
        _exit(7);
    }
    int hung = 0, bad = 0, r = reap(c);
    /* the long child gets 2 s like the others, but it lives 1.5 s */
    hung += r == 2;
    bad += r == 1;
    for (int n = 0; n < forks; n++) {
        pid_t q = fork();
        if (q == 0) {
            for (int i = 0; i < 2000; i++)
                free(malloc(32 + (size_t)(i % 200)));
            _exit(7);
        }
        r = reap(q);
        hung += r == 2;
        bad += r == 1;
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    fprintf(out, "forks=%d hung=%d bad=%d\n", forks, hung, bad);
    fclose(out);
    return 0;
}
