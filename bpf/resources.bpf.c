// SPDX-License-Identifier: GPL-2.0
/*
 * Paired C-API resources for `leakaudit attach` (docs/resources.md): one
 * uprobe program for every tracked function's entry and one uretprobe
 * program for the returns of creates, told apart by the attach cookie (the
 * function's index in `funcs`). Outstanding handles live in `objs`,
 * destroyed ones in the LRU map `tombs` (so a later use or a second destroy
 * is recognised while the oldest are forgotten first), totals per (kind,
 * site) in `rows`; use-after-destroy and double-destroy go to the ring
 * buffer `events`. A tracked call made inside another one (a create that
 * calls a create) belongs to the outer call, as in the shim.
 */
#include "site.bpf.h"

#include "res_events.h"

char LICENSE[] SEC("license") = "GPL";

enum { ROLE_CREATE = 1, ROLE_DESTROY = 2, ROLE_REF = 3, ROLE_UNREF = 4, ROLE_USE = 5 };
enum { LOC_RET = 1, LOC_ARG = 2, LOC_DEREF = 3 };
enum { CORR_USE_AFTER_DESTROY = 10, CORR_DOUBLE_DESTROY = 11 };

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TRC_RES_MAX_FUNCS);
    __type(key, __u32);
    __type(value, struct trc_res_func);
} funcs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TRC_RES_MAX_EXCLUDES);
    __type(key, __u32);
    __type(value, struct trc_res_range);
} excludes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_RES_MAX_OBJECTS);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct trc_res_key);
    __type(value, struct trc_res_obj);
} objs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, TRC_RES_MAX_TOMBSTONES);
    __type(key, struct trc_res_key);
    __type(value, struct trc_res_tomb);
} tombs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_RES_MAX_ROWS);
    __type(key, struct trc_res_row_key);
    __type(value, struct trc_res_row);
} rows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_MAX_THREADS);
    __type(key, __u32);
    __type(value, struct trc_res_pending);
} pending SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRC_RC_NR);
    __type(key, __u32);
    __type(value, __u64);
} res_counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, TRC_RES_EVENTS_BYTES);
} events SEC(".maps");

/* Scratch for building an object (too large for the BPF stack with the rest). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct trc_res_obj);
} scratch SEC(".maps");

static __always_inline void rcount(__u32 c)
{
    __u64 *v = bpf_map_lookup_elem(&res_counters, &c);
    if (v)
        *v += 1;
}

/* Argument n of the call. All six are loaded at fixed context offsets
 * first: a load at a computed offset into the context is not allowed. */
static __always_inline __u64 arg_n(struct pt_regs *ctx, __u32 n)
{
    __u64 a0 = PT_REGS_PARM1(ctx), a1 = PT_REGS_PARM2(ctx), a2 = PT_REGS_PARM3(ctx);
    __u64 a3 = PT_REGS_PARM4(ctx), a4 = PT_REGS_PARM5(ctx), a5 = 0;
#if defined(__TARGET_ARCH_x86)
    a5 = ctx->r9;
#elif defined(__TARGET_ARCH_arm64)
    a5 = ctx->regs[5];
#endif
    barrier_var(a0);
    barrier_var(a1);
    barrier_var(a2);
    barrier_var(a3);
    barrier_var(a4);
    barrier_var(a5);
    switch (n) {
    case 0:
        return a0;
    case 1:
        return a1;
    case 2:
        return a2;
    case 3:
        return a3;
    case 4:
        return a4;
    default:
        return a5;
    }
}

static __always_inline __u64 read_ptr(__u64 p)
{
    __u64 v = 0;
    if (p)
        bpf_probe_read_user(&v, sizeof(v), (void *)p);
    return v;
}

static __always_inline int excluded(__u64 caller, __u32 kind)
{
    for (__u32 i = 0; i < TRC_RES_MAX_EXCLUDES; i++) {
        __u32 k = i;
        struct trc_res_range *r = bpf_map_lookup_elem(&excludes, &k);
        if (!r || !r->end)
            break;
        if (caller >= r->start && caller < r->end && (r->kind_mask & (1u << (kind & 31))))
            return 1;
    }
    return 0;
}

static __always_inline void row_add(struct trc_site *site, __u32 kind, int field)
{
    struct trc_res_row_key k = {.site = *site, .kind = kind};
    struct trc_res_row *r = bpf_map_lookup_elem(&rows, &k);
    if (!r) {
        struct trc_res_row zero = {};
        if (bpf_map_update_elem(&rows, &k, &zero, BPF_NOEXIST) &&
            bpf_map_lookup_elem(&rows, &k) == NULL) {
            rcount(TRC_RC_ROWS_FULL);
            return;
        }
        r = bpf_map_lookup_elem(&rows, &k);
        if (!r)
            return;
    }
    if (field == 0)
        __sync_fetch_and_add(&r->created, 1);
    else if (field == 1)
        __sync_fetch_and_add(&r->destroyed, 1);
    else if (field == 2)
        __sync_fetch_and_add(&r->refs, 1);
    else
        __sync_fetch_and_add(&r->unrefs, 1);
}

static __always_inline void report(__u32 kind, __u32 fn, __u64 handle, struct trc_res_tomb *t,
                                   struct trc_site *access)
{
    struct trc_res_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        rcount(TRC_RC_EVENTS_DROPPED);
        return;
    }
    e->kind = kind;
    e->fn = fn;
    e->destroy_fn = t->destroy_fn;
    e->tid = (__u32)bpf_get_current_pid_tgid();
    e->handle = handle;
    e->time_ns = bpf_ktime_get_ns();
    e->create = t->create;
    e->destroy = t->destroy;
    e->access = *access;
    bpf_ringbuf_submit(e, 0);
}

/* A destroyed handle seen again: reported once per tombstone and kind. */
static __always_inline int check_tomb(struct trc_res_key *k, __u32 fn, int destroy,
                                      struct trc_site *site)
{
    struct trc_res_tomb *t = bpf_map_lookup_elem(&tombs, k);
    if (!t)
        return 0;
    __u32 bit = destroy ? 2 : 1;
    if (!(t->reported & bit)) {
        t->reported |= bit;
        report(destroy ? CORR_DOUBLE_DESTROY : CORR_USE_AFTER_DESTROY, fn, k->handle, t, site);
    }
    return 1;
}

static __always_inline void do_destroy(struct trc_res_key *k, __u32 fn, struct trc_site *site)
{
    struct trc_res_obj *o = bpf_map_lookup_elem(&objs, k);
    if (!o) {
        if (!check_tomb(k, fn, 1, site))
            rcount(TRC_RC_DESTROY_UNKNOWN);
        return;
    }
    struct trc_site row = o->row;
    __u8 created = o->created;
    struct trc_res_tomb t = {.create = o->create, .destroy = *site, .destroy_fn = fn};
    if (bpf_map_delete_elem(&objs, k))
        return; /* a racing destroy got it first */
    row_add(&row, k->kind, 1);
    if (created)
        bpf_map_update_elem(&tombs, k, &t, BPF_ANY);
}

static __always_inline void do_create(struct trc_res_key *k, struct trc_site *site)
{
    __u32 zero = 0;
    struct trc_res_obj *o = bpf_map_lookup_elem(&scratch, &zero);
    if (!o)
        return;
    __builtin_memset(o, 0, sizeof(*o));
    o->row = *site;
    o->create = *site;
    o->count = 1;
    o->created = 1;
    o->created_ns = bpf_ktime_get_ns();
    bpf_map_delete_elem(&tombs, k); /* the address is a new handle now */
    if (bpf_map_update_elem(&objs, k, o, BPF_ANY)) {
        rcount(TRC_RC_OBJECTS_FULL);
        return;
    }
    row_add(site, k->kind, 0);
}

static __always_inline void do_ref(struct trc_res_key *k, __u32 fn, struct trc_site *site,
                                   int delta)
{
    if (check_tomb(k, fn, 0, site))
        return;
    struct trc_res_obj *o = bpf_map_lookup_elem(&objs, k);
    if (delta < 0) {
        if (!o)
            return; /* the unref of a reference taken before we looked */
        row_add(&o->row, k->kind, 3);
        if (o->ref_n) {
            o->ref_top = (o->ref_top + TRC_RES_REF_SITES - 1) % TRC_RES_REF_SITES;
            o->ref_n--;
        }
        if (--o->count > 0)
            return;
        if (o->created) {
            do_destroy(k, fn, site);
            return;
        }
        bpf_map_delete_elem(&objs, k);
        return;
    }
    if (!o) {
        __u32 zero = 0;
        struct trc_res_obj *n = bpf_map_lookup_elem(&scratch, &zero);
        if (!n)
            return;
        __builtin_memset(n, 0, sizeof(*n));
        n->row = *site;
        n->created_ns = bpf_ktime_get_ns();
        if (bpf_map_update_elem(&objs, k, n, BPF_NOEXIST) && !bpf_map_lookup_elem(&objs, k)) {
            rcount(TRC_RC_OBJECTS_FULL);
            return;
        }
        o = bpf_map_lookup_elem(&objs, k);
        if (!o)
            return;
    }
    o->count++;
    __u32 top = o->ref_top % TRC_RES_REF_SITES;
    o->refs[top] = *site;
    o->ref_top = (top + 1) % TRC_RES_REF_SITES;
    if (o->ref_n < TRC_RES_REF_SITES)
        o->ref_n++;
    row_add(&o->row, k->kind, 2);
}

SEC("uprobe")
int BPF_KPROBE(la_res_entry)
{
    __u32 tid = target_tid();
    if (!tid)
        return 0;
    __u32 fn = (__u32)bpf_get_attach_cookie(ctx);
    struct trc_res_func *f = bpf_map_lookup_elem(&funcs, &fn);
    if (!f || !f->role)
        return 0;
    rcount(TRC_RC_CALLS);
    __u64 sp = PT_REGS_SP(ctx), now = bpf_ktime_get_ns();
    struct trc_res_pending *p = bpf_map_lookup_elem(&pending, &tid);
    if (p && p->sp > sp && now - p->ts < TRC_PENDING_STALE_NS) {
        rcount(TRC_RC_NESTED); /* inside another tracked create */
        return 0;
    }
    struct trc_site site = {};
    arch_entry_caller(ctx, sp, &site.caller);
    if (excluded(site.caller, f->kind)) {
        rcount(TRC_RC_EXCLUDED);
        return 0;
    }
    int returns = f->role == ROLE_CREATE || (f->role == ROLE_REF && f->loc == LOC_RET);
    if (returns) {
        struct trc_res_pending np = {.sp = sp, .ts = now, .fn = fn};
        if (f->loc == LOC_DEREF) {
            np.argptr = arg_n(ctx, f->arg);
            np.before = read_ptr(np.argptr);
        }
        np.site.caller = site.caller;
        np.site.stack_id = walk_stack_id(PT_REGS_IP(ctx), PT_REGS_FP(ctx), PT_REGS_SP(ctx));
        if (bpf_map_update_elem(&pending, &tid, &np, BPF_ANY))
            rcount(TRC_RC_PENDING_FULL);
        return 0;
    }
    __u64 h = arg_n(ctx, f->arg);
    if (f->loc == LOC_DEREF)
        h = read_ptr(h);
    if (!h)
        return 0;
    site.stack_id = walk_stack_id(PT_REGS_IP(ctx), PT_REGS_FP(ctx), PT_REGS_SP(ctx));
    struct trc_res_key k = {.handle = h, .kind = f->kind};
    switch (f->role) {
    case ROLE_DESTROY:
        do_destroy(&k, fn, &site);
        break;
    case ROLE_REF:
        do_ref(&k, fn, &site, 1);
        break;
    case ROLE_UNREF:
        do_ref(&k, fn, &site, -1);
        break;
    default:
        check_tomb(&k, fn, 0, &site);
        break;
    }
    return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(la_res_return, __u64 rv)
{
    __u32 tid = target_tid();
    if (!tid)
        return 0;
    struct trc_res_pending *p = bpf_map_lookup_elem(&pending, &tid);
    /* the return of the call that made the pending entry: sp is back where
     * its caller had it */
    if (!p || PT_REGS_SP(ctx) != ARCH_SP_AT_RETURN(p->sp))
        return 0;
    struct trc_res_pending c = *p;
    bpf_map_delete_elem(&pending, &tid);
    struct trc_res_func *f = bpf_map_lookup_elem(&funcs, &c.fn);
    if (!f)
        return 0;
    __u64 h = rv;
    if (f->loc == LOC_DEREF) {
        h = read_ptr(c.argptr);
        if (h == c.before)
            return 0; /* not written: the call failed */
    }
    if (!h)
        return 0;
    struct trc_res_key k = {.handle = h, .kind = f->kind};
    if (f->role == ROLE_CREATE)
        do_create(&k, &c.site);
    else
        do_ref(&k, c.fn, &c.site, 1);
    return 0;
}
