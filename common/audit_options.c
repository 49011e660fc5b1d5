/*
 * The table of audit_options.h and the code that reads it: checking one
 * value, and loading a whole struct audit_config from the environment (the
 * shim, during early init: no malloc, no stdio).
 */
#include "audit_options.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#define FIELD(f) offsetof(struct audit_config, f), sizeof(((struct audit_config *)0)->f)
#define NO_FIELD AUDIT_NO_FIELD, 0

static const struct audit_choice on_off[] = {{"on", 1}, {"1", 1}, {"off", 0}, {"0", 0}, {0, 0}};
static const struct audit_choice modes[] = {
    {"full", SNAP_MODE_FULL}, {"sampled", SNAP_MODE_SAMPLED}, {0, 0}};
static const struct audit_choice unwinders[] = {{"dwarf", SNAP_UNWIND_DWARF},
                                                {"fp", SNAP_UNWIND_FP},
                                                {"libunwind", SNAP_UNWIND_LIBUNWIND},
                                                {0, 0}};
static const struct audit_choice threads[] = {{"always", 1}, {"auto", 0}, {0, 0}};
static const struct audit_choice guards[] = {{"canary", AUDIT_GUARD_CANARY},
                                             {"pages", AUDIT_GUARD_PAGES},
                                             {"both", AUDIT_GUARD_CANARY | AUDIT_GUARD_PAGES},
                                             {"1", AUDIT_GUARD_CANARY | AUDIT_GUARD_PAGES},
                                             {"on", AUDIT_GUARD_CANARY | AUDIT_GUARD_PAGES},
                                             {"off", 0},
                                             {"0", 0},
                                             {0, 0}};
static const struct audit_choice policies[] = {{"abort", 1}, {"log", 0}, {0, 0}};
static const struct audit_choice aligns[] = {{"right", 1}, {"left", -1}, {"both", 0}, {0, 0}};

const struct audit_option audit_options[AUDIT_OPTION_COUNT] = {
    [AUDIT_OUT] = {"LEAKAUDIT_OUT", "output", 'o', "DIR", AUDIT_P_TEXT, 0, 0, NULL, "a directory",
                   "leakaudit-out",
                   "run: `leakaudit-<cmd>-<date>-<time>`; bare shim: `leakaudit-out`",
                   "snapshot directory, created 0700; an existing one must be yours and not "
                   "writable by others",
                   FIELD(out_dir), 1, " ([Output files](#output-files))"},
    [AUDIT_ALLOW_SHARED_DIR] = {"LEAKAUDIT_ALLOW_SHARED_DIR", "allow-shared-dir", 0, NULL,
                                AUDIT_P_FLAG, 0, 0, NULL, "0 or 1", NULL, "off",
                                "accept an output directory that is not private",
                                FIELD(allow_shared_dir), 0,
                                " (another owner, or group/other-writable)"},
    [AUDIT_INTERVAL] = {"LEAKAUDIT_INTERVAL", "interval", 'i', "SECONDS", AUDIT_P_DURATION_MS, 0,
                        UINT64_MAX, NULL, "a duration (500ms, 10, 2m)", "10", "10 (s)",
                        "seconds between snapshots, 0 = only at exit and on the signal",
                        FIELD(interval_ms), 0, "; `500ms`, `2m` are accepted"},
    [AUDIT_MAX_DISK] = {"LEAKAUDIT_MAX_DISK", "max-disk", 0, "SIZE", AUDIT_P_SIZE, 0, UINT64_MAX,
                        NULL, "a size (e.g. 512M, 2G, 0)", "1G", NULL,
                        "bytes the series may take on disk; the oldest thinned snapshots go "
                        "first, the first and the peak stay; 0 = no bound",
                        FIELD(max_disk), 0, " ([retention](snapshot-format.md#retention))"},
    [AUDIT_KEEP_FOR] = {"LEAKAUDIT_KEEP_FOR", "keep-for", 0, "DURATION", AUDIT_P_DURATION_S, 1000,
                        UINT64_MAX, NULL, "a duration of at least 1s (e.g. 90m, 168h)", NULL,
                        "forever", "delete snapshots older than this (the first and the peak stay)",
                        FIELD(keep_for_s), 0, "; e.g. `90m`, `168h`"},
    [AUDIT_THIN] = {"LEAKAUDIT_THIN", "thin", 0, "on|off", AUDIT_P_CHOICE, 0, 0, on_off,
                    "on or off", "on", NULL,
                    "keep every snapshot for an hour, then one per 10 min, after a day one per "
                    "hour",
                    FIELD(thin), 0, NULL},
    [AUDIT_MODE] = {"LEAKAUDIT_MODE", "mode", 'm', "full|sampled", AUDIT_P_CHOICE, 0, 0, modes,
                    "full or sampled", "full", NULL,
                    "every allocation, or Poisson-sampled by bytes for always-on use", FIELD(mode),
                    0, "; sampled counts are estimates"},
    [AUDIT_SAMPLE_PERIOD] = {"LEAKAUDIT_SAMPLE_PERIOD", "sample-period", 0, "SIZE", AUDIT_P_SIZE, 1,
                             UINT64_MAX, NULL, "a size of at least 1", "512K", NULL,
                             "mean bytes between samples in sampled mode", FIELD(sample_period), 0,
                             NULL},
    [AUDIT_ALLOCATOR] = {"LEAKAUDIT_ALLOCATOR", "allocator", 'a', "NAME", AUDIT_P_TEXT, 0, 0, NULL,
                         "glibc, jemalloc, tcmalloc or mimalloc", NULL, "glibc",
                         "glibc, jemalloc, tcmalloc or mimalloc, preloaded after the shim (the "
                         "variable only records the name)",
                         FIELD(allocator), 0,
                         "; `LEAKAUDIT_ALLOCATOR_DIR` restricts where the library is searched"},
    [AUDIT_UNWIND] = {"LEAKAUDIT_UNWIND", "unwind", 'u', "dwarf|fp|libunwind", AUDIT_P_CHOICE, 0, 0,
                      unwinders, "dwarf, fp or libunwind", "dwarf", NULL,
                      "`dwarf`: call-frame information (right without frame pointers), `fp`: frame "
                      "pointers, or `libunwind`",
                      FIELD(unwind), 0,
                      " ([unwinding.md](unwinding.md)); `fp` is fast but wrong in distro code; "
                      "`libunwind` is `dlopen`ed privately, for comparison"},
    [AUDIT_DEPTH] = {"LEAKAUDIT_DEPTH", "stack-depth", 0, "N", AUDIT_P_COUNT, 1,
                     SNAP_MAX_STACK_DEPTH, NULL, "1 to 64", "32", NULL,
                     "frames per stack, 1-64 (`--depth` is a deprecated spelling)", FIELD(depth), 0,
                     NULL},
    [AUDIT_SIGNAL] = {"LEAKAUDIT_SIGNAL", "signal", 0, "SIG", AUDIT_P_SIGNAL, 0, 0, NULL,
                      "USR1, USR2, PROF, RTMIN+N or none (a signal the program can catch)", "USR2",
                      NULL,
                      "snapshot signal: `USR1`, `USR2`, `PROF`, `RTMIN+N`, a number, or `none`",
                      FIELD(signal), 0, " (not `KILL`/`STOP`, which cannot be caught)"},
    [AUDIT_TRACK] = {"LEAKAUDIT_TRACK", "track", 0, "LIST", AUDIT_P_TRACK, 0, 0, NULL,
                     "a comma list of heap, fd, mmap (or all)", "heap,fd,mmap", NULL,
                     "what to track: a comma list of `heap`, `fd`, `mmap` (or `all`)", NO_FIELD, 0,
                     NULL},
    [AUDIT_MAX_STACKS] =
        {"LEAKAUDIT_MAX_STACKS", "max-stacks", 0, "N", AUDIT_P_SIZE, 16, 1u << 24, NULL,
         "16 to 16777216", "262144", NULL,
         "distinct stacks in the table at once, 16-16777216 (stacks nothing live names leave it)",
         FIELD(max_stacks), 0,
         "; see [retired stacks](snapshot-format.md#retired-stacks); beyond, `stack_table_full` "
         "counts"},
    [AUDIT_TABLE_BITS] = {"LEAKAUDIT_TABLE_BITS", NULL, 0, "N", AUDIT_P_SIZE, 14, 28, NULL,
                          "14 to 28", "22", NULL,
                          "log2 of the most buckets the address table grows to, 14-28",
                          FIELD(table_bits), 0,
                          ": it starts at 2^14 and grows 4x whenever blocks outnumber buckets "
                          "twice over; past the limit `heap_table_overloaded` counts"},
    [AUDIT_THREAD] = {"LEAKAUDIT_THREAD", NULL, 0, "always|auto", AUDIT_P_CHOICE, 0, 0, threads,
                      "always or auto", "auto", NULL, "`always`: start the snapshot thread at once",
                      FIELD(thread_always), 0,
                      " ([When snapshots are taken](#when-snapshots-are-taken))"},
    [AUDIT_GUARD] =
        {"LEAKAUDIT_GUARD", "guard", 0, "[=MODE]", AUDIT_P_CHOICE, 0, 0, guards,
         "canary, pages or both", NULL, "off",
         "heap-corruption guard: `canary` (every block, redzones + quarantine), `pages` "
         "(sampled guard pages), `both` (`--guard` alone = `canary`)",
         FIELD(guard), 1, "; see [guard.md](guard.md)"},
    [AUDIT_GUARD_POLICY] = {"LEAKAUDIT_GUARD_POLICY", "guard-policy", 0, "P", AUDIT_P_CHOICE, 0, 0,
                            policies, "abort or log", "abort", NULL,
                            "`abort`: report, snapshot, abort; `log`: report and continue",
                            FIELD(guard_abort), 0, " where safe"},
    [AUDIT_GUARD_SAMPLE] = {"LEAKAUDIT_GUARD_SAMPLE", "guard-sample", 0, "N", AUDIT_P_COUNT, 1,
                            1u << 30, NULL, "1 to 1073741824", "1000", NULL,
                            "1 in N blocks get a guard page", FIELD(guard_sample), 0,
                            ", on average (blocks of at most one page): the distance to the next "
                            "one is random, uniform in 1..2N-1; 1 = every block"},
    [AUDIT_GUARD_SIZE] = {"LEAKAUDIT_GUARD_SIZE", "guard-size", 0, "N|MIN-MAX", AUDIT_P_SIZE_RANGE,
                          0, 0, NULL, "N, MIN-MAX, MIN- or -MAX (bytes, k/M/G suffixes)", "0-",
                          "all", "only blocks of that many bytes get guard pages", NO_FIELD, 1,
                          " (bytes, k/M/G; `MIN-` and `-MAX` too): when the countdown is due on "
                          "another size, the next block in range is taken"},
    [AUDIT_GUARD_ALIGN] = {"LEAKAUDIT_GUARD_ALIGN", NULL, 0, "right|left|both", AUDIT_P_CHOICE, 0,
                           0, aligns, "right, left or both", "both", NULL,
                           "where guard-page blocks sit in their page", FIELD(guard_align), 0,
                           ": `both` (3 of 4 at the page's right edge, 16-byte aligned), `left` "
                           "(underflows fault), `right` (every block ends exactly at the page end "
                           "with its size's natural alignment: 1-byte overflows fault at the "
                           "writer, but programs that assume 16-byte alignment may break)"},
    [AUDIT_QUARANTINE] =
        {"LEAKAUDIT_QUARANTINE", NULL, 0, "SIZE", AUDIT_P_SIZE, 0, UINT64_MAX, NULL, "a size",
         "16M", NULL, "bytes freed before a canary block is reused; 0 = none",
         FIELD(quarantine_bytes), 0,
         ". Canary mode: a freed block is held poisoned until this many bytes were freed after it, "
         "then recycled for an allocation of the same size; at most 1.25x this much is held "
         "([guard.md](guard.md#quarantine-canary-mode)); with 0 there are no use-after-free checks "
         "and double frees of released blocks are reported as invalid frees"},
    [AUDIT_GUARD_POISON] =
        {"LEAKAUDIT_GUARD_POISON", NULL, 0, "SIZE|all", AUDIT_P_SIZE_OR_ALL, 1,
         AUDIT_GUARD_POISON_ALL, NULL, "a size of at least 1, or all", "256", NULL,
         "bytes checked at each end of a freed canary block", FIELD(guard_poison), 0,
         ", or `all` for whole blocks; blocks up to twice this size are poisoned whole. Deeper "
         "costs a cache miss per 64 bytes at free and at eviction ([guard.md](guard.md))"},
    [AUDIT_GUARD_SCAN] = {"LEAKAUDIT_GUARD_SCAN", NULL, 0, "DURATION", AUDIT_P_DURATION_MS, 0,
                          UINT64_MAX, NULL, "a duration", "1s", NULL,
                          "interval of the background redzone scan", FIELD(guard_scan_ms), 0, NULL},
    [AUDIT_REACHABILITY] = {"LEAKAUDIT_REACHABILITY", "reachability", 0, "[=end|off]",
                            AUDIT_P_CHOICE, 0, 0, on_off, "on or off", "on", "end",
                            "classify outstanding blocks at the end and on the snapshot signal",
                            FIELD(reachability), 0,
                            "; the end includes death by SIGINT/SIGTERM/SIGHUP; the variable takes "
                            "`on` or `off` ([reachability.md](reachability.md))"},
    [AUDIT_REACH_WHY] =
        {"LEAKAUDIT_REACH_WHY", NULL, 0, "SIZE", AUDIT_P_SIZE, 0, UINT64_MAX, NULL,
         "a size in bytes (0: off)", "0", NULL,
         "at each reachability scan, say on stderr why every outstanding block of "
         "exactly this size got its class: the word that pointed at it, the block "
         "that word is in, and so on up to the root",
         FIELD(reach_why), 0,
         " ([Explaining a block's class](reachability.md#explaining-a-blocks-class))"},
    [AUDIT_TERM_SNAPSHOT] = {"LEAKAUDIT_TERM_SNAPSHOT", NULL, 0, "0|1", AUDIT_P_FLAG, 0, 0, NULL,
                             "0 or 1", NULL, "1",
                             "a final snapshot when the program dies of SIGINT, SIGTERM or SIGHUP",
                             NO_FIELD, 0,
                             ", at their default disposition, with the reachability scan; 0 = off"},
    [AUDIT_TRACK_RESOURCES] = {"LEAKAUDIT_TRACK_RESOURCES", "track-resource", 0, "SPEC",
                               AUDIT_P_TEXT, 0, 0, NULL, "resource specs", NULL, "—",
                               "paired C-API resources, specs joined by `|`", NO_FIELD, 0,
                               " ([resources.md](resources.md))"},
    [AUDIT_TRACK_FILE] = {"LEAKAUDIT_TRACK_FILE", "track-file", 0, "FILE", AUDIT_P_TEXT, 0, 0, NULL,
                          "a file", NULL, "—", "resource specs, one per line", NO_FIELD, 0,
                          " ([resources.md](resources.md))"},
    [AUDIT_QUIET] = {"LEAKAUDIT_QUIET", NULL, 0, "0|1", AUDIT_P_FLAG, 0, 0, NULL, "0 or 1", NULL,
                     "off", "no stderr messages from the shim", FIELD(quiet), 0,
                     " (`run -q` silences `run` itself)"},
    [AUDIT_SHIM] = {"LEAKAUDIT_SHIM", NULL, 0, "PATH", AUDIT_P_TEXT, 0, 0, NULL, "a path", NULL,
                    "next to the binary", "path of `libleakaudit.so` for `run` and `soak`",
                    NO_FIELD, 0, NULL},
    [AUDIT_ALLOCATOR_DIR] = {"LEAKAUDIT_ALLOCATOR_DIR", NULL, 0, "DIR", AUDIT_P_TEXT, 0, 0, NULL,
                             "a directory", NULL, "the library directories",
                             "the only directory searched for allocator libraries", NO_FIELD, 0,
                             " (`run -a`, `soak`)"},
};

const struct audit_option *audit_option_by_flag(const char *flag)
{
    for (size_t i = 0; i < AUDIT_OPTION_COUNT; i++)
        if (audit_options[i].flag && !strcmp(audit_options[i].flag, flag))
            return &audit_options[i];
    return NULL;
}

/* A parsed value: one number (or two for a range, three flags for track). */
struct parsed {
    uint64_t a, b;
    int track[3];
    const char *text;
};

static int parse(const struct audit_option *o, const char *v, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    switch (o->parser) {
    case AUDIT_P_TEXT:
        p->text = v;
        return 0;
    case AUDIT_P_FLAG:
        p->a = *v && strcmp(v, "0") != 0;
        return 0;
    case AUDIT_P_SIZE:
    case AUDIT_P_COUNT:
        return util_parse_size(v, &p->a) == 0 && p->a >= o->min && p->a <= o->max ? 0 : -EINVAL;
    case AUDIT_P_SIZE_OR_ALL:
        if (!strcmp(v, "all")) {
            p->a = o->max;
            return 0;
        }
        return util_parse_size(v, &p->a) == 0 && p->a >= o->min && p->a <= o->max ? 0 : -EINVAL;
    case AUDIT_P_DURATION_MS:
    case AUDIT_P_DURATION_S:
        if (util_parse_duration_ms(v, &p->a) < 0 || p->a < o->min || p->a > o->max)
            return -EINVAL;
        if (o->parser == AUDIT_P_DURATION_S)
            p->a /= 1000;
        return 0;
    case AUDIT_P_CHOICE:
        for (const struct audit_choice *c = o->choices; c && c->word; c++)
            if (!strcmp(v, c->word)) {
                p->a = (uint64_t)(int64_t)c->value;
                return 0;
            }
        return -EINVAL;
    case AUDIT_P_SIGNAL: {
        int s = util_parse_signal(v);
        p->a = (uint64_t)s;
        return s >= 0 ? 0 : -EINVAL;
    }
    case AUDIT_P_TRACK:
        return util_parse_track(v, &p->track[0], &p->track[1], &p->track[2]) < 0 ? -EINVAL : 0;
    case AUDIT_P_SIZE_RANGE:
        return util_parse_size_range(v, &p->a, &p->b) < 0 ? -EINVAL : 0;
    }
    return -EINVAL;
}

int audit_option_check(const struct audit_option *o, const char *value)
{
    struct parsed p;
    return value ? parse(o, value, &p) : -EINVAL;
}

static void store_number(void *field, size_t width, uint64_t v)
{
    if (width == sizeof(uint64_t)) {
        memcpy(field, &v, sizeof(v));
    } else if (width == sizeof(uint32_t)) {
        uint32_t n = (uint32_t)v;
        memcpy(field, &n, sizeof(n));
    }
}

static void store(struct audit_config *c, enum audit_option_id id, const struct parsed *p)
{
    const struct audit_option *o = &audit_options[id];
    if (id == AUDIT_TRACK) {
        c->track_heap = p->track[0];
        c->track_fds = p->track[1];
        c->track_mmap = p->track[2];
        return;
    }
    if (id == AUDIT_GUARD_SIZE) {
        c->guard_min_size = p->a;
        c->guard_max_size = p->b;
        return;
    }
    if (o->offset == AUDIT_NO_FIELD)
        return;
    char *field = (char *)c + o->offset;
    if (o->parser == AUDIT_P_TEXT)
        util_strlcpy(field, p->text, o->width);
    else
        store_number(field, o->width, p->a);
}

void audit_config_defaults(struct audit_config *c)
{
    memset(c, 0, sizeof(*c));
    for (int id = 0; id < AUDIT_OPTION_COUNT; id++) {
        struct parsed p;
        if (audit_options[id].def && parse(&audit_options[id], audit_options[id].def, &p) == 0)
            store(c, (enum audit_option_id)id, &p);
    }
}

void audit_config_load(struct audit_config *c, const char *(*getenv_fn)(const char *name),
                       void (*warn)(const char *env, const char *value))
{
    audit_config_defaults(c);
    for (int id = 0; id < AUDIT_OPTION_COUNT; id++) {
        const struct audit_option *o = &audit_options[id];
        if (o->offset == AUDIT_NO_FIELD && id != AUDIT_TRACK && id != AUDIT_GUARD_SIZE)
            continue; /* read by its own module */
        const char *v = getenv_fn(o->env);
        if (!v || (o->empty_ignored && !*v))
            continue;
        struct parsed p;
        if (parse(o, v, &p) == 0)
            store(c, (enum audit_option_id)id, &p);
        else if (warn)
            warn(o->env, v);
    }
    if (c->guard & AUDIT_GUARD_CANARY)
        c->mode = SNAP_MODE_FULL; /* canaries need every block's record */
}
