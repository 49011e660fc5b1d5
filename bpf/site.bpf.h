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

#include "arch.bpf.h"
#include "trace_events.h"
#include "unwind_table.h"

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

/* Stacks taken by walk_stack_id() below: id -> return addresses at the
 * largest depth, zero-padded (the layout of the kernel's stack-trace map,
 * so user space reads it the same way). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC); /* new stacks are rare: memory follows them */
    __uint(max_entries, TRC_MAX_STACK_IDS);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, TRC_MAX_STACK_DEPTH * sizeof(__u64));
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

/*
 * Stacks: our own walk, on every tracked call (allocations, fd syscalls,
 * resource calls). Two ways, chosen before load (`attach -u`):
 *
 * Unwind tables (unwind_dwarf, the default). Each frame's row comes from the
 * target module's call-frame information, compiled by the tracer
 * (common/unwind_table.h) into unw_rows, with unw_maps saying which rows
 * belong to which executable mapping: a binary search for the mapping,
 * one for the row, both skipped when the per-CPU pc -> row cache has the
 * address. A row gives the CFA (the caller's stack pointer) and where the
 * return address and the caller's frame pointer were saved; a frame in a
 * module without call-frame information (or in a gap of it) follows the
 * frame pointer. Every new return address must lie in a known executable
 * mapping, else the stack ends there and unwind_bad_frame counts it: no
 * stack word is ever passed on as a frame. A module the tracer has not
 * loaded yet (dlopen'ed after the attach) ends stacks the same way until it
 * does; the count tells the tracer to look at /proc/PID/maps again.
 *
 * Frame pointers (`-u fp`). bpf_get_stackid() follows the chain until a
 * read fails, and the chain of a main thread ends in glibc's
 * __libc_start_call_main, whose %rbp is not a frame pointer (it holds 1
 * there): every walk ended in a faulting user read, ~0.6 us of a ~1 us
 * program on our machines. Here a frame must lie above the previous one
 * and be 8-byte aligned, which stops at such garbage without touching it.
 *
 * In both, return addresses that a pending uretprobe replaced with the
 * kernel's trampoline are put back from the thread's return instances, as
 * the kernel's own walk does. x86-64 only for now (the first frame's
 * return address is on the stack, not in a link register).
 */
const volatile __u32 stack_depth = TRC_DEFAULT_STACK_DEPTH; /* set by the tracer */
const volatile __u32 unwind_dwarf = 0;                      /* set by the tracer */

struct trc_walk {
    __u64 ips[TRC_MAX_STACK_DEPTH]; /* what `stacks` stores */
    /* Frames in ips. Kept here, in map memory, not in the walk's context on
     * the stack: the verifier does not follow values through map memory,
     * so comparing it after the walk does not make it precise inside the
     * bpf_loop callbacks, which are then checked once, not once per frame. */
    __u64 n;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct trc_walk);
} walk_buf SEC(".maps");

/* The unwind tables: created once by tracer/unwind.c and shared by every
 * BPF object (their fds replace these definitions before load). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct unw_row);
} unw_rows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, 2 * TRC_UNW_MAX_MAPPINGS);
    __type(key, __u32);
    __type(value, struct trc_unw_mapping);
} unw_maps SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct trc_unw_meta);
} unw_meta SEC(".maps");

/* Direct-mapped, per CPU: lookup address -> what unw_find() found. An entry
 * of an older generation of the mappings is a miss. */
struct unw_cache_slot {
    __u64 lookup;
    __u32 gen, kind;
    struct unw_row row;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRC_UNW_ROW_CACHE);
    __type(key, __u32);
    __type(value, struct unw_cache_slot);
} unw_row_cache SEC(".maps");

struct walk_ctx {
    struct trc_walk *w;
    struct return_instance *ri; /* pending uretprobes of this thread, innermost first */
    __u64 ip, fp, sp, low, h, tramp;
    struct unw_row row;               /* tables: the current frame's row (kind TRC_UNW_BY_ROW) */
    __u32 kind, gen, map_base, map_n; /* kind: enum trc_unw_kind, or TRC_UNW_FIRST */
};

#define TRC_UNW_FIRST 3 /* walk_ctx.kind before the first frame's row is known */

static __always_inline __u64 walk_mix(__u64 h, __u64 v)
{
    h ^= v;
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* A return address a uretprobe took: the real one is in the thread's
 * return instances (chained ones share a frame). */
static __always_inline __u64 walk_unretprobe(struct walk_ctx *c, __u64 ret)
{
    if (!c->ri || ret != c->tramp)
        return ret;
    struct return_instance *ri = c->ri;
    for (int k = 0; k < 4 && ri && BPF_CORE_READ(ri, chained); k++)
        ri = BPF_CORE_READ(ri, next);
    if (ri) {
        ret = BPF_CORE_READ(ri, orig_ret_vaddr);
        ri = BPF_CORE_READ(ri, next);
    }
    c->ri = ri;
    return ret;
}

/* Appends a frame (0: go on). The walks take at most
 * stack_depth - 1 < TRC_MAX_STACK_DEPTH steps after ips[0], so k never
 * wraps: the mask only tells the verifier so. Comparing k instead would
 * make it precise, and the verifier would check the bpf_loop callbacks once
 * per value of k (once per frame) instead of once. */
static __always_inline int walk_record(struct walk_ctx *c, __u64 ret)
{
    __u32 k = c->w->n & (TRC_MAX_STACK_DEPTH - 1);
    c->w->ips[k] = ret;
    c->w->n = k + 1;
    c->h = walk_mix(c->h, ret);
    return 0;
}

/* One frame-pointer frame: bpf_loop callback, so the verifier checks it once. */
static long walk_frame(__u64 i, void *arg)
{
    struct walk_ctx *c = arg;
    if (c->fp < c->low || (c->fp & 7))
        return 1;
    __u64 fr[2];
    if (bpf_probe_read_user(fr, sizeof(fr), (void *)c->fp) || !fr[1])
        return 1;
    __u64 ret = walk_unretprobe(c, fr[1]);
    c->low = c->fp + sizeof(fr);
    c->fp = fr[0];
    return walk_record(c, ret);
}

/* half when a <= b, else 0, without a branch: both are below 2^63 (user
 * addresses, module-relative pcs). A branch here would make the verifier
 * walk both sides of every search step (2^steps paths); the barrier keeps
 * clang from turning the mask back into one. */
static __always_inline __u32 step_if_le(__u64 a, __u64 b, __u32 half)
{
    __s64 d = (__s64)(b - a);
    asm volatile("" : "+r"(d));
    __s64 mask = d >> 63; /* -1 when b < a */
    asm volatile("" : "+r"(mask));
    return half & ~(__u32)mask;
}

/*
 * The row covering lookup (a return address minus 1, or an exact pc), into
 * *row: TRC_UNW_BY_ROW; the frame-pointer rule: TRC_UNW_BY_FP; no known
 * executable mapping: TRC_UNW_OUTSIDE. Both searches find the last entry
 * starting at or below the address, in a fixed number of branch-free steps
 * (half is 0 once one entry is left): no exit depends on the data. A global
 * function, so the verifier checks it once per program, not once for every
 * state of its callers.
 */
__noinline __u32 unw_search(__u64 lookup, __u32 map_base, __u32 map_n, struct unw_row *row)
{
    __u32 base = map_base, len = map_n, key;
    if (!row || !len || len > TRC_UNW_MAX_MAPPINGS)
        return TRC_UNW_OUTSIDE;
#pragma clang loop unroll(full)
    for (int i = 0; i < TRC_UNW_MAP_STEPS; i++) {
        __u32 half = len / 2;
        key = base + half;
        struct trc_unw_mapping *m = bpf_map_lookup_elem(&unw_maps, &key);
        if (!m)
            return TRC_UNW_OUTSIDE;
        base += step_if_le(m->start, lookup, half);
        len -= half;
    }
    struct trc_unw_mapping *m = bpf_map_lookup_elem(&unw_maps, &base);
    if (!m || lookup < m->start || lookup >= m->end)
        return TRC_UNW_OUTSIDE;
    __u64 rel = lookup - m->bias;
    base = m->first_row;
    len = m->n_rows;
    if (!len || rel > 0xffffffffull)
        return TRC_UNW_BY_FP;
#pragma clang loop unroll(full)
    for (int i = 0; i < TRC_UNW_ROW_STEPS; i++) {
        __u32 half = len / 2;
        key = base + half;
        struct unw_row *r = bpf_map_lookup_elem(&unw_rows, &key);
        if (!r)
            return TRC_UNW_BY_FP;
        base += step_if_le(r->pc, rel, half);
        len -= half;
    }
    struct unw_row *r = bpf_map_lookup_elem(&unw_rows, &base);
    if (!r || r->pc > rel || r->cfa == UNW_CFA_NONE || r->cfa == UNW_CFA_UNSUPPORTED)
        return TRC_UNW_BY_FP;
    *row = *r;
    return TRC_UNW_BY_ROW;
}

/* unw_search() behind the per-CPU row cache; the row goes to c->row. A
 * lookup outside every mapping is not cached: a dlopen may map it later. */
static __always_inline __u32 unw_find(struct walk_ctx *c, __u64 lookup)
{
    __u32 slot = (__u32)((lookup * 0x9e3779b97f4a7c15ull) >> 40) & (TRC_UNW_ROW_CACHE - 1);
    struct unw_cache_slot *s = bpf_map_lookup_elem(&unw_row_cache, &slot);
    if (s && s->lookup == lookup && s->gen == c->gen) {
        c->row = s->row;
        return s->kind;
    }
    __u32 kind = unw_search(lookup, c->map_base, c->map_n, &c->row);
    if (s && kind != TRC_UNW_OUTSIDE) {
        s->lookup = lookup;
        s->gen = c->gen;
        s->kind = kind;
        s->row = c->row;
    }
    return kind;
}

/* One frame with the tables (bpf_loop callback): the caller's registers from
 * the current frame's row, then the caller's row, which also validates its
 * return address. */
static long unw_frame(__u64 i, void *arg)
{
    struct walk_ctx *c = arg;
    __u64 cfa, ret, fp = c->fp, sp;
    int exact = 0;
    if (c->kind == TRC_UNW_FIRST) {
        /* the probed instruction (or the one after a syscall): its own
         * row, looked up here rather than in the program, which would
         * otherwise carry every outcome of the lookup into its own code */
        ret = c->ip;
        sp = c->sp;
        exact = 1;
    } else if (c->kind == TRC_UNW_BY_ROW) {
        __u8 rule = c->row.cfa, flags = c->row.flags;
        __s64 off = c->row.cfa_off;
        if (rule == UNW_CFA_END)
            return 1; /* the outermost frame: a clean end */
        if (flags & UNW_ROW_SIGNAL) {
            /* a signal trampoline: the interrupted registers are in the
             * ucontext at SP (rbp ... rsp, rip are consecutive there) */
            __u64 g[7];
            if (bpf_probe_read_user(g, sizeof(g), (void *)(c->sp + UNW_X86_UC_RBP)))
                return 1;
            fp = g[0];
            sp = g[(UNW_X86_UC_RSP - UNW_X86_UC_RBP) / 8];
            ret = g[(UNW_X86_UC_RIP - UNW_X86_UC_RBP) / 8];
            exact = 1;
        } else {
            if (rule == UNW_CFA_SP || rule == UNW_CFA_DEREF_SP)
                cfa = c->sp + off;
            else
                cfa = c->fp + off;
            if ((rule == UNW_CFA_DEREF_SP || rule == UNW_CFA_DEREF_FP) &&
                bpf_probe_read_user(&cfa, sizeof(cfa), (void *)cfa))
                return 1;
            if (cfa <= c->sp || (flags & UNW_ROW_RA_IN_LR))
                return 1; /* the caller's frame lies above ours, never below */
            __s64 ra_off = c->row.ra_off, fp_off = c->row.fp_off;
            if ((flags & UNW_ROW_FP_SAVED) && fp_off == ra_off - 8) {
                __u64 fr[2]; /* the usual push %rbp frame: one read */
                if (bpf_probe_read_user(fr, sizeof(fr), (void *)(cfa + fp_off)))
                    return 1;
                fp = fr[0];
                ret = fr[1];
            } else {
                if (bpf_probe_read_user(&ret, sizeof(ret), (void *)(cfa + ra_off)))
                    return 1;
                if ((flags & UNW_ROW_FP_SAVED) &&
                    bpf_probe_read_user(&fp, sizeof(fp), (void *)(cfa + fp_off)))
                    return 1;
            }
            sp = cfa;
        }
    } else {
        /* no row: the frame-pointer chain, FP -> {saved FP, RA} */
        __u64 fr[2];
        if (c->fp < c->sp || (c->fp & 7) || bpf_probe_read_user(fr, sizeof(fr), (void *)c->fp))
            return 1;
        count(TRC_C_UNWIND_FP_FRAMES, 1);
        fp = fr[0];
        ret = fr[1];
        sp = c->fp + sizeof(fr);
    }
    ret = walk_unretprobe(c, ret);
    if (!ret)
        return 1;
    __u32 kind = unw_find(c, exact ? ret : ret - 1);
    if (kind == TRC_UNW_OUTSIDE) {
        count(TRC_C_UNWIND_BAD_FRAME, 1);
        return 1;
    }
    int first = c->kind == TRC_UNW_FIRST;
    c->kind = kind;
    c->sp = sp;
    c->fp = fp;
    return first ? 0 : walk_record(c, ret); /* ips[0] is the ip already */
}

/* ip, frame pointer and stack pointer of the user context to walk: the
 * stack's id in `stacks` (ips[0] = ip), or -1 (counted). */
__noinline __s32 walk_stack_id(__u64 ip, __u64 fp, __u64 sp)
{
    __u32 zero = 0;
    struct trc_walk *w = bpf_map_lookup_elem(&walk_buf, &zero);
    if (!w)
        return -1;
    w->ips[0] = ip;
    w->n = 1;
    struct walk_ctx c = {.w = w, .fp = fp, .sp = sp, .low = sp, .h = walk_mix(0, ip)};
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    c.ri = BPF_CORE_READ(task, utask, return_instances);
    if (c.ri) /* else nothing is pending in this thread: the common case */
        c.tramp = BPF_CORE_READ(task, mm, uprobes_state.xol_area, vaddr);
    if (unwind_dwarf) {
        struct trc_unw_meta *meta = bpf_map_lookup_elem(&unw_meta, &zero);
        if (meta) {
            __u32 half = meta->active & 1;
            c.gen = meta->gen;
            c.map_base = half * TRC_UNW_MAX_MAPPINGS;
            c.map_n = meta->n[half];
            if (c.map_n > TRC_UNW_MAX_MAPPINGS)
                c.map_n = TRC_UNW_MAX_MAPPINGS;
        }
        c.ip = ip;
        c.kind = TRC_UNW_FIRST; /* one more step: the first finds ip's row */
        bpf_loop(stack_depth, unw_frame, &c, 0);
    } else if (stack_depth > 1) {
        bpf_loop(stack_depth - 1, walk_frame, &c, 0);
    }
    __u32 n = (__u32)w->n;
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
