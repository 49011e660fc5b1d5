/*
 * Loading a shared library into a running process without gdb: the
 * building block of `leakaudit attach --inject` (docs/inject.md).
 *
 * One thread of the target is stopped with ptrace (PTRACE_SEIZE +
 * PTRACE_INTERRUPT) at a point where it holds no allocator or loader lock,
 * made to call the target's own `dlopen` (exported by libc.so.6 since glibc
 * 2.34), and put back exactly as it was (general, floating-point and vector
 * registers). The other threads keep running. Refuses, with the reason,
 * a target under a seccomp filter, one whose libc has no dlopen, and one
 * ptrace may not attach to.
 */
#ifndef LEAKAUDIT_TRACER_INJECT_H
#define LEAKAUDIT_TRACER_INJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct trc_inject_result {
    uint64_t handle;  /* what dlopen returned in the target (never 0 on success) */
    pid_t tid;        /* the thread that made the call */
    int tries;        /* stops it took to find a thread at a safe point */
    int already;      /* the library was mapped before the call (a second attach) */
    int64_t call_ret; /* trc_inject_call: what the library's function returned (an int) */
    uint64_t image;   /* the program image called in (procfs_image_id) */
};

/* Makes PID dlopen(LIB, RTLD_NOW) (LIB: an absolute path as the target sees
 * it). Returns 0, or -1 with a one-line reason in err (the target is left
 * running as it was in either case). */
int trc_inject_library(pid_t pid, const char *lib, struct trc_inject_result *res, char *err,
                       size_t errlen);

/* The same, then (in the same stop of the same thread) the library's
 * function CALL, int fn(const char *arg, const struct interrupted_thread *it),
 * with the string ARG (NULL: a null pointer) and the thread as the program
 * left it (common/interrupted.h): res->call_ret gets its return value. A
 * library already loaded is not loaded again (dlopen only counts a
 * reference). */
int trc_inject_call(pid_t pid, const char *lib, const char *call, const char *arg,
                    struct trc_inject_result *res, char *err, size_t errlen);

/* trc_inject_call in the program image IMAGE only (res->image of an earlier
 * call): a process that has run exec since is left alone (-1, and err says
 * so). A process caught in exec by trc_inject_call is called in the program
 * it runs once the exec is done. */
int trc_inject_call_in(pid_t pid, uint64_t image, const char *lib, const char *call,
                       const char *arg, struct trc_inject_result *res, char *err, size_t errlen);

/* The address of symbol NAME in the target's libc.so.6, from its dynamic
 * symbol table and /proc/PID/maps; 0 when absent. */
uint64_t trc_inject_libc_symbol(pid_t pid, const char *name, char *err, size_t errlen);

#endif
