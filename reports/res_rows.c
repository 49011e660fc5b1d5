/*
 * What every renderer asks about resource rows (docs/resources.md), with no
 * output format in it: the kinds present, a kind's outstanding total, and
 * which corruption events belong to a kind. Each renderer has its own
 * resource hook (text.c, json.c, html.c, prometheus.c, collapsed.c).
 * Rows come from merge.c (class RPT_RES, details in struct rpt_resinfo).
 */
#include "report.h"

#include <string.h>

int rpt_res_is_event(uint32_t kind)
{
    return kind == SNAP_CORR_USE_AFTER_DESTROY || kind == SNAP_CORR_DOUBLE_DESTROY;
}

/* The kinds present, in order of first appearance among the rows. */
size_t rpt_res_kinds(const struct rpt_series *s, const char *kinds[], size_t max)
{
    const struct rpt_table *t = &s->tab[RPT_RES];
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const char *k = t->rows[i].res ? t->rows[i].res->kind : "";
        size_t j = 0;
        while (j < n && strcmp(kinds[j], k))
            j++;
        if (j == n && n < max)
            kinds[n++] = k;
    }
    return n;
}

/* An event belongs to the kind its detail names ("kind: fn(...) ..."). */
int rpt_res_event_of_kind(const struct rpt_corruption *c, const char *kind)
{
    size_t l = strlen(kind);
    return rpt_res_is_event(c->ev.kind) && !strncmp(c->ev.detail, kind, l) &&
           c->ev.detail[l] == ':';
}

uint64_t rpt_res_outstanding(const struct rpt_series *s, const char *kind, size_t *n_leak)
{
    const struct rpt_table *t = &s->tab[RPT_RES];
    uint64_t v = 0;
    *n_leak = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->rows[i].res && !strcmp(t->rows[i].res->kind, kind)) {
            v += t->rows[i].value[s->n_snaps - 1];
            *n_leak += t->rows[i].trend.verdict == RPT_VERDICT_LEAK;
        }
    return v;
}
