/*
 * The thread as the program left it: what the injector (tracer/inject.c)
 * passes, as the second argument, to a library function it calls in a
 * stopped thread -- int fn(const char *arg, const struct interrupted_thread *it).
 * The call runs on the thread's stack below where the program stopped, with
 * most of its registers replaced; code that must see the thread's state as
 * the program has it (the shim's reachability scan: its roots are that
 * stack from `sp` up and these registers, not the call's own frames and the
 * dead stack between them) reads it here.
 */
#ifndef LEAKAUDIT_INTERRUPTED_H
#define LEAKAUDIT_INTERRUPTED_H

#include <stdint.h>

#define INTERRUPTED_MAGIC    0x6c612d696e747275ull /* "la-intru" */
#define INTERRUPTED_MAX_REGS 34

struct interrupted_thread {
    uint64_t magic;  /* INTERRUPTED_MAGIC: anything else is not one */
    uint64_t sp;     /* its stack pointer when it was stopped */
    uint32_t n_regs; /* words of regs that hold its general registers */
    uint32_t pad;
    uint64_t regs[INTERRUPTED_MAX_REGS];
};

#endif
