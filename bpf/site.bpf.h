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

/* Either the kernel's stack map (bpf_get_stackid; value_size, the stack
 * depth, is set by the tracer before load) or, with SITE_OWN_WALK, a hash
 * of the same layout at the largest depth, filled by walk_stack_id() below:
 * id -> return addresses, zero-padded. User space reads both the same way. */
struct {
#ifdef SITE_OWN_WALK
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC); /* new stacks are rare: memory follows them */
    __uint(max_entries, TRC_MAX_STACK_IDS);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, TRC_MAX_STACK_DEPTH * sizeof(__u64));
#else
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, TRC_MAX_STACK_IDS);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, TRC_DEFAULT_STACK_DEPTH * sizeof(__u64));
#endif
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

#ifdef SITE_OWN_WALK
/*
 * Our own frame-pointer walk, for the heap probes, where it runs on every
 * allocation. bpf_get_stackid() follows the chain until a read fails, and
 * the chain of a main thread ends in glibc's __libc_start_call_main, whose
 * %rbp is not a frame pointer (it holds 1 there): every walk ended in a
 * faulting user read, ~0.6 us of a ~1 us program on our machines. Here a
 * frame must lie above the previous one and be 8-byte aligned, which stops
 * at such garbage without touching it (and keeps garbage frames out of
 * stacks). Return addresses that a pending uretprobe replaced with the
 * kernel's trampoline are put back from the thread's return instances, as
 * the kernel's own walk does.
 */
const volatile __u32 stack_depth = TRC_DEFAULT_STACK_DEPTH; /* set by the tracer */

struct trc_walk {
    __u64 ips[TRC_MAX_STACK_DEPTH];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct trc_walk);
} walk_buf SEC(".maps");

struct walk_ctx {
    struct trc_walk *w;
    struct return_instance *ri; /* pending uretprobes of this thread, innermost first */
    __u64 fp, low, h, tramp;
    __u32 n;
};

static __always_inline __u64 walk_mix(__u64 h, __u64 v)
{
    h ^= v;
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* One frame: bpf_loop callback, so the verifier checks it once. */
static long walk_frame(__u64 i, void *arg)
{
    struct walk_ctx *c = arg;
    if (c->fp < c->low || (c->fp & 7))
        return 1;
    __u64 fr[2];
    if (bpf_probe_read_user(fr, sizeof(fr), (void *)c->fp) || !fr[1])
        return 1;
    __u64 ret = fr[1];
    if (ret == c->tramp && c->ri) {
        /* A uretprobe took this return address: the real one is in the
         * thread's return instances (chained ones share a frame). */
        struct return_instance *ri = c->ri;
        for (int k = 0; k < 4 && ri && BPF_CORE_READ(ri, chained); k++)
            ri = BPF_CORE_READ(ri, next);
        if (ri) {
            ret = BPF_CORE_READ(ri, orig_ret_vaddr);
            ri = BPF_CORE_READ(ri, next);
        }
        c->ri = ri;
    }
    __u32 k = c->n;
    if (k >= TRC_MAX_STACK_DEPTH)
        return 1;
    c->w->ips[k] = ret;
    c->n = k + 1;
    c->h = walk_mix(c->h, ret);
    c->low = c->fp + sizeof(fr);
    c->fp = fr[0];
    return 0;
}

/* ip, frame pointer and stack pointer of the user context to walk. */
static __always_inline __s32 walk_stack_id(__u64 ip, __u64 fp, __u64 sp)
{
    __u32 zero = 0;
    struct trc_walk *w = bpf_map_lookup_elem(&walk_buf, &zero);
    if (!w)
        return -1;
    w->ips[0] = ip;
    struct walk_ctx c = {.w = w, .fp = fp, .low = sp, .h = walk_mix(0, ip), .n = 1};
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    c.ri = BPF_CORE_READ(task, utask, return_instances);
    if (c.ri) /* else nothing is pending in this thread: the common case */
        c.tramp = BPF_CORE_READ(task, mm, uprobes_state.xol_area, vaddr);
    if (stack_depth > 1)
        bpf_loop(stack_depth - 1, walk_frame, &c, 0);
    __u32 n = c.n;
    if (n < TRC_MAX_STACK_DEPTH)
        w->ips[n] = 0; /* the end mark a stored stack has too */
    __u32 id = (__u32)(c.h ^ (c.h >> 32)) & 0x7fffffff;
    struct trc_walk *have = bpf_map_lookup_elem(&stacks, &id);
    if (!have) {
        /* Stored stacks are zero-padded: user space reads to the first 0. */
#pragma clang loop unroll(disable)
        for (__u32 i = 1; i < TRC_MAX_STACK_DEPTH; i++)
            if (i > n)
                w->ips[i] = 0;
        long rc = bpf_map_update_elem(&stacks, &id, w, BPF_NOEXIST);
        if (rc == 0)
            return (__s32)id;
        /* EEXIST: another CPU stored a stack under this id first; compare
         * with it like any other. */
        have = rc == -EEXIST ? bpf_map_lookup_elem(&stacks, &id) : NULL;
        if (!have) {
            count(TRC_C_STACK_FULL, 1);
            return -1;
        }
    }
    /* Same id: the same stack, end mark included, or a collision. */
#pragma clang loop unroll(disable)
    for (__u32 i = 0; i < TRC_MAX_STACK_DEPTH; i++) {
        if (i > n)
            break;
        if (have->ips[i] != w->ips[i]) {
            count(TRC_C_STACK_COLLISION, 1); /* another stack holds this id */
            return -1;
        }
    }
    return (__s32)id;
}
#endif
#endif
