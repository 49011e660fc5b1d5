/*
 * Prometheus text exposition (version 0.0.4) of a report: per-stack live
 * heap bytes / allocations / growth, open fds and mapped bytes for the top
 * stacks (--top bounds the label cardinality), process totals, leak-verdict
 * counts, corruption events and every loss counter. Meant for the textfile
 * collector of node_exporter or any scraper; docs/fleet.md shows the setup.
 * Label values are escaped as the format requires (\\, \", \n).
 */
#include "report.h"

#include <inttypes.h>
#include <math.h>

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

static void base_labels(FILE *out, const struct rpt_series *s)
{
    fputs("series=", out);
    label_value(out, s->name);
    fprintf(out, ",pid=\"%d\",host=", s->last.pid);
    label_value(out, s->last.hostname);
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
    fprintf(out, ",verdict=\"%s\"", rpt_verdict_name(r->trend.verdict));
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static double finite_or_zero(double v)
{
    return isfinite(v) ? v : 0;
}

static void per_stack(struct rpt_ctx *ctx, FILE *out, enum rpt_class c, const char *name,
                      const char *help, int what)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[c];
    size_t last = s->n_snaps - 1;
    if (!t->n_selected)
        return;
    header(out, name, "gauge", help);
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        fprintf(out, "%s{", name);
        stack_labels(ctx, out, r);
        if (what == 0)
            fprintf(out, "} %" PRIu64 "\n", r->value[last]);
        else if (what == 1)
            fprintf(out, "} %" PRIu64 "\n", r->count[last]);
        else
            fprintf(out, "} %.6g\n", finite_or_zero(r->trend.rate_per_min));
    }
}

int rpt_render_prometheus(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    size_t last = s->n_snaps - 1;
    const struct rpt_snapinfo *si = &s->snaps[last];

    header(out, "leakaudit_snapshot_timestamp_seconds", "gauge",
           "Time of the last snapshot in the series.");
    fputs("leakaudit_snapshot_timestamp_seconds{", out);
    base_labels(out, s);
    fprintf(out, "} %.3f\n", (double)si->time_ns / 1e9);

    static const struct {
        const char *name, *help;
        int which;
    } totals[] = {
        {"leakaudit_heap_live_bytes_total", "Outstanding heap bytes (all stacks).", 0},
        {"leakaudit_heap_live_allocations_total", "Outstanding heap allocations.", 1},
        {"leakaudit_open_fds_total", "Open file descriptors seen by the capture.", 2},
        {"leakaudit_mmap_bytes_total", "Bytes mapped by tracked mmap calls.", 3},
        {"leakaudit_rss_bytes", "Resident set size at the last snapshot.", 4},
    };
    for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++) {
        uint64_t v = totals[i].which == 0   ? si->live_bytes
                     : totals[i].which == 1 ? si->live_count
                     : totals[i].which == 2 ? si->n_fds
                     : totals[i].which == 3 ? si->mmap_bytes
                                            : si->rss_bytes;
        header(out, totals[i].name, "gauge", totals[i].help);
        fprintf(out, "%s{", totals[i].name);
        base_labels(out, s);
        fprintf(out, "} %" PRIu64 "\n", v);
    }

    header(out, "leakaudit_leak_stacks", "gauge", "Stacks whose verdict is leak, by class.");
    for (int c = 0; c < RPT_CLASS_COUNT; c++) {
        fputs("leakaudit_leak_stacks{", out);
        base_labels(out, s);
        fprintf(out, ",class=\"%s\"} %zu\n", rpt_class_name((enum rpt_class)c),
                rpt_count_verdict(s, (enum rpt_class)c, RPT_VERDICT_LEAK));
    }
    header(out, "leakaudit_corruption_events", "gauge", "Heap corruption events recorded.");
    fputs("leakaudit_corruption_events{", out);
    base_labels(out, s);
    fprintf(out, "} %zu\n", s->n_corruptions);

    header(out, "leakaudit_capture_losses", "gauge",
           "Loss counters of the capture (dropped events, full tables, unattributed fds).");
    for (size_t i = 0; i < s->n_losses; i++) {
        fputs("leakaudit_capture_losses{", out);
        base_labels(out, s);
        fputs(",name=", out);
        label_value(out, s->losses[i].name);
        fprintf(out, "} %" PRIu64 "\n", s->losses[i].value);
    }

    per_stack(ctx, out, RPT_HEAP, "leakaudit_heap_live_bytes",
              "Outstanding heap bytes by allocation stack (top stacks).", 0);
    per_stack(ctx, out, RPT_HEAP, "leakaudit_heap_live_allocations",
              "Outstanding heap allocations by allocation stack (top stacks).", 1);
    per_stack(ctx, out, RPT_HEAP, "leakaudit_heap_growth_bytes_per_minute",
              "Least-squares growth of live bytes over the series, by stack.", 2);
    if (s->has_reach) {
        header(out, "leakaudit_heap_reachability_bytes", "gauge",
               "Outstanding heap bytes by reachability class at the newest scan.");
        for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
            fputs("leakaudit_heap_reachability_bytes{", out);
            base_labels(out, s);
            fprintf(out, ",reach=\"%s\"} %" PRIu64 "\n", rpt_reach_key(c), s->reach_bytes[c]);
        }
        const struct rpt_table *t = &s->tab[RPT_HEAP];
        header(out, "leakaudit_heap_reachability_stack_bytes", "gauge",
               "Outstanding heap bytes by allocation stack and reachability class (top stacks).");
        for (size_t k = 0; k < t->n_selected; k++) {
            const struct rpt_row *r = &t->rows[t->selected[k]];
            for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
                if (!r->reach_blocks[c])
                    continue;
                fputs("leakaudit_heap_reachability_stack_bytes{", out);
                stack_labels(ctx, out, r);
                fprintf(out, ",reach=\"%s\"} %" PRIu64 "\n", rpt_reach_key(c), r->reach_bytes[c]);
            }
        }
    }
    per_stack(ctx, out, RPT_FDS, "leakaudit_open_fds",
              "Open file descriptors by creating stack (top stacks).", 0);
    per_stack(ctx, out, RPT_MMAPS, "leakaudit_mmap_bytes",
              "Mapped bytes by creating stack (top stacks).", 0);
    rpt_res_prometheus(ctx, out);
    return ferror(out) ? -5 : 0;
}
