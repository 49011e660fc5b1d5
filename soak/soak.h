/*
 * Internal interface of `leakaudit soak`: the same workload run once per
 * allocator (and with or without the shim), sampled from /proc and its
 * Prometheus endpoint, then compared in a table, a Markdown summary and an
 * HTML chart. soak_cmd.c parses options and drives the runs; run.c starts,
 * watches and stops one run; proc_sample.c and metrics.c collect samples;
 * verdict.c turns a run into numbers and a verdict; output.c and html.c
 * write the results.
 */
#ifndef LEAKAUDIT_SOAK_H
#define LEAKAUDIT_SOAK_H

#include "allocators.h"

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define SOAK_MAX_MSG          256 /* crash / heap message kept per run */
#define SOAK_MAX_HIST_BUCKETS 64
#define SOAK_MAX_METRIC_NAME  128
#define SOAK_MAX_RUN_NAME     64

/* A Prometheus histogram, buckets summed over every label set, sorted by le. */
struct soak_hist {
    int n;
    double le[SOAK_MAX_HIST_BUCKETS];    /* upper bounds; the last may be +Inf */
    double count[SOAK_MAX_HIST_BUCKETS]; /* cumulative counts */
};

/* What one scrape of /metrics yielded; NAN for what was not found. */
struct soak_scrape {
    double throughput_total; /* the throughput counter (sum over label sets) */
    double drops_total;      /* the drop counter(s) */
    struct soak_hist latency;
};

/* Which metrics to use; names resolved on the first scrape when defaulted. */
struct soak_metric_names {
    char throughput[SOAK_MAX_METRIC_NAME]; /* "" = default rule */
    char latency[SOAK_MAX_METRIC_NAME];    /* histogram base name, "" = default rule */
    char drops[SOAK_MAX_METRIC_NAME];      /* "" = default rule */
    int throughput_is_suffix_rule;         /* sum of every *_frames_inferred_total */
};

/* One sample of the target; numbers are 0 / NAN when unknown. */
struct soak_sample {
    double t;                /* seconds since the run started */
    uint64_t rss, pss, anon; /* bytes */
    double cpu_s;            /* utime + stime */
    double cpu_pct;          /* since the previous sample */
    uint32_t threads;
    int32_t fds; /* -1 when unreadable */
    uint64_t major_faults;
    double throughput_total; /* NAN without metrics */
    double throughput_rate;  /* per second since the previous scrape, NAN if unknown */
    double p99_ms;           /* since the previous scrape, NAN if unknown */
    double drops_total;
};

/* Options shared by every run of one soak. */
struct soak_config {
    char **cmd;
    uint64_t duration_ms, interval_ms, grace_ms, load_delay_ms;
    const char *load_cmd;
    const char *metrics_url;
    struct soak_metric_names metrics;
    const char *shim_mode;     /* NULL = the shim's default */
    const char *guard;         /* NULL = no guard (LEAKAUDIT_GUARD unset) */
    const char *shim_interval; /* LEAKAUDIT_INTERVAL for shim runs, NULL = default */
    double leak_threshold_pct; /* growth over the run, % of its RSS at the start */
    double warmup_pct;         /* first part of a run left out of the slope */
    int verbose, progress;
    char outdir[PATH_MAX];
    int allow_shared_dir; /* --allow-shared-dir */
    char shim[PATH_MAX];
};

/* One run: an allocator, with or without the shim, one repetition. */
struct soak_run {
    char name[SOAK_MAX_RUN_NAME]; /* "jemalloc-shim", "glibc-r2" */
    const struct alloc_info *alloc;
    char alloc_lib[PATH_MAX]; /* "" for glibc */
    int with_shim;
    int shim_loaded;  /* seen in the target's /proc/PID/maps */
    int index, total; /* for the progress line */

    struct soak_sample *samples;
    size_t n_samples, cap_samples;
    struct soak_hist lat_first, lat_last; /* first and last successful scrape */
    int scrapes_ok, scrapes_failed;

    /* outcome */
    int ran;                    /* 0 if it could not be started */
    double end_t;               /* seconds until the target was gone */
    int stopped_by_us;          /* SIGTERM sent at the end of the duration */
    int interrupted;            /* cut short by Ctrl-C / SIGTERM sent to soak */
    int killed_by_us;           /* SIGKILL needed after the grace period */
    int exit_code, term_signal; /* -1 when not applicable */
    int crashed;
    double crash_t;
    char crash_msg[SOAK_MAX_MSG]; /* "SIGABRT", "exit status 3" */
    char heap_msg[SOAK_MAX_MSG];  /* first allocator/heap error seen on stderr */
    double heap_msg_t;
    int heap_msg_is_glibc;      /* a glibc malloc/free consistency check */
    uint64_t guard_corruptions; /* events in the shim's snapshots */
    /* the shim's last memory breakdown (docs/memory.md), shim runs only */
    int has_memory;
    uint64_t retained_bytes;      /* freed memory the allocator kept */
    uint64_t live_heap_bytes;     /* what the program still held */
    char load_note[SOAK_MAX_MSG]; /* load generator ended early */

    /* summary, filled by soak_run_summarize() */
    uint64_t peak_rss, final_rss, start_rss;
    double slope_bytes_per_h, growth_bytes; /* least squares after warm-up */
    double throughput, p99_ms, cpu_pct, drops;
    int leaks;
    char verdict[SOAK_MAX_MSG + 64];
};

/* proc_sample.c: fills the /proc fields of s for pid. Returns 0 or -errno
 * (-ESRCH once the process is gone). */
int soak_sample_proc(pid_t pid, struct soak_sample *s);

/* metrics.c */
struct soak_url {
    char host[64];
    char path[512];
    int port;
};
/* Accepts http://HOST[:PORT]/PATH with HOST on the loopback only. Returns 0
 * or -EINVAL with a reason in err. */
int soak_url_parse(const char *url, struct soak_url *out, char *err, size_t errlen);
/* Refuses a load command with a URL whose host is not on the loopback: the
 * load generator is meant for the local target only. 0 or -EINVAL. */
int soak_check_load_urls(const char *cmd, char *err, size_t errlen);
/* Returns 0 with a heap NUL-terminated body in *body, or -errno. */
int soak_http_get(const struct soak_url *url, int timeout_ms, char **body);
/* Calls cb for each sample line of a Prometheus text exposition. */
typedef void (*soak_prom_cb)(const char *name, const char *labels, double value, void *arg);
void soak_prom_foreach(const char *text, soak_prom_cb cb, void *arg);
/* Extracts throughput, drops and latency from a scrape, resolving defaulted
 * names in *names on first use. */
void soak_scrape_parse(const char *text, struct soak_metric_names *names, struct soak_scrape *out);
/* Quantile q (0..1) of the observations between two cumulative snapshots of a
 * histogram (b - a), linearly interpolated inside the bucket; NAN if none. */
double soak_hist_quantile(const struct soak_hist *a, const struct soak_hist *b, double q);
/* Multiplier from the histogram's unit to milliseconds, from its name. */
double soak_hist_unit_ms(const char *name);

/* stderr scanning (run.c): is this line an allocator/heap error message?
 * Sets *is_glibc for glibc's own malloc consistency checks. */
int soak_line_is_heap_error(const char *line, int *is_glibc);

/* run.c: runs r to completion. Returns 0 (including when the target crashed)
 * or -errno when the run could not be set up. *interrupted is set by the
 * caller's signal handler and ends the run early. */
int soak_run_one(const struct soak_config *cfg, struct soak_run *r,
                 const volatile sig_atomic_t *interrupted);

/* verdict.c */
void soak_run_summarize(const struct soak_config *cfg, struct soak_run *r);
void soak_assign_verdicts(struct soak_run *runs, size_t n);

/* output.c */
int soak_write_csv(const struct soak_config *cfg, const struct soak_run *r);
void soak_print_table(FILE *out, const struct soak_run *runs, size_t n);
/* One line per allocator comparing the freed memory it kept with glibc's (or
 * the first measured run's): "jemalloc returns 40.0 MiB more of freed memory
 * than glibc". `prefix` starts each line. Returns the lines written. */
int soak_print_retention(FILE *out, const struct soak_run *runs, size_t n, const char *prefix);
/* summary.tsv: the table with raw numbers, one run a line, for scripts. */
int soak_write_summary_tsv(const struct soak_config *cfg, const struct soak_run *runs, size_t n);
int soak_write_summary_md(const struct soak_config *cfg, const struct soak_run *runs, size_t n);
/* Opens a private temporary for path (mode 0600; a symlink or other
 * non-regular file at path is refused); soak_close_file closes it and, when
 * everything was written, renames it onto path. */
FILE *soak_create_file(const char *path);
int soak_close_file(FILE *f);

/* html.c */
int soak_write_html(const struct soak_config *cfg, const struct soak_run *runs, size_t n);

#endif
