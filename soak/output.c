/*
 * Plain outputs of a soak: one CSV per run (every sample), the summary table
 * on the terminal, and summary.md with the same table plus each run's crash
 * message, files and caveats. Files are created 0600 in the 0700 output
 * directory; text that came from the target (stderr lines) is escaped.
 */
#include "reports/report.h"
#include "soak.h"
#include "safefile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

/* Files being written: each is a private temporary until soak_close_file
 * renames it into place (common/safefile.h). */
#define MAX_OPEN_OUTPUTS 4
static struct open_output {
    FILE *f;
    struct safe_output so;
} open_outputs[MAX_OPEN_OUTPUTS];

FILE *soak_create_file(const char *path)
{
    struct open_output *o = NULL;
    for (size_t i = 0; i < MAX_OPEN_OUTPUTS && !o; i++)
        if (!open_outputs[i].f)
            o = &open_outputs[i];
    if (!o) {
        errno = EMFILE;
        return NULL;
    }
    const char *why;
    int rc = safe_output_open(&o->so, path, &why);
    if (rc < 0) {
        if (why)
            fprintf(stderr, "leakaudit soak: %s: %s\n", path, why);
        errno = -rc;
        return NULL;
    }
    o->f = fdopen(o->so.fd, "w");
    if (!o->f) {
        int e = errno;
        close(o->so.fd);
        safe_output_abort(&o->so);
        errno = e;
    }
    return o->f;
}

int soak_close_file(FILE *f)
{
    for (size_t i = 0; i < MAX_OPEN_OUTPUTS; i++) {
        struct open_output *o = &open_outputs[i];
        if (o->f != f)
            continue;
        o->f = NULL;
        int rc = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 && rc == 0)
            rc = errno ? -errno : -EIO;
        if (rc < 0) {
            safe_output_abort(&o->so);
            return rc;
        }
        const char *why;
        rc = safe_output_commit(&o->so, &why);
        if (rc < 0 && why)
            fprintf(stderr, "leakaudit soak: %s/%s: %s\n", "output", o->so.name, why);
        return rc;
    }
    return soak_close_file(f);
}

static void format_slope(double bytes_per_h, char *buf, size_t cap)
{
    char b[24];
    rpt_fmt_bytes(bytes_per_h, b, sizeof(b));
    snprintf(buf, cap, "%s%.24s/h", bytes_per_h >= 0 ? "+" : "", b);
}

static void format_num(double v, int decimals, char *buf, size_t cap)
{
    if (isnan(v))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.*f", decimals, v);
}

static void csv_num(FILE *f, double v, int decimals)
{
    if (!isnan(v))
        fprintf(f, "%.*f", decimals, v);
}

int soak_write_csv(const struct soak_config *cfg, const struct soak_run *r)
{
    char path[PATH_MAX + SOAK_MAX_RUN_NAME + 32];
    snprintf(path, sizeof(path), "%s/%s.csv", cfg->outdir, r->name);
    FILE *f = soak_create_file(path);
    if (!f)
        return -errno;
    fputs("t_s,rss_bytes,pss_bytes,anon_bytes,cpu_s,cpu_pct,threads,fds,major_faults,"
          "throughput_total,throughput_per_s,p99_ms,drops_total\n",
          f);
    for (size_t i = 0; i < r->n_samples; i++) {
        const struct soak_sample *s = &r->samples[i];
        fprintf(f, "%.3f,%llu,%llu,%llu,%.2f,%.1f,%u,%d,%llu,", s->t, (unsigned long long)s->rss,
                (unsigned long long)s->pss, (unsigned long long)s->anon, s->cpu_s, s->cpu_pct,
                s->threads, s->fds, (unsigned long long)s->major_faults);
        csv_num(f, s->throughput_total, 0);
        fputc(',', f);
        csv_num(f, s->throughput_rate, 2);
        fputc(',', f);
        csv_num(f, s->p99_ms, 3);
        fputc(',', f);
        csv_num(f, s->drops_total, 0);
        fputc('\n', f);
    }
    return soak_close_file(f);
}

struct row {
    char peak[32], final[32], slope[40], thr[32], p99[32], cpu[32], drops[32], retained[32];
};

static void make_row(const struct soak_run *r, struct row *w)
{
    rpt_fmt_bytes((double)r->peak_rss, w->peak, sizeof(w->peak));
    rpt_fmt_bytes((double)r->final_rss, w->final, sizeof(w->final));
    format_slope(r->slope_bytes_per_h, w->slope, sizeof(w->slope));
    format_num(r->throughput, 1, w->thr, sizeof(w->thr));
    format_num(r->p99_ms, 2, w->p99, sizeof(w->p99));
    format_num(r->cpu_pct, 1, w->cpu, sizeof(w->cpu));
    format_num(r->drops, 0, w->drops, sizeof(w->drops));
    if (r->has_memory)
        rpt_fmt_bytes((double)r->retained_bytes, w->retained, sizeof(w->retained));
    else
        snprintf(w->retained, sizeof(w->retained), "-");
}

/* The run retention is compared with: glibc's shim run, else the first measured. */
static const struct soak_run *retention_base(const struct soak_run *runs, size_t n)
{
    const struct soak_run *base = NULL;
    for (size_t i = 0; i < n; i++)
        if (runs[i].has_memory && (!base || (!strcmp(runs[i].alloc->name, "glibc") &&
                                             strcmp(base->alloc->name, "glibc"))))
            base = &runs[i];
    return base;
}

int soak_print_retention(FILE *out, const struct soak_run *runs, size_t n, const char *prefix)
{
    const struct soak_run *base = retention_base(runs, n);
    int lines = 0;
    for (size_t i = 0; base && i < n; i++) {
        const struct soak_run *r = &runs[i];
        if (!r->has_memory || r == base || !strcmp(r->alloc->name, base->alloc->name))
            continue;
        double d = (double)base->retained_bytes - (double)r->retained_bytes;
        char a[32], b[32], c[32];
        fprintf(out, "%s%s %s %s more of freed memory than %s (keeps %s, %s keeps %s)\n", prefix,
                r->alloc->name, d >= 0 ? "returns" : "keeps", rpt_fmt_bytes(fabs(d), a, sizeof(a)),
                base->alloc->name, rpt_fmt_bytes((double)r->retained_bytes, b, sizeof(b)),
                base->alloc->name, rpt_fmt_bytes((double)base->retained_bytes, c, sizeof(c)));
        lines++;
    }
    return lines;
}

void soak_print_table(FILE *out, const struct soak_run *runs, size_t n)
{
    fprintf(out, "%-18s %11s %11s %11s %14s %10s %9s %6s  %s\n", "run", "peak RSS", "final RSS",
            "retained", "RSS slope", "thr/s", "p99 ms", "CPU %", "verdict");
    for (size_t i = 0; i < n; i++) {
        struct row w;
        make_row(&runs[i], &w);
        fprintf(out, "%-18s %11s %11s %11s %14s %10s %9s %6s  %s\n", runs[i].name, w.peak, w.final,
                w.retained, w.slope, w.thr, w.p99, w.cpu, runs[i].verdict);
    }
    soak_print_retention(out, runs, n, "retention: ");
}

static void tsv_text(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static void tsv_num(FILE *f, double v, int decimals)
{
    if (isnan(v))
        fputc('-', f);
    else
        fprintf(f, "%.*f", decimals, v);
}

int soak_write_summary_tsv(const struct soak_config *cfg, const struct soak_run *runs, size_t n)
{
    char path[PATH_MAX + SOAK_MAX_RUN_NAME + 32];
    snprintf(path, sizeof(path), "%s/summary.tsv", cfg->outdir);
    FILE *f = soak_create_file(path);
    if (!f)
        return -errno;
    fputs("run\tallocator\tshim\tsamples\tpeak_rss_bytes\tfinal_rss_bytes\t"
          "rss_slope_bytes_per_h\tthroughput_per_s\tp99_ms\tcpu_pct\tdrops\tcrashed\t"
          "crash_time_s\tcrash_message\theap_message\tverdict\tretained_bytes\tlive_heap_bytes\n",
          f);
    for (size_t i = 0; i < n; i++) {
        const struct soak_run *r = &runs[i];
        fprintf(f, "%s\t%s\t%s\t%zu\t%llu\t%llu\t%.0f\t", r->name, r->alloc->name,
                r->with_shim ? "yes" : "no", r->n_samples, (unsigned long long)r->peak_rss,
                (unsigned long long)r->final_rss, r->slope_bytes_per_h);
        tsv_num(f, r->throughput, 2);
        fputc('\t', f);
        tsv_num(f, r->p99_ms, 3);
        fputc('\t', f);
        tsv_num(f, r->cpu_pct, 1);
        fputc('\t', f);
        tsv_num(f, r->drops, 0);
        fprintf(f, "\t%s\t", r->crashed ? "yes" : "no");
        tsv_num(f, r->crashed ? r->crash_t : NAN, 1);
        fputc('\t', f);
        tsv_text(f, r->crash_msg[0] ? r->crash_msg : "-");
        fputc('\t', f);
        tsv_text(f, r->heap_msg[0] ? r->heap_msg : "-");
        fputc('\t', f);
        tsv_text(f, r->verdict);
        fputc('\t', f);
        tsv_num(f, r->has_memory ? (double)r->retained_bytes : NAN, 0);
        fputc('\t', f);
        tsv_num(f, r->has_memory ? (double)r->live_heap_bytes : NAN, 0);
        fputc('\n', f);
    }
    return soak_close_file(f);
}

/* Markdown-safe: no table breaks, no HTML, no emphasis from target text. */
static void md_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '\n':
        case '\r':
            fputc(' ', f);
            break;
        case '|':
        case '\\':
        case '`':
        case '*':
        case '_':
        case '[':
        case ']':
            fputc('\\', f);
            fputc(*s, f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

int soak_write_summary_md(const struct soak_config *cfg, const struct soak_run *runs, size_t n)
{
    char path[PATH_MAX + SOAK_MAX_RUN_NAME + 32];
    snprintf(path, sizeof(path), "%s/summary.md", cfg->outdir);
    FILE *f = soak_create_file(path);
    if (!f)
        return -errno;
    time_t now = time(NULL);
    struct tm tm;
    char date[64];
    localtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %z", &tm);
    fputs("# leakaudit soak\n\nWorkload: ", f);
    for (char **a = cfg->cmd; *a; a++) {
        md_escape(f, *a);
        fputc(a[1] ? ' ' : '\n', f);
    }
    fprintf(f,
            "\n%s; %zu runs of %.0f s each, sampled every %.2f s; verdict: leak when the "
            "least-squares RSS growth after the first %.0f%% of a run exceeds %.0f%% of its "
            "RSS at that point (and 1 MiB).\n\n",
            date, n, (double)cfg->duration_ms / 1e3, (double)cfg->interval_ms / 1e3,
            cfg->warmup_pct, cfg->leak_threshold_pct);
    if (cfg->metrics_url) {
        fputs("Metrics: ", f);
        md_escape(f, cfg->metrics_url);
        fputs(" (throughput: ", f);
        md_escape(f, cfg->metrics.throughput[0] ? cfg->metrics.throughput : "none found");
        fputs(", latency: ", f);
        md_escape(f, cfg->metrics.latency[0] ? cfg->metrics.latency : "none found");
        fputs(")\n\n", f);
    }
    fputs("| Run | Allocator | Shim | Peak RSS | Final RSS | RSS slope | Throughput/s | p99 ms | "
          "CPU % | Drops | Crash | Verdict |\n"
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
          f);
    for (size_t i = 0; i < n; i++) {
        const struct soak_run *r = &runs[i];
        struct row w;
        make_row(r, &w);
        fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | ", r->name, r->alloc->name,
                r->with_shim ? "yes" : "no", w.peak, w.final, w.slope, w.thr, w.p99, w.cpu,
                w.drops);
        if (r->crashed) {
            fprintf(f, "at %.1fs: ", r->crash_t);
            md_escape(f, r->crash_msg);
            if (r->heap_msg[0]) {
                fputs(": ", f);
                md_escape(f, r->heap_msg);
            }
        } else {
            fputs("-", f);
        }
        fputs(" | ", f);
        md_escape(f, r->crashed ? "crashed" : r->verdict); /* the message is in Crash */
        fputs(" |\n", f);
    }
    fputs("\n", f);
    if (soak_print_retention(f, runs, n, "- Retention: "))
        fputs("  (from the shim runs' memory breakdown, docs/memory.md)\n", f);
    fputs("\n## Runs\n\n", f);
    for (size_t i = 0; i < n; i++) {
        const struct soak_run *r = &runs[i];
        fprintf(f, "- **%s**: %zu samples, %s", r->name, r->n_samples,
                r->ran ? "" : "not started; ");
        if (r->ran)
            fprintf(f, "ended at %.1fs%s; ", r->end_t,
                    r->killed_by_us    ? " (SIGKILL after the grace period)"
                    : r->stopped_by_us ? " (SIGTERM at the end of the duration)"
                                       : "");
        fprintf(f, "files `%s.csv`, `%s.stderr`, `%s.stdout`%s%s%s", r->name, r->name, r->name,
                r->with_shim ? ", snapshots in `" : "", r->with_shim ? r->name : "",
                r->with_shim ? ".snapshots/`" : "");
        if (r->with_shim && r->ran && !r->shim_loaded)
            fputs("; **the shim was not seen in the target's memory map** (static binary? "
                  "LD_PRELOAD dropped by a wrapper?)",
                  f);
        if (r->heap_msg[0]) {
            fprintf(f, "; heap message at %.1fs: ", r->heap_msg_t);
            md_escape(f, r->heap_msg);
        }
        if (r->guard_corruptions)
            fprintf(f, "; guard mode recorded %llu corruption events",
                    (unsigned long long)r->guard_corruptions);
        if (cfg->metrics_url)
            fprintf(f, "; %d scrapes ok, %d failed", r->scrapes_ok, r->scrapes_failed);
        if (r->load_note[0]) {
            fputs("; ", f);
            md_escape(f, r->load_note);
        }
        fputs("\n", f);
    }
    fputs("\nSurviving is not fixing: an allocator that keeps running where glibc aborted "
          "usually lays out its metadata away from the blocks, so the overwrite lands in "
          "another block instead. Run with `--with-shim --guard canary` to find the writer.\n",
          f);
    return soak_close_file(f);
}
