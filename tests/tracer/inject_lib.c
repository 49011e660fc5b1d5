/*
 * inject_lib PID LIB: loads LIB into the running process PID with the
 * tracer's injector (tracer/inject.c) and prints "handle=0x... tid=N
 * tries=N already=0|1", or the error on stderr with exit status 1.
 * The test driver of test_inject_loads_a_library_into_a_running_process.sh.
 */
#include "inject.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: inject_lib PID LIB\n");
        return 2;
    }
    struct trc_inject_result r;
    char err[512];
    if (trc_inject_library((pid_t)atoi(argv[1]), argv[2], &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "inject_lib: %s\n", err);
        return 1;
    }
    printf("handle=0x%llx tid=%d tries=%d already=%d\n", (unsigned long long)r.handle, (int)r.tid,
           r.tries, r.already);
    return 0;
}
