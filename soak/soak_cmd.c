/*
 * `leakaudit soak [options] -- CMD ARGS...`: runs the same workload under
 * each chosen allocator (and with or without the shim), for a bounded time
 * each, and compares them: RSS and its slope, throughput and p99 latency from
 * the target's /metrics, CPU, crashes. This file parses options, checks that
 * everything needed is installed before the first run, drives the runs and
 * writes the outputs; see run.c for one run and docs/soak.md for the rules.
 */
#include "cli/cli.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "audit_options.h"
#include "soak.h"
#include "safefile.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ALLOCATORS         "glibc,jemalloc,tcmalloc,mimalloc"
#define DEFAULT_DURATION_MS        (60 * 1000)
#define DEFAULT_INTERVAL_MS        1000
#define DEFAULT_GRACE_MS           5000
#define DEFAULT_LOAD_DELAY_MS      1000
#define DEFAULT_LEAK_THRESHOLD_PCT 10.0
#define DEFAULT_WARMUP_PCT         10.0
#define MIN_INTERVAL_MS            50
#define MAX_REPEAT                 1000
#define MAX_ALLOCATORS             8

static const char usage_head[] =
    "usage: leakaudit soak [options] -- CMD [ARGS...]\n"
    "\n"
    "Runs CMD once per allocator (and with/without the leak-auditing shim) for a\n"
    "bounded time each, samples it every interval and compares the runs: peak and\n"
    "final RSS, RSS slope per hour, throughput and p99 latency from its Prometheus\n"
    "/metrics, CPU, crashes. Writes a CSV per run, summary.md, summary.tsv and\n"
    "report.html (docs/soak.md).\n"
    "\n"
    "options:\n";

/* --help's option list: soak's own, and the shim's settings it sets in shim
 * runs (their text, variable and default from the option table). */
static const struct cli_help_row help_rows[] = {
    {CLI_HELP_OWN, 'a', "allocator", "LIST", "all four",
     "comma list of glibc, jemalloc, tcmalloc, mimalloc (each must be installed)"},
    {CLI_HELP_OWN, 0, "with-shim", NULL, NULL, "every run with libleakaudit.so preloaded too"},
    {CLI_HELP_OWN, 0, "without-shim", NULL, NULL, "no shim (the default)"},
    {CLI_HELP_OWN, 0, "both", NULL, NULL, "each allocator without and with the shim"},
    {CLI_HELP_OWN, 'd', "duration", "D", "60s", "per run, e.g. 90s, 10m; then SIGTERM"},
    {CLI_HELP_OWN, 0, "grace", "D", "5s", "SIGTERM to SIGKILL"},
    {CLI_HELP_OWN, 'r', "repeat", "N", "1", "run the whole set N times"},
    {CLI_HELP_OWN, 'i', "interval", "D", "1s", "sampling interval"},
    {CLI_HELP_OWN, 0, "load", "CMD", NULL,
     "load generator run with sh -c alongside each run, loopback URLs only; "
     "LEAKAUDIT_SOAK_PID is the target"},
    {CLI_HELP_OWN, 0, "load-delay", "D", "1s", "start it this long after the target"},
    {CLI_HELP_OWN, 0, "metrics-url", "URL", NULL,
     "the target's Prometheus endpoint on the loopback, e.g. http://127.0.0.1:8080/metrics"},
    {CLI_HELP_OWN, 0, "throughput-metric", "N", NULL,
     "counter for throughput (default: the sum of *_frames_inferred_total, else the first "
     "*_total)"},
    {CLI_HELP_OWN, 0, "latency-metric", "N", NULL,
     "histogram for p99 latency (default: the first *latency*/*duration* histogram)"},
    {CLI_HELP_OWN, 0, "drops-metric", "N", NULL, "counter of drops (default: every *drop*_total)"},
    {AUDIT_MODE, 0, NULL, NULL, NULL, "shim runs:"},
    {AUDIT_INTERVAL, 0, "shim-interval", "D", NULL, "shim runs:"},
    {AUDIT_GUARD, 0, NULL, NULL, NULL, "shim runs:"},
    {CLI_HELP_OWN, 0, "leak-threshold", "PCT", "10",
     "leak verdict when RSS grows by more than PCT% of its post-warm-up value over a run"},
    {CLI_HELP_OWN, 0, "warmup", "PCT", "10", "first PCT% of each run left out of the slope"},
    {CLI_HELP_OWN, 'o', "output", "DIR", "soak-<cmd>-<date>-<time>",
     "results directory, created 0700; an existing one must be yours and not writable by "
     "others"},
    {AUDIT_ALLOW_SHARED_DIR, 0, NULL, NULL, NULL, NULL},
    {CLI_HELP_OWN, 'v', "verbose", NULL, NULL, "also copy the target's stderr to this terminal"},
    {CLI_HELP_OWN, 0, "progress", NULL, NULL, "progress line even when stderr is not a terminal"},
    {CLI_HELP_OWN, 0, "no-progress", NULL, NULL, "no progress line (default: on a terminal)"},
    {CLI_HELP_OWN, 'q', "quiet", NULL, NULL, "no progress line"},
};

static const char usage_tail[] =
    "\n"
    "Options stop at CMD (or --). A crash ends that run, not the soak. Old spellings:\n"
    "--allocators (-a), --shim-mode (-m).\n"
    "exit status: 0 when every run was carried out (whatever the verdicts),\n"
    "1 runtime error, 2 usage error (bad option or value).\n";

static void print_usage(FILE *out)
{
    fputs(usage_head, out);
    cli_help_rows(out, help_rows, sizeof(help_rows) / sizeof(help_rows[0]));
    cli_help_common(out);
    fputs(usage_tail, out);
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

enum {
    OPT_WITH_SHIM = 256,
    OPT_WITHOUT_SHIM,
    OPT_BOTH,
    OPT_GRACE,
    OPT_LOAD,
    OPT_LOAD_DELAY,
    OPT_THROUGHPUT,
    OPT_LATENCY,
    OPT_DROPS,
    OPT_SHIM_MODE,
    OPT_SHIM_INTERVAL,
    OPT_GUARD,
    OPT_LEAK_THRESHOLD,
    OPT_WARMUP,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_METRICS_URL,
    OPT_ALLOW_SHARED,
};

static int parse_duration(const char *opt, const char *v, uint64_t *out)
{
    if (util_parse_duration_ms(v, out) < 0) {
        fprintf(stderr, "leakaudit soak: %s %s: not a duration (e.g. 500ms, 30s, 10m)\n", opt, v);
        return -EINVAL;
    }
    return 0;
}

static int parse_pct(const char *opt, const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= 0) || d > 1000) {
        fprintf(stderr, "leakaudit soak: %s %s: expected a percentage\n", opt, v);
        return -EINVAL;
    }
    *out = d;
    return 0;
}

/* Splits the allocator list; -EINVAL with a message for an unknown name. */
static int parse_allocators(const char *list, const struct alloc_info **out, int *n)
{
    char buf[256];
    util_strlcpy(buf, list, sizeof(buf));
    *n = 0;
    for (char *save, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        const struct alloc_info *a = alloc_lookup(tok);
        if (!a) {
            fprintf(stderr, "leakaudit soak: --allocators: unknown allocator '%s' (expected %s)\n",
                    tok, alloc_known_names());
            return -EINVAL;
        }
        int dup = 0;
        for (int i = 0; i < *n; i++)
            dup |= out[i] == a;
        if (!dup && *n < MAX_ALLOCATORS)
            out[(*n)++] = a;
    }
    if (*n == 0) {
        fprintf(stderr, "leakaudit soak: --allocators: empty list\n");
        return -EINVAL;
    }
    return 0;
}

/* Is cmd runnable as execvp would find it? */
static int command_exists(const char *cmd)
{
    if (strchr(cmd, '/'))
        return access(cmd, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    char dir[PATH_MAX];
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(dir, sizeof(dir), "%.*s/%s", (int)len, len ? p : ".", cmd);
        if (access(dir, X_OK) == 0)
            return 1;
        p += len;
        if (*p == ':')
            p++;
    }
    return 0;
}

static void default_outdir(char **cmd, char *out, size_t cap)
{
    const char *base = strrchr(cmd[0], '/');
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(out, cap, "soak-%s-%s", base ? base + 1 : cmd[0], stamp);
}

/* What the command line asked for besides the soak configuration. */
struct soak_args {
    const char *alloc_list, *outdir;
    int without, with, progress;
    uint64_t repeat;
};

static const struct option soak_opts[] = {
    {"allocator", required_argument, NULL, 'a'},
    {"allocators", required_argument, NULL, 'a'},
    {"with-shim", no_argument, NULL, OPT_WITH_SHIM},
    {"without-shim", no_argument, NULL, OPT_WITHOUT_SHIM},
    {"both", no_argument, NULL, OPT_BOTH},
    {"duration", required_argument, NULL, 'd'},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"repeat", required_argument, NULL, 'r'},
    {"interval", required_argument, NULL, 'i'},
    {"load", required_argument, NULL, OPT_LOAD},
    {"load-delay", required_argument, NULL, OPT_LOAD_DELAY},
    {"metrics-url", required_argument, NULL, OPT_METRICS_URL},
    {"throughput-metric", required_argument, NULL, OPT_THROUGHPUT},
    {"latency-metric", required_argument, NULL, OPT_LATENCY},
    {"drops-metric", required_argument, NULL, OPT_DROPS},
    {"mode", required_argument, NULL, 'm'},
    {"shim-mode", required_argument, NULL, 'm'},
    {"shim-interval", required_argument, NULL, OPT_SHIM_INTERVAL},
    {"guard", optional_argument, NULL, OPT_GUARD},
    {"leak-threshold", required_argument, NULL, OPT_LEAK_THRESHOLD},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"output", required_argument, NULL, 'o'},
    {"verbose", no_argument, NULL, 'v'},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"allow-shared-dir", no_argument, NULL, OPT_ALLOW_SHARED},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, CLI_OPT_VERSION},
    {NULL, 0, NULL, 0}};

/* Parses the options into cfg and a; returns -1 to go on, or the exit
 * status (help, version, a usage error). */
static int parse_args(int argc, char **argv, struct soak_config *cfg, struct soak_args *a)
{
    static const char *const guard_modes[] = {"canary", "pages", "both", NULL};
    const struct option *opts = soak_opts;
    uint64_t v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:a:d:r:i:m:o:nvqh", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            a->alloc_list = optarg;
            break;
        case OPT_WITH_SHIM:
            a->with = 1, a->without = 0;
            break;
        case OPT_WITHOUT_SHIM:
            a->with = 0, a->without = 1;
            break;
        case OPT_BOTH:
            a->with = 1, a->without = 1;
            break;
        case 'd':
            if (parse_duration("--duration", optarg, &cfg->duration_ms) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_GRACE:
            if (parse_duration("--grace", optarg, &cfg->grace_ms) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'n':
            cli_error("soak", "-n is --top in other commands; to repeat the set use -r/--repeat N");
            return CLI_EXIT_USAGE;
        case 'r': {
            long n;
            if (cli_parse_long("soak", "--repeat", optarg, 1, MAX_REPEAT, &n) < 0)
                return CLI_EXIT_USAGE;
            a->repeat = (uint64_t)n;
            break;
        }
        case 'i':
            if (parse_duration("--interval", optarg, &cfg->interval_ms) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_LOAD:
            cfg->load_cmd = optarg;
            break;
        case OPT_LOAD_DELAY:
            if (parse_duration("--load-delay", optarg, &cfg->load_delay_ms) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_METRICS_URL:
            cfg->metrics_url = optarg;
            break;
        case OPT_THROUGHPUT:
            util_strlcpy(cfg->metrics.throughput, optarg, sizeof(cfg->metrics.throughput));
            break;
        case OPT_LATENCY:
            util_strlcpy(cfg->metrics.latency, optarg, sizeof(cfg->metrics.latency));
            break;
        case OPT_DROPS:
            util_strlcpy(cfg->metrics.drops, optarg, sizeof(cfg->metrics.drops));
            break;
        case 'm':
            if (strcmp(optarg, "full") && strcmp(optarg, "sampled")) {
                fprintf(stderr, "leakaudit soak: --mode %s: expected full or sampled\n", optarg);
                return CLI_EXIT_USAGE;
            }
            cfg->shim_mode = optarg;
            break;
        case OPT_SHIM_INTERVAL:
            if (parse_duration("--shim-interval", optarg, &v) < 0)
                return CLI_EXIT_USAGE;
            cfg->shim_interval = optarg;
            break;
        case OPT_GUARD:
            if (!optarg)
                optarg = (char *)cli_optional_value(argc, argv, guard_modes);
            if (optarg && strcmp(optarg, "canary") && strcmp(optarg, "pages") &&
                strcmp(optarg, "both")) {
                fprintf(stderr, "leakaudit soak: --guard=%s: expected canary, pages or both\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            cfg->guard = optarg ? optarg : "canary";
            break;
        case OPT_LEAK_THRESHOLD:
            if (parse_pct("--leak-threshold", optarg, &cfg->leak_threshold_pct) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_WARMUP:
            if (parse_pct("--warmup", optarg, &cfg->warmup_pct) < 0 || cfg->warmup_pct >= 100) {
                fprintf(stderr, "leakaudit soak: --warmup must be below 100\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'o':
            a->outdir = optarg;
            break;
        case 'v':
            cfg->verbose = 1;
            break;
        case OPT_PROGRESS:
            a->progress = 1;
            break;
        case OPT_NO_PROGRESS:
        case 'q':
            a->progress = 0;
            break;
        case OPT_ALLOW_SHARED:
            cfg->allow_shared_dir = 1;
            break;
        case 'h':
            print_usage(stdout);
            return CLI_EXIT_OK;
        case CLI_OPT_VERSION:
            return cli_print_version("soak");
        default:
            return cli_bad_option("soak", argc, argv, opts, c);
        }
    }
    return -1;
}

/* The command and the options that depend on each other; -1 to go on. */
static int validate(int argc, char **argv, struct soak_config *cfg, const struct soak_args *a)
{
    if (optind >= argc) {
        fprintf(stderr, "leakaudit soak: no command given (see --help)\n");
        return CLI_EXIT_USAGE;
    }
    cfg->cmd = argv + optind;
    cfg->progress = a->progress < 0 ? isatty(STDERR_FILENO) : a->progress;
    if (cfg->duration_ms == 0) {
        fprintf(stderr, "leakaudit soak: --duration must be above 0\n");
        return CLI_EXIT_USAGE;
    }
    if (cfg->interval_ms < MIN_INTERVAL_MS) {
        fprintf(stderr, "leakaudit soak: --interval must be at least %dms\n", MIN_INTERVAL_MS);
        return CLI_EXIT_USAGE;
    }
    if ((cfg->guard || cfg->shim_mode || cfg->shim_interval) && !a->with) {
        fprintf(stderr, "leakaudit soak: --guard, --mode and --shim-interval need "
                        "--with-shim or --both\n");
        return CLI_EXIT_USAGE;
    }
    char err[256];
    if (cfg->metrics_url) {
        struct soak_url url;
        if (soak_url_parse(cfg->metrics_url, &url, err, sizeof(err)) < 0) {
            fprintf(stderr, "leakaudit soak: --metrics-url %s: %s\n", cfg->metrics_url, err);
            return CLI_EXIT_USAGE;
        }
    }
    if (cfg->load_cmd && soak_check_load_urls(cfg->load_cmd, err, sizeof(err)) < 0) {
        fprintf(stderr,
                "leakaudit soak: --load: %s (the load generator drives the local "
                "target only)\n",
                err);
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* The allocators' libraries and the shim, all found before the first run
 * (a missing allocator an hour into a soak would waste that hour). */
static int find_libraries(struct soak_config *cfg, const struct soak_args *a,
                          const struct alloc_info **allocs, int *n_allocs, char libs[][PATH_MAX])
{
    if (parse_allocators(a->alloc_list, allocs, n_allocs) < 0)
        return CLI_EXIT_USAGE;
    int missing = 0;
    const char *dir_override = getenv(audit_env(AUDIT_ALLOCATOR_DIR));
    for (int i = 0; i < *n_allocs; i++) {
        if (alloc_find_library(allocs[i], libs[i], sizeof(libs[i])) == 0)
            continue;
        missing++;
        if (dir_override && *dir_override)
            fprintf(
                stderr, "leakaudit soak: allocator %s is not installed: %s not found in %s=%s\n",
                allocs[i]->name, allocs[i]->files[0], audit_env(AUDIT_ALLOCATOR_DIR), dir_override);
        else
            fprintf(stderr,
                    "leakaudit soak: allocator %s is not installed: %s not found in the "
                    "system library directories (apt-get install %s, or leave it out of "
                    "--allocators)\n",
                    allocs[i]->name, allocs[i]->files[0], allocs[i]->package);
    }
    if (missing)
        return CLI_EXIT_ERROR;
    if (a->with && alloc_find_shim(cfg->shim, sizeof(cfg->shim)) < 0) {
        fprintf(stderr,
                "leakaudit soak: libleakaudit.so not found next to this binary (build "
                "it with make, or set %s)\n",
                audit_env(AUDIT_SHIM));
        return CLI_EXIT_ERROR;
    }
    if (!command_exists(cfg->cmd[0])) {
        fprintf(stderr, "leakaudit soak: %s: command not found or not executable\n", cfg->cmd[0]);
        return CLI_EXIT_ERROR;
    }
    return -1;
}

/* The results directory: checked, cleaned of stale temporaries, absolute. */
static int prepare_outdir(struct soak_config *cfg, const struct soak_args *a)
{
    if (a->outdir)
        util_strlcpy(cfg->outdir, a->outdir, sizeof(cfg->outdir));
    else
        default_outdir(cfg->cmd, cfg->outdir, sizeof(cfg->outdir));
    const char *why;
    int rc = safe_dir_open(cfg->outdir, cfg->allow_shared_dir ? SAFE_DIR_SHARED : 0, &why);
    if (rc < 0) {
        fprintf(stderr, "leakaudit soak: output directory %s: %s\n", cfg->outdir,
                why ? why : strerror(-rc));
        return CLI_EXIT_ERROR;
    }
    safe_clean_stale_tmp(rc);
    close(rc);
    char abs[PATH_MAX];
    if (realpath(cfg->outdir, abs))
        util_strlcpy(cfg->outdir, abs, sizeof(cfg->outdir));

    return -1;
}

/* Every run, in order: repeat x allocator x (without, with the shim). */
static struct soak_run *plan_runs(const struct soak_args *args, const struct alloc_info **allocs,
                                  int n_allocs, char libs[][PATH_MAX], size_t *n)
{
    int per_alloc = args->with + args->without;
    size_t n_runs = (size_t)args->repeat * (size_t)n_allocs * (size_t)per_alloc;
    struct soak_run *runs = calloc(n_runs, sizeof(*runs));
    if (!runs)
        return NULL;
    size_t k = 0;
    for (uint64_t rep = 1; rep <= args->repeat; rep++)
        for (int a = 0; a < n_allocs; a++)
            for (int s = args->without ? 0 : 1; s <= args->with; s++) {
                struct soak_run *r = &runs[k++];
                r->alloc = allocs[a];
                util_strlcpy(r->alloc_lib, libs[a], sizeof(r->alloc_lib));
                r->with_shim = s;
                r->index = (int)k;
                r->total = (int)n_runs;
                if (args->repeat > 1)
                    snprintf(r->name, sizeof(r->name), "%s%s-r%llu", allocs[a]->name,
                             s ? "-shim" : "", (unsigned long long)rep);
                else
                    snprintf(r->name, sizeof(r->name), "%s%s", allocs[a]->name, s ? "-shim" : "");
            }

    *n = n_runs;
    return runs;
}

/* Runs them all (until interrupted), each summarized and saved as it ends. */
static int run_all(struct soak_config *cfg, struct soak_run *runs, size_t n_runs)
{
    int rc;
    struct sigaction sa = {.sa_handler = on_interrupt}, old_int, old_term, old_pipe;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ign, &old_pipe);
    int status = CLI_EXIT_OK;
    for (size_t i = 0; i < n_runs && !interrupted; i++) {
        rc = soak_run_one(cfg, &runs[i], &interrupted);
        if (rc < 0) {
            fprintf(stderr, "leakaudit soak: run %s: %s\n", runs[i].name, strerror(-rc));
            status = CLI_EXIT_ERROR;
            continue;
        }
        soak_run_summarize(cfg, &runs[i]);
        rc = soak_write_csv(cfg, &runs[i]);
        if (rc < 0) {
            fprintf(stderr, "leakaudit soak: %s/%s.csv: %s\n", cfg->outdir, runs[i].name,
                    strerror(-rc));
            status = CLI_EXIT_ERROR;
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);

    return status;
}

/* Verdicts, the table on stdout and the result files. */
static int write_results(struct soak_config *cfg, struct soak_run *runs, size_t n_runs, int status)
{
    int rc;
    for (size_t i = 0; i < n_runs; i++)
        if (!runs[i].ran)
            soak_run_summarize(cfg, &runs[i]); /* "-" rather than zeros in the table */
    soak_assign_verdicts(runs, n_runs);
    soak_print_table(stdout, runs, n_runs);
    fflush(stdout);
    if ((rc = soak_write_summary_md(cfg, runs, n_runs)) < 0 ||
        (rc = soak_write_summary_tsv(cfg, runs, n_runs)) < 0 ||
        (rc = soak_write_html(cfg, runs, n_runs)) < 0) {
        fprintf(stderr, "leakaudit soak: writing results in %s: %s\n", cfg->outdir, strerror(-rc));
        status = CLI_EXIT_ERROR;
    }
    fprintf(stderr,
            "leakaudit soak: results in %s (summary.md, summary.tsv, report.html, <run>.csv)%s\n",
            cfg->outdir, interrupted ? "; interrupted, later runs not done" : "");
    return status;
}

int cmd_soak(int argc, char **argv)
{
    static struct soak_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.duration_ms = DEFAULT_DURATION_MS;
    cfg.interval_ms = DEFAULT_INTERVAL_MS;
    cfg.grace_ms = DEFAULT_GRACE_MS;
    cfg.load_delay_ms = DEFAULT_LOAD_DELAY_MS;
    cfg.leak_threshold_pct = DEFAULT_LEAK_THRESHOLD_PCT;
    cfg.warmup_pct = DEFAULT_WARMUP_PCT;
    struct soak_args a = {
        .alloc_list = DEFAULT_ALLOCATORS, .without = 1, .progress = -1, .repeat = 1};
    const struct alloc_info *allocs[MAX_ALLOCATORS];
    static char libs[MAX_ALLOCATORS][PATH_MAX];
    int n_allocs, rc;
    if ((rc = parse_args(argc, argv, &cfg, &a)) >= 0 ||
        (rc = validate(argc, argv, &cfg, &a)) >= 0 ||
        (rc = find_libraries(&cfg, &a, allocs, &n_allocs, libs)) >= 0 ||
        (rc = prepare_outdir(&cfg, &a)) >= 0)
        return rc;
    size_t n_runs;
    struct soak_run *runs = plan_runs(&a, allocs, n_allocs, libs, &n_runs);
    if (!runs) {
        fprintf(stderr, "leakaudit soak: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    int status = write_results(&cfg, runs, n_runs, run_all(&cfg, runs, n_runs));
    for (size_t i = 0; i < n_runs; i++)
        free(runs[i].samples);
    free(runs);
    if (interrupted && status == CLI_EXIT_OK)
        status = 128 + SIGINT;
    return status;
}
