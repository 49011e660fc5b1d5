/*
 * Internal interface of libleakaudit.so, the LD_PRELOAD shim. Nothing here is
 * exported from the library: only the interposed libc/C++ symbols are (see
 * exports.map). The pieces:
 *
 *   config.c        LEAKAUDIT_* environment -> shim_cfg (common/audit_options.c's table)
 *   init.c          bootstrap, symbol resolution, constructor, fork, exit
 *   arena.c         the shim's own memory (mmap), never the audited allocator
 *   unwind.c        stack capture: unwind tables from CFI (default), frame pointers, libunwind
 *   callsite.c      stack ids by call site: a hook called from the same frame again is not
 *                   unwound (per-thread memos in unwind.c's cache, unwind_int.h)
 *   stacks.c        the stack table, and stacks leaving it when nothing live names them
 *   heap.c          address table + per-stack counters, full and sampled modes
 *   malloc_hooks.c  the malloc family
 *   cxx_hooks.c     C++ operator new/delete
 *   fd_hooks.c      fd-creating and fd-closing calls, fd table
 *   mmap_hooks.c    mmap/munmap/mremap regions
 *   snapshot.c      writing snapshots (periodic thread, signal, exit)
 *   memory.c        the memory breakdown source (common/membreak.h) and the allocator's stats
 *   termsig.c       final snapshot on SIGINT/SIGTERM/SIGHUP deaths; sigaction/signal
 *   reach.c         reachability scan (valgrind's classes) at exit / on the signal
 *   guard.c         heap-corruption guard mode: init, the hooks' entry points, the scan;
 *                   its parts (guard_int.h): guard_report.c events and policy,
 *                   guard_canary.c redzones, guard_quarantine.c freed blocks,
 *                   guard_pages.c guard pages and the SIGSEGV handler
 *   resources.c     paired C-API resources: spec glue, wrappers, dlopen (imports
 *                   patched by common/got_patch.c); res_table.c the object table
 *                   (res_int.h between the two)
 *   exit_hooks.c    the atexit family: glibc's exit-handler lists left out of the exit scan
 *
 * Rules on the hot path (malloc/free): no allocation through the audited
 * allocator, no global lock per call, no recursion. A per-thread `busy` flag
 * makes every call that happens while the shim itself is working (including
 * allocations made by an allocator's operator new calling malloc, or by
 * dlsym/libunwind) go straight to the real function, untracked.
 */
#ifndef LEAKAUDIT_SHIM_H
#define LEAKAUDIT_SHIM_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit_options.h"
#include "snapshot.h"
#include "util.h"

/* Everything declared below lives in the shim: hidden, so the hooks reach its
 * data without a GOT load (the free fast path's bootstrap-arena test). */
#pragma GCC visibility push(hidden)

/* How a module hands its loss counters to the snapshot: by id (losses.h). */
typedef void (*shim_loss_cb)(enum snap_loss_id id, uint64_t value, void *arg);

#define SHIM_EXPORT      __attribute__((visibility("default")))
#define SHIM_LIKELY(x)   __builtin_expect(!!(x), 1)
#define SHIM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SHIM_TLS         __thread __attribute__((tls_model("initial-exec")))

/* Limits (docs/options.md); the settings' defaults are in common/audit_options.c. */
#define SHIM_MAX_FDS     (1 << 20)
#define SHIM_MAX_REGIONS 65536

#define SHIM_GUARD_CANARY AUDIT_GUARD_CANARY
#define SHIM_GUARD_PAGES  AUDIT_GUARD_PAGES
/* LEAKAUDIT_GUARD_POISON: bytes poisoned at each end of a freed canary block */
#define SHIM_GUARD_POISON_DEFAULT AUDIT_GUARD_POISON_DEFAULT

enum shim_alloc_kind {
    SHIM_KIND_MALLOC = 0,
    SHIM_KIND_NEW = 1,
    SHIM_KIND_NEW_ARRAY = 2,
    SHIM_KIND_ALIGNED = 3,
};

/* Root creates this file to let the shim audit setuid/setgid programs. */
#define SHIM_SECURE_ALLOW_FILE "/etc/leakaudit/allow-setuid"

/* Per-thread state. initial-exec TLS: reading it never allocates. */
struct shim_tls {
    int busy;                     /* inside the shim: pass everything through */
    int stack_known;              /* stack_hi computed for this thread */
    uintptr_t stack_hi;           /* highest address of this thread's stack */
    uintptr_t stack_lo;           /* lowest (main thread: top minus RLIMIT_STACK) */
    int64_t countdown;            /* sampled mode: bytes until the next sample */
    uint64_t rng;                 /* sampled mode: xorshift state */
    struct shim_node *free_nodes; /* per-thread cache of address-table nodes */
    uint32_t n_free_nodes;
    int32_t poll_countdown;      /* recorded allocations until the next snapshot poll */
    int32_t page_countdown;      /* guard pages: allocations until the next page slot */
    int page_started;            /* guard pages: this thread's first distance was drawn */
    uint32_t page_edges;         /* guard pages: blocks placed (3 of 4 at the right edge) */
    struct unw_cache *unw_cache; /* unwind.c: row cache and the previous capture */
    int unw_cache_gone;          /* the thread is exiting: its cache went back to the pool */
    int in_capture;              /* a capture is running (a signal handler's nested one) */
    uint32_t unw_site_bits;      /* callsite.c: log2 of the call-site memo sets in use (read on each
                                    capture: here, in a line the capture reads anyway) */
    int in_exit_registration;    /* exit_hooks.c: inside __cxa_atexit / atexit / on_exit */
    uintptr_t last_alloc; /* heap.c: ~ this thread's latest tracked block (temporaries; ~ hides it
                             from the scan) */
    int *errno_at;        /* this thread's errno (shim_record_alloc: no __errno_location call) */
};

extern struct audit_config shim_cfg; /* common/audit_options.h */
extern SHIM_TLS struct shim_tls shim_tls;
/* The calling thread's pseudo-random sequence (xorshift64*, seeded from its
 * TLS address and tid): sampling distances, guard-page edges. */
uint64_t shim_rand(void);
extern int shim_active; /* tracking on (after init, before final teardown) */
/* What the malloc/free fast paths do, in one load: 0 = forward only (not
 * initialised, or heap tracking off), SNAP_MODE_FULL, SNAP_MODE_SAMPLED,
 * SHIM_FAST_GUARD (canaries) or SHIM_FAST_PAGES (guard pages alone). */
extern int shim_fast_mode;
/* sampled mode without guard pages: the one flag malloc's and free's
 * fastest paths test (one load where two were) */
extern int shim_fast_sampled;

/* The real functions, resolved with dlsym(RTLD_NEXT). */
struct shim_real {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
};
extern struct shim_real shim_real;

/* config.c */
const char *shim_getenv(const char *name); /* secure_getenv unless root allowed */

/* init.c */
void shim_init(void); /* idempotent; resolves real functions */
int shim_ready(void); /* real functions resolved */
void *shim_bootstrap_alloc(size_t size, size_t align);
/* The bootstrap arena: one unsigned compare tells whether p came from it. */
#define SHIM_BOOT_BYTES (256 * 1024)
extern unsigned char shim_boot_arena[SHIM_BOOT_BYTES];
static inline int shim_is_bootstrap(const void *p)
{
    return (uintptr_t)p - (uintptr_t)shim_boot_arena < SHIM_BOOT_BYTES;
}
size_t shim_bootstrap_size(const void *p);
void *shim_dlsym_next(const char *name);
pid_t shim_gettid(void);

/* config.c */
void shim_config_load(void);

/* arena.c: zeroed memory from mmap; never freed (except by munmap at fork
 * and the reachability scan's scratch). Every mapping is recorded. */
#define SHIM_ARENA_MAX_MAPS 4096 /* more: anonymous mappings are not roots */
struct shim_range {
    uint64_t start, end; /* end == 0: slot unused */
};
void *shim_arena_map(size_t size);
void shim_arena_forget(const void *p);                 /* before unmapping or moving a mapping */
long shim_arena_ranges(const struct shim_range **out); /* -1: some not recorded */
uint64_t shim_arena_resident(void); /* bytes of the shim's mappings in memory now */

/* unwind.c: captures up to shim_cfg.depth frames; frames[0] = ret. */
uint32_t shim_capture(uint64_t *frames, void *frame_addr, void *ret);
/* callsite.c: the stack id of the hook's caller (a memo hit, or a capture) */
uint32_t shim_capture_stack_id(void *frame_addr, void *ret);
void shim_unwind_init(void);
void shim_unwind_loss_counters(shim_loss_cb cb, void *arg);
void shim_unwind_fork_child(void);
/* From a signal context: frames[0] = pc + 1, then the callers (unwind tables). */
uint32_t shim_capture_at(uint64_t *frames, uint64_t pc, uint64_t sp, uint64_t fp, uint64_t lr);

/* heap.c */
void shim_heap_init(void);
/* sampled = 0 records the block at its exact size even in sampled mode
 * (guard-page blocks: every one of them is known, none is an estimate).
 * flags (SHIM_BLOCK_*) are set before the record becomes visible: a
 * concurrent scan never sees a guard-page block without SHIM_BLOCK_PAGE. */
void shim_heap_on_alloc_weighted(void *p, size_t size, uint32_t stack_id, int kind, int sampled,
                                 uint32_t flags);
static inline void shim_heap_on_alloc(void *p, size_t size, uint32_t stack_id, int kind)
{
    shim_heap_on_alloc_weighted(p, size, stack_id, kind, shim_cfg.mode == SNAP_MODE_SAMPLED, 0);
}
/* Removes p from the table; returns 1 if it was tracked. */
int shim_heap_on_free(void *p);
/* realloc support: detach p's record (0 if untracked), then either commit
 * (p was freed/moved) or restore (realloc failed). */
struct shim_node *shim_heap_detach(void *p);
void shim_heap_commit_free(struct shim_node *n);
void shim_heap_restore(struct shim_node *n);
/* sampled mode: does this allocation get recorded? (updates countdown) */
int shim_heap_should_sample(size_t size);
/* Sampled mode: a counting filter over block addresses (heap.c keeps the
 * counts); the free path reads only its bitmap, one bit per slot (set while
 * the slot's count is not 0): 1 KiB that stays in cache where the 8 KiB of
 * counts did not -- a program churning megabytes evicted them, and that miss
 * was most of what sampled mode cost a free. 0 means "certainly not
 * sampled", so most frees skip the table entirely. */
#define SHIM_FILTER_BITS 13
extern uint64_t shim_sample_bits[(1u << SHIM_FILTER_BITS) / 64];
static inline uint32_t shim_filter_slot(uintptr_t p)
{
    return (uint32_t)(((uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull) >> (64 - SHIM_FILTER_BITS));
}
/* In front of it, a coarse filter of 512 bits -- one cache line, which
 * every free reads, so it stays in L1 where the 1 KiB bitmap did not (a
 * program churning megabytes evicted that too, and its miss was most of
 * what sampled mode still cost a free). Coarse bit c is set while any of
 * bits 16c..16c+15 of the bitmap is, and every coarse bit is set while
 * sampled mode's fast path is off (before initialisation, other modes), so
 * free's fastest path tests nothing else: 0 means "certainly not sampled,
 * and sampled mode is on". */
#define SHIM_COARSE_BITS 9
extern uint64_t shim_sample_coarse[(1u << SHIM_COARSE_BITS) / 64];
static inline int shim_sample_coarse_hit(const void *p)
{
    uint32_t c = shim_filter_slot((uintptr_t)p) >> (SHIM_FILTER_BITS - SHIM_COARSE_BITS);
    return (int)((__atomic_load_n(&shim_sample_coarse[c >> 6], __ATOMIC_RELAXED) >> (c & 63)) & 1);
}
static inline int shim_sample_filter_hit(const void *p)
{
    uint32_t s = shim_filter_slot((uintptr_t)p);
    return shim_sample_coarse_hit(p) &&
           (int)((__atomic_load_n(&shim_sample_bits[s >> 6], __ATOMIC_RELAXED) >> (s & 63)) & 1);
}
/* Sampled mode's fast path is on: the coarse filter from the bitmap. */
void shim_heap_coarse_enable(void);
static inline int shim_heap_maybe_tracked(const void *p)
{
    if (shim_cfg.mode != SNAP_MODE_SAMPLED)
        return 1;
    return shim_sample_filter_hit(p);
}
void shim_heap_after_fork_child(void);
/* Guard mode: a block's record and its state. */
#define SHIM_BLOCK_FREED     0x1u  /* a page block whose slot is in the freed window */
#define SHIM_BLOCK_REPORTED  0x2u  /* a corruption of it was already reported */
#define SHIM_BLOCK_PAGE      0x4u  /* lives in a guard-page slot */
#define SHIM_BLOCK_EXIT_LIST 0x8u  /* glibc's exit-handler list: exit() frees it after the scan */
#define SHIM_BLOCK_PRIOR     0x10u /* attach --inject: live before the attach (prior_heap.c) */
enum { SHIM_LOOKUP_NONE = 0, SHIM_LOOKUP_LIVE = 1, SHIM_LOOKUP_FREED = 2 };
struct shim_block_info {
    uint64_t size;
    uint32_t alloc_stack, free_stack, kind, flags;
};
int shim_heap_lookup(const void *p, struct shim_block_info *out);
/* Marks p freed (kept in the table) and accounts the free; returns what p
 * was before: SHIM_LOOKUP_LIVE (now freed), _FREED (double free) or _NONE. */
int shim_heap_mark_freed(const void *p, uint32_t free_stack, struct shim_block_info *out);
void shim_heap_set_flag(const void *p, uint32_t flag);
void shim_heap_evict(const void *p); /* drops a quarantined block's record */
/* Drops a canary block's record and accounts the free, in one lookup (the
 * block then lives on in the quarantine); returns SHIM_LOOKUP_LIVE with its
 * info, or SHIM_LOOKUP_NONE. Page blocks use shim_heap_mark_freed. */
int shim_heap_take(const void *p, struct shim_block_info *out);
void shim_heap_prefetch(const void *p); /* warms p's bucket and stripe lock */
void shim_heap_foreach_block(void (*cb)(uintptr_t addr, const struct shim_block_info *info,
                                        void *arg),
                             void *arg);

/* guard.c: heap-corruption guard mode (LEAKAUDIT_GUARD) */
#define SHIM_FAST_GUARD 3 /* shim_fast_mode value when guard mode is on */
/* shim_fast_mode value for guard pages alone with heap tracking off (the
 * always-on configuration): the hooks count down to the next page slot and
 * otherwise forward, without a stack frame. */
#define SHIM_FAST_PAGES 4
void shim_guard_init(void);
void *shim_guard_alloc(size_t size, size_t align, int kind, int zero, void *frame, void *ret);
void shim_guard_free(void *p, int kind, void *frame, void *ret);
void *shim_guard_realloc(void *p, size_t size, void *frame, void *ret);
size_t shim_guard_usable_size(const void *p);
void shim_guard_scan(void);
void shim_guard_refresh_modules(void);
void shim_guard_snapshot(struct snap_writer *w);
void shim_guard_loss_counters(shim_loss_cb cb, void *arg);
void shim_guard_fork_prepare(void);
void shim_guard_fork_release(void); /* in the parent and in the child */
uint64_t shim_guard_scan_interval_ms(void);
/* Guard pages alone (LEAKAUDIT_GUARD=pages) ride on the normal hooks: 1 in
 * N allocations is diverted to a page slot, and frees check the pool range. */
extern int shim_guard_pages_only;
extern uintptr_t shim_guard_pool_lo, shim_guard_pool_hi;
static inline int shim_guard_in_pool(const void *p)
{
    return (uintptr_t)p - shim_guard_pool_lo < shim_guard_pool_hi - shim_guard_pool_lo;
}
void *shim_guard_page_try_alloc(size_t size, size_t align, int kind, int zero, void *frame,
                                void *ret);
void shim_guard_page_release(void *p, void *frame, void *ret);

/* Calls cb for every live recorded block (bytes are estimates in sampled
 * mode) without the stripe locks, for when every other thread is stopped (a
 * stopped thread may hold one; each table update is one pointer store) and
 * the caller holds the layout (shim_heap_layout_hold, before the stop). */
void shim_heap_foreach_live_stopped(void (*cb)(uintptr_t addr, uint64_t bytes, uint32_t stack_id,
                                               void *arg),
                                    void *arg);
/* The same walk over the blocks that carry flag (SHIM_BLOCK_EXIT_LIST: the
 * scan's extra roots, never reported). */
void shim_heap_foreach_flagged_stopped(uint32_t flag,
                                       void (*cb)(uintptr_t addr, uint64_t bytes, void *arg),
                                       void *arg);
/* Keeps the address table from growing (fork, stop-the-world scans). */
void shim_heap_layout_hold(void);
void shim_heap_layout_release(void);
/* Iteration for snapshots (the retired-stacks row last). */
void shim_heap_foreach_stack(void (*cb)(const struct snap_heap_entry *e, void *arg), void *arg);
void shim_heap_loss_counters(shim_loss_cb cb, void *arg);
/* The heap's part in stack retirement (struct stk_sweep_ops, stacks.c). */
int shim_heap_stack_idle(uint32_t id, void *arg);
int shim_heap_stack_release(uint32_t id, void *arg);
void shim_heap_stack_recycle(uint32_t id, void *arg);

/* stacks.c: the stack table and its retirement */
extern struct stk_table shim_stack_table;
struct stk_table *shim_stacks(void);
void shim_stacks_init(void);
int shim_stacks_ready(void);
void shim_stack_mark(uint32_t id, void *arg); /* named by a live record: stays */
int shim_stack_marked(uint32_t id);
void shim_stacks_count_released_race(void);
void shim_stacks_sweep(void); /* the snapshot writer, under its lock */
void shim_stacks_loss_counters(shim_loss_cb cb, void *arg);

/* fd_hooks.c */
void shim_fd_init(void);
void shim_fd_record(int fd, uint32_t origin, uint32_t stack_id, int source_fd);
void shim_fd_forget(int fd);
uint32_t shim_fd_origin(int fd);
uint32_t shim_fd_stack(int fd); /* SNAP_STACK_NONE if not recorded */
/* Reconciles with /proc/self/fd and emits one record per open fd. */
/* skip_fd, skip_fd2: the snapshot writer's own file and directory */
void shim_fd_snapshot(struct snap_writer *w, int skip_fd, int skip_fd2);
void shim_fd_loss_counters(shim_loss_cb cb, void *arg);
void shim_fd_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg); /* of open fds */

/* mmap_hooks.c */
void shim_mmap_init(void);
void shim_mmap_snapshot(struct snap_writer *w);
struct mb_region;
/* The tracked regions (common/membreak.h), at most cap; returns how many. */
size_t shim_mmap_regions(struct mb_region *out, size_t cap);
void shim_mmap_loss_counters(shim_loss_cb cb, void *arg);
void shim_mmap_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg);
void shim_mmap_fork_prepare(void);
void shim_mmap_fork_parent(void);
void shim_mmap_fork_child(void);

/* reach.c: classifies outstanding blocks (docs/reachability.md) and writes
 * the reachability section; only for exit and signal snapshots, full mode. */
#define SHIM_REACH_SIGNAL (SIGRTMAX - 2) /* parks threads during the scan */
/* The REACHABILITY source: scans (at exit and on the snapshot signal only:
 * *(int *)trigger) and writes the info record and one entry per stack. */
int shim_reach_emit(struct snap_writer *w, void *trigger);
/* reach_why.c (LEAKAUDIT_REACH_WHY): memory for n blocks (0: off), the
 * recording hook, and the explanation on stderr (world still stopped). */
struct rmark;
size_t shim_reach_why_bytes(size_t n);
void shim_reach_why_begin(struct rmark *m, void *mem);
void shim_reach_why_report(const struct rmark *m, void *mem, const pid_t *tids, const uint64_t *sps,
                           int n_threads);
/* init.c: the stack pointer of the program's exit path where it called the
 * shim's exit handler; the exit scan's stack root for that thread starts
 * there (0: not exiting). */
extern uint64_t shim_exit_sp;
/* inject.c: while the attaching process calls into the shim (attach
 * --inject), the calling thread as the program left it: the scan's roots for
 * that thread are its registers and its stack from there, not the call's
 * frames and the dead stack below the program's (NULL: no such call). */
struct interrupted_thread;
extern const struct interrupted_thread *shim_interrupted;
extern pid_t shim_interrupted_tid;

/* resources.c: paired C-API resources (LEAKAUDIT_TRACK_RESOURCES, docs/resources.md) */
void shim_res_init(void);                          /* constructor: parse specs, patch GOTs */
void shim_res_snapshot(struct snap_writer *w);     /* records of SNAP_SEC_RESOURCES */
void shim_res_write_events(struct snap_writer *w); /* records of SNAP_SEC_CORRUPTION */
void shim_res_loss_counters(shim_loss_cb cb, void *arg);
/* Every stack a resource row, object or event names (rows never go away). */
void shim_res_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg);
void shim_res_after_fork_child(void);
/* attach --inject: tracking from the settings' specs (text, file: either may
 * be NULL), then at detach every patched import back to its function. */
void shim_res_inject_start(const char *specs, const char *file);
void shim_res_inject_stop(void);

/* termsig.c: handlers for SIGINT/SIGTERM/SIGHUP when they are at SIG_DFL */
void shim_termsig_init(void);

/* memory.c: the MEMORY source (docs/memory.md); arg is the allocator's name */
int shim_memory_emit(struct snap_writer *w, void *allocator);

/* snapshot.c */
extern pid_t shim_snapshot_tid;      /* the shim's snapshot thread, 0 if none */
extern uint64_t shim_snapshot_stack; /* an address in its stack (no root), 0 if none */
void shim_snapshot_init(void);
/* inject.c: the snapshot thread stopped at detach, started again (and the
 * series continued) at a later attach. */
void shim_snapshot_stop_thread(void);
void shim_snapshot_restart(void);
int shim_snapshot_write(int trigger);
void shim_snapshot_start_thread(void);
int shim_foreign_thread(pid_t tid); /* an emulator's own thread (qemu-user), not the program's */
#define SHIM_POLL_CALLS 256
void shim_snapshot_poll(void);
int shim_snapshot_due_now(void); /* attach --inject without the thread */
void shim_snapshot_fork_prepare(void);
void shim_snapshot_fork_parent(void);
void shim_snapshot_fork_child(void);

/*
 * init.c: the two ways the capture side reaches the snapshot side without
 * calling it (snapshot.c installs both in shim_snapshot_init): a module that
 * found evidence worth a snapshot now -- a corruption, just before a
 * guard-mode abort -- calls shim_keep_evidence(); the allocation paths count
 * down to the periodic work (snapshots and the redzone scan of a program
 * without the snapshot thread) with shim_alloc_tick().
 */
extern int (*shim_evidence_hook)(int trigger);
extern void (*shim_poll_hook)(void);
static inline void shim_keep_evidence(void)
{
    int (*hook)(int) = shim_evidence_hook;
    if (hook)
        hook(SNAP_TRIGGER_CORRUPTION);
}
static inline void shim_alloc_tick(void)
{
    if (SHIM_UNLIKELY(--shim_tls.poll_countdown < 0) && shim_poll_hook)
        shim_poll_hook();
}

/* 1 if an allocation of size should be recorded (full mode: always;
 * sampled: when the byte countdown expires), never inside the shim. */
static inline int shim_should_track(size_t size)
{
    int mode = shim_fast_mode;
    if (SHIM_UNLIKELY(!mode || mode == SHIM_FAST_PAGES) || shim_tls.busy)
        return 0; /* heap tracking off */
    if (mode == SNAP_MODE_SAMPLED)
        return shim_heap_should_sample(size);
    return 1;
}

/* Records an allocation with the stack of whoever called the hook. Always
 * inlined, so frame_addr/ret are the exported hook's own frame and return
 * address; errno is the real allocator's. */
static inline __attribute__((always_inline)) void shim_record_alloc(void *p, size_t size, int kind,
                                                                    void *frame_addr, void *ret)
{
    int *err = shim_tls.errno_at; /* errno's place never changes for a thread */
    if (SHIM_UNLIKELY(!err))
        err = shim_tls.errno_at = &errno;
    int saved = *err;
    shim_heap_prefetch(p); /* the record's bucket arrives while the stack is taken */
    uint32_t id = shim_capture_stack_id(frame_addr, ret);
    shim_heap_on_alloc(p, size, id, kind);
    if (SHIM_UNLIKELY(shim_tls.in_exit_registration))
        shim_heap_set_flag(p, SHIM_BLOCK_EXIT_LIST);
    shim_alloc_tick();
    *err = saved;
}

/* Runs fn with the busy flag set so nothing it allocates is tracked. */
#define SHIM_UNTRACKED(stmt)                                                                       \
    do {                                                                                           \
        int shim_saved_busy_ = shim_tls.busy;                                                      \
        shim_tls.busy = 1;                                                                         \
        stmt;                                                                                      \
        shim_tls.busy = shim_saved_busy_;                                                          \
    } while (0)

/* A tiny test-and-set spinlock for rarely contended shim-internal state. */
static inline void shim_spin_lock(int *l)
{
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            util_cpu_relax();
}

static inline void shim_spin_unlock(int *l)
{
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* prior_heap.c: attach --inject's blocks from before the attach */
void shim_prior_heap_load(void); /* walks the heap into the table (glibc) */
int shim_prior_heap_enumerated(void);
extern int shim_reach_every_snapshot; /* attach --inject --reachability=always */
int shim_prior_free_missed(void *p);  /* a free the table missed: 1 if taken care of */
void shim_prior_loss_counters(shim_loss_cb cb, void *arg);
/* Unlinks and counts as freed p's record if it carries flag; 1 if it did. */
int shim_heap_drop_flagged(const void *p, uint32_t flag);

/* inject.c: the shim dlopen'ed into a running process (attach --inject) */
extern int shim_injected;
int shim_inject_active(void);
/* Patches a module dlopen'ed now (handle), or any new module (NULL). */
void shim_inject_rescan(void *handle);
/* init.c: the definition the program's calls to `name` really reach. */
void *shim_real_definition(const char *name);
/* heap.c: every record dropped, counters zeroed (after a detach). */
void shim_heap_clear(void);

#pragma GCC visibility pop

#endif
