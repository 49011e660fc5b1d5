/*
 * The last step of building an unwind table (unwind_table.h): rows sorted by
 * address in place (heapsort: qsort may call malloc, and this runs inside
 * the audited process), one row per address, identical neighbours merged.
 */
#include "unwind_table.h"

static int row_less(const struct unw_row *a, const struct unw_row *b)
{
    if (a->pc != b->pc)
        return a->pc < b->pc;
    /* at the same address, a "none" end marker sorts before a real row */
    return a->cfa == UNW_CFA_NONE && b->cfa != UNW_CFA_NONE;
}

static void sift_down(struct unw_row *v, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && row_less(&v[child], &v[child + 1]))
            child++;
        if (!row_less(&v[root], &v[child]))
            return;
        struct unw_row tmp = v[root];
        v[root] = v[child];
        v[child] = tmp;
        root = child;
    }
}

/* Heapsort: in place, no allocation (qsort may call malloc). */
static void sort_rows(struct unw_row *v, size_t n)
{
    size_t i;
    for (i = 1; i < n; i++)
        if (row_less(&v[i], &v[i - 1]))
            break;
    if (i >= n)
        return; /* already sorted: the usual case with an .eh_frame_hdr */
    for (i = n / 2; i-- > 0;)
        sift_down(v, i, n);
    for (i = n; i-- > 1;) {
        struct unw_row tmp = v[0];
        v[0] = v[i];
        v[i] = tmp;
        sift_down(v, 0, i);
    }
}

static int same_rule(const struct unw_row *a, const struct unw_row *b)
{
    return a->cfa == b->cfa && a->cfa_off == b->cfa_off && a->ra_off == b->ra_off &&
           a->fp_off == b->fp_off && a->flags == b->flags;
}

/* Sorted rows -> one row per address (a real row beats a "none" marker,
 * the first real row beats later ones), then identical neighbours merged. */
void unw_rows_compact(struct unw_table *t)
{
    sort_rows(t->rows, t->n);
    uint32_t out = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        struct unw_row *row = &t->rows[i];
        if (out > 0 && t->rows[out - 1].pc == row->pc) {
            if (t->rows[out - 1].cfa == UNW_CFA_NONE)
                t->rows[out - 1] = *row;
            continue;
        }
        t->rows[out++] = *row;
    }
    t->n = out;
    out = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        if (out > 0 && same_rule(&t->rows[out - 1], &t->rows[i]))
            continue;
        t->rows[out++] = t->rows[i];
    }
    t->n = out;
}
