/*
 * A library to inject: its constructor appends "loaded pid=PID tid=TID" to
 * /tmp/leakaudit-inject-probe.PID (a file the test removes), proving it ran
 * inside the target, on the thread the injector chose.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

__attribute__((constructor)) static void probe_loaded(void)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/leakaudit-inject-probe.%d", (int)getpid());
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "loaded pid=%d tid=%d\n", (int)getpid(), (int)gettid());
        fclose(f);
    }
}
