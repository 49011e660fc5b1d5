/*
 * The graphical parts of the HTML report (html.c writes the page): time
 * charts of the series (live heap bytes, open fds, RSS, mapped bytes) as
 * inline SVG with axes, tick values and a value per point, and the data of
 * the flame graph of live heap bytes by stack, which the page's script draws
 * (html.c) -- everything inline, nothing fetched.
 *
 * The flame-graph data is a JSON block (not executed; the page's CSP allows
 * only its own script): {"total":N,"names":[...],"stacks":[[[i,...],bytes],...]}
 * with frames root-first as indexes into names. Names are JSON-escaped with
 * <, > and & as \u escapes, so a symbol cannot close the block.
 */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHART_W       640
#define CHART_H       170
#define CHART_LEFT    78
#define CHART_RIGHT   34
#define CHART_TOP     12
#define CHART_BOTTOM  34
#define CHART_Y_TICKS 4
#define CHART_X_TICKS 6

/* ---- time charts ---- */

static void tick_label(char *buf, size_t cap, double v, int bytes)
{
    if (bytes)
        rpt_fmt_bytes(v, buf, cap);
    else
        snprintf(buf, cap, "%.0f", v);
}

/* A "nice" upper bound for the y axis: 1, 2 or 5 times a power of ten at or
 * above max; for bytes, of the value in its largest whole unit (KiB, MiB..),
 * so ticks read 0, 5, 10, 15, 20 MiB. */
static double nice_max(double max, int bytes)
{
    if (max <= 0)
        return 1;
    double unit = 1;
    while (bytes && unit * 1024 <= max)
        unit *= 1024;
    double x = max / unit, p = 1;
    while (p * 10 <= x)
        p *= 10;
    static const double steps[] = {1, 2, 4, 5, 10};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (p * steps[i] >= x)
            return p * steps[i] * unit;
    return p * 10 * unit;
}

static void chart(FILE *out, const struct rpt_series *s, const char *id, const char *title,
                  const uint64_t *v, int bytes)
{
    size_t n = s->n_snaps;
    double max = 0, t_end = rpt_elapsed_min(s, n - 1) * 60;
    for (size_t i = 0; i < n; i++)
        max = (double)v[i] > max ? (double)v[i] : max;
    double ymax = nice_max(max, bytes);
    const double pw = CHART_W - CHART_LEFT - CHART_RIGHT, ph = CHART_H - CHART_TOP - CHART_BOTTOM;
    char a[32], b[32];
    fprintf(out,
            "<figure class=\"chart\" id=\"%s\"><figcaption>%s: %s at the last snapshot, "
            "peak %s</figcaption>\n<svg class=\"chart\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s over time\">",
            id, title, (tick_label(a, sizeof(a), (double)v[n - 1], bytes), a),
            (tick_label(b, sizeof(b), max, bytes), b), CHART_W, CHART_H, CHART_W, CHART_H, title);
    /* axes */
    fprintf(out,
            "<g class=\"axis\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>",
            CHART_LEFT, CHART_TOP, CHART_LEFT, CHART_H - CHART_BOTTOM, CHART_LEFT,
            CHART_H - CHART_BOTTOM, CHART_W - CHART_RIGHT, CHART_H - CHART_BOTTOM);
    for (int k = 0; k <= CHART_Y_TICKS; k++) {
        double val = ymax * k / CHART_Y_TICKS;
        double y = CHART_H - CHART_BOTTOM - ph * k / CHART_Y_TICKS;
        tick_label(a, sizeof(a), val, bytes);
        fprintf(out,
                "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                "<text class=\"ytick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                CHART_LEFT, y, CHART_W - CHART_RIGHT, y, CHART_LEFT - 6, y + 4, a);
    }
    int xt = n > 1 ? CHART_X_TICKS : 1;
    for (int k = 0; k <= xt && n > 1; k++) {
        double sec = t_end * k / xt;
        double x = CHART_LEFT + pw * k / xt;
        rpt_fmt_duration(sec, a, sizeof(a));
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<text class=\"xtick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
                x, CHART_H - CHART_BOTTOM, x, CHART_H - CHART_BOTTOM + 4, x,
                CHART_H - CHART_BOTTOM + 17, a);
    }
    fprintf(out,
            "<text class=\"xlabel\" x=\"%d\" y=\"%d\" text-anchor=\"end\">time since the "
            "first snapshot</text></g>",
            CHART_W - CHART_RIGHT, CHART_H - 2);
    /* the line, and a point per snapshot with its value as a tooltip */
    fputs("<polyline class=\"line\" fill=\"none\" points=\"", out);
    for (size_t i = 0; i < n; i++) {
        double x = CHART_LEFT + (t_end > 0 ? pw * rpt_elapsed_min(s, i) * 60 / t_end : pw / 2);
        double y = CHART_H - CHART_BOTTOM - ph * (double)v[i] / ymax;
        fprintf(out, "%s%.1f,%.1f", i ? " " : "", x, y);
    }
    fputs("\"/>", out);
    for (size_t i = 0; i < n; i++) {
        double x = CHART_LEFT + (t_end > 0 ? pw * rpt_elapsed_min(s, i) * 60 / t_end : pw / 2);
        double y = CHART_H - CHART_BOTTOM - ph * (double)v[i] / ymax;
        tick_label(a, sizeof(a), (double)v[i], bytes);
        rpt_fmt_duration(rpt_elapsed_min(s, i) * 60, b, sizeof(b));
        fprintf(out,
                "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" data-v=\"%" PRIu64
                "\"><title>snapshot %zu, +%s: %s</title></circle>",
                x, y, v[i], i + 1, b, a);
    }
    fputs("</svg></figure>\n", out);
}

void rpt_html_charts(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    size_t n = s->n_snaps;
    uint64_t *v = calloc(n, sizeof(*v));
    if (!v)
        return;
    fputs("<section id=\"charts\"><h2>Over time</h2><div class=\"charts\">\n", out);
    static const struct {
        const char *id, *title;
        int bytes;
    } charts[] = {
        {"chart-live", "Live heap bytes", 1},
        {"chart-fds", "Open fds", 0},
        {"chart-rss", "RSS", 1},
        {"chart-mmap", "Mapped bytes", 1},
    };
    for (size_t c = 0; c < sizeof(charts) / sizeof(charts[0]); c++) {
        uint64_t any = 0;
        for (size_t i = 0; i < n; i++) {
            const struct rpt_snapinfo *si = &s->snaps[i];
            v[i] = c == 0   ? si->live_bytes
                   : c == 1 ? si->n_fds
                   : c == 2 ? si->rss_bytes
                            : si->mmap_bytes;
            any |= v[i];
        }
        if (c >= 2 && !any)
            continue; /* no RSS (a generated series) or no mmaps: no empty chart */
        chart(out, s, charts[c].id, charts[c].title, v, charts[c].bytes);
    }
    fputs("</div></section>\n", out);
    free(v);
}

/* ---- flame graph data ---- */

/* Names interned by the symbolizer's string pointer (stable while it
 * lives); the page merges equal names itself. */
struct names {
    const char **ptr;
    uint32_t *slot; /* open addressing: index + 1 */
    size_t n, cap, slots;
};

static int names_grow(struct names *t)
{
    size_t slots = t->slots ? t->slots * 2 : 1024;
    uint32_t *slot = calloc(slots, sizeof(*slot));
    const char **ptr = realloc(t->ptr, slots / 2 * sizeof(*ptr));
    if (!slot || !ptr) {
        free(slot);
        if (ptr)
            t->ptr = ptr;
        return -1;
    }
    t->ptr = ptr;
    t->cap = slots / 2;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = ((uintptr_t)t->ptr[i] >> 3) * 0x9e3779b97f4a7c15ull & (slots - 1);
        while (slot[h])
            h = (h + 1) & (slots - 1);
        slot[h] = (uint32_t)i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->slots = slots;
    return 0;
}

static long name_id(struct names *t, const char *name)
{
    if (t->n + 1 > t->cap && names_grow(t) < 0)
        return -1;
    size_t h = ((uintptr_t)name >> 3) * 0x9e3779b97f4a7c15ull & (t->slots - 1);
    while (t->slot[h]) {
        if (t->ptr[t->slot[h] - 1] == name)
            return t->slot[h] - 1;
        h = (h + 1) & (t->slots - 1);
    }
    t->ptr[t->n] = name;
    t->slot[h] = (uint32_t)++t->n;
    return (long)t->n - 1;
}

static const char unknown_frame[] = "??";

void rpt_html_flame_data(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_HEAP];
    size_t last = s->n_snaps - 1;
    struct names names = {0};
    uint64_t total = 0;
    fputs("<script type=\"application/json\" id=\"flame-data\">{\"stacks\":[", out);
    int first = 1;
    for (size_t k = 0; k < t->n; k++) {
        const struct rpt_row *r = &t->rows[k];
        if (!r->value[last])
            continue;
        total += r->value[last];
        fprintf(out, "%s[[", first ? "" : ",");
        first = 0;
        int first_frame = 1;
        uint32_t end = rpt_row_end(ctx, r);
        for (uint32_t i = end; i-- > r->skip;) {
            const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[i]);
            for (uint32_t f = sym->n_frames; f-- > 0;) {
                const char *fn = sym->frames[f].function ? sym->frames[f].function : unknown_frame;
                long id = name_id(&names, fn);
                if (id < 0)
                    continue;
                fprintf(out, "%s%ld", first_frame ? "" : ",", id);
                first_frame = 0;
            }
        }
        fprintf(out, "],%" PRIu64 "]", r->value[last]);
    }
    fprintf(out, "],\"total\":%" PRIu64 ",\"names\":[", total);
    for (size_t i = 0; i < names.n; i++) {
        if (i)
            fputc(',', out);
        rpt_json_string(out, names.ptr[i]);
    }
    fputs("]}</script>\n", out);
    free(names.ptr);
    free(names.slot);
}
