/*
 * Prometheus text exposition (version 0.0.4) of a report, for the textfile
 * collector of node_exporter or any scraper (docs/fleet.md lists every
 * metric). Written to pass `promtool check metrics` without a lint message:
 *
 * - base units (bytes, seconds; growth in bytes per second);
 * - cumulative values are counters named _total, gauges never end in _total;
 * - identity that changes on every restart (pid, series, host, exe path,
 *   allocator, mode) lives in one info metric, leakaudit_series_info; every
 *   other metric is labelled only with the program name (the executable's
 *   basename: stable across restarts, and it keeps two services' files in
 *   one textfile directory apart) and, per stack, the stack hash and its
 *   innermost function and location;
 * - per-stack verdicts are a 0/1 gauge, not a label that would start a new
 *   series whenever a verdict changes.
 *
 * Per-stack metrics cover the selected (--top) stacks only, to bound label
 * cardinality. Label values are escaped as the format requires (\\, \", \n).
 */
#include "report.h"
#include "memory.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static void label_value(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static const char *program_name(const struct rpt_series *s)
{
    const char *slash = strrchr(s->last.exe, '/');
    return slash ? slash + 1 : s->last.exe;
}

static void base_labels(FILE *out, const struct rpt_series *s)
{
    fputs("program=", out);
    label_value(out, program_name(s));
}

static void stack_labels(struct rpt_ctx *ctx, FILE *out, const struct rpt_row *r)
{
    base_labels(out, ctx->series);
    fprintf(out, ",stack=\"%016" PRIx64 "\",function=", r->hash);
    char where[SNAP_MAX_PATH + 16] = "";
    const char *fn = "[no stack]";
    if (r->depth) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[r->skip]);
        fn = sym->frames[0].function ? sym->frames[0].function : "??";
        if (sym->frames[0].file)
            snprintf(where, sizeof(where), "%s:%u", sym->frames[0].file, sym->frames[0].line);
        else
            snprintf(where, sizeof(where), "%s+0x%" PRIx64,
                     rpt_module_basename(r->locs[r->skip].mod), r->locs[r->skip].off);
    }
    label_value(out, fn);
    fputs(",location=", out);
    label_value(out, where);
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample with only the base labels. */
static void sample(FILE *out, const struct rpt_series *s, const char *name, uint64_t v)
{
    fprintf(out, "%s{", name);
    base_labels(out, s);
    fprintf(out, "} %" PRIu64 "\n", v);
}

static double finite_or_zero(double v)
{
    return isfinite(v) ? v : 0;
}

enum stack_value { SV_VALUE, SV_COUNT, SV_GROWTH, SV_TOTAL_BYTES, SV_LEAKING, SV_PEAK, SV_TEMP };

static void per_stack(struct rpt_ctx *ctx, FILE *out, enum rpt_class c, const char *name,
                      const char *type, const char *help, enum stack_value what)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[c];
    size_t last = s->n_snaps - 1;
    if (!t->n_selected)
        return;
    header(out, name, type, help);
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        fprintf(out, "%s{", name);
        stack_labels(ctx, out, r);
        switch (what) {
        case SV_VALUE:
            fprintf(out, "} %" PRIu64 "\n", r->value[last]);
            break;
        case SV_COUNT:
            fprintf(out, "} %" PRIu64 "\n", r->count[last]);
            break;
        case SV_GROWTH: /* the trend is per minute; Prometheus wants base units */
            fprintf(out, "} %.6g\n", finite_or_zero(r->trend.rate_per_min / 60.0));
            break;
        case SV_TOTAL_BYTES:
            fprintf(out, "} %" PRIu64 "\n", r->total_bytes);
            break;
        case SV_PEAK:
            fprintf(out, "} %" PRIu64 "\n", rpt_row_peak(s, r));
            break;
        case SV_LEAKING:
            fprintf(out, "} %d\n", rpt_row_is_leak(s, c, r) ? 1 : 0);
            break;
        case SV_TEMP:
            fprintf(out, "} %" PRIu64 "\n", r->temp_count);
            break;
        }
    }
}

static void info_metric(FILE *out, const struct rpt_series *s)
{
    header(out, "leakaudit_series_info", "gauge",
           "The snapshot series reported on: process identity and capture settings (always 1).");
    fputs("leakaudit_series_info{", out);
    base_labels(out, s);
    fputs(",series=", out);
    label_value(out, s->name);
    fprintf(out, ",pid=\"%d\",host=", s->last.pid);
    label_value(out, s->last.hostname);
    fputs(",exe=", out);
    label_value(out, s->last.exe);
    fputs(",allocator=", out);
    label_value(out, s->last.allocator);
    fprintf(out, ",source=\"%s\",mode=\"%s\"} 1\n", snap_source_name(s->last.source),
            snap_mode_name(s->last.mode));
}

static void totals(FILE *out, const struct rpt_series *s)
{
    const struct rpt_snapinfo *si = &s->snaps[s->n_snaps - 1];
    header(out, "leakaudit_snapshot_timestamp_seconds", "gauge",
           "Time of the last snapshot in the series.");
    fprintf(out, "leakaudit_snapshot_timestamp_seconds{");
    base_labels(out, s);
    fprintf(out, "} %.3f\n", (double)si->time_ns / 1e9);
    header(out, "leakaudit_snapshots", "gauge", "Snapshots in the series.");
    sample(out, s, "leakaudit_snapshots", s->n_snaps);

    static const struct {
        const char *name, *help;
    } names[] = {
        {"leakaudit_heap_live_bytes", "Outstanding heap bytes, all stacks."},
        {"leakaudit_heap_live_allocations", "Outstanding heap allocations, all stacks."},
        {"leakaudit_open_fds", "Open file descriptors seen by the capture."},
        {"leakaudit_mmap_bytes", "Bytes mapped by tracked mmap calls."},
        {"leakaudit_resident_memory_bytes", "Resident set size at the last snapshot."},
    };
    const uint64_t values[] = {si->live_bytes, si->live_count, si->n_fds, si->mmap_bytes,
                               si->rss_bytes};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        header(out, names[i].name, "gauge", names[i].help);
        sample(out, s, names[i].name, values[i]);
    }

    header(out, "leakaudit_leak_stacks", "gauge", "Stacks whose verdict is leak, by class.");
    for (int c = 0; c < RPT_CLASS_COUNT; c++) {
        fputs("leakaudit_leak_stacks{", out);
        base_labels(out, s);
        fprintf(out, ",class=\"%s\"} %zu\n", rpt_class_name((enum rpt_class)c),
                rpt_count_verdict(s, (enum rpt_class)c, RPT_VERDICT_LEAK));
    }
    header(out, "leakaudit_corruption_events_total", "counter",
           "Heap corruption events recorded since the capture began.");
    sample(out, s, "leakaudit_corruption_events_total", s->n_corruptions);

    header(out, "leakaudit_capture_losses_total", "counter",
           "Loss counters of the capture (dropped events, full tables, unattributed fds).");
    for (size_t i = 0; i < s->n_losses; i++) {
        fputs("leakaudit_capture_losses_total{", out);
        base_labels(out, s);
        fputs(",name=", out);
        label_value(out, s->losses[i].name);
        fprintf(out, "} %" PRIu64 "\n", s->losses[i].value);
    }
}

static void reachability(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    if (!s->has_reach)
        return;
    header(out, "leakaudit_heap_reachability_bytes", "gauge",
           "Outstanding heap bytes by reachability class at the newest scan.");
    for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
        fputs("leakaudit_heap_reachability_bytes{", out);
        base_labels(out, s);
        fprintf(out, ",reach=\"%s\"} %" PRIu64 "\n", rpt_reach_key(c), s->reach_bytes[c]);
    }
    const struct rpt_table *t = &s->tab[RPT_HEAP];
    header(out, "leakaudit_stack_heap_reachability_bytes", "gauge",
           "Outstanding heap bytes by allocation stack and reachability class (top stacks).");
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
            if (!r->reach_blocks[c])
                continue;
            fputs("leakaudit_stack_heap_reachability_bytes{", out);
            stack_labels(ctx, out, r);
            fprintf(out, ",reach=\"%s\"} %" PRIu64 "\n", rpt_reach_key(c), r->reach_bytes[c]);
        }
    }
}

static const char *innermost_function(struct rpt_ctx *ctx, const struct rpt_row *r)
{
    if (!r->depth)
        return NULL;
    const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[r->skip]);
    return sym->frames[sym->n_frames - 1].function;
}

/* Resource metrics (docs/resources.md): by kind, by creating stack, events. */
static void prometheus_resources(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_RES];
    const char *kinds[RPT_RES_MAX_KINDS];
    size_t nk = rpt_res_kinds(s, kinds, RPT_RES_MAX_KINDS), last = s->n_snaps - 1;
    if (!nk)
        return;
    /* labelled like prometheus.c's metrics: the program, never the series */
    const char *slash = strrchr(s->last.exe, '/');
    const char *program = slash ? slash + 1 : s->last.exe;
    fputs("# HELP leakaudit_resource_outstanding Outstanding handles and unmatched references "
          "by resource kind.\n# TYPE leakaudit_resource_outstanding gauge\n",
          out);
    for (size_t ki = 0; ki < nk; ki++) {
        size_t n_leak;
        fputs("leakaudit_resource_outstanding{program=", out);
        label_value(out, program);
        fputs(",kind=", out);
        label_value(out, kinds[ki]);
        fprintf(out, "} %" PRIu64 "\n", rpt_res_outstanding(s, kinds[ki], &n_leak));
    }
    fputs("# HELP leakaudit_stack_resource_outstanding Outstanding handles and unmatched "
          "references by resource kind and creating stack (top stacks).\n"
          "# TYPE leakaudit_stack_resource_outstanding gauge\n",
          out);
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        fputs("leakaudit_stack_resource_outstanding{program=", out);
        label_value(out, program);
        fputs(",kind=", out);
        label_value(out, r->res ? r->res->kind : "");
        fprintf(out, ",stack=\"%016" PRIx64 "\",function=", r->hash);
        label_value(out, innermost_function(ctx, r));
        fprintf(out, "} %" PRIu64 "\n", r->value[last]);
    }
    fputs("# HELP leakaudit_resource_events_total Use-after-destroy and double-destroy events.\n"
          "# TYPE leakaudit_resource_events_total counter\n",
          out);
    for (size_t ki = 0; ki < nk; ki++) {
        size_t n = 0;
        for (size_t i = 0; i < s->n_corruptions; i++)
            n += rpt_res_event_of_kind(&s->corruptions[i], kinds[ki]);
        fputs("leakaudit_resource_events_total{program=", out);
        label_value(out, program);
        fputs(",kind=", out);
        label_value(out, kinds[ki]);
        fprintf(out, "} %zu\n", n);
    }
}

int rpt_render_prometheus(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    info_metric(out, s);
    totals(out, s);
    per_stack(ctx, out, RPT_HEAP, "leakaudit_stack_heap_live_bytes", "gauge",
              "Outstanding heap bytes by allocation stack (top stacks).", SV_VALUE);
    per_stack(ctx, out, RPT_HEAP, "leakaudit_stack_heap_live_allocations", "gauge",
              "Outstanding heap allocations by allocation stack (top stacks).", SV_COUNT);
    per_stack(ctx, out, RPT_HEAP, "leakaudit_stack_heap_peak_bytes", "gauge",
              "Highest live heap bytes of the stack (measured at each allocation under the shim, "
              "else over the series' snapshots; top stacks).",
              SV_PEAK);
    per_stack(ctx, out, RPT_HEAP, "leakaudit_stack_heap_temporary_allocations_total", "counter",
              "Blocks of the stack freed by the allocating thread before its next allocation "
              "(heaptrack's temporary allocations; 0 under attach; top stacks).",
              SV_TEMP);
    per_stack(ctx, out, RPT_HEAP, "leakaudit_stack_heap_allocated_bytes_total", "counter",
              "Heap bytes allocated by the stack since the capture began (top stacks).",
              SV_TOTAL_BYTES);
    per_stack(ctx, out, RPT_HEAP, "leakaudit_stack_heap_growth_bytes_per_second", "gauge",
              "Least-squares growth of the stack's live bytes over the series.", SV_GROWTH);
    per_stack(ctx, out, RPT_HEAP, "leakaudit_stack_heap_leaking", "gauge",
              "1 when the stack leaks (lost at a final scan, or verdict leak), else 0.",
              SV_LEAKING);
    reachability(ctx, out);
    per_stack(ctx, out, RPT_FDS, "leakaudit_stack_open_fds", "gauge",
              "Open file descriptors by creating stack (top stacks).", SV_VALUE);
    per_stack(ctx, out, RPT_FDS, "leakaudit_stack_fds_leaking", "gauge",
              "1 when the fd-creating stack's verdict is leak, else 0.", SV_LEAKING);
    per_stack(ctx, out, RPT_MMAPS, "leakaudit_stack_mmap_bytes", "gauge",
              "Mapped bytes by creating stack (top stacks).", SV_VALUE);
    prometheus_resources(ctx, out);
    rpt_memory_prometheus(ctx, out, base_labels);
    rpt_kmem_prometheus(ctx, out, program_name(s));
    return ferror(out) ? -5 : 0;
}
