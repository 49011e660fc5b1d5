/*
 * Writing the tracer's snapshots with the common producer
 * (common/snapshot_produce.h): this file only says where each section's
 * records come from. One series per attach, named <exe basename>.<pid>.
 * <attach time in ms, hex> like the shim's, files DIR/<series>.<seq, 6
 * digits>.snap (common/series_name.h). The header says source=tracer and
 * start_time = the attach time (the tracer only sees what happened after
 * it). The module map is re-read at every snapshot and the last good one is
 * kept, so the snapshot written after the target exited can still be
 * symbolized.
 */
#include "tracer.h"
#include "membreak.h"
#include "modmap.h"
#include "procfs.h"
#include "retention.h"
#include "safefile.h"
#include "series_name.h"
#include "snapshot_produce.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct saved_module {
    struct snap_module m;
    char path[PATH_MAX];
};

struct trc_writer {
    const struct trc_opts *opts;
    uint64_t attach_ns;
    uint32_t seq;
    char series[SNAP_MAX_NAME];
    char exe[SNAP_MAX_PATH];
    char allocator[SNAP_MAX_NAME];
    int ppid;
    struct saved_module *mods;
    size_t n_mods, cap_mods;
    struct saved_module *scratch;
    size_t n_scratch, cap_scratch;
    struct retain_state retain; /* this series' snapshots on disk (retention.h) */
    struct retain_entry retained[RETAIN_DEFAULT_TABLE_CAP];
    struct snap_writer w; /* 64 KiB buffer: heap, not stack */
};

static void retire_snapshot(uint32_t seq, void *arg)
{
    const struct trc_writer *w = arg;
    char path[PATH_MAX + SNAP_MAX_NAME + 32];
    size_t len = (size_t)snprintf(path, sizeof(path), "%s/", w->opts->out_dir);
    if (len >= sizeof(path))
        return;
    snap_file_name(path + len, sizeof(path) - len, w->series, seq);
    unlink(path);
}

int trc_writer_new(struct trc_writer **out, const struct trc_opts *o, const char *allocator,
                   uint64_t attach_realtime_ns)
{
    struct trc_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->opts = o;
    w->attach_ns = attach_realtime_ns;
    w->retain.e = w->retained;
    w->retain.cap = RETAIN_DEFAULT_TABLE_CAP;
    struct procfs_stat st;
    w->ppid = procfs_read_stat(o->pid, &st) == 0 ? st.ppid : 0;
    util_strlcpy(w->allocator, allocator ? allocator : "unknown", sizeof(w->allocator));
    util_read_exe(o->pid, w->exe, sizeof(w->exe));
    snap_series_name(w->series, sizeof(w->series), w->exe, o->pid, attach_realtime_ns);
    *out = w;
    return 0;
}

void trc_writer_free(struct trc_writer *w)
{
    if (!w)
        return;
    free(w->mods);
    free(w->scratch);
    free(w);
}

const char *trc_writer_dir(const struct trc_writer *w)
{
    return w->opts->out_dir;
}

uint32_t trc_writer_count(const struct trc_writer *w)
{
    return w->seq;
}

static int save_module(const struct snap_module *m, void *arg)
{
    struct trc_writer *w = arg;
    if (w->n_scratch == w->cap_scratch) {
        size_t nc = w->cap_scratch ? w->cap_scratch * 2 : 64;
        void *p = realloc(w->scratch, nc * sizeof(*w->scratch));
        if (!p)
            return -ENOMEM;
        w->scratch = p;
        w->cap_scratch = nc;
    }
    struct saved_module *s = &w->scratch[w->n_scratch++];
    s->m = *m;
    util_strlcpy(s->path, m->path, sizeof(s->path));
    return 0;
}

/* Re-reads the module map; keeps the previous one if the target is gone. */
static void refresh_modules(struct trc_writer *w)
{
    w->n_scratch = 0;
    if (modmap_foreach(w->opts->pid, save_module, w) <= 0 || !w->n_scratch)
        return;
    struct saved_module *t = w->mods;
    size_t tc = w->cap_mods;
    w->mods = w->scratch;
    w->n_mods = w->n_scratch;
    w->cap_mods = w->cap_scratch;
    w->scratch = t;
    w->cap_scratch = tc;
}

/* ---- the sources of a snapshot (common/snapshot_produce.h) ---- */

struct source_ctx {
    const struct trc_writer *w;
    const struct trc_view *v;
};

static int src_modules(struct snap_writer *sw, void *arg)
{
    const struct trc_writer *w = ((const struct source_ctx *)arg)->w;
    for (size_t i = 0; i < w->n_mods; i++) {
        struct snap_module m = w->mods[i].m;
        m.path = w->mods[i].path;
        snap_write_module(sw, &m);
    }
    return sw->error;
}

static int src_stacks(struct snap_writer *sw, void *arg)
{
    const struct trc_view *v = ((const struct source_ctx *)arg)->v;
    uint32_t n = stk_table_count(v->stacks);
    for (uint32_t id = 1; id <= n; id++) {
        const uint64_t *frames;
        uint32_t depth = stk_table_get(v->stacks, id, &frames);
        if (depth)
            snap_write_stack(sw, id, frames, depth);
    }
    return sw->error;
}

static int src_heap(struct snap_writer *sw, void *arg)
{
    const struct trc_view *v = ((const struct source_ctx *)arg)->v;
    for (size_t i = 0; i < v->n_heap; i++)
        snap_write_heap(sw, &v->heap[i]);
    return sw->error;
}

static int src_reach(struct snap_writer *sw, void *arg)
{
    const struct trc_view *v = ((const struct source_ctx *)arg)->v;
    if (!v->reach)
        return 0;
    snap_write_reach_info(sw, &v->reach->info);
    for (size_t i = 0; i < v->reach->n; i++)
        snap_write_reach(sw, &v->reach->entries[i]);
    return sw->error;
}

static int src_fds(struct snap_writer *sw, void *arg)
{
    const struct trc_view *v = ((const struct source_ctx *)arg)->v;
    for (size_t i = 0; i < v->n_fds; i++) {
        struct snap_fd_entry e = v->fds[i].e;
        e.target = (char *)v->fds[i].target;
        snap_write_fd(sw, &e);
    }
    return sw->error;
}

static int src_mmaps(struct snap_writer *sw, void *arg)
{
    const struct trc_view *v = ((const struct source_ctx *)arg)->v;
    for (size_t i = 0; i < v->n_mmaps; i++)
        snap_write_mmap(sw, &v->mmaps[i].e);
    return sw->error;
}

static int src_resources(struct snap_writer *sw, void *arg)
{
    const struct trc_view *v = ((const struct source_ctx *)arg)->v;
    for (size_t i = 0; i < v->n_resources; i++)
        snap_write_resource(sw, &v->resources[i]);
    return sw->error;
}

static int src_resource_events(struct snap_writer *sw, void *arg)
{
    const struct trc_view *v = ((const struct source_ctx *)arg)->v;
    for (size_t i = 0; i < v->n_res_events; i++)
        snap_write_corruption(sw, &v->res_events[i]);
    return sw->error;
}

static int src_kmem(struct snap_writer *sw, void *arg)
{
    const struct trc_view *v = ((const struct source_ctx *)arg)->v;
    return v->kmem ? trc_kmem_write(v->kmem, sw) : 0;
}

static int src_losses(struct snap_writer *sw, void *arg)
{
    const struct source_ctx *c = arg;
    for (size_t i = 0; i < c->v->n_losses; i++)
        snap_emit_loss(sw, c->v->losses[i].id, c->v->losses[i].value);
    for (size_t i = 0; i < c->v->n_res_losses; i++)
        snap_emit_loss(sw, c->v->res_losses[i].id, c->v->res_losses[i].value);
    for (size_t i = 0; i < c->v->n_kmem_losses; i++)
        snap_emit_loss(sw, c->v->kmem_losses[i].id, c->v->kmem_losses[i].value);
    snap_emit_loss(sw, SNAP_LOSS_SNAPSHOTS_RETIRED, c->w->retain.removed);
    return sw->error;
}

static uint32_t fd_stack(int fd, void *arg)
{
    const struct trc_view *v = arg;
    for (size_t i = 0; i < v->n_fds; i++)
        if (v->fds[i].e.fd == fd)
            return v->fds[i].e.stack_id;
    return SNAP_STACK_NONE;
}

/* The memory breakdown (docs/memory.md) of the target: smaps with the
 * mmaps the probes saw. The allocator cannot be asked from outside, so the
 * retained part is estimated (SNAP_MEMI_ALLOC_ESTIMATED). Nothing is
 * written once the target is gone (no smaps). */
static int src_memory(struct snap_writer *sw, void *arg)
{
    const struct source_ctx *c = arg;
    static struct mb_result result; /* one writer per tracer process */
    struct mb_region *regions = calloc(c->v->n_mmaps + 1, sizeof(*regions));
    if (!regions)
        return 0;
    for (size_t i = 0; i < c->v->n_mmaps; i++) {
        const struct snap_mmap_entry *e = &c->v->mmaps[i].e;
        regions[i] = (struct mb_region){e->addr, e->addr + e->len, e->stack_id, e->kind};
    }
    struct mb_input in = {.pid = c->w->opts->pid,
                          .regions = regions,
                          .n_regions = c->v->n_mmaps,
                          .live_heap = sw->heap_live_bytes,
                          .fd_stack = fd_stack,
                          .fd_stack_arg = (void *)c->v};
    if (mb_collect(&in, &result) == 0)
        mb_emit(sw, &result);
    free(regions);
    return sw->error;
}

static void describe(struct snap_description *d, struct source_ctx *c)
{
    snap_describe(d, SNAP_PART_MODULES, src_modules, c);
    snap_describe(d, SNAP_PART_STACKS, src_stacks, c);
    snap_describe(d, SNAP_PART_HEAP, src_heap, c);
    snap_describe(d, SNAP_PART_REACHABILITY, src_reach, c);
    snap_describe(d, SNAP_PART_FDS, src_fds, c);
    snap_describe(d, SNAP_PART_MMAPS, src_mmaps, c);
    snap_describe(d, SNAP_PART_RESOURCES, src_resources, c);
    snap_describe(d, SNAP_PART_MEMORY, src_memory, c);
    snap_describe(d, SNAP_PART_KMEM, src_kmem, c);
    snap_describe(d, SNAP_PART_CORRUPTION, src_resource_events, c);
    snap_describe(d, SNAP_PART_LOSSES, src_losses, c);
}

int trc_writer_write(struct trc_writer *w, const struct trc_view *v, uint32_t trigger, char *err,
                     size_t errlen)
{
    refresh_modules(w);
    char name[SNAP_MAX_NAME + 32];
    snap_file_name(name, sizeof(name), w->series, w->seq);
    struct snap_writer *sw = &w->w;
    uint64_t time_ns = util_realtime_ns();
    int rc = snap_writer_open_flags(sw, w->opts->out_dir, name,
                                    w->opts->allow_shared_dir ? SAFE_DIR_SHARED : 0);
    if (rc < 0) {
        snprintf(err, errlen, "cannot write snapshots into %s: %s", w->opts->out_dir,
                 sw->why ? sw->why : strerror(-rc));
        return rc;
    }
    struct snap_header h = {
        .source = SNAP_SOURCE_TRACER,
        .mode = w->opts->mode,
        .unwind = w->opts->unwind,
        .trigger = trigger,
        .seq = w->seq,
        .pid = w->opts->pid,
        .ppid = w->ppid,
        .start_time_ns = w->attach_ns,
        .snapshot_time_ns = time_ns,
        .monotonic_ns = util_monotonic_ns(),
        .rss_bytes = util_read_rss(w->opts->pid),
    };
    /* Re-read: attached in the instant between a shell's fork and its exec,
     * the first reading named the shell (the series keeps its first name). */
    char exe[sizeof(w->exe)];
    if (util_read_exe(w->opts->pid, exe, sizeof(exe)) > 0)
        util_strlcpy(w->exe, exe, sizeof(w->exe));
    util_strlcpy(h.exe, w->exe, sizeof(h.exe));
    util_strlcpy(h.series, w->series, sizeof(h.series));
    util_strlcpy(h.allocator, w->allocator, sizeof(h.allocator));
    gethostname(h.hostname, sizeof(h.hostname) - 1);
    struct source_ctx c = {.w = w, .v = v};
    struct snap_description d = {.header = &h};
    describe(&d, &c);
    snap_produce(sw, &d);

    rc = snap_writer_commit(sw);
    if (rc < 0) {
        snap_writer_abort(sw);
        snprintf(err, errlen, "cannot write snapshot %s/%s: %s", w->opts->out_dir, name,
                 sw->why ? sw->why : strerror(-rc));
        return rc;
    }
    struct retain_policy p = {
        .max_disk = w->opts->max_disk, .keep_for_s = w->opts->keep_for_s, .thin = w->opts->thin};
    struct retain_entry e = {
        .seq = w->seq, .time_ns = time_ns, .bytes = sw->offset, .live_bytes = sw->heap_live_bytes};
    retain_add(&w->retain, &p, &e, retire_snapshot, w);
    w->seq++;
    return 0;
}
