/*
 * `leakaudit run [options] [--] CMD ARGS...`: runs CMD with libleakaudit.so
 * preloaded (and, with --allocator, the chosen allocator library after it),
 * translating options into the LEAKAUDIT_* variables the shim reads, then
 * prints a short summary of the final snapshot: outstanding heap by stack,
 * open fds by kind and origin, and every non-zero loss counter.
 */
#include "cli/cli.h"
#include "cli/opts.h"
#include "reports/report.h"
#include "allocators.h"
#include "resspec.h"
#include "safefile.h"
#include "snapshot.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TOP 10
/* The shim's limits for LEAKAUDIT_MAX_STACKS (allocshim/config.c). */
#define RUN_MIN_STACKS 16
#define RUN_MAX_STACKS (1 << 24)
/* Bytes written to probe that snapshots can be written at all. */
#define PROBE_BYTES 65536

static const char usage_text[] =
    "usage: leakaudit run [options] [--] CMD [ARGS...]\n"
    "\n"
    "Runs CMD under the leak-auditing shim (LD_PRELOAD=libleakaudit.so). Snapshots of\n"
    "outstanding heap, fds and mmaps by call stack are written to DIR periodically,\n"
    "on SIGUSR2 and at exit. Child processes inherit the shim and get their own series.\n"
    "\n"
    "options (each also as an environment variable, see docs/options.md):\n"
    "  -o, --output DIR         snapshot directory (LEAKAUDIT_OUT), created 0700;\n"
    "                           an existing one must be yours and not writable by\n"
    "                           others. default: leakaudit-<cmd>-<date>-<time>\n"
    "      --allow-shared-dir   accept an output directory that is not private\n"
    "                           (LEAKAUDIT_ALLOW_SHARED_DIR=1)\n"
    "  -i, --interval SECONDS   seconds between snapshots, 0 = only at exit/signal\n"
    "                           (LEAKAUDIT_INTERVAL, default 10)\n"
    "      --max-disk SIZE      bytes the series may take on disk; the oldest thinned\n"
    "                           snapshots go first, the first and the peak stay\n"
    "                           (LEAKAUDIT_MAX_DISK, default 1G, 0 = no bound)\n"
    "      --keep-for DURATION  delete snapshots older than this, e.g. 7d is 168h\n"
    "                           (LEAKAUDIT_KEEP_FOR, default: forever)\n"
    "      --thin on|off        keep every snapshot for an hour, then one per 10 min,\n"
    "                           after a day one per hour (LEAKAUDIT_THIN, default on)\n"
    "  -m, --mode full|sampled  every allocation, or Poisson-sampled by bytes for\n"
    "                           always-on use (LEAKAUDIT_MODE, default full)\n"
    "      --sample-period SIZE mean bytes between samples (LEAKAUDIT_SAMPLE_PERIOD, 512K)\n"
    "  -a, --allocator NAME     glibc, jemalloc, tcmalloc or mimalloc (preloaded after\n"
    "                           the shim; LEAKAUDIT_ALLOCATOR records the name)\n"
    "  -u, --unwind dwarf|fp|libunwind\n"
    "                           call-frame information (default: right without frame\n"
    "                           pointers), frame pointers, or libunwind (LEAKAUDIT_UNWIND)\n"
    "      --stack-depth N      frames per stack, 1-64 (LEAKAUDIT_DEPTH, default 32;\n"
    "                           --depth is a deprecated spelling)\n"
    "      --signal SIG         snapshot signal: USR1, USR2, RTMIN+N, none\n"
    "                           (LEAKAUDIT_SIGNAL, default USR2)\n"
    "      --track LIST         comma list of heap,fd,mmap (LEAKAUDIT_TRACK, default all)\n"
    "      --max-stacks N       distinct stacks in the table at once; stacks nothing\n"
    "                           live names leave it (LEAKAUDIT_MAX_STACKS, 262144)\n"
    "      --reachability[=end|off]  classify outstanding blocks as definitely/\n"
    "                           indirectly/possibly lost or still reachable at the end\n"
    "                           (exit, or death by SIGINT/SIGTERM/SIGHUP) and on the\n"
    "                           snapshot signal (LEAKAUDIT_REACHABILITY, default end;\n"
    "                           on = end; full mode only; docs/reachability.md)\n"
    "  -n, --top N              stacks in the exit summary (default 10, 0 = none)\n"
    "      --guard[=MODE]       heap-corruption guard: canary (every block, redzones +\n"
    "                           quarantine), pages (sampled guard pages), both\n"
    "                           (LEAKAUDIT_GUARD; --guard alone = canary)\n"
    "      --guard-policy P     abort (default) or log (LEAKAUDIT_GUARD_POLICY)\n"
    "      --guard-sample N     1 in N blocks get a guard page (LEAKAUDIT_GUARD_SAMPLE, 1000)\n"
    "      --guard-size N|MIN-MAX  only blocks of that many bytes get guard pages\n"
    "                           (LEAKAUDIT_GUARD_SIZE; e.g. once canaries named the block)\n"
    "      --track-resource SPEC  track a paired C-API resource, e.g.\n"
    "                           'name=ctx;create=ctx_new:ret;destroy=ctx_free:arg0' or\n"
    "                           preset:ffmpeg|glib|gst|turbojpeg|pairs:LIB; repeatable\n"
    "                           (LEAKAUDIT_TRACK_RESOURCES; docs/resources.md)\n"
    "      --track-file FILE    resource specs, one per line (LEAKAUDIT_TRACK_FILE)\n"
    "      --progress           status line (snapshots, live bytes, fds) on stderr even\n"
    "                           when it is not a terminal\n"
    "      --no-progress        no status line (default: on when stderr is a terminal)\n"
    "  -q, --quiet              nothing on stderr from leakaudit: no output directory,\n"
    "                           status line or summary\n"
    "  -h, --help               this text\n"
    "      --version            print the version\n"
    "\n"
    "Guard tuning, by environment only: LEAKAUDIT_QUARANTINE (bytes freed before a\n"
    "block is reused, 16M; 0 = none), LEAKAUDIT_GUARD_POISON (bytes checked at each\n"
    "end of a freed block, 256, or all), LEAKAUDIT_GUARD_SCAN (1s),\n"
    "LEAKAUDIT_GUARD_ALIGN (right|left); every option: docs/options.md.\n"
    "\n"
    "Options stop at CMD: everything after it is CMD's. If CMD dies of SIGINT, SIGTERM\n"
    "or SIGHUP (default disposition) the shim writes a final snapshot first.\n"
    "exit status: CMD's (128+N if it was killed by signal N); 1 runtime error and\n"
    "2 usage error when CMD could not be started; 127 CMD not found.\n";

/* Prints the summary of the snapshot at path; returns 1 when it is the
 * program's exit snapshot, 0 when it is an earlier one (it is then labelled
 * with its age, never as the state at exit), -1 when it cannot be read. */
static int print_summary(const char *path, int top, uint64_t exit_ns)
{
    struct snapshot *s;
    char err[1024];
    if (snapshot_read_file(path, &s, err, sizeof(err)) < 0) {
        fprintf(stderr, "leakaudit run: %s\n", err);
        return -1;
    }
    int at_exit = s->hdr.trigger == SNAP_TRIGGER_EXIT;
    char when[128] = "at exit";
    if (!at_exit) {
        uint64_t t = s->hdr.snapshot_time_ns;
        snprintf(when, sizeof(when), "at the last snapshot written (#%u, %s, %.1f s before exit)",
                 s->hdr.seq, snap_trigger_name(s->hdr.trigger),
                 exit_ns > t ? (double)(exit_ns - t) / 1e9 : 0.0);
        fprintf(stderr, "leakaudit: no exit snapshot: what follows is not the state at exit\n");
    }
    uint64_t live_bytes = 0, live_count = 0;
    for (size_t i = 0; i < s->n_heap; i++) {
        live_bytes += s->heap[i].live_bytes;
        live_count += s->heap[i].live_count;
    }
    fprintf(stderr,
            "leakaudit: %s (pid %d), %s mode: %llu bytes in %llu blocks outstanding %s, "
            "from %zu stacks\n",
            s->hdr.exe, s->hdr.pid, snap_mode_name(s->hdr.mode), (unsigned long long)live_bytes,
            (unsigned long long)live_count, when, s->n_heap);
    if (s->has_reach) {
        /* valgrind's leak summary: only the first two are leaks */
        uint64_t bytes[SNAP_REACH_CLASS_COUNT] = {0}, blocks[SNAP_REACH_CLASS_COUNT] = {0};
        for (size_t i = 0; i < s->n_reach; i++)
            for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
                bytes[c] += s->reach_entries[i].bytes[c];
                blocks[c] += s->reach_entries[i].blocks[c];
            }
        for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++)
            fprintf(stderr, "leakaudit:   %s: %llu bytes in %llu blocks\n",
                    snap_reach_class_name((uint32_t)c), (unsigned long long)bytes[c],
                    (unsigned long long)blocks[c]);
    }
    fflush(stderr);
    if (rpt_print_exit_summary(path, top, stderr, err, sizeof(err)) < 0)
        fprintf(stderr, "leakaudit run: %s\n", err);
    size_t attributed = 0, unattributed = 0;
    for (size_t i = 0; i < s->n_fds; i++) {
        if (s->fds[i].origin == SNAP_FDO_UNATTRIBUTED)
            unattributed++;
        else if (s->fds[i].origin != SNAP_FDO_PREEXISTING)
            attributed++;
    }
    fprintf(stderr,
            "leakaudit: %zu fds open %s (%zu created under audit, %zu unattributed), "
            "%zu mmap regions\n",
            s->n_fds, at_exit ? "at exit" : "then", attributed, unattributed, s->n_mmaps);
    if (s->n_corruptions && cmd_report) {
        /* The shim prints raw addresses (symbolizing in a corrupted process
         * is unsafe); the report symbolizes the events now. */
        fprintf(stderr, "leakaudit: %zu heap-corruption event(s); symbolized:\n", s->n_corruptions);
        fflush(stderr);
        char *args[] = {"report", "--top", "0", (char *)path, NULL};
        int saved = dup(1);
        if (saved >= 0 && dup2(2, 1) >= 0) {
            cmd_report(4, args);
            fflush(stdout);
            dup2(saved, 1);
        }
        if (saved >= 0)
            close(saved);
    }
    for (size_t i = 0; i < s->n_losses; i++)
        if (s->losses[i].value)
            fprintf(stderr, "leakaudit: loss counter %s = %llu\n", s->losses[i].name,
                    (unsigned long long)s->losses[i].value);
    snapshot_free(s);
    return at_exit;
}

/* The last snapshot of pid's series in dir (highest seq), or -ENOENT. */
static int final_snapshot(const char *dir, pid_t pid, char *out, size_t cap)
{
    char **paths, err[512];
    int n = snapshot_list_dir(dir, &paths, err, sizeof(err));
    if (n < 0)
        return n;
    char needle[32];
    snprintf(needle, sizeof(needle), ".%d.", (int)pid);
    int found = -ENOENT;
    for (int i = 0; i < n; i++) {
        const char *base = strrchr(paths[i], '/');
        base = base ? base + 1 : paths[i];
        if (strstr(base, needle)) {
            util_strlcpy(out, paths[i], cap); /* sorted: the last match is the newest */
            found = 0;
        }
        free(paths[i]);
    }
    free(paths);
    return found;
}

/*
 * --track-resource SPEC (joined into LEAKAUDIT_TRACK_RESOURCES with '|') and
 * --track-file FILE (LEAKAUDIT_TRACK_FILE, made absolute): checked here with
 * the shim's own parser, so a typo stops the run instead of a silent no-op.
 */
static int add_resource_option(int opt, const char *arg)
{
    static struct res_spec_set check;
    char err[256], text[65536];
    const char *specs = arg;
    if (opt == 'F') {
        FILE *f = fopen(arg, "re");
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        if (!f || ferror(f)) {
            fprintf(stderr, "leakaudit run: --track-file %s: %s\n", arg, strerror(errno));
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
        text[n] = '\0';
        specs = text;
    }
    res_spec_init(&check);
    if (res_spec_parse(&check, specs, err, sizeof(err)) < 0) {
        fprintf(stderr, "leakaudit run: %s %s: %s\n",
                opt == 'F' ? "--track-file" : "--track-resource", arg, err);
        return -1;
    }
    if (opt == 'F') {
        char abs[PATH_MAX];
        if (!realpath(arg, abs)) {
            fprintf(stderr, "leakaudit run: --track-file %s: %s\n", arg, strerror(errno));
            return -1;
        }
        setenv("LEAKAUDIT_TRACK_FILE", abs, 1);
        return 0;
    }
    const char *old = getenv("LEAKAUDIT_TRACK_RESOURCES");
    char joined[8192];
    if (snprintf(joined, sizeof(joined), "%s%s%s", old && *old ? old : "", old && *old ? "|" : "",
                 arg) >= (int)sizeof(joined)) {
        fprintf(stderr, "leakaudit run: --track-resource: specs too long\n");
        return -1;
    }
    setenv("LEAKAUDIT_TRACK_RESOURCES", joined, 1);
    return 0;
}

/*
 * The status line on a terminal: the newest snapshot of pid's series (read
 * again only when a new one appears) and the time since the start, redrawn
 * in place every STATUS_REFRESH_MS.
 */
#define STATUS_REFRESH_MS 250

struct status {
    char last[PATH_MAX];
    uint64_t live_bytes, live_count, seq;
    size_t n_fds;
    int have;
    struct timespec t0;
};

static void status_update(struct status *st, const char *dir, pid_t pid)
{
    char path[PATH_MAX];
    if (final_snapshot(dir, pid, path, sizeof(path)) == 0 && strcmp(path, st->last)) {
        struct snapshot *s;
        char err[256];
        if (snapshot_read_file(path, &s, err, sizeof(err)) == 0) {
            util_strlcpy(st->last, path, sizeof(st->last));
            st->live_bytes = st->live_count = 0;
            for (size_t i = 0; i < s->n_heap; i++) {
                st->live_bytes += s->heap[i].live_bytes;
                st->live_count += s->heap[i].live_count;
            }
            st->n_fds = s->n_fds;
            st->seq = s->hdr.seq;
            st->have = 1;
            snapshot_free(s);
        }
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long secs = (long)(now.tv_sec - st->t0.tv_sec);
    char b[32];
    if (st->have)
        fprintf(stderr,
                "\r\033[Kleakaudit run: pid %d, %lds: %llu snapshot%s, live %s in %llu blocks, "
                "%zu fds",
                (int)pid, secs, (unsigned long long)st->seq + 1, st->seq ? "s" : "",
                rpt_fmt_bytes((double)st->live_bytes, b, sizeof(b)),
                (unsigned long long)st->live_count, st->n_fds);
    else
        fprintf(stderr, "\r\033[Kleakaudit run: pid %d, %lds: no snapshot yet", (int)pid, secs);
    fflush(stderr);
}

/* waitpid for the child; with a status line, polls and redraws it. */
static int wait_child(pid_t pid, int *status, const char *dir, int progress)
{
    struct status st = {.have = 0};
    clock_gettime(CLOCK_MONOTONIC, &st.t0);
    for (;;) {
        pid_t r = waitpid(pid, status, progress ? WNOHANG : 0);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            if (progress)
                fputs("\r\033[K", stderr);
            fprintf(stderr, "leakaudit run: waitpid: %s\n", strerror(errno));
            return -1;
        }
        if (progress && r == 0) {
            status_update(&st, dir, pid);
            struct timespec ts = {0, STATUS_REFRESH_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (progress)
        fputs("\r\033[K", stderr);
    return 0;
}

static int is_exit_snapshot(const char *path)
{
    struct snapshot *s;
    char err[512];
    if (snapshot_read_file(path, &s, err, sizeof(err)) < 0)
        return -1;
    int at_exit = s->hdr.trigger == SNAP_TRIGGER_EXIT;
    snapshot_free(s);
    return at_exit;
}

/* 0 when cmd can be executed (found in PATH, executable), else -errno. */
static int command_usable(const char *cmd)
{
    if (strchr(cmd, '/'))
        return access(cmd, X_OK) == 0 ? 0 : -errno;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    char file[PATH_MAX];
    int rc = -ENOENT;
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(file, sizeof(file), "%.*s/%s", (int)len, len ? p : ".", cmd);
        if (access(file, X_OK) == 0)
            return 0;
        if (errno == EACCES)
            rc = -EACCES;
        p += len;
        if (*p == ':')
            p++;
    }
    return rc;
}

/*
 * Checks the output directory (common/safefile.h) and that a snapshot can be
 * written into it at all: PROBE_BYTES go to a fresh temporary that is then
 * removed. An unwritable directory or a full disk is an error before the
 * program starts, and tells why snapshots went missing after it ended.
 */
static int probe_dir(const char *dir, unsigned flags, const char **why)
{
    int dfd = safe_dir_open(dir, flags, why);
    if (dfd < 0)
        return dfd;
    safe_clean_stale_tmp(dfd); /* left by a target killed mid-snapshot */
    char tmp[SAFE_TMP_NAME_MAX];
    int fd = safe_tmp_create(dfd, "probe", tmp, sizeof(tmp));
    int rc = fd < 0 ? fd : 0;
    if (fd >= 0) {
        static const char zeros[4096];
        for (size_t off = 0; off < PROBE_BYTES && rc == 0; off += sizeof(zeros)) {
            ssize_t n = write(fd, zeros, sizeof(zeros));
            if (n != (ssize_t)sizeof(zeros))
                rc = n < 0 ? -errno : -ENOSPC;
        }
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
        safe_tmp_discard(dfd, tmp);
    }
    close(dfd);
    return rc;
}

static void say_dir_error(const char *dir, int rc, const char *why)
{
    if (why)
        fprintf(stderr, "leakaudit run: output directory %s: %s\n", dir, why);
    else
        fprintf(stderr, "leakaudit run: cannot write snapshots into %s: %s (%s)\n", dir,
                strerror(-rc), strerrorname_np(-rc) ? strerrorname_np(-rc) : "?");
}

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"interval", required_argument, NULL, 'i'},
                                         {"mode", required_argument, NULL, 'm'},
                                         {"sample-period", required_argument, NULL, 'P'},
                                         {"allocator", required_argument, NULL, 'a'},
                                         {"unwind", required_argument, NULL, 'u'},
                                         {"stack-depth", required_argument, NULL, 'D'},
                                         {"depth", required_argument, NULL, 'D'},
                                         {"signal", required_argument, NULL, 'S'},
                                         {"track", required_argument, NULL, 'T'},
                                         {"max-stacks", required_argument, NULL, 'M'},
                                         {"reachability", optional_argument, NULL, 'R'},
                                         {"guard", optional_argument, NULL, 'G'},
                                         {"guard-policy", required_argument, NULL, 'Y'},
                                         {"guard-sample", required_argument, NULL, 'Z'},
                                         {"guard-size", required_argument, NULL, 'B'},
                                         {"track-resource", required_argument, NULL, 'X'},
                                         {"track-file", required_argument, NULL, 'F'},
                                         {"top", required_argument, NULL, 'n'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"progress", no_argument, NULL, 'p'},
                                         {"no-progress", no_argument, NULL, 'N'},
                                         {"allow-shared-dir", no_argument, NULL, 'A'},
                                         {"max-disk", required_argument, NULL, 'K'},
                                         {"keep-for", required_argument, NULL, 'k'},
                                         {"thin", required_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, CLI_OPT_VERSION},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *allocator = "glibc";
    static const char *const guard_modes[] = {"canary", "pages", "both", NULL};
    static const char *const reach_values[] = {"on",     "off",    "end", "exit",
                                               "detach", "always", NULL};
    int top = DEFAULT_TOP, quiet = 0, progress = -1, shared = 0, c;
    uint64_t v;
    long n;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:i:m:a:u:n:dqh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'i':
            if (util_parse_duration_ms(optarg, &v) < 0) {
                fprintf(stderr, "leakaudit run: --interval %s: not a duration\n", optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_INTERVAL", optarg, 1);
            break;
        case 'm':
            if (strcmp(optarg, "full") && strcmp(optarg, "sampled")) {
                fprintf(stderr, "leakaudit run: --mode %s: expected full or sampled\n", optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_MODE", optarg, 1);
            break;
        case 'P':
            if (util_parse_size(optarg, &v) < 0 || v == 0) {
                fprintf(stderr, "leakaudit run: --sample-period %s: not a size\n", optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_SAMPLE_PERIOD", optarg, 1);
            break;
        case 'a':
            allocator = optarg;
            break;
        case 'u':
            if (strcmp(optarg, "fp") && strcmp(optarg, "dwarf") && strcmp(optarg, "libunwind")) {
                fprintf(stderr, "leakaudit run: --unwind %s: expected dwarf, fp or libunwind\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_UNWIND", optarg, 1);
            break;
        case 'd':
            cli_error("run", "-d is --duration in other commands; for frames per stack use "
                             "--stack-depth N");
            return CLI_EXIT_USAGE;
        case 'D':
            if (cli_parse_long("run", "--stack-depth", optarg, 1, SNAP_MAX_STACK_DEPTH, &n) < 0)
                return CLI_EXIT_USAGE;
            setenv("LEAKAUDIT_DEPTH", optarg, 1);
            break;
        case 'S':
            if (util_parse_signal(optarg) < 0) {
                fprintf(stderr,
                        "leakaudit run: --signal %s: expected USR1, USR2, PROF, RTMIN+N or "
                        "none (a signal the program can catch)\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_SIGNAL", optarg, 1);
            break;
        case 'T': {
            int h, f, m;
            if (util_parse_track(optarg, &h, &f, &m) < 0) {
                fprintf(stderr,
                        "leakaudit run: --track %s: expected a comma list of heap, fd, "
                        "mmap (or all)\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_TRACK", optarg, 1);
            break;
        }
        case 'G':
            if (!optarg)
                optarg = (char *)cli_optional_value(argc, argv, guard_modes);
            if (optarg && strcmp(optarg, "canary") && strcmp(optarg, "pages") &&
                strcmp(optarg, "both")) {
                fprintf(stderr, "leakaudit run: --guard=%s: expected canary, pages or both\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_GUARD", optarg ? optarg : "canary", 1);
            break;
        case 'Y':
            if (strcmp(optarg, "abort") && strcmp(optarg, "log")) {
                fprintf(stderr, "leakaudit run: --guard-policy %s: expected abort or log\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_GUARD_POLICY", optarg, 1);
            break;
        case 'Z': /* the shim's limits (config.c), checked here so a typo stops the run */
            if (cli_parse_long("run", "--guard-sample", optarg, 1, 1L << 30, &n) < 0)
                return CLI_EXIT_USAGE;
            setenv("LEAKAUDIT_GUARD_SAMPLE", optarg, 1);
            break;
        case 'B': {
            uint64_t lo, hi;
            if (util_parse_size_range(optarg, &lo, &hi) < 0) {
                fprintf(stderr,
                        "leakaudit run: --guard-size %s: expected N, MIN-MAX, MIN- or -MAX "
                        "(bytes, k/M/G suffixes)\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_GUARD_SIZE", optarg, 1);
            break;
        }
        case 'M':
            if (util_parse_size(optarg, &v) < 0 || v < RUN_MIN_STACKS || v > RUN_MAX_STACKS) {
                fprintf(stderr, "leakaudit run: --max-stacks %s: expected %d to %d\n", optarg,
                        RUN_MIN_STACKS, RUN_MAX_STACKS);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_MAX_STACKS", optarg, 1);
            break;
        case 'R':
            if (!optarg)
                optarg = (char *)cli_optional_value(argc, argv, reach_values);
            if (optarg && !strcmp(optarg, "always")) {
                cli_error("run", "--reachability=always: the shim scans at the end and on the "
                                 "snapshot signal only (end or off)");
                return CLI_EXIT_USAGE;
            }
            if (optarg && strcmp(optarg, "on") && strcmp(optarg, "off") && strcmp(optarg, "end") &&
                strcmp(optarg, "exit") && strcmp(optarg, "detach")) {
                cli_error("run", "--reachability=%s: expected end or off", optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_REACHABILITY", optarg && !strcmp(optarg, "off") ? "off" : "on", 1);
            break;
        case 'X':
        case 'F':
            if (add_resource_option(c, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'n':
            if (cli_parse_long("run", "--top", optarg, 0, INT_MAX, &n) < 0)
                return CLI_EXIT_USAGE;
            top = (int)n;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'p':
            progress = 1;
            break;
        case 'N':
            progress = 0;
            break;
        case 'K':
            if (util_parse_size(optarg, &v) < 0) {
                fprintf(stderr, "leakaudit run: --max-disk %s: not a size (e.g. 512M, 2G, 0)\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_MAX_DISK", optarg, 1);
            break;
        case 'k':
            if (util_parse_duration_ms(optarg, &v) < 0 || v < 1000) {
                fprintf(stderr,
                        "leakaudit run: --keep-for %s: expected a duration of at least "
                        "1s (e.g. 90m, 168h)\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_KEEP_FOR", optarg, 1);
            break;
        case 'L':
            if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
                fprintf(stderr, "leakaudit run: --thin %s: expected on or off\n", optarg);
                return CLI_EXIT_USAGE;
            }
            setenv("LEAKAUDIT_THIN", optarg, 1);
            break;
        case 'A':
            shared = 1;
            setenv("LEAKAUDIT_ALLOW_SHARED_DIR", "1", 1);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        case CLI_OPT_VERSION:
            return cli_print_version("run");
        default:
            return cli_bad_option("run", argc, argv, opts, c);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "leakaudit run: no command given (see --help)\n");
        return CLI_EXIT_USAGE;
    }
    char **cmd = argv + optind;
    int usable = command_usable(cmd[0]);
    if (usable < 0) {
        fprintf(stderr, "leakaudit run: %s: %s\n", cmd[0],
                usable == -ENOENT ? "command not found" : strerror(-usable));
        return usable == -ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_NOT_EXECUTABLE;
    }

    char shim[PATH_MAX];
    if (alloc_find_shim(shim, sizeof(shim)) < 0) {
        fprintf(stderr, "leakaudit run: libleakaudit.so not found next to this binary "
                        "(build it with make, or set LEAKAUDIT_SHIM)\n");
        return CLI_EXIT_ERROR;
    }
    const struct alloc_info *alloc = alloc_lookup(allocator);
    if (!alloc) {
        fprintf(stderr, "leakaudit run: --allocator %s: expected %s\n", allocator,
                alloc_known_names());
        return CLI_EXIT_USAGE;
    }
    char preload[2 * PATH_MAX + 2];
    util_strlcpy(preload, shim, sizeof(preload));
    if (alloc->files[0]) {
        char lib[PATH_MAX];
        if (alloc_find_library(alloc, lib, sizeof(lib)) < 0) {
            fprintf(stderr, "leakaudit run: --allocator %s: %s not found (apt-get install %s)\n",
                    allocator, alloc->files[0], alloc->package);
            return CLI_EXIT_ERROR;
        }
        snprintf(preload, sizeof(preload), "%s %s", shim, lib);
    }
    const char *old = getenv("LD_PRELOAD");
    if (old && *old) {
        char *joined;
        if (asprintf(&joined, "%s %s", preload, old) < 0)
            return CLI_EXIT_ERROR;
        setenv("LD_PRELOAD", joined, 1);
        free(joined);
    } else {
        setenv("LD_PRELOAD", preload, 1);
    }
    setenv("LEAKAUDIT_ALLOCATOR", allocator, 1);

    char dir[PATH_MAX];
    if (out) {
        util_strlcpy(dir, out, sizeof(dir));
    } else {
        const char *base = strrchr(cmd[0], '/');
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
        snprintf(dir, sizeof(dir), "leakaudit-%s-%s", base ? base + 1 : cmd[0], stamp);
    }
    const char *why;
    int rc = probe_dir(dir, shared ? SAFE_DIR_SHARED : 0, &why);
    if (rc < 0) {
        say_dir_error(dir, rc, why);
        return CLI_EXIT_ERROR;
    }
    char absdir[PATH_MAX];
    if (realpath(dir, absdir))
        util_strlcpy(dir, absdir, sizeof(dir));
    setenv("LEAKAUDIT_OUT", dir, 1);

    if (!quiet)
        fprintf(stderr, "leakaudit run: snapshots go to %s\n", dir);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "leakaudit run: fork: %s\n", strerror(errno));
        return CLI_EXIT_ERROR;
    }
    if (pid == 0) {
        execvp(cmd[0], cmd);
        fprintf(stderr, "leakaudit run: %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    /* Terminal signals reach the child through the process group; those sent
     * to us alone are passed on so `kill <leakaudit>` stops the program. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    struct sigaction sa = {.sa_handler = forward_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    int status;
    if (quiet)
        progress = 0;
    else if (progress < 0)
        progress = isatty(STDERR_FILENO);
    if (wait_child(pid, &status, dir, progress) < 0)
        return CLI_EXIT_ERROR;
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    uint64_t exit_ns = util_realtime_ns();
    char snap[PATH_MAX];
    int at_exit = -1; /* -1: no snapshot at all, 0: only earlier ones, 1: the exit one */
    if (final_snapshot(dir, pid, snap, sizeof(snap)) == 0)
        at_exit = quiet ? is_exit_snapshot(snap) : print_summary(snap, top, exit_ns);
    if (at_exit < 1) {
        /* Snapshots went missing: say why when the directory tells. */
        rc = probe_dir(dir, shared ? SAFE_DIR_SHARED : 0, &why);
        if (rc < 0) {
            say_dir_error(dir, rc, why);
            if (exit_code == 0)
                exit_code = CLI_EXIT_ERROR;
        } else if (at_exit < 0 && !quiet) {
            /* Not an error of ours: the directory is fine. A program that
             * ends with _exit (dash does) writes no exit snapshot; CMD's
             * status stays the exit status. */
            fprintf(stderr,
                    "leakaudit run: no snapshot from pid %d in %s: it exec'd a static or "
                    "setuid/setgid binary, changed user, or ended with _exit before its "
                    "first snapshot\n",
                    pid, dir);
        }
    }
    if (!quiet)
        fprintf(stderr, "leakaudit: snapshots in %s; for symbols and trends: leakaudit report %s\n",
                dir, dir);
    return exit_code;
}
