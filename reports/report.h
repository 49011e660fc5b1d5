/*
 * The in-memory model shared by the report renderers: a snapshot series
 * (chosen by load.c, merged by merge.c) reduced to one row per allocation stack per resource
 * class (heap, fds, mmaps), each with its values over time and a trend
 * verdict, plus the corruption events and loss counters. Renderers (text.c,
 * json.c, html.c, pprof.c, collapsed.c, prometheus.c) only read this model
 * and ask the symbolizer for frames; nothing here knows about output formats.
 *
 * Stack identity is the list of (module, file offset) pairs, not raw
 * addresses, so the same stack matches across snapshots of different
 * processes (ASLR) in `leakaudit diff`.
 */
#ifndef LEAKAUDIT_REPORT_H
#define LEAKAUDIT_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "snapshot.h"

#define RPT_JSON_SCHEMA_VERSION 1

enum rpt_format {
    RPT_FMT_TEXT,
    RPT_FMT_JSON,
    RPT_FMT_HTML,
    RPT_FMT_PPROF,
    RPT_FMT_COLLAPSED,
    RPT_FMT_PROMETHEUS,
};

enum rpt_verdict {
    RPT_VERDICT_UNKNOWN, /* one snapshot, or too few points to tell */
    RPT_VERDICT_NEW,     /* first seen in the last snapshot */
    RPT_VERDICT_LEAK,    /* grows steadily */
    RPT_VERDICT_PLATEAU, /* grew, then flat: a bounded cache */
    RPT_VERDICT_STABLE,  /* no trend (churn) */
    RPT_VERDICT_FREED,   /* had live data, none at the end */
};

/* Resource classes with per-stack rows. New classes (handles by kind, ...)
 * are added here and get a section in every renderer. */
enum rpt_class { RPT_HEAP, RPT_FDS, RPT_MMAPS, RPT_RES, RPT_CLASS_COUNT };

/* One frame of a stack after normalization: module index (0 = no module)
 * and the file offset inside it (or the raw address when no module). */
struct rpt_loc {
    uint32_t mod;
    uint32_t pad;
    uint64_t off;
};

/* A module seen in any snapshot, interned by path + build-id. */
struct rpt_module {
    char *path;
    uint8_t build_id[SNAP_MAX_BUILD_ID];
    uint32_t build_id_len;
    void *dwfl_state; /* symbolize.c */
};

struct rpt_trend {
    enum rpt_verdict verdict;
    double rate_per_min; /* least-squares slope of the value, per minute */
    double r2;           /* goodness of fit of that line, 0..1 */
    double monotonic;    /* fraction of steps that did not decrease */
    double confidence;   /* 0..1, see docs/report.md */
};

/* Details kept only for fd and mmap rows. */
#define RPT_MAX_TARGETS 3
struct rpt_fdinfo {
    uint32_t kinds[SNAP_FD_KIND_COUNT]; /* in the last snapshot; mmaps use snap_mmap_kind */
    uint32_t origins[SNAP_FDO_COUNT];
    char *targets[RPT_MAX_TARGETS]; /* distinct targets / paths, a sample */
    uint32_t n_targets;
    uint64_t oldest_ns;           /* creation time of the oldest one still open, 0 if unknown */
    int32_t fds[RPT_MAX_TARGETS]; /* a few fd numbers still open */
    uint32_t n_fds;
    uint32_t open;    /* fd rows: open in the last snapshot (mmap rows: 0) */
    uint32_t cloexec; /* fd rows: of those, close-on-exec (SNAP_FD_CLOEXEC) */
};

/* Details of a resource row (class RPT_RES, docs/resources.md): one row per
 * (resource kind, creating stack). value[] is the outstanding references:
 * live handles plus unmatched refs on them. */
struct rpt_resinfo {
    char kind[SNAP_MAX_NAME];
    uint32_t flags;                            /* SNAP_RES_* */
    uint64_t created, destroyed, refs, unrefs; /* cumulative, the largest seen */
    int64_t balance;                           /* unmatched refs at the last snapshot */
    uint64_t oldest_ns;
    struct rpt_loc *last_ref; /* the last unmatched ref's stack, NULL if none */
    uint32_t last_ref_depth;
};

struct rpt_row {
    uint64_t hash;
    uint32_t depth;
    uint32_t skip;                     /* leading frames folded away (allocator/shim) */
    struct rpt_loc *locs;              /* innermost first */
    uint64_t *value;                   /* [n_snaps] live bytes (heap, mmaps) or count (fds) */
    uint64_t *count;                   /* [n_snaps] live count */
    uint64_t total_bytes, total_count; /* since tracking began (heap) */
    /* heap rows: totals of earlier lives of the stack, before it left the
     * capture's table with nothing live (SNAP_HEAP_RETIRED) and came back */
    uint64_t retired_bytes, retired_count;
    uint64_t peak_bytes;             /* heap: highest live bytes the capture saw (0: unknown) */
    uint64_t temp_count, temp_bytes; /* heap: temporary allocations (SNAP_HEAP_PEAK_TEMP) */
    uint64_t snap_bytes, snap_count; /* merging: totals in snapshot snap_k - 1 */
    uint32_t snap_k;
    uint32_t first_snap; /* index of the first snapshot it appears in */
    uint32_t flags;      /* SNAP_HEAP_ESTIMATED ... */
    int unattributed;    /* no creating stack (pre-existing / not seen) */
    uint32_t info_snap;  /* fd/mmap rows: 1 + snapshot index the details describe */
    struct rpt_trend trend;
    struct rpt_fdinfo *fd;
    struct rpt_resinfo *res; /* resource rows */
    /* heap rows: the newest reachability scan in the series (series->has_reach) */
    uint64_t reach_bytes[SNAP_REACH_CLASS_COUNT];
    uint64_t reach_blocks[SNAP_REACH_CLASS_COUNT];
};

/* Reachability of a heap row at the newest scan (docs/reachability.md). */
static inline uint64_t rpt_row_lost_bytes(const struct rpt_row *r)
{
    return r->reach_bytes[SNAP_REACH_DEFINITE] + r->reach_bytes[SNAP_REACH_INDIRECT];
}
/* Blocks were scanned and every one of them is still reachable: not a leak. */
static inline int rpt_row_only_reachable(const struct rpt_row *r)
{
    return r->reach_blocks[SNAP_REACH_REACHABLE] && !r->reach_blocks[SNAP_REACH_DEFINITE] &&
           !r->reach_blocks[SNAP_REACH_INDIRECT] && !r->reach_blocks[SNAP_REACH_POSSIBLE];
}

struct rpt_table {
    size_t n, cap;
    struct rpt_row *rows;
    uint32_t *index; /* open addressing on hash: row index + 1 */
    size_t index_cap;
    size_t n_selected;
    size_t n_leaks;     /* leaks among rows that pass the filters (rpt_row_is_leak) */
    uint32_t *selected; /* rows to print, in order */
};

struct rpt_snapinfo {
    uint32_t seq, trigger;
    uint64_t time_ns, mono_ns, rss_bytes;
    uint64_t live_bytes, live_count, n_fds, mmap_bytes;
    /* heap: allocated since the start, every stack, and of that the stacks
     * that left the capture's table (the retired-stacks row) */
    uint64_t total_bytes, total_count, retired_bytes, retired_count;
    char *path;
};

struct rpt_corruption {
    struct snap_corruption ev;
    struct rpt_loc *stacks[3]; /* alloc, free, access; NULL if unknown */
    uint32_t depth[3];
};

struct rpt_loss {
    char name[SNAP_MAX_NAME];
    uint64_t value;
};

struct rpt_memory; /* memory.h: the memory breakdown over the series */
/* A kernel-memory row (kmem.c, docs/memory-kernel.md): one per (kind, kernel
 * stack, user stack); value[] is its outstanding bytes per snapshot. */
struct rpt_kmem_row {
    uint64_t hash;
    uint32_t kind, flags; /* enum snap_kmem_kind, SNAP_KMEM_* */
    char cache[SNAP_MAX_NAME];
    char **kframes; /* kernel frames as the capture named them, innermost first */
    uint32_t kdepth, depth;
    struct rpt_loc *locs; /* user frames, innermost first */
    uint64_t *value, *count;
    uint64_t total_bytes, total_count, freed_other_bytes, freed_other_count;
    uint32_t first_snap;
    struct rpt_trend trend;
};
struct rpt_kmem;

struct rpt_series {
    char *name;
    struct snap_header first, last; /* headers of the first and last snapshot */
    size_t n_snaps;
    struct rpt_snapinfo *snaps;
    struct rpt_table tab[RPT_CLASS_COUNT];
    size_t n_corruptions;
    struct rpt_corruption *corruptions;
    size_t n_losses;
    struct rpt_loss *losses;
    char **other_series; /* other series present in the input */
    size_t n_other_series;
    char **warnings;
    size_t n_warnings;
    /* the newest snapshot with a reachability section, if any */
    int has_reach;
    uint32_t reach_snap;    /* its index in snaps[] */
    uint32_t reach_trigger; /* enum snap_trigger */
    int reach_final;        /* it is the last snapshot and was taken at exit / detach */
    struct snap_reach_info reach;
    uint64_t reach_bytes[SNAP_REACH_CLASS_COUNT];
    uint64_t reach_blocks[SNAP_REACH_CLASS_COUNT];
    struct rpt_memory *memory; /* NULL: no snapshot had a memory section */
    struct rpt_kmem *kmem;     /* kernel memory (kmem.c); NULL: no snapshot had it */
};

struct rpt_options {
    enum rpt_format format;
    const char *output;
    long top; /* -1 = format default */
    uint64_t min_bytes;
    const char *filter_module, *filter_function;
    unsigned stack_depth;
    int no_fold;
    const char *debuginfo_dirs[8];
    int n_debuginfo_dirs;
    const char *sysroot;
    const char *series;
    int pid;
    int fail_on_leak;
};

/* The whole context a renderer needs. */
struct rpt_ctx {
    const struct rpt_options *opt;
    struct rpt_series *series;
    struct rpt_symbolizer *sym;
};

/* ---- load.c, merge.c: loading; trend.c: trend analysis; names.c ---- */

/*
 * Loads the series to report on from inputs (directories and/or .snap
 * files). Picks opt->series / opt->pid, else the series with the most live
 * bytes. Returns 0 or -errno with one line in err.
 */
int rpt_series_load(char **inputs, int n_inputs, const struct rpt_options *opt,
                    struct rpt_series **out, char *err, size_t errlen);
/* Loads exactly the given snapshot files (in this order) as one series. */
int rpt_series_load_files(char **paths, int n, struct rpt_series **out, char *err, size_t errlen);
void rpt_series_free(struct rpt_series *s);
/* Computes trend verdicts for every row. */
void rpt_series_analyze(struct rpt_series *s);
/* Least net growth over the window for a `leak` verdict (docs/report.md). */
#define RPT_LEAK_MIN_HEAP_BYTES 4096.0
#define RPT_LEAK_MIN_MMAP_BYTES 65536.0
#define RPT_LEAK_MIN_COUNT      3.0
double rpt_leak_min_growth(enum rpt_class c);
/* Verdict over values y[] at times t_min[] (minutes); a `leak` must grow by
 * at least min_growth since `first`. Exposed for unit tests. */
void rpt_trend_compute(const double *t_min, const double *y, size_t n, size_t first,
                       double min_growth, struct rpt_trend *out);
/* Least-squares line through (t[i], y[i]) for i in [a, b): slope and R²
 * (both 0 when t does not vary). soak's RSS slope uses it too. */
void rpt_fit_line(const double *t, const double *y, size_t a, size_t b, double *slope, double *r2);
const char *rpt_verdict_name(enum rpt_verdict v);
void rpt_series_warn(struct rpt_series *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The global module table (shared by every loaded series). */
const struct rpt_module *rpt_module_get(uint32_t idx);
uint32_t rpt_module_count(void);
void rpt_modules_reset(void);

/* merge.c: for merge steps in their own files (kmem.c): a stack id of the
 * snapshot being merged as normalized frames; returns the depth (0: none). */
uint32_t rpt_merge_stack(void *merge, uint32_t stack_id, const struct rpt_loc **locs);

/* kmem.c: kernel memory (attach --kmem) */
int rpt_kmem_merge(struct rpt_series *s, const struct snapshot *snap, uint32_t k, void *merge);
/* Verdicts per row, rows to show; after rpt_series_analyze (report_cmd.c). */
void rpt_kmem_analyze(struct rpt_series *s);
void rpt_kmem_free(struct rpt_kmem *km);
int rpt_kmem_present(const struct rpt_series *s);
/* Outstanding kernel bytes in snapshot `snap` of the series (0 without
 * --kmem): the "kernel" component of a memory breakdown. */
uint64_t rpt_kmem_total_bytes(const struct rpt_series *s, size_t snap);
/* The kernel rows renderers show: rows[order[i]] for i < the count returned. */
size_t rpt_kmem_shown(const struct rpt_series *s, const struct rpt_kmem_row **rows,
                      const uint32_t **order);
void rpt_kmem_text(struct rpt_ctx *ctx, FILE *out);
void rpt_kmem_json(struct rpt_ctx *ctx, FILE *out);
void rpt_kmem_html(struct rpt_ctx *ctx, FILE *out);
void rpt_kmem_collapsed(struct rpt_ctx *ctx, FILE *out);
void rpt_kmem_prometheus(struct rpt_ctx *ctx, FILE *out, const char *program);

/* ---- fold.c + selection ---- */

/* Folds allocator frames, applies filters/min-bytes/top, sorts: fills sel. */
void rpt_select(struct rpt_ctx *ctx);
/* Frames of a row to display: [skip, end). */
uint32_t rpt_row_end(const struct rpt_ctx *ctx, const struct rpt_row *r);

/* ---- symbolize.c ---- */

struct rpt_frame {
    const char *function; /* NULL if unknown */
    const char *file;     /* NULL if unknown */
    uint32_t line;
    uint32_t inlined; /* inlined into the next frame */
};

struct rpt_sym {
    uint32_t n_frames;        /* >= 1 */
    struct rpt_frame *frames; /* innermost (inlined) first */
};

struct rpt_symbolizer;
struct rpt_symbolizer *rpt_sym_create(const char *const *debuginfo_dirs, int n_dirs,
                                      const char *sysroot);
void rpt_sym_destroy(struct rpt_symbolizer *s);
/* Symbolizes a return address; never NULL. Cached: each (module, offset) once. */
const struct rpt_sym *rpt_sym_lookup(struct rpt_symbolizer *s, struct rpt_loc loc);
/* Warnings collected about modules (not found, build-id mismatch...). */
size_t rpt_sym_warnings(struct rpt_symbolizer *s, const char ***out);
/* Basename of a module path ("??" for none). */
const char *rpt_module_basename(uint32_t mod);

/* ---- renderers ---- */

/* res_rows.c: resource rows without a format (each renderer has its own
 * resource hook) */
#define RPT_RES_MAX_KINDS 64
/* Is a corruption event about a resource (use-after-destroy, double-destroy)? */
int rpt_res_is_event(uint32_t kind);
/* The kinds present, in order of first appearance among the rows. */
size_t rpt_res_kinds(const struct rpt_series *s, const char *kinds[], size_t max);
/* An event belongs to the kind its detail names ("kind: fn(...) ..."). */
int rpt_res_event_of_kind(const struct rpt_corruption *c, const char *kind);
/* A kind's outstanding handles at the last snapshot; *n_leak its leak rows. */
uint64_t rpt_res_outstanding(const struct rpt_series *s, const char *kind, size_t *n_leak);
/* json.c: frames locs[from, to) as JSON frame objects, inlined ones included
 * (docs/report-json.md, "A frame"); every section's stacks */
void rpt_json_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_loc *locs, uint32_t from,
                     uint32_t to);
/* text.c helpers */
void rpt_text_frames(struct rpt_ctx *ctx, FILE *out, const struct rpt_loc *locs, uint32_t from,
                     uint32_t to, const char *indent);
void rpt_text_sparkline(FILE *out, const uint64_t *v, size_t n);

/* html_views.c: the HTML report's time charts (inline SVG) and the data
 * block of its flame graph (drawn by the page's script) */
void rpt_html_charts(struct rpt_ctx *ctx, FILE *out);
void rpt_html_flame_data(struct rpt_ctx *ctx, FILE *out);

int rpt_render_text(struct rpt_ctx *ctx, FILE *out);
int rpt_render_json(struct rpt_ctx *ctx, FILE *out);
int rpt_render_html(struct rpt_ctx *ctx, FILE *out);
int rpt_render_pprof(struct rpt_ctx *ctx, FILE *out);
int rpt_render_collapsed(struct rpt_ctx *ctx, FILE *out);
int rpt_render_prometheus(struct rpt_ctx *ctx, FILE *out);

/* summary.c: `leakaudit run`'s exit summary: the text report of one
 * snapshot file with its top heap stacks (0: none), symbolized. 0, or -errno
 * with one line in err. */
int rpt_render_exit_text(const char *snap_path, long top, FILE *out, char *err, size_t errlen);

/* ---- format.c: formatting helpers shared by every renderer ---- */

/* A JSON string literal (valid UTF-8, HTML-safe) or null. */
void rpt_json_string(FILE *out, const char *s);
/* Text with & < > " ' escaped for HTML. */
void rpt_html_escape(FILE *out, const char *s);
/* Runs a renderer into opt->output (created 0600) or stdout (report_cmd.c). */
int rpt_write_output(struct rpt_ctx *ctx, int (*render)(struct rpt_ctx *, FILE *), char *err,
                     size_t errlen);

/* "12.3 MiB" into buf. */
const char *rpt_fmt_bytes(double bytes, char *buf, size_t cap);
/* "1h02m" / "3m10s" / "42s". */
const char *rpt_fmt_duration(double seconds, char *buf, size_t cap);
/* "2026-12-06 17:00:00 UTC". */
const char *rpt_fmt_time(uint64_t realtime_ns, char *buf, size_t cap);
/* How long before the series' last snapshot ns was, or NULL if unknown. */
const char *rpt_fmt_age(const struct rpt_series *s, uint64_t ns, char *buf, size_t cap);
/* Count of leak verdicts among all rows of every class. */
size_t rpt_count_verdict(const struct rpt_series *s, enum rpt_class c, enum rpt_verdict v);
/* Coverage caveats (attach time, sampling...) as sentences; returns count. */
size_t rpt_caveats(const struct rpt_series *s, char lines[][256], size_t max);
/* A loss counter or note of the series by name (0 when absent). */
uint64_t rpt_loss_value(const struct rpt_series *s, const char *name);
/* attach --inject with the heap live at the attach walked: heap rows
 * without a stack are the blocks allocated before the attach. */
int rpt_heap_walked_at_attach(const struct rpt_series *s);
/* Elapsed minutes of snapshot i since the first one. */
double rpt_elapsed_min(const struct rpt_series *s, size_t i);
const char *rpt_class_name(enum rpt_class c);
/* What --fail-on-leak counts: definitely/indirectly lost bytes at a final
 * scan, or a leak verdict -- unless the newest scan found every block of the
 * row still reachable (a growing but reachable cache is not called a leak). */
int rpt_row_is_leak(const struct rpt_series *s, enum rpt_class c, const struct rpt_row *r);
/* The highest value of a row: the peak live bytes the capture measured
 * between snapshots (heap rows under the shim), else as far as the
 * snapshots saw it (or open fds). */
static inline uint64_t rpt_row_peak(const struct rpt_series *s, const struct rpt_row *r)
{
    uint64_t peak = r->peak_bytes;
    for (size_t i = 0; i < s->n_snaps; i++)
        peak = r->value[i] > peak ? r->value[i] : peak;
    return peak;
}

/* "definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable". */
const char *rpt_reach_key(int cls);

#endif
