/*
 * The formatting helpers every renderer (and `run`'s status line, and soak)
 * shares: byte counts, durations, times and ages, the coverage caveats as
 * sentences, and escaping for JSON string literals and HTML text. Nothing
 * here knows a report format's layout.
 */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

const char *rpt_fmt_bytes(double b, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (fabs(b) >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%.0f B", b);
    else
        snprintf(buf, cap, "%.1f %s", b, units[u]);
    return buf;
}

const char *rpt_fmt_duration(double sec, char *buf, size_t cap)
{
    long s = (long)(sec + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, cap, "%lds", s);
    return buf;
}

const char *rpt_fmt_time(uint64_t ns, char *buf, size_t cap)
{
    time_t t = (time_t)(ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

const char *rpt_fmt_age(const struct rpt_series *s, uint64_t ns, char *buf, size_t cap)
{
    if (!ns || s->last.snapshot_time_ns < ns)
        return NULL;
    return rpt_fmt_duration((double)(s->last.snapshot_time_ns - ns) / 1e9, buf, cap);
}

uint64_t rpt_loss_value(const struct rpt_series *s, const char *name)
{
    for (size_t i = 0; i < s->n_losses; i++)
        if (!strcmp(s->losses[i].name, name))
            return s->losses[i].value;
    return 0;
}

int rpt_heap_walked_at_attach(const struct rpt_series *s)
{
    return s->last.source == SNAP_SOURCE_INJECTED &&
           rpt_loss_value(s, "heap_before_attach_blocks") > 0 &&
           !rpt_loss_value(s, "heap_before_attach_not_enumerated");
}

size_t rpt_caveats(const struct rpt_series *s, char lines[][256], size_t max)
{
    size_t n = 0;
    char t[64];
    if (n < max && s->last.source == SNAP_SOURCE_TRACER)
        snprintf(lines[n++], 256,
                 "tracer: only allocations made after %s (attach) are seen; older blocks and "
                 "their frees are invisible",
                 rpt_fmt_time(s->first.start_time_ns, t, sizeof(t)));
    if (n < max && rpt_heap_walked_at_attach(s))
        snprintf(lines[n++], 256,
                 "attach --inject at %s: the blocks live then were found by walking glibc's heap "
                 "(the heap rows 'allocated before attach': no stack, usable sizes)",
                 rpt_fmt_time(s->first.start_time_ns, t, sizeof(t)));
    else if (n < max && s->last.source == SNAP_SOURCE_INJECTED)
        snprintf(lines[n++], 256,
                 "attach --inject at %s: blocks allocated before it are not listed (their frees "
                 "are counted as heap_free_before_attach); no reachability scan",
                 rpt_fmt_time(s->first.start_time_ns, t, sizeof(t)));
    if (n < max && s->last.mode == SNAP_MODE_SAMPLED)
        snprintf(lines[n++], 256,
                 "sampled mode (one sample per %" PRIu64 " bytes on average): byte and count "
                 "figures are estimates",
                 s->last.sample_period);
    if (n < max && s->n_snaps == 1)
        snprintf(lines[n++], 256,
                 "a single snapshot: no growth verdicts (verdict 'unknown'); report a series");
    if (n < max && s->last.unwind == SNAP_UNWIND_FP)
        snprintf(lines[n++], 256,
                 "frame-pointer unwinding: frames beyond the allocation site may be missing in "
                 "code built without frame pointers");
    return n;
}

/* Length of a valid UTF-8 sequence at s, 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    int n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf8)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void rpt_json_string(FILE *out, const char *str)
{
    if (!str) {
        fputs("null", out);
        return;
    }
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
            s++;
        } else if (c == '<' || c == '>' || c == '&') {
            /* Keeps the JSON safe to embed in HTML <script> blocks. */
            fprintf(out, "\\u%04x", c);
            s++;
        } else {
            int n = utf8_len(s);
            if (n == 0) {
                fprintf(out, "\\u%04x", c); /* invalid byte: as Latin-1 */
                s++;
            } else {
                fwrite(s, 1, (size_t)n, out);
                s += n;
            }
        }
    }
    fputc('"', out);
}

void rpt_html_escape(FILE *out, const char *s)
{
    if (!s)
        return;
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}
