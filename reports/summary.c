/*
 * The short, symbolized summary `leakaudit run` prints when the audited
 * program ends: the final snapshot loaded as a one-point series, folded and
 * sorted like the report, and its top heap stacks printed with function
 * names (the shim never symbolizes; this runs in the front-end, after the
 * program is gone).
 */
#include "report.h"

#include <inttypes.h>
#include <string.h>

#define SUMMARY_FRAMES 6

int rpt_print_exit_summary(const char *snap_path, long top, FILE *out, char *err, size_t errlen)
{
    struct rpt_options opt;
    memset(&opt, 0, sizeof(opt));
    opt.top = top;
    opt.stack_depth = SUMMARY_FRAMES;
    char *paths[1] = {(char *)snap_path};
    struct rpt_series *s = NULL;
    int rc = rpt_series_load_files(paths, 1, &s, err, errlen);
    if (rc < 0) {
        rpt_modules_reset();
        return rc;
    }
    rpt_series_analyze(s);
    struct rpt_ctx ctx = {.opt = &opt, .series = s};
    ctx.sym = rpt_sym_create(NULL, 0, NULL);
    if (!ctx.sym) {
        snprintf(err, errlen, "out of memory");
        rpt_series_free(s);
        rpt_modules_reset();
        return -12;
    }
    if (top > 0) {
        rpt_select(&ctx);
        const struct rpt_table *t = &s->tab[RPT_HEAP];
        char b[32];
        size_t shown = 0;
        for (size_t i = 0; i < t->n_selected; i++) {
            const struct rpt_row *r = &t->rows[t->selected[i]];
            uint64_t bytes = r->value[s->n_snaps - 1], count = r->count[s->n_snaps - 1];
            if (!bytes)
                continue;
            fprintf(out, "  #%zu %s in %" PRIu64 " block%s (allocated %" PRIu64 " time%s)", ++shown,
                    rpt_fmt_bytes((double)bytes, b, sizeof(b)), count, count == 1 ? "" : "s",
                    r->total_count, r->total_count == 1 ? "" : "s");
            if (s->has_reach && rpt_row_lost_bytes(r))
                fprintf(out, ", %s lost",
                        rpt_fmt_bytes((double)rpt_row_lost_bytes(r), b, sizeof(b)));
            fputc('\n', out);
            rpt_text_frames(&ctx, out, r->locs, r->skip, rpt_row_end(&ctx, r), "      ");
        }
    }
    rpt_sym_destroy(ctx.sym);
    rpt_series_free(s);
    rpt_modules_reset();
    return 0;
}
