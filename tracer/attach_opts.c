/*
 * The command line of `leakaudit attach`: its --help, the options into a
 * struct trc_opts, their checks, and the defaults that depend on others
 * (the snapshot interval from --duration).
 */
#include "cli/cli.h"
#include "cli/opts.h"
#include "tracer.h"
#include "resspec.h"
#include "retention.h"
#include "util.h"

#include "bpf/trace_events.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Without --interval a series must still give a verdict (docs/report.md
 * needs LEAK_MIN_POINTS = 6 snapshots): --duration D snapshots every
 * D / AUTO_SNAPSHOTS (bounded below and above), an open-ended attach every
 * AUTO_OPEN_INTERVAL_MS. docs/attach.md states the same numbers. */
#define AUTO_SNAPSHOTS        10
#define AUTO_MIN_INTERVAL_MS  250
#define AUTO_MAX_INTERVAL_MS  (10 * 60 * 1000)
#define AUTO_OPEN_INTERVAL_MS (10 * 1000)

static const char usage[] =
    "usage: leakaudit attach -p PID [options]\n"
    "\n"
    "Attach to a running process and record its outstanding heap allocations, fds\n"
    "and mmaps by call stack into snapshots (same format as `leakaudit run`): with\n"
    "eBPF probes (default; a kernel trap per allocator call), or with --inject, the\n"
    "shim loaded into the process (about the cost of `run`). With eBPF only what\n"
    "happens after the attach is seen; --inject also lists the blocks live before it\n"
    "(glibc). fds already open are listed as pre-existing. eBPF needs root, or\n"
    "CAP_BPF + CAP_PERFMON (+ CAP_SYS_ADMIN for heap tracking); both need permission\n"
    "to ptrace PID: same user, or CAP_SYS_PTRACE.\n"
    "\n"
    "  -p, --pid PID          process to attach to\n"
    "  -o, --output DIR       snapshot directory (default leakaudit-PID-<time>)\n"
    "  -i, --interval S       a snapshot every S (e.g. 10, 500ms, 2m), or 'detach' for\n"
    "                         only the final one; default: --duration / 10 (at least\n"
    "                         250ms, at most 10m), or 10s when attached until Ctrl-C\n"
    "  -d, --duration S       detach after S; default: until Ctrl-C, SIGTERM, or the\n"
    "                         target's exit or exec\n"
    "  -m, --mode full|sampled  full (default): every allocation; sampled: eBPF probes\n"
    "                         allocations 1 s of every 10 s (frees always), --inject\n"
    "                         samples by bytes as `run -m sampled`; counts scaled\n"
    "                         (estimates)\n"
    "      --stack-depth N    frames per stack (1-64, default 32)\n"
    "  -u, --unwind dwarf|fp  how stacks are walked in the kernel: dwarf (default) with\n"
    "                         the modules' call-frame information (right without frame\n"
    "                         pointers); fp: frame pointers only (cheaper, wrong in\n"
    "                         code built without them) (docs/unwinding.md)\n"
    "      --inject           load the shim into the process instead of probing it with\n"
    "                         eBPF: ptrace calls the target's dlopen, imports are\n"
    "                         patched (heap, fds, --track-resource functions); ~shim\n"
    "                         cost instead of a trap per call; blocks allocated before\n"
    "                         the attach are listed under glibc (a heap walk); x86-64,\n"
    "                         glibc 2.34+, no seccomp filter (docs/inject.md)\n"
    "      --no-heap          do not probe the allocator\n"
    "      --no-fds           do not trace fd/mmap syscalls\n"
    "      --track-resource SPEC  track a paired C-API resource (create/destroy,\n"
    "                         ref/unref), e.g. 'name=ctx;create=ctx_new:ret;destroy=\n"
    "                         ctx_free:arg0' or preset:ffmpeg; repeatable (docs/resources.md)\n"
    "      --track-file FILE  resource specs, one per line\n"
    "      --kmem             also kernel memory allocated in the process's context and\n"
    "                         still outstanding, by kernel and user stack, and its\n"
    "                         dma-bufs; off by default: every kfree on the machine pays\n"
    "                         a map lookup while attached (docs/memory-kernel.md)\n"
    "      --reachability[=end|always|off]  classify the allocations seen as\n"
    "                         definitely/indirectly/possibly lost or still reachable\n"
    "                         (target briefly stopped with ptrace): end (default in\n"
    "                         full mode; also on, detach, or the option alone) = at\n"
    "                         detach and on SIGUSR2 to this command; always = in\n"
    "                         every snapshot\n"
    "                         (docs/reachability.md)\n"
    "      --progress         status line on stderr even when it is not a terminal\n"
    "      --no-progress      no status line\n"
    "  -v, --verbose          say what was attached and where\n"
    "  -q, --quiet            no status line, nothing but errors on stderr\n"
    "      --allow-shared-dir accept an -o directory that is not private (by default it is\n"
    "                         created 0700, or must be yours and not writable by others)\n"
    "      --max-disk SIZE    bytes the series may take on disk (default 1G, 0 = no bound)\n"
    "      --keep-for D       delete snapshots older than D (default: forever)\n"
    "      --thin on|off      every snapshot for an hour, then one per 10 min, after a\n"
    "                         day one per hour; first and peak always kept (default on)\n"
    "  -h, --help             this help\n"
    "      --version          print the version\n"
    "\n" CLI_EXIT_STATUS_HELP ";\n"
    "a wrong pid, no permission, a target gone before the attach or BPF unavailable\n"
    "is 1. Ctrl-C, SIGTERM, --duration and the target's exit or exec all end with a\n"
    "final snapshot and exit status 0.\n";

/* --track-resource SPEC / --track-file FILE: joined with '|' into
 * o->track_specs and checked by the parser the shim uses. */
static int add_track_spec(struct trc_opts *o, int is_file, const char *arg)
{
    char *text = NULL;
    size_t len = 0;
    if (is_file) {
        FILE *f = fopen(arg, "re");
        if (!f) {
            fprintf(stderr, "leakaudit attach: --track-file %s: %s\n", arg, strerror(errno));
            return -1;
        }
        text = calloc(1, RES_SPEC_FILE_MAX + 1);
        len = text ? fread(text, 1, RES_SPEC_FILE_MAX, f) : 0;
        fclose(f);
        if (!text)
            return -1;
    } else {
        text = strdup(arg);
        if (!text)
            return -1;
        len = strlen(text);
    }
    static struct res_spec_set check;
    char err[256];
    res_spec_init(&check);
    if (res_spec_parse(&check, text, err, sizeof(err)) < 0) {
        fprintf(stderr, "leakaudit attach: %s %s: %s\n",
                is_file ? "--track-file" : "--track-resource", arg, err);
        free(text);
        return -1;
    }
    for (size_t i = 0; i < len; i++) /* one list: lines of a file are specs too */
        if (text[i] == '\n')
            text[i] = '|';
    size_t old = o->track_specs ? strlen(o->track_specs) : 0;
    char *joined = realloc(o->track_specs, old + len + 2);
    if (!joined) {
        free(text);
        return -1;
    }
    if (old)
        joined[old++] = '|';
    memcpy(joined + old, text, len);
    joined[old + len] = '\0';
    o->track_specs = joined;
    free(text);
    return 0;
}

/* The snapshot interval when --interval is not given (see AUTO_SNAPSHOTS). */
static uint64_t default_interval_ms(uint64_t duration_ms)
{
    if (!duration_ms)
        return AUTO_OPEN_INTERVAL_MS;
    uint64_t ms = duration_ms / AUTO_SNAPSHOTS;
    if (ms < AUTO_MIN_INTERVAL_MS)
        ms = AUTO_MIN_INTERVAL_MS;
    if (ms > AUTO_MAX_INTERVAL_MS)
        ms = AUTO_MAX_INTERVAL_MS;
    return ms;
}

/* An option with a checked value; 0 or CLI_EXIT_USAGE. */
static int parse_value(int c, char *arg, int argc, char **argv, struct trc_opts *o)
{
    static const char *const reach_values[] = {"on", "end", "detach", "always", "off", NULL};
    char *end;
    long v;
    switch (c) {
    case 'p':
        v = strtol(arg, &end, 10);
        if (*end || v <= 0 || v > INT32_MAX) {
            fprintf(stderr, "leakaudit attach: bad pid '%s'\n", arg);
            return CLI_EXIT_USAGE;
        }
        o->pid = (int)v;
        return 0;
    case 'm':
        if (!strcmp(arg, "full"))
            o->mode = SNAP_MODE_FULL;
        else if (!strcmp(arg, "sampled"))
            o->mode = SNAP_MODE_SAMPLED;
        else {
            fprintf(stderr, "leakaudit attach: bad mode '%s' (full or sampled)\n", arg);
            return CLI_EXIT_USAGE;
        }
        return 0;
    case 'S':
        v = strtol(arg, &end, 10);
        if (*end || v < 1 || v > TRC_MAX_STACK_DEPTH) {
            fprintf(stderr, "leakaudit attach: bad stack depth '%s' (1-%d)\n", arg,
                    TRC_MAX_STACK_DEPTH);
            return CLI_EXIT_USAGE;
        }
        o->stack_depth = (uint32_t)v;
        return 0;
    case 'u':
        if (!strcmp(arg, "dwarf"))
            o->unwind = SNAP_UNWIND_DWARF;
        else if (!strcmp(arg, "fp"))
            o->unwind = SNAP_UNWIND_FP;
        else {
            fprintf(stderr, "leakaudit attach: bad unwind '%s' (dwarf or fp)\n", arg);
            return CLI_EXIT_USAGE;
        }
        return 0;
    case 'R':
        if (!arg)
            arg = (char *)cli_optional_value(argc, argv, reach_values);
        /* alone it means what it means in run: on, at the end */
        if (arg && !strcmp(arg, "always"))
            o->reachability = TRC_REACH_ALWAYS;
        else if (!arg || !strcmp(arg, "detach") || !strcmp(arg, "end") || !strcmp(arg, "on"))
            o->reachability = TRC_REACH_DETACH;
        else if (!strcmp(arg, "off"))
            o->reachability = TRC_REACH_OFF;
        else {
            fprintf(stderr, "leakaudit attach: bad --reachability '%s' (end, always, off)\n", arg);
            return CLI_EXIT_USAGE;
        }
        return 0;
    case 'K':
        if (util_parse_size(arg, &o->max_disk) < 0) {
            fprintf(stderr, "leakaudit attach: bad --max-disk '%s'\n", arg);
            return CLI_EXIT_USAGE;
        }
        return 0;
    case 'k': {
        uint64_t ms;
        if (util_parse_duration_ms(arg, &ms) < 0 || ms < 1000) {
            fprintf(stderr, "leakaudit attach: bad --keep-for '%s'\n", arg);
            return CLI_EXIT_USAGE;
        }
        o->keep_for_s = ms / 1000;
        return 0;
    }
    case 'L':
        if (strcmp(arg, "on") && strcmp(arg, "off")) {
            fprintf(stderr, "leakaudit attach: bad --thin '%s' (on or off)\n", arg);
            return CLI_EXIT_USAGE;
        }
        o->thin = !strcmp(arg, "on");
        return 0;
    default:
        return 0;
    }
}

static void set_defaults(struct trc_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = SNAP_MODE_FULL;
    o->stack_depth = TRC_DEFAULT_STACK_DEPTH;
    o->unwind = SNAP_UNWIND_DWARF;
    o->heap = o->fds = 1;
    o->progress = -1;
    o->reachability = TRC_REACH_DETACH;
    o->max_disk = RETAIN_DEFAULT_MAX_DISK;
    o->thin = 1;
}

/* The options' combinations, once parsed: -1 (said on stderr) when wrong. */
static int check_opts(const struct trc_opts *o)
{
    const char *why = NULL;
    if (!o->pid)
        why = "-p PID is required (see --help)";
    else if (o->kmem && o->inject)
        why = "--kmem needs the eBPF tracer, not --inject";
    else if (!o->heap && !o->fds && !o->track_specs && !o->kmem)
        why = "--no-heap and --no-fds leave nothing to trace";
    if (why)
        fprintf(stderr, "leakaudit attach: %s\n", why);
    return why ? -1 : 0;
}

int trc_attach_parse_opts(int argc, char **argv, struct trc_opts *o)
{
    static const struct option longopts[] = {
        {"pid", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"interval", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'},
        {"mode", required_argument, NULL, 'm'},
        {"stack-depth", required_argument, NULL, 'S'},
        {"unwind", required_argument, NULL, 'u'},
        {"no-heap", no_argument, NULL, 'H'},
        {"inject", no_argument, NULL, 'J'},
        {"no-fds", no_argument, NULL, 'F'},
        {"track-resource", required_argument, NULL, 'X'},
        {"track-file", required_argument, NULL, 'Y'},
        {"kmem", no_argument, NULL, 'N'},
        {"reachability", optional_argument, NULL, 'R'},
        {"progress", no_argument, NULL, 'P'},
        {"no-progress", no_argument, NULL, 'Q'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"allow-shared-dir", no_argument, NULL, 'A'},
        {"max-disk", required_argument, NULL, 'K'},
        {"keep-for", required_argument, NULL, 'k'},
        {"thin", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, CLI_OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    set_defaults(o);
    optind = 1;
    opterr = 0;
    int c, interval_given = 0;
    while ((c = getopt_long(argc, argv, ":p:o:i:d:m:u:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
        case 'm':
        case 'S':
        case 'u':
        case 'R':
        case 'K':
        case 'k':
        case 'L':
            if (parse_value(c, optarg, argc, argv, o))
                return CLI_EXIT_USAGE;
            break;
        case 'o':
            util_strlcpy(o->out_dir, optarg, sizeof(o->out_dir));
            break;
        case 'i':
            interval_given = 1;
            if (!strcmp(optarg, "detach")) {
                o->interval_ms = 0;
                break;
            }
            /* fall through */
        case 'd':
            if (util_parse_duration_ms(optarg, c == 'i' ? &o->interval_ms : &o->duration_ms) ||
                (c == 'i' && !o->interval_ms)) {
                fprintf(stderr, "leakaudit attach: bad %s '%s'\n",
                        c == 'i' ? "interval" : "duration", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'J':
            o->inject = 1;
            break;
        case 'H':
            o->heap = 0;
            break;
        case 'F':
            o->fds = 0;
            break;
        case 'N':
            o->kmem = 1;
            break;
        case 'P':
            o->progress = 1;
            break;
        case 'Q':
            o->progress = 0;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'A':
            o->allow_shared_dir = 1;
            break;
        case 'X':
        case 'Y':
            if (add_track_spec(o, c == 'Y', optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'q':
            o->progress = 0;
            o->verbose = 0;
            o->quiet_inject = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        case CLI_OPT_VERSION:
            cli_print_version("attach");
            return -1;
        default:
            return cli_bad_option("attach", argc, argv, longopts, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "leakaudit attach: unexpected argument '%s' (see --help)\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (check_opts(o) < 0)
        return CLI_EXIT_USAGE;
    if (!interval_given)
        o->interval_ms = default_interval_ms(o->duration_ms);
    if (o->progress < 0)
        o->progress = isatty(STDERR_FILENO);
    return 0;
}
