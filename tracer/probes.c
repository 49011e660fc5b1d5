/*
 * Loading the BPF skeletons and attaching them: the heap programs as
 * uprobes/uretprobes on the allocator entry points found by allocator.c
 * (by file offset, filtered to the target pid), the fd programs on the
 * raw syscall tracepoints (falling back to tp_btf when raw_tp cannot be
 * attached). Everything attached is owned by struct trc_probes and
 * destroyed by trc_probes_close() on every path.
 */
#include "tracer.h"
#include "util.h"

#include "bpf/trace_events.h"

#include "bpf/fds.skel.h"
#include "bpf/heap.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct trc_probes {
    struct heap_bpf *heap;
    struct fds_bpf *fds;
    const struct trc_allocator *alloc;
    int pid;
    /* Allocation-side links (entry + return), toggled in sampled mode. */
    struct bpf_link *alloc_links[2 * TRC_MAX_PROBES];
    size_t n_alloc_links;
    size_t n_alloc_pass[2]; /* links of the first two attach passes: returns, realloc entries */
    int alloc_on;
    struct bpf_link *free_links[TRC_MAX_PROBES];
    size_t n_free_links;
    char describe[PATH_MAX + 256];
};

static void quiet_libbpf(void)
{
    /* libbpf prints its own diagnostics; ours are one line each. */
    libbpf_set_print(NULL);
}

static struct bpf_program *entry_prog(struct heap_bpf *s, int handler)
{
    switch (handler) {
    case TRC_H_SIZE1:
        return s->progs.la_alloc_size1;
    case TRC_H_SIZE2:
        return s->progs.la_alloc_size2;
    case TRC_H_CALLOC:
        return s->progs.la_calloc;
    case TRC_H_REALLOC:
        return s->progs.la_realloc;
    case TRC_H_REALLOCARRAY:
        return s->progs.la_reallocarray;
    case TRC_H_MEMPTR:
        return s->progs.la_posix_memalign;
    default:
        return s->progs.la_free;
    }
}

static struct bpf_link *attach_one(struct bpf_program *prog, int pid,
                                   const struct trc_probe_target *t, int ret, int *err)
{
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret);
    struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, pid, t->path, t->offset, &opts);
    *err = l ? 0 : -errno;
    return l;
}

/*
 * Removing a perf-event uprobe waits for a tracepoint grace period under a
 * kernel-wide mutex (~100 ms each here), so a full detach takes about
 * 0.1 s per probe; docs/attach.md says so. uprobe_multi links (kernel 6.6,
 * libbpf 1.3) would make it one wait; our libbpf is 1.1.
 */
static void destroy_links(struct bpf_link **links, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bpf_link__destroy(links[i]);
        links[i] = NULL;
    }
}

/*
 * Detaches the other entries first, in attach order (malloc's goes first:
 * sampled mode's window ends when the first one starts to go, and a
 * detach takes ~0.1 s per probe), then realloc's entries, then the
 * returns (see trc_probes_set_alloc_side).
 */
static void detach_alloc_side(struct trc_probes *p)
{
    struct bpf_link *order[2 * TRC_MAX_PROBES];
    size_t n = 0, first_other = p->n_alloc_pass[0] + p->n_alloc_pass[1];
    for (size_t i = first_other; i < p->n_alloc_links; i++)
        order[n++] = p->alloc_links[i];
    for (size_t i = first_other; i-- > 0;)
        order[n++] = p->alloc_links[i];
    destroy_links(order, n);
    p->n_alloc_pass[0] = p->n_alloc_pass[1] = 0;
    p->n_alloc_links = 0;
    p->alloc_on = 0;
}

static int is_realloc(int handler)
{
    return handler == TRC_H_REALLOC || handler == TRC_H_REALLOCARRAY;
}

/*
 * The allocation side goes on in an order that never lets a tracked block
 * change hands unseen while only some probes are in: all return probes
 * first (an entry without its return would leave calls pending), then the
 * entries of realloc and reallocarray (which free their old block), then
 * the other entries. Otherwise a block calloc handed out once its probe is
 * in could be moved by a realloc not probed yet, and the address given
 * out again would look like a missed free (seen as `free_missed` under
 * jemalloc, whose realloc always moves a block to a new size class). It
 * comes off entries first (realloc's last), then returns.
 */
int trc_probes_set_alloc_side(struct trc_probes *p, int on)
{
    if (!p->heap || on == p->alloc_on)
        return 0;
    if (!on) {
        detach_alloc_side(p);
        return 0;
    }
    const struct trc_allocator *a = p->alloc;
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < a->n; i++) {
            const struct trc_probe_target *t = &a->t[i];
            if (t->handler == TRC_H_FREE || (pass == 1 && !is_realloc(t->handler)) ||
                (pass == 2 && is_realloc(t->handler)))
                continue;
            int err;
            struct bpf_link *l =
                pass == 0 ? attach_one(p->heap->progs.la_alloc_ret, p->pid, t, 1, &err)
                          : attach_one(entry_prog(p->heap, t->handler), p->pid, t, 0, &err);
            if (!l) {
                detach_alloc_side(p);
                return err;
            }
            p->alloc_links[p->n_alloc_links++] = l;
            if (pass < 2)
                p->n_alloc_pass[pass]++;
        }
    }
    p->alloc_on = 1;
    return 0;
}

static int open_heap(struct trc_probes *p, const struct trc_opts *o, char *err, size_t errlen)
{
    struct heap_bpf *s = heap_bpf__open();
    if (!s) {
        snprintf(err, errlen, "cannot open the heap BPF object: %s", strerror(errno));
        return -errno;
    }
    p->heap = s;
    s->rodata->targ_tgid = (uint32_t)o->pid;
    /* bench/tracer.sh's "traps only" configuration; not a user option. */
    s->rodata->bench_empty = getenv("LEAKAUDIT_TRACER_BENCH_EMPTY") != NULL;
    s->rodata->stack_depth = (uint32_t)o->stack_depth; /* its `stacks` holds the largest depth */
    s->rodata->unwind_dwarf = o->unwind == SNAP_UNWIND_DWARF;
    int rc = o->unwind_tables ? trc_unwind_share(o->unwind_tables, s->maps.unw_rows,
                                                 s->maps.unw_maps, s->maps.unw_meta)
                              : 0;
    if (rc) {
        snprintf(err, errlen, "cannot share the unwind tables: %s", strerror(-rc));
        return rc;
    }
    rc = heap_bpf__load(s);
    if (rc) {
        snprintf(err, errlen, "cannot load the heap BPF programs: %s", strerror(-rc));
        return rc;
    }
    /* The sites that absorb allocations once `sites` is full, one per
     * generation (bpf/heap.bpf.c). */
    struct trc_heap_stats zero = {0};
    for (uint32_t gen = 0; gen < 2; gen++) {
        struct trc_site overflow = {.caller = 0, .stack_id = -1, .pad = gen};
        bpf_map__update_elem(s->maps.sites, &overflow, sizeof(overflow), &zero, sizeof(zero),
                             BPF_NOEXIST);
    }

    /* Frees first: a block allocated while we attach must not be freed
     * unseen. */
    const struct trc_allocator *a = p->alloc;
    for (size_t i = 0; i < a->n; i++) {
        const struct trc_probe_target *t = &a->t[i];
        if (t->handler != TRC_H_FREE)
            continue;
        struct bpf_link *l = attach_one(s->progs.la_free, o->pid, t, 0, &rc);
        if (!l) {
            snprintf(err, errlen, "cannot attach a uprobe to %s in %s: %s", t->name, t->module,
                     strerror(-rc));
            return rc;
        }
        p->free_links[p->n_free_links++] = l;
    }
    rc = trc_probes_set_alloc_side(p, 1);
    if (rc) {
        snprintf(err, errlen, "cannot attach the allocation uprobes in %s: %s", a->module,
                 strerror(-rc));
        return rc;
    }
    return 0;
}

/* The C library's and the loader's text in the target: syscall wrappers
 * there call helpers, and the tracer looks past them for the real caller. */
static void set_skip_ranges(struct fds_bpf *s, int pid)
{
    char p[64], line[PATH_MAX + 256];
    snprintf(p, sizeof(p), "/proc/%d/maps", pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return;
    uint32_t n = 0;
    while (n < TRC_MAX_SKIP_RANGES && fgets(line, sizeof(line), f)) {
        unsigned long start, end;
        char perms[8];
        int at = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &at) < 3 || !at ||
            perms[2] != 'x')
            continue;
        const char *b = strrchr(line + at, '/');
        b = b ? b + 1 : line + at;
        if (strncmp(b, "libc.so", 7) && strncmp(b, "libc-", 5) && strncmp(b, "ld-linux", 8))
            continue;
        struct trc_range r = {start, end};
        bpf_map__update_elem(s->maps.skip_ranges, &n, sizeof(n), &r, sizeof(r), BPF_ANY);
        n++;
    }
    fclose(f);
}

static int open_fds(struct trc_probes *p, const struct trc_opts *o, const char **how, char *err,
                    size_t errlen)
{
    /* raw_tp needs nothing but BPF; tp_btf is the fallback. */
    static const char *const kinds[] = {"raw_tp", "tp_btf"};
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        struct fds_bpf *s = fds_bpf__open();
        if (!s) {
            rc = -errno;
            break;
        }
        s->rodata->targ_tgid = (uint32_t)o->pid;
        s->rodata->stack_depth = (uint32_t)o->stack_depth;
        s->rodata->unwind_dwarf = o->unwind == SNAP_UNWIND_DWARF;
        if (o->unwind_tables && (rc = trc_unwind_share(o->unwind_tables, s->maps.unw_rows,
                                                       s->maps.unw_maps, s->maps.unw_meta))) {
            fds_bpf__destroy(s);
            break;
        }
        bpf_program__set_autoload(s->progs.la_sys_enter, k == 0);
        bpf_program__set_autoload(s->progs.la_sys_exit, k == 0);
        bpf_program__set_autoload(s->progs.la_sys_enter_btf, k == 1);
        bpf_program__set_autoload(s->progs.la_sys_exit_btf, k == 1);
        rc = fds_bpf__load(s);
        if (!rc) {
            set_skip_ranges(s, o->pid);
            rc = fds_bpf__attach(s);
        }
        if (!rc) {
            p->fds = s;
            *how = kinds[k];
            return 0;
        }
        fds_bpf__destroy(s);
    }
    snprintf(err, errlen, "cannot attach the syscall tracepoints (raw_tp, tp_btf): %s",
             strerror(-rc));
    return rc;
}

int trc_probes_open(struct trc_probes **out, const struct trc_opts *o,
                    const struct trc_allocator *a, char *err, size_t errlen)
{
    quiet_libbpf();
    struct trc_probes *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->alloc = a;
    p->pid = o->pid;
    int rc = 0;
    const char *fd_how = "off";
    if (o->heap)
        rc = open_heap(p, o, err, errlen);
    if (!rc && o->fds)
        rc = open_fds(p, o, &fd_how, err, errlen);
    if (rc) {
        trc_probes_close(p);
        return rc;
    }
    if (o->heap)
        snprintf(p->describe, sizeof(p->describe),
                 "heap: %zu uprobes in %s (%s), uretprobes on the allocating ones; fds: %s", a->n,
                 a->module, a->name, fd_how);
    else
        snprintf(p->describe, sizeof(p->describe), "heap: off; fds: %s", fd_how);
    *out = p;
    return 0;
}

void trc_probes_close(struct trc_probes *p)
{
    if (!p)
        return;
    detach_alloc_side(p); /* frees last: no tracked block is freed unseen */
    destroy_links(p->free_links, p->n_free_links);
    p->n_free_links = 0;
    heap_bpf__destroy(p->heap); /* NULL-safe */
    fds_bpf__destroy(p->fds);
    free(p);
}

int trc_probes_heap_fds(const struct trc_probes *p, int *allocs, int *sites, int *stacks)
{
    if (!p->heap)
        return -ENOENT;
    *allocs = bpf_map__fd(p->heap->maps.allocs);
    *sites = bpf_map__fd(p->heap->maps.sites);
    *stacks = bpf_map__fd(p->heap->maps.stacks);
    return 0;
}

volatile uint32_t *trc_probes_heap_gen(const struct trc_probes *p)
{
    return p->heap && p->heap->bss ? (volatile uint32_t *)&p->heap->bss->heap_gen : NULL;
}

int trc_probes_fd_fds(const struct trc_probes *p, int *fds, int *mmaps, int *stacks)
{
    if (!p->fds)
        return -ENOENT;
    *fds = bpf_map__fd(p->fds->maps.fds);
    *mmaps = bpf_map__fd(p->fds->maps.mmaps);
    *stacks = bpf_map__fd(p->fds->maps.stacks);
    return 0;
}

int trc_probes_counter_fds(const struct trc_probes *p, int *heap_counters, int *fd_counters)
{
    *heap_counters = p->heap ? bpf_map__fd(p->heap->maps.counters) : -1;
    *fd_counters = p->fds ? bpf_map__fd(p->fds->maps.counters) : -1;
    return 0;
}

const char *trc_probes_describe(const struct trc_probes *p)
{
    return p->describe;
}

const char *trc_probes_allocator(const struct trc_probes *p)
{
    return p->alloc ? p->alloc->name : "";
}
