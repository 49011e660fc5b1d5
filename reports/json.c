/*
 * The JSON report: the same content as the text report in a stable,
 * versioned shape for scripts and CI (schema: docs/report-json.md and
 * docs/report-json.schema.json; bump RPT_JSON_SCHEMA_VERSION on any change
 * that is not purely additive). Strings are escaped so the output is valid
 * UTF-8 JSON whatever bytes the audited binaries' symbols contain.
 */
#include "report.h"
#include "memory.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "cli/cli.h"

static void json_double(FILE *out, double v)
{
    if (!isfinite(v))
        v = 0;
    fprintf(out, "%.6g", v);
}

static void json_u64_array(FILE *out, const uint64_t *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%" PRIu64, i ? "," : "", v[i]);
    fputc(']', out);
}

/* Frames locs[from, to) as the report's frame objects (docs/report-json.md,
 * "A frame"): every section's stacks are written here. */
void rpt_json_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_loc *locs, uint32_t from,
                     uint32_t to)
{
    fputc('[', out);
    int first = 1;
    for (uint32_t i = from; i < to; i++) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, locs[i]);
        const struct rpt_module *m = rpt_module_get(locs[i].mod);
        for (uint32_t f = 0; f < sym->n_frames; f++) {
            const struct rpt_frame *fr = &sym->frames[f];
            fprintf(out, "%s{\"index\":%u,\"function\":", first ? "" : ",", i - from);
            first = 0;
            rpt_json_string(out, fr->function);
            fputs(",\"file\":", out);
            rpt_json_string(out, fr->file);
            fprintf(out, ",\"line\":%u,\"inlined\":%s,\"module\":", fr->line,
                    fr->inlined ? "true" : "false");
            rpt_json_string(out, m ? m->path : NULL);
            fprintf(out, ",\"offset\":\"0x%" PRIx64 "\"}", locs[i].off);
        }
    }
    fputc(']', out);
}

/* The fields of a resource row (docs/resources.md). */
static void json_resource_fields(struct rpt_ctx *ctx, FILE *out, const struct rpt_row *r)
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
    if (r->count[last] && rpt_fmt_age(s, ri->oldest_ns, d, sizeof(d)))
        fprintf(out, ",\"oldest_age_s\":%.3f",
                (double)(s->last.snapshot_time_ns - ri->oldest_ns) / 1e9);
    fputs(",\"last_unmatched_ref\":", out);
    if (ri->last_ref && ri->balance > 0)
        rpt_json_frames(ctx, out, ri->last_ref, 0, ri->last_ref_depth);
    else
        fputs("null", out);
}

static void json_row(struct rpt_ctx *ctx, FILE *out, enum rpt_class c, const struct rpt_row *r,
                     size_t rank)
{
    const struct rpt_series *s = ctx->series;
    size_t last = s->n_snaps - 1;
    fprintf(out, "{\"rank\":%zu,\"stack_id\":\"%016" PRIx64 "\",\"verdict\":\"%s\",", rank, r->hash,
            rpt_verdict_name(r->trend.verdict));
    fputs("\"growth_per_min\":", out);
    json_double(out, r->trend.rate_per_min);
    fputs(",\"confidence\":", out);
    json_double(out, r->trend.confidence);
    fputs(",\"r2\":", out);
    json_double(out, r->trend.r2);
    fputs(",\"monotonic\":", out);
    json_double(out, r->trend.monotonic);
    if (c == RPT_FDS)
        fprintf(out, ",\"open\":%" PRIu64, r->value[last]);
    else if (c == RPT_RES)
        json_resource_fields(ctx, out, r);
    else
        fprintf(out, ",\"live_bytes\":%" PRIu64 ",\"live_count\":%" PRIu64, r->value[last],
                r->count[last]);
    if (c == RPT_HEAP)
        fprintf(out,
                ",\"peak_bytes\":%" PRIu64 ",\"total_bytes\":%" PRIu64 ",\"total_count\":%" PRIu64
                ",\"estimated\":%s",
                rpt_row_peak(s, r), r->total_bytes, r->total_count,
                r->flags & SNAP_HEAP_ESTIMATED ? "true" : "false");
    if (c == RPT_HEAP && (r->flags & SNAP_HEAP_PEAK_TEMP))
        fprintf(out, ",\"temporary_count\":%" PRIu64 ",\"temporary_bytes\":%" PRIu64, r->temp_count,
                r->temp_bytes);
    fprintf(out, ",\"first_snapshot\":%u,\"values\":", r->first_snap);
    json_u64_array(out, r->value, s->n_snaps);
    if (c != RPT_FDS) {
        fputs(",\"counts\":", out);
        json_u64_array(out, r->count, s->n_snaps);
    }
    fprintf(out, ",\"attributed\":%s", r->unattributed ? "false" : "true");
    if (c == RPT_HEAP && !r->depth && rpt_heap_walked_at_attach(s))
        fputs(",\"before_attach\":true", out);
    if (c == RPT_HEAP && s->has_reach) {
        fputs(",\"reachability\":{", out);
        for (int k = 0; k < SNAP_REACH_CLASS_COUNT; k++)
            fprintf(out, "%s\"%s\":{\"bytes\":%" PRIu64 ",\"blocks\":%" PRIu64 "}", k ? "," : "",
                    rpt_reach_key(k), r->reach_bytes[k], r->reach_blocks[k]);
        fputc('}', out);
        fprintf(out, ",\"leak\":%s", rpt_row_is_leak(s, c, r) ? "true" : "false");
    }
    if (r->fd && c != RPT_HEAP) {
        const struct rpt_fdinfo *fi = r->fd;
        fputs(",\"kinds\":{", out);
        int first = 1;
        for (uint32_t k = 0; k < SNAP_FD_KIND_COUNT; k++)
            if (fi->kinds[k]) {
                fprintf(out, "%s\"%s\":%u", first ? "" : ",",
                        c == RPT_MMAPS ? snap_mmap_kind_name(k) : snap_fd_kind_name(k),
                        fi->kinds[k]);
                first = 0;
            }
        fputc('}', out);
        if (c == RPT_FDS) {
            fputs(",\"origins\":{", out);
            first = 1;
            for (uint32_t k = 0; k < SNAP_FDO_COUNT; k++)
                if (fi->origins[k]) {
                    fprintf(out, "%s\"%s\":%u", first ? "" : ",", snap_fd_origin_name(k),
                            fi->origins[k]);
                    first = 0;
                }
            fputc('}', out);
        }
        fputs(",\"targets\":[", out);
        for (uint32_t k = 0; k < fi->n_targets; k++) {
            fputs(k ? "," : "", out);
            rpt_json_string(out, fi->targets[k]);
        }
        if (c == RPT_FDS)
            fprintf(out, "],\"cloexec\":%u", fi->cloexec);
        fputs(c == RPT_FDS ? ",\"fds\":[" : "],\"fds\":[", out);
        for (uint32_t k = 0; k < fi->n_fds; k++)
            fprintf(out, "%s%d", k ? "," : "", fi->fds[k]);
        fputs("]", out);
        if (fi->oldest_ns && s->last.snapshot_time_ns >= fi->oldest_ns) {
            fputs(",\"oldest_age_s\":", out);
            json_double(out, (double)(s->last.snapshot_time_ns - fi->oldest_ns) / 1e9);
        }
    }
    fprintf(out, ",\"folded_frames\":%u,\"depth\":%u,\"frames\":", r->skip, r->depth);
    rpt_json_frames(ctx, out, r->locs, r->skip, rpt_row_end(ctx, r));
    fputc('}', out);
}

static void json_table(struct rpt_ctx *ctx, FILE *out, enum rpt_class c)
{
    const struct rpt_table *t = &ctx->series->tab[c];
    static const enum rpt_verdict vs[] = {RPT_VERDICT_LEAK,   RPT_VERDICT_PLATEAU,
                                          RPT_VERDICT_STABLE, RPT_VERDICT_FREED,
                                          RPT_VERDICT_NEW,    RPT_VERDICT_UNKNOWN};
    fprintf(out, "\"%s\":{\"stacks_total\":%zu,\"stacks_shown\":%zu,\"verdicts\":{",
            rpt_class_name(c), t->n, t->n_selected);
    for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
        fprintf(out, "%s\"%s\":%zu", i ? "," : "", rpt_verdict_name(vs[i]),
                rpt_count_verdict(ctx->series, c, vs[i]));
    fputs("},\"stacks\":[", out);
    for (size_t k = 0; k < t->n_selected; k++) {
        fputs(k ? ",\n" : "\n", out);
        json_row(ctx, out, c, &t->rows[t->selected[k]], k + 1);
    }
    fputs("]}", out);
}

int rpt_render_json(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    fprintf(out, "{\"schema\":\"leakaudit-report\",\"schema_version\":%d,\"tool_version\":\"%s\",",
            RPT_JSON_SCHEMA_VERSION, LEAKAUDIT_VERSION);
    fputs("\n\"series\":{\"name\":", out);
    rpt_json_string(out, s->name);
    fprintf(out, ",\"pid\":%d,\"exe\":", s->last.pid);
    rpt_json_string(out, s->last.exe);
    fputs(",\"hostname\":", out);
    rpt_json_string(out, s->last.hostname);
    fputs(",\"allocator\":", out);
    rpt_json_string(out, s->last.allocator);
    fprintf(out,
            ",\"source\":\"%s\",\"mode\":\"%s\",\"estimates\":%s,\"sample_period\":%" PRIu64
            ",\"start_time_ns\":%" PRIu64,
            snap_source_name(s->last.source), snap_mode_name(s->last.mode),
            s->last.mode == SNAP_MODE_SAMPLED ? "true" : "false", s->last.sample_period,
            s->first.start_time_ns);
    fputs(",\"other_series\":[", out);
    for (size_t i = 0; i < s->n_other_series; i++) {
        fputs(i ? "," : "", out);
        rpt_json_string(out, s->other_series[i]);
    }
    fputs("]},\n\"snapshots\":[", out);
    for (size_t i = 0; i < s->n_snaps; i++) {
        const struct rpt_snapinfo *si = &s->snaps[i];
        fprintf(out, "%s{\"seq\":%u,\"time_ns\":%" PRIu64 ",\"elapsed_s\":", i ? "," : "", si->seq,
                si->time_ns);
        json_double(out, rpt_elapsed_min(s, i) * 60);
        fprintf(out,
                ",\"trigger\":\"%s\",\"rss_bytes\":%" PRIu64 ",\"live_bytes\":%" PRIu64
                ",\"live_count\":%" PRIu64 ",\"open_fds\":%" PRIu64 ",\"mmap_bytes\":%" PRIu64
                ",\"total_bytes\":%" PRIu64 ",\"total_count\":%" PRIu64
                ",\"retired_bytes\":%" PRIu64 ",\"retired_count\":%" PRIu64 ",\"file\":",
                snap_trigger_name(si->trigger), si->rss_bytes, si->live_bytes, si->live_count,
                si->n_fds, si->mmap_bytes, si->total_bytes, si->total_count, si->retired_bytes,
                si->retired_count);
        rpt_json_string(out, si->path);
        fputc('}', out);
    }
    fputs("],\n\"coverage\":{\"losses\":[", out);
    for (size_t i = 0; i < s->n_losses; i++) {
        fputs(i ? "," : "", out);
        fputs("{\"name\":", out);
        rpt_json_string(out, s->losses[i].name);
        fprintf(out, ",\"value\":%" PRIu64 "}", s->losses[i].value);
    }
    fputs("],\"caveats\":[", out);
    char cav[8][256];
    size_t nc = rpt_caveats(s, cav, 8);
    for (size_t i = 0; i < nc; i++) {
        fputs(i ? "," : "", out);
        rpt_json_string(out, cav[i]);
    }
    fputs("]},\n\"reachability\":", out);
    if (s->has_reach) {
        const struct snap_reach_info *ri = &s->reach;
        fprintf(out,
                "{\"snapshot_seq\":%u,\"trigger\":\"%s\",\"final\":%s,\"attach_only\":%s,"
                "\"scan_ns\":%" PRIu64 ",\"pause_ns\":%" PRIu64 ",\"extra_bytes\":%" PRIu64
                ",\"blocks_scanned\":%" PRIu64 ",\"roots_bytes\":%" PRIu64
                ",\"threads_stopped\":%u,\"threads_missed\":%u,\"totals\":{",
                s->snaps[s->reach_snap].seq, snap_trigger_name(s->reach_trigger),
                s->reach_final ? "true" : "false",
                ri->flags & SNAP_REACH_ATTACH_ONLY ? "true" : "false", ri->scan_ns, ri->pause_ns,
                ri->extra_bytes, ri->blocks_scanned, ri->roots_bytes, ri->threads_stopped,
                ri->threads_missed);
        for (int k = 0; k < SNAP_REACH_CLASS_COUNT; k++)
            fprintf(out, "%s\"%s\":{\"bytes\":%" PRIu64 ",\"blocks\":%" PRIu64 "}", k ? "," : "",
                    rpt_reach_key(k), s->reach_bytes[k], s->reach_blocks[k]);
        fputs("}}", out);
    } else {
        fputs("null", out);
    }
    rpt_memory_json(ctx, out); /* ,"memory":{...}: the breakdown and the growth verdict */
    fputs(",\n", out);
    for (int c = 0; c < RPT_CLASS_COUNT; c++) {
        json_table(ctx, out, (enum rpt_class)c);
        fputs(",\n", out);
    }
    rpt_kmem_json(ctx, out);
    fputs("\"corruption\":[", out);
    static const char *const names[3] = {"alloc_stack", "free_stack", "access_stack"};
    for (size_t i = 0; i < s->n_corruptions; i++) {
        const struct rpt_corruption *c = &s->corruptions[i];
        fprintf(out,
                "%s\n{\"kind\":\"%s\",\"tid\":%d,\"address\":\"0x%" PRIx64
                "\",\"block_size\":%" PRIu64 ",\"offset\":%" PRId64 ",\"time_ns\":%" PRIu64
                ",\"detail\":",
                i ? "," : "", snap_corruption_kind_name(c->ev.kind), c->ev.tid, c->ev.addr,
                c->ev.block_size, c->ev.offset, c->ev.time_ns);
        rpt_json_string(out, c->ev.detail);
        fputs(",\"bytes_seen\":\"", out);
        for (uint32_t b = 0; b < c->ev.bytes_len && b < SNAP_MAX_CORRUPTION_BYTES; b++)
            fprintf(out, "%02x", c->ev.bytes[b]);
        fputc('"', out);
        for (int k = 0; k < 3; k++) {
            fprintf(out, ",\"%s\":", names[k]);
            if (c->stacks[k])
                rpt_json_frames(ctx, out, c->stacks[k], 0, c->depth[k]);
            else
                fputs("null", out);
        }
        fputc('}', out);
    }
    fputs("],\n\"warnings\":[", out);
    const char **w;
    size_t nw = rpt_sym_warnings(ctx->sym, &w);
    for (size_t i = 0; i < s->n_warnings + nw; i++) {
        fputs(i ? "," : "", out);
        rpt_json_string(out, i < s->n_warnings ? s->warnings[i] : w[i - s->n_warnings]);
    }
    fputs("]}\n", out);
    return ferror(out) ? -5 : 0;
}
