/*
 * Helpers shared by the BPF programs: the target filter, the per-CPU
 * counters, and taking a call site (immediate caller + frame-pointer stack
 * id). Included by each NAME.bpf.c; every object gets its own copy of the maps.
 */
#ifndef LEAKAUDIT_SITE_BPF_H
#define LEAKAUDIT_SITE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "trace_events.h"

#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif

/* Set by the tracer before load. */
const volatile __u32 targ_tgid = 0;
/* bench/tracer.sh only: every program returns at once, so the run measures
 * the traps alone at exactly our probe placement (the verifier drops the
 * dead code, so this costs nothing when off). */
const volatile __u32 bench_empty = 0;

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRC_NR_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

/* value_size (the stack depth) is set by the tracer before load. */
struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, TRC_MAX_STACK_IDS);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, TRC_DEFAULT_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

static __always_inline void count(__u32 c, __u64 n)
{
    __u64 *v = bpf_map_lookup_elem(&counters, &c);
    if (v)
        *v += n; /* per-CPU slot: no other writer */
}

/* The current thread id when it belongs to the target, else 0. */
static __always_inline __u32 target_tid(void)
{
    if (bench_empty)
        return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if ((__u32)(id >> 32) != targ_tgid)
        return 0;
    return (__u32)id;
}

/* The frame-pointer walk; failures are counted, never passed on as ids. */
static __always_inline __s32 take_stack_id(void *ctx)
{
    long id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
    if (id >= 0)
        return (__s32)id;
    if (id == -EEXIST)
        count(TRC_C_STACK_COLLISION, 1);
    else if (id == -ENOMEM)
        count(TRC_C_STACK_FULL, 1);
    else
        count(TRC_C_STACK_FAULT, 1);
    return -1;
}

#endif
