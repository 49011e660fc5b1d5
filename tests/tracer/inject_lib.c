/*
 * inject_lib PID LIB [CALL [ARG]]: loads LIB into the running process PID
 * with the tracer's injector (tracer/inject.c), then calls LIB's function
 * CALL with the string ARG (newlines as \n), and prints "handle=0x...
 * tid=N tries=N already=0|1 ret=N", or the error on stderr with exit
 * status 1.
 * The test driver of test_inject_loads_a_library_into_a_running_process.sh.
 */
#include "inject.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: inject_lib PID LIB [CALL [ARG]]\n");
        return 2;
    }
    struct trc_inject_result r;
    char err[512];
    const char *call = argc > 3 ? argv[3] : NULL, *arg = argc > 4 ? argv[4] : NULL;
    if (trc_inject_call((pid_t)atoi(argv[1]), argv[2], call, arg, &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "inject_lib: %s\n", err);
        return 1;
    }
    printf("handle=0x%llx tid=%d tries=%d already=%d ret=%lld\n", (unsigned long long)r.handle,
           (int)r.tid, r.tries, r.already, (long long)r.call_ret);
    return 0;
}
