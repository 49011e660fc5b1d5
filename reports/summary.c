/*
 * `leakaudit run`'s exit summary: the report library's text renderer
 * (text.c) on the program's final snapshot, loaded as a one-point series,
 * folded and sorted like any report, with the top N heap stacks and
 * SUMMARY_FRAMES frames each. The shim never symbolizes; this runs in the
 * front-end, after the program is gone, so corruption events come out
 * symbolized here too.
 */
#include "report.h"

#include <errno.h>
#include <string.h>

#define SUMMARY_FRAMES 6

int rpt_render_exit_text(const char *snap_path, long top, FILE *out, char *err, size_t errlen)
{
    struct rpt_options opt;
    memset(&opt, 0, sizeof(opt));
    opt.format = RPT_FMT_TEXT;
    opt.top = top > 0 ? top : 1;
    opt.min_bytes = top > 0 ? 0 : UINT64_MAX; /* 0: no stacks, the rest of the report */
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
        rc = -ENOMEM;
    } else {
        rpt_select(&ctx);
        rc = rpt_render_text(&ctx, out);
        if (rc < 0)
            snprintf(err, errlen, "writing the summary: %s", strerror(-rc));
        rpt_sym_destroy(ctx.sym);
    }
    rpt_series_free(s);
    rpt_modules_reset();
    return rc;
}
