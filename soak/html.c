/*
 * report.html of a soak: one self-contained page (no scripts, no external
 * resources) with the summary table and SVG line charts of RSS and
 * throughput over time, one line per run. Every piece of text that came from
 * the command line or the target's stderr is HTML-escaped.
 */
#include "reports/report.h"
#include "soak.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define CHART_W              900
#define CHART_H              320
#define MARGIN_L             80
#define MARGIN_R             20
#define MARGIN_T             20
#define MARGIN_B             40
#define Y_TICKS              5
#define X_TICKS              6
#define MINUTES_AXIS_ABOVE_S 300
#define MIB                  (1024.0 * 1024.0)

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define PALETTE_N (sizeof(palette) / sizeof(palette[0]))

typedef double (*value_fn)(const struct soak_sample *s);

static double rss_mib(const struct soak_sample *s)
{
    return (double)s->rss / MIB;
}

static double throughput(const struct soak_sample *s)
{
    return s->throughput_rate;
}

/* A round tick step (1, 2 or 5 times a power of ten) giving about `ticks`
 * ticks up to v; the axis then ends at the first multiple of it >= v. */
static double nice_step(double v, int ticks)
{
    static const double steps[] = {1, 2, 5, 10};
    if (!(v > 0))
        return 1;
    double raw = v / ticks, p = pow(10, floor(log10(raw)));
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (steps[i] * p >= raw)
            return steps[i] * p;
    return 10 * p;
}

static void chart(FILE *f, const char *title, const char *unit, const struct soak_run *runs,
                  size_t n, value_fn val, double duration_s)
{
    double xmax = duration_s, ymax = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < runs[i].n_samples; j++) {
            double v = val(&runs[i].samples[j]);
            if (runs[i].samples[j].t > xmax)
                xmax = runs[i].samples[j].t;
            if (!isnan(v) && v > ymax)
                ymax = v;
        }
    /* Long soaks read better in minutes. */
    double xdiv = xmax > MINUTES_AXIS_ABOVE_S ? 60 : 1;
    double xstep = nice_step(xmax / xdiv, X_TICKS), ystep = nice_step(ymax, Y_TICKS);
    int xticks = (int)ceil(xmax / xdiv / xstep - 1e-9), yticks = (int)ceil(ymax / ystep - 1e-9);
    if (xticks < 1)
        xticks = 1;
    if (yticks < 1)
        yticks = 1;
    xmax = xticks * xstep * xdiv;
    ymax = yticks * ystep;
    const double pw = CHART_W - MARGIN_L - MARGIN_R, ph = CHART_H - MARGIN_T - MARGIN_B;
    fprintf(f, "<h2>");
    rpt_html_escape(f, title);
    fprintf(f,
            "</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\">\n",
            CHART_W, CHART_H, CHART_W, CHART_H);
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\" "
            "stroke=\"#999\"/>\n",
            MARGIN_L, MARGIN_T, pw, ph);
    for (int i = 0; i <= yticks; i++) {
        double y = MARGIN_T + ph - ph * i / yticks;
        fprintf(f,
                "<line x1=\"%d\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%g</text>\n",
                MARGIN_L, MARGIN_L + pw, y, y, MARGIN_L - 6, y + 4, ystep * i);
    }
    for (int i = 0; i <= xticks; i++) {
        double x = MARGIN_L + pw * i / xticks;
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\" font-size=\"11\">%g</text>\n",
                x, MARGIN_T + ph + 16, xstep * i);
    }
    fprintf(f,
            "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">time (%s)</text>\n",
            MARGIN_L + pw / 2, CHART_H - 4, xdiv > 1 ? "min" : "s");
    fprintf(f,
            "<text x=\"14\" y=\"%.0f\" font-size=\"12\" transform=\"rotate(-90 14 %.0f)\" "
            "text-anchor=\"middle\">",
            MARGIN_T + ph / 2, MARGIN_T + ph / 2);
    rpt_html_escape(f, unit);
    fputs("</text>\n", f);
    for (size_t i = 0; i < n; i++) {
        const struct soak_run *r = &runs[i];
        const char *color = palette[i % PALETTE_N];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", color);
        double lastx = NAN, lasty = NAN;
        for (size_t j = 0; j < r->n_samples; j++) {
            double v = val(&r->samples[j]);
            if (isnan(v))
                continue;
            lastx = MARGIN_L + pw * r->samples[j].t / xmax;
            lasty = MARGIN_T + ph - ph * v / ymax;
            fprintf(f, "%.1f,%.1f ", lastx, lasty);
        }
        fputs("\"><title>", f);
        rpt_html_escape(f, r->name);
        fputs("</title></polyline>\n", f);
        if (r->crashed && !isnan(lastx)) {
            fprintf(f,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"none\" stroke=\"%s\" "
                    "stroke-width=\"2\"><title>",
                    lastx, lasty, color);
            rpt_html_escape(f, r->name);
            fputs(": ", f);
            rpt_html_escape(f, r->verdict);
            fputs("</title></circle>\n", f);
        }
    }
    fputs("</svg>\n<p class=\"legend\">", f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "<span><i style=\"background:%s\"></i>", palette[i % PALETTE_N]);
        rpt_html_escape(f, runs[i].name);
        fputs("</span> ", f);
    }
    fputs("</p>\n", f);
}

static void cell_num(FILE *f, double v, int decimals)
{
    if (isnan(v))
        fputs("<td>-</td>", f);
    else
        fprintf(f, "<td>%.*f</td>", decimals, v);
}

static void cell_bytes(FILE *f, double v)
{
    char b[32];
    rpt_fmt_bytes(v, b, sizeof(b));
    fprintf(f, "<td>%s</td>", b);
}

int soak_write_html(const struct soak_config *cfg, const struct soak_run *runs, size_t n)
{
    char path[PATH_MAX + SOAK_MAX_RUN_NAME + 32];
    snprintf(path, sizeof(path), "%s/report.html", cfg->outdir);
    FILE *f = soak_create_file(path);
    if (!f)
        return -errno;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<title>leakaudit soak</title>\n<style>\n"
          "body{font-family:sans-serif;margin:1.5em;color:#222}"
          "table{border-collapse:collapse;font-size:13px}"
          "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
          "td:first-child,td:last-child,th{text-align:left}"
          "code{background:#f4f4f4;padding:1px 4px}"
          ".legend span{margin-right:1.2em}"
          ".legend i{display:inline-block;width:14px;height:4px;margin-right:4px;"
          "vertical-align:middle}\n</style></head><body>\n<h1>leakaudit soak</h1>\n<p>Workload: "
          "<code>",
          f);
    for (char **a = cfg->cmd; *a; a++) {
        rpt_html_escape(f, *a);
        if (a[1])
            fputc(' ', f);
    }
    fprintf(f, "</code><br>%zu runs of %.0f s, sampled every %.2f s.</p>\n", n,
            (double)cfg->duration_ms / 1e3, (double)cfg->interval_ms / 1e3);
    fputs("<table><tr><th>run</th><th>peak RSS</th><th>final RSS</th><th>RSS slope/h</th>"
          "<th>throughput/s</th><th>p99 ms</th><th>CPU %</th><th>drops</th><th>verdict</th></tr>\n",
          f);
    for (size_t i = 0; i < n; i++) {
        const struct soak_run *r = &runs[i];
        fputs("<tr><td>", f);
        rpt_html_escape(f, r->name);
        fputs("</td>", f);
        cell_bytes(f, (double)r->peak_rss);
        cell_bytes(f, (double)r->final_rss);
        cell_bytes(f, r->slope_bytes_per_h);
        cell_num(f, r->throughput, 1);
        cell_num(f, r->p99_ms, 2);
        cell_num(f, r->cpu_pct, 1);
        cell_num(f, r->drops, 0);
        fputs("<td>", f);
        rpt_html_escape(f, r->verdict);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    double duration_s = (double)cfg->duration_ms / 1e3;
    chart(f, "RSS over time", "RSS (MiB)", runs, n, rss_mib, duration_s);
    int have_thr = 0;
    for (size_t i = 0; i < n && !have_thr; i++)
        for (size_t j = 0; j < runs[i].n_samples && !have_thr; j++)
            have_thr = !isnan(runs[i].samples[j].throughput_rate);
    if (have_thr)
        chart(f, "Throughput over time", "per second", runs, n, throughput, duration_s);
    fputs("</body></html>\n", f);
    return soak_close_file(f);
}
