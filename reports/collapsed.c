/*
 * Collapsed stacks ("folded" format) for flamegraph.pl, speedscope and
 * inferno: one line per stack, frames root-first separated by ';', then a
 * space and the live bytes at the last snapshot. Inlined frames become frames
 * of their own. ';' and line breaks inside names would split a frame, so they
 * are replaced. With a reachability scan in the last snapshot, each stack
 * is split by class under a root frame "[definitely lost]", ... .
 * Open fds (a count) and mapped bytes follow under root frames "[fds]" and
 * "[mmaps]", as resource handles do under "[resource KIND]", each heap
 * stack's peak live bytes under "[heap peak]" and its temporary
 * allocations (a count) under "[temporary allocations]": a flame graph
 * of the whole file shows each class as its own tower; `grep '^\[fds\];'`
 * keeps one.
 */
#include "report.h"

#include <inttypes.h>

static void put_name(FILE *out, const char *s)
{
    if (!s) {
        fputs("??", out);
        return;
    }
    for (; *s; s++)
        fputc(*s == ';' ? ':' : (*s == '\n' || *s == '\r') ? ' ' : *s, out);
}

static void put_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_row *r)
{
    int first = 1;
    uint32_t end = rpt_row_end(ctx, r);
    for (uint32_t i = end; i-- > r->skip;) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[i]);
        for (uint32_t f = sym->n_frames; f-- > 0;) {
            if (!first)
                fputc(';', out);
            first = 0;
            if (sym->frames[f].function)
                put_name(out, sym->frames[f].function);
            else
                fprintf(out, "%s+0x%" PRIx64, rpt_module_basename(r->locs[i].mod), r->locs[i].off);
        }
    }
    if (first)
        fputs("[no stack]", out);
}

/* Resource rows, one root frame per kind (docs/resources.md). */
static void collapsed_resources(struct rpt_ctx *ctx, FILE *out)
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

/* heaptrack's figures: each heap stack's peak live bytes, and its
 * temporary allocations (a count), as towers of their own. */
static void heaptrack_towers(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_HEAP];
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        uint64_t peak = rpt_row_peak(s, r);
        if (peak) {
            fputs("[heap peak];", out);
            put_frames(ctx, out, r);
            fprintf(out, " %" PRIu64 "\n", peak);
        }
        if (r->temp_count) {
            fputs("[temporary allocations];", out);
            put_frames(ctx, out, r);
            fprintf(out, " %" PRIu64 "\n", r->temp_count);
        }
    }
}

int rpt_render_collapsed(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_HEAP];
    size_t last = s->n_snaps - 1;
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        if (!r->value[last])
            continue;
        if (s->has_reach && s->reach_snap == last) {
            /* split by reachability class, the class as the root frame, so
             * a flame graph shows lost and reachable memory side by side */
            uint64_t rest = r->value[last];
            for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
                if (!r->reach_bytes[c])
                    continue;
                fprintf(out, "[%s];", snap_reach_class_name((uint32_t)c));
                put_frames(ctx, out, r);
                fprintf(out, " %" PRIu64 "\n", r->reach_bytes[c]);
                rest = rest > r->reach_bytes[c] ? rest - r->reach_bytes[c] : 0;
            }
            if (!rest)
                continue;
            fputs("[not scanned];", out);
            put_frames(ctx, out, r);
            fprintf(out, " %" PRIu64 "\n", rest);
            continue;
        }
        put_frames(ctx, out, r);
        fprintf(out, " %" PRIu64 "\n", r->value[last]);
    }
    for (int c = RPT_FDS; c <= RPT_MMAPS; c++) {
        const struct rpt_table *ft = &s->tab[c];
        for (size_t k = 0; k < ft->n_selected; k++) {
            const struct rpt_row *r = &ft->rows[ft->selected[k]];
            if (!r->value[last] || !r->depth)
                continue;
            fprintf(out, "[%s];", rpt_class_name((enum rpt_class)c));
            put_frames(ctx, out, r);
            fprintf(out, " %" PRIu64 "\n", r->value[last]);
        }
    }
    heaptrack_towers(ctx, out);
    collapsed_resources(ctx, out); /* one root frame per resource kind */
    rpt_kmem_collapsed(ctx, out);  /* root frame [kernel] */
    return ferror(out) ? -5 : 0;
}
