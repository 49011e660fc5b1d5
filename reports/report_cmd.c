/*
 * `leakaudit report`: command-line options, then load -> analyze -> select
 * -> render. The options shared with `leakaudit diff` (output, depth,
 * folding, debuginfo, series choice) are parsed here too (rpt_parse_common).
 */
#include "report.h"
#include "report_cmd.h"
#include "safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "util.h"

static const struct {
    const char *name;
    enum rpt_format fmt;
    int (*render)(struct rpt_ctx *, FILE *);
} formats[] = {
    {"text", RPT_FMT_TEXT, rpt_render_text},
    {"json", RPT_FMT_JSON, rpt_render_json},
    {"html", RPT_FMT_HTML, rpt_render_html},
    {"pprof", RPT_FMT_PPROF, rpt_render_pprof},
    {"collapsed", RPT_FMT_COLLAPSED, rpt_render_collapsed},
    {"prometheus", RPT_FMT_PROMETHEUS, rpt_render_prometheus},
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: leakaudit report [options] DIR|FILE.snap...\n"
                 "\n"
                 "Leak report by allocation stack across a snapshot series (the output\n"
                 "directory of `leakaudit run` / `attach`), with growth verdicts\n"
                 "(leak, plateau, stable, freed, new, unknown), open fds and mmaps by\n"
                 "creating stack, heap corruption events and every loss counter.\n"
                 "\n"
                 "options:\n"
                 "  -f, --format FMT        text (default), json, html, pprof, collapsed,\n"
                 "                          prometheus\n"
                 "  -o, --output FILE       write to FILE (created 0600) instead of stdout;\n"
                 "                          - is stdout\n"
                 "  -n, --top N             show the N most important stacks per section\n"
                 "                          (default 10; pprof/collapsed: all; 0 = all)\n"
                 "      --min-bytes SIZE    hide stacks whose peak is below SIZE (e.g. 64K)\n"
                 "      --filter-module S   only stacks with a frame in a module whose path\n"
                 "                          contains S\n"
                 "      --filter-function S only stacks with a function containing S\n"
                 "      --stack-depth N     frames shown per stack (default 32)\n"
                 "      --no-fold           keep allocator/shim frames at the top of stacks\n"
                 "      --debuginfo-dir DIR also look for DIR/.build-id/xx/yyyy.debug\n"
                 "                          (repeatable; /usr/lib/debug is always searched)\n"
                 "      --sysroot DIR       find modules under DIR first (a copy of the\n"
                 "                          target's root, or /proc/PID/root)\n"
                 "      --series NAME       pick this series when the input holds several\n"
                 "  -p, --pid PID           pick the series of this pid\n"
                 "                          (default: the series with the most live bytes)\n"
                 "      --fail-on-leak      exit with status 3 if any stack leaks: definitely or\n"
                 "                          indirectly lost at a final (exit) reachability\n"
                 "                          scan, or verdict leak; still reachable never\n"
                 "                          counts (docs/reachability.md)\n"
                 "  -h, --help              this text\n"
                 "      --version           print the version\n"
                 "\n"
                 "Options may come before or after the inputs.\n" CLI_EXIT_STATUS_HELP
                 ", 3 leak found (--fail-on-leak)\n"
                 "docs: docs/report.md, JSON schema: docs/report-json.md\n");
}

enum {
    OPT_MIN_BYTES = 256,
    OPT_FILTER_MODULE,
    OPT_FILTER_FUNCTION,
    OPT_STACK_DEPTH,
    OPT_NO_FOLD,
    OPT_DEBUGINFO_DIR,
    OPT_SYSROOT,
    OPT_SERIES,
    OPT_PID,
    OPT_FAIL_ON_LEAK,
};

static const struct option long_opts[] = {
    {"format", required_argument, 0, 'f'},
    {"output", required_argument, 0, 'o'},
    {"top", required_argument, 0, 'n'},
    {"min-bytes", required_argument, 0, OPT_MIN_BYTES},
    {"filter-module", required_argument, 0, OPT_FILTER_MODULE},
    {"filter-function", required_argument, 0, OPT_FILTER_FUNCTION},
    {"stack-depth", required_argument, 0, OPT_STACK_DEPTH},
    {"no-fold", no_argument, 0, OPT_NO_FOLD},
    {"debuginfo-dir", required_argument, 0, OPT_DEBUGINFO_DIR},
    {"sysroot", required_argument, 0, OPT_SYSROOT},
    {"series", required_argument, 0, OPT_SERIES},
    {"fail-on-leak", no_argument, 0, OPT_FAIL_ON_LEAK},
    {"pid", required_argument, 0, 'p'},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, CLI_OPT_VERSION},
    {0, 0, 0, 0},
};

int rpt_parse_options(const char *cmd, int argc, char **argv, struct rpt_options *o, int *first_arg,
                      void (*usage_fn)(FILE *))
{
    long v;
    memset(o, 0, sizeof(*o));
    o->top = -1;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":f:o:n:p:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'f': {
            size_t i = 0;
            while (i < N_FORMATS && strcmp(formats[i].name, optarg))
                i++;
            if (i == N_FORMATS) {
                fprintf(stderr,
                        "leakaudit %s: --format: '%s' is not one of text, json, html, pprof, "
                        "collapsed, prometheus\n",
                        cmd, optarg);
                return CLI_EXIT_USAGE;
            }
            o->format = formats[i].fmt;
            break;
        }
        case 'o':
            o->output = optarg;
            break;
        case 'n':
            if (cli_parse_long(cmd, "--top", optarg, 0, 1000000000, &v))
                return CLI_EXIT_USAGE;
            o->top = v;
            break;
        case OPT_MIN_BYTES:
            if (util_parse_size(optarg, &o->min_bytes)) {
                fprintf(stderr, "leakaudit %s: --min-bytes: '%s' is not a size (e.g. 4096, 64K)\n",
                        cmd, optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_FILTER_MODULE:
            o->filter_module = optarg;
            break;
        case OPT_FILTER_FUNCTION:
            o->filter_function = optarg;
            break;
        case OPT_STACK_DEPTH:
            if (cli_parse_long(cmd, "--stack-depth", optarg, 1, SNAP_MAX_STACK_DEPTH, &v))
                return CLI_EXIT_USAGE;
            o->stack_depth = (unsigned)v;
            break;
        case OPT_NO_FOLD:
            o->no_fold = 1;
            break;
        case OPT_DEBUGINFO_DIR:
            if (o->n_debuginfo_dirs == (int)(sizeof(o->debuginfo_dirs) / sizeof(char *))) {
                fprintf(stderr, "leakaudit %s: --debuginfo-dir: at most %zu directories\n", cmd,
                        sizeof(o->debuginfo_dirs) / sizeof(char *));
                return CLI_EXIT_USAGE;
            }
            o->debuginfo_dirs[o->n_debuginfo_dirs++] = optarg;
            break;
        case OPT_SYSROOT:
            o->sysroot = optarg;
            break;
        case OPT_SERIES:
            o->series = optarg;
            break;
        case 'p':
            if (cli_parse_long(cmd, "--pid", optarg, 1, 0x7fffffff, &v))
                return CLI_EXIT_USAGE;
            o->pid = (int)v;
            break;
        case OPT_FAIL_ON_LEAK:
            o->fail_on_leak = 1;
            break;
        case 'h':
            usage_fn(stdout);
            return -1;
        case CLI_OPT_VERSION:
            cli_print_version(cmd);
            return -1;
        default:
            return cli_bad_option(cmd, argc, argv, long_opts, c);
        }
    }
    *first_arg = optind;
    return 0;
}

/* The report's file under stdio: records the errno of the first failed
 * write, which stdio itself reduces to ferror(). */
struct out_sink {
    int fd;
    int error;
};

static ssize_t sink_write(void *cookie, const char *buf, size_t len)
{
    struct out_sink *k = cookie;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(k->fd, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!k->error)
                k->error = n < 0 ? errno : ENOSPC;
            return off ? (ssize_t)off : -1;
        }
        off += (size_t)n;
    }
    return (ssize_t)len;
}

static const cookie_io_functions_t sink_functions = {.write = sink_write};

int rpt_write_output(struct rpt_ctx *ctx, int (*render)(struct rpt_ctx *, FILE *), char *err,
                     size_t errlen)
{
    const char *path = ctx->opt->output;
    if (!path || !strcmp(path, "-")) {
        int rc = render(ctx, stdout);
        if (fflush(stdout) != 0 && rc == 0)
            rc = -errno;
        if (rc < 0)
            snprintf(err, errlen, "stdout: write failed: %s", strerror(-rc));
        return rc;
    }
    /* A fresh private temporary renamed onto PATH when complete: a symlink
     * or FIFO planted at PATH is refused, a full disk leaves PATH as it was
     * (common/safefile.h). Reports name the audited program's internals. */
    struct safe_output so;
    const char *why;
    int rc = safe_output_open(&so, path, &why);
    struct out_sink sink = {.fd = rc < 0 ? -1 : so.fd};
    FILE *out = rc < 0 ? NULL : fopencookie(&sink, "w", sink_functions);
    if (rc == 0 && !out) {
        rc = -errno;
        close(so.fd);
        safe_output_abort(&so);
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, why ? why : strerror(-rc));
        return rc;
    }
    rc = render(ctx, out);
    if (fflush(out) != 0 && rc == 0)
        rc = -EIO;
    if (fclose(out) != 0 && rc == 0)
        rc = -EIO;
    if (close(so.fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0 && sink.error) /* the write's own reason (ENOSPC), not stdio's EIO */
        rc = -sink.error;
    if (rc < 0) {
        safe_output_abort(&so);
        snprintf(err, errlen, "%s: write failed: %s (nothing written)", path, strerror(-rc));
        return rc;
    }
    rc = safe_output_commit(&so, &why);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, why ? why : strerror(-rc));
    return rc;
}

int cmd_report(int argc, char **argv)
{
    struct rpt_options opt;
    int first;
    int rc = rpt_parse_options("report", argc, argv, &opt, &first, usage);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (first >= argc) {
        fprintf(stderr, "leakaudit report: no input: give a snapshot directory or .snap files "
                        "(see --help)\n");
        return CLI_EXIT_USAGE;
    }
    if (opt.format == RPT_FMT_PPROF && (!opt.output || !strcmp(opt.output, "-")) &&
        isatty(STDOUT_FILENO)) {
        fprintf(stderr, "leakaudit report: --format pprof writes gzipped protobuf: not to a "
                        "terminal (use -o FILE, or redirect stdout)\n");
        return CLI_EXIT_USAGE;
    }
    char err[1024] = "";
    struct rpt_series *s = NULL;
    rc = rpt_series_load(argv + first, argc - first, &opt, &s, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "leakaudit report: %s\n", err);
        rpt_modules_reset();
        return CLI_EXIT_ERROR;
    }
    rpt_series_analyze(s);
    rpt_kmem_analyze(s); /* kernel memory rows (kmem.c) */
    struct rpt_ctx ctx = {.opt = &opt, .series = s};
    ctx.sym = rpt_sym_create(opt.debuginfo_dirs, opt.n_debuginfo_dirs, opt.sysroot);
    if (!ctx.sym) {
        fprintf(stderr, "leakaudit report: out of memory\n");
        rpt_series_free(s);
        rpt_modules_reset();
        return CLI_EXIT_ERROR;
    }
    rpt_select(&ctx);
    size_t i = 0;
    while (i < N_FORMATS && formats[i].fmt != opt.format)
        i++;
    rc = rpt_write_output(&ctx, formats[i].render, err, sizeof(err));
    size_t leaks = 0;
    for (int c = 0; c < RPT_CLASS_COUNT; c++)
        leaks += s->tab[c].n_leaks;
    rpt_sym_destroy(ctx.sym);
    rpt_series_free(s);
    rpt_modules_reset();
    if (rc < 0) {
        fprintf(stderr, "leakaudit report: %s\n", err);
        return CLI_EXIT_ERROR;
    }
    if (opt.fail_on_leak && leaks) {
        fprintf(stderr,
                "leakaudit report: %zu stack%s leaking (lost at exit, or verdict leak; "
                "--fail-on-leak)\n",
                leaks, leaks == 1 ? "" : "s");
        return CLI_EXIT_LEAK;
    }
    return CLI_EXIT_OK;
}
