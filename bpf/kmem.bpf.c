// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel memory allocated in the target's context, still outstanding
 * (`leakaudit attach --kmem`, docs/memory-kernel.md). The kmem tracepoints,
 * as tp_btf programs (no tracefs needed):
 *
 *   kmalloc, kmem_cache_alloc, mm_page_alloc: an allocation by a thread of
 *     the target is recorded in `objs` under its
 *     address (a struct page * for pages) with its bytes and its row =
 *     (kind, kernel stack, user site), whose totals are in `rows`;
 *   kfree, kmem_cache_free, mm_page_free: from ANY context -- `objs` only
 *     holds the target's objects, so a free by a kworker or an RCU callback
 *     still ends one, counted as freed by another context.
 *
 * The free programs run for every free on the machine: a hash lookup that
 * misses is all they cost there (docs/memory-kernel.md, "Cost").
 *
 * User site: the user registers saved at the kernel entry (the system call
 * or the fault), walked with the target's unwind tables like the fd
 * syscalls (site.bpf.h). One system call allocates many objects from one
 * user stack: the walk is cached per thread (task storage) until its next
 * sys_enter or until the saved registers differ.
 *
 * Interrupts: an interrupt or softirq taken while a thread of the target
 * runs has that thread as `current`. Its preempt count is not readable from
 * BPF on every kernel (the per-CPU symbol is not in kallsyms without
 * CONFIG_KALLSYMS_ALL), so tracer/kmem.c tells such rows by their kernel
 * stack (irq entry / softirq frames) and keeps them out of the totals.
 *
 * Page allocations that are __GFP_MOVABLE are user memory or page cache
 * (anonymous faults, file pages), not kernel memory: skipped and counted.
 */
#include "site.bpf.h"

#include "kmem_events.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 page_size = 4096; /* set by the tracer */

/* gfp bit 3, ___GFP_MOVABLE on every kernel since 2.6 */
#define GFP_MOVABLE_MASK 0x08u

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_KMEM_MAX_OBJECTS);
    __type(key, __u64);
    __type(value, struct trc_kmem_obj);
} objs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_KMEM_MAX_ROWS);
    __type(key, struct trc_kmem_key);
    __type(value, struct trc_kmem_row);
} rows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, TRC_KMEM_MAX_KSTACKS);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, TRC_KMEM_KSTACK_DEPTH * sizeof(__u64));
} kstacks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct trc_kmem_ucache);
} ucache SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRC_KC_NR);
    __type(key, __u32);
    __type(value, __u64);
} kmem_counters SEC(".maps");

static __always_inline void kcount(__u32 c)
{
    __u64 *v = bpf_map_lookup_elem(&kmem_counters, &c);
    if (v)
        *v += 1; /* per-CPU slot: no other writer */
}

/* The user site of the current kernel entry, cached per thread. */
static __always_inline void user_site(struct task_struct *task, struct trc_site *site)
{
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    __u64 ip = PT_REGS_IP_CORE(regs), sp = PT_REGS_SP_CORE(regs), fp = PT_REGS_FP_CORE(regs);
    struct trc_kmem_ucache *c =
        bpf_task_storage_get(&ucache, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (c && c->valid && c->ip == ip && c->sp == sp && c->fp == fp) {
        *site = c->site;
        return;
    }
    site->caller = 0; /* the walk starts at the user ip itself */
    site->stack_id = walk_stack_id(ip, fp, sp);
    site->pad = 0;
    if (c) {
        c->ip = ip;
        c->sp = sp;
        c->fp = fp;
        c->site = *site;
        c->valid = 1;
    }
}

/* Ends an outstanding object; `own`: freed by the target's own thread. */
static __always_inline void end_object(__u64 addr, int own)
{
    struct trc_kmem_obj *o = bpf_map_lookup_elem(&objs, &addr);
    if (!o)
        return; /* not ours: the common case, machine-wide */
    struct trc_kmem_obj v = *o;
    if (bpf_map_delete_elem(&objs, &addr))
        return; /* another CPU ended it first */
    struct trc_kmem_row *r = bpf_map_lookup_elem(&rows, &v.row);
    if (!r)
        return;
    __sync_fetch_and_add(&r->live_bytes, -v.bytes);
    __sync_fetch_and_add(&r->live_count, -1);
    __sync_fetch_and_add(&r->freed_bytes, v.bytes);
    __sync_fetch_and_add(&r->freed_count, 1);
    if (!own) {
        __sync_fetch_and_add(&r->freed_other_bytes, v.bytes);
        __sync_fetch_and_add(&r->freed_other_count, 1);
    }
}

static __always_inline void on_free(__u64 addr)
{
    if (bench_empty)
        return;
    __u64 id = bpf_get_current_pid_tgid();
    int own = (__u32)(id >> 32) == targ_tgid;
    end_object(addr, own);
    if (own)
        kcount(TRC_KC_FREES_OWN);
}

/* An allocation of `bytes` at addr by the current task (already known to
 * be the target's). cache: the slab cache, NULL for kmalloc and pages. */
static __always_inline void on_alloc(void *ctx, __u64 addr, __u64 bytes, __u32 kind,
                                     const struct kmem_cache *cache)
{
    struct task_struct *task = bpf_get_current_task_btf();
    kcount(TRC_KC_ALLOCS);
    struct trc_kmem_obj o = {.bytes = bytes};
    o.row.kind = kind;
    o.row.kstack_id = bpf_get_stackid(ctx, &kstacks, 0);
    if (o.row.kstack_id < 0)
        kcount(TRC_KC_KSTACK_LOST);
    user_site(task, &o.row.user);
    if (bpf_map_lookup_elem(&objs, &addr)) {
        kcount(TRC_KC_READDED); /* its free was not seen: end the old record */
        end_object(addr, 1);
    }
    struct trc_kmem_row *r = bpf_map_lookup_elem(&rows, &o.row);
    if (!r) {
        struct trc_kmem_row zero = {};
        if (cache)
            bpf_probe_read_kernel_str(zero.cache, sizeof(zero.cache), BPF_CORE_READ(cache, name));
        bpf_map_update_elem(&rows, &o.row, &zero, BPF_NOEXIST);
        r = bpf_map_lookup_elem(&rows, &o.row);
        if (!r) {
            kcount(TRC_KC_ROWS_FULL);
            return;
        }
    }
    if (bpf_map_update_elem(&objs, &addr, &o, BPF_ANY)) {
        kcount(TRC_KC_OBJECTS_FULL);
        return;
    }
    __sync_fetch_and_add(&r->live_bytes, bytes);
    __sync_fetch_and_add(&r->live_count, 1);
    __sync_fetch_and_add(&r->total_bytes, bytes);
    __sync_fetch_and_add(&r->total_count, 1);
}

static __always_inline int is_target(void)
{
    return !bench_empty && (__u32)(bpf_get_current_pid_tgid() >> 32) == targ_tgid;
}

SEC("tp_btf/kmalloc")
int BPF_PROG(la_kmem_kmalloc, unsigned long call_site, const void *ptr, size_t bytes_req,
             size_t bytes_alloc, gfp_t gfp, int node)
{
    if (is_target() && (__u64)ptr >= page_size)
        on_alloc(ctx, (__u64)ptr, bytes_alloc, TRC_KMEM_SLAB, NULL);
    return 0;
}

SEC("tp_btf/kmem_cache_alloc")
int BPF_PROG(la_kmem_cache_alloc, unsigned long call_site, const void *ptr, struct kmem_cache *s,
             gfp_t gfp, int node)
{
    if (is_target() && (__u64)ptr >= page_size)
        on_alloc(ctx, (__u64)ptr, BPF_CORE_READ(s, size), TRC_KMEM_SLAB, s);
    return 0;
}

SEC("tp_btf/mm_page_alloc")
int BPF_PROG(la_kmem_page_alloc, struct page *page, unsigned int order, gfp_t gfp, int migratetype)
{
    if (!is_target() || !page)
        return 0;
    if (gfp & GFP_MOVABLE_MASK) {
        kcount(TRC_KC_PAGES_USER);
        return 0;
    }
    on_alloc(ctx, (__u64)page, page_size << (order & 31), TRC_KMEM_PAGES, NULL);
    return 0;
}

SEC("tp_btf/kfree")
int BPF_PROG(la_kmem_kfree, unsigned long call_site, const void *ptr)
{
    on_free((__u64)ptr);
    return 0;
}

SEC("tp_btf/kmem_cache_free")
int BPF_PROG(la_kmem_cache_free, unsigned long call_site, const void *ptr,
             const struct kmem_cache *s)
{
    on_free((__u64)ptr);
    return 0;
}

SEC("tp_btf/mm_page_free")
int BPF_PROG(la_kmem_page_free, struct page *page, unsigned int order)
{
    on_free((__u64)page);
    return 0;
}

/* A new system call: the cached user stack no longer holds. */
SEC("tp_btf/sys_enter")
int BPF_PROG(la_kmem_sys_enter, struct pt_regs *regs, long id)
{
    if (!is_target())
        return 0;
    struct trc_kmem_ucache *c = bpf_task_storage_get(&ucache, bpf_get_current_task_btf(), 0, 0);
    if (c)
        c->valid = 0;
    return 0;
}
