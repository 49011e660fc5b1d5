/*
 * `leakaudit run [options] [--] CMD ARGS...`: runs CMD with libleakaudit.so
 * preloaded (and, with --allocator, the chosen allocator library after it),
 * translating options into the LEAKAUDIT_* variables the shim reads (both
 * from the one option table, common/audit_options.c, which also gives
 * --help its lines), then prints the text report of the final snapshot
 * (reports/summary.c) under the lines saying what it is the state of.
 */
#include "cli/cli.h"
#include "cli/help.h"
#include "cli/opts.h"
#include "reports/report.h"
#include "allocators.h"
#include "audit_options.h"
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
/* Bytes written to probe that snapshots can be written at all. */
#define PROBE_BYTES 65536

static const char usage_head[] =
    "usage: leakaudit run [options] [--] CMD [ARGS...]\n"
    "\n"
    "Runs CMD under the leak-auditing shim (LD_PRELOAD=libleakaudit.so). Snapshots of\n"
    "outstanding heap, fds and mmaps by call stack are written to DIR periodically,\n"
    "on SIGUSR2 and at exit. Child processes inherit the shim and get their own series.\n"
    "\n"
    "options (each also as an environment variable, see docs/options.md):\n";

/* run's own options, not settings of the shim: --help and docs/options.md */
static const struct cli_help_row own_rows[] = {
    {CLI_HELP_OWN, 'n', "top", "N", "10", "stacks in the exit summary (symbolized; 0 = none)"},
    {CLI_HELP_OWN, 0, "progress", NULL, "on a terminal",
     "status line on stderr (snapshots so far, live bytes and blocks, fds)"},
    {CLI_HELP_OWN, 0, "no-progress", NULL, NULL, "no status line"},
    {CLI_HELP_OWN, 'q', "quiet", NULL, "off",
     "nothing on stderr from `run`: no output directory line, status line or summary"},
};
#define OWN_ROWS (sizeof(own_rows) / sizeof(own_rows[0]))

static const char usage_tail[] =
    "\n"
    "Options stop at CMD: everything after it is CMD's. If CMD dies of SIGINT, SIGTERM\n"
    "or SIGHUP (default disposition) the shim writes a final snapshot first.\n"
    "exit status: CMD's (128+N if it was killed by signal N); 1 runtime error and\n"
    "2 usage error when CMD could not be started; 127 CMD not found.\n";

/* --help: the shim's settings from the one option table, then run's own. */
static void print_usage(FILE *out)
{
    fputs(usage_head, out);
    cli_help_settings(out);
    cli_help_rows(out, own_rows, OWN_ROWS);
    cli_help_common(out);
    fputc('\n', out);
    cli_help_env_only(out);
    fputs(usage_tail, out);
}

/* Prints the summary of the snapshot at path: when it was taken, the heap
 * outstanding and valgrind's leak classes, then the report library's text
 * report of it. Returns 1 when it is the
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
    fputc('\n', stderr);
    fflush(stderr);
    /* the rest is the report of this one snapshot (reports/summary.c) */
    if (rpt_render_exit_text(path, top, stderr, err, sizeof(err)) < 0)
        fprintf(stderr, "leakaudit run: %s\n", err);
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
        setenv(audit_env(AUDIT_TRACK_FILE), abs, 1);
        return 0;
    }
    const char *old = getenv(audit_env(AUDIT_TRACK_RESOURCES));
    char joined[8192];
    if (snprintf(joined, sizeof(joined), "%s%s%s", old && *old ? old : "", old && *old ? "|" : "",
                 arg) >= (int)sizeof(joined)) {
        fprintf(stderr, "leakaudit run: --track-resource: specs too long\n");
        return -1;
    }
    setenv(audit_env(AUDIT_TRACK_RESOURCES), joined, 1);
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

/* What the command line asked for, beyond the LEAKAUDIT_* variables it set. */
struct run_args {
    const char *out, *allocator;
    int top, quiet, progress, shared;
    char **cmd;
};

/* getopt values of run's own options; a setting's is its table index + OPT_SETTING. */
enum {
    OPT_PROGRESS = 0x100,
    OPT_NO_PROGRESS,
    OPT_DEPTH_OLD,
    OPT_MARKDOWN, /* hidden: docs/options.md's table (make options-doc) */
    OPT_SETTING = 0x200,
};

/* One setting given as a flag: checked with the table's parser, then handed
 * to the shim as its variable. Returns 0 or CLI_EXIT_USAGE. */
static int set_from_flag(const struct audit_option *o, const char *value)
{
    long n;
    if (o->parser == AUDIT_P_COUNT) {
        if (cli_parse_long("run",
                           o == &audit_options[AUDIT_DEPTH] ? "--stack-depth" : "--guard-sample",
                           value, (long)o->min, (long)o->max, &n) < 0)
            return CLI_EXIT_USAGE;
    } else if (audit_option_check(o, value) < 0) {
        fprintf(stderr, "leakaudit run: --%s %s: expected %s\n", o->flag, value, o->expected);
        return CLI_EXIT_USAGE;
    }
    setenv(o->env, value, 1);
    return 0;
}

/* --guard[=MODE] and --reachability[=end|off]: their own value words. */
static int set_optional(int argc, char **argv, enum audit_option_id id, char *value)
{
    static const char *const guard_modes[] = {"canary", "pages", "both", NULL};
    static const char *const reach_values[] = {"on",     "off",    "end", "exit",
                                               "detach", "always", NULL};
    const char *const *words = id == AUDIT_GUARD ? guard_modes : reach_values;
    if (!value)
        value = (char *)cli_optional_value(argc, argv, words);
    if (id == AUDIT_GUARD) {
        if (value && strcmp(value, "canary") && strcmp(value, "pages") && strcmp(value, "both")) {
            fprintf(stderr, "leakaudit run: --guard=%s: expected canary, pages or both\n", value);
            return CLI_EXIT_USAGE;
        }
        setenv(audit_env(AUDIT_GUARD), value ? value : "canary", 1);
        return 0;
    }
    if (value && !strcmp(value, "always")) {
        cli_error("run", "--reachability=always: the shim scans at the end and on the "
                         "snapshot signal only (end or off)");
        return CLI_EXIT_USAGE;
    }
    if (value && strcmp(value, "on") && strcmp(value, "off") && strcmp(value, "end") &&
        strcmp(value, "exit") && strcmp(value, "detach")) {
        cli_error("run", "--reachability=%s: expected end or off", value);
        return CLI_EXIT_USAGE;
    }
    setenv(audit_env(AUDIT_REACHABILITY), value && !strcmp(value, "off") ? "off" : "on", 1);
    return 0;
}

/* The long options: every setting with a flag, then run's own. */
static void build_options(struct option *opts, size_t cap)
{
    size_t n = 0;
    for (int id = 0; id < AUDIT_OPTION_COUNT && n + 1 < cap; id++) {
        const struct audit_option *o = &audit_options[id];
        if (!o->flag)
            continue;
        int has_arg = o->parser == AUDIT_P_FLAG            ? no_argument
                      : o->metavar && o->metavar[0] == '[' ? optional_argument
                                                           : required_argument;
        opts[n++] =
            (struct option){o->flag, has_arg, NULL, o->letter ? o->letter : OPT_SETTING + id};
    }
    static const struct option own[] = {{"depth", required_argument, NULL, OPT_DEPTH_OLD},
                                        {"top", required_argument, NULL, 'n'},
                                        {"quiet", no_argument, NULL, 'q'},
                                        {"progress", no_argument, NULL, OPT_PROGRESS},
                                        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
                                        {"help", no_argument, NULL, 'h'},
                                        {"version", no_argument, NULL, CLI_OPT_VERSION},
                                        {"options-markdown", no_argument, NULL, OPT_MARKDOWN},
                                        {NULL, 0, NULL, 0}};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]) && n < cap; i++)
        opts[n++] = own[i];
}

/* The setting a getopt value stands for, or NULL. */
static const struct audit_option *setting_of(int c)
{
    if (c >= OPT_SETTING && c < OPT_SETTING + AUDIT_OPTION_COUNT)
        return &audit_options[c - OPT_SETTING];
    for (int id = 0; id < AUDIT_OPTION_COUNT; id++)
        if (audit_options[id].flag && audit_options[id].letter == c)
            return &audit_options[id];
    return NULL;
}

/* A setting's flag: the table's check, or what run does with it itself. */
static int apply_setting(int argc, char **argv, struct run_args *a, const struct audit_option *o)
{
    enum audit_option_id id = (enum audit_option_id)(o - audit_options);
    switch (id) {
    case AUDIT_OUT:
        a->out = optarg;
        return 0;
    case AUDIT_ALLOCATOR:
        a->allocator = optarg; /* checked once the shim is found */
        return 0;
    case AUDIT_ALLOW_SHARED_DIR:
        a->shared = 1;
        setenv(o->env, "1", 1);
        return 0;
    case AUDIT_GUARD:
    case AUDIT_REACHABILITY:
        return set_optional(argc, argv, id, optarg);
    case AUDIT_TRACK_RESOURCES:
    case AUDIT_TRACK_FILE:
        return add_resource_option(id == AUDIT_TRACK_FILE ? 'F' : 'X', optarg) < 0 ? CLI_EXIT_USAGE
                                                                                   : 0;
    default:
        return set_from_flag(o, optarg);
    }
}

/* Parses the command line into a and the LEAKAUDIT_* variables. Returns -1
 * to go on, or the exit status (help, version, a usage error). */
static int parse_args(int argc, char **argv, struct run_args *a)
{
    struct option opts[AUDIT_OPTION_COUNT + 16];
    build_options(opts, sizeof(opts) / sizeof(opts[0]));
    *a = (struct run_args){.allocator = "glibc", .top = DEFAULT_TOP, .progress = -1};
    long n;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:i:m:a:u:n:dqh", opts, NULL)) != -1) {
        const struct audit_option *o = setting_of(c);
        int rc = 0;
        if (o) {
            rc = apply_setting(argc, argv, a, o);
        } else if (c == OPT_DEPTH_OLD) {
            rc = set_from_flag(&audit_options[AUDIT_DEPTH], optarg);
        } else if (c == 'd') {
            cli_error("run", "-d is --duration in other commands; for frames per stack use "
                             "--stack-depth N");
            rc = CLI_EXIT_USAGE;
        } else if (c == 'n') {
            if (cli_parse_long("run", "--top", optarg, 0, INT_MAX, &n) < 0)
                return CLI_EXIT_USAGE;
            a->top = (int)n;
        } else if (c == 'q') {
            a->quiet = 1;
        } else if (c == OPT_PROGRESS || c == OPT_NO_PROGRESS) {
            a->progress = c == OPT_PROGRESS;
        } else if (c == 'h') {
            print_usage(stdout);
            return CLI_EXIT_OK;
        } else if (c == CLI_OPT_VERSION) {
            return cli_print_version("run");
        } else if (c == OPT_MARKDOWN) {
            cli_help_markdown(stdout, own_rows, OWN_ROWS);
            return CLI_EXIT_OK;
        } else {
            return cli_bad_option("run", argc, argv, opts, c);
        }
        if (rc)
            return rc;
    }
    if (optind >= argc) {
        fprintf(stderr, "leakaudit run: no command given (see --help)\n");
        return CLI_EXIT_USAGE;
    }
    a->cmd = argv + optind;
    return -1;
}

/* LD_PRELOAD (the shim, the allocator's library, what was there) and
 * LEAKAUDIT_ALLOCATOR. Returns -1 to go on, or the exit status. */
static int set_preload(const struct run_args *a)
{
    char shim[PATH_MAX];
    if (alloc_find_shim(shim, sizeof(shim)) < 0) {
        fprintf(stderr,
                "leakaudit run: libleakaudit.so not found next to this binary "
                "(build it with make, or set %s)\n",
                audit_env(AUDIT_SHIM));
        return CLI_EXIT_ERROR;
    }
    const struct alloc_info *alloc = alloc_lookup(a->allocator);
    if (!alloc) {
        fprintf(stderr, "leakaudit run: --allocator %s: expected %s\n", a->allocator,
                alloc_known_names());
        return CLI_EXIT_USAGE;
    }
    char lib[PATH_MAX] = "";
    if (alloc->files[0] && alloc_find_library(alloc, lib, sizeof(lib)) < 0) {
        fprintf(stderr, "leakaudit run: --allocator %s: %s not found (apt-get install %s)\n",
                a->allocator, alloc->files[0], alloc->package);
        return CLI_EXIT_ERROR;
    }
    char preload[3 * PATH_MAX];
    if (alloc_compose_preload(preload, sizeof(preload), shim, lib, getenv("LD_PRELOAD")) < 0) {
        fprintf(stderr, "leakaudit run: LD_PRELOAD: too long\n");
        return CLI_EXIT_ERROR;
    }
    setenv("LD_PRELOAD", preload, 1);
    setenv(audit_env(AUDIT_ALLOCATOR), a->allocator, 1);
    return -1;
}

/* The output directory: -o, else leakaudit-CMD-DATE-TIME; checked, made
 * absolute and handed to the shim. Returns -1 to go on, or the exit status. */
static int set_output_dir(const struct run_args *a, char *dir, size_t cap)
{
    if (a->out) {
        util_strlcpy(dir, a->out, cap);
    } else {
        const char *base = strrchr(a->cmd[0], '/');
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
        snprintf(dir, cap, "leakaudit-%s-%s", base ? base + 1 : a->cmd[0], stamp);
    }
    const char *why;
    int rc = probe_dir(dir, a->shared ? SAFE_DIR_SHARED : 0, &why);
    if (rc < 0) {
        say_dir_error(dir, rc, why);
        return CLI_EXIT_ERROR;
    }
    char absdir[PATH_MAX];
    if (realpath(dir, absdir))
        util_strlcpy(dir, absdir, cap);
    setenv(audit_env(AUDIT_OUT), dir, 1);
    return -1;
}

/* Starts the command; returns its pid, or -1. */
static pid_t start_command(char **cmd)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "leakaudit run: fork: %s\n", strerror(errno));
        return -1;
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
    return pid;
}

/* After the command ended: the summary of its last snapshot, and why
 * snapshots are missing if they are. Returns the exit status. */
static int finish(const struct run_args *a, const char *dir, pid_t pid, int exit_code)
{
    uint64_t exit_ns = util_realtime_ns();
    char snap[PATH_MAX];
    int at_exit = -1; /* -1: no snapshot at all, 0: only earlier ones, 1: the exit one */
    if (final_snapshot(dir, pid, snap, sizeof(snap)) == 0)
        at_exit = a->quiet ? is_exit_snapshot(snap) : print_summary(snap, a->top, exit_ns);
    if (at_exit < 1) {
        /* Snapshots went missing: say why when the directory tells. */
        const char *why;
        int rc = probe_dir(dir, a->shared ? SAFE_DIR_SHARED : 0, &why);
        if (rc < 0) {
            say_dir_error(dir, rc, why);
            if (exit_code == 0)
                exit_code = CLI_EXIT_ERROR;
        } else if (at_exit < 0 && !a->quiet) {
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
    if (!a->quiet)
        fprintf(stderr, "leakaudit: snapshots in %s; for symbols and trends: leakaudit report %s\n",
                dir, dir);
    return exit_code;
}

int cmd_run(int argc, char **argv)
{
    struct run_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    int usable = command_usable(a.cmd[0]);
    if (usable < 0) {
        fprintf(stderr, "leakaudit run: %s: %s\n", a.cmd[0],
                usable == -ENOENT ? "command not found" : strerror(-usable));
        return usable == -ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_NOT_EXECUTABLE;
    }
    char dir[PATH_MAX];
    if ((rc = set_preload(&a)) >= 0 || (rc = set_output_dir(&a, dir, sizeof(dir))) >= 0)
        return rc;
    if (!a.quiet)
        fprintf(stderr, "leakaudit run: snapshots go to %s\n", dir);
    pid_t pid = start_command(a.cmd);
    if (pid < 0)
        return CLI_EXIT_ERROR;
    int status, progress = a.quiet ? 0 : a.progress < 0 ? isatty(STDERR_FILENO) : a.progress;
    if (wait_child(pid, &status, dir, progress) < 0)
        return CLI_EXIT_ERROR;
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return finish(&a, dir, pid, exit_code);
}
