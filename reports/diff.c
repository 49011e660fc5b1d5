/*
 * `leakaudit diff A B`: what grew or shrank between two snapshots, by stack.
 * A and B are snapshot files or directories (a directory stands for the last
 * snapshot of its chosen series). The two snapshots are loaded as a
 * two-point series, so stacks are matched by (module, offset) frames and the
 * diff works across processes and machines, not only within one run.
 */
#include "report.h"
#include "report_cmd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"

#define DIFF_DEFAULT_TOP 10

static void usage(FILE *out)
{
    fprintf(out, "usage: leakaudit diff [options] A B\n"
                 "\n"
                 "What grew or shrank between two snapshots, by allocation stack (heap\n"
                 "bytes, open fds, mapped bytes). A and B are .snap files or snapshot\n"
                 "directories (a directory means the last snapshot of its series).\n"
                 "\n"
                 "options:\n"
                 "  -f, --format FMT        text (default) or json\n"
                 "  -o, --output FILE       write to FILE (created 0600); - is stdout\n"
                 "  -n, --top N             rows per direction and section (default 10, 0 = all)\n"
                 "      --min-bytes SIZE    hide heap/mmap changes smaller than SIZE\n"
                 "      --filter-module S, --filter-function S, --stack-depth N, --no-fold,\n"
                 "      --debuginfo-dir DIR, --sysroot DIR, --series NAME\n"
                 "                          as for `leakaudit report`\n"
                 "  -p, --pid PID           pick the series of this pid in a directory\n"
                 "  -h, --help              this text\n"
                 "      --version           print the version\n"
                 "\n"
                 "Options may come before or after A and B.\n" CLI_EXIT_STATUS_HELP "\n");
}

struct diff_row {
    const struct rpt_row *row;
    int64_t delta, delta_count;
};

static int cmp_delta(const void *a, const void *b)
{
    const struct diff_row *x = a, *y = b;
    if (x->delta != y->delta)
        return x->delta > y->delta ? -1 : 1;
    return x->row->hash < y->row->hash ? -1 : x->row->hash > y->row->hash;
}

static void text_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_row *r)
{
    uint32_t end = rpt_row_end(ctx, r);
    if (!r->depth)
        fprintf(out, "      (no stack)\n");
    for (uint32_t i = r->skip; i < end; i++) {
        const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[i]);
        for (uint32_t f = 0; f < sym->n_frames; f++) {
            const struct rpt_frame *fr = &sym->frames[f];
            fprintf(out, "      #%-2u %s", i - r->skip, fr->function ? fr->function : "??");
            if (fr->file)
                fprintf(out, "  %s:%u", fr->file, fr->line);
            if (fr->inlined)
                fprintf(out, "  (inlined)\n");
            else
                fprintf(out, "  [%s+0x%" PRIx64 "]\n", rpt_module_basename(r->locs[i].mod),
                        r->locs[i].off);
        }
    }
}

static int render_diff(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    int json = ctx->opt->format == RPT_FMT_JSON;
    long top = ctx->opt->top < 0 ? DIFF_DEFAULT_TOP : ctx->opt->top;
    char a[32], b[32], c[32];
    if (json) {
        fprintf(out, "{\"schema\":\"leakaudit-diff\",\"schema_version\":%d,\"a\":",
                RPT_JSON_SCHEMA_VERSION);
        rpt_json_string(out, s->snaps[0].path);
        fputs(",\"b\":", out);
        rpt_json_string(out, s->snaps[1].path);
        fprintf(out, ",\"elapsed_s\":%.3f", rpt_elapsed_min(s, 1) * 60);
    } else {
        fprintf(out, "leakaudit diff: %s -> %s (%s apart)\n", s->snaps[0].path, s->snaps[1].path,
                rpt_fmt_duration(rpt_elapsed_min(s, 1) * 60, c, sizeof(c)));
        fprintf(out, "heap: %s -> %s live\n",
                rpt_fmt_bytes((double)s->snaps[0].live_bytes, a, sizeof(a)),
                rpt_fmt_bytes((double)s->snaps[1].live_bytes, b, sizeof(b)));
    }
    for (int cl = 0; cl < RPT_CLASS_COUNT; cl++) {
        const struct rpt_table *t = &s->tab[cl];
        int bytes = cl == RPT_HEAP || cl == RPT_MMAPS;
        struct diff_row *d = calloc(t->n_selected ? t->n_selected : 1, sizeof(*d));
        if (!d)
            return -12;
        size_t n = 0;
        for (size_t k = 0; k < t->n_selected; k++) {
            const struct rpt_row *r = &t->rows[t->selected[k]];
            int64_t delta = (int64_t)(r->value[1] - r->value[0]);
            uint64_t mag = delta < 0 ? (uint64_t)-delta : (uint64_t)delta;
            if (!delta || (bytes && ctx->opt->min_bytes && mag < ctx->opt->min_bytes))
                continue;
            d[n++] = (struct diff_row){r, delta, (int64_t)(r->count[1] - r->count[0])};
        }
        qsort(d, n, sizeof(*d), cmp_delta);
        if (json)
            fprintf(out, ",\n\"%s\":{\"grew\":[", rpt_class_name((enum rpt_class)cl));
        else if (n)
            fprintf(out, "\n%s:\n",
                    cl == RPT_HEAP  ? "HEAP"
                    : cl == RPT_FDS ? "FDS"
                    : cl == RPT_RES ? "RESOURCES"
                                    : "MMAPS");
        for (int dir = 0; dir < 2; dir++) {
            long shown = 0;
            for (size_t i = 0; i < n; i++) {
                /* grew: from the top; shrank: from the bottom (largest drop first) */
                const struct diff_row *x = dir == 0 ? &d[i] : &d[n - 1 - i];
                if ((dir == 0) != (x->delta > 0))
                    break;
                if (top && shown >= top)
                    break;
                shown++;
                if (json) {
                    fprintf(out,
                            "%s{\"stack_id\":\"%016" PRIx64 "\",\"delta\":%" PRId64
                            ",\"delta_count\":%" PRId64 ",\"before\":%" PRIu64 ",\"after\":%" PRIu64
                            ",\"peak\":%" PRIu64 ",\"frames\":",
                            shown > 1 ? "," : "", x->row->hash, x->delta, x->delta_count,
                            x->row->value[0], x->row->value[1], rpt_row_peak(s, x->row));
                    rpt_json_frames(ctx, out, x->row->locs, x->row->skip, rpt_row_end(ctx, x->row));
                    fputc('}', out);
                    continue;
                }
                if (shown == 1)
                    fprintf(out, "  %s:\n", dir == 0 ? "grew" : "shrank");
                if (bytes) {
                    fprintf(
                        out, "  #%ld %s%s (%+" PRId64 " allocations): %s -> %s", shown,
                        x->delta > 0 ? "+" : "-",
                        rpt_fmt_bytes((double)(x->delta > 0 ? x->delta : -x->delta), a, sizeof(a)),
                        x->delta_count, rpt_fmt_bytes((double)x->row->value[0], b, sizeof(b)),
                        rpt_fmt_bytes((double)x->row->value[1], c, sizeof(c)));
                    fprintf(out, " (peak %s)\n",
                            rpt_fmt_bytes((double)rpt_row_peak(s, x->row), a, sizeof(a)));
                } else {
                    fprintf(out, "  #%ld %+" PRId64 " open fds: %" PRIu64 " -> %" PRIu64 "\n",
                            shown, x->delta, x->row->value[0], x->row->value[1]);
                }
                text_frames(ctx, out, x->row);
            }
            if (json)
                fputs(dir == 0 ? "],\"shrank\":[" : "]}", out);
        }
        free(d);
    }
    if (json)
        fputs("}\n", out);
    return ferror(out) ? -5 : 0;
}

/* The snapshot file a diff operand stands for. */
static int resolve_operand(char *input, const struct rpt_options *opt, char **path, char *err,
                           size_t errlen)
{
    struct rpt_series *s;
    int rc = rpt_series_load(&input, 1, opt, &s, err, errlen);
    if (rc < 0)
        return rc;
    *path = strdup(s->snaps[s->n_snaps - 1].path);
    rpt_series_free(s);
    return *path ? 0 : -12;
}

int cmd_diff(int argc, char **argv)
{
    struct rpt_options opt;
    int first;
    int rc = rpt_parse_options("diff", argc, argv, &opt, &first, usage);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (opt.format != RPT_FMT_TEXT && opt.format != RPT_FMT_JSON) {
        fprintf(stderr, "leakaudit diff: --format: only text and json are supported\n");
        return CLI_EXIT_USAGE;
    }
    if (argc - first != 2) {
        fprintf(stderr, "leakaudit diff: needs exactly two inputs, A and B (see --help)\n");
        return CLI_EXIT_USAGE;
    }
    char err[1024] = "";
    char *paths[2] = {NULL, NULL};
    struct rpt_series *s = NULL;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = resolve_operand(argv[first + i], &opt, &paths[i], err, sizeof(err));
    if (rc == 0)
        rc = rpt_series_load_files(paths, 2, &s, err, sizeof(err));
    free(paths[0]);
    free(paths[1]);
    if (rc < 0) {
        fprintf(stderr, "leakaudit diff: %s\n", err);
        rpt_modules_reset();
        return CLI_EXIT_ERROR;
    }
    rpt_series_analyze(s);
    struct rpt_ctx ctx = {.opt = &opt, .series = s};
    ctx.sym = rpt_sym_create(opt.debuginfo_dirs, opt.n_debuginfo_dirs, opt.sysroot);
    if (ctx.sym) {
        struct rpt_options all = opt;
        all.top = 0;       /* select everything; render_diff applies --top per direction */
        all.min_bytes = 0; /* and --min-bytes to the change, not the peak */
        ctx.opt = &all;
        rpt_select(&ctx);
        ctx.opt = &opt;
        rc = rpt_write_output(&ctx, render_diff, err, sizeof(err));
    } else {
        rc = -12;
        snprintf(err, sizeof(err), "out of memory");
    }
    rpt_sym_destroy(ctx.sym);
    rpt_series_free(s);
    rpt_modules_reset();
    if (rc < 0) {
        fprintf(stderr, "leakaudit diff: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}
