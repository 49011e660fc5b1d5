/*
 * "Run under audit" in one place: every setting of a program audited by the
 * shim, as one table. Each row has the LEAKAUDIT_* variable the shim reads,
 * the `leakaudit run` flag that sets it (if any), how its value is parsed and
 * checked, its default, and one doc line. The shim's configuration
 * (allocshim/config.c: audit_config_load), `leakaudit run` (its flags and
 * --help, cli/run_cmd.c), `leakaudit soak` (the variables it sets, its
 * --help) read this table, and docs/options.md's table is generated from it
 * (cli/help.c, `make options-doc`), so a name, a limit or a default is
 * written once.
 *
 * Parsing is allocation-free and stdio-free: the shim loads its
 * configuration during early init, possibly before constructors.
 */
#ifndef LEAKAUDIT_AUDIT_OPTIONS_H
#define LEAKAUDIT_AUDIT_OPTIONS_H

#include "snapshot.h"

#include <stddef.h>
#include <stdint.h>

#define AUDIT_GUARD_CANARY 0x1
#define AUDIT_GUARD_PAGES  0x2
/* LEAKAUDIT_GUARD_POISON's default (guard.c has a fast path for it) */
/* attach --inject passes the settings as one text of NAME=value lines
 * (tracer/attach_inject.c -> allocshim/inject.c): its most bytes, NUL
 * included. */
#define AUDIT_INJECT_SETTINGS_MAX 8192

#define AUDIT_GUARD_POISON_DEFAULT 256
#define AUDIT_GUARD_POISON_ALL     (UINT64_MAX / 4) /* "all": whole blocks (2x cannot overflow) */

/* The settings of one audited process (the shim's shim_cfg). */
struct audit_config {
    int mode;   /* SNAP_MODE_FULL / SNAP_MODE_SAMPLED */
    int unwind; /* SNAP_UNWIND_DWARF (default) / _FP / _LIBUNWIND */
    int depth;
    int signal; /* 0 = none */
    int track_heap, track_fds, track_mmap;
    int quiet;
    int reachability;                        /* scan at exit / on the snapshot signal */
    uint64_t reach_why;                      /* explain the class of blocks of this size */
    int thread_always;                       /* snapshot thread from the start */
    int guard;                               /* AUDIT_GUARD_* bits, 0 = off */
    int guard_abort;                         /* policy: 1 abort (default), 0 log and continue */
    uint32_t guard_sample;                   /* 1 in N allocations get a guard page */
    uint64_t guard_min_size, guard_max_size; /* only blocks of this size range get one */
    int guard_align;                         /* guard-page blocks: 1 right edge, -1 left, 0 mixed */
    uint64_t quarantine_bytes;
    uint64_t guard_poison; /* freed canary blocks: bytes poisoned at each end */
    uint64_t guard_scan_ms;
    int table_bits;
    uint32_t max_stacks;
    uint64_t interval_ms;
    uint64_t sample_period;
    char out_dir[SNAP_MAX_PATH];
    char allocator[SNAP_MAX_NAME];
    int allow_shared_dir; /* out_dir need not be private */
    uint64_t max_disk;    /* bytes per series, 0 = unbounded */
    uint64_t keep_for_s;  /* 0 = forever */
    int thin;             /* thinning schedule for old snapshots */
    int off;              /* a setuid/setgid program root did not allow: pass everything through */
};

/* Rows of the table, in the order docs/options.md lists them. */
enum audit_option_id {
    AUDIT_OUT,
    AUDIT_ALLOW_SHARED_DIR,
    AUDIT_INTERVAL,
    AUDIT_MAX_DISK,
    AUDIT_KEEP_FOR,
    AUDIT_THIN,
    AUDIT_MODE,
    AUDIT_SAMPLE_PERIOD,
    AUDIT_ALLOCATOR,
    AUDIT_UNWIND,
    AUDIT_DEPTH,
    AUDIT_SIGNAL,
    AUDIT_TRACK,
    AUDIT_MAX_STACKS,
    AUDIT_TABLE_BITS,
    AUDIT_THREAD,
    AUDIT_GUARD,
    AUDIT_GUARD_POLICY,
    AUDIT_GUARD_SAMPLE,
    AUDIT_GUARD_SIZE,
    AUDIT_GUARD_ALIGN,
    AUDIT_QUARANTINE,
    AUDIT_GUARD_POISON,
    AUDIT_GUARD_SCAN,
    AUDIT_REACHABILITY,
    AUDIT_REACH_WHY,
    AUDIT_TERM_SNAPSHOT,
    AUDIT_TRACK_RESOURCES,
    AUDIT_TRACK_FILE,
    AUDIT_QUIET,
    AUDIT_SHIM,
    AUDIT_ALLOCATOR_DIR,
    AUDIT_OPTION_COUNT
};

enum audit_parser {
    AUDIT_P_TEXT,        /* any text, kept as is */
    AUDIT_P_FLAG,        /* "0" or "" off, anything else on */
    AUDIT_P_SIZE,        /* a size (K/M/G) in [min, max] */
    AUDIT_P_COUNT,       /* the same, checked as a whole decimal number by `run` */
    AUDIT_P_DURATION_MS, /* a duration (ms/s/m/h; bare = s), stored in ms, >= min ms */
    AUDIT_P_DURATION_S,  /* the same, stored in s */
    AUDIT_P_CHOICE,      /* one word of `choices` */
    AUDIT_P_SIGNAL,      /* util_parse_signal */
    AUDIT_P_TRACK,       /* util_parse_track: heap,fd,mmap */
    AUDIT_P_SIZE_RANGE,  /* util_parse_size_range */
    AUDIT_P_SIZE_OR_ALL, /* a size in [min, max], or "all" (= max) */
};

struct audit_choice {
    const char *word;
    int value;
};

#define AUDIT_NO_FIELD ((size_t)-1)

struct audit_option {
    const char *env;  /* LEAKAUDIT_MODE */
    const char *flag; /* run's long option without "--" ("mode"), NULL: environment only */
    char letter;      /* run's short option, 0: none */
    const char
        *metavar; /* the flag's value in help and docs ("full|sampled"); "[=...]": optional */
    enum audit_parser parser;
    uint64_t min, max;                  /* sizes, counts, durations */
    const struct audit_choice *choices; /* AUDIT_P_CHOICE, ends with {NULL, 0} */
    const char *expected;               /* for errors: "full or sampled" */
    const char *def;                    /* default, parsed like a value (NULL: zero / empty) */
    const char *def_doc;                /* the default as docs/options.md says it (NULL: def) */
    const char *doc;                    /* one line: --help and docs (markdown `quotes` allowed) */
    size_t offset, width;               /* where the value goes in struct audit_config */
    int empty_ignored;                  /* an empty value leaves the default */
    const char *more; /* docs/options.md only: markdown appended to doc (details, links) */
};

/* The table (AUDIT_OPTION_COUNT rows, index = enum audit_option_id). */
extern const struct audit_option audit_options[AUDIT_OPTION_COUNT];

static inline const char *audit_env(enum audit_option_id id)
{
    return audit_options[id].env;
}

/* The row of a run flag (long name without "--"), or NULL. */
const struct audit_option *audit_option_by_flag(const char *flag);

/* Checks `value` against the row's parser and limits: 0 or -EINVAL. */
int audit_option_check(const struct audit_option *o, const char *value);

/* Fills c with every default, then the value of each variable getenv_fn
 * returns; a bad value keeps the default and is handed to warn (env name,
 * value). Rows without a field are left to their own readers. */
void audit_config_load(struct audit_config *c, const char *(*getenv_fn)(const char *name),
                       void (*warn)(const char *env, const char *value));
/* Only the defaults. */
void audit_config_defaults(struct audit_config *c);

#endif
