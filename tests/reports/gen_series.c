/*
 * Test and benchmark input for `leakaudit report`: writes snapshot series
 * with the one writer in common/, whose stacks are REAL return addresses of
 * this very binary (built with -g and frame pointers) and whose module map is
 * this process's own /proc/self/maps with build-ids. So a report on them must
 * name the functions below and their exact file:line; the lines that tests
 * check are marked with comments (LEAK-SITE, INLINE-SITE, ...), and the test
 * scripts find them with grep.
 *
 * Values over time are synthetic (snapshots are stamped one --interval apart
 * without waiting), which is what lets one run cover a steady leak, a bounded
 * cache, churn, freed memory, fds, mmaps, corruption and losses.
 *
 *   gen_series SCENARIO OUTDIR [--snaps N] [--tracer] [--sampled] [--series NAME]
 *              [--fake-module PATH] (the synthetic shim module's path)
 *     mixed    leak + plateau + churn + freed + folded stacks, fds, mmaps,
 *              corruption, loss counters
 *     clean    plateau + churn + freed only, no losses
 *     hostile  a leak through a function whose symbol is an HTML payload
 *     multi    two series (alpha, beta) in one directory
 *     bench    --stacks N --allocs M: M live allocations in N distinct stacks
 *     week     --stacks N [--interval-s S] [--sim]: seven days of snapshots S
 *              seconds apart (default 10), a slow leak in one stack and a
 *              one-hour spike on day 3 (the peak), with the default retention
 *              applied after each snapshot as the shim does (retention.h);
 *              --sim writes only the snapshots retention keeps
 *     idswap   two stacks whose ids trade places from one snapshot to the
 *              next (the format promises ids unique only within a file):
 *              100 B live in one, 5000 B in the other, constant
 *   gen_series heaptrack-workload --stacks N --allocs M --snaps R
 *              really malloc()s the same way along the same stacks (for
 *              heaptrack in bench/report.sh)
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modmap.h"
#include "retention.h"
#include "snapshot.h"

#define MAX_STACKS      65536
#define MINUTE_NS       60000000000ull
#define FAKE_SHIM_START 0x100000000ull /* a module address nothing real uses */
#define FAKE_SHIM_END   0x100010000ull

extern char __executable_start[], etext[];

struct stack {
    uint32_t depth;
    uint64_t frames[SNAP_MAX_STACK_DEPTH];
};

static struct stack *g_stacks;
static uint32_t g_n_stacks;
static int g_malloc_mode; /* heaptrack-workload: really allocate */
static size_t g_malloc_size;
static uint64_t g_prepend[2]; /* synthetic inner frames (allocator/shim) */
static int g_n_prepend;
/* --fake-module PATH: where the synthetic shim module claims to live */
static const char *g_fake_module = "/opt/leakaudit/lib/libleakaudit.so";

/*
 * Plays the shim's part: frame 0 is the return address in the function that
 * called us (the "malloc caller"), deeper frames come from the frame-pointer
 * chain, up to and including main. Returns the new stack id.
 */
__attribute__((noinline)) uint32_t gen_record_alloc(void)
{
    if (g_malloc_mode) {
        /* heaptrack sees this malloc with the same call chain */
        void *p = malloc(g_malloc_size);
        __asm__ volatile("" : : "r"(p) : "memory");
        return 0;
    }
    if (g_n_stacks == MAX_STACKS)
        return 0;
    struct stack *s = &g_stacks[g_n_stacks];
    s->depth = 0;
    for (int i = 0; i < g_n_prepend; i++)
        s->frames[s->depth++] = g_prepend[i];
    s->frames[s->depth++] = (uint64_t)(uintptr_t)__builtin_return_address(0);
    void **fp = __builtin_frame_address(0);
    fp = fp[0]; /* the caller's frame */
    while (fp && s->depth < SNAP_MAX_STACK_DEPTH) {
        char *ret = fp[1];
        if (ret < __executable_start || ret >= etext)
            break; /* left this binary (libc's start code has no frame pointers) */
        s->frames[s->depth++] = (uint64_t)(uintptr_t)ret;
        void **next = fp[0];
        if (next <= fp)
            break;
        fp = next;
    }
    return ++g_n_stacks;
}

/* ---- the planted call sites ---- */

__attribute__((noinline)) static uint32_t leaky_decode_frame(int marker)
{
    if (marker < 0)
        return 0;
    return gen_record_alloc(); /* LEAK-SITE */
}

__attribute__((noinline)) static uint32_t process_image(void)
{
    return leaky_decode_frame(1); /* LEAK-CALLER */
}

static inline __attribute__((always_inline)) uint32_t cache_slot_alloc(void)
{
    return gen_record_alloc(); /* INLINE-SITE */
}

__attribute__((noinline)) static uint32_t cache_insert(void)
{
    return cache_slot_alloc(); /* CACHE-CALL */
}

__attribute__((noinline)) static uint32_t per_frame_scratch(void)
{
    return gen_record_alloc(); /* CHURN-SITE */
}

__attribute__((noinline)) static uint32_t startup_table(void)
{
    return gen_record_alloc(); /* FREED-SITE */
}

__attribute__((noinline)) static uint32_t folded_site(void)
{
    return gen_record_alloc(); /* FOLDED-SITE */
}

__attribute__((noinline)) static uint32_t dup_buffer_fd(void)
{
    return gen_record_alloc(); /* FD-SITE */
}

__attribute__((noinline)) static uint32_t map_frame_buffer(void)
{
    return gen_record_alloc(); /* MMAP-SITE */
}

__attribute__((noinline)) static uint32_t alloc_jpeg_block(void)
{
    return gen_record_alloc(); /* CORRUPT-ALLOC-SITE */
}

__attribute__((noinline)) static uint32_t vendor_runtime_write(void)
{
    return gen_record_alloc(); /* CORRUPT-ACCESS-SITE */
}

uint32_t hostile_entry(void); /* fixture_hostile.c */

/* ---- bench: many distinct real stacks ----
 * NFN functions, each with 16 distinct call sites chosen by the path digits,
 * give up to 16^levels distinct call chains with ~NFN*17 return addresses. */
#define NFN 32
typedef uint32_t (*tree_fn)(int level, unsigned path);
static tree_fn g_tree[NFN];

// clang-format off (it does not settle on one layout for these lists)
#define TREE_CALL(k)                                                                               \
    case k:                                                                                        \
        return g_tree[(path * 7u + k) % NFN](level - 1, path / 16);
#define TREE_FN(n)                                                                                 \
    __attribute__((noinline)) static uint32_t tree_##n(int level, unsigned path)                   \
    {                                                                                              \
        if (level == 0)                                                                            \
            return gen_record_alloc();                                                             \
        switch (path % 16) {                                                                       \
            TREE_CALL(0)                                                                           \
            TREE_CALL(1)                                                                           \
            TREE_CALL(2)                                                                           \
            TREE_CALL(3)                                                                           \
            TREE_CALL(4)                                                                           \
            TREE_CALL(5)                                                                           \
            TREE_CALL(6)                                                                           \
            TREE_CALL(7)                                                                           \
            TREE_CALL(8)                                                                           \
            TREE_CALL(9)                                                                           \
            TREE_CALL(10)                                                                          \
            TREE_CALL(11)                                                                          \
            TREE_CALL(12)                                                                          \
            TREE_CALL(13)                                                                          \
            TREE_CALL(14)                                                                          \
        default:                                                                                   \
            TREE_CALL(15)                                                                          \
        }                                                                                          \
    }
TREE_FN(0)
TREE_FN(1)
TREE_FN(2)
TREE_FN(3)
TREE_FN(4)
TREE_FN(5)
TREE_FN(6)
TREE_FN(7)
TREE_FN(8)
TREE_FN(9)
TREE_FN(10)
TREE_FN(11)
TREE_FN(12)
TREE_FN(13)
TREE_FN(14)
TREE_FN(15)
TREE_FN(16)
TREE_FN(17)
TREE_FN(18)
TREE_FN(19)
TREE_FN(20)
TREE_FN(21)
TREE_FN(22)
TREE_FN(23)
TREE_FN(24)
TREE_FN(25)
TREE_FN(26)
TREE_FN(27)
TREE_FN(28)
TREE_FN(29)
TREE_FN(30)
TREE_FN(31)
// clang-format on

static void tree_init(void)
{
    tree_fn fns[NFN] = {tree_0,  tree_1,  tree_2,  tree_3,  tree_4,  tree_5,  tree_6,  tree_7,
                        tree_8,  tree_9,  tree_10, tree_11, tree_12, tree_13, tree_14, tree_15,
                        tree_16, tree_17, tree_18, tree_19, tree_20, tree_21, tree_22, tree_23,
                        tree_24, tree_25, tree_26, tree_27, tree_28, tree_29, tree_30, tree_31};
    memcpy(g_tree, fns, sizeof(fns));
}

#define TREE_LEVELS 4 /* 16^4 = 65536 distinct chains */

__attribute__((noinline)) static uint32_t tree_stack(unsigned s)
{
    return g_tree[s % NFN](TREE_LEVELS, s);
}

/* ---- writing ---- */

struct series_cfg {
    const char *dir, *name;
    int pid;
    uint32_t n_snaps;
    int tracer, sampled;
    uint64_t interval_ns; /* between snapshots; default one minute */
};

static int write_module(const struct snap_module *m, void *arg)
{
    return snap_write_module(arg, m);
}

static int open_snapshot(struct snap_writer *w, const struct series_cfg *c, uint32_t i)
{
    char name[256];
    snprintf(name, sizeof(name), "%s.%06u.snap", c->name, i);
    int rc = snap_writer_open(w, c->dir, name);
    if (rc < 0)
        return rc;
    static const uint64_t base = 1700000000ull * 1000000000ull;
    struct snap_header h = {0};
    h.source = c->tracer ? SNAP_SOURCE_TRACER : SNAP_SOURCE_SHIM;
    h.mode = c->sampled ? SNAP_MODE_SAMPLED : SNAP_MODE_FULL;
    h.unwind = SNAP_UNWIND_FP;
    h.trigger = i + 1 == c->n_snaps ? SNAP_TRIGGER_EXIT : SNAP_TRIGGER_INTERVAL;
    h.seq = i;
    h.pid = c->pid;
    h.ppid = 1;
    h.sample_period = c->sampled ? 524288 : 0;
    h.start_time_ns = base - MINUTE_NS / 2;
    uint64_t step = c->interval_ns ? c->interval_ns : MINUTE_NS;
    h.snapshot_time_ns = base + i * step;
    h.monotonic_ns = 1000 * MINUTE_NS + i * step;
    h.rss_bytes = (64ull << 20) + i * (1ull << 20);
    if (readlink("/proc/self/exe", h.exe, sizeof(h.exe) - 1) < 0)
        strcpy(h.exe, "gen_series");
    snprintf(h.series, sizeof(h.series), "%s", c->name);
    strcpy(h.allocator, "glibc");
    strcpy(h.hostname, "testhost");
    snap_write_header(w, &h);
    snap_begin_section(w, SNAP_SEC_MODULES);
    modmap_foreach(0, write_module, w);
    struct snap_module fake = {
        .start = FAKE_SHIM_START, .end = FAKE_SHIM_END, .path = (char *)g_fake_module};
    snap_write_module(w, &fake);
    snap_end_section(w);
    snap_begin_section(w, SNAP_SEC_STACKS);
    for (uint32_t s = 0; s < g_n_stacks; s++)
        snap_write_stack(w, s + 1, g_stacks[s].frames, g_stacks[s].depth);
    snap_end_section(w);
    return w->error;
}

static void heap(struct snap_writer *w, uint32_t id, uint64_t bytes, uint64_t count, int est)
{
    struct snap_heap_entry e = {.stack_id = id,
                                .live_bytes = bytes,
                                .live_count = count,
                                .total_bytes = bytes * 2,
                                .total_count = count * 2,
                                .freed_bytes = bytes,
                                .freed_count = count,
                                .flags = est ? SNAP_HEAP_ESTIMATED : 0};
    snap_write_heap(w, &e);
}

static int finish(struct snap_writer *w)
{
    int rc = snap_writer_commit(w);
    if (rc < 0)
        fprintf(stderr, "gen_series: writing %s: %s\n", w->final_path, strerror(-rc));
    return rc;
}

static int scenario_mixed(const struct series_cfg *c, int clean, int hostile)
{
    uint32_t leak = hostile ? hostile_entry() : process_image();
    uint32_t plateau = cache_insert();
    uint32_t churn = per_frame_scratch();
    uint32_t freed = startup_table();
    g_prepend[0] = FAKE_SHIM_START + 0x1234;
    void *libc_malloc = dlsym(RTLD_DEFAULT, "malloc");
    g_prepend[1] = (uint64_t)(uintptr_t)libc_malloc + 16;
    g_n_prepend = 2;
    uint32_t folded = folded_site();
    g_n_prepend = 0;
    uint32_t fdst = dup_buffer_fd();
    uint32_t mm = map_frame_buffer();
    uint32_t calloc_ = alloc_jpeg_block();
    uint32_t caccess = vendor_runtime_write();
    struct snap_writer *w = malloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    for (uint32_t i = 0; i < c->n_snaps; i++) {
        int rc = open_snapshot(w, c, i);
        if (rc < 0) {
            fprintf(stderr, "gen_series: %s: %s\n", c->dir, strerror(-rc));
            free(w);
            return rc;
        }
        snap_begin_section(w, SNAP_SEC_HEAP);
        if (!clean)
            heap(w, leak, (1ull << 20) * (i + 1), 16 * (i + 1), c->sampled);
        uint32_t pi = i < 4 ? i + 1 : 4;
        heap(w, plateau, 262144ull * pi, 64 * pi, c->sampled);
        uint64_t jitter = (i * 2654435761u) % 131072;
        heap(w, churn, 524288 + jitter, 100 + jitter % 7, c->sampled);
        heap(w, freed, i < 3 ? 65536ull * (i + 1) : 0, i < 3 ? i + 1 : 0, c->sampled);
        if (!clean)
            heap(w, folded, 4096ull * (i + 1), i + 1, c->sampled);
        snap_end_section(w);
        if (!clean) {
            snap_begin_section(w, SNAP_SEC_FDS);
            for (uint32_t k = 0; k < 2 * (i + 1); k++) {
                struct snap_fd_entry e = {.fd = 400 + (int)k,
                                          .kind = SNAP_FD_DMABUF,
                                          .origin = SNAP_FDO_DUP,
                                          .stack_id = fdst,
                                          .created_ns =
                                              1700000000ull * 1000000000ull + (k / 2) * MINUTE_NS,
                                          .source_fd = 447,
                                          .target = "/dmabuf:camera-buf"};
                snap_write_fd(w, &e);
            }
            for (int k = 0; k < 3; k++) {
                struct snap_fd_entry e = {.fd = 3 + k,
                                          .kind = SNAP_FD_SOCKET,
                                          .origin = SNAP_FDO_PREEXISTING,
                                          .source_fd = -1,
                                          .target = "socket:[12345]"};
                snap_write_fd(w, &e);
            }
            snap_end_section(w);
            snap_begin_section(w, SNAP_SEC_MMAPS);
            for (int k = 0; k < 2; k++) {
                struct snap_mmap_entry e = {.addr = 0x7f0000000000ull + (uint64_t)k * 0x400000,
                                            .len = 4 << 20,
                                            .prot = 3,
                                            .flags = 1,
                                            .fd = 447,
                                            .kind = SNAP_MMAP_DMABUF,
                                            .stack_id = mm,
                                            .path = "/dmabuf:camera-buf"};
                snap_write_mmap(w, &e);
            }
            snap_end_section(w);
            if (i >= c->n_snaps / 2) {
                snap_begin_section(w, SNAP_SEC_CORRUPTION);
                struct snap_corruption e = {.kind = SNAP_CORR_OVERFLOW,
                                            .tid = 4242,
                                            .addr = 0x5555aaaa0000ull,
                                            .block_size = 2880,
                                            .offset = 2880,
                                            .time_ns = 1700000123000000000ull,
                                            .alloc_stack = calloc_,
                                            .access_stack = caccess,
                                            .bytes_len = 4,
                                            .bytes = {0xde, 0xad, 0xbe, 0xef},
                                            .detail = "guard bytes after the block overwritten"};
                snap_write_corruption(w, &e);
                snap_end_section(w);
            }
            snap_begin_section(w, SNAP_SEC_LOSSES);
            snap_write_loss(w, "dropped_events", 7);
            snap_write_loss(w, "fd_unattributed", 3);
            snap_write_loss(w, "stack_table_full", 0);
            snap_end_section(w);
        }
        if (finish(w) < 0) {
            free(w);
            return -EIO;
        }
    }
    free(w);
    return 0;
}

static int scenario_bench(const struct series_cfg *c, uint32_t n_stacks, uint64_t n_allocs)
{
    tree_init();
    uint32_t *ids = malloc(n_stacks * sizeof(*ids));
    struct snap_writer *w = malloc(sizeof(*w));
    if (!ids || !w)
        return -ENOMEM;
    for (uint32_t s = 0; s < n_stacks; s++)
        ids[s] = tree_stack(s);
    uint64_t per_snap = n_allocs / c->n_snaps;
    for (uint32_t i = 0; i < c->n_snaps; i++) {
        int rc = open_snapshot(w, c, i);
        if (rc < 0)
            return rc;
        uint64_t done = i + 1 == c->n_snaps ? n_allocs : per_snap * (i + 1);
        snap_begin_section(w, SNAP_SEC_HEAP);
        for (uint32_t s = 0; s < n_stacks; s++) {
            uint64_t count = done / n_stacks + (s < done % n_stacks);
            heap(w, ids[s], count * (32 + (s % 64) * 16), count, 0);
        }
        snap_end_section(w);
        if (finish(w) < 0)
            return -EIO;
    }
    free(ids);
    free(w);
    return 0;
}

static int scenario_idswap(struct series_cfg *c)
{
    tree_init();
    uint32_t a = tree_stack(1), b = tree_stack(2); /* ids 1 and 2 in g_stacks */
    struct stack sa = g_stacks[a - 1], sb = g_stacks[b - 1];
    struct snap_writer *w = malloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    for (uint32_t i = 0; i < c->n_snaps; i++) {
        int swap = i % 2;
        g_stacks[a - 1] = swap ? sb : sa;
        g_stacks[b - 1] = swap ? sa : sb;
        int rc = open_snapshot(w, c, i);
        if (rc < 0)
            return rc;
        snap_begin_section(w, SNAP_SEC_HEAP);
        heap(w, swap ? b : a, 100, 1, 0);  /* stack A */
        heap(w, swap ? a : b, 5000, 5, 0); /* stack B */
        snap_end_section(w);
        if (finish(w) < 0)
            return -EIO;
    }
    free(w);
    return 0;
}

static void week_retire(uint32_t seq, void *arg)
{
    const struct series_cfg *c = arg;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.%06u.snap", c->dir, c->name, seq);
    unlink(path);
}

static void week_forget(uint32_t seq, void *arg)
{
}

#define WEEK_SEC (7 * 86400ull)
#define SPIKE_AT (3 * 86400ull)

/* Snapshot i of the week: a slow leak in stack 0 (a block every 10 min), a
 * one-hour spike in stack 1 on day 3, the rest stable. */
static int week_snapshot(struct snap_writer *w, const struct series_cfg *c, const uint32_t *ids,
                         uint32_t n_stacks, uint32_t i, uint64_t interval_s)
{
    int rc = open_snapshot(w, c, i);
    if (rc < 0)
        return rc;
    uint64_t t_s = i * interval_s;
    int spike = t_s >= SPIKE_AT && t_s < SPIKE_AT + 3600;
    snap_begin_section(w, SNAP_SEC_HEAP);
    for (uint32_t s = 0; s < n_stacks; s++) {
        uint64_t count = 10 + (s % 7);
        if (s == 0)
            count += t_s / 600;
        if (s == 1 && spike)
            count += 100000;
        heap(w, ids[s], count * 64, count, 0);
    }
    snap_end_section(w);
    return finish(w) < 0 ? -EIO : 0;
}

/*
 * Seven days at interval_s with the default retention applied after every
 * snapshot. Without --sim every snapshot is written and retention deletes
 * files as the shim would; with --sim (time compression) the decisions are
 * taken on the sizes the files would have -- every snapshot of the week has
 * the same layout, so snapshot 0's size and each one's live bytes are
 * exact -- and only the survivors are written.
 */
static int scenario_week(struct series_cfg *c, uint32_t n_stacks, uint64_t interval_s, int sim)
{
    tree_init();
    c->interval_ns = interval_s * 1000000000ull;
    c->n_snaps = (uint32_t)(WEEK_SEC / interval_s);
    uint32_t *ids = malloc(n_stacks * sizeof(*ids));
    struct snap_writer *w = malloc(sizeof(*w));
    struct retain_entry *table = calloc(RETAIN_DEFAULT_TABLE_CAP, sizeof(*table));
    if (!ids || !w || !table)
        return -ENOMEM;
    for (uint32_t s = 0; s < n_stacks; s++)
        ids[s] = tree_stack(s);
    struct retain_state rs = {.e = table, .cap = RETAIN_DEFAULT_TABLE_CAP};
    struct retain_policy pol;
    retain_policy_default(&pol);
    uint64_t peak_seq = 0, peak_live = 0, size0 = 0;
    for (uint32_t i = 0; i < c->n_snaps; i++) {
        uint64_t live, bytes;
        if (!sim || i == 0) {
            int rc = week_snapshot(w, c, ids, n_stacks, i, interval_s);
            if (rc < 0)
                return rc;
            live = w->heap_live_bytes;
            bytes = size0 = w->offset;
        } else {
            uint64_t t_s = i * interval_s;
            live = 0;
            for (uint32_t s = 0; s < n_stacks; s++) {
                uint64_t count = 10 + (s % 7);
                if (s == 0)
                    count += t_s / 600;
                if (s == 1 && t_s >= SPIKE_AT && t_s < SPIKE_AT + 3600)
                    count += 100000;
                live += count * 64;
            }
            bytes = size0;
        }
        if (live > peak_live)
            peak_live = live, peak_seq = i;
        struct retain_entry e = {.seq = i,
                                 .time_ns = 1700000000ull * 1000000000ull +
                                            (uint64_t)i * interval_s * 1000000000ull,
                                 .bytes = bytes,
                                 .live_bytes = live};
        retain_add(&rs, &pol, &e, sim ? week_forget : week_retire, c);
    }
    for (size_t k = 0; sim && k < rs.n; k++) {
        if (rs.e[k].seq == 0)
            continue; /* written in the first pass */
        int rc = week_snapshot(w, c, ids, n_stacks, rs.e[k].seq, interval_s);
        if (rc < 0)
            return rc;
    }
    printf("week: %u snapshots %s, %zu kept (%llu bytes), peak #%llu\n", c->n_snaps,
           sim ? "simulated" : "written", rs.n, (unsigned long long)rs.bytes,
           (unsigned long long)peak_seq);
    free(ids);
    free(w);
    free(table);
    return 0;
}

static int heaptrack_workload(uint32_t n_stacks, uint64_t n_allocs, uint32_t rounds)
{
    tree_init();
    g_malloc_mode = 1;
    uint64_t per_round = n_allocs / rounds, done = 0;
    for (uint32_t r = 0; r < rounds; r++) {
        uint64_t end = r + 1 == rounds ? n_allocs : per_round * (r + 1);
        for (; done < end; done++) {
            unsigned s = (unsigned)(done % n_stacks);
            g_malloc_size = 32 + (s % 64) * 16;
            tree_stack(s);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 && !(argc >= 2 && !strcmp(argv[1], "heaptrack-workload"))) {
        fprintf(stderr, "usage: gen_series mixed|clean|hostile|multi|bench|week OUTDIR [options]\n"
                        "       gen_series heaptrack-workload [--stacks N --allocs M --snaps R]\n");
        return 2;
    }
    struct series_cfg c = {
        .dir = argc > 2 ? argv[2] : ".", .name = argv[1], .pid = 4242, .n_snaps = 12};
    uint32_t n_stacks = 20000;
    uint64_t n_allocs = 1000000, interval_s = 0;
    int given_snaps = 0, sim = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--tracer"))
            c.tracer = 1;
        else if (!strcmp(argv[i], "--sampled"))
            c.sampled = 1;
        else if (!strcmp(argv[i], "--snaps") && i + 1 < argc)
            c.n_snaps = (uint32_t)atoi(argv[++i]), given_snaps = 1;
        else if (!strcmp(argv[i], "--series") && i + 1 < argc)
            c.name = argv[++i];
        else if (!strcmp(argv[i], "--stacks") && i + 1 < argc)
            n_stacks = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--allocs") && i + 1 < argc)
            n_allocs = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--pid") && i + 1 < argc)
            c.pid = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sim"))
            sim = 1;
        else if (!strcmp(argv[i], "--interval-s") && i + 1 < argc)
            interval_s = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--fake-module") && i + 1 < argc)
            g_fake_module = argv[++i];
    }
    if (!strcmp(argv[1], "heaptrack-workload")) {
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--stacks") && i + 1 < argc)
                n_stacks = (uint32_t)atoi(argv[++i]);
            else if (!strcmp(argv[i], "--allocs") && i + 1 < argc)
                n_allocs = strtoull(argv[++i], NULL, 10);
            else if (!strcmp(argv[i], "--snaps") && i + 1 < argc)
                c.n_snaps = (uint32_t)atoi(argv[++i]);
        }
        return heaptrack_workload(n_stacks ? n_stacks : 1, n_allocs, c.n_snaps ? c.n_snaps : 1);
    }
    if (c.n_snaps == 0 || n_stacks == 0 || n_stacks > MAX_STACKS) {
        fprintf(stderr, "gen_series: bad --snaps or --stacks\n");
        return 2;
    }
    g_stacks = calloc(MAX_STACKS, sizeof(*g_stacks));
    if (!g_stacks)
        return 1;
    int rc;
    if (!strcmp(argv[1], "mixed"))
        rc = scenario_mixed(&c, 0, 0);
    else if (!strcmp(argv[1], "clean"))
        rc = scenario_mixed(&c, 1, 0);
    else if (!strcmp(argv[1], "hostile"))
        rc = scenario_mixed(&c, 0, 1);
    else if (!strcmp(argv[1], "multi")) {
        struct series_cfg a = c, b = c;
        a.name = "alpha";
        a.pid = 100;
        b.name = "beta";
        b.pid = 200;
        rc = scenario_mixed(&a, 1, 0);
        g_n_stacks = 0;
        if (rc == 0)
            rc = scenario_mixed(&b, 0, 0);
    } else if (!strcmp(argv[1], "idswap")) {
        rc = scenario_idswap(&c);
    } else if (!strcmp(argv[1], "week")) {
        rc = scenario_week(&c, n_stacks, interval_s ? interval_s : 10, sim);
    } else if (!strcmp(argv[1], "bench")) {
        if (!given_snaps)
            c.n_snaps = 30;
        rc = scenario_bench(&c, n_stacks, n_allocs);
    } else {
        fprintf(stderr, "gen_series: unknown scenario '%s'\n", argv[1]);
        return 2;
    }
    free(g_stacks);
    return rc < 0 ? 1 : 0;
}
