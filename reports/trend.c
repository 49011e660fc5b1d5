/*
 * Trend statistics: the least-squares line (also soak's RSS slope) and the
 * verdict of each row of a series -- leak, plateau, stable, freed, new or
 * unknown -- with the thresholds that make `leak` a claim. The algorithm is
 * documented in docs/report.md ("Verdicts").
 */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- verdict thresholds (docs/report.md) ---- */
#define TREND_MIN_POINTS         3    /* fewer snapshots: no trend verdict */
#define LEAK_MIN_R2              0.80 /* the growth must fit a line this well */
#define LEAK_MIN_MONOTONIC       0.70 /* and not decrease in more than 30% of steps */
#define PLATEAU_MIN_TAIL         3    /* the flat tail is at least this many points */
#define PLATEAU_TAIL_SLOPE_RATIO 0.10 /* tail slope <= 10% of the earlier slope */
#define PLATEAU_TAIL_SPREAD      0.05 /* tail varies by at most 5% of its max */
#define FULL_CONFIDENCE_STEPS    8.0  /* confidence scales up to this many steps */
/* `leak` is a claim: leak-shaped growth below any of these is `unknown`. */
#define LEAK_MIN_POINTS     6   /* snapshots since the row first appeared */
#define LEAK_MIN_CONFIDENCE 0.5 /* R² × monotonic fraction × coverage */

void rpt_fit_line(const double *t, const double *y, size_t a, size_t b, double *slope, double *r2)
{
    double n = (double)(b - a), st = 0, sy = 0;
    for (size_t i = a; i < b; i++) {
        st += t[i];
        sy += y[i];
    }
    double mt = st / n, my = sy / n, stt = 0, sty = 0, syy = 0;
    for (size_t i = a; i < b; i++) {
        stt += (t[i] - mt) * (t[i] - mt);
        sty += (t[i] - mt) * (y[i] - my);
        syy += (y[i] - my) * (y[i] - my);
    }
    *slope = stt > 0 ? sty / stt : 0;
    *r2 = stt > 0 && syy > 0 ? (sty * sty) / (stt * syy) : 0;
}

/* The least net growth (value units) over the window for each class. */
double rpt_leak_min_growth(enum rpt_class c)
{
    switch (c) {
    case RPT_HEAP:
        return RPT_LEAK_MIN_HEAP_BYTES;
    case RPT_MMAPS:
        return RPT_LEAK_MIN_MMAP_BYTES;
    default:
        return RPT_LEAK_MIN_COUNT; /* fds, tracked resources */
    }
}

void rpt_trend_compute(const double *t, const double *y, size_t n, size_t first, double min_growth,
                       struct rpt_trend *out)
{
    memset(out, 0, sizeof(*out));
    double last = y[n - 1], peak = 0;
    for (size_t i = 0; i < n; i++)
        peak = y[i] > peak ? y[i] : peak;
    if (n >= 2) {
        double r2;
        rpt_fit_line(t, y, 0, n, &out->rate_per_min, &r2);
        out->r2 = r2;
    }
    size_t steps = 0, up = 0;
    for (size_t i = first; i + 1 < n; i++, steps++)
        up += y[i + 1] >= y[i];
    out->monotonic = steps ? (double)up / (double)steps : 0;
    double coverage = fmin(1.0, (double)steps / FULL_CONFIDENCE_STEPS);

    if (last == 0 && peak > 0) {
        out->verdict = RPT_VERDICT_FREED;
        out->confidence = 1.0;
        return;
    }
    if (n == 1) {
        out->verdict = RPT_VERDICT_UNKNOWN;
        return;
    }
    if (first == n - 1) {
        out->verdict = RPT_VERDICT_NEW;
        return;
    }
    if (n - first < TREND_MIN_POINTS) {
        out->verdict = RPT_VERDICT_UNKNOWN;
        return;
    }

    /* Plateau: rose in the early part, flat over the tail. */
    size_t tail = (n - first) / 3;
    if (tail < PLATEAU_MIN_TAIL)
        tail = PLATEAU_MIN_TAIL;
    if (n - first >= tail + 2) {
        size_t ts = n - tail;
        double early_slope, early_r2, tail_slope, tail_r2, tmin = y[ts], tmax = y[ts];
        rpt_fit_line(t, y, first, ts + 1, &early_slope, &early_r2);
        rpt_fit_line(t, y, ts, n, &tail_slope, &tail_r2);
        for (size_t i = ts; i < n; i++) {
            tmin = fmin(tmin, y[i]);
            tmax = fmax(tmax, y[i]);
        }
        double spread = tmax > 0 ? (tmax - tmin) / tmax : 0;
        if (early_slope > 0 && y[ts] > y[first] &&
            fabs(tail_slope) <= PLATEAU_TAIL_SLOPE_RATIO * early_slope &&
            spread <= PLATEAU_TAIL_SPREAD) {
            out->verdict = RPT_VERDICT_PLATEAU;
            out->confidence = (1.0 - spread / PLATEAU_TAIL_SPREAD * 0.5) * coverage;
            return;
        }
    }
    if (out->rate_per_min > 0 && last > y[first] && out->r2 >= LEAK_MIN_R2 &&
        out->monotonic >= LEAK_MIN_MONOTONIC) {
        out->confidence = out->r2 * out->monotonic * coverage;
        /* Leak-shaped but not significant for the window observed. */
        int significant = n - first >= LEAK_MIN_POINTS && out->confidence >= LEAK_MIN_CONFIDENCE &&
                          last - y[first] >= min_growth;
        out->verdict = significant ? RPT_VERDICT_LEAK : RPT_VERDICT_UNKNOWN;
        return;
    }
    out->verdict = RPT_VERDICT_STABLE;
    out->confidence = (out->rate_per_min > 0 ? 1.0 - out->r2 : 1.0) * coverage;
}

double rpt_elapsed_min(const struct rpt_series *s, size_t i)
{
    const struct rpt_snapinfo *a = &s->snaps[0], *b = &s->snaps[i];
    /* Monotonic clocks are only comparable within one process. */
    if (s->first.pid == s->last.pid && a->mono_ns && b->mono_ns >= a->mono_ns)
        return (double)(b->mono_ns - a->mono_ns) / 60e9;
    return b->time_ns >= a->time_ns ? (double)(b->time_ns - a->time_ns) / 60e9 : 0;
}

void rpt_series_analyze(struct rpt_series *s)
{
    size_t n = s->n_snaps;
    double *t = calloc(n, sizeof(double)), *y = calloc(n, sizeof(double));
    if (!t || !y) {
        free(t);
        free(y);
        return;
    }
    for (size_t i = 0; i < n; i++)
        t[i] = rpt_elapsed_min(s, i);
    for (int c = 0; c < RPT_CLASS_COUNT; c++) {
        struct rpt_table *tab = &s->tab[c];
        for (size_t r = 0; r < tab->n; r++) {
            struct rpt_row *row = &tab->rows[r];
            for (size_t i = 0; i < n; i++)
                y[i] = (double)row->value[i];
            rpt_trend_compute(t, y, n, row->first_snap, rpt_leak_min_growth((enum rpt_class)c),
                              &row->trend);
        }
    }
    free(t);
    free(y);
}

size_t rpt_count_verdict(const struct rpt_series *s, enum rpt_class c, enum rpt_verdict v)
{
    size_t k = 0;
    for (size_t i = 0; i < s->tab[c].n; i++)
        k += s->tab[c].rows[i].trend.verdict == v;
    return k;
}

int rpt_row_is_leak(const struct rpt_series *s, enum rpt_class c, const struct rpt_row *r)
{
    if (c == RPT_HEAP && s->has_reach) {
        if (s->reach_final && rpt_row_lost_bytes(r))
            return 1;
        if (rpt_row_only_reachable(r))
            return 0;
    }
    return r->trend.verdict == RPT_VERDICT_LEAK;
}
