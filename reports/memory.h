/*
 * The memory breakdown over a series (docs/memory.md): each snapshot's
 * SNAP_SEC_MEMORY merged into per-snapshot component totals and per-stack
 * rows (anonymous mmaps, shared memory, dma-buf), the slope of each
 * component (reports/trend.c's line fit), and the growth verdict -- for a
 * series whose RSS grows, which component grows, at which stack. Renderers
 * call one hook each; nothing here knows a format except those hooks.
 *
 * The components are one table (memory.c, `components[]`): adding a source
 * is one row there. The kernel row has no snapshot record of its own here:
 * the kernel-memory section (SNAP_SEC_KMEM, issue 23's kernel side) feeds it
 * through rpt_memory_feed_kernel().
 */
#ifndef LEAKAUDIT_REPORTS_MEMORY_H
#define LEAKAUDIT_REPORTS_MEMORY_H

#include "report.h"

/* The reports' component ids: the snapshot's (enum snap_mem_component),
 * then those only reports know. */
enum { RPT_MEM_KERNEL = SNAP_MEM_COMPONENT_COUNT, RPT_MEM_COMPONENTS };

/* Least RSS growth over the series for a verdict (also at least 2 % of the
 * first RSS). */
#define RPT_MEM_MIN_GROWTH (1u << 20)
/* Kernel memory (attach --kmem) is not part of RSS: its own, lower bar. */
#define RPT_MEM_MIN_KERNEL_GROWTH (256u << 10)
/* The breakdown must add up to RSS within this (|unaccounted| / RSS). */
#define RPT_MEM_TOLERANCE_PCT 5.0

/* Stack id -> frames, for the merge (merge.c's resolver); returns depth. */
typedef uint32_t (*rpt_mem_resolve_fn)(void *arg, uint32_t stack_id, const struct rpt_loc **locs);

/* Merges snapshot k's memory section into s (nothing if it has none). */
int rpt_memory_merge(struct rpt_series *s, size_t k, const struct snapshot *snap,
                     rpt_mem_resolve_fn resolve, void *arg);
/* The kernel side's hook: bytes of kernel memory outstanding in the
 * process's context at snapshot k (attach mode). */
void rpt_memory_feed_kernel(struct rpt_series *s, size_t k, uint64_t bytes);
void rpt_memory_free(struct rpt_memory *m);

/* The verdict, for renderers and soak. */
struct rpt_mem_verdict {
    int has_memory;     /* some snapshot had a breakdown */
    int grows;          /* RSS grew by at least the minimum */
    uint32_t component; /* the one that grew most, 0 if none */
    int64_t rss_growth, component_growth;
    int64_t also_retained; /* a heap leak's verdict: retention that grew as well, 0 if not */
    uint64_t first_rss, last_rss;
    const struct rpt_loc *locs; /* the stack it grew at, NULL if none */
    uint32_t depth;
    char summary[256]; /* one line */
};
const struct rpt_mem_verdict *rpt_memory_verdict(struct rpt_ctx *ctx);
const char *rpt_memory_component_key(uint32_t component);
/* At the last snapshot with a breakdown: the component's bytes (0: none). */
int64_t rpt_memory_last(const struct rpt_series *s, uint32_t component);

/* Renderer hooks. */
void rpt_memory_text_verdict(struct rpt_ctx *ctx, FILE *out); /* the report's first lines */
void rpt_memory_text(struct rpt_ctx *ctx, FILE *out);
void rpt_memory_json(struct rpt_ctx *ctx, FILE *out); /* ,"memory":{...} */
void rpt_memory_html(struct rpt_ctx *ctx, FILE *out);
/* labels: writes the format's common labels (no braces) */
void rpt_memory_prometheus(struct rpt_ctx *ctx, FILE *out,
                           void (*labels)(FILE *out, const struct rpt_series *s));

#endif
