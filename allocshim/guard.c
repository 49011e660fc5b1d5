/*
 * Heap-corruption guard mode (LEAKAUDIT_GUARD=canary|pages|both): finds the
 * code that corrupts the heap instead of the innocent malloc that crashes
 * later.
 *
 *  canary   every block gets redzones (32 bytes before: a tagged header and
 *           16 pattern bytes; 16+ pattern bytes after). They are checked when
 *           the block is freed or reallocated and by a periodic scan of all
 *           live blocks. Freed blocks are poisoned (first and last 256 bytes) and held in a
 * quarantine (LEAKAUDIT_QUARANTINE bytes) before the real free; a changed poison byte at eviction
 * or scan is a use-after-free write. Double frees and frees of pointers this heap never returned
 *           (interior, stack, global, wild) are caught before the real
 *           allocator sees them, and so are new/delete[] mismatches.
 *  pages    GWP-ASan style: 1 in LEAKAUDIT_GUARD_SAMPLE blocks (<= 1 page)
 *           get their own page next to an inaccessible one, aligned to its
 *           right or left edge; freed slots are made inaccessible. The
 *           SIGSEGV handler names the faulting access -- the writer's stack
 *           -- and the block's allocation and free stacks.
 *
 * Policy (LEAKAUDIT_GUARD_POLICY): abort (default: report on stderr, write a
 * snapshot with the event, then abort / re-raise) or log (report, record and
 * continue where that is safe: a bad free is skipped, a guard page is opened).
 *
 * Every event goes into the snapshot's corruption section with stack ids;
 * `leakaudit report` symbolizes them. The stderr block gives raw addresses
 * only: symbolizing inside a corrupted process is not safe.
 *
 * This file: init, the hooks' entry points (alloc, free, realloc), the
 * periodic scan, fork. The parts, by concern, share guard_int.h:
 * guard_report.c (events, policy), guard_canary.c (redzones, poison),
 * guard_quarantine.c (freed canary blocks), guard_pages.c (slots, SIGSEGV).
 */
#include "guard_int.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

uint64_t guard_secret;
uint8_t guard_pat_live, guard_pat_free;
uint8_t guard_pat_table[2 * PAT_PERIOD];
uint8_t guard_poison_ref[2 * SHIM_GUARD_POISON_DEFAULT];

void shim_guard_init(void)
{
    if (getrandom(&guard_secret, sizeof(guard_secret), GRND_NONBLOCK) != sizeof(guard_secret))
        guard_secret = util_monotonic_ns() * 0x9e3779b97f4a7c15ull;
    guard_secret |= 1;
    guard_pat_live = (uint8_t)(0xa5 ^ (guard_secret >> 8));
    guard_pat_free = (uint8_t)(0x5a ^ (guard_secret >> 16));
    if (guard_pat_free == guard_pat_live)
        guard_pat_free ^= 0xff;
    for (int i = 0; i < PAT_PERIOD; i++) {
        uint8_t b =
            (uint8_t)(guard_pat_live ^ (uint8_t)(i * 0x9d) ^ (uint8_t)(guard_secret >> (i % 56)));
        if (b == guard_pat_free)
            b ^= 0x80;
        guard_pat_table[i] = guard_pat_table[i + PAT_PERIOD] = b;
    }
    memset(guard_poison_ref, guard_pat_free, sizeof(guard_poison_ref));
    guard_quarantine_init();
    if (shim_cfg.guard & SHIM_GUARD_PAGES)
        guard_pages_init();
    shim_guard_pages_only = shim_cfg.guard == SHIM_GUARD_PAGES;
}

uint64_t shim_guard_scan_interval_ms(void)
{
    return shim_cfg.guard ? shim_cfg.guard_scan_ms : 0;
}

/* ---- the hooks' entry points ---- */

static inline __attribute__((always_inline)) uint32_t stack_here(void *frame, void *ret)
{
    return shim_tls.busy ? SNAP_STACK_NONE : shim_capture_stack_id(frame, ret);
}

/* The caller's stack, walked as the hook found the busy flag. */
static inline __attribute__((always_inline)) uint32_t caller_stack(int was_busy, void *frame,
                                                                   void *ret)
{
    shim_tls.busy = was_busy;
    uint32_t id = stack_here(frame, ret);
    shim_tls.busy = 1;
    return id;
}

/* Records a guard block in the heap table with its allocation stack. */
static inline __attribute__((always_inline)) void
insert_block(void *p, size_t size, int kind, uint32_t flags, int was_busy, uint32_t id)
{
    /* The flags go in with the record: set after it, a periodic scan in
     * another thread could find a guard-page block without SHIM_BLOCK_PAGE
     * and check it for canaries it never had (a false heap-buffer-underflow
     * at offset -32, seen under load in `make check`). */
    shim_heap_on_alloc_weighted(
        p, size, id, kind, !(flags & SHIM_BLOCK_PAGE) && shim_cfg.mode == SNAP_MODE_SAMPLED, flags);
    if (!was_busy)
        shim_alloc_tick(); /* snapshots and the redzone scan without a thread */
}

static inline __attribute__((always_inline)) void
record_block(void *p, size_t size, int kind, uint32_t flags, int was_busy, void *frame, void *ret)
{
    int saved = errno;
    insert_block(p, size, kind, flags, was_busy, caller_stack(was_busy, frame, ret));
    errno = saved;
}

/* Allocations until the next page slot: uniform in [1, 2N - 1] (mean N,
 * LEAKAUDIT_GUARD_SAMPLE), not every N-th -- a program that allocates a
 * multiple of N blocks per iteration would otherwise have the same
 * allocation site sampled every time and the others never. */
static int32_t next_page_distance(void)
{
    uint64_t n = shim_cfg.guard_sample;
    return n <= 1 ? 1 : (int32_t)(1 + shim_rand() % (2 * n - 1));
}

/* The countdown reached zero: is this block of size bytes sampled? A
 * thread's first allocation is not (the countdown starts at 0): it draws
 * its first distance instead. A block outside LEAKAUDIT_GUARD_SIZE is not
 * either, and the countdown stays due: the next block in range is taken. */
static int page_sample_due(size_t size)
{
    int in_range = size >= shim_cfg.guard_min_size && size <= shim_cfg.guard_max_size;
    if (SHIM_UNLIKELY(!shim_tls.page_started)) {
        shim_tls.page_started = 1;
        shim_tls.page_countdown = next_page_distance();
        return shim_cfg.guard_sample <= 1 && in_range;
    }
    if (!in_range) {
        shim_tls.page_countdown = 0;
        return 0;
    }
    shim_tls.page_countdown = next_page_distance();
    return 1;
}

static inline int take_page_sample(size_t size)
{
    if (--shim_tls.page_countdown > 0)
        return 0;
    return page_sample_due(size);
}

/* The hooks have already counted this allocation down to zero. */
void *shim_guard_page_try_alloc(size_t size, size_t align, int kind, int zero, void *frame,
                                void *ret)
{
    if (!page_sample_due(size) || shim_tls.busy)
        return NULL;
    shim_tls.busy = 1;
    guard_install_handler();
    void *p = guard_page_alloc(size, align, zero);
    if (p)
        record_block(p, size, kind, SHIM_BLOCK_PAGE, 0, frame, ret);
    shim_tls.busy = 0;
    return p;
}

void *shim_guard_alloc(size_t size, size_t align, int kind, int zero, void *frame, void *ret)
{
    int was_busy = shim_tls.busy;
    shim_tls.busy = 1;
    void *p = NULL;
    if ((shim_cfg.guard & SHIM_GUARD_PAGES) && !was_busy && take_page_sample(size)) {
        guard_install_handler();
        p = guard_page_alloc(size, align, zero);
        if (p)
            record_block(p, size, kind, SHIM_BLOCK_PAGE, was_busy, frame, ret);
    }
    if (!p) {
        struct quarantined rec;
        uintptr_t user = guard_canary_take(size, align, &rec);
        if (user) {
            /* A recycled block's poison is still loading: walk the stack
             * before checking it. */
            int saved = errno;
            uint32_t id = caller_stack(was_busy, frame, ret);
            guard_canary_arm(user, size, align, kind, zero, &rec);
            p = (void *)user;
            insert_block(p, size, kind, 0, was_busy, id);
            errno = saved;
        }
    }
    shim_tls.busy = was_busy;
    return p;
}

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case SHIM_KIND_NEW:
        return "operator new";
    case SHIM_KIND_NEW_ARRAY:
        return "operator new[]";
    default:
        return "malloc";
    }
}

static int kinds_match(uint32_t alloc, int free_kind)
{
    int a = alloc == SHIM_KIND_ALIGNED ? SHIM_KIND_MALLOC : (int)alloc;
    int f = free_kind == SHIM_KIND_ALIGNED ? SHIM_KIND_MALLOC : free_kind;
    return a == f;
}

void shim_guard_free(void *p, int kind, void *frame, void *ret)
{
    int was_busy = shim_tls.busy;
    struct shim_block_info info;
    uintptr_t u = (uintptr_t)p;
    /* A page block's record stays in the table (marked freed) while its slot
     * is in the freed window; a canary block's record moves to the
     * quarantine, where a double free finds it. */
    int page = guard_in_pool(u), st = SHIM_LOOKUP_NONE;
    if (!page) {
        shim_tls.busy = 1;
        st = shim_heap_take(p, &info);
        shim_tls.busy = was_busy;
        /* The lines guard_poison() will write are rarely in cache: start loading
         * them now, while the stack is walked and the redzones checked
         * (built for x86-64 without PRFCHW the write hint is a plain
         * prefetch: it still warms the lines). */
        if (st == SHIM_LOOKUP_LIVE && shim_cfg.quarantine_bytes)
            prefetch_poison_lines(u, info.size, 1);
    }
    uint32_t here = stack_here(frame, ret);
    shim_tls.busy = 1;
    if (page)
        st = shim_heap_mark_freed(p, here, &info);
    struct quarantined q;
    if (st == SHIM_LOOKUP_NONE && !page && guard_quarantine_find(u, &q)) {
        st = SHIM_LOOKUP_FREED;
        info = (struct shim_block_info){
            .size = q.size, .alloc_stack = q.alloc_stack, .free_stack = q.free_stack};
    }
    if (st == SHIM_LOOKUP_FREED) {
        struct snap_corruption c = {.kind = SNAP_CORR_DOUBLE_FREE,
                                    .addr = u,
                                    .block_size = info.size,
                                    .alloc_stack = info.alloc_stack,
                                    .free_stack = info.free_stack,
                                    .access_stack = here};
        guard_set_detail(&c, "freed again; the second free was skipped");
        guard_report(&c, "a block was freed twice", 1);
        shim_tls.busy = was_busy;
        return;
    }
    if (st == SHIM_LOOKUP_NONE) {
        struct snap_corruption c = {
            .kind = SNAP_CORR_INVALID_FREE, .addr = u, .access_stack = here};
        uintptr_t sp = (uintptr_t)&c;
        const char *where = "a pointer this heap never returned (interior, global or wild); "
                            "the free was skipped";
        if (shim_tls.stack_hi && u > sp && u < shim_tls.stack_hi)
            where = "a pointer into the stack; the free was skipped";
        guard_set_detail(&c, where);
        guard_report(&c, where, 1);
        shim_tls.busy = was_busy;
        return;
    }
    if (!was_busy && kind >= 0 && !kinds_match(info.kind, kind)) {
        struct snap_corruption c = {.kind = SNAP_CORR_MISMATCHED_FREE,
                                    .addr = u,
                                    .block_size = info.size,
                                    .alloc_stack = info.alloc_stack,
                                    .access_stack = here};
        char d[128];
        size_t n = util_strlcpy(d, "allocated with ", sizeof(d));
        n += util_strlcpy(d + n, kind_name(info.kind), sizeof(d) - n);
        n += util_strlcpy(d + n, ", released with ", sizeof(d) - n);
        util_strlcpy(d + n,
                     kind == SHIM_KIND_NEW         ? "delete"
                     : kind == SHIM_KIND_NEW_ARRAY ? "delete[]"
                                                   : "free",
                     sizeof(d) - n);
        guard_set_detail(&c, d);
        guard_report(&c, d, 1);
    }
    if (page) {
        guard_page_free(u, &info);
    } else {
        uint32_t flags = info.flags & SHIM_BLOCK_REPORTED;
        if (!flags && guard_check_canaries(u, &info, here, "found when the block was freed"))
            flags = SHIM_BLOCK_REPORTED;
        info.free_stack = here;
        guard_quarantine_push(u, &info, flags);
    }
    shim_tls.busy = was_busy;
}

void shim_guard_page_release(void *p, void *frame, void *ret)
{
    shim_guard_free(p, -1, frame, ret);
}

void *shim_guard_realloc(void *p, size_t size, void *frame, void *ret)
{
    if (!p)
        return shim_guard_alloc(size, 16, SHIM_KIND_MALLOC, 0, frame, ret);
    struct shim_block_info info;
    int st = shim_heap_lookup(p, &info);
    if (st != SHIM_LOOKUP_LIVE) {
        shim_guard_free(p, -1, frame, ret); /* reports a double or invalid free */
        errno = EINVAL;
        return NULL;
    }
    if (size == 0) {
        shim_guard_free(p, SHIM_KIND_MALLOC, frame, ret);
        return NULL;
    }
    void *q = shim_guard_alloc(size, 16, SHIM_KIND_MALLOC, 0, frame, ret);
    if (!q)
        return NULL; /* p stays valid, as realloc requires */
    memcpy(q, p, info.size < size ? info.size : size);
    shim_guard_free(p, -1, frame, ret);
    return q;
}

size_t shim_guard_usable_size(const void *p)
{
    if (guard_in_pool((uintptr_t)p)) /* false without a pool */
        return guard_page_usable_size((uintptr_t)p);
    struct shim_block_info info;
    return shim_heap_lookup(p, &info) == SHIM_LOOKUP_LIVE ? info.size : 0;
}

/* ---- periodic scan ---- */

static void scan_block(uintptr_t addr, const struct shim_block_info *info, void *arg)
{
    if (info->flags & (SHIM_BLOCK_REPORTED | SHIM_BLOCK_PAGE))
        return;
    size_t right = right_rz(info->size);
    if (check(addr - (LEFT_RZ - HEADER_BYTES), LEFT_RZ - HEADER_BYTES, guard_pat_live) ||
        header_of(addr)->tag != (guard_secret ^ addr) ||
        check(addr + info->size, right, guard_pat_live)) {
        uintptr_t *found = arg;
        if (!found[0])
            found[0] = addr;
    }
}

/* Live blocks' redzones, then the quarantine's poison. */
void shim_guard_scan(void)
{
    if (!(shim_cfg.guard & SHIM_GUARD_CANARY))
        return;
    /* Find the first corrupt block under the table's locks, report it after
     * (reporting may abort and must not hold a stripe lock). */
    uintptr_t found[1] = {0};
    shim_heap_foreach_block(scan_block, found);
    struct shim_block_info info;
    if (found[0] && shim_heap_lookup((void *)found[0], &info) == SHIM_LOOKUP_LIVE &&
        guard_check_canaries(found[0], &info, SNAP_STACK_NONE, "found by the periodic scan"))
        shim_heap_set_flag((void *)found[0], SHIM_BLOCK_REPORTED);
    struct quarantined q;
    uintptr_t bad;
    if (guard_scan_quarantine(&q, &bad))
        guard_report_uaf(&q, bad, "found by the periodic scan of the quarantine");
}

/* fork: the quarantine, the page slots and the event list must not be
 * caught mid-update by a fork, and a lock held by another thread would
 * stay held forever in the child (a Python test suite that forks while
 * another thread frees hung in quarantine_push). None of these sections
 * takes another of the three, so holding all of them across fork() cannot
 * deadlock. */
void shim_guard_fork_prepare(void)
{
    shim_spin_lock(&guard_event_lock);
    shim_spin_lock(&guard_slot_lock);
    shim_spin_lock(&guard_q_lock);
}

void shim_guard_fork_release(void)
{
    shim_spin_unlock(&guard_q_lock);
    shim_spin_unlock(&guard_slot_lock);
    shim_spin_unlock(&guard_event_lock);
}

void shim_guard_loss_counters(shim_loss_cb cb, void *arg)
{
    cb(SNAP_LOSS_CORRUPTION_EVENTS_DROPPED, guard_events_dropped(), arg);
    cb(SNAP_LOSS_GUARD_PAGE_SLOTS_FULL, guard_page_slots_full(), arg);
    cb(SNAP_LOSS_GUARD_SEGV_HANDLER_REPLACED, guard_segv_handler_replaced(), arg);
}

void shim_guard_snapshot(struct snap_writer *w)
{
    guard_write_events(w);
}
