/*
 * Stack capture for the shim. frames[0] is always the return address taken
 * at the interposer's entry, so the immediate caller of malloc/open/... is
 * right whatever else happens. Deeper frames come from:
 *
 *   dwarf (default)  the modules' own call-frame information, compiled into
 *                    unwind tables (common/unwind_table.h) the first time a
 *                    return address lands in a module: right through code
 *                    built without frame pointers, from the first
 *                    allocation on (ld.so, other libraries' constructors);
 *   fp               the frame-pointer chain (fast, wrong in distro code);
 *   libunwind        libunwind's unw_backtrace, for comparison (bench/).
 *
 * Every frame is validated: a return address outside every executable
 * mapping ends the stack and is counted (unwind_bad_frame), never recorded.
 * Frames inside the shim itself (resource wrappers) are unwound through and
 * left out.
 *
 * Consecutive captures on a thread share most of their stack: a capture
 * unwinds only until a slot holds the previous capture's return address at
 * the same place, then confirms the rest with one load per frame. Reads
 * never fault (every load is checked against the thread's stack); tables
 * and per-thread caches come from raw mmap, never the audited allocator.
 */
#include "shim.h"
#include "stacktable.h"
#include "unwind_table.h"
#include "unwind_int.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

extern void *__libc_stack_end;

#if defined(__x86_64__)
#define SHIM_ARCH UNW_ARCH_X86_64
#elif defined(__aarch64__)
#define SHIM_ARCH UNW_ARCH_AARCH64
#else
#error "unsupported architecture"
#endif

static int (*unw_backtrace_fn)(void **buf, int size);
static uintptr_t shim_text_lo, shim_text_hi; /* our own code: never in a recorded stack */

/* Loss counters (docs/unwinding.md). */
static uint64_t n_bad_frame;     /* stacks ended at an address outside every module */
static uint64_t n_fp_frames;     /* frames unwound by frame pointer for lack of CFI */
static uint64_t n_no_cfi_mod;    /* modules without call-frame information */
static uint64_t n_foreign_stack; /* captures on a stack that is not the thread's */

/* The main thread's stack size when RLIMIT_STACK is unlimited. */
#define MAIN_STACK_CAP (256ull << 20)

/* ---- modules: executable segments and their unwind tables ---- */

enum { TAB_NONE = 0, TAB_BUILDING = 1, TAB_READY = 2, TAB_FAILED = 3 };

struct utab {
    int state;
    uintptr_t bias;
    const void *eh_hdr; /* PT_GNU_EH_FRAME, runtime address; NULL: none */
    const struct unw_row *rows;
    uint32_t n;
    struct unw_page_index index; /* row.NULL: not indexed (no memory for it) */
};

struct useg {
    uintptr_t lo, hi; /* executable PT_LOAD, runtime addresses */
    struct utab *tab;
};

#define MAX_SEGS 4096
#define MAX_TABS 2048
struct useg_set {
    uint32_t n;
    uint32_t gen;
    struct useg seg[MAX_SEGS];
};

static struct useg_set *seg_set; /* published with a release store; old sets stay mapped */
uint32_t shim_unw_seg_gen;       /* seg_set's generation, read without the pointer chase */
static int seg_lock;
static struct utab *tabs; /* every table ever made (reused by identity) */
static uint32_t n_tabs;

static struct utab *tab_for(uintptr_t bias, const void *hdr)
{
    for (uint32_t i = 0; i < n_tabs; i++)
        if (tabs[i].bias == bias && tabs[i].eh_hdr == hdr)
            return &tabs[i];
    if (n_tabs >= MAX_TABS)
        return NULL;
    struct utab *t = &tabs[n_tabs];
    t->bias = bias;
    t->eh_hdr = hdr;
    t->state = hdr ? TAB_NONE : TAB_FAILED;
    if (!hdr)
        __atomic_fetch_add(&n_no_cfi_mod, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&n_tabs, n_tabs + 1, __ATOMIC_RELEASE); /* filled, then counted */
    return t;
}

static int collect_segs(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct useg_set *s = arg;
    const void *hdr = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
            hdr = (const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    struct utab *t = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || s->n >= MAX_SEGS)
            continue;
        if (!t && !(t = tab_for(info->dlpi_addr, hdr)))
            return 0;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        s->seg[s->n++] = (struct useg){.lo = lo, .hi = lo + ph->p_memsz, .tab = t};
    }
    return 0;
}

static void sort_segs(struct useg_set *s)
{
    for (uint32_t i = 1; i < s->n; i++) { /* few dozen entries, mostly sorted */
        struct useg v = s->seg[i];
        uint32_t j = i;
        while (j > 0 && s->seg[j - 1].lo > v.lo) {
            s->seg[j] = s->seg[j - 1];
            j--;
        }
        s->seg[j] = v;
    }
}

/* Re-reads the loaded modules (first use, or a pc outside every known one:
 * a library was dlopen'ed). Returns the current set. */
static int find_own_text(struct dl_phdr_info *info, size_t size, void *arg);

static int read_load_counts(struct dl_phdr_info *info, size_t size, void *arg)
{
    uint64_t *c = arg;
    c[0] = info->dlpi_adds;
    c[1] = info->dlpi_subs;
    return 1; /* the first module is enough */
}

static uint64_t seen_adds, seen_subs;

static struct useg_set *refresh_segs(void)
{
    shim_spin_lock(&seg_lock);
    if (!shim_text_hi)
        dl_iterate_phdr(find_own_text, NULL);
    if (!tabs)
        tabs = shim_arena_map(MAX_TABS * sizeof(*tabs));
    struct useg_set *old = __atomic_load_n(&seg_set, __ATOMIC_ACQUIRE);
    /* Nothing loaded or unloaded since the last look (a pc in JIT code, or
     * a garbage one): keep the set, make no new mapping. */
    uint64_t counts[2] = {0, 0};
    dl_iterate_phdr(read_load_counts, counts);
    if (old && counts[0] == seen_adds && counts[1] == seen_subs) {
        shim_spin_unlock(&seg_lock);
        return old;
    }
    seen_adds = counts[0];
    seen_subs = counts[1];
    struct useg_set *s = tabs ? shim_arena_map(sizeof(*s)) : NULL;
    if (s) {
        dl_iterate_phdr(collect_segs, s);
        sort_segs(s);
        s->gen = old ? old->gen + 1 : 1;
        __atomic_store_n(&seg_set, s, __ATOMIC_RELEASE);
        __atomic_store_n(&shim_unw_seg_gen, s->gen, __ATOMIC_RELEASE);
    }
    shim_spin_unlock(&seg_lock);
    return s ? s : old;
}

static const struct useg *find_seg(const struct useg_set *s, uintptr_t pc)
{
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s->seg[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || pc >= s->seg[lo - 1].hi)
        return NULL;
    return &s->seg[lo - 1];
}

/* The table's page index, in memory of the shim's own; without it the
 * whole table is searched. */
static void index_pages(struct utab *t)
{
    uint32_t *row = shim_arena_map(unw_page_index_pages(t->rows, t->n) * sizeof(*row));
    if (row)
        unw_page_index_fill(t->rows, t->n, row, &t->index);
}

/* Builds a module's table the first time it is needed. A thread that finds
 * another one building it unwinds that frame by frame pointer. */
static int tab_ready(struct utab *t)
{
    int st = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
    if (SHIM_LIKELY(st == TAB_READY))
        return 1;
    if (st != TAB_NONE)
        return 0;
    if (!__atomic_compare_exchange_n(&t->state, &st, TAB_BUILDING, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return 0;
    struct unw_cfi_src src;
    struct unw_table table;
    int ok = unw_src_from_loaded(t->eh_hdr, t->bias, SHIM_ARCH, &src) == 0 &&
             unw_table_build(&src, &table) == 0 && table.n > 0;
    if (ok) {
        t->rows = table.rows;
        t->n = table.n;
        index_pages(t);
    } else {
        __atomic_fetch_add(&n_no_cfi_mod, 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&t->state, ok ? TAB_READY : TAB_FAILED, __ATOMIC_RELEASE);
    return ok;
}

/* ---- per-thread cache ---- */

#define NO_CFI ((const struct unw_row *)1) /* in a module, no usable row: frame pointer */

static struct unw_cache *free_caches;
static int cache_lock;
int shim_unw_big_sites; /* threads whose memos grew past SITE_MID */
static pthread_key_t cache_key;
static int cache_key_state; /* 0 none, 1 created, -1 unavailable */

/* Thread exit (key destructor): the cache goes back to the pool. */
static void cache_release(void *p)
{
    struct unw_cache *c = p;
    shim_tls.unw_cache = NULL;
    if (shim_tls.unw_site_bits > SITE_MID)
        __atomic_fetch_sub(&shim_unw_big_sites, 1, __ATOMIC_RELAXED);
    shim_tls.unw_site_bits = SITE_START; /* not counted as a big one again */
    shim_tls.unw_cache_gone = 1;         /* later captures of this exiting thread: uncached */
    shim_spin_lock(&cache_lock);
    c->next_free = free_caches;
    free_caches = c;
    shim_spin_unlock(&cache_lock);
}

static struct unw_cache *cache_get(void)
{
    struct unw_cache *c = shim_tls.unw_cache;
    if (SHIM_LIKELY(c != NULL) || shim_tls.unw_cache_gone)
        return c;
    shim_spin_lock(&cache_lock);
    if (cache_key_state == 0)
        cache_key_state = pthread_key_create(&cache_key, cache_release) == 0 ? 1 : -1;
    c = free_caches;
    if (c)
        free_caches = c->next_free;
    shim_spin_unlock(&cache_lock);
    if (!c && !(c = shim_arena_map(sizeof(*c))))
        return NULL;
    c->gen = 0;
    c->prev_n = 0;
    memset(c->ids, 0, sizeof(c->ids)); /* a pooled cache may hold another thread's */
    shim_tls.unw_site_bits = SITE_START;
    c->site_fills = 0;
    for (uint32_t i = 0; i < (SITE_WAYS << SITE_START); i++)
        c->site_tags[i] = 0;
    if (cache_key_state != 1 || pthread_setspecific(cache_key, c) != 0) {
        cache_release(c); /* no way to give it back at exit: go uncached */
        return NULL;
    }
    shim_tls.unw_cache = c;
    return c;
}

/* The row for a frame: NULL when its pc lies outside every module,
 * NO_CFI where there is no usable rule. */
static const struct unw_row *row_uncached(uintptr_t pc, uintptr_t lookup, int *cacheable)
{
    struct useg_set *s = __atomic_load_n(&seg_set, __ATOMIC_ACQUIRE);
    const struct useg *g = s ? find_seg(s, pc) : NULL;
    *cacheable = 1;
    if (!g) {
        s = refresh_segs();
        g = s ? find_seg(s, pc) : NULL;
        if (!g)
            return NULL;
    }
    if (!tab_ready(g->tab)) {
        /* another thread is building it: not a lasting answer */
        *cacheable = __atomic_load_n(&g->tab->state, __ATOMIC_ACQUIRE) == TAB_FAILED;
        return NO_CFI;
    }
    uintptr_t rel = lookup - g->tab->bias;
    const struct unw_row *r =
        rel > UINT32_MAX
            ? NULL
            : unw_table_find_indexed(g->tab->rows, g->tab->n, &g->tab->index, (uint32_t)rel);
    if (!r || r->cfa == UNW_CFA_NONE || r->cfa == UNW_CFA_UNSUPPORTED)
        return NO_CFI;
    return r;
}

static inline const struct unw_row *row_for(struct unw_cache *c, const struct unw_regs *regs)
{
    uintptr_t lookup = unw_lookup_pc(regs);
    int cacheable;
    if (!c)
        return row_uncached(regs->pc, lookup, &cacheable);
    uint32_t h = (uint32_t)((lookup * 0x9e3779b97f4a7c15ull) >> 48) & (ROW_CACHE - 1);
    if (SHIM_LIKELY(c->rows[h].pc == lookup + 1))
        return c->rows[h].row;
    const struct unw_row *r = row_uncached(regs->pc, lookup, &cacheable);
    struct useg_set *s = __atomic_load_n(&seg_set, __ATOMIC_ACQUIRE);
    if (s && s->gen != c->gen) { /* modules changed: forget every cached row */
        for (uint32_t i = 0; i < ROW_CACHE; i++)
            c->rows[i].pc = 0;
        c->gen = s->gen;
    }
    if (r && cacheable) { /* "outside every module" is not cached: dlopen may change it */
        c->rows[h].pc = lookup + 1;
        c->rows[h].row = r;
    }
    return r;
}

/* ---- the walk ---- */

struct stack_bounds {
    uint64_t lo, hi;
};

static inline __attribute__((always_inline)) int read_stack(void *ctx, uint64_t addr, uint64_t *v)
{
    const struct stack_bounds *b = ctx;
    if (addr < b->lo || addr > b->hi - 8 || (addr & 7))
        return 1;
    *v = *(const uint64_t *)(uintptr_t)addr;
    return 0;
}

static inline int in_shim(uint64_t pc)
{
    return pc - shim_text_lo < shim_text_hi - shim_text_lo;
}

static void find_stack_bounds(void)
{
    shim_tls.stack_known = 1;
    shim_tls.stack_hi = 0;
    if (shim_gettid() == getpid()) {
        /* __libc_stack_end: the main thread's frames all lie below it; the
         * page it is in is mapped (argv and the environment follow). The
         * stack cannot grow past RLIMIT_STACK (capped: "unlimited"). */
        shim_tls.stack_hi = ((uintptr_t)__libc_stack_end + 4095) & ~(uintptr_t)4095;
        struct rlimit rl;
        uint64_t size = MAIN_STACK_CAP;
        if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < size)
            size = rl.rlim_cur;
        shim_tls.stack_lo = shim_tls.stack_hi > size ? shim_tls.stack_hi - size : 0;
        return;
    }
    pthread_attr_t attr;
    int rc;
    SHIM_UNTRACKED(rc = pthread_getattr_np(pthread_self(), &attr));
    if (rc != 0)
        return; /* unknown stack (raw clone): only frames[0] will be recorded */
    void *lo;
    size_t size;
    if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
        shim_tls.stack_hi = (uintptr_t)lo + size;
        shim_tls.stack_lo = (uintptr_t)lo;
    }
    SHIM_UNTRACKED(pthread_attr_destroy(&attr));
}

/* Whether the previous capture's steps [from, to) still hold their values
 * (step_words). */
static int tail_holds(const struct unw_step_rec *prev, uint32_t from, uint32_t to,
                      const struct stack_bounds *b)
{
    for (uint32_t k = from; k < to; k++) {
        uint64_t addr[3], val[3], v;
        uint32_t n = step_words(&prev[k], addr, val);
        if (!addr[0])
            return 0;
        for (uint32_t i = 0; i < n; i++)
            if (read_stack((void *)b, addr[i], &v) || v != val[i])
                return 0;
    }
    return 1;
}

/* The step at return-address slot ra_slot (pc) is where the previous
 * capture went too (*j: where the search resumes), with the rest of that
 * capture's slots still holding their values. */
static int match_prev(const struct unw_step_rec *prev, uint32_t prev_n, uint32_t *j,
                      const struct unw_regs *regs, uint64_t ra_slot, const struct stack_bounds *b)
{
    while (*j < prev_n && STEP_SLOT(prev[*j].slot) < ra_slot)
        (*j)++;
    return *j < prev_n && STEP_SLOT(prev[*j].slot) == ra_slot && prev[*j].pc == regs->pc &&
           (!(prev[*j].slot & STEP_FP_KEPT) || prev[*j].fp == regs->fp) &&
           tail_holds(prev, *j + 1, prev_n, b);
}

/* STEP_FP_KEPT on the steps whose frame pointer a later step's CFA came
 * from (carried unchanged through the steps in between). A caller with an
 * alloca'd frame, entered from two places, can leave its return address in
 * the same slot with its frame elsewhere: matching that slot alone would
 * take the old frames above (their dead copies still hold the old values),
 * so such a match also needs the same frame pointer. */
static void mark_fp_kept(struct unw_step_rec *st, uint32_t n)
{
    for (uint32_t k = 1; k < n; k++) {
        if (!(st[k].slot & STEP_CFA_FP))
            continue;
        uint64_t v = st[k - 1].fp;
        for (uint32_t i = k; i-- > 0 && st[i].fp == v;)
            st[i].slot |= STEP_FP_KEPT;
    }
}

/* This capture's steps become the previous capture of the next one. */
static void cache_keep(struct unw_cache *c, int in_place, uint32_t steps, uint32_t complete)
{
    if (!in_place)
        c->cur ^= 1;
    c->prev_n = steps;
    c->prev_complete = complete;
    c->captures++;
}

/* The record of a step with row r from old to regs: the return-address
 * slot (0: not a word, nothing to check it by) with STEP_CFA_FP when the
 * CFA came from fp, the caller's state, and the other words unw_step's
 * rules read: where a CFA was read from, where fp was restored from. */
static inline struct unw_step_rec step_record(const struct unw_row *r, const struct unw_regs *old,
                                              const struct unw_regs *regs)
{
    int kind = r ? r->cfa : UNW_CFA_NONE;
    uint64_t slot = regs->exact ? 0 : regs->sp + (uint64_t)(int64_t)(r ? r->ra_off : -8);
    struct unw_step_rec w = {
        .slot = slot & 7 ? 0 : slot, .pc = regs->pc, .sp = regs->sp, .fp = regs->fp};
    if (w.slot && kind != UNW_CFA_SP && kind != UNW_CFA_DEREF_SP)
        w.slot |= STEP_CFA_FP;
    if (kind == UNW_CFA_DEREF_SP || kind == UNW_CFA_DEREF_FP)
        w.cfa_at = (kind == UNW_CFA_DEREF_SP ? old->sp : old->fp) + (uint64_t)(int64_t)r->cfa_off;
    if (kind == UNW_CFA_NONE || kind == UNW_CFA_UNSUPPORTED)
        w.fp_at = old->fp; /* the frame-pointer rule: fp = *fp */
    else if (r->flags & UNW_ROW_FP_SAVED)
        w.fp_at = regs->sp + (uint64_t)(int64_t)r->fp_off;
    return w;
}

static uint32_t capture_tables(uint64_t *frames, void *frame_addr, void *ret)
{
    uint32_t depth = (uint32_t)shim_cfg.depth, n = 0;
    frames[n++] = (uint64_t)(uintptr_t)ret;
    if (SHIM_UNLIKELY(!shim_tls.stack_known))
        find_stack_bounds();
    /* The hook's frame record {caller's FP, return address}; the caller's
     * stack pointer is just above it. */
    const uint64_t *rec = frame_addr;
    struct unw_regs regs = {
        .pc = (uint64_t)(uintptr_t)ret, .sp = (uint64_t)(uintptr_t)frame_addr + 16, .fp = rec[0]};
#if defined(__aarch64__)
    /* aarch64 keeps a frame record at the bottom of its frame, so the
     * hook's caller's sp is the hook's CFA, not frame_addr + 16. Walk up
     * from here instead, through the shim's own frames (never recorded)
     * by their call-frame information; the step that reaches ret is the
     * frames[0] already taken. */
    int ret_pending = 1;
    regs = (struct unw_regs){.pc = (uint64_t)(uintptr_t)__builtin_return_address(0),
                             .sp = (uint64_t)(uintptr_t)__builtin_dwarf_cfa(),
                             .fp = *(const uint64_t *)__builtin_frame_address(0)};
#else
    const int ret_pending = 0;
#endif
    struct stack_bounds b = {.lo = regs.sp, .hi = shim_tls.stack_hi};
    if (b.hi <= b.lo + 16 || depth <= 1)
        return n;
    if (SHIM_UNLIKELY(regs.sp < shim_tls.stack_lo)) {
        /* Not on this thread's stack: a signal's alternate stack or a
         * coroutine's. Its bounds are unknown, so nothing above the caller
         * is read. */
        __atomic_fetch_add(&n_foreign_stack, 1, __ATOMIC_RELAXED);
        return n;
    }
    struct unw_cache *c = shim_tls.in_capture ? NULL : cache_get();
    shim_tls.in_capture = 1;
    const struct unw_step_rec *prev = NULL;
    struct unw_step_rec *cur = NULL;
    uint32_t prev_n = 0, steps = 0, j = 0, complete = 1, reused = 0, in_place = 0;
    if (c) {
        prev = c->step[c->cur];
        prev_n = c->prev_n;
        cur = c->step[c->cur ^ 1];
    }
    const struct unw_row *r = row_for(c, &regs);
    for (;;) {
        if (n >= depth || steps >= MAX_STEPS) {
            complete = 0; /* cut by the depth limit */
            break;
        }
        if (!r)
            break; /* frames[0] outside every module (JIT code) */
        if (r == NO_CFI) {
            r = NULL;
            __atomic_fetch_add(&n_fp_frames, 1, __ATOMIC_RELAXED);
        }
        struct unw_regs old = regs;
        if (unw_step(SHIM_ARCH, r, &regs, read_stack, &b) != UNW_STEP_OK || regs.sp <= old.sp)
            break;
        struct unw_step_rec st = step_record(r, &old, &regs);
        uint64_t ra_slot = STEP_SLOT(st.slot);
        /* The same return address in the same slot as in the previous
         * capture: the rest of the stack is that capture's if its slots
         * still hold their values (and this pc was validated then). */
        int matched = c && ra_slot && !reused && match_prev(prev, prev_n, &j, &regs, ra_slot, &b);
        if (!matched) {
            r = row_for(c, &regs); /* also validates: NULL = in no executable mapping */
            if (!r) {
                __atomic_fetch_add(&n_bad_frame, 1, __ATOMIC_RELAXED);
                break;
            }
        }
        uint64_t record = !in_shim(regs.pc);
        if (record && ret_pending) {
            record = 0; /* frames[0] */
#if defined(__aarch64__)
            ret_pending = 0;
#endif
        }
        st.slot |= record;
        if (c)
            cur[steps] = st;
        steps++;
        if (record)
            frames[n++] = regs.pc;
        if (!matched)
            continue;
        /* Splice in place: the old tail moves to just behind the new top
         * steps (a no-op when the depth at the match did not change), the
         * new top steps go in front of it, and the old capture's buffer
         * becomes this one's: only the top steps are copied. */
        struct unw_step_rec *buf = c->step[c->cur];
        uint32_t top = steps, tail_n = prev_n - (j + 1);
        if (tail_n > MAX_STEPS - top)
            tail_n = MAX_STEPS - top;
        if (j + 1 != top)
            memmove(&buf[top], &buf[j + 1], tail_n * sizeof(*buf));
        memcpy(buf, cur, top * sizeof(*buf));
        cur = buf;
        in_place = 1;
        uint32_t k = top, end = top + tail_n;
        for (; k < end && n < depth; k++)
            if (buf[k].slot & STEP_RECORDED)
                frames[n++] = buf[k].pc;
        steps = k;
        if (k == prev_n - (j + 1) + top && c->prev_complete) {
            complete = 1;
            break; /* the old stack ended there */
        }
        /* Cut short by the old capture's depth, or by ours: carry on from
         * the last step taken, as if unwound. */
        const struct unw_step_rec *last = &cur[steps - 1];
        regs = (struct unw_regs){.pc = last->pc, .sp = last->sp, .fp = last->fp};
        r = row_for(c, &regs);
        reused = 1;
    }
    if (c) {
        mark_fp_kept(cur, steps);
        cache_keep(c, in_place, steps, complete);
    }
    shim_tls.in_capture = 0;
    return n;
}

/* ---- frame pointers and libunwind ---- */

/* Whether pc lies in an executable mapping (a loaded module's). */
static int pc_in_module(uintptr_t pc)
{
    struct useg_set *s = __atomic_load_n(&seg_set, __ATOMIC_ACQUIRE);
    if (s && find_seg(s, pc))
        return 1;
    s = refresh_segs();
    return s && find_seg(s, pc);
}

static uint32_t capture_fp(uint64_t *frames, void *frame_addr, void *ret)
{
    frames[0] = (uint64_t)(uintptr_t)ret;
    uint32_t n = 1;
    if (SHIM_UNLIKELY(!shim_tls.stack_known))
        find_stack_bounds();
    uintptr_t hi = shim_tls.stack_hi;
    uintptr_t fp = (uintptr_t)frame_addr;
    if (fp < shim_tls.stack_lo || fp >= hi) {
        __atomic_fetch_add(&n_foreign_stack, 1, __ATOMIC_RELAXED);
        return n; /* not on the thread's stack: bounds unknown */
    }
    uintptr_t next = ((const uintptr_t *)fp)[0];
    uint32_t depth = (uint32_t)shim_cfg.depth;
    while (n < depth) {
        if (next <= fp || next >= hi || hi - next < 16 || (next & 7))
            break;
        uintptr_t r = ((const uintptr_t *)next)[1];
        if (!pc_in_module(r)) { /* a stack word, not a return address */
            __atomic_fetch_add(&n_bad_frame, 1, __ATOMIC_RELAXED);
            break;
        }
        frames[n++] = r;
        fp = next;
        next = ((const uintptr_t *)fp)[0];
    }
    return n;
}

static uint32_t capture_libunwind(uint64_t *frames, void *ret)
{
    void *buf[SNAP_MAX_STACK_DEPTH + 8];
    int n;
    SHIM_UNTRACKED(n = unw_backtrace_fn(buf, shim_cfg.depth + 8));
    int i = 0;
    while (i < n && in_shim((uintptr_t)buf[i]))
        i++;
    uint32_t d = 0;
    frames[d++] = (uint64_t)(uintptr_t)ret;
    if (i < n && buf[i] == ret)
        i++;
    for (; i < n && d < (uint32_t)shim_cfg.depth; i++)
        if (!in_shim((uintptr_t)buf[i]))
            frames[d++] = (uint64_t)(uintptr_t)buf[i];
    return d;
}

/* The shim's own executable segment, to leave its frames out. */
static int find_own_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t me = (uintptr_t)find_own_text;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (me >= lo && me < hi) {
            shim_text_lo = lo;
            shim_text_hi = hi;
            return 1;
        }
    }
    return 0;
}

void shim_unwind_init(void)
{
    if (!shim_text_hi)
        dl_iterate_phdr(find_own_text, NULL);
    if (shim_cfg.unwind != SNAP_UNWIND_LIBUNWIND)
        return;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (h)
        unw_backtrace_fn = (int (*)(void **, int))dlsym(h, "unw_backtrace");
    if (!unw_backtrace_fn) {
        static const char msg[] = "leakaudit: --unwind=libunwind needs libunwind.so.8 "
                                  "(apt-get install libunwind8); using the unwind tables\n";
        if (write(2, msg, sizeof(msg) - 1) < 0) {
        }
        shim_cfg.unwind = SNAP_UNWIND_DWARF;
    }
}

uint32_t shim_capture(uint64_t *frames, void *frame_addr, void *ret)
{
    int how = shim_cfg.unwind;
    if (SHIM_LIKELY(how != SNAP_UNWIND_FP)) {
        if (SHIM_UNLIKELY(how == SNAP_UNWIND_LIBUNWIND) && unw_backtrace_fn)
            return capture_libunwind(frames, ret);
        return capture_tables(frames, frame_addr, ret);
    }
    return capture_fp(frames, frame_addr, ret);
}

/* A stack from a signal context (guard mode's fault handler): pc is the
 * faulting instruction, not a return address. Tables only, no per-thread
 * cache (the fault may have interrupted a capture on this thread). */
uint32_t shim_capture_at(uint64_t *frames, uint64_t pc, uint64_t sp, uint64_t fp, uint64_t lr)
{
    uint32_t depth = (uint32_t)shim_cfg.depth, n = 0;
    frames[n++] = pc + 1; /* reports look frames up at address - 1 */
    if (SHIM_UNLIKELY(!shim_tls.stack_known))
        find_stack_bounds();
    struct stack_bounds b = {.lo = sp, .hi = shim_tls.stack_hi};
    if (sp < shim_tls.stack_lo || b.hi <= b.lo + 16)
        return n;
    struct unw_regs regs = {.pc = pc, .sp = sp, .fp = fp, .lr = lr, .exact = 1};
    const struct unw_row *r = row_for(NULL, &regs);
    while (n < depth && r) {
        if (r == NO_CFI)
            r = NULL;
        uint64_t old_sp = regs.sp, old_lr = regs.lr;
        /* the caller's frame is above ours; only out of an interrupted
         * aarch64 leaf (return address still in x30) may sp stay put */
        if (unw_step(SHIM_ARCH, r, &regs, read_stack, &b) != UNW_STEP_OK || regs.sp < old_sp ||
            (regs.sp == old_sp && !old_lr))
            break;
        if (!(r = row_for(NULL, &regs))) {
            __atomic_fetch_add(&n_bad_frame, 1, __ATOMIC_RELAXED);
            break;
        }
        if (!in_shim(regs.pc))
            frames[n++] = regs.pc;
    }
    return n;
}

/* In a fork child: no other thread exists any more, so a lock one of them
 * held is free, and a table one of them was building is built again. */
void shim_unwind_fork_child(void)
{
    __atomic_store_n(&seg_lock, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&cache_lock, 0, __ATOMIC_RELEASE);
    /* the only thread now */
    __atomic_store_n(&shim_unw_big_sites, shim_tls.unw_site_bits > SITE_MID, __ATOMIC_RELAXED);
    for (uint32_t i = 0; i < n_tabs; i++)
        if (tabs[i].state == TAB_BUILDING)
            tabs[i].state = TAB_NONE; /* its half-built rows stay mapped, unused */
}

void shim_unwind_loss_counters(shim_loss_cb cb, void *arg)
{
    cb(SNAP_LOSS_UNWIND_BAD_FRAME, __atomic_load_n(&n_bad_frame, __ATOMIC_RELAXED), arg);
    cb(SNAP_LOSS_UNWIND_FP_FRAMES, __atomic_load_n(&n_fp_frames, __ATOMIC_RELAXED), arg);
    cb(SNAP_LOSS_UNWIND_MODULES_WITHOUT_CFI, __atomic_load_n(&n_no_cfi_mod, __ATOMIC_RELAXED), arg);
    cb(SNAP_LOSS_UNWIND_FOREIGN_STACK, __atomic_load_n(&n_foreign_stack, __ATOMIC_RELAXED), arg);
}
