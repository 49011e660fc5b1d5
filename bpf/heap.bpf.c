// SPDX-License-Identifier: GPL-2.0
/*
 * Heap tracking for `leakaudit attach`: uprobes on the allocator's entry
 * points and uretprobes on the ones that return a block. Outstanding blocks
 * live in `allocs` (address -> size, site) and are aggregated per site in
 * `sites` with atomic adds, so user space only reads maps when it takes a
 * snapshot: no per-event traffic. The programs are attached by
 * tracer/probes.c to whatever functions the target's allocator really has.
 *
 * Idle sites leave `sites` (tracer/drain.c, docs/attach.md#stacks-that-leave):
 * a site's key carries the generation (heap_gen, 0 or 1) that was current
 * when its allocations were counted. User space flips the generation at one
 * snapshot and, one snapshot later, deletes the old generation's entries
 * that hold nothing live. By then no program still adds to them: new
 * allocations count in the other generation, a program that read the old
 * one finished long ago, and a free lowers live_count as its last write, so
 * an entry seen with live_count 0 has no writer left. Deleting an entry a
 * program could still write would lose that count (or, in a preallocated
 * map, land it in another site's recycled entry).
 */
#include "site.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_MAX_ALLOCS);
    __uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the live set */
    __type(key, __u64);
    __type(value, struct trc_alloc);
} allocs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_MAX_HEAP_STACKS);
    __type(key, struct trc_site);
    __type(value, struct trc_heap_stats);
} sites SEC(".maps");

/* The call in flight of each thread (sp != 0 while one is): task-local
 * storage, cheaper than a hash keyed by tid and gone with the thread. */
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct trc_pending);
} pending SEC(".maps");

/* The generation new allocations are counted in (written by user space). */
volatile __u32 heap_gen = 0;

/* Where allocations go when `sites` is full: pre-created by the tracer, one
 * per generation (pad = generation). */
static const struct trc_site overflow_sites[2] = {{.caller = 0, .stack_id = -1, .pad = 0},
                                                  {.caller = 0, .stack_id = -1, .pad = 1}};

static __always_inline int alloc_enter(struct pt_regs *ctx, __u64 size, __u32 kind, __u64 old_ptr,
                                       __u64 memptr)
{
    __u32 tid = target_tid();
    if (!tid)
        return 0;
    count(TRC_C_ALLOC_CALLS, 1);
    __u64 sp = PT_REGS_SP(ctx);
    __u64 now = bpf_ktime_get_ns();
    /* The return address (at the top of the stack, in the link register)
     * is the immediate caller, right even when it has no frame pointer. */
    __u64 caller = 0;
    if (arch_entry_caller(ctx, sp, &caller))
        count(TRC_C_CALLER_UNREADABLE, 1);
    struct trc_pending *p = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0,
                                                 BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!p) {
        count(TRC_C_PENDING_FULL, 1);
        return 0;
    }
    if (p->sp) {
        /* A call still in flight higher up this thread's stack: this is the
         * allocator calling itself (operator new -> malloc). The outer call
         * owns the block. Older than the stale limit: it never returned.
         * Same stack slot but another return address there: the outer
         * function tail-jumped here (libstdc++'s new[] -> new) and its
         * uretprobe already replaced the return address with the kernel's
         * trampoline, so the outer call keeps the real caller. */
        if (now - p->ts < TRC_PENDING_STALE_NS &&
            (p->sp > sp || (p->sp == sp && caller != p->site.caller))) {
            count(TRC_C_NESTED, 1);
            return 0;
        }
        count(TRC_C_PENDING_STALE, 1);
    }
    p->size = size;
    p->ts = now;
    p->old_ptr = old_ptr;
    p->memptr = memptr;
    p->kind = kind;
    p->site.caller = caller;
    p->site.stack_id = walk_stack_id(PT_REGS_IP(ctx), PT_REGS_FP(ctx), sp);
    p->sp = sp; /* last: marks the call in flight */
    return 0;
}

static __always_inline void track_free(__u64 ptr)
{
    struct trc_alloc *a = bpf_map_lookup_elem(&allocs, &ptr);
    if (!a) {
        count(TRC_C_FREE_UNKNOWN, 1);
        return;
    }
    struct trc_alloc copy = *a;
    if (bpf_map_delete_elem(&allocs, &ptr)) /* a racing free got it first */
        return;
    count(TRC_C_BYTES_FREED, copy.size);
    struct trc_heap_stats *s = bpf_map_lookup_elem(&sites, &copy.site);
    if (!s)
        return;
    __sync_fetch_and_add(&s->freed_bytes, copy.size);
    __sync_fetch_and_add(&s->freed_count, 1);
    __sync_fetch_and_sub(&s->live_bytes, copy.size);
    __sync_fetch_and_sub(&s->live_count, 1); /* last: see the top of this file */
}

static __always_inline void track_alloc(__u64 ptr, __u64 size, struct trc_site *site)
{
    struct trc_alloc *old = bpf_map_lookup_elem(&allocs, &ptr);
    if (old) {
        /* Handed out again without a free we saw: release the old record so
         * it does not pose as a leak forever. */
        count(TRC_C_FREE_MISSED, 1);
        track_free(ptr);
    }
    struct trc_heap_stats *s = bpf_map_lookup_elem(&sites, site);
    if (!s) {
        struct trc_heap_stats zero = {};
        bpf_map_update_elem(&sites, site, &zero, BPF_NOEXIST); /* may race: fine */
        s = bpf_map_lookup_elem(&sites, site);
        if (!s) {
            count(TRC_C_SITES_FULL, 1);
            site = (struct trc_site *)&overflow_sites[site->pad & 1];
            s = bpf_map_lookup_elem(&sites, site);
            if (!s)
                return;
        }
    }
    struct trc_alloc a = {.size = size, .site = *site};
    __sync_fetch_and_add(&s->total_bytes, size);
    __sync_fetch_and_add(&s->total_count, 1);
    if (bpf_map_update_elem(&allocs, &ptr, &a, BPF_ANY)) {
        count(TRC_C_ALLOCS_FULL, 1); /* counted in totals, not in live */
        return;
    }
    count(TRC_C_BYTES_ALLOCATED, size);
    __sync_fetch_and_add(&s->live_bytes, size);
    __sync_fetch_and_add(&s->live_count, 1);
}

static __always_inline int alloc_return(struct pt_regs *ctx, __u64 ret)
{
    __u32 tid = target_tid();
    if (!tid)
        return 0;
    struct trc_pending *p = bpf_task_storage_get(&pending, bpf_get_current_task_btf(), 0, 0);
    /* Only the return of the outermost call (sp back to where its caller
     * had it) completes it; nested returns are ignored. */
    if (!p || !p->sp || PT_REGS_SP(ctx) != ARCH_SP_AT_RETURN(p->sp))
        return 0;
    struct trc_pending c = *p;
    p->sp = 0;

    __u64 ptr = ret;
    if (c.kind == TRC_ALLOC_MEMPTR) {
        ptr = 0;
        if ((int)ret == 0 && c.memptr)
            bpf_probe_read_user(&ptr, sizeof(ptr), (void *)c.memptr);
    }
    if (c.kind == TRC_ALLOC_REALLOC && c.old_ptr && (ptr || c.size == 0))
        track_free(c.old_ptr); /* moved, or realloc(p, 0) freed it */
    if (!ptr) {
        if (c.size)
            count(TRC_C_ALLOC_FAILED, 1);
        return 0;
    }
    c.site.pad = heap_gen & 1; /* counted in the current generation */
    track_alloc(ptr, c.size, &c.site);
    return 0;
}

SEC("uprobe")
int BPF_KPROBE(la_alloc_size1, __u64 size)
{
    return alloc_enter(ctx, size, TRC_ALLOC_PLAIN, 0, 0);
}

/* aligned_alloc, memalign: (alignment, size) */
SEC("uprobe")
int BPF_KPROBE(la_alloc_size2, __u64 align, __u64 size)
{
    return alloc_enter(ctx, size, TRC_ALLOC_PLAIN, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(la_calloc, __u64 n, __u64 size)
{
    return alloc_enter(ctx, n * size, TRC_ALLOC_PLAIN, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(la_realloc, __u64 ptr, __u64 size)
{
    return alloc_enter(ctx, size, TRC_ALLOC_REALLOC, ptr, 0);
}

SEC("uprobe")
int BPF_KPROBE(la_reallocarray, __u64 ptr, __u64 n, __u64 size)
{
    return alloc_enter(ctx, n * size, TRC_ALLOC_REALLOC, ptr, 0);
}

SEC("uprobe")
int BPF_KPROBE(la_posix_memalign, __u64 memptr, __u64 align, __u64 size)
{
    return alloc_enter(ctx, size, TRC_ALLOC_MEMPTR, 0, memptr);
}

SEC("uretprobe")
int BPF_KRETPROBE(la_alloc_ret, __u64 ret)
{
    return alloc_return(ctx, ret);
}

/* free, operator delete (all forms: the pointer is the first argument) */
SEC("uprobe")
int BPF_KPROBE(la_free, __u64 ptr)
{
    if (!target_tid())
        return 0;
    count(TRC_C_FREE_CALLS, 1);
    if (ptr)
        track_free(ptr);
    return 0;
}
