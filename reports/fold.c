/*
 * Which rows a report shows, in which order, and which of their frames.
 *
 * Folding: the capture side takes the return address of the allocation call
 * as frame 0, but with DWARF unwinding or a static allocator deeper frames
 * can still start inside the shim, the allocator or libc's malloc wrappers.
 * Those leading frames say nothing about who leaked, so they are folded away
 * (counted, never hidden silently: renderers print "N allocator frames
 * folded"). Only leading frames are folded, at least one frame always stays,
 * and --no-fold turns it off.
 *
 * Order: leaks first (fastest growth first), then everything else by live
 * value, freed rows last; docs/report.md "Order".
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#define RPT_DEFAULT_TOP         10
#define RPT_DEFAULT_STACK_DEPTH 32

/* Modules whose frames are always allocator/shim internals (basename prefix). */
static const char *const fold_modules[] = {
    "libleakaudit", "libjemalloc", "libtcmalloc", "libmimalloc", "libasan", "liblsan", NULL,
};

/* Runtime libraries in which only allocation entry points are folded. */
static const char *const runtime_modules[] = {"libc.so", "libc-", "libstdc++", "libgcc_s", NULL};

/* Function-name prefixes of allocation entry points and their helpers. */
static const char *const fold_functions[] = {
    "malloc",
    "calloc",
    "realloc",
    "free",
    "__libc_",
    "_int_",
    "operator new",
    "operator delete",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "__posix_memalign",
    "strdup",
    "strndup",
    "__strdup",
    "__strndup",
    "tcache_",
    "sysmalloc",
    "je_",
    "tc_",
    "mi_",
    "__GI___libc_",
    "__GI_",
    "std::__new_allocator",
    "__gnu_cxx::new_allocator",
    "leakaudit_",
    "shim_",
    NULL,
};

static int has_prefix(const char *s, const char *const *list)
{
    for (int i = 0; s && list[i]; i++)
        if (!strncmp(s, list[i], strlen(list[i])))
            return 1;
    return 0;
}

static int frame_is_internal(struct rpt_ctx *ctx, struct rpt_loc loc)
{
    if (!loc.mod)
        return 0;
    const char *base = rpt_module_basename(loc.mod);
    if (has_prefix(base, fold_modules))
        return 1;
    if (!has_prefix(base, runtime_modules))
        return 0;
    const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, loc);
    return has_prefix(sym->frames[sym->n_frames - 1].function, fold_functions);
}

uint32_t rpt_row_end(const struct rpt_ctx *ctx, const struct rpt_row *r)
{
    uint32_t depth = ctx->opt->stack_depth ? ctx->opt->stack_depth : RPT_DEFAULT_STACK_DEPTH;
    uint32_t end = r->skip + depth;
    return end < r->depth ? end : r->depth;
}

static int row_matches(struct rpt_ctx *ctx, const struct rpt_row *r)
{
    const struct rpt_options *o = ctx->opt;
    if (!o->filter_module && !o->filter_function)
        return 1;
    int mod_ok = !o->filter_module, fn_ok = !o->filter_function;
    uint32_t end = rpt_row_end(ctx, r);
    for (uint32_t i = r->skip; i < end && !(mod_ok && fn_ok); i++) {
        if (!mod_ok) {
            const struct rpt_module *m = rpt_module_get(r->locs[i].mod);
            mod_ok = m && strstr(m->path, o->filter_module);
        }
        if (!fn_ok) {
            const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, r->locs[i]);
            for (uint32_t f = 0; f < sym->n_frames && !fn_ok; f++)
                fn_ok =
                    sym->frames[f].function && strstr(sym->frames[f].function, o->filter_function);
        }
    }
    return mod_ok && fn_ok;
}

static const struct rpt_series *g_sort_series;
static const struct rpt_table *g_sort_table;

/* With a reachability scan, lost blocks come first (valgrind's order:
 * definitely + indirectly lost), then growth, possibly lost, the rest, and
 * stacks whose blocks are all still reachable last. */
static int rank(const struct rpt_row *r)
{
    int reach = g_sort_series->has_reach && g_sort_table == &g_sort_series->tab[RPT_HEAP];
    if (reach && rpt_row_lost_bytes(r))
        return -1;
    if (reach && rpt_row_only_reachable(r))
        return 6;
    switch (r->trend.verdict) {
    case RPT_VERDICT_LEAK:
        return 0;
    case RPT_VERDICT_FREED:
        return 4;
    default:
        return reach && r->reach_blocks[SNAP_REACH_POSSIBLE] ? 1 : 2;
    }
}

static int cmp_rows(const void *a, const void *b)
{
    const struct rpt_row *x = &g_sort_table->rows[*(const uint32_t *)a];
    const struct rpt_row *y = &g_sort_table->rows[*(const uint32_t *)b];
    size_t last = g_sort_series->n_snaps - 1;
    int rx = rank(x), ry = rank(y);
    if (rx != ry)
        return rx - ry;
    if (rx == -1 && rpt_row_lost_bytes(x) != rpt_row_lost_bytes(y))
        return rpt_row_lost_bytes(x) > rpt_row_lost_bytes(y) ? -1 : 1;
    if (rx == 0 && x->trend.rate_per_min != y->trend.rate_per_min)
        return x->trend.rate_per_min > y->trend.rate_per_min ? -1 : 1;
    if (x->value[last] != y->value[last])
        return x->value[last] > y->value[last] ? -1 : 1;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return 0;
}

void rpt_select(struct rpt_ctx *ctx)
{
    const struct rpt_options *o = ctx->opt;
    struct rpt_series *s = ctx->series;
    long top = o->top;
    if (top < 0)
        top = o->format == RPT_FMT_PPROF || o->format == RPT_FMT_COLLAPSED ? 0 : RPT_DEFAULT_TOP;
    for (int c = 0; c < RPT_CLASS_COUNT; c++) {
        struct rpt_table *t = &s->tab[c];
        free(t->selected);
        t->n_selected = 0;
        t->n_leaks = 0;
        t->selected = malloc((t->n ? t->n : 1) * sizeof(uint32_t));
        if (!t->selected)
            continue;
        for (size_t i = 0; i < t->n; i++) {
            struct rpt_row *r = &t->rows[i];
            r->skip = 0;
            if (!o->no_fold)
                while (r->skip + 1 < r->depth && frame_is_internal(ctx, r->locs[r->skip]))
                    r->skip++;
            if ((c == RPT_HEAP || c == RPT_MMAPS) && o->min_bytes &&
                rpt_row_peak(s, r) < o->min_bytes)
                continue;
            if (!row_matches(ctx, r))
                continue;
            t->n_leaks += rpt_row_is_leak(s, (enum rpt_class)c, r);
            t->selected[t->n_selected++] = (uint32_t)i;
        }
        g_sort_series = s;
        g_sort_table = t;
        qsort(t->selected, t->n_selected, sizeof(uint32_t), cmp_rows);
        if (top > 0 && t->n_selected > (size_t)top)
            t->n_selected = (size_t)top;
    }
}
