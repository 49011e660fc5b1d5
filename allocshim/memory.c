/*
 * The memory breakdown of the audited process, from inside it, at snapshot
 * time only (docs/memory.md): common/membreak.c measures smaps with what the
 * shim knows -- its tracked mmaps, its own memory, the live heap -- and what
 * the allocator says about itself. The allocator is asked through symbols
 * looked up with dlsym when first needed, never linked:
 *
 *   glibc     mallinfo2(): arena + hblkhd held, uordblks + hblkhd in use
 *   jemalloc  mallctl("epoch") then "stats.resident" and "stats.allocated"
 *   tcmalloc  MallocExtension_GetNumericProperty: generic.heap_size minus
 *             tcmalloc.pageheap_unmapped_bytes held,
 *             generic.current_allocated_bytes in use
 *   mimalloc  mi_process_info(): current commit held (in use: the live heap)
 *
 * The calls run with the thread's busy flag set: whatever they allocate is
 * the shim's business, not the program's.
 */
#include "shim.h"
#include "membreak.h"

#include <dlfcn.h>
#include <malloc.h>
#include <string.h>

struct alloc_stats {
    int known;
    uint64_t resident, in_use;
};

static void *lookup(const char *name)
{
    return dlsym(RTLD_DEFAULT, name);
}

static void ask_glibc(struct alloc_stats *st)
{
    static struct mallinfo2 (*fn)(void);
    if (!fn && !(fn = (__typeof__(fn))lookup("mallinfo2")))
        return;
    struct mallinfo2 mi = fn();
    st->resident = mi.arena + mi.hblkhd;
    st->in_use = mi.uordblks + mi.hblkhd;
    st->known = 1;
}

static void ask_jemalloc(struct alloc_stats *st)
{
    static int (*fn)(const char *, void *, size_t *, void *, size_t);
    if (!fn && !(fn = (__typeof__(fn))lookup("mallctl")))
        return;
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    fn("epoch", &epoch, &sz, &epoch, sz); /* refreshes the statistics */
    size_t resident = 0, allocated = 0, len = sizeof(size_t);
    if (fn("stats.resident", &resident, &len, NULL, 0) ||
        fn("stats.allocated", &allocated, &len, NULL, 0))
        return;
    st->resident = resident;
    st->in_use = allocated;
    st->known = 1;
}

static void ask_tcmalloc(struct alloc_stats *st)
{
    static int (*fn)(const char *, size_t *);
    if (!fn && !(fn = (__typeof__(fn))lookup("MallocExtension_GetNumericProperty")))
        return;
    size_t heap = 0, unmapped = 0, allocated = 0;
    if (!fn("generic.heap_size", &heap) || !fn("generic.current_allocated_bytes", &allocated))
        return;
    fn("tcmalloc.pageheap_unmapped_bytes", &unmapped);
    st->resident = heap > unmapped ? heap - unmapped : 0;
    st->in_use = allocated;
    st->known = 1;
}

static void ask_mimalloc(struct alloc_stats *st)
{
    static void (*fn)(size_t *, size_t *, size_t *, size_t *, size_t *, size_t *, size_t *,
                      size_t *);
    if (!fn && !(fn = (__typeof__(fn))lookup("mi_process_info")))
        return;
    size_t elapsed, user, sys, rss, peak_rss, commit = 0, peak_commit, faults;
    fn(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
    st->resident = commit;
    st->in_use = 0; /* mimalloc does not count it: the live heap stands in */
    st->known = 1;
}

static void ask_allocator(const char *name, struct alloc_stats *st)
{
    static const struct {
        const char *name;
        void (*ask)(struct alloc_stats *);
    } askers[] = {
        {"glibc", ask_glibc},
        {"jemalloc", ask_jemalloc},
        {"tcmalloc", ask_tcmalloc},
        {"mimalloc", ask_mimalloc},
    };
    for (size_t i = 0; i < sizeof(askers) / sizeof(askers[0]); i++)
        if (!strcmp(name, askers[i].name)) {
            int busy = shim_tls.busy;
            shim_tls.busy = 1;
            askers[i].ask(st);
            shim_tls.busy = busy;
            return;
        }
}

static uint32_t fd_stack(int fd, void *arg)
{
    return shim_fd_stack(fd);
}

int shim_memory_emit(struct snap_writer *w, void *allocator)
{
    /* Static: the snapshot writer runs one snapshot at a time (its lock). */
    static struct mb_result result;
    static struct mb_region regions[SHIM_MAX_REGIONS];
    static struct mb_range tool[SHIM_ARENA_MAX_MAPS];
    const struct shim_range *ranges;
    long n_ranges = shim_arena_ranges(&ranges);
    if (n_ranges < 0)
        n_ranges = SHIM_ARENA_MAX_MAPS;
    size_t n_tool = 0;
    for (long i = 0; i < n_ranges; i++) {
        uint64_t end = __atomic_load_n(&ranges[i].end, __ATOMIC_ACQUIRE);
        if (end)
            tool[n_tool++] = (struct mb_range){ranges[i].start, end};
    }
    struct alloc_stats st = {0};
    ask_allocator(allocator ? allocator : "", &st);
    struct mb_input in = {.pid = 0,
                          .regions = regions,
                          .n_regions = shim_mmap_regions(regions, SHIM_MAX_REGIONS),
                          .tool = tool,
                          .n_tool = n_tool,
                          .live_heap = w->heap_live_bytes,
                          .alloc_known = st.known,
                          .alloc_resident = st.resident,
                          .alloc_in_use = st.in_use,
                          .fd_stack = fd_stack};
    mb_collect(&in, &result);
    return mb_emit(w, &result);
}
