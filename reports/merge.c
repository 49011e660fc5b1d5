/*
 * Merging snapshots into the report model (report.h): each file of a series
 * is read with the one reader in common/, merged into per-stack rows (values
 * over time) and freed before the next one is read, so memory is bounded by
 * the number of distinct stacks, not by the number of snapshots. Frames are
 * normalized to (module, file offset) on the way in; stacks are identified
 * by those, which makes them comparable across processes (diff) and
 * independent of the capture side's stack ids. One merge step per section
 * of the file (heap, reachability, fds, mmaps, resources, memory,
 * corruption, losses).
 */
#include "report.h"
#include "memory.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- global module table ---- */

static struct rpt_module *g_mods; /* index 0 is "no module" */
static uint32_t g_n_mods, g_cap_mods;

const struct rpt_module *rpt_module_get(uint32_t idx)
{
    return idx && idx < g_n_mods ? &g_mods[idx] : NULL;
}

uint32_t rpt_module_count(void)
{
    return g_n_mods;
}

void rpt_modules_reset(void)
{
    for (uint32_t i = 1; i < g_n_mods; i++)
        free(g_mods[i].path);
    free(g_mods);
    g_mods = NULL;
    g_n_mods = g_cap_mods = 0;
}

static uint32_t module_intern(const struct snap_module *m)
{
    for (uint32_t i = 1; i < g_n_mods; i++) {
        struct rpt_module *g = &g_mods[i];
        if (g->build_id_len == m->build_id_len &&
            !memcmp(g->build_id, m->build_id, m->build_id_len) && !strcmp(g->path, m->path))
            return i;
    }
    if (g_n_mods + 1 > g_cap_mods) {
        uint32_t ncap = g_cap_mods ? g_cap_mods * 2 : 32;
        struct rpt_module *p = realloc(g_mods, ncap * sizeof(*p));
        if (!p)
            return 0;
        g_mods = p;
        g_cap_mods = ncap;
    }
    if (g_n_mods == 0)
        memset(&g_mods[g_n_mods++], 0, sizeof(*g_mods));
    struct rpt_module *g = &g_mods[g_n_mods];
    memset(g, 0, sizeof(*g));
    g->path = strdup(m->path ? m->path : "");
    if (!g->path)
        return 0;
    g->build_id_len = m->build_id_len;
    memcpy(g->build_id, m->build_id, m->build_id_len);
    return g_n_mods++;
}

/* One snapshot's module map, sorted by start, with global indexes. */
struct modmap_entry {
    uint64_t start, end, offset;
    uint32_t mod;
};

static int cmp_modmap(const void *a, const void *b)
{
    const struct modmap_entry *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static struct rpt_loc normalize(const struct modmap_entry *mm, size_t n, uint64_t addr)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < mm[mid].start)
            hi = mid;
        else if (addr >= mm[mid].end)
            lo = mid + 1;
        else
            return (struct rpt_loc){.mod = mm[mid].mod,
                                    .off = addr - mm[mid].start + mm[mid].offset};
    }
    return (struct rpt_loc){.mod = 0, .off = addr};
}

/* ---- row tables ---- */

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_locs(const struct rpt_loc *l, uint32_t depth, uint64_t salt)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ salt ^ depth;
    for (uint32_t i = 0; i < depth; i++)
        h = mix64(h ^ (l[i].off + ((uint64_t)l[i].mod << 48) + i));
    return h ? h : 1;
}

static int table_rehash(struct rpt_table *t, size_t ncap)
{
    uint32_t *idx = calloc(ncap, sizeof(*idx));
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = t->rows[i].hash & (ncap - 1);
        while (idx[j])
            j = (j + 1) & (ncap - 1);
        idx[j] = (uint32_t)i + 1;
    }
    free(t->index);
    t->index = idx;
    t->index_cap = ncap;
    return 0;
}

/* Finds or creates the row for (locs, salt). Returns NULL on ENOMEM. */
static struct rpt_row *table_get(struct rpt_table *t, const struct rpt_loc *locs, uint32_t depth,
                                 uint64_t salt, size_t n_snaps, uint32_t snap)
{
    if ((t->n + 1) * 2 > t->index_cap && table_rehash(t, t->index_cap ? t->index_cap * 2 : 1024))
        return NULL;
    uint64_t h = hash_locs(locs, depth, salt);
    size_t j = h & (t->index_cap - 1);
    while (t->index[j]) {
        struct rpt_row *r = &t->rows[t->index[j] - 1];
        if (r->hash == h && r->depth == depth &&
            (!depth || !memcmp(r->locs, locs, depth * sizeof(*locs))))
            return r;
        j = (j + 1) & (t->index_cap - 1);
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        struct rpt_row *p = realloc(t->rows, ncap * sizeof(*p));
        if (!p)
            return NULL;
        t->rows = p;
        t->cap = ncap;
    }
    struct rpt_row *r = &t->rows[t->n];
    memset(r, 0, sizeof(*r));
    r->hash = h;
    r->depth = depth;
    r->first_snap = snap;
    r->locs = depth ? malloc(depth * sizeof(*locs)) : NULL;
    r->value = calloc(n_snaps, sizeof(uint64_t));
    r->count = calloc(n_snaps, sizeof(uint64_t));
    if ((depth && !r->locs) || !r->value || !r->count) {
        free(r->locs);
        free(r->value);
        free(r->count);
        return NULL;
    }
    if (depth)
        memcpy(r->locs, locs, depth * sizeof(*locs));
    t->index[j] = (uint32_t)t->n + 1;
    t->n++;
    return r;
}

/* ---- merging one snapshot ---- */

/*
 * The heap row of a stack id, remembered across the snapshots of a series:
 * writers never change what an id means within a series (their stack tables
 * only grow), so on a long series the id is resolved and hashed once, not
 * once per snapshot -- that lookup was most of `report`'s time on a week of
 * snapshots. The format only promises ids unique within a file, so an
 * entry is used only when the stack's depth and a 64-bit hash of its raw
 * frames match; the cache is dropped when the series or the module map
 * changes.
 */
struct row_cache_entry {
    uint32_t row; /* index + 1 in the heap table, 0 = none */
    uint32_t depth;
    uint64_t frames_hash; /* of the raw frames: ids need not be stable across files */
};
#define ROW_CACHE_MAX_ID (1u << 24)

struct u32_list {
    uint32_t *v;
    size_t n, cap;
};

/* What the previous snapshots said about a stack id (heap section), to tell
 * a stack that left the capture's table from one that is still there. */
struct id_life {
    uint64_t frames_hash;
    uint64_t total_bytes, total_count;
    uint32_t row; /* heap row index + 1 */
    uint32_t k;   /* 1 + snapshot index it was last seen in */
};

struct merge {
    struct rpt_series *s;
    struct id_life *ids; /* by stack id */
    size_t ids_cap;
    struct u32_list seen, seen_prev; /* ids with a heap record in this / the previous file */
    struct u32_list rows_now;        /* heap rows with a record in this file */
    struct id_life *ended;           /* lives that ended in this file */
    size_t n_ended, ended_cap;
    const struct snapshot *snap;
    struct modmap_entry *mm;
    size_t n_mm;
    uint32_t k; /* snapshot index */
    struct rpt_loc locs[SNAP_MAX_STACK_DEPTH];
    uint64_t missing_stacks;
    struct row_cache_entry *heap_rows;
    size_t heap_rows_cap;
    uint64_t heap_rows_key; /* series + module map they are valid for */
};

/* Resolves a stack id into m->locs; returns depth, 0 for none. */
static uint32_t resolve(struct merge *m, uint32_t stack_id)
{
    if (stack_id == SNAP_STACK_NONE)
        return 0;
    const struct snap_stack *st = snapshot_find_stack(m->snap, stack_id);
    if (!st || !st->depth) {
        m->missing_stacks++;
        return 0;
    }
    for (uint32_t i = 0; i < st->depth; i++)
        m->locs[i] = normalize(m->mm, m->n_mm, st->frames[i]);
    return st->depth;
}

static uint64_t row_cache_key(const struct merge *m)
{
    uint64_t h = 0x2545f4914f6cdd1dull;
    for (const char *c = m->snap->hdr.series; *c; c++)
        h = mix64(h ^ (uint8_t)*c);
    for (size_t i = 0; i < m->n_mm; i++)
        h = mix64(h ^ m->mm[i].start ^ mix64(m->mm[i].end ^ (m->mm[i].offset << 1)) ^
                  ((uint64_t)m->mm[i].mod << 40));
    return h;
}

static uint64_t hash_frames(const uint64_t *frames, uint32_t depth)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ depth;
    for (uint32_t i = 0; i < depth; i++)
        h = mix64(h ^ frames[i] ^ ((uint64_t)i << 56));
    return h;
}

/* The heap row for stack_id (see struct row_cache_entry). */
static struct rpt_row *heap_row(struct merge *m, uint32_t stack_id, uint32_t *depth)
{
    struct rpt_table *t = &m->s->tab[RPT_HEAP];
    const struct snap_stack *st =
        stack_id != SNAP_STACK_NONE ? snapshot_find_stack(m->snap, stack_id) : NULL;
    struct row_cache_entry *c = NULL;
    uint64_t fh = 0;
    if (st && st->depth && stack_id < ROW_CACHE_MAX_ID) {
        if (stack_id >= m->heap_rows_cap) {
            size_t ncap = m->heap_rows_cap ? m->heap_rows_cap : 1024;
            while (ncap <= stack_id)
                ncap *= 2;
            struct row_cache_entry *p = realloc(m->heap_rows, ncap * sizeof(*p));
            if (p) {
                memset(p + m->heap_rows_cap, 0, (ncap - m->heap_rows_cap) * sizeof(*p));
                m->heap_rows = p;
                m->heap_rows_cap = ncap;
            }
        }
        if (stack_id < m->heap_rows_cap)
            c = &m->heap_rows[stack_id];
        if (c) {
            fh = hash_frames(st->frames, st->depth);
            if (c->row && c->depth == st->depth && c->frames_hash == fh) {
                *depth = c->depth;
                return &t->rows[c->row - 1];
            }
        }
    }
    uint32_t d = resolve(m, stack_id);
    struct rpt_row *r = table_get(t, m->locs, d, 0, m->s->n_snaps, m->k);
    if (r && c && d) {
        *c = (struct row_cache_entry){(uint32_t)(r - t->rows) + 1, st->depth, fh};
    }
    *depth = d;
    return r;
}

static void fdinfo_add_target(struct rpt_fdinfo *fi, const char *t)
{
    if (!t || !*t || fi->n_targets >= RPT_MAX_TARGETS)
        return;
    for (uint32_t i = 0; i < fi->n_targets; i++)
        if (!strcmp(fi->targets[i], t))
            return;
    char *d = strdup(t);
    if (d)
        fi->targets[fi->n_targets++] = d;
}

/* Per-row details describe the last snapshot the row was seen in. */
static struct rpt_fdinfo *fdinfo_for(struct rpt_row *r, uint32_t k, uint32_t *seen_snap)
{
    if (!r->fd && !(r->fd = calloc(1, sizeof(*r->fd))))
        return NULL;
    if (*seen_snap != k + 1) {
        memset(r->fd->kinds, 0, sizeof(r->fd->kinds));
        memset(r->fd->origins, 0, sizeof(r->fd->origins));
        r->fd->oldest_ns = 0;
        r->fd->n_fds = 0;
        r->fd->open = r->fd->cloexec = 0;
        *seen_snap = k + 1;
    }
    return r->fd;
}

/* ---- heap totals across a stack's lives ---- */

static void merge_release(struct merge *m)
{
    free(m->heap_rows);
    free(m->ids);
    free(m->seen.v);
    free(m->seen_prev.v);
    free(m->ended);
    free(m->rows_now.v);
}

static int push_u32(struct u32_list *l, uint32_t x)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 1024;
        uint32_t *p = realloc(l->v, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        l->v = p;
        l->cap = ncap;
    }
    l->v[l->n++] = x;
    return 0;
}

static void end_life(struct merge *m, const struct id_life *l)
{
    struct rpt_row *r = &m->s->tab[RPT_HEAP].rows[l->row - 1];
    r->retired_bytes += l->total_bytes;
    r->retired_count += l->total_count;
}

/*
 * Notes what a heap record says about its stack id. A capture that folds
 * stacks with nothing live (a SNAP_HEAP_RETIRED row in the file) restarts a
 * stack's totals when it comes back: under a new id, or under the same id
 * with other frames or lower totals. The life that ended is added to its
 * row's retired_* figures (id_life_settle), so a row's total counts every
 * life. Ids past ROW_CACHE_MAX_ID are not followed.
 */
static int id_life_note(struct merge *m, const struct snap_heap_entry *e, uint32_t row)
{
    uint32_t id = e->stack_id, k = m->k + 1;
    if (push_u32(&m->rows_now, row) < 0)
        return -ENOMEM;
    if (id >= ROW_CACHE_MAX_ID)
        return 0;
    if (id >= m->ids_cap) {
        size_t ncap = m->ids_cap ? m->ids_cap : 1024;
        while (ncap <= id)
            ncap *= 2;
        struct id_life *p = realloc(m->ids, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        memset(p + m->ids_cap, 0, (ncap - m->ids_cap) * sizeof(*p));
        m->ids = p;
        m->ids_cap = ncap;
    }
    const struct snap_stack *st = snapshot_find_stack(m->snap, id);
    uint64_t fh = st ? hash_frames(st->frames, st->depth) : 0;
    struct id_life *l = &m->ids[id];
    if (l->k == k) { /* another record for the id in the same file: the same life */
        l->total_bytes += e->total_bytes;
        l->total_count += e->total_count;
        return 0;
    }
    if (l->k && (l->frames_hash != fh || e->total_count < l->total_count)) {
        if (m->n_ended == m->ended_cap) {
            size_t ncap = m->ended_cap ? m->ended_cap * 2 : 256;
            struct id_life *p = realloc(m->ended, ncap * sizeof(*p));
            if (!p)
                return -ENOMEM;
            m->ended = p;
            m->ended_cap = ncap;
        }
        m->ended[m->n_ended++] = *l;
    }
    *l = (struct id_life){fh, e->total_bytes, e->total_count, row + 1, k};
    return push_u32(&m->seen, id);
}

/* After a file's heap records: lives that ended (a record for a new life,
 * or an id with no record any more) go into their rows' retired_* figures
 * when the capture retires stacks; then every row seen gets its total. */
static void id_life_settle(struct merge *m, int retires)
{
    uint32_t k = m->k + 1;
    struct rpt_table *t = &m->s->tab[RPT_HEAP];
    if (retires) {
        for (size_t i = 0; i < m->n_ended; i++)
            end_life(m, &m->ended[i]);
        for (size_t i = 0; i < m->seen_prev.n; i++) {
            struct id_life *l = &m->ids[m->seen_prev.v[i]];
            if (l->k && l->k != k) {
                end_life(m, l);
                l->k = 0;
            }
        }
    }
    m->n_ended = 0;
    for (size_t i = 0; i < m->rows_now.n; i++) {
        struct rpt_row *r = &t->rows[m->rows_now.v[i]];
        /* Totals are cumulative: keep the largest (a stack missing from a
         * later snapshot does not un-allocate anything). */
        if (r->retired_bytes + r->snap_bytes > r->total_bytes)
            r->total_bytes = r->retired_bytes + r->snap_bytes;
        if (r->retired_count + r->snap_count > r->total_count)
            r->total_count = r->retired_count + r->snap_count;
    }
    m->rows_now.n = 0;
    struct u32_list older = m->seen_prev;
    m->seen_prev = m->seen;
    m->seen = older;
    m->seen.n = 0;
}

/* The module map: interned modules, sorted for normalize(); the row cache
 * is dropped when the map changed. */
static int merge_modules(struct merge *m)
{
    const struct snapshot *snap = m->snap;
    m->n_mm = snap->n_modules;
    m->mm = calloc(m->n_mm ? m->n_mm : 1, sizeof(*m->mm));
    if (!m->mm)
        return -ENOMEM;
    for (size_t i = 0; i < snap->n_modules; i++) {
        const struct snap_module *sm = &snap->modules[i];
        m->mm[i] = (struct modmap_entry){sm->start, sm->end, sm->offset, module_intern(sm)};
    }
    qsort(m->mm, m->n_mm, sizeof(*m->mm), cmp_modmap);
    uint64_t key = row_cache_key(m);
    if (key != m->heap_rows_key) {
        if (m->heap_rows)
            memset(m->heap_rows, 0, m->heap_rows_cap * sizeof(*m->heap_rows));
        m->heap_rows_key = key;
    }

    return 0;
}

/* HEAP: live bytes and counts per stack. */
static int merge_heap(struct merge *m)
{
    struct rpt_series *s = m->s;
    const struct snapshot *snap = m->snap;
    uint32_t k = m->k;
    struct rpt_snapinfo *si = &s->snaps[k];
    int retires = 0; /* the capture folds stacks with nothing live (SNAP_HEAP_RETIRED) */
    for (size_t i = 0; i < snap->n_heap; i++) {
        const struct snap_heap_entry *e = &snap->heap[i];
        si->total_bytes += e->total_bytes;
        si->total_count += e->total_count;
        if (e->flags & SNAP_HEAP_RETIRED) {
            si->retired_bytes += e->total_bytes;
            si->retired_count += e->total_count;
            retires = 1;
            continue;
        }
        uint32_t d;
        struct rpt_row *r = heap_row(m, e->stack_id, &d);
        if (!r)
            return -ENOMEM;
        r->unattributed = d == 0;
        r->value[k] += e->live_bytes;
        r->count[k] += e->live_count;
        if (r->snap_k != k + 1) {
            r->snap_k = k + 1;
            r->snap_bytes = r->snap_count = 0;
        }
        r->snap_bytes += e->total_bytes;
        r->snap_count += e->total_count;
        if (e->flags & SNAP_HEAP_PEAK_TEMP) {
            if (e->peak_bytes > r->peak_bytes)
                r->peak_bytes = e->peak_bytes;
            if (e->temp_count > r->temp_count) {
                r->temp_count = e->temp_count;
                r->temp_bytes = e->temp_bytes;
            }
        }
        r->flags |= e->flags;
        si->live_bytes += e->live_bytes;
        si->live_count += e->live_count;
        if (id_life_note(m, e, (uint32_t)(r - s->tab[RPT_HEAP].rows)) < 0)
            return -ENOMEM;
    }
    id_life_settle(m, retires);

    return 0;
}

/* REACHABILITY: the newest scan replaces an older one. */
static int merge_reach(struct merge *m)
{
    struct rpt_series *s = m->s;
    const struct snapshot *snap = m->snap;
    uint32_t k = m->k;
    size_t n = s->n_snaps;
    if (!snap->has_reach)
        return 0;
    /* the newest scan replaces an older one */
    struct rpt_table *t = &s->tab[RPT_HEAP];
    for (size_t i = 0; i < t->n; i++) {
        memset(t->rows[i].reach_bytes, 0, sizeof(t->rows[i].reach_bytes));
        memset(t->rows[i].reach_blocks, 0, sizeof(t->rows[i].reach_blocks));
    }
    memset(s->reach_bytes, 0, sizeof(s->reach_bytes));
    memset(s->reach_blocks, 0, sizeof(s->reach_blocks));
    s->has_reach = 1;
    s->reach_snap = k;
    s->reach_trigger = snap->hdr.trigger;
    s->reach = snap->reach;
    for (size_t i = 0; i < snap->n_reach; i++) {
        const struct snap_reach_entry *e = &snap->reach_entries[i];
        uint32_t d = resolve(m, e->stack_id);
        struct rpt_row *r = table_get(t, m->locs, d, 0, n, k);
        if (!r)
            return -ENOMEM;
        r->unattributed = d == 0;
        for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
            r->reach_bytes[c] += e->bytes[c];
            r->reach_blocks[c] += e->blocks[c];
            s->reach_bytes[c] += e->bytes[c];
            s->reach_blocks[c] += e->blocks[c];
        }
    }

    return 0;
}

/* FDS: grouped by creating stack; unattributed ones by kind and origin. */
static int merge_fds(struct merge *m)
{
    struct rpt_series *s = m->s;
    const struct snapshot *snap = m->snap;
    uint32_t k = m->k;
    size_t n = s->n_snaps;
    struct rpt_snapinfo *si = &s->snaps[k];
    for (size_t i = 0; i < snap->n_fds; i++) {
        const struct snap_fd_entry *e = &snap->fds[i];
        int unattr = e->origin == SNAP_FDO_PREEXISTING || e->origin == SNAP_FDO_UNATTRIBUTED;
        uint32_t d = unattr ? 0 : resolve(m, e->stack_id);
        /* Unattributed fds are grouped by kind and origin instead of stack. */
        uint64_t salt = d ? 0 : ((uint64_t)e->kind << 8 | e->origin) + 1;
        struct rpt_row *r = table_get(&s->tab[RPT_FDS], m->locs, d, salt, n, k);
        if (!r)
            return -ENOMEM;
        r->unattributed = d == 0;
        r->value[k]++;
        r->count[k]++;
        struct rpt_fdinfo *fi = fdinfo_for(r, k, &r->info_snap);
        if (!fi)
            return -ENOMEM;
        fi->kinds[e->kind < SNAP_FD_KIND_COUNT ? e->kind : 0]++;
        fi->origins[e->origin < SNAP_FDO_COUNT ? e->origin : 0]++;
        fi->open++;
        fi->cloexec += (e->flags & SNAP_FD_CLOEXEC) != 0;
        if (e->created_ns && (!fi->oldest_ns || e->created_ns < fi->oldest_ns))
            fi->oldest_ns = e->created_ns;
        if (fi->n_fds < RPT_MAX_TARGETS)
            fi->fds[fi->n_fds++] = e->fd;
        fdinfo_add_target(fi, e->target);
        si->n_fds++;
    }
    return 0;
}

/* MMAPS: bytes mapped per creating stack. */
static int merge_mmaps(struct merge *m)
{
    struct rpt_series *s = m->s;
    const struct snapshot *snap = m->snap;
    uint32_t k = m->k;
    size_t n = s->n_snaps;
    struct rpt_snapinfo *si = &s->snaps[k];
    for (size_t i = 0; i < snap->n_mmaps; i++) {
        const struct snap_mmap_entry *e = &snap->mmaps[i];
        uint32_t d = resolve(m, e->stack_id);
        struct rpt_row *r = table_get(&s->tab[RPT_MMAPS], m->locs, d, 0, n, k);
        if (!r)
            return -ENOMEM;
        r->unattributed = d == 0;
        r->value[k] += e->len;
        r->count[k]++;
        struct rpt_fdinfo *fi = fdinfo_for(r, k, &r->info_snap);
        if (!fi)
            return -ENOMEM;
        fi->kinds[e->kind < SNAP_FD_KIND_COUNT ? e->kind : 0]++;
        if (e->created_ns && (!fi->oldest_ns || e->created_ns < fi->oldest_ns))
            fi->oldest_ns = e->created_ns;
        if (e->fd >= 0 && fi->n_fds < RPT_MAX_TARGETS)
            fi->fds[fi->n_fds++] = e->fd;
        fdinfo_add_target(fi, e->path);
        si->mmap_bytes += e->len;
    }
    return 0;
}

/* RESOURCES: one row per (kind, creating stack). */
static int merge_resources(struct merge *m)
{
    struct rpt_series *s = m->s;
    const struct snapshot *snap = m->snap;
    uint32_t k = m->k;
    size_t n = s->n_snaps;
    for (size_t i = 0; i < snap->n_resources; i++) {
        const struct snap_resource_entry *e = &snap->resources[i];
        char kind[SNAP_MAX_NAME];
        snprintf(kind, sizeof(kind), "%s", e->kind);
        uint32_t d = resolve(m, e->stack_id);
        /* one row per (kind, stack): the kind's name salts the stack hash */
        uint64_t salt = util_fnv1a(UTIL_FNV_SEED, kind, strlen(kind));
        struct rpt_row *r = table_get(&s->tab[RPT_RES], m->locs, d, salt, n, k);
        if (!r || (!r->res && !(r->res = calloc(1, sizeof(*r->res)))))
            return -ENOMEM;
        struct rpt_resinfo *ri = r->res;
        r->unattributed = d == 0;
        memcpy(ri->kind, kind, sizeof(ri->kind));
        ri->flags |= e->flags;
        int64_t balance = e->ref_balance > 0 ? e->ref_balance : 0;
        /* outstanding references: each live handle we saw created holds one */
        r->value[k] += (e->total_created ? e->live_count : 0) + (uint64_t)balance;
        r->count[k] += e->live_count;
        ri->created = e->total_created > ri->created ? e->total_created : ri->created;
        ri->destroyed = e->total_destroyed > ri->destroyed ? e->total_destroyed : ri->destroyed;
        ri->refs = e->total_refs > ri->refs ? e->total_refs : ri->refs;
        ri->unrefs = e->total_unrefs > ri->unrefs ? e->total_unrefs : ri->unrefs;
        ri->balance = e->ref_balance;
        ri->oldest_ns = e->oldest_ns;
        uint32_t ld = resolve(m, e->last_ref_stack);
        free(ri->last_ref);
        ri->last_ref = NULL;
        ri->last_ref_depth = 0;
        if (ld) {
            if (!(ri->last_ref = malloc(ld * sizeof(struct rpt_loc))))
                return -ENOMEM;
            memcpy(ri->last_ref, m->locs, ld * sizeof(struct rpt_loc));
            ri->last_ref_depth = ld;
        }
    }

    return 0;
}

/* CORRUPTION: events, each once across the series, with their stacks. */
static int merge_corruptions(struct merge *m)
{
    struct rpt_series *s = m->s;
    const struct snapshot *snap = m->snap;
    for (size_t i = 0; i < snap->n_corruptions; i++) {
        const struct snap_corruption *c = &snap->corruptions[i];
        int dup = 0;
        for (size_t j = 0; j < s->n_corruptions && !dup; j++) {
            const struct snap_corruption *o = &s->corruptions[j].ev;
            dup = o->kind == c->kind && o->addr == c->addr && o->offset == c->offset &&
                  o->time_ns == c->time_ns && o->tid == c->tid;
        }
        if (dup)
            continue;
        struct rpt_corruption *p = realloc(s->corruptions, (s->n_corruptions + 1) * sizeof(*p));
        if (!p)
            return -ENOMEM;
        s->corruptions = p;
        struct rpt_corruption *rc = &p[s->n_corruptions++];
        memset(rc, 0, sizeof(*rc));
        rc->ev = *c;
        rc->ev.detail[sizeof(rc->ev.detail) - 1] = '\0';
        uint32_t ids[3] = {c->alloc_stack, c->free_stack, c->access_stack};
        for (int w = 0; w < 3; w++) {
            uint32_t d = resolve(m, ids[w]);
            if (!d)
                continue;
            rc->stacks[w] = malloc(d * sizeof(struct rpt_loc));
            if (!rc->stacks[w])
                return -ENOMEM;
            memcpy(rc->stacks[w], m->locs, d * sizeof(struct rpt_loc));
            rc->depth[w] = d;
        }
    }

    return 0;
}

/* LOSSES: counters are cumulative, the largest figure is kept. */
static int merge_losses(struct merge *m)
{
    struct rpt_series *s = m->s;
    const struct snapshot *snap = m->snap;
    for (size_t i = 0; i < snap->n_losses; i++) {
        const struct snap_loss *l = &snap->losses[i];
        size_t j = 0;
        while (j < s->n_losses && strcmp(s->losses[j].name, l->name))
            j++;
        if (j == s->n_losses) {
            struct rpt_loss *p = realloc(s->losses, (s->n_losses + 1) * sizeof(*p));
            if (!p)
                return -ENOMEM;
            s->losses = p;
            memset(&p[j], 0, sizeof(p[j]));
            memcpy(p[j].name, l->name, sizeof(p[j].name));
            p[j].name[sizeof(p[j].name) - 1] = '\0';
            s->n_losses++;
        }
        /* Counters are cumulative; a smaller later value means a restart, so
         * keep the largest figure seen rather than hide losses. */
        if (l->value > s->losses[j].value)
            s->losses[j].value = l->value;
    }
    return 0;
}

uint32_t rpt_merge_stack(void *merge, uint32_t stack_id, const struct rpt_loc **locs)
{
    uint32_t d = resolve(merge, stack_id);
    *locs = ((struct merge *)merge)->locs;
    return d;
}

static int merge_memory(struct merge *m) /* reports/memory.c */
{
    return rpt_memory_merge(m->s, m->k, m->snap, rpt_merge_stack, m);
}

static int merge_kmem(struct merge *m)
{
    int rc = rpt_kmem_merge(m->s, m->snap, m->k, m);
    rpt_memory_feed_kernel(m->s, m->k, rpt_kmem_total_bytes(m->s, m->k)); /* a component */
    return rc;
}

/* One snapshot into the series, section by section. */
static int merge_snapshot(struct merge *m)
{
    int (*const steps[])(struct merge *) = {
        merge_modules,   merge_heap,   merge_reach, merge_fds,         merge_mmaps,
        merge_resources, merge_memory, merge_kmem,  merge_corruptions, merge_losses};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int rc = steps[i](m);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void add_report_loss(struct rpt_series *s, const char *name, uint64_t v)
{
    if (!v)
        return;
    struct rpt_loss *p = realloc(s->losses, (s->n_losses + 1) * sizeof(*p));
    if (!p)
        return;
    s->losses = p;
    memset(&p[s->n_losses], 0, sizeof(*p));
    snprintf(p[s->n_losses].name, sizeof(p->name), "%s", name);
    p[s->n_losses++].value = v;
}

int rpt_series_load_files(char **paths, int n, struct rpt_series **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n <= 0) {
        snprintf(err, errlen, "no snapshot files given");
        return -EINVAL;
    }
    struct rpt_series *s = calloc(1, sizeof(*s));
    if (!s || !(s->snaps = calloc((size_t)n, sizeof(*s->snaps)))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->n_snaps = (size_t)n;
    struct merge m = {.s = s};
    uint64_t prev_time = 0;
    for (int i = 0; i < n; i++) {
        struct snapshot *snap;
        int rc = snapshot_read_file(paths[i], &snap, err, errlen);
        if (rc < 0) {
            merge_release(&m);
            rpt_series_free(s);
            return rc;
        }
        if (i == 0) {
            s->first = snap->hdr;
            s->name = strdup(snap->hdr.series[0] ? snap->hdr.series : "unnamed");
        } else if (strcmp(snap->hdr.series, s->last.series)) {
            rpt_series_warn(s, "%s: belongs to series '%s', not '%s'", paths[i], snap->hdr.series,
                            s->last.series);
        }
        if (i > 0 && snap->hdr.snapshot_time_ns < prev_time)
            rpt_series_warn(s, "%s: snapshot time goes backwards", paths[i]);
        prev_time = snap->hdr.snapshot_time_ns;
        s->last = snap->hdr;
        struct rpt_snapinfo *si = &s->snaps[i];
        si->seq = snap->hdr.seq;
        si->trigger = snap->hdr.trigger;
        si->time_ns = snap->hdr.snapshot_time_ns;
        si->mono_ns = snap->hdr.monotonic_ns;
        si->rss_bytes = snap->hdr.rss_bytes;
        si->path = strdup(paths[i]);
        m.snap = snap;
        m.k = (uint32_t)i;
        rc = merge_snapshot(&m);
        free(m.mm);
        m.mm = NULL;
        snapshot_free(snap);
        if (rc < 0) {
            snprintf(err, errlen, "%s: %s", paths[i], strerror(-rc));
            merge_release(&m);
            rpt_series_free(s);
            return rc;
        }
    }
    merge_release(&m);
    add_report_loss(s, snap_loss_name(SNAP_LOSS_REPORT_STACK_ID_NOT_IN_TABLE), m.missing_stacks);
    s->reach_final =
        s->has_reach && s->reach_snap == (uint32_t)n - 1 &&
        (s->reach_trigger == SNAP_TRIGGER_EXIT || s->reach_trigger == SNAP_TRIGGER_DETACH);
    *out = s;
    return 0;
}
