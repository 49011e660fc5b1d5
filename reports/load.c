/*
 * Choosing what to report on: the inputs (directories and .snap files) are
 * grouped into series by file name (common/series_name.h), and the series
 * asked for (--series, --pid) or the one with the most live bytes is loaded
 * (merge.c).
 */
#include "report.h"
#include "memory.h"
#include "series_name.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- picking a series among the inputs ---- */

struct group {
    char *name;
    char **paths;
    int n;
};

/* SERIES.SEQ.snap -> SERIES; other names are their own series. */
static char *series_of_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t digits;
    return strndup(base, snap_file_name_split(base, &digits));
}

static int add_to_group(struct group **groups, int *n_groups, const char *path)
{
    char *name = series_of_path(path);
    char *copy = strdup(path);
    if (!name || !copy)
        goto nomem;
    int g = 0;
    while (g < *n_groups && strcmp((*groups)[g].name, name))
        g++;
    if (g == *n_groups) {
        struct group *p = realloc(*groups, (size_t)(*n_groups + 1) * sizeof(*p));
        if (!p)
            goto nomem;
        *groups = p;
        p[g] = (struct group){.name = name};
        (*n_groups)++;
    } else {
        free(name);
    }
    char **pp = realloc((*groups)[g].paths, (size_t)((*groups)[g].n + 1) * sizeof(*pp));
    if (!pp) {
        free(copy);
        return -ENOMEM;
    }
    (*groups)[g].paths = pp;
    pp[(*groups)[g].n++] = copy;
    return 0;
nomem:
    free(name);
    free(copy);
    return -ENOMEM;
}

static void free_groups(struct group *g, int n)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < g[i].n; j++)
            free(g[i].paths[j]);
        free(g[i].paths);
        free(g[i].name);
    }
    free(g);
}

int rpt_series_load(char **inputs, int n_inputs, const struct rpt_options *opt,
                    struct rpt_series **out, char *err, size_t errlen)
{
    struct group *groups = NULL;
    int n_groups = 0, rc = 0;
    *out = NULL;
    for (int i = 0; i < n_inputs && rc == 0; i++) {
        int is_file = snap_file_name_has_suffix(inputs[i]);
        char **paths = NULL;
        int n = 1;
        if (!is_file) {
            n = snapshot_list_dir(inputs[i], &paths, err, errlen);
            if (n == -ENOTDIR) {
                /* A file without the .snap suffix: let the reader judge it. */
                n = 1;
            } else if (n < 0) {
                rc = n;
                break;
            }
        }
        for (int j = 0; j < n && rc == 0; j++)
            rc = add_to_group(&groups, &n_groups, paths ? paths[j] : inputs[i]);
        for (int j = 0; paths && j < n; j++)
            free(paths[j]);
        free(paths);
        if (rc)
            snprintf(err, errlen, "out of memory");
    }
    if (rc == 0 && n_groups == 0) {
        snprintf(err, errlen, "no snapshot files given");
        rc = -ENOENT;
    }
    int chosen = 0;
    if (rc == 0 && n_groups > 1) {
        /* Read the last snapshot of each series to pick one. */
        uint64_t best = 0;
        chosen = -1;
        for (int g = 0; g < n_groups && rc == 0; g++) {
            struct snapshot *snap;
            rc = snapshot_read_file(groups[g].paths[groups[g].n - 1], &snap, err, errlen);
            if (rc < 0)
                break;
            uint64_t live = 0;
            for (size_t i = 0; i < snap->n_heap; i++)
                live += snap->heap[i].live_bytes;
            int match = opt->series ? !strcmp(opt->series, groups[g].name) ||
                                          !strcmp(opt->series, snap->hdr.series)
                        : opt->pid ? snap->hdr.pid == opt->pid
                                   : chosen < 0 || live > best;
            if (match && (chosen < 0 || (!opt->series && !opt->pid))) {
                chosen = g;
                best = live;
            }
            snapshot_free(snap);
        }
        if (rc == 0 && chosen < 0) {
            size_t off = (size_t)snprintf(err, errlen, "no series %s in the input; it holds:",
                                          opt->series ? opt->series : "with that pid");
            for (int g = 0; g < n_groups && off < errlen; g++)
                off += (size_t)snprintf(err + off, errlen - off, " %s", groups[g].name);
            rc = -ENOENT;
        }
    }
    if (rc == 0) {
        rc = rpt_series_load_files(groups[chosen].paths, groups[chosen].n, out, err, errlen);
        if (rc == 0 && opt->series && strcmp(opt->series, groups[chosen].name) &&
            strcmp(opt->series, (*out)->name)) {
            snprintf(err, errlen, "no series named %s in the input (found %s)", opt->series,
                     (*out)->name);
            rpt_series_free(*out);
            *out = NULL;
            rc = -ENOENT;
        }
        if (rc == 0 && opt->pid && (*out)->last.pid != opt->pid) {
            snprintf(err, errlen, "no series with pid %d in the input (found pid %d)", opt->pid,
                     (*out)->last.pid);
            rpt_series_free(*out);
            *out = NULL;
            rc = -ENOENT;
        }
    }
    if (rc == 0) {
        struct rpt_series *s = *out;
        for (int g = 0; g < n_groups; g++) {
            if (g == chosen)
                continue;
            char **p = realloc(s->other_series, (s->n_other_series + 1) * sizeof(*p));
            if (!p)
                break;
            s->other_series = p;
            if ((p[s->n_other_series] = strdup(groups[g].name)))
                s->n_other_series++;
        }
    }
    free_groups(groups, n_groups);
    return rc;
}

/* ---- trends ---- */

/* Warnings about the inputs, each once. */
void rpt_series_warn(struct rpt_series *s, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < s->n_warnings; i++)
        if (!strcmp(s->warnings[i], buf))
            return;
    char **p = realloc(s->warnings, (s->n_warnings + 1) * sizeof(*p));
    if (!p)
        return;
    s->warnings = p;
    if ((s->warnings[s->n_warnings] = strdup(buf)))
        s->n_warnings++;
}

/* ---- freeing a series ---- */

static void table_free(struct rpt_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        struct rpt_row *r = &t->rows[i];
        free(r->locs);
        free(r->value);
        free(r->count);
        if (r->fd) {
            for (uint32_t k = 0; k < r->fd->n_targets; k++)
                free(r->fd->targets[k]);
            free(r->fd);
        }
        if (r->res) {
            free(r->res->last_ref);
            free(r->res);
        }
    }
    free(t->rows);
    free(t->index);
    free(t->selected);
}

void rpt_series_free(struct rpt_series *s)
{
    if (!s)
        return;
    for (int c = 0; c < RPT_CLASS_COUNT; c++)
        table_free(&s->tab[c]);
    for (size_t i = 0; i < s->n_snaps; i++)
        free(s->snaps[i].path);
    free(s->snaps);
    for (size_t i = 0; i < s->n_corruptions; i++)
        for (int k = 0; k < 3; k++)
            free(s->corruptions[i].stacks[k]);
    free(s->corruptions);
    free(s->losses);
    for (size_t i = 0; i < s->n_other_series; i++)
        free(s->other_series[i]);
    free(s->other_series);
    for (size_t i = 0; i < s->n_warnings; i++)
        free(s->warnings[i]);
    free(s->warnings);
    rpt_memory_free(s->memory);
    free(s->name);
    rpt_kmem_free(s->kmem);
    free(s);
}
