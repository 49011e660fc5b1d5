/*
 * From a run's samples to its summary numbers (peak/final RSS, least-squares
 * RSS slope after the warm-up, throughput, p99 latency, CPU) and from all the
 * runs of one soak to their verdicts. The verdicts are deliberately
 * unflattering: an allocator that survives a workload on which glibc aborted
 * or the shim's guard found a corruption has not fixed anything, it hides it.
 */
#include "reports/report.h"
#include "soak.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LEAK_MIN_GROWTH_BYTES (1024.0 * 1024.0) /* below this, growth is noise */
#define MIN_FIT_SAMPLES       3
#define SECONDS_PER_HOUR      3600.0

static void fit_rss(const struct soak_config *cfg, struct soak_run *r)
{
    size_t n = r->n_samples, first = 0;
    if (n == 0)
        return;
    double warm = r->samples[n - 1].t * cfg->warmup_pct / 100.0;
    while (first < n && r->samples[first].t < warm)
        first++;
    if (n - first < MIN_FIT_SAMPLES)
        first = n > MIN_FIT_SAMPLES ? n - MIN_FIT_SAMPLES : 0;
    size_t m = n - first;
    double *x = malloc(m * sizeof(*x)), *y = malloc(m * sizeof(*y));
    if (!x || !y) {
        free(x);
        free(y);
        return;
    }
    for (size_t i = 0; i < m; i++) {
        x[i] = r->samples[first + i].t;
        y[i] = (double)r->samples[first + i].rss;
    }
    double per_s = 0, r2;
    if (m >= 2) /* the report's least-squares fit (reports/trend.c) */
        rpt_fit_line(x, y, 0, m, &per_s, &r2);
    r->slope_bytes_per_h = per_s * SECONDS_PER_HOUR;
    r->growth_bytes = per_s * (x[m - 1] - x[0]);
    r->start_rss = r->samples[first].rss;
    double threshold = cfg->leak_threshold_pct / 100.0 * (double)r->start_rss;
    if (threshold < LEAK_MIN_GROWTH_BYTES)
        threshold = LEAK_MIN_GROWTH_BYTES;
    r->leaks = m >= MIN_FIT_SAMPLES && r->growth_bytes > threshold;
    free(x);
    free(y);
}

void soak_run_summarize(const struct soak_config *cfg, struct soak_run *r)
{
    r->throughput = r->p99_ms = r->cpu_pct = r->drops = NAN;
    size_t n = r->n_samples;
    for (size_t i = 0; i < n; i++)
        if (r->samples[i].rss > r->peak_rss)
            r->peak_rss = r->samples[i].rss;
    if (n)
        r->final_rss = r->samples[n - 1].rss;
    fit_rss(cfg, r);

    if (n >= 2 && r->samples[n - 1].t > r->samples[0].t)
        r->cpu_pct = 100.0 * (r->samples[n - 1].cpu_s - r->samples[0].cpu_s) /
                     (r->samples[n - 1].t - r->samples[0].t);
    else if (n == 1 && r->samples[0].t > 0)
        r->cpu_pct = 100.0 * r->samples[0].cpu_s / r->samples[0].t;

    const struct soak_sample *a = NULL, *b = NULL;
    for (size_t i = 0; i < n; i++) {
        if (isnan(r->samples[i].throughput_total))
            continue;
        if (!a)
            a = &r->samples[i];
        b = &r->samples[i];
    }
    if (a && b != a && b->t > a->t && b->throughput_total >= a->throughput_total)
        r->throughput = (b->throughput_total - a->throughput_total) / (b->t - a->t);
    for (size_t i = n; i-- > 0;)
        if (!isnan(r->samples[i].drops_total)) {
            r->drops = r->samples[i].drops_total;
            break;
        }
    if (r->scrapes_ok >= 2 && r->lat_last.n)
        r->p99_ms = soak_hist_quantile(&r->lat_first, &r->lat_last, 0.99) *
                    soak_hist_unit_ms(cfg->metrics.latency);
    else if (r->lat_last.n)
        r->p99_ms =
            soak_hist_quantile(NULL, &r->lat_last, 0.99) * soak_hist_unit_ms(cfg->metrics.latency);
}

static void append(char *buf, size_t cap, const char *text)
{
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", text);
}

void soak_assign_verdicts(struct soak_run *runs, size_t n)
{
    int glibc_crashed = 0, evidence = 0;
    for (size_t i = 0; i < n; i++) {
        const struct soak_run *r = &runs[i];
        if (r->crashed && !strcmp(r->alloc->name, "glibc"))
            glibc_crashed = 1;
        if ((r->heap_msg[0] && r->heap_msg_is_glibc) || r->guard_corruptions)
            evidence = 1;
    }
    for (size_t i = 0; i < n; i++) {
        struct soak_run *r = &runs[i];
        char *v = r->verdict;
        size_t cap = sizeof(r->verdict);
        v[0] = '\0';
        if (!r->ran) {
            util_strlcpy(v, "not run", cap);
            continue;
        }
        if (r->crashed) {
            snprintf(v, cap, "crashed at %.1fs: %s%s%s", r->crash_t, r->crash_msg,
                     r->heap_msg[0] ? ": " : "", r->heap_msg);
            continue;
        }
        int is_glibc = !strcmp(r->alloc->name, "glibc");
        char own[SOAK_MAX_MSG + 40];
        if (r->heap_msg[0]) {
            snprintf(own, sizeof(own), "hides a corruption (%s)", r->heap_msg);
            append(v, cap, own);
        } else if (r->guard_corruptions) {
            snprintf(own, sizeof(own), "hides a corruption (guard found %llu)",
                     (unsigned long long)r->guard_corruptions);
            append(v, cap, own);
        } else if (evidence && (glibc_crashed ? !is_glibc : 1)) {
            append(v, cap, "hides a corruption");
        } else if (glibc_crashed && !is_glibc) {
            append(v, cap, "survived (hides a corruption?)");
        }
        if (!r->stopped_by_us && r->exit_code >= 0) {
            snprintf(own, sizeof(own), "exited at %.1fs (status %d)", r->end_t, r->exit_code);
            append(v, cap, own);
        }
        if (r->interrupted) {
            snprintf(own, sizeof(own), "interrupted at %.1fs", r->end_t);
            append(v, cap, own);
        }
        /* A counter that never moved: the workload did nothing (a daemon
         * retrying a missing input), so its memory figures mean little. */
        if (r->scrapes_ok >= 2 && r->throughput == 0)
            append(v, cap, "no throughput: did the workload work?");
        if (r->leaks)
            append(v, cap, "leaks");
        else if (r->n_samples < MIN_FIT_SAMPLES)
            append(v, cap, "too few samples for a verdict");
        if (!v[0])
            append(v, cap, "stable");
    }
}
