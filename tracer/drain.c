/*
 * Reading the BPF maps into snapshot records. Runs only at snapshot time
 * (and for the once-a-second status line): the kernel side aggregates per
 * site, so this is a walk over at most a few tens of thousands of entries.
 *
 * Stacks: a BPF site is (immediate caller, frame-pointer stack id). The
 * stack map's frame 0 is the ip inside the probed function and its frame 1
 * is already the caller's caller (the probed function has not pushed a
 * frame yet), so a site's frames are the caller followed by frames 1.. of
 * the walk. They are interned in one common/stacktable so that ids are
 * stable across the snapshots of a series; a small cache maps each BPF
 * site to its interned id so stack maps are read once per site.
 *
 * fds are reconciled with /proc/PID/fd: fds open there that the tracer did
 * not see created are `unattributed`, tracked fds no longer open were
 * closed by a path it missed; both are counted.
 */
#include "tracer.h"
#include "fdscan.h"
#include "procfs.h"
#include "util.h"

#include "bpf/trace_events.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DRAIN_MAX_STACKS (1u << 17)
#define SITE_CACHE_SLOTS (1u << 18)
#define MAX_MAP_LINES    8192

enum { SRC_HEAP = 1, SRC_FDS = 2, SRC_RES = 3, SRC_KMEM = 4 };

struct site_slot {
    uint64_t caller;
    int32_t stack_id;
    uint16_t src; /* 0: empty */
    uint16_t pad;
    uint32_t id;
};

/* Totals of a stack's heap site entries deleted from `sites` while the stack
 * stays in the table (folded into the retired-stacks row when it leaves). */
struct folded {
    uint64_t total_bytes, total_count, freed_bytes, freed_count;
};

struct map_line {
    uint64_t start, end;
    int exec;
    char path[256];
};

/* Loss counters: BPF counter index -> snapshot loss name. */
static const struct {
    int idx;
    enum snap_loss_id id;
} bpf_losses[] = {
    {TRC_C_FREE_UNKNOWN, SNAP_LOSS_FREE_UNKNOWN},
    {TRC_C_FREE_MISSED, SNAP_LOSS_FREE_MISSED},
    {TRC_C_ALLOCS_FULL, SNAP_LOSS_ALLOCS_MAP_FULL},
    {TRC_C_SITES_FULL, SNAP_LOSS_SITES_MAP_FULL},
    {TRC_C_STACK_COLLISION, SNAP_LOSS_STACK_COLLISION},
    {TRC_C_STACK_FULL, SNAP_LOSS_STACK_MAP_FULL},
    {TRC_C_STACK_FAULT, SNAP_LOSS_STACK_WALK_FAILED},
    {TRC_C_CALLER_UNREADABLE, SNAP_LOSS_CALLER_UNKNOWN},
    {TRC_C_PENDING_FULL, SNAP_LOSS_PENDING_MAP_FULL},
    {TRC_C_PENDING_STALE, SNAP_LOSS_PENDING_STALE},
    {TRC_C_FDS_FULL, SNAP_LOSS_FDS_MAP_FULL},
    {TRC_C_MMAPS_FULL, SNAP_LOSS_MMAPS_MAP_FULL},
    {TRC_C_MUNMAP_PARTIAL, SNAP_LOSS_MUNMAP_PARTIAL},
    {TRC_C_SCM_TRUNCATED, SNAP_LOSS_SCM_RIGHTS_TRUNCATED},
    {TRC_C_RECVMMSG, SNAP_LOSS_RECVMMSG_UNPARSED},
    {TRC_C_UNWIND_BAD_FRAME, SNAP_LOSS_UNWIND_BAD_FRAME},
    {TRC_C_UNWIND_FP_FRAMES, SNAP_LOSS_UNWIND_FP_FRAMES},
};

/* Counted on the user side, at each collection. */
static const enum snap_loss_id user_loss_ids[] = {
    SNAP_LOSS_FD_UNATTRIBUTED,      SNAP_LOSS_FD_CLOSED_UNSEEN,
    SNAP_LOSS_MMAP_UNMAPPED_UNSEEN, SNAP_LOSS_MMAP_BY_ALLOCATOR_OR_LOADER,
    SNAP_LOSS_STACK_TABLE_FULL,     SNAP_LOSS_SITE_CACHE_FULL,
    SNAP_LOSS_STACKS_RETIRED,       SNAP_LOSS_STACKS_IN_TABLE,
    SNAP_LOSS_TRACER_SITES,         SNAP_LOSS_UNWIND_MODULES_WITHOUT_CFI,
    SNAP_LOSS_UNWIND_ROWS_FULL,     SNAP_LOSS_REACH_SKIPPED,
};

struct trc_drain {
    struct trc_probes *probes;
    const struct trc_opts *opts;
    int ncpu;
    uint64_t *percpu;
    uint64_t counters[TRC_NR_COUNTERS];
    uint64_t user_losses[SNAP_LOSS_COUNT]; /* index: snap_loss_id */
    double scale; /* sampled mode: 1 / fraction of time the allocation side was probed */

    struct stk_table stacks;
    void *stack_mem;
    size_t stack_mem_len;
    struct site_slot *cache;
    uint64_t *frame_buf;

    struct snap_heap_entry *heap_by_id; /* index: interned stack id */
    struct snap_heap_entry *heap;
    size_t n_heap;

    /* Idle stacks leaving the tables (docs/attach.md#stacks-that-leave). */
    struct folded *folded;          /* index: interned stack id */
    uint64_t *used;                 /* bit per id: resolved since the previous sweep */
    struct snap_heap_entry retired; /* totals of the stacks released so far */
    uint32_t sweeps;
    int cache_stale;         /* an id was released or a BPF stack deleted: wipe the cache */
    struct trc_site *doomed; /* `sites` keys to delete after the walk */
    int32_t *named;          /* BPF stack ids the sites name, sorted */
    int32_t *unnamed, *next; /* BPF stack ids named by no site at the last walk, sorted */
    size_t n_doomed, n_named, n_unnamed;

    struct trc_fd_row *fds;
    size_t n_fds, cap_fds;
    struct trc_mmap_row *mmaps;
    size_t n_mmaps, cap_mmaps;
    /* mappings missing from /proc/PID/maps at the previous collection: a
     * munmap whose system call had not returned yet is missing once */
    uint64_t *gone, *gone_next;
    size_t n_gone, cap_gone, n_gone_next, cap_gone_next;
    struct trc_loss_row losses[sizeof(bpf_losses) / sizeof(bpf_losses[0]) +
                               sizeof(user_loss_ids) / sizeof(user_loss_ids[0])];
    size_t n_losses;

    struct map_line *lines;
    size_t n_lines;
    uint64_t fp_bad_frames; /* -u fp: stacks cut at a frame in no executable mapping */
    char alloc_module[PATH_MAX];
};

int trc_drain_new(struct trc_drain **out, struct trc_probes *p, const struct trc_opts *o)
{
    struct trc_drain *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->probes = p;
    d->opts = o;
    d->scale = 1.0;
    d->ncpu = libbpf_num_possible_cpus();
    d->percpu = calloc(d->ncpu > 0 ? (size_t)d->ncpu : 1, sizeof(uint64_t));
    d->stack_mem_len = stk_table_memsize(DRAIN_MAX_STACKS, TRC_MAX_STACK_DEPTH);
    d->stack_mem = mmap(NULL, d->stack_mem_len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    d->cache = calloc(SITE_CACHE_SLOTS, sizeof(*d->cache));
    d->frame_buf = calloc(TRC_MAX_STACK_DEPTH + 1, sizeof(uint64_t));
    d->heap_by_id = calloc(DRAIN_MAX_STACKS + 1, sizeof(*d->heap_by_id));
    d->heap = calloc(DRAIN_MAX_STACKS + 2, sizeof(*d->heap)); /* + no stack + retired */
    d->folded = calloc(DRAIN_MAX_STACKS + 1, sizeof(*d->folded));
    d->used = calloc(DRAIN_MAX_STACKS / 64 + 1, sizeof(*d->used));
    d->doomed = calloc(TRC_MAX_HEAP_STACKS, sizeof(*d->doomed));
    d->named = calloc(TRC_MAX_HEAP_STACKS, sizeof(*d->named));
    d->unnamed = calloc(TRC_MAX_STACK_IDS, sizeof(*d->unnamed));
    d->next = calloc(TRC_MAX_STACK_IDS, sizeof(*d->next));
    d->lines = calloc(MAX_MAP_LINES, sizeof(*d->lines));
    if (d->ncpu <= 0 || !d->percpu || d->stack_mem == MAP_FAILED || !d->cache || !d->frame_buf ||
        !d->heap_by_id || !d->heap || !d->lines || !d->folded || !d->used || !d->doomed ||
        !d->named || !d->unnamed || !d->next) {
        if (d->stack_mem == MAP_FAILED)
            d->stack_mem = NULL;
        trc_drain_free(d);
        return -ENOMEM;
    }
    stk_table_init(&d->stacks, d->stack_mem, DRAIN_MAX_STACKS, TRC_MAX_STACK_DEPTH);
    *out = d;
    return 0;
}

void trc_drain_free(struct trc_drain *d)
{
    if (!d)
        return;
    if (d->stack_mem)
        munmap(d->stack_mem, d->stack_mem_len);
    free(d->percpu);
    free(d->cache);
    free(d->frame_buf);
    free(d->heap_by_id);
    free(d->heap);
    free(d->folded);
    free(d->used);
    free(d->doomed);
    free(d->named);
    free(d->unnamed);
    free(d->next);
    free(d->fds);
    free(d->mmaps);
    free(d->gone);
    free(d->gone_next);
    free(d->lines);
    free(d);
}

void trc_drain_attach_probes(struct trc_drain *d, struct trc_probes *p)
{
    d->probes = p;
}

void trc_drain_set_scale(struct trc_drain *d, double scale)
{
    d->scale = scale;
}

void trc_drain_set_allocator(struct trc_drain *d, const char *module)
{
    util_strlcpy(d->alloc_module, module, sizeof(d->alloc_module));
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static const struct map_line *line_of(const struct trc_drain *d, uint64_t addr);

/*
 * A frame-pointer walk (-u fp) takes any stack word its chain leads to; a
 * frame outside every executable mapping of the target ends the stack here
 * (counted as unwind_bad_frame, once per distinct stack). The unwind-table
 * walk has checked its frames in the kernel already. Without the target's
 * mappings (it exited) frames are kept as they are.
 */
static int frame_ok(const struct trc_drain *d, uint64_t pc)
{
    if (d->opts->unwind == SNAP_UNWIND_DWARF || !d->n_lines)
        return 1;
    const struct map_line *l = line_of(d, pc - 1);
    return l && l->exec;
}

static uint32_t mark_used(struct trc_drain *d, uint32_t id)
{
    d->used[id / 64] |= 1ull << (id % 64);
    return id;
}

/* The interned stack id of a BPF site (SNAP_STACK_NONE if it has no frames). */
static uint32_t site_id(struct trc_drain *d, int src, int stack_map, const struct trc_site *s)
{
    if (!s->caller && s->stack_id < 0)
        return SNAP_STACK_NONE;
    uint64_t h = mix(s->caller ^ mix((uint64_t)(uint32_t)s->stack_id << 8 | (uint64_t)src));
    struct site_slot *slot = NULL;
    for (uint32_t i = 0; i < SITE_CACHE_SLOTS; i++) {
        struct site_slot *c = &d->cache[(h + i) & (SITE_CACHE_SLOTS - 1)];
        if (!c->src) {
            slot = c;
            break;
        }
        if (c->src == src && c->caller == s->caller && c->stack_id == s->stack_id)
            return mark_used(d, c->id);
    }
    uint64_t *f = d->frame_buf;
    uint32_t depth = d->opts->stack_depth, n = 0;
    if (s->caller)
        f[n++] = s->caller;
    uint64_t walk[TRC_MAX_STACK_DEPTH] = {0};
    if (s->stack_id >= 0 && bpf_map_lookup_elem(stack_map, &s->stack_id, walk) == 0) {
        uint32_t i = 1;
        /* A probed function that did push a frame shows the caller again.
         * An unwind-table walk has every frame, the C library's own too
         * (fopen -> __open): the stack goes on after the caller. */
        uint32_t look = d->opts->unwind == SNAP_UNWIND_DWARF ? TRC_MAX_STACK_DEPTH : 2;
        for (uint32_t k = 1; s->caller && k < look && walk[k]; k++)
            if (walk[k] == s->caller) {
                i = k + 1;
                break;
            }
        if (!s->caller && walk[0]) /* no caller: keep the probed ip, better than nothing */
            f[n++] = walk[0];
        for (; i < depth && walk[i] && n < depth; i++) {
            if (!frame_ok(d, walk[i])) {
                d->fp_bad_frames++;
                break;
            }
            f[n++] = walk[i];
        }
    }
    uint32_t id = n ? stk_table_intern(&d->stacks, f, n) : SNAP_STACK_NONE;
    if (n && id == SNAP_STACK_NONE) {
        d->user_losses[SNAP_LOSS_STACK_TABLE_FULL]++;
        return id;
    }
    if (slot) {
        slot->caller = s->caller;
        slot->stack_id = s->stack_id;
        slot->id = id;
        slot->src = (uint16_t)src;
    } else {
        d->user_losses[SNAP_LOSS_SITE_CACHE_FULL]++;
    }
    return mark_used(d, id);
}

static void sum_counters(struct trc_drain *d)
{
    int fds[2];
    trc_probes_counter_fds(d->probes, &fds[0], &fds[1]);
    memset(d->counters, 0, sizeof(d->counters));
    for (int m = 0; m < 2; m++) {
        if (fds[m] < 0)
            continue;
        for (uint32_t k = 0; k < TRC_NR_COUNTERS; k++) {
            if (bpf_map_lookup_elem(fds[m], &k, d->percpu))
                continue;
            for (int c = 0; c < d->ncpu; c++)
                d->counters[k] += d->percpu[c];
        }
    }
}

static uint64_t scaled(const struct trc_drain *d, uint64_t v)
{
    return d->scale == 1.0 ? v : (uint64_t)((double)v * d->scale + 0.5);
}

/*
 * Idle stacks leave the tracer's tables at every collection (the rules and
 * why they are race-safe: docs/attach.md#stacks-that-leave, bpf/heap.bpf.c):
 * `sites` entries of the old generation with nothing live (folded by stack
 * id), BPF stack ids no site named at two walks in a row, and interned
 * stacks no source resolved since the previous sweep (two sweeps, as the
 * shim's; their folded totals go to the retired-stacks row).
 */
static int sweep_idle(uint32_t id, void *arg)
{
    const struct trc_drain *d = arg;
    return !(d->used[id / 64] >> (id % 64) & 1);
}

static int sweep_release(uint32_t id, void *arg)
{
    struct trc_drain *d = arg;
    if (!sweep_idle(id, d))
        return 0;
    struct folded *f = &d->folded[id];
    d->retired.total_bytes += f->total_bytes;
    d->retired.total_count += f->total_count;
    d->retired.freed_bytes += f->freed_bytes;
    d->retired.freed_count += f->freed_count;
    memset(f, 0, sizeof(*f));
    d->cache_stale = 1;
    return 1;
}

static void sweep_recycle(uint32_t id, void *arg)
{
    struct trc_drain *d = arg;
    memset(&d->folded[id], 0, sizeof(d->folded[id]));
}

static void sweep_stack_table(struct trc_drain *d)
{
    struct stk_sweep_ops ops = {sweep_idle, sweep_release, sweep_recycle, d};
    stk_table_sweep(&d->stacks, &ops);
    memset(d->used, 0, (DRAIN_MAX_STACKS / 64 + 1) * sizeof(*d->used));
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static int in_sorted(const int32_t *v, size_t n, int32_t x)
{
    return n && bsearch(&x, v, n, sizeof(*v), cmp_i32) != NULL;
}

/* BPF stack ids named by no site at this walk and the previous one leave. */
static void sweep_bpf_stacks(struct trc_drain *d, int stacks)
{
    qsort(d->named, d->n_named, sizeof(*d->named), cmp_i32);
    size_t n_next = 0, n_gone = 0;
    int32_t key, next;
    int first = 1;
    while (bpf_map_get_next_key(stacks, first ? NULL : &key, &next) == 0) {
        first = 0;
        key = next;
        if (in_sorted(d->named, d->n_named, key))
            continue;
        if (in_sorted(d->unnamed, d->n_unnamed, key))
            d->named[n_gone++] = key; /* reused as the list to delete */
        else if (n_next < TRC_MAX_STACK_IDS)
            d->next[n_next++] = key;
    }
    for (size_t i = 0; i < n_gone; i++) /* after the walk: deleting moves its cursor */
        bpf_map_delete_elem(stacks, &d->named[i]);
    d->cache_stale |= n_gone > 0;
    qsort(d->next, n_next, sizeof(*d->next), cmp_i32);
    int32_t *t = d->unnamed;
    d->unnamed = d->next;
    d->next = t;
    d->n_unnamed = n_next;
}

/* One `sites` entry: summed by stack id, or folded and doomed when its
 * generation is the old one, it holds nothing live and deleting is due. */
static void add_site(struct trc_drain *d, int stacks, const struct trc_site *key,
                     const struct trc_heap_stats *st, int doom_gen)
{
    int overflow = !key->caller && key->stack_id < 0;
    int doomed = doom_gen >= 0 && (int)key->pad == doom_gen && !st->live_count && !overflow &&
                 d->n_doomed < TRC_MAX_HEAP_STACKS;
    if (!st->total_count && !st->live_count && !doomed)
        return;
    uint32_t id = site_id(d, SRC_HEAP, stacks, key);
    if (key->stack_id >= 0 && d->n_named < TRC_MAX_HEAP_STACKS)
        d->named[d->n_named++] = key->stack_id;
    if (doomed) {
        struct folded *f = &d->folded[id];
        f->total_bytes += st->total_bytes;
        f->total_count += st->total_count;
        f->freed_bytes += st->freed_bytes;
        f->freed_count += st->freed_count;
        d->doomed[d->n_doomed++] = *key;
        return;
    }
    struct snap_heap_entry *e = &d->heap_by_id[id];
    e->live_bytes += st->live_bytes;
    e->live_count += st->live_count;
    e->total_bytes += st->total_bytes;
    e->total_count += st->total_count;
    e->freed_bytes += st->freed_bytes;
    e->freed_count += st->freed_count;
}

/* Walks `sites` (see above for what leaves); returns how many it holds. */
static uint64_t walk_sites(struct trc_drain *d, int sites, int stacks)
{
    volatile uint32_t *gen = trc_probes_heap_gen(d->probes);
    d->sweeps++;
    int doom_gen = gen && d->sweeps % 2 == 0 ? (int)(*gen & 1) ^ 1 : -1;
    d->n_doomed = d->n_named = 0;
    uint64_t n = 0;
    struct trc_site key, next;
    struct trc_heap_stats st;
    int first = 1;
    while (bpf_map_get_next_key(sites, first ? NULL : &key, &next) == 0) {
        first = 0;
        key = next;
        n++;
        if (bpf_map_lookup_elem(sites, &key, &st) == 0)
            add_site(d, stacks, &key, &st, doom_gen);
    }
    for (size_t i = 0; i < d->n_doomed; i++) /* nothing writes them (bpf/heap.bpf.c) */
        bpf_map_delete_elem(sites, &d->doomed[i]);
    if (gen && d->sweeps % 2 == 1)
        *gen ^= 1; /* new allocations count in the other generation from now on */
    return n - d->n_doomed;
}

/* After ids were released or BPF stacks deleted: sites are resolved afresh. */
static void wipe_stale_cache(struct trc_drain *d)
{
    if (d->cache_stale)
        memset(d->cache, 0, SITE_CACHE_SLOTS * sizeof(*d->cache));
    d->cache_stale = 0;
}

static void emit_heap_row(struct trc_drain *d, const struct snap_heap_entry *e, uint32_t id)
{
    struct snap_heap_entry *o = &d->heap[d->n_heap++];
    *o = *e;
    o->stack_id = id;
    if (d->scale != 1.0) {
        o->flags |= SNAP_HEAP_ESTIMATED;
        o->live_bytes = scaled(d, o->live_bytes);
        o->live_count = scaled(d, o->live_count);
        o->total_bytes = scaled(d, o->total_bytes);
        o->total_count = scaled(d, o->total_count);
        o->freed_bytes = scaled(d, o->freed_bytes);
        o->freed_count = scaled(d, o->freed_count);
    }
}

static void collect_heap(struct trc_drain *d)
{
    d->n_heap = 0;
    int allocs, sites, stacks;
    if (trc_probes_heap_fds(d->probes, &allocs, &sites, &stacks))
        return;
    sweep_stack_table(d);
    wipe_stale_cache(d); /* before the walk: no site may resolve to a released id */
    d->user_losses[SNAP_LOSS_TRACER_SITES] = walk_sites(d, sites, stacks);
    sweep_bpf_stacks(d, stacks);
    wipe_stale_cache(d); /* a deleted BPF id may come back as another stack */
    uint32_t count = stk_table_count(&d->stacks);
    for (uint32_t id = 0; id <= count && id <= DRAIN_MAX_STACKS; id++) {
        struct snap_heap_entry *e = &d->heap_by_id[id];
        const struct folded *f = &d->folded[id];
        e->total_bytes += f->total_bytes;
        e->total_count += f->total_count;
        e->freed_bytes += f->freed_bytes;
        e->freed_count += f->freed_count;
        if (e->total_count || e->live_count)
            emit_heap_row(d, e, id);
        memset(e, 0, sizeof(*e));
    }
    if (d->retired.total_count) {
        d->retired.flags = SNAP_HEAP_RETIRED;
        emit_heap_row(d, &d->retired, SNAP_STACK_NONE);
    }
    d->user_losses[SNAP_LOSS_STACKS_RETIRED] = d->stacks.retired;
    d->user_losses[SNAP_LOSS_STACKS_IN_TABLE] = stk_table_live(&d->stacks);
}

static int read_map_lines(struct trc_drain *d)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/maps", d->opts->pid);
    FILE *f = fopen(p, "re");
    d->n_lines = 0;
    if (!f)
        return -errno;
    char line[PATH_MAX + 256];
    while (d->n_lines < MAX_MAP_LINES && fgets(line, sizeof(line), f)) {
        struct map_line *m = &d->lines[d->n_lines];
        int at = 0;
        char perms[8] = "";
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", (unsigned long *)&m->start,
                   (unsigned long *)&m->end, perms, &at) < 3)
            continue;
        m->exec = perms[2] == 'x';
        line[strcspn(line, "\n")] = '\0';
        util_strlcpy(m->path, at ? line + at : "", sizeof(m->path));
        d->n_lines++;
    }
    fclose(f);
    return 0;
}

static const struct map_line *line_of(const struct trc_drain *d, uint64_t addr)
{
    size_t lo = 0, hi = d->n_lines;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (addr < d->lines[mid].start)
            hi = mid;
        else if (addr >= d->lines[mid].end)
            lo = mid + 1;
        else
            return &d->lines[mid];
    }
    return NULL;
}

/* Mappings made by the allocator or the dynamic loader are their business. */
static int internal_mapping(const struct trc_drain *d, uint64_t caller)
{
    const struct map_line *l = caller ? line_of(d, caller) : NULL;
    if (!l)
        return 0;
    const char *b = strrchr(l->path, '/');
    b = b ? b + 1 : l->path;
    return !strcmp(l->path, d->alloc_module) || !strncmp(b, "libc.so", 7) ||
           !strncmp(b, "ld-linux", 8);
}

static uint32_t mmap_kind(const struct trc_mmap *m, const char *path)
{
    if (m->fd < 0)
        return SNAP_MMAP_ANON;
    if (!strncmp(path, "/memfd:", 7))
        return SNAP_MMAP_MEMFD;
    if (strstr(path, "dmabuf") || !strncmp(path, "/dev/dma_heap", 13))
        return SNAP_MMAP_DMABUF;
    if (!strncmp(path, "/SYSV", 5) || !strncmp(path, "/dev/shm/", 9))
        return SNAP_MMAP_SHM;
    return SNAP_MMAP_FILE;
}

static uint64_t mono_to_real(uint64_t mono)
{
    if (!mono)
        return 0;
    return util_realtime_ns() - (util_monotonic_ns() - mono);
}

static void collect_mmaps(struct trc_drain *d, int alive, int map, int stacks)
{
    d->n_mmaps = 0;
    d->n_gone_next = 0;
    uint64_t key, next;
    int first = 1;
    struct trc_mmap m;
    while (bpf_map_get_next_key(map, first ? NULL : &key, &next) == 0) {
        first = 0;
        key = next;
        if (bpf_map_lookup_elem(map, &key, &m))
            continue;
        const struct map_line *l = alive ? line_of(d, key) : NULL;
        if (alive && !l) {
            /* Gone from the maps. Missing twice: unmapped by a path we did
             * not see (exit of a thread, exec...). Missing once: possibly a
             * munmap still returning, whose exit removes it. */
            int seen = 0;
            for (size_t i = 0; i < d->n_gone && !seen; i++)
                seen = d->gone[i] == key;
            if (seen) {
                bpf_map_delete_elem(map, &key);
                d->user_losses[SNAP_LOSS_MMAP_UNMAPPED_UNSEEN]++;
            } else if (!util_grow((void **)&d->gone_next, &d->cap_gone_next, d->n_gone_next + 1,
                                  sizeof(*d->gone_next))) {
                d->gone_next[d->n_gone_next++] = key;
            }
            continue;
        }
        if (internal_mapping(d, m.site.caller)) {
            d->user_losses[SNAP_LOSS_MMAP_BY_ALLOCATOR_OR_LOADER]++;
            continue;
        }
        if (util_grow((void **)&d->mmaps, &d->cap_mmaps, d->n_mmaps + 1, sizeof(*d->mmaps)))
            return;
        struct trc_mmap_row *r = &d->mmaps[d->n_mmaps++];
        memset(r, 0, sizeof(*r));
        r->e.addr = key;
        r->e.len = m.len;
        r->e.prot = m.prot;
        r->e.flags = m.flags;
        r->e.fd = m.fd;
        r->e.kind = mmap_kind(&m, l ? l->path : "");
        r->e.stack_id = site_id(d, SRC_FDS, stacks, &m.site);
        r->e.created_ns = mono_to_real(m.created_ns);
        r->e.path = (char *)"";
    }
    uint64_t *t = d->gone;
    size_t tc = d->cap_gone;
    d->gone = d->gone_next;
    d->cap_gone = d->cap_gone_next;
    d->n_gone = d->n_gone_next;
    d->gone_next = t;
    d->cap_gone_next = tc;
}

struct fd_ent {
    int32_t fd;
    int seen;
    struct trc_fd v;
};

struct scan_ctx {
    struct trc_drain *d;
    struct fd_ent *ents;
    size_t n;
    int stacks;
    int map; /* the fds map */
};

static int cmp_fd(const void *a, const void *b)
{
    const struct fd_ent *x = a, *y = b;
    return (x->fd > y->fd) - (x->fd < y->fd);
}

static struct trc_fd_row *new_fd_row(struct trc_drain *d)
{
    if (util_grow((void **)&d->fds, &d->cap_fds, d->n_fds + 1, sizeof(*d->fds)))
        return NULL;
    struct trc_fd_row *r = &d->fds[d->n_fds++];
    memset(r, 0, sizeof(*r));
    r->e.source_fd = -1;
    return r;
}

static void fill_fd_row(struct trc_drain *d, struct trc_fd_row *r, const struct fd_ent *e,
                        int stacks)
{
    r->e.fd = e->fd;
    r->e.origin = e->v.origin;
    r->e.source_fd = e->v.source_fd;
    r->e.stack_id = site_id(d, SRC_FDS, stacks, &e->v.site);
    r->e.created_ns = mono_to_real(e->v.created_ns);
}

/* The reconcile rule's callbacks (common/fdscan.h) over the sorted copy of
 * the fds map. */
static int fd_recorded(struct snap_fd_entry *e, void *arg)
{
    struct scan_ctx *c = arg;
    struct fd_ent k = {.fd = e->fd};
    struct fd_ent *ent = bsearch(&k, c->ents, c->n, sizeof(*c->ents), cmp_fd);
    if (!ent)
        return 0;
    ent->seen = 1;
    e->origin = ent->v.origin;
    e->source_fd = ent->v.source_fd;
    e->stack_id = site_id(c->d, SRC_FDS, c->stacks, &ent->v.site);
    e->created_ns = mono_to_real(ent->v.created_ns);
    return 1;
}

static int fd_emit(struct snap_fd_entry *e, void *arg)
{
    struct scan_ctx *c = arg;
    struct trc_fd_row *r = new_fd_row(c->d);
    if (!r)
        return -ENOMEM;
    r->e = *e;
    util_strlcpy(r->target, e->target, sizeof(r->target));
    r->e.target = NULL; /* flags: the reconcile rule read them from fdinfo */
    return 0;
}

static uint64_t fd_forget_unseen(uint64_t scan_start_ns, void *arg)
{
    struct scan_ctx *c = arg;
    uint64_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!c->ents[i].seen && bpf_map_delete_elem(c->map, &c->ents[i].fd) == 0)
            n++;
    return n;
}

static void collect_fds(struct trc_drain *d, int alive)
{
    d->n_fds = 0;
    int map, mmaps, stacks;
    if (trc_probes_fd_fds(d->probes, &map, &mmaps, &stacks))
        return;
    collect_mmaps(d, alive, mmaps, stacks);

    struct scan_ctx c = {.d = d, .stacks = stacks, .map = map};
    size_t cap = 0;
    int32_t key, next;
    int first = 1;
    while (bpf_map_get_next_key(map, first ? NULL : &key, &next) == 0) {
        first = 0;
        key = next;
        if (util_grow((void **)&c.ents, &cap, c.n + 1, sizeof(*c.ents)))
            break;
        struct fd_ent *e = &c.ents[c.n];
        e->fd = key;
        e->seen = 0;
        if (bpf_map_lookup_elem(map, &key, &e->v) == 0)
            c.n++;
    }
    if (c.n)
        qsort(c.ents, c.n, sizeof(*c.ents), cmp_fd);
    struct fdscan_reconcile rc = {.pid = d->opts->pid,
                                  .skip_fd = -1,
                                  .skip_fd2 = -1,
                                  .recorded = fd_recorded,
                                  .emit = fd_emit,
                                  .forget_unseen = fd_forget_unseen,
                                  .arg = &c};
    if (alive && fdscan_reconcile(&rc) >= 0) {
        /* unattributed: a level ("right now"); closed unseen: a running total */
        d->user_losses[SNAP_LOSS_FD_UNATTRIBUTED] = rc.unattributed;
        d->user_losses[SNAP_LOSS_FD_CLOSED_UNSEEN] += rc.closed_unseen;
    } else {
        /* The target is gone (its fds were open at exit) or unreadable. */
        d->user_losses[SNAP_LOSS_FD_UNATTRIBUTED] = 0;
        d->n_fds = 0;
        for (size_t i = 0; i < c.n; i++) {
            struct trc_fd_row *r = new_fd_row(d);
            if (!r)
                break;
            fill_fd_row(d, r, &c.ents[i], stacks);
        }
    }
    free(c.ents);
}

static int seed_one(int fd, const char *target, void *arg)
{
    int map = *(int *)arg;
    int32_t key = fd;
    struct trc_fd v = {
        .site = {.caller = 0, .stack_id = -1}, .origin = SNAP_FDO_PREEXISTING, .source_fd = -1};
    /* NOEXIST: an fd created since the probes went live keeps its site. */
    bpf_map_update_elem(map, &key, &v, BPF_NOEXIST);
    return 0;
}

int trc_drain_seed_fds(struct trc_drain *d)
{
    int map, mmaps, stacks;
    if (trc_probes_fd_fds(d->probes, &map, &mmaps, &stacks))
        return 0;
    int rc = fdscan_foreach(d->opts->pid, seed_one, &map);
    return rc < 0 ? rc : 0;
}

static void collect_losses(struct trc_drain *d)
{
    d->n_losses = 0;
    trc_unwind_losses(d->opts->unwind_tables, &d->user_losses[SNAP_LOSS_UNWIND_ROWS_FULL],
                      &d->user_losses[SNAP_LOSS_UNWIND_MODULES_WITHOUT_CFI]);
    for (size_t i = 0; i < sizeof(bpf_losses) / sizeof(bpf_losses[0]); i++)
        d->losses[d->n_losses++] = (struct trc_loss_row){
            bpf_losses[i].id,
            d->counters[bpf_losses[i].idx] +
                (bpf_losses[i].idx == TRC_C_UNWIND_BAD_FRAME ? d->fp_bad_frames : 0)};
    for (size_t i = 0; i < sizeof(user_loss_ids) / sizeof(user_loss_ids[0]); i++)
        d->losses[d->n_losses++] =
            (struct trc_loss_row){user_loss_ids[i], d->user_losses[user_loss_ids[i]]};
}

int trc_drain_collect(struct trc_drain *d, int target_alive)
{
    sum_counters(d);
    d->n_lines = 0;
    if (target_alive)
        read_map_lines(d);
    collect_heap(d);
    collect_fds(d, target_alive);
    collect_losses(d);
    return 0;
}

void trc_drain_status(struct trc_drain *d, uint64_t *events, uint64_t *live_bytes, uint64_t *fds,
                      uint64_t *drops)
{
    sum_counters(d);
    const uint64_t *c = d->counters;
    *events = c[TRC_C_ALLOC_CALLS] + c[TRC_C_FREE_CALLS] + c[TRC_C_SYSCALLS];
    *live_bytes = c[TRC_C_BYTES_ALLOCATED] - c[TRC_C_BYTES_FREED];
    *drops = 0;
    for (size_t i = 0; i < sizeof(bpf_losses) / sizeof(bpf_losses[0]); i++)
        if (snap_loss_info(bpf_losses[i].id)->kind ==
            SNAP_LOSS_KIND_LOSS) /* information is not a drop */
            *drops += c[bpf_losses[i].idx];
    *fds = 0;
    int map, mmaps, stacks;
    if (trc_probes_fd_fds(d->probes, &map, &mmaps, &stacks) == 0) {
        int32_t key, next;
        int first = 1;
        while (bpf_map_get_next_key(map, first ? NULL : &key, &next) == 0) {
            first = 0;
            key = next;
            (*fds)++;
        }
    }
}

void trc_drain_count_loss(struct trc_drain *d, enum snap_loss_id id)
{
    d->user_losses[id]++;
}

uint64_t trc_drain_counter(struct trc_drain *d, int idx)
{
    sum_counters(d);
    return d->counters[idx];
}

uint32_t trc_drain_heap_site_id(struct trc_drain *d, const struct trc_site *s)
{
    int allocs, sites, stacks;
    if (!d->probes || trc_probes_heap_fds(d->probes, &allocs, &sites, &stacks))
        return SNAP_STACK_NONE;
    return site_id(d, SRC_HEAP, stacks, s);
}

void trc_drain_view(const struct trc_drain *d, struct trc_view *v)
{
    v->stacks = &d->stacks;
    v->heap = d->heap;
    v->n_heap = d->n_heap;
    v->fds = d->fds;
    v->n_fds = d->n_fds;
    v->mmaps = d->mmaps;
    v->n_mmaps = d->n_mmaps;
    v->losses = d->losses;
    v->n_losses = d->n_losses;
}

uint32_t trc_drain_site(struct trc_drain *d, int stack_map, const struct trc_site *s)
{
    return site_id(d, SRC_RES, stack_map, s);
}

uint32_t trc_drain_kmem_site(struct trc_drain *d, int stack_map, const struct trc_site *s)
{
    return site_id(d, SRC_KMEM, stack_map, s);
}
