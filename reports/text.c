/*
 * The text report (default format): meant for a terminal, in the spirit of
 * heaptrack_print. Coverage first (source, mode, caveats, every non-zero loss
 * counter), then heap stacks, fds, mmaps and corruption events, each stack
 * with its verdict, growth rate, a sparkline of its value over the series and
 * its symbolized frames. The formatting helpers it shares with the other
 * renderers are in format.c.
 */
#include "report.h"
#include "memory.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define SPARK_MAX_POINTS 40

static void sparkline(FILE *out, const uint64_t *v, size_t n)
{
    static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++)
        max = v[i] > max ? v[i] : max;
    size_t pts = n < SPARK_MAX_POINTS ? n : SPARK_MAX_POINTS;
    for (size_t p = 0; p < pts; p++) {
        size_t i = pts > 1 ? p * (n - 1) / (pts - 1) : 0;
        int b = max ? (int)((double)v[i] * 7.0 / (double)max + 0.5) : 0;
        fputs(v[i] ? bars[b] : " ", out);
    }
}

static void print_loc_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_loc *locs,
                             uint32_t from, uint32_t to, const char *indent)
{
    for (uint32_t i = from; i < to; i++) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, locs[i]);
        for (uint32_t f = 0; f < sym->n_frames; f++) {
            const struct rpt_frame *fr = &sym->frames[f];
            fprintf(out, "%s#%-2u %s", indent, i - from, fr->function ? fr->function : "??");
            if (fr->file)
                fprintf(out, "  %s:%u", fr->file, fr->line);
            if (fr->inlined)
                fprintf(out, "  (inlined)");
            else
                fprintf(out, "  [%s+0x%" PRIx64 "]", rpt_module_basename(locs[i].mod), locs[i].off);
            fputc('\n', out);
        }
    }
}

void rpt_text_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_loc *locs, uint32_t from,
                     uint32_t to, const char *indent)
{
    print_loc_frames(ctx, out, locs, from, to, indent);
}

void rpt_text_sparkline(FILE *out, const uint64_t *v, size_t n)
{
    sparkline(out, v, n);
}

static void print_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_row *r)
{
    uint32_t end = rpt_row_end(ctx, r);
    if (!r->depth) {
        fprintf(out, "      (no stack: %s)\n",
                rpt_heap_walked_at_attach(ctx->series) ? "allocated before attach"
                : r->unattributed                      ? "creation not seen"
                                                       : "unattributed");
        return;
    }
    print_loc_frames(ctx, out, r->locs, r->skip, end, "      ");
    if (r->skip)
        fprintf(out, "      (%u allocator/shim frame%s folded; --no-fold shows them)\n", r->skip,
                r->skip == 1 ? "" : "s");
    if (end < r->depth)
        fprintf(out, "      (%u more frames; --stack-depth)\n", r->depth - end);
}

static void print_trend_line(FILE *out, const struct rpt_series *s, const struct rpt_row *r,
                             int bytes)
{
    char a[32], b[32], d[32];
    size_t n = s->n_snaps;
    fprintf(out, "   trend ");
    sparkline(out, r->value, n);
    if (bytes)
        fprintf(out, "  %s -> %s", rpt_fmt_bytes((double)r->value[r->first_snap], a, sizeof(a)),
                rpt_fmt_bytes((double)r->value[n - 1], b, sizeof(b)));
    else
        fprintf(out, "  %" PRIu64 " -> %" PRIu64, r->value[r->first_snap], r->value[n - 1]);
    fprintf(out, " over %s\n", rpt_fmt_duration(rpt_elapsed_min(s, n - 1) * 60, d, sizeof(d)));
}

static void print_verdict(FILE *out, int rank, const struct rpt_row *r, int bytes)
{
    char rate[32];
    const char *v = rpt_verdict_name(r->trend.verdict);
    /* a growing stack whose blocks are all still reachable is not a leak */
    if (r->trend.verdict == RPT_VERDICT_LEAK && rpt_row_only_reachable(r))
        v = "growing";
    /* no growth verdict: the reachability class is the news */
    if (r->trend.verdict == RPT_VERDICT_UNKNOWN) {
        for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++)
            if (r->reach_blocks[c]) {
                v = snap_reach_class_name((uint32_t)c);
                break;
            }
    }
    char up[24];
    size_t i = 0;
    for (; v[i] && i < sizeof(up) - 1; i++)
        up[i] = (char)(v[i] >= 'a' && v[i] <= 'z' ? v[i] - 32 : v[i]);
    up[i] = '\0';
    fprintf(out, "#%d %s", rank, up);
    if (r->trend.verdict == RPT_VERDICT_LEAK || r->trend.verdict == RPT_VERDICT_PLATEAU ||
        r->trend.verdict == RPT_VERDICT_STABLE) {
        if (bytes)
            fprintf(out, "  %s%s/min", r->trend.rate_per_min >= 0 ? "+" : "-",
                    rpt_fmt_bytes(fabs(r->trend.rate_per_min), rate, sizeof(rate)));
        else
            fprintf(out, "  %+.2f/min", r->trend.rate_per_min);
        fprintf(out, " (confidence %.2f)", r->trend.confidence);
    }
}

static void print_reach_summary(const struct rpt_series *s, FILE *out)
{
    char a[32], b[32], d[32];
    const struct snap_reach_info *i = &s->reach;
    fprintf(out, "LEAK SUMMARY (reachability scan of snapshot seq %u, %s):\n",
            s->snaps[s->reach_snap].seq, snap_trigger_name(s->reach_trigger));
    for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++)
        fprintf(out, "   %-16s %s in %" PRIu64 " block%s%s\n", snap_reach_class_name((uint32_t)c),
                rpt_fmt_bytes((double)s->reach_bytes[c], a, sizeof(a)), s->reach_blocks[c],
                s->reach_blocks[c] == 1 ? "" : "s",
                c == SNAP_REACH_REACHABLE ? " (not leaks)" : "");
    snprintf(d, sizeof(d), "%.1f ms", (double)i->scan_ns / 1e6);
    fprintf(out, "   scan: %" PRIu64 " blocks, %s of roots, %s, threads paused %.1f ms (%u stopped",
            i->blocks_scanned, rpt_fmt_bytes((double)i->roots_bytes, a, sizeof(a)), d,
            (double)i->pause_ns / 1e6, i->threads_stopped);
    if (i->threads_missed)
        fprintf(out, ", %u not stoppable: their stacks were read while running", i->threads_missed);
    fprintf(out, "), %s extra memory\n", rpt_fmt_bytes((double)i->extra_bytes, b, sizeof(b)));
    if (i->flags & SNAP_REACH_ATTACH_ONLY)
        fprintf(out, "   attach mode: only blocks allocated since the attach are classified\n");
    if (i->flags & SNAP_REACH_MAPPINGS_SKIPPED)
        fprintf(out, "   the program's own mappings (mmap, thread caches) were not scanned: blocks "
                     "held only there are reported lost (docs/reachability.md)\n");
    if (!s->reach_final)
        fprintf(out, "   (taken while the program ran: blocks may still be freed later)\n");
}

static void print_reach_line(FILE *out, const struct rpt_row *r)
{
    char a[32];
    int any = 0;
    for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
        if (!r->reach_blocks[c])
            continue;
        fprintf(out, "%s%s %s in %" PRIu64, any ? ", " : "   ", snap_reach_class_name((uint32_t)c),
                rpt_fmt_bytes((double)r->reach_bytes[c], a, sizeof(a)), r->reach_blocks[c]);
        any = 1;
    }
    if (any)
        fputc('\n', out);
}

static void print_heap(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_HEAP];
    size_t last = s->n_snaps - 1;
    char a[32], b[32];
    fprintf(out, "HEAP: %s live in %" PRIu64 " allocations at the last snapshot, %zu stacks",
            rpt_fmt_bytes((double)s->snaps[last].live_bytes, a, sizeof(a)),
            s->snaps[last].live_count, t->n);
    fprintf(out, " (%zu leak, %zu plateau, %zu stable, %zu freed, %zu new, %zu unknown)\n",
            rpt_count_verdict(s, RPT_HEAP, RPT_VERDICT_LEAK),
            rpt_count_verdict(s, RPT_HEAP, RPT_VERDICT_PLATEAU),
            rpt_count_verdict(s, RPT_HEAP, RPT_VERDICT_STABLE),
            rpt_count_verdict(s, RPT_HEAP, RPT_VERDICT_FREED),
            rpt_count_verdict(s, RPT_HEAP, RPT_VERDICT_NEW),
            rpt_count_verdict(s, RPT_HEAP, RPT_VERDICT_UNKNOWN));
    const struct rpt_snapinfo *ls = &s->snaps[last];
    if (ls->retired_count) {
        char c[32];
        fprintf(out,
                "allocated since the start: %s in %" PRIu64 " allocations, of which %s in %" PRIu64
                " from retired stacks (nothing live: folded out of the capture's table)\n",
                rpt_fmt_bytes((double)ls->total_bytes, b, sizeof(b)), ls->total_count,
                rpt_fmt_bytes((double)ls->retired_bytes, c, sizeof(c)), ls->retired_count);
    }
    if (t->n_selected < t->n)
        fprintf(out, "showing %zu of %zu stacks (--top, --min-bytes, filters)\n", t->n_selected,
                t->n);
    if (s->has_reach)
        print_reach_summary(s, out);
    int rank = 0;
    for (int pass = 0; pass < 2; pass++) {
        int header = 0;
        for (size_t k = 0; k < t->n_selected; k++) {
            const struct rpt_row *r = &t->rows[t->selected[k]];
            if ((s->has_reach && rpt_row_only_reachable(r)) != pass)
                continue;
            if (pass && !header++)
                fprintf(out, "\nSTILL REACHABLE at the scan (pointed to from globals, stacks, "
                             "TLS or registers; not leaks):\n");
            fputc('\n', out);
            print_verdict(out, ++rank, r, 1);
            fprintf(out, "\n   live %s in %" PRIu64 " allocation%s%s",
                    rpt_fmt_bytes((double)r->value[last], a, sizeof(a)), r->count[last],
                    r->count[last] == 1 ? "" : "s",
                    r->flags & SNAP_HEAP_ESTIMATED ? " (est.)" : "");
            fprintf(out, "; peak %s", rpt_fmt_bytes((double)rpt_row_peak(s, r), b, sizeof(b)));
            fprintf(out, "; total allocated %s in %" PRIu64,
                    rpt_fmt_bytes((double)r->total_bytes, b, sizeof(b)), r->total_count);
            if (r->temp_count)
                fprintf(out, "; %" PRIu64 " temporary", r->temp_count);
            fputc('\n', out);
            if (s->has_reach)
                print_reach_line(out, r);
            print_trend_line(out, s, r, 1);
            print_frames(ctx, out, r);
        }
    }
    fputc('\n', out);
}

static void print_fdinfo(FILE *out, const struct rpt_row *r, int mmaps, const struct rpt_series *s)
{
    const struct rpt_fdinfo *fi = r->fd;
    char d[32];
    if (!fi)
        return;
    fprintf(out, "   kind:");
    for (uint32_t k = 0; k < SNAP_FD_KIND_COUNT; k++)
        if (fi->kinds[k])
            fprintf(out, " %s x%u", mmaps ? snap_mmap_kind_name(k) : snap_fd_kind_name(k),
                    fi->kinds[k]);
    if (!mmaps) {
        fprintf(out, "; origin:");
        for (uint32_t k = 0; k < SNAP_FDO_COUNT; k++)
            if (fi->origins[k])
                fprintf(out, " %s x%u", snap_fd_origin_name(k), fi->origins[k]);
    }
    if (fi->oldest_ns && s->last.snapshot_time_ns >= fi->oldest_ns)
        fprintf(out, "; oldest %s old",
                rpt_fmt_duration((double)(s->last.snapshot_time_ns - fi->oldest_ns) / 1e9, d,
                                 sizeof(d)));
    if (fi->open) /* an fd without close-on-exec leaks into every exec'd child */
        fprintf(out, "; cloexec %u/%u", fi->cloexec, fi->open);
    if (fi->n_fds) {
        fprintf(out, "; fd");
        for (uint32_t k = 0; k < fi->n_fds; k++)
            fprintf(out, "%s%d", k ? "," : " ", fi->fds[k]);
    }
    fputc('\n', out);
    for (uint32_t k = 0; k < fi->n_targets; k++)
        fprintf(out, "   -> %s\n", fi->targets[k]);
}

static void print_resource(struct rpt_ctx *ctx, FILE *out, enum rpt_class c)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[c];
    size_t last = s->n_snaps - 1;
    int mmaps = c == RPT_MMAPS;
    char a[32];
    if (!t->n)
        return;
    if (mmaps)
        fprintf(out, "MMAPS: %s mapped at the last snapshot, by creating stack (%zu leak)\n",
                rpt_fmt_bytes((double)s->snaps[last].mmap_bytes, a, sizeof(a)),
                rpt_count_verdict(s, c, RPT_VERDICT_LEAK));
    else
        fprintf(out,
                "FILE DESCRIPTORS: %" PRIu64 " open at the last snapshot, by creating stack "
                "(%zu leak)\n",
                s->snaps[last].n_fds, rpt_count_verdict(s, c, RPT_VERDICT_LEAK));
    int printed_unattr_header = 0;
    for (int pass = 0; pass < 2; pass++) {
        int rank = 0;
        for (size_t k = 0; k < t->n_selected; k++) {
            const struct rpt_row *r = &t->rows[t->selected[k]];
            if (r->unattributed != pass)
                continue;
            if (pass && !printed_unattr_header++)
                fprintf(out, "\nwithout a creating stack (pre-existing or creation not seen):\n");
            fputc('\n', out);
            print_verdict(out, ++rank, r, mmaps);
            if (mmaps)
                fprintf(out, "  %s in %" PRIu64 " mapping%s\n",
                        rpt_fmt_bytes((double)r->value[last], a, sizeof(a)), r->count[last],
                        r->count[last] == 1 ? "" : "s");
            else
                fprintf(out, "  %" PRIu64 " open\n", r->value[last]);
            print_fdinfo(out, r, mmaps, s);
            print_trend_line(out, s, r, mmaps);
            if (!pass)
                print_frames(ctx, out, r);
        }
    }
    fputc('\n', out);
}

static void print_corruption(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    static const char *const what[3] = {"block allocated at", "block freed at", "bad access at"};
    size_t n_heap_events = 0;
    for (size_t i = 0; i < s->n_corruptions; i++)
        n_heap_events += !rpt_res_is_event(s->corruptions[i].ev.kind);
    if (!n_heap_events)
        return;
    fprintf(out, "HEAP CORRUPTION: %zu event%s\n", n_heap_events, n_heap_events == 1 ? "" : "s");
    for (size_t i = 0; i < s->n_corruptions; i++) {
        const struct rpt_corruption *c = &s->corruptions[i];
        if (rpt_res_is_event(c->ev.kind)) /* printed with their resource (text_resources) */
            continue;
        char t[64];
        fprintf(out,
                "\n#%zu %s at 0x%" PRIx64 " (block of %" PRIu64 " bytes, offset %" PRId64
                "), thread %d, %s\n",
                i + 1, snap_corruption_kind_name(c->ev.kind), c->ev.addr, c->ev.block_size,
                c->ev.offset, c->ev.tid, rpt_fmt_time(c->ev.time_ns, t, sizeof(t)));
        if (c->ev.detail[0])
            fprintf(out, "   %s\n", c->ev.detail);
        if (c->ev.bytes_len) {
            fprintf(out, "   bytes seen:");
            for (uint32_t b = 0; b < c->ev.bytes_len && b < SNAP_MAX_CORRUPTION_BYTES; b++)
                fprintf(out, " %02x", c->ev.bytes[b]);
            fputc('\n', out);
        }
        static const int order[3] = {2, 0, 1}; /* access first: who did it */
        for (int w = 0; w < 3; w++) {
            int k = order[w];
            if (!c->stacks[k])
                continue;
            fprintf(out, "   %s:\n", what[k]);
            uint32_t depth = ctx->opt->stack_depth ? ctx->opt->stack_depth : 32;
            print_loc_frames(ctx, out, c->stacks[k], 0, c->depth[k] < depth ? c->depth[k] : depth,
                             "      ");
        }
    }
    fputc('\n', out);
}

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
    if (r->count[last] && rpt_fmt_age(s, ri->oldest_ns, d, sizeof(d)))
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
        if (!rpt_res_event_of_kind(c, kind))
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

/* The resource sections (docs/resources.md): one per kind, its rows by
 * creating stack, then its use-after-destroy / double-destroy events. */
static void text_resources(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_RES];
    const char *kinds[RPT_RES_MAX_KINDS];
    size_t nk = rpt_res_kinds(s, kinds, RPT_RES_MAX_KINDS), last = s->n_snaps - 1;
    char d[32];
    for (size_t ki = 0; ki < nk; ki++) {
        size_t n_leak, n_events = 0;
        uint64_t total = rpt_res_outstanding(s, kinds[ki], &n_leak);
        for (size_t i = 0; i < s->n_corruptions; i++)
            n_events += rpt_res_event_of_kind(&s->corruptions[i], kinds[ki]);
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

int rpt_render_text(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    char a[64], b[64], d[32];
    size_t last = s->n_snaps - 1;
    rpt_memory_text_verdict(ctx, out); /* where the RSS went, first */
    fprintf(out, "leakaudit report: series %s (pid %d%s%s)\n", s->name, s->last.pid,
            s->last.hostname[0] ? " on " : "", s->last.hostname);
    fprintf(out, "  exe:        %s\n", s->last.exe);
    fprintf(out, "  source:     %s (%s), %s tracking, allocator %s\n",
            snap_source_name(s->last.source),
            s->last.source == SNAP_SOURCE_TRACER ? "eBPF attach"
            : rpt_heap_walked_at_attach(s)       ? "attach --inject: older blocks from a heap walk"
            : s->last.source == SNAP_SOURCE_INJECTED ? "attach --inject: only blocks allocated "
                                                       "since the attach"
                                                     : "LD_PRELOAD",
            snap_mode_name(s->last.mode), s->last.allocator[0] ? s->last.allocator : "unknown");
    fprintf(out, "  snapshots:  %zu (seq %u..%u) from %s, over %s\n", s->n_snaps, s->snaps[0].seq,
            s->snaps[last].seq, rpt_fmt_time(s->snaps[0].time_ns, a, sizeof(a)),
            rpt_fmt_duration(rpt_elapsed_min(s, last) * 60, d, sizeof(d)));
    if (s->snaps[last].rss_bytes)
        fprintf(out, "  RSS:        %s -> %s\n",
                rpt_fmt_bytes((double)s->snaps[0].rss_bytes, a, sizeof(a)),
                rpt_fmt_bytes((double)s->snaps[last].rss_bytes, b, sizeof(b)));
    if (s->n_other_series) {
        fprintf(out, "  other series in the input (pick with --series NAME):");
        for (size_t i = 0; i < s->n_other_series; i++)
            fprintf(out, " %s", s->other_series[i]);
        fputc('\n', out);
    }
    fputc('\n', out);
    int losses = 0, notes = 0;
    for (size_t i = 0; i < s->n_losses; i++) {
        if (!s->losses[i].value || snap_loss_note(s->losses[i].name))
            continue;
        if (!losses++)
            fprintf(out, "!! DATA LOSS: the capture missed data; figures below are lower "
                         "bounds\n");
        fprintf(out, "!!   %s = %" PRIu64 "\n", s->losses[i].name, s->losses[i].value);
    }
    for (size_t i = 0; i < s->n_losses; i++) {
        const char *note = snap_loss_note(s->losses[i].name);
        if (s->losses[i].value && note && ++notes)
            fprintf(out, "note: %s = %" PRIu64 ": %s\n", s->losses[i].name, s->losses[i].value,
                    note);
    }
    char cav[8][256];
    size_t nc = rpt_caveats(s, cav, 8);
    for (size_t i = 0; i < nc; i++)
        fprintf(out, "note: %s\n", cav[i]);
    if (losses || notes || nc)
        fputc('\n', out);

    print_heap(ctx, out);
    rpt_memory_text(ctx, out);
    print_resource(ctx, out, RPT_FDS);
    print_resource(ctx, out, RPT_MMAPS);
    text_resources(ctx, out); /* resources by kind, then their use-after/double-destroy events */
    rpt_kmem_text(ctx, out);
    print_corruption(ctx, out);

    const char **w;
    size_t nw = rpt_sym_warnings(ctx->sym, &w);
    if (nw || s->n_warnings) {
        fprintf(out, "WARNINGS:\n");
        for (size_t i = 0; i < s->n_warnings; i++)
            fprintf(out, "  %s\n", s->warnings[i]);
        for (size_t i = 0; i < nw; i++)
            fprintf(out, "  %s\n", w[i]);
    }
    return ferror(out) ? -5 : 0;
}
