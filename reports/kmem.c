/*
 * Kernel memory in the report (attach --kmem, SNAP_SEC_KMEM,
 * docs/memory-kernel.md): rows per (kind, kernel stack, user stack) merged
 * across the series, their growth verdicts (reports/trend.c, the heap's
 * thresholds), the outstanding kernel bytes per snapshot, the target's
 * dma-bufs, and each format's part: renderers call the rpt_kmem_* hook of
 * their format. Kernel frames arrive symbolized by the capture (names are
 * strings here); user frames are normalized like every other stack.
 * Rows the capture flagged (interrupt context, pages behind slab objects)
 * are kept out of the totals and of the rows shown.
 */
#include "report.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KMEM_TEXT_TOP    10 /* rows in the text report without --top */
#define KMEM_KFRAMES_TXT 8  /* kernel frames shown per row in text */

struct rpt_kmem {
    size_t n, cap;
    struct rpt_kmem_row *rows;
    uint64_t *live;     /* [n_snaps] outstanding kernel bytes */
    uint64_t *excluded; /* [n_snaps] bytes of flagged rows */
    int dmabuf_iter;
    uint32_t machine_dmabufs;
    size_t n_bufs;
    struct snap_kdmabuf *bufs; /* of the last snapshot that had the section */
    uint32_t *order;           /* rows shown, largest last value first */
    size_t n_order;
};

/* Row identity: kind, kernel frame names (symbol+offset), user frames. */
static uint64_t row_hash(const struct snap_kmem_row *e, const struct snap_kstack *k,
                         const struct rpt_loc *locs, uint32_t depth)
{
    uint64_t h = util_fnv1a(UTIL_FNV_SEED, &e->kind, sizeof(e->kind));
    for (uint32_t i = 0; k && i < k->depth; i++)
        h = util_fnv1a(h, k->names[i], strlen(k->names[i]) + 1);
    return util_fnv1a(h, locs, depth * sizeof(*locs));
}

static struct rpt_kmem_row *row_for(struct rpt_kmem *km, uint64_t h, size_t n_snaps)
{
    for (size_t i = 0; i < km->n; i++)
        if (km->rows[i].hash == h)
            return &km->rows[i];
    if (km->n == km->cap) {
        size_t nc = km->cap ? km->cap * 2 : 64;
        void *p = realloc(km->rows, nc * sizeof(*km->rows));
        if (!p)
            return NULL;
        km->rows = p;
        km->cap = nc;
    }
    struct rpt_kmem_row *r = &km->rows[km->n];
    memset(r, 0, sizeof(*r));
    r->value = calloc(n_snaps, sizeof(uint64_t));
    r->count = calloc(n_snaps, sizeof(uint64_t));
    if (!r->value || !r->count) {
        free(r->value);
        free(r->count);
        return NULL;
    }
    r->hash = h;
    km->n++;
    return r;
}

static int fill_new_row(struct rpt_kmem_row *r, const struct snap_kmem_row *e,
                        const struct snap_kstack *k, const struct rpt_loc *locs, uint32_t depth,
                        uint32_t snap)
{
    r->kind = e->kind;
    r->flags = e->flags;
    r->first_snap = snap;
    memcpy(r->cache, e->cache, sizeof(r->cache));
    if (depth && !(r->locs = malloc(depth * sizeof(*locs))))
        return -ENOMEM;
    if (depth)
        memcpy(r->locs, locs, depth * sizeof(*locs));
    r->depth = depth;
    if (k && k->depth && !(r->kframes = calloc(k->depth, sizeof(char *))))
        return -ENOMEM;
    for (uint32_t i = 0; k && i < k->depth; i++)
        if (!(r->kframes[r->kdepth++] = strdup(k->names[i])))
            return -ENOMEM;
    return 0;
}

int rpt_kmem_merge(struct rpt_series *s, const struct snapshot *snap, uint32_t k, void *merge)
{
    if (!snap->has_kmem)
        return 0;
    struct rpt_kmem *km = s->kmem;
    if (!km) {
        if (!(km = s->kmem = calloc(1, sizeof(*km))) ||
            !(km->live = calloc(s->n_snaps, sizeof(uint64_t))) ||
            !(km->excluded = calloc(s->n_snaps, sizeof(uint64_t))))
            return -ENOMEM;
    }
    km->live[k] = snap->kmem.live_bytes;
    km->excluded[k] = snap->kmem.excluded_bytes;
    km->dmabuf_iter = !!(snap->kmem.flags & SNAP_KMEM_DMABUF_ITER);
    km->machine_dmabufs = snap->kmem.n_dmabufs;
    for (size_t i = 0; i < snap->n_kmem; i++) {
        const struct snap_kmem_row *e = &snap->kmem_rows[i];
        const struct snap_kstack *ks = snapshot_find_kstack(snap, e->kstack_id);
        const struct rpt_loc *locs;
        uint32_t depth = rpt_merge_stack(merge, e->stack_id, &locs);
        uint64_t h = row_hash(e, ks, locs, depth);
        struct rpt_kmem_row *r = row_for(km, h, s->n_snaps);
        if (!r)
            return -ENOMEM;
        if (!r->value[k] && !r->total_count && fill_new_row(r, e, ks, locs, depth, k) < 0)
            return -ENOMEM;
        r->value[k] += e->live_bytes;
        r->count[k] += e->live_count;
        r->total_bytes = e->total_bytes > r->total_bytes ? e->total_bytes : r->total_bytes;
        r->total_count = e->total_count > r->total_count ? e->total_count : r->total_count;
        r->freed_other_bytes = e->freed_other_bytes;
        r->freed_other_count = e->freed_other_count;
    }
    free(km->bufs);
    km->n_bufs = 0;
    km->bufs = snap->n_kdmabufs ? malloc(snap->n_kdmabufs * sizeof(*km->bufs)) : NULL;
    if (km->bufs) {
        memcpy(km->bufs, snap->kdmabufs, snap->n_kdmabufs * sizeof(*km->bufs));
        km->n_bufs = snap->n_kdmabufs;
    }
    return 0;
}

void rpt_kmem_free(struct rpt_kmem *km)
{
    if (!km)
        return;
    for (size_t i = 0; i < km->n; i++) {
        struct rpt_kmem_row *r = &km->rows[i];
        for (uint32_t f = 0; f < r->kdepth; f++)
            free(r->kframes[f]);
        free(r->kframes);
        free(r->locs);
        free(r->value);
        free(r->count);
    }
    free(km->rows);
    free(km->live);
    free(km->excluded);
    free(km->bufs);
    free(km->order);
    free(km);
}

uint64_t rpt_kmem_total_bytes(const struct rpt_series *s, size_t snap)
{
    return s->kmem && snap < s->n_snaps ? s->kmem->live[snap] : 0;
}

int rpt_kmem_present(const struct rpt_series *s)
{
    return s->kmem != NULL;
}

static const struct rpt_series *sort_series;
static int cmp_last_value(const void *a, const void *b)
{
    const struct rpt_kmem *km = sort_series->kmem;
    size_t last = sort_series->n_snaps - 1;
    uint64_t x = km->rows[*(const uint32_t *)a].value[last];
    uint64_t y = km->rows[*(const uint32_t *)b].value[last];
    return x < y ? 1 : x > y ? -1 : 0;
}

void rpt_kmem_analyze(struct rpt_series *s)
{
    struct rpt_kmem *km = s->kmem;
    size_t n = s->n_snaps;
    double *t = calloc(n, sizeof(double)), *y = calloc(n, sizeof(double));
    free(km ? km->order : NULL);
    if (km)
        km->order = calloc(km->n ? km->n : 1, sizeof(uint32_t));
    if (!km || !t || !y || !km->order) {
        free(t);
        free(y);
        return;
    }
    for (size_t i = 0; i < n; i++)
        t[i] = rpt_elapsed_min(s, i);
    km->n_order = 0;
    for (size_t r = 0; r < km->n; r++) {
        struct rpt_kmem_row *row = &km->rows[r];
        for (size_t i = 0; i < n; i++)
            y[i] = (double)row->value[i];
        rpt_trend_compute(t, y, n, row->first_snap, RPT_LEAK_MIN_HEAP_BYTES, &row->trend);
        if (!(row->flags & (SNAP_KMEM_IRQ | SNAP_KMEM_SLAB_BACKING)) && row->value[n - 1])
            km->order[km->n_order++] = (uint32_t)r;
    }
    sort_series = s;
    if (km->n_order > 1)
        qsort(km->order, km->n_order, sizeof(uint32_t), cmp_last_value);
    free(t);
    free(y);
}

/* Rows to show: --top, else the format's default (0: all). */
static size_t shown(const struct rpt_ctx *ctx, size_t dflt)
{
    size_t n = ctx->series->kmem->n_order;
    size_t top = ctx->opt->top >= 0 ? (size_t)ctx->opt->top : dflt;
    return top && top < n ? top : n;
}

/* The innermost user function of a row ("?" when unknown). */
static const char *user_function(struct rpt_ctx *ctx, const struct rpt_kmem_row *r)
{
    for (uint32_t i = 0; i < r->depth; i++) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[i]);
        const char *f = sym->frames[sym->n_frames - 1].function;
        if (f && !rpt_module_basename(r->locs[i].mod)[0])
            return f;
        if (f && strncmp(rpt_module_basename(r->locs[i].mod), "libc.so", 7))
            return f;
    }
    return "?";
}

/* "inotify_update_watch" of "inotify_update_watch+0x18e": the first kernel
 * frame past the allocator's own. */
static void kernel_site(const struct rpt_kmem_row *r, char *buf, size_t cap)
{
    static const char *const alloc_prefix[] = {"kmem_cache_alloc", "__kmalloc",   "kmalloc",
                                               "__alloc_",         "alloc_pages", "__kmem_cache"};
    buf[0] = '\0';
    for (uint32_t i = 0; i < r->kdepth; i++) {
        int alloc = 0;
        for (size_t p = 0; p < sizeof(alloc_prefix) / sizeof(alloc_prefix[0]); p++)
            alloc |= !strncmp(r->kframes[i], alloc_prefix[p], strlen(alloc_prefix[p]));
        if (alloc && i + 1 < r->kdepth)
            continue;
        snprintf(buf, cap, "%.*s", (int)strcspn(r->kframes[i], "+ "), r->kframes[i]);
        return;
    }
}

static const char *kind_name(uint32_t kind)
{
    return kind == SNAP_KMEM_PAGES ? "pages" : "slab";
}

/* ---- text ---- */

void rpt_kmem_text(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_kmem *km = s->kmem;
    if (!km)
        return;
    size_t last = s->n_snaps - 1, n = shown(ctx, KMEM_TEXT_TOP), leaks = 0;
    char a[32], b[32], site[96];
    for (size_t i = 0; i < km->n_order; i++)
        leaks += km->rows[km->order[i]].trend.verdict == RPT_VERDICT_LEAK;
    fprintf(out,
            "KERNEL MEMORY (allocated in the process's context, still outstanding): %s -> %s,"
            " %zu stacks, %zu leaking\n",
            rpt_fmt_bytes((double)km->live[0], a, sizeof(a)),
            rpt_fmt_bytes((double)km->live[last], b, sizeof(b)), km->n_order, leaks);
    if (km->excluded[last])
        fprintf(out,
                "  (%s more not attributed to the process: interrupt context, pages behind "
                "slab objects)\n",
                rpt_fmt_bytes((double)km->excluded[last], a, sizeof(a)));
    for (size_t i = 0; i < n; i++) {
        const struct rpt_kmem_row *r = &km->rows[km->order[i]];
        kernel_site(r, site, sizeof(site));
        fprintf(out, "#%zu %s  %s in %" PRIu64 " %s object%s, %s%s%s from %s", i + 1,
                rpt_verdict_name(r->trend.verdict), rpt_fmt_bytes((double)r->value[last], a, 32),
                r->count[last], kind_name(r->kind), r->count[last] == 1 ? "" : "s",
                r->cache[0] ? "cache " : "", r->cache, r->cache[0] ? "," : "", site);
        if (r->trend.verdict == RPT_VERDICT_LEAK || r->trend.verdict == RPT_VERDICT_PLATEAU)
            fprintf(out, "  %s%s/min", r->trend.rate_per_min >= 0 ? "+" : "-",
                    rpt_fmt_bytes(fabs(r->trend.rate_per_min), b, sizeof(b)));
        fputc('\n', out);
        fputs("   trend ", out);
        rpt_text_sparkline(out, r->value, s->n_snaps);
        if (r->freed_other_count)
            fprintf(out, "  (%" PRIu64 " freed by another context)", r->freed_other_count);
        fputs("\n   kernel:\n", out);
        for (uint32_t f = 0; f < r->kdepth && f < KMEM_KFRAMES_TXT; f++)
            fprintf(out, "      %s\n", r->kframes[f]);
        if (r->kdepth > KMEM_KFRAMES_TXT)
            fprintf(out, "      (%u more kernel frames)\n", r->kdepth - KMEM_KFRAMES_TXT);
        fputs("   user:\n", out);
        if (r->depth)
            rpt_text_frames(ctx, out, r->locs, 0, r->depth, "      ");
        else
            fputs("      (no user stack)\n", out);
    }
    if (km->dmabuf_iter || km->n_bufs) {
        fprintf(out, "DMA-BUF (kernel iterator: %u buffers on the machine)\n", km->machine_dmabufs);
        for (size_t i = 0; i < km->n_bufs; i++)
            fprintf(out, "  inode %" PRIu64 "  %s  exporter %s  name %s  (%u fds)\n",
                    km->bufs[i].inode, rpt_fmt_bytes((double)km->bufs[i].size, a, sizeof(a)),
                    km->bufs[i].exporter, km->bufs[i].name, km->bufs[i].target_fds);
    }
    fputc('\n', out);
}

/* ---- JSON (docs/report-json.md, "kernel_memory") ---- */

void rpt_kmem_json(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_kmem *km = s->kmem;
    fputs("\"kernel_memory\":", out);
    if (!km) {
        fputs("null,\n", out);
        return;
    }
    size_t last = s->n_snaps - 1, n = shown(ctx, 0);
    fputs("{\"live_bytes\":[", out);
    for (size_t i = 0; i < s->n_snaps; i++)
        fprintf(out, "%s%" PRIu64, i ? "," : "", km->live[i]);
    fputs("],\"excluded_bytes\":[", out);
    for (size_t i = 0; i < s->n_snaps; i++)
        fprintf(out, "%s%" PRIu64, i ? "," : "", km->excluded[i]);
    fprintf(out, "],\"stacks_total\":%zu,\"stacks\":[", km->n_order);
    char site[96];
    for (size_t i = 0; i < n; i++) {
        const struct rpt_kmem_row *r = &km->rows[km->order[i]];
        kernel_site(r, site, sizeof(site));
        fprintf(out, "%s\n{\"rank\":%zu,\"kind\":\"%s\",\"verdict\":\"%s\",", i ? "," : "", i + 1,
                kind_name(r->kind), rpt_verdict_name(r->trend.verdict));
        fprintf(out,
                "\"rate_bytes_per_min\":%.6g,\"confidence\":%.6g,\"live_bytes\":%" PRIu64
                ",\"live_count\":%" PRIu64 ",\"total_bytes\":%" PRIu64 ",\"total_count\":%" PRIu64
                ",\"freed_by_other_context\":%" PRIu64 ",",
                isfinite(r->trend.rate_per_min) ? r->trend.rate_per_min : 0, r->trend.confidence,
                r->value[last], r->count[last], r->total_bytes, r->total_count,
                r->freed_other_count);
        fputs("\"cache\":", out);
        rpt_json_string(out, r->cache[0] ? r->cache : NULL);
        fputs(",\"kernel_site\":", out);
        rpt_json_string(out, site);
        fputs(",\"user_function\":", out);
        rpt_json_string(out, user_function(ctx, r));
        fputs(",\"values\":[", out);
        for (size_t k = 0; k < s->n_snaps; k++)
            fprintf(out, "%s%" PRIu64, k ? "," : "", r->value[k]);
        fputs("],\"kernel_frames\":[", out);
        for (uint32_t f = 0; f < r->kdepth; f++) {
            fputs(f ? "," : "", out);
            rpt_json_string(out, r->kframes[f]);
        }
        fputs("],\"user_frames\":", out);
        rpt_json_frames(ctx, out, r->locs, 0, r->depth);
        fputc('}', out);
    }
    fprintf(out, "],\"dmabuf_iterator\":%s,\"machine_dmabufs\":%u,\"dmabufs\":[",
            km->dmabuf_iter ? "true" : "false", km->machine_dmabufs);
    for (size_t i = 0; i < km->n_bufs; i++) {
        fprintf(out, "%s{\"inode\":%" PRIu64 ",\"size\":%" PRIu64 ",\"fds\":%u,\"exporter\":",
                i ? "," : "", km->bufs[i].inode, km->bufs[i].size, km->bufs[i].target_fds);
        rpt_json_string(out, km->bufs[i].exporter);
        fputs(",\"name\":", out);
        rpt_json_string(out, km->bufs[i].name);
        fputc('}', out);
    }
    fputs("]},\n", out);
}

/* ---- collapsed: [kernel];user frames (root first);kernel frames ---- */

static void collapsed_name(FILE *out, const char *s)
{
    for (; *s && *s != '+' && *s != ' '; s++)
        fputc(*s == ';' ? ':' : *s, out);
}

size_t rpt_kmem_shown(const struct rpt_series *s, const struct rpt_kmem_row **rows,
                      const uint32_t **order)
{
    if (!s->kmem)
        return 0;
    *rows = s->kmem->rows;
    *order = s->kmem->order;
    return s->kmem->n_order;
}

void rpt_kmem_collapsed(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_kmem *km = ctx->series->kmem;
    size_t last = ctx->series->n_snaps - 1;
    for (size_t i = 0; km && i < km->n_order; i++) {
        const struct rpt_kmem_row *r = &km->rows[km->order[i]];
        fputs("[kernel]", out);
        for (uint32_t f = r->depth; f > 0; f--) {
            const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[f - 1]);
            const char *fn = sym->frames[sym->n_frames - 1].function;
            fputc(';', out);
            collapsed_name(out, fn ? fn : "??");
        }
        for (uint32_t f = r->kdepth; f > 0; f--) {
            fputc(';', out);
            collapsed_name(out, r->kframes[f - 1]);
        }
        fprintf(out, " %" PRIu64 "\n", r->value[last]);
    }
}

/* ---- Prometheus ---- */

static void prom_label(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s == '\n' ? ' ' : *s, out);
    }
}

void rpt_kmem_prometheus(struct rpt_ctx *ctx, FILE *out, const char *program)
{
    const struct rpt_kmem *km = ctx->series->kmem;
    if (!km)
        return;
    size_t last = ctx->series->n_snaps - 1, n = shown(ctx, 0);
    fputs("# HELP leakaudit_kernel_live_bytes Kernel memory allocated in the process's context "
          "and still outstanding.\n# TYPE leakaudit_kernel_live_bytes gauge\n",
          out);
    fprintf(out, "leakaudit_kernel_live_bytes{program=\"");
    prom_label(out, program);
    fprintf(out, "\"} %" PRIu64 "\n", km->live[last]);
    fputs("# HELP leakaudit_kernel_stack_live_bytes Outstanding kernel bytes by kernel site and "
          "user function.\n# TYPE leakaudit_kernel_stack_live_bytes gauge\n",
          out);
    char site[96];
    for (size_t i = 0; i < n; i++) {
        const struct rpt_kmem_row *r = &km->rows[km->order[i]];
        kernel_site(r, site, sizeof(site));
        fputs("leakaudit_kernel_stack_live_bytes{program=\"", out);
        prom_label(out, program);
        fprintf(out, "\",rank=\"%zu\",kind=\"%s\",verdict=\"%s\",kernel_site=\"", i + 1,
                kind_name(r->kind), rpt_verdict_name(r->trend.verdict));
        prom_label(out, site);
        fputs("\",function=\"", out);
        prom_label(out, user_function(ctx, r));
        fprintf(out, "\"} %" PRIu64 "\n", r->value[last]);
    }
}

/* ---- HTML ---- */

void rpt_kmem_html(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_kmem *km = s->kmem;
    if (!km)
        return;
    size_t last = s->n_snaps - 1, n = shown(ctx, 0);
    char a[32], b[32], site[96];
    fprintf(out,
            "<h2>Kernel memory</h2><p>Allocated in the process's context and still "
            "outstanding: %s &rarr; %s",
            rpt_fmt_bytes((double)km->live[0], a, sizeof(a)),
            rpt_fmt_bytes((double)km->live[last], b, sizeof(b)));
    if (km->excluded[last])
        fprintf(out, " (%s more not attributed: interrupt context, slab pages)",
                rpt_fmt_bytes((double)km->excluded[last], a, sizeof(a)));
    fputs("</p>\n<table><tr><th>#</th><th>verdict</th><th>live</th><th>objects</th>"
          "<th>kernel site</th><th>user function</th><th>kernel stack</th></tr>\n",
          out);
    for (size_t i = 0; i < n; i++) {
        const struct rpt_kmem_row *r = &km->rows[km->order[i]];
        kernel_site(r, site, sizeof(site));
        fprintf(out, "<tr><td>%zu</td><td>%s</td><td>%s</td><td>%" PRIu64 "</td><td>", i + 1,
                rpt_verdict_name(r->trend.verdict),
                rpt_fmt_bytes((double)r->value[last], a, sizeof(a)), r->count[last]);
        rpt_html_escape(out, site);
        fputs("</td><td>", out);
        rpt_html_escape(out, user_function(ctx, r));
        fputs("</td><td><details><summary>frames</summary>", out);
        for (uint32_t f = 0; f < r->kdepth; f++) {
            rpt_html_escape(out, r->kframes[f]);
            fputs("<br>", out);
        }
        fputs("</details></td></tr>\n", out);
    }
    fputs("</table>\n", out);
    if (km->dmabuf_iter || km->n_bufs)
        fprintf(out,
                "<p>dma-buf iterator: %u buffers on the machine, %zu held by the "
                "process.</p>\n",
                km->machine_dmabufs, km->n_bufs);
}
