/*
 * A program that is stopped by a signal, as services are: it leaks a known
 * amount in a named function, opens a file it never closes, writes its pid
 * to READY_FILE and waits to be killed.
 *
 *   doomed READY_FILE [own-handler]
 *
 * It also prints what sigaction() reports for SIGTERM before it waits
 * ("SIGTERM disposition: default" when the shim's handler is invisible).
 * With own-handler it installs its own SIGTERM handler that exits 42.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEAK_BLOCKS 7
#define LEAK_BYTES  1000

static void *volatile sink;

__attribute__((noinline)) static void leak_before_death(void)
{
    for (int i = 0; i < LEAK_BLOCKS; i++) {
        char *p = malloc(LEAK_BYTES);
        memset(p, i, LEAK_BYTES);
        sink = p; /* overwritten next round: definitely lost */
    }
    sink = NULL;
}

static void own_handler(int sig)
{
    (void)sig;
    _exit(42);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: doomed READY_FILE [own-handler]\n");
        return 2;
    }
    if (argc > 2 && !strcmp(argv[2], "own-handler"))
        signal(SIGTERM, own_handler);
    leak_before_death();
    if (open("/dev/null", O_RDONLY) < 0)
        return 1;
    struct sigaction old;
    sigaction(SIGTERM, NULL, &old);
    printf("SIGTERM disposition: %s\n", old.sa_handler == SIG_DFL   ? "default"
                                        : old.sa_handler == SIG_IGN ? "ignored"
                                                                    : "handler");
    fflush(stdout);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return 1;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    rename(tmp, argv[1]); /* the test sees the pid whole or not at all */
    for (;;)
        pause();
}
