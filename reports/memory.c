/*
 * Implementation of reports/memory.h: the memory breakdown merged over a
 * series, its growth verdict and each renderer's part of it.
 */
#include "memory.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One row per component: adding a source of memory is one row here (and,
 * when the capture measures it, one enum value in snapshot.h). `growth`
 * names the verdict when the component is what grew. */
static const struct mem_component {
    uint32_t id;
    const char *label;
    const char *growth;
    int in_rss; /* part of the process's RSS (the kernel's memory is not) */
} components[] = {
    {SNAP_MEM_HEAP_LIVE, "live heap", "heap leak", 1},
    {SNAP_MEM_ALLOC_RETAINED, "allocator retained (free, not returned)",
     "allocator retention (fragmentation)", 1},
    {SNAP_MEM_STACKS, "thread stacks", "thread stacks", 1},
    {SNAP_MEM_ANON_MMAP, "anonymous mmaps", "anonymous mmap", 1},
    {SNAP_MEM_SHMEM, "shared memory (memfd, shm)", "shared memory (memfd/shm)", 1},
    {SNAP_MEM_DMABUF, "dma-buf mappings", "dma-buf", 1},
    {SNAP_MEM_FILE, "file-backed (code, data, files)", "file/page cache", 1},
    {SNAP_MEM_TOOL, "leakaudit's own memory", "leakaudit's own memory", 1},
    {SNAP_MEM_OTHER_ANON, "other anonymous", "other anonymous memory", 1},
    {SNAP_MEM_UNACCOUNTED, "unaccounted (rollup - mappings)", "unaccounted memory", 1},
    {RPT_MEM_KERNEL, "kernel (outstanding in its context)", "kernel memory", 0},
};
#define N_COMPONENTS (sizeof(components) / sizeof(components[0]))

struct mem_point {
    int present;
    struct snap_mem_info info;
    int64_t rss[RPT_MEM_COMPONENTS], pss[RPT_MEM_COMPONENTS];
    uint32_t flags[RPT_MEM_COMPONENTS];
};

/* A component's bytes at one creating stack, over the series. */
struct mem_row {
    uint32_t component, depth;
    uint64_t hash;
    struct rpt_loc *locs;
    int64_t *rss; /* [n_snaps] */
};

struct rpt_memory {
    size_t n_snaps;
    struct mem_point *pts;
    struct mem_row *rows;
    size_t n_rows, cap_rows;
    struct snap_dmabuf *dmabufs; /* the last snapshot's */
    struct rpt_loc **dmabuf_locs;
    uint32_t *dmabuf_depth;
    size_t n_dmabufs;
    int have_verdict;
    struct rpt_mem_verdict verdict;
};

const char *rpt_memory_component_key(uint32_t component)
{
    return component == RPT_MEM_KERNEL ? "kernel" : snap_mem_component_key(component);
}

static const struct mem_component *component_of(uint32_t id)
{
    for (size_t i = 0; i < N_COMPONENTS; i++)
        if (components[i].id == id)
            return &components[i];
    return NULL;
}

static struct rpt_memory *memory_of(struct rpt_series *s)
{
    if (s->memory)
        return s->memory;
    struct rpt_memory *m = calloc(1, sizeof(*m));
    if (!m || !(m->pts = calloc(s->n_snaps ? s->n_snaps : 1, sizeof(*m->pts)))) {
        free(m);
        return NULL;
    }
    m->n_snaps = s->n_snaps;
    return s->memory = m;
}

static uint64_t hash_locs(const struct rpt_loc *l, uint32_t depth)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < depth; i++)
        h = (h ^ (l[i].off + ((uint64_t)l[i].mod << 48))) * 1099511628211ull;
    return h;
}

static struct mem_row *row_for(struct rpt_memory *m, uint32_t comp, const struct rpt_loc *locs,
                               uint32_t depth)
{
    uint64_t h = hash_locs(locs, depth);
    for (size_t i = 0; i < m->n_rows; i++)
        if (m->rows[i].component == comp && m->rows[i].hash == h && m->rows[i].depth == depth)
            return &m->rows[i];
    if (m->n_rows == m->cap_rows) {
        size_t cap = m->cap_rows ? 2 * m->cap_rows : 16;
        struct mem_row *p = realloc(m->rows, cap * sizeof(*p));
        if (!p)
            return NULL;
        m->rows = p;
        m->cap_rows = cap;
    }
    struct mem_row *r = &m->rows[m->n_rows];
    *r = (struct mem_row){.component = comp, .depth = depth, .hash = h};
    r->locs = malloc((depth ? depth : 1) * sizeof(*locs));
    r->rss = calloc(m->n_snaps, sizeof(*r->rss));
    if (!r->locs || !r->rss) {
        free(r->locs);
        free(r->rss);
        return NULL;
    }
    memcpy(r->locs, locs, depth * sizeof(*locs));
    m->n_rows++;
    return r;
}

static void free_dmabufs(struct rpt_memory *m)
{
    for (size_t i = 0; i < m->n_dmabufs; i++)
        free(m->dmabuf_locs[i]);
    free(m->dmabufs);
    free(m->dmabuf_locs);
    free(m->dmabuf_depth);
    m->dmabufs = NULL;
    m->dmabuf_locs = NULL;
    m->dmabuf_depth = NULL;
    m->n_dmabufs = 0;
}

static int merge_dmabufs(struct rpt_memory *m, const struct snapshot *snap,
                         rpt_mem_resolve_fn resolve, void *arg)
{
    free_dmabufs(m);
    size_t n = snap->n_dmabufs;
    if (!n)
        return 0;
    m->dmabufs = malloc(n * sizeof(*m->dmabufs));
    m->dmabuf_locs = calloc(n, sizeof(*m->dmabuf_locs));
    m->dmabuf_depth = calloc(n, sizeof(*m->dmabuf_depth));
    if (!m->dmabufs || !m->dmabuf_locs || !m->dmabuf_depth)
        return -ENOMEM;
    memcpy(m->dmabufs, snap->dmabufs, n * sizeof(*m->dmabufs));
    m->n_dmabufs = n;
    for (size_t i = 0; i < n; i++) {
        const struct rpt_loc *locs;
        uint32_t depth = resolve(arg, snap->dmabufs[i].stack_id, &locs);
        if (depth && (m->dmabuf_locs[i] = malloc(depth * sizeof(*locs)))) {
            memcpy(m->dmabuf_locs[i], locs, depth * sizeof(*locs));
            m->dmabuf_depth[i] = depth;
        }
    }
    return 0;
}

int rpt_memory_merge(struct rpt_series *s, size_t k, const struct snapshot *snap,
                     rpt_mem_resolve_fn resolve, void *arg)
{
    if (!snap->has_memory)
        return 0;
    struct rpt_memory *m = memory_of(s);
    if (!m || k >= m->n_snaps)
        return -ENOMEM;
    struct mem_point *p = &m->pts[k];
    int64_t kernel = p->rss[RPT_MEM_KERNEL]; /* fed before or after: kept */
    memset(p, 0, sizeof(*p));
    p->rss[RPT_MEM_KERNEL] = p->pss[RPT_MEM_KERNEL] = kernel;
    p->present = 1;
    p->info = snap->mem;
    for (size_t i = 0; i < snap->n_mem; i++) {
        const struct snap_mem_entry *e = &snap->mem_entries[i];
        p->rss[e->component] += e->rss;
        p->pss[e->component] += e->pss;
        p->flags[e->component] |= e->flags;
        if (e->stack_id == SNAP_STACK_NONE)
            continue;
        const struct rpt_loc *locs;
        uint32_t depth = resolve(arg, e->stack_id, &locs);
        struct mem_row *r = depth ? row_for(m, e->component, locs, depth) : NULL;
        if (r)
            r->rss[k] += e->rss;
    }
    return merge_dmabufs(m, snap, resolve, arg);
}

void rpt_memory_feed_kernel(struct rpt_series *s, size_t k, uint64_t bytes)
{
    struct rpt_memory *m = memory_of(s);
    if (m && k < m->n_snaps)
        m->pts[k].rss[RPT_MEM_KERNEL] = m->pts[k].pss[RPT_MEM_KERNEL] = (int64_t)bytes;
}

void rpt_memory_free(struct rpt_memory *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_rows; i++) {
        free(m->rows[i].locs);
        free(m->rows[i].rss);
    }
    free(m->rows);
    free_dmabufs(m);
    free(m->pts);
    free(m);
}

/* ---- the verdict ---- */

/* The first and last snapshots with a breakdown; 0 if there is none. */
static int span(const struct rpt_memory *m, size_t *a, size_t *b)
{
    size_t i = 0, j = m->n_snaps;
    while (i < m->n_snaps && !m->pts[i].present)
        i++;
    while (j > i && !m->pts[j - 1].present)
        j--;
    if (i == m->n_snaps)
        return 0;
    *a = i;
    *b = j - 1;
    return 1;
}

static int64_t delta(const struct rpt_memory *m, uint32_t c, size_t a, size_t b)
{
    return m->pts[b].rss[c] - m->pts[a].rss[c];
}

/* Growth of the heap rows whose verdict is "leak" from snapshot a to b:
 * a leak under a live heap that shrank overall (start-up buffers freed)
 * is still the answer to "whose is the growth". */
static int64_t leaking_growth(const struct rpt_series *s, size_t a, size_t b)
{
    const struct rpt_table *t = &s->tab[RPT_HEAP];
    int64_t sum = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct rpt_row *r = &t->rows[i];
        if (r->trend.verdict == RPT_VERDICT_LEAK && r->value[b] > r->value[a])
            sum += (int64_t)(r->value[b] - r->value[a]);
    }
    return sum;
}

/* The stack the component grew at most: a heap row (a leaking one when
 * there is one), or a memory row. */
static void verdict_stack(struct rpt_ctx *ctx, struct rpt_mem_verdict *v, size_t a, size_t b)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_memory *m = s->memory;
    int64_t best = 0;
    if (v->component == SNAP_MEM_HEAP_LIVE) {
        const struct rpt_table *t = &s->tab[RPT_HEAP];
        int leaks_only = leaking_growth(s, a, b) > 0;
        for (size_t i = 0; i < t->n; i++) {
            const struct rpt_row *r = &t->rows[i];
            int64_t d = (int64_t)r->value[b] - (int64_t)r->value[a];
            if (leaks_only && r->trend.verdict != RPT_VERDICT_LEAK)
                continue;
            if (d > best && r->depth > r->skip) {
                best = d;
                v->locs = r->locs + r->skip;
                v->depth = r->depth - r->skip;
            }
        }
        return;
    }
    if (v->component == RPT_MEM_KERNEL) { /* the kernel row that grew most: its user stack */
        const struct rpt_kmem_row *rows;
        const uint32_t *order;
        size_t n = rpt_kmem_shown(s, &rows, &order);
        for (size_t i = 0; i < n; i++) {
            const struct rpt_kmem_row *r = &rows[order[i]];
            int64_t d = (int64_t)r->value[b] - (int64_t)r->value[a];
            if (d > best && r->depth) {
                best = d;
                v->locs = r->locs;
                v->depth = r->depth;
            }
        }
        return;
    }
    for (size_t i = 0; i < m->n_rows; i++) {
        const struct mem_row *r = &m->rows[i];
        int64_t d = r->rss[b] - r->rss[a];
        if (r->component == v->component && d > best) {
            best = d;
            v->locs = r->locs;
            v->depth = r->depth;
        }
    }
}

static const char *function_at(struct rpt_ctx *ctx, const struct rpt_loc *loc)
{
    const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, *loc);
    const char *f = sym->frames[sym->n_frames - 1].function;
    return f ? f : rpt_module_basename(loc->mod);
}

static void verdict_summary(struct rpt_ctx *ctx, struct rpt_mem_verdict *v, size_t a, size_t b)
{
    const struct rpt_memory *m = ctx->series->memory;
    char x[32], y[32], at[160] = "";
    if (v->locs)
        snprintf(at, sizeof(at), " at %s", function_at(ctx, v->locs));
    const struct mem_component *c = component_of(v->component);
    rpt_fmt_bytes((double)v->component_growth, y, sizeof(y));
    if (v->component == SNAP_MEM_ALLOC_RETAINED) {
        int64_t live = delta(m, SNAP_MEM_HEAP_LIVE, a, b);
        rpt_fmt_bytes((double)llabs(live), x, sizeof(x));
        snprintf(v->summary, sizeof(v->summary), "%s: live heap %s (%s%s), free-but-held +%s",
                 c->growth, live * 4 < v->component_growth ? "flat" : "grows too",
                 live < 0 ? "-" : "+", x, y);
    } else {
        snprintf(v->summary, sizeof(v->summary), "%s%s (+%s)", c->growth, at, y);
    }
    if (v->component == SNAP_MEM_HEAP_LIVE && v->also_retained > 0) {
        size_t n = strlen(v->summary);
        rpt_fmt_bytes((double)v->also_retained, x, sizeof(x));
        snprintf(v->summary + n, sizeof(v->summary) - n, "; allocator retention +%s", x);
    }
}

const struct rpt_mem_verdict *rpt_memory_verdict(struct rpt_ctx *ctx)
{
    static const struct rpt_mem_verdict none = {.summary = "no memory breakdown in the snapshots"};
    struct rpt_memory *m = ctx->series->memory;
    size_t a, b;
    if (!m || !span(m, &a, &b))
        return &none;
    struct rpt_mem_verdict *v = &m->verdict;
    if (m->have_verdict)
        return v;
    m->have_verdict = 1;
    v->has_memory = 1;
    v->first_rss = m->pts[a].info.rss;
    v->last_rss = m->pts[b].info.rss;
    v->rss_growth = (int64_t)v->last_rss - (int64_t)v->first_rss;
    double min = fmax(RPT_MEM_MIN_GROWTH, 0.02 * (double)v->first_rss);
    v->grows = b > a && (double)v->rss_growth >= min;
    char x[32], y[32];
    if (!v->grows) {
        snprintf(v->summary, sizeof(v->summary), "RSS did not grow (%s -> %s)",
                 rpt_fmt_bytes((double)v->first_rss, x, sizeof(x)),
                 rpt_fmt_bytes((double)v->last_rss, y, sizeof(y)));
        /* kernel memory is not in RSS: its growth is said on its own */
        int64_t k = delta(m, RPT_MEM_KERNEL, a, b);
        if (b > a && k >= RPT_MEM_MIN_KERNEL_GROWTH) {
            v->component = RPT_MEM_KERNEL;
            v->component_growth = k;
            verdict_stack(ctx, v, a, b);
            char at[160] = "";
            if (v->locs)
                snprintf(at, sizeof(at), " at %s", function_at(ctx, v->locs));
            size_t n = strlen(v->summary);
            snprintf(v->summary + n, sizeof(v->summary) - n, "; kernel memory grows%s (+%s)", at,
                     rpt_fmt_bytes((double)k, x, sizeof(x)));
        }
        return v;
    }
    for (size_t i = 0; i < N_COMPONENTS; i++) {
        int64_t d = delta(m, components[i].id, a, b);
        if (d > v->component_growth) {
            v->component_growth = d;
            v->component = components[i].id;
        }
    }
    /* a heap leak the trend analysis found outranks the component totals */
    int64_t leak = leaking_growth(ctx->series, a, b);
    if ((double)leak >= RPT_MEM_MIN_GROWTH && v->component != SNAP_MEM_HEAP_LIVE) {
        int64_t retained = delta(m, SNAP_MEM_ALLOC_RETAINED, a, b);
        v->also_retained = (double)retained >= min ? retained : 0;
        v->component = SNAP_MEM_HEAP_LIVE;
        v->component_growth = leak;
    }
    verdict_stack(ctx, v, a, b);
    verdict_summary(ctx, v, a, b);
    return v;
}

int64_t rpt_memory_last(const struct rpt_series *s, uint32_t component)
{
    size_t a, b;
    if (!s->memory || !span(s->memory, &a, &b) || component >= RPT_MEM_COMPONENTS)
        return 0;
    return s->memory->pts[b].rss[component];
}

/* ---- statistics for the renderers ---- */

/* Slope per minute of a component over the snapshots with a breakdown. */
static double slope_of(const struct rpt_series *s, uint32_t c)
{
    const struct rpt_memory *m = s->memory;
    double *t = malloc(m->n_snaps * sizeof(double)), *y = malloc(m->n_snaps * sizeof(double));
    size_t n = 0;
    for (size_t i = 0; t && y && i < m->n_snaps; i++)
        if (m->pts[i].present) {
            t[n] = rpt_elapsed_min(s, i);
            y[n++] = (double)m->pts[i].rss[c];
        }
    double slope = 0, r2 = 0;
    if (n >= 2)
        rpt_fit_line(t, y, 0, n, &slope, &r2);
    free(t);
    free(y);
    return slope;
}

/* |unaccounted| as a percentage of RSS at snapshot i. */
static double unaccounted_pct(const struct mem_point *p)
{
    return p->info.rss ? 100.0 * (double)llabs(p->rss[SNAP_MEM_UNACCOUNTED]) / (double)p->info.rss
                       : 0;
}

static int estimated(const struct mem_point *p, uint32_t c)
{
    return (p->flags[c] & SNAP_MEM_ESTIMATED) != 0;
}

/* ---- text ---- */

void rpt_memory_text_verdict(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_mem_verdict *v = rpt_memory_verdict(ctx);
    if (!v->has_memory)
        return;
    char a[32], b[32], d[32];
    if (v->grows)
        fprintf(out, "memory: RSS +%s (%s -> %s): %s\n",
                rpt_fmt_bytes((double)v->rss_growth, d, sizeof(d)),
                rpt_fmt_bytes((double)v->first_rss, a, sizeof(a)),
                rpt_fmt_bytes((double)v->last_rss, b, sizeof(b)), v->summary);
    else
        fprintf(out, "memory: %s\n", v->summary);
    fputc('\n', out);
}

static void text_rows(struct rpt_ctx *ctx, FILE *out, size_t a, size_t b)
{
    const struct rpt_memory *m = ctx->series->memory;
    char x[32], y[32];
    int any = 0;
    for (size_t i = 0; i < m->n_rows; i++) {
        const struct mem_row *r = &m->rows[i];
        if (!r->rss[b] && !r->rss[a])
            continue;
        if (!any++)
            fprintf(out, "  by creating stack (last, change):\n");
        fprintf(out, "    %-12s %10s  %11s\n", rpt_memory_component_key(r->component),
                rpt_fmt_bytes((double)r->rss[b], x, sizeof(x)),
                rpt_fmt_bytes((double)(r->rss[b] - r->rss[a]), y, sizeof(y)));
        uint32_t depth = r->depth < 6 ? r->depth : 6;
        rpt_text_frames(ctx, out, r->locs, 0, depth, "        ");
    }
    for (size_t i = 0; i < m->n_dmabufs; i++) {
        const struct snap_dmabuf *d = &m->dmabufs[i];
        fprintf(out, "  dma-buf inode %" PRIu64 ": %s, exporter %s%s%s, %u fd(s), %u map(s)\n",
                d->inode, rpt_fmt_bytes((double)d->size, x, sizeof(x)),
                d->exporter[0] ? d->exporter : "?", d->name[0] ? ", name " : "", d->name, d->n_fds,
                d->n_maps);
        if (m->dmabuf_depth[i])
            rpt_text_frames(ctx, out, m->dmabuf_locs[i], 0,
                            m->dmabuf_depth[i] < 6 ? m->dmabuf_depth[i] : 6, "        ");
    }
}

void rpt_memory_text(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_memory *m = s->memory;
    size_t a, b;
    if (!m || !span(m, &a, &b))
        return;
    const struct mem_point *p = &m->pts[b];
    char x[32], y[32], z[32], w[32];
    fprintf(out, "MEMORY BREAKDOWN (RSS %s, PSS %s; docs/memory.md)\n",
            rpt_fmt_bytes((double)p->info.rss, x, sizeof(x)),
            rpt_fmt_bytes((double)p->info.pss, y, sizeof(y)));
    fprintf(out, "  %-40s %10s %10s %11s %12s\n", "component", "first", "last", "change",
            "slope/min");
    for (size_t i = 0; i < N_COMPONENTS; i++) {
        uint32_t c = components[i].id;
        if (!p->rss[c] && !m->pts[a].rss[c])
            continue;
        fprintf(out, "  %-40s %10s %10s %11s %12s%s\n", components[i].label,
                rpt_fmt_bytes((double)m->pts[a].rss[c], x, sizeof(x)),
                rpt_fmt_bytes((double)p->rss[c], y, sizeof(y)),
                rpt_fmt_bytes((double)delta(m, c, a, b), z, sizeof(z)),
                rpt_fmt_bytes(slope_of(s, c), w, sizeof(w)),
                estimated(p, c) ? "  (estimated)" : "");
    }
    fprintf(out, "  adds up to RSS within %.1f %% (unaccounted %s; tolerance %.0f %%)\n",
            unaccounted_pct(p), rpt_fmt_bytes((double)p->rss[SNAP_MEM_UNACCOUNTED], x, sizeof(x)),
            RPT_MEM_TOLERANCE_PCT);
    if (p->info.flags & SNAP_MEMI_ALLOC_STATS)
        fprintf(out, "  allocator says: %s held, %s handed out; live heap tracked %s\n",
                rpt_fmt_bytes((double)p->info.alloc_resident, x, sizeof(x)),
                p->info.alloc_in_use ? rpt_fmt_bytes((double)p->info.alloc_in_use, y, sizeof(y))
                                     : "(not counted)",
                rpt_fmt_bytes((double)p->info.live_heap, z, sizeof(z)));
    else if (p->info.flags & SNAP_MEMI_ALLOC_ESTIMATED)
        fprintf(out, "  allocator not asked (eBPF attach): retained is estimated as anonymous "
                     "heap memory minus the live heap\n");
    text_rows(ctx, out, a, b);
    fputc('\n', out);
}

/* ---- JSON (docs/report-json.md, "memory") ---- */

static void json_verdict(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_mem_verdict *v = rpt_memory_verdict(ctx);
    fprintf(out, "\"verdict\":{\"grows\":%s,\"component\":", v->grows ? "true" : "false");
    if (v->grows && v->component)
        rpt_json_string(out, rpt_memory_component_key(v->component));
    else
        fputs("null", out);
    fputs(",\"summary\":", out);
    rpt_json_string(out, v->summary);
    fprintf(out,
            ",\"first_rss_bytes\":%" PRIu64 ",\"last_rss_bytes\":%" PRIu64
            ",\"rss_growth_bytes\":%" PRId64 ",\"component_growth_bytes\":%" PRId64 ",\"stack\":",
            v->first_rss, v->last_rss, v->rss_growth, v->component_growth);
    if (v->locs)
        rpt_json_frames(ctx, out, v->locs, 0, v->depth);
    else
        fputs("null", out);
    fputc('}', out);
}

static void json_snapshots(const struct rpt_series *s, FILE *out)
{
    const struct rpt_memory *m = s->memory;
    fputs(",\"snapshots\":[", out);
    int first = 1;
    for (size_t i = 0; i < m->n_snaps; i++) {
        const struct mem_point *p = &m->pts[i];
        if (!p->present)
            continue;
        fprintf(out,
                "%s{\"seq\":%u,\"rss_bytes\":%" PRIu64 ",\"pss_bytes\":%" PRIu64
                ",\"anon_bytes\":%" PRIu64 ",\"file_bytes\":%" PRIu64 ",\"shmem_bytes\":%" PRIu64
                ",\"swap_bytes\":%" PRIu64 ",\"live_heap_bytes\":%" PRIu64
                ",\"allocator_resident_bytes\":%" PRIu64 ",\"allocator_in_use_bytes\":%" PRIu64
                ",\"dmabuf_bytes\":%" PRIu64 ",\"allocator_estimated\":%s,\"components\":{",
                first ? "" : ",", s->snaps[i].seq, p->info.rss, p->info.pss, p->info.anon,
                p->info.file, p->info.shmem, p->info.swap, p->info.live_heap,
                p->info.alloc_resident, p->info.alloc_in_use, p->info.dmabuf_bytes,
                p->info.flags & SNAP_MEMI_ALLOC_ESTIMATED ? "true" : "false");
        first = 0;
        for (size_t c = 0; c < N_COMPONENTS; c++)
            fprintf(out, "%s\"%s\":%" PRId64, c ? "," : "",
                    rpt_memory_component_key(components[c].id), p->rss[components[c].id]);
        fputs("},\"pss_components\":{", out);
        for (size_t c = 0; c < N_COMPONENTS; c++)
            fprintf(out, "%s\"%s\":%" PRId64, c ? "," : "",
                    rpt_memory_component_key(components[c].id), p->pss[components[c].id]);
        fputs("}}", out);
    }
    fputc(']', out);
}

static void json_components(const struct rpt_series *s, FILE *out, size_t a, size_t b)
{
    const struct rpt_memory *m = s->memory;
    fputs(",\"components\":[", out);
    for (size_t i = 0; i < N_COMPONENTS; i++) {
        uint32_t c = components[i].id;
        fprintf(out, "%s{\"key\":\"%s\",\"label\":", i ? "," : "", rpt_memory_component_key(c));
        rpt_json_string(out, components[i].label);
        fprintf(out,
                ",\"in_rss\":%s,\"first_bytes\":%" PRId64 ",\"last_bytes\":%" PRId64
                ",\"change_bytes\":%" PRId64 ",\"slope_bytes_per_min\":%.0f,\"estimated\":%s}",
                components[i].in_rss ? "true" : "false", m->pts[a].rss[c], m->pts[b].rss[c],
                delta(m, c, a, b), slope_of(s, c), estimated(&m->pts[b], c) ? "true" : "false");
    }
    fputc(']', out);
}

static void json_stacks(struct rpt_ctx *ctx, FILE *out, size_t a, size_t b)
{
    const struct rpt_memory *m = ctx->series->memory;
    fputs(",\"stacks\":[", out);
    int first = 1;
    for (size_t i = 0; i < m->n_rows; i++) {
        const struct mem_row *r = &m->rows[i];
        fprintf(out,
                "%s{\"component\":\"%s\",\"bytes\":%" PRId64 ",\"change_bytes\":%" PRId64
                ",\"frames\":",
                first ? "" : ",", rpt_memory_component_key(r->component), r->rss[b],
                r->rss[b] - r->rss[a]);
        first = 0;
        rpt_json_frames(ctx, out, r->locs, 0, r->depth);
        fputc('}', out);
    }
    fputs("],\"dmabufs\":[", out);
    for (size_t i = 0; i < m->n_dmabufs; i++) {
        const struct snap_dmabuf *d = &m->dmabufs[i];
        fprintf(out,
                "%s{\"inode\":%" PRIu64 ",\"size_bytes\":%" PRIu64 ",\"exporter\":", i ? "," : "",
                d->inode, d->size);
        rpt_json_string(out, d->exporter);
        fputs(",\"name\":", out);
        rpt_json_string(out, d->name);
        fprintf(out, ",\"fds\":%u,\"maps\":%u,\"frames\":", d->n_fds, d->n_maps);
        rpt_json_frames(ctx, out, m->dmabuf_locs[i], 0, m->dmabuf_depth[i]);
        fputc('}', out);
    }
    fputc(']', out);
}

void rpt_memory_json(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    size_t a, b;
    if (!s->memory || !span(s->memory, &a, &b)) {
        fputs(",\n\"memory\":null", out);
        return;
    }
    fputs(",\n\"memory\":{", out);
    json_verdict(ctx, out);
    fprintf(out, ",\"tolerance_pct\":%.1f,\"unaccounted_pct\":%.3f", RPT_MEM_TOLERANCE_PCT,
            unaccounted_pct(&s->memory->pts[b]));
    json_snapshots(s, out);
    json_components(s, out, a, b);
    json_stacks(ctx, out, a, b);
    fputc('}', out);
}

/* ---- HTML ---- */

void rpt_memory_html(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_memory *m = s->memory;
    size_t a, b;
    if (!m || !span(m, &a, &b))
        return;
    const struct rpt_mem_verdict *v = rpt_memory_verdict(ctx);
    char x[32], y[32], z[32];
    fputs("<section id=\"memory\"><h2>Memory breakdown</h2>\n<p class=\"verdict\">", out);
    rpt_html_escape(out, v->summary);
    fputs("</p>\n<table><tr><th>component</th><th>first</th><th>last</th><th>change</th></tr>\n",
          out);
    for (size_t i = 0; i < N_COMPONENTS; i++) {
        uint32_t c = components[i].id;
        fputs("<tr><td>", out);
        rpt_html_escape(out, components[i].label);
        fprintf(out, "%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                estimated(&m->pts[b], c) ? " (estimated)" : "",
                rpt_fmt_bytes((double)m->pts[a].rss[c], x, sizeof(x)),
                rpt_fmt_bytes((double)m->pts[b].rss[c], y, sizeof(y)),
                rpt_fmt_bytes((double)delta(m, c, a, b), z, sizeof(z)));
    }
    fprintf(out, "</table>\n<p>Adds up to RSS within %.1f %% (tolerance %.0f %%).</p>\n",
            unaccounted_pct(&m->pts[b]), RPT_MEM_TOLERANCE_PCT);
    for (size_t i = 0; i < m->n_rows; i++) {
        const struct mem_row *r = &m->rows[i];
        fprintf(out, "<p>%s %s at ", rpt_memory_component_key(r->component),
                rpt_fmt_bytes((double)r->rss[b], x, sizeof(x)));
        rpt_html_escape(out, function_at(ctx, r->locs));
        fputs("</p>\n", out);
    }
    fputs("</section>\n", out);
}

/* ---- Prometheus ---- */

void rpt_memory_prometheus(struct rpt_ctx *ctx, FILE *out,
                           void (*labels)(FILE *out, const struct rpt_series *s))
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_memory *m = s->memory;
    size_t a, b;
    if (!m || !span(m, &a, &b))
        return;
    fputs("# HELP leakaudit_memory_bytes Resident bytes of the process by component at the last "
          "snapshot (docs/memory.md).\n# TYPE leakaudit_memory_bytes gauge\n",
          out);
    for (size_t i = 0; i < N_COMPONENTS; i++) {
        fputs("leakaudit_memory_bytes{", out);
        labels(out, s);
        fprintf(out, ",component=\"%s\"} %" PRId64 "\n", rpt_memory_component_key(components[i].id),
                m->pts[b].rss[components[i].id]);
    }
    fputs("# HELP leakaudit_memory_growth_bytes_per_second Least-squares growth of each "
          "component over the series.\n# TYPE leakaudit_memory_growth_bytes_per_second gauge\n",
          out);
    for (size_t i = 0; i < N_COMPONENTS; i++) {
        fputs("leakaudit_memory_growth_bytes_per_second{", out);
        labels(out, s);
        fprintf(out, ",component=\"%s\"} %.3f\n", rpt_memory_component_key(components[i].id),
                slope_of(s, components[i].id) / 60.0);
    }
    const struct rpt_mem_verdict *v = rpt_memory_verdict(ctx);
    fputs(
        "# HELP leakaudit_memory_growth_verdict 1 for the component RSS grew by (none: no "
        "growth).\n# TYPE leakaudit_memory_growth_verdict gauge\nleakaudit_memory_growth_verdict{",
        out);
    labels(out, s);
    fprintf(out, ",component=\"%s\"} 1\n",
            v->grows && v->component ? rpt_memory_component_key(v->component) : "none");
}
