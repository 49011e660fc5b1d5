/*
 * The resource sections of every report format (docs/resources.md): one
 * section per resource kind (avframe, gstobject, vendor...), each listing
 * the stacks with outstanding handles or unmatched references, with the
 * same trend verdicts as heap rows, followed by the kind's use-after-destroy
 * and double-destroy events with their create, destroy and offending stacks.
 * Rows come from series.c (class RPT_RES, details in struct rpt_resinfo).
 */
#include "report.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#define MAX_KINDS       64
#define HTML_MAX_FRAMES 16

int rpt_res_is_event(uint32_t kind)
{
    return kind == SNAP_CORR_USE_AFTER_DESTROY || kind == SNAP_CORR_DOUBLE_DESTROY;
}

/* The kinds present, in order of first appearance among the rows. */
static size_t kinds_of(const struct rpt_series *s, const char *kinds[], size_t max)
{
    const struct rpt_table *t = &s->tab[RPT_RES];
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const char *k = t->rows[i].res ? t->rows[i].res->kind : "";
        size_t j = 0;
        while (j < n && strcmp(kinds[j], k))
            j++;
        if (j == n && n < max)
            kinds[n++] = k;
    }
    return n;
}

/* An event belongs to the kind its detail names ("kind: fn(...) ..."). */
static int event_of_kind(const struct rpt_corruption *c, const char *kind)
{
    size_t l = strlen(kind);
    return rpt_res_is_event(c->ev.kind) && !strncmp(c->ev.detail, kind, l) &&
           c->ev.detail[l] == ':';
}

static uint64_t outstanding(const struct rpt_series *s, const char *kind, size_t *n_leak)
{
    const struct rpt_table *t = &s->tab[RPT_RES];
    uint64_t v = 0;
    *n_leak = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->rows[i].res && !strcmp(t->rows[i].res->kind, kind)) {
            v += t->rows[i].value[s->n_snaps - 1];
            *n_leak += t->rows[i].trend.verdict == RPT_VERDICT_LEAK;
        }
    return v;
}

static const char *fmt_age(const struct rpt_series *s, uint64_t ns, char *buf, size_t cap)
{
    if (!ns || s->last.snapshot_time_ns < ns)
        return NULL;
    return rpt_fmt_duration((double)(s->last.snapshot_time_ns - ns) / 1e9, buf, cap);
}

/* ---- text ---- */

static void text_counts(FILE *out, const struct rpt_series *s, const struct rpt_row *r)
{
    const struct rpt_resinfo *ri = r->res;
    size_t last = s->n_snaps - 1;
    char d[32];
    fprintf(out, "  %" PRIu64 " handle%s outstanding", r->count[last],
            r->count[last] == 1 ? "" : "s");
    if (ri->created)
        fprintf(out, " (created %" PRIu64 ", destroyed %" PRIu64 ")", ri->created, ri->destroyed);
    if (ri->flags & SNAP_RES_REFCOUNTED)
        fprintf(out, "; %" PRId64 " unmatched ref%s (refs %" PRIu64 ", unrefs %" PRIu64 ")",
                ri->balance, ri->balance == 1 ? "" : "s", ri->refs, ri->unrefs);
    if (r->count[last] && fmt_age(s, ri->oldest_ns, d, sizeof(d)))
        fprintf(out, "; oldest %s old", d);
    fputc('\n', out);
}

static void text_events(struct rpt_ctx *ctx, FILE *out, const char *kind)
{
    const struct rpt_series *s = ctx->series;
    static const char *const what[3] = {"created at", "destroyed at", "offending call at"};
    static const int order[3] = {2, 1, 0}; /* the offender first */
    uint32_t depth = ctx->opt->stack_depth ? ctx->opt->stack_depth : 32;
    for (size_t i = 0; i < s->n_corruptions; i++) {
        const struct rpt_corruption *c = &s->corruptions[i];
        if (!event_of_kind(c, kind))
            continue;
        fprintf(out, "\n  !! %s: %s (thread %d)\n", snap_corruption_kind_name(c->ev.kind),
                c->ev.detail, c->ev.tid);
        for (int w = 0; w < 3; w++) {
            int k = order[w];
            if (!c->stacks[k])
                continue;
            fprintf(out, "     %s:\n",
                    c->ev.kind == SNAP_CORR_DOUBLE_DESTROY && k == 2 ? "destroyed again at"
                                                                     : what[k]);
            rpt_text_frames(ctx, out, c->stacks[k], 0, c->depth[k] < depth ? c->depth[k] : depth,
                            "        ");
        }
    }
}

void rpt_res_text(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_RES];
    const char *kinds[MAX_KINDS];
    size_t nk = kinds_of(s, kinds, MAX_KINDS), last = s->n_snaps - 1;
    char d[32];
    for (size_t ki = 0; ki < nk; ki++) {
        size_t n_leak, n_events = 0;
        uint64_t total = outstanding(s, kinds[ki], &n_leak);
        for (size_t i = 0; i < s->n_corruptions; i++)
            n_events += event_of_kind(&s->corruptions[i], kinds[ki]);
        fprintf(out,
                "RESOURCE %s: %" PRIu64 " outstanding at the last snapshot, by creating stack "
                "(%zu leak, %zu use-after-destroy/double-destroy event%s)\n",
                kinds[ki], total, n_leak, n_events, n_events == 1 ? "" : "s");
        int rank = 0;
        for (size_t k = 0; k < t->n_selected; k++) {
            const struct rpt_row *r = &t->rows[t->selected[k]];
            if (!r->res || strcmp(r->res->kind, kinds[ki]))
                continue;
            if (!r->value[last] && r->trend.verdict != RPT_VERDICT_FREED && !r->res->created &&
                !r->res->refs)
                continue;
            fprintf(out, "\n#%d %s", ++rank, rpt_verdict_name(r->trend.verdict));
            if (r->trend.verdict != RPT_VERDICT_UNKNOWN && r->trend.verdict != RPT_VERDICT_NEW)
                fprintf(out, " %+.1f/min (confidence %.2f)", r->trend.rate_per_min,
                        r->trend.confidence);
            fputc('\n', out);
            text_counts(out, s, r);
            fprintf(out, "   trend ");
            rpt_text_sparkline(out, r->value, s->n_snaps);
            fprintf(out, "  %" PRIu64 " -> %" PRIu64 " over %s\n", r->value[r->first_snap],
                    r->value[last], rpt_fmt_duration(rpt_elapsed_min(s, last) * 60, d, sizeof(d)));
            uint32_t end = rpt_row_end(ctx, r);
            if (r->depth)
                rpt_text_frames(ctx, out, r->locs, r->skip, end, "      ");
            else
                fprintf(out, "      (no stack)\n");
            if (r->res->last_ref && r->res->balance > 0) {
                fprintf(out, "   last unmatched ref at:\n");
                uint32_t ld = r->res->last_ref_depth;
                rpt_text_frames(ctx, out, r->res->last_ref, 0, ld < end ? ld : end, "      ");
            }
        }
        text_events(ctx, out, kinds[ki]);
        fputc('\n', out);
    }
}

/* ---- JSON ---- */

static void json_locs(struct rpt_ctx *ctx, FILE *out, const struct rpt_loc *locs, uint32_t n)
{
    fputc('[', out);
    for (uint32_t i = 0; i < n; i++) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, locs[i]);
        const struct rpt_frame *fr = &sym->frames[sym->n_frames - 1];
        fprintf(out, "%s{\"function\":", i ? "," : "");
        rpt_json_string(out, fr->function);
        fputs(",\"file\":", out);
        rpt_json_string(out, fr->file);
        fprintf(out, ",\"line\":%u,\"module\":", fr->line);
        rpt_json_string(out, rpt_module_basename(locs[i].mod));
        fprintf(out, ",\"offset\":\"0x%" PRIx64 "\"}", locs[i].off);
    }
    fputc(']', out);
}

void rpt_res_json_fields(struct rpt_ctx *ctx, FILE *out, const struct rpt_row *r)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_resinfo *ri = r->res;
    size_t last = s->n_snaps - 1;
    fputs(",\"kind\":", out);
    rpt_json_string(out, ri ? ri->kind : "");
    fprintf(out, ",\"outstanding\":%" PRIu64 ",\"live_count\":%" PRIu64, r->value[last],
            r->count[last]);
    if (!ri)
        return;
    fprintf(out,
            ",\"refcounted\":%s,\"created\":%" PRIu64 ",\"destroyed\":%" PRIu64 ",\"refs\":%" PRIu64
            ",\"unrefs\":%" PRIu64 ",\"ref_balance\":%" PRId64,
            ri->flags & SNAP_RES_REFCOUNTED ? "true" : "false", ri->created, ri->destroyed,
            ri->refs, ri->unrefs, ri->balance);
    char d[32];
    if (r->count[last] && fmt_age(s, ri->oldest_ns, d, sizeof(d)))
        fprintf(out, ",\"oldest_age_s\":%.3f",
                (double)(s->last.snapshot_time_ns - ri->oldest_ns) / 1e9);
    fputs(",\"last_unmatched_ref\":", out);
    if (ri->last_ref && ri->balance > 0)
        json_locs(ctx, out, ri->last_ref, ri->last_ref_depth);
    else
        fputs("null", out);
}

/* ---- HTML ---- */

static void html_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_loc *locs, uint32_t from,
                        uint32_t to)
{
    fputs("<ol class=\"frames\">", out);
    for (uint32_t i = from; i < to && i < from + HTML_MAX_FRAMES; i++) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, locs[i]);
        const struct rpt_frame *fr = &sym->frames[sym->n_frames - 1];
        fputs("<li><code>", out);
        rpt_html_escape(out, fr->function ? fr->function : "??");
        fputs("</code>", out);
        if (fr->file) {
            fputs(" <span class=\"src\">", out);
            rpt_html_escape(out, fr->file);
            fprintf(out, ":%u</span>", fr->line);
        }
        fputs(" <span class=\"mod\">", out);
        rpt_html_escape(out, rpt_module_basename(locs[i].mod));
        fputs("</span></li>", out);
    }
    fputs("</ol>", out);
}

void rpt_res_html(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_RES];
    const char *kinds[MAX_KINDS];
    size_t nk = kinds_of(s, kinds, MAX_KINDS), last = s->n_snaps - 1;
    static const char *const what[3] = {"created at", "destroyed at", "offending call at"};
    for (size_t ki = 0; ki < nk; ki++) {
        size_t n_leak;
        uint64_t total = outstanding(s, kinds[ki], &n_leak);
        fputs("<section class=\"resource\"><h2>Resource <code>", out);
        rpt_html_escape(out, kinds[ki]);
        fprintf(out,
                "</code> by creating stack</h2>\n<p>%" PRIu64 " outstanding at the last "
                "snapshot; %zu leak.</p>\n",
                total, n_leak);
        fputs("<table class=\"rows\"><thead><tr><th>#</th><th>verdict</th><th>growth/min</th>"
              "<th>outstanding</th><th>details</th><th>stack</th></tr></thead><tbody>\n",
              out);
        int rank = 0;
        for (size_t k = 0; k < t->n_selected; k++) {
            const struct rpt_row *r = &t->rows[t->selected[k]];
            if (!r->res || strcmp(r->res->kind, kinds[ki]))
                continue;
            const struct rpt_resinfo *ri = r->res;
            const char *v = rpt_verdict_name(r->trend.verdict);
            fprintf(out,
                    "<tr class=\"v-%s\"><td>%d</td><td><span class=\"badge %s\">%s</span></td>"
                    "<td>%+.2f</td><td>%" PRIu64 "</td><td>%" PRIu64 " handles (created %" PRIu64
                    ", destroyed %" PRIu64 ")",
                    v, ++rank, v, v, r->trend.rate_per_min, r->value[last], r->count[last],
                    ri->created, ri->destroyed);
            if (ri->flags & SNAP_RES_REFCOUNTED)
                fprintf(out,
                        "<br>%" PRId64 " unmatched refs (refs %" PRIu64 ", unrefs %" PRIu64 ")",
                        ri->balance, ri->refs, ri->unrefs);
            fputs("</td><td>", out);
            if (r->depth)
                html_frames(ctx, out, r->locs, r->skip, rpt_row_end(ctx, r));
            if (ri->last_ref && ri->balance > 0) {
                fputs("<p>last unmatched ref at:</p>", out);
                html_frames(ctx, out, ri->last_ref, 0, ri->last_ref_depth);
            }
            fputs("</td></tr>\n", out);
        }
        fputs("</tbody></table>\n", out);
        for (size_t i = 0; i < s->n_corruptions; i++) {
            const struct rpt_corruption *c = &s->corruptions[i];
            if (!event_of_kind(c, kinds[ki]))
                continue;
            fprintf(out, "<div class=\"event\"><h3>%s</h3><p>",
                    snap_corruption_kind_name(c->ev.kind));
            rpt_html_escape(out, c->ev.detail);
            fprintf(out, " (thread %d)</p>", c->ev.tid);
            for (int w = 2; w >= 0; w--) {
                if (!c->stacks[w])
                    continue;
                fprintf(out, "<p>%s:</p>",
                        c->ev.kind == SNAP_CORR_DOUBLE_DESTROY && w == 2 ? "destroyed again at"
                                                                         : what[w]);
                html_frames(ctx, out, c->stacks[w], 0, c->depth[w]);
            }
            fputs("</div>\n", out);
        }
        fputs("</section>\n", out);
    }
}

/* ---- Prometheus and collapsed stacks ---- */

static const char *innermost_function(struct rpt_ctx *ctx, const struct rpt_row *r)
{
    if (!r->depth)
        return NULL;
    const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[r->skip]);
    return sym->frames[sym->n_frames - 1].function;
}

/* Prometheus label values: backslash, quote and newline escaped. */
static void label(FILE *out, const char *v)
{
    fputc('"', out);
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', out);
        if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void rpt_res_prometheus(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_RES];
    const char *kinds[MAX_KINDS];
    size_t nk = kinds_of(s, kinds, MAX_KINDS), last = s->n_snaps - 1;
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
        label(out, program);
        fputs(",kind=", out);
        label(out, kinds[ki]);
        fprintf(out, "} %" PRIu64 "\n", outstanding(s, kinds[ki], &n_leak));
    }
    fputs("# HELP leakaudit_stack_resource_outstanding Outstanding handles and unmatched "
          "references by resource kind and creating stack (top stacks).\n"
          "# TYPE leakaudit_stack_resource_outstanding gauge\n",
          out);
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        fputs("leakaudit_stack_resource_outstanding{program=", out);
        label(out, program);
        fputs(",kind=", out);
        label(out, r->res ? r->res->kind : "");
        fprintf(out, ",stack=\"%016" PRIx64 "\",function=", r->hash);
        label(out, innermost_function(ctx, r));
        fprintf(out, "} %" PRIu64 "\n", r->value[last]);
    }
    fputs("# HELP leakaudit_resource_events_total Use-after-destroy and double-destroy events.\n"
          "# TYPE leakaudit_resource_events_total counter\n",
          out);
    for (size_t ki = 0; ki < nk; ki++) {
        size_t n = 0;
        for (size_t i = 0; i < s->n_corruptions; i++)
            n += event_of_kind(&s->corruptions[i], kinds[ki]);
        fputs("leakaudit_resource_events_total{program=", out);
        label(out, program);
        fputs(",kind=", out);
        label(out, kinds[ki]);
        fprintf(out, "} %zu\n", n);
    }
}

void rpt_res_collapsed(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_RES];
    size_t last = s->n_snaps - 1;
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        if (!r->value[last] || !r->res)
            continue;
        /* the kind as the root frame keeps handle counts apart from heap bytes */
        fprintf(out, "[resource %s]", r->res->kind);
        uint32_t end = rpt_row_end(ctx, r);
        for (uint32_t i = end; i > r->skip; i--) {
            const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[i - 1]);
            for (uint32_t f = sym->n_frames; f > 0; f--) {
                const char *fn = sym->frames[f - 1].function;
                fputc(';', out);
                for (const char *p = fn ? fn : "??"; *p; p++)
                    fputc(*p == ';' || *p == ' ' ? '_' : *p, out);
            }
        }
        fprintf(out, " %" PRIu64 "\n", r->value[last]);
    }
}
