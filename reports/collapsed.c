/*
 * Collapsed stacks ("folded" format) for flamegraph.pl, speedscope and
 * inferno: one line per stack, frames root-first separated by ';', then a
 * space and the live bytes at the last snapshot. Inlined frames become frames
 * of their own. ';' and line breaks inside names would split a frame, so they
 * are replaced.
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

int rpt_render_collapsed(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_HEAP];
    size_t last = s->n_snaps - 1;
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        if (!r->value[last])
            continue;
        put_frames(ctx, out, r);
        fprintf(out, " %" PRIu64 "\n", r->value[last]);
    }
    return ferror(out) ? -5 : 0;
}
