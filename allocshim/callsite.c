/*
 * Call sites: the stack id of a hook called from the same frame again,
 * without unwinding (docs/unwinding.md). Each thread keeps memos of its
 * recent captures in its unwind cache (unwind_int.h); a hit costs the
 * loads of the slots the capture went through, a miss one capture
 * (unwind.c) and a lookup of the stack in the shared table.
 */
#include "shim.h"
#include "stacktable.h"
#include "unwind_int.h"

/* A call site's memo: the hook's return address and frame address fix
 * where the steps go, and so does the caller's frame pointer if a step's
 * CFA came from it (only then is it compared: code built without frame
 * pointers keeps any value there); when every return-address slot the
 * capture went through still holds its value, the capture would walk the
 * same steps again (the previous-capture rule), so the stack id is the
 * memo's (docs/unwinding.md). Filled only from a capture with nothing
 * nested in it (a signal handler's bumps `captures`). */
_Static_assert(SITE_WAYS * sizeof(uint64_t) == 64, "a set's tags: one cache line");
_Static_assert(sizeof(struct site_memo) == 128, "a memo: two cache lines");

/* Slot values folded into one word: salted by position, times an odd
 * constant (one changed value always changes the sum), summed. */
static inline uint64_t site_fold(uint64_t sum, uint64_t v, uint32_t k)
{
    return sum + (v ^ ((uint64_t)(k + 1) * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
}

static inline uint64_t site_tag(const void *frame_addr, const void *ret)
{
    uint64_t k =
        ((uint64_t)(uintptr_t)ret ^ ((uint64_t)(uintptr_t)frame_addr << 7)) * 0x9e3779b97f4a7c15ull;
    return k | 1;
}

static inline uint32_t site_set(uint64_t tag)
{
    return (uint32_t)(tag >> (64 - shim_tls.unw_site_bits));
}

/* Twice the sets once a thread filled 4x as many memos as it has. Memos
 * stay where they are: one found by its tag in another set is still
 * confirmed whole, never taken for another's. */
static void site_grow(struct unw_cache *c)
{
    uint32_t bits = shim_tls.unw_site_bits;
    c->site_fills = 0;
    if (bits >= SITE_SET_BITS)
        return;
    if (bits == SITE_MID &&
        __atomic_add_fetch(&shim_unw_big_sites, 1, __ATOMIC_RELAXED) > SITE_BIG) {
        __atomic_fetch_sub(&shim_unw_big_sites, 1, __ATOMIC_RELAXED); /* enough big ones */
        return;
    }
    for (uint32_t i = SITE_WAYS << bits; i < (SITE_WAYS << (bits + 1)); i++)
        c->site_tags[i] = 0;
    shim_tls.unw_site_bits = bits + 1;
}

static int site_lookup(struct unw_cache *c, void *frame_addr, void *ret, uint32_t epoch,
                       uint32_t *id)
{
    uint64_t t = site_tag(frame_addr, ret);
    uint32_t s = site_set(t) * SITE_WAYS;
    const uint64_t *tags = &c->site_tags[s];
    for (uint32_t w = 0; w < SITE_WAYS; w++) {
        if (tags[w] != t)
            continue;
        const struct site_memo *m = &c->sites[s + w];
        if (m->ret != (uint64_t)(uintptr_t)ret || m->frame != (uint64_t)(uintptr_t)frame_addr ||
            (m->fp_used && m->fp != *(const uint64_t *)frame_addr) || m->epoch != epoch ||
            m->gen != __atomic_load_n(&shim_unw_seg_gen, __ATOMIC_ACQUIRE))
            continue;
        /* Slots lie at or above the caller's stack pointer, in this thread's
         * stack, as when the memo was filled from the same frame. */
        const uint64_t *base = frame_addr;
        uint64_t sum = 0;
        for (uint32_t k = 0; k < m->n; k++)
            sum = site_fold(sum, *(const volatile uint64_t *)(base + m->off[k]), k);
        if (sum == m->vals) {
            *id = m->id;
            return 1;
        }
    }
    return 0;
}

/* One more word for memo m to check: its offset from the hook's frame and
 * its value folded in. 0 when it cannot hold it (full, or a word outside
 * the 512 KiB above the frame). */
static int memo_word(struct site_memo *m, uint32_t *n, uint64_t *sum, uint64_t addr, uint64_t v,
                     uint64_t at)
{
    if (*n >= SITE_STEPS || !addr || addr <= at || ((addr - at) & 7) ||
        (addr - at) >> 3 > UINT16_MAX)
        return 0;
    m->off[*n] = (uint16_t)((addr - at) >> 3);
    *sum = site_fold(*sum, v, *n);
    (*n)++;
    return 1;
}

static void site_fill(struct unw_cache *c, void *frame_addr, void *ret, uint32_t epoch, uint32_t id)
{
    if (c->prev_n > SITE_STEPS)
        return; /* deeper than a memo holds: such a stack is always unwound */
    uint64_t t = site_tag(frame_addr, ret);
    if (++c->site_fills > (4u * SITE_WAYS) << shim_tls.unw_site_bits)
        site_grow(c);
    uint32_t set = site_set(t), w = set * SITE_WAYS;
    w += c->site_next[set]++ & (SITE_WAYS - 1); /* the set's ways in turn */
    struct site_memo *m = &c->sites[w];
    const struct unw_step_rec *st = c->step[c->cur];
    c->site_tags[w] = 0; /* invalid while it is rewritten */
    uint64_t sum = 0, fp_used = 0, entry_fp = *(const uint64_t *)frame_addr;
    uint64_t at = (uint64_t)(uintptr_t)frame_addr;
    uint32_t n = 0;
    /* Every word the steps read (step_words): a step without a slot (a
     * signal frame) gives nothing to check it by. */
    for (uint32_t k = 0; k < c->prev_n; k++) {
        /* this step's CFA came from the caller's fp, carried unchanged */
        fp_used |= (st[k].slot & STEP_CFA_FP) && (k ? st[k - 1].fp : entry_fp) == entry_fp;
        uint64_t addr[3], val[3];
        uint32_t words = step_words(&st[k], addr, val);
        for (uint32_t i = 0; i < words; i++)
            if (!memo_word(m, &n, &sum, addr[i], val[i], at))
                return;
    }
    m->vals = sum;
    m->n = (uint16_t)n;
    m->fp_used = fp_used != 0;
    m->fp = entry_fp;
    m->epoch = epoch;
    m->gen = __atomic_load_n(&shim_unw_seg_gen, __ATOMIC_ACQUIRE);
    m->id = id;
    m->ret = (uint64_t)(uintptr_t)ret;
    m->frame = (uint64_t)(uintptr_t)frame_addr;
    c->site_tags[w] = t;
}

uint32_t shim_capture_stack_id(void *frame_addr, void *ret)
{
    /* An entry from before the table last released stacks may name an id
     * that is about to be handed out again (stacks.c): the epoch says. */
    uint32_t epoch = __atomic_load_n(&shim_stack_table.epoch, __ATOMIC_ACQUIRE) & 0xffffff;
    struct unw_cache *c = shim_tls.unw_cache;
    uint32_t captures = 0, id;
    int sites = c && shim_cfg.unwind == SNAP_UNWIND_DWARF && !shim_tls.in_capture;
    if (sites) {
        shim_tls.in_capture = 1; /* a nested capture (signal handler) leaves the cache alone */
        int hit = site_lookup(c, frame_addr, ret, epoch, &id);
        shim_tls.in_capture = 0;
        if (hit)
            return id;
        captures = c->captures;
    }
    uint64_t frames[SNAP_MAX_STACK_DEPTH];
    uint32_t n = shim_capture(frames, frame_addr, ret);
    if (n > SNAP_MAX_STACK_DEPTH)
        n = SNAP_MAX_STACK_DEPTH;
    uint64_t h = stk_hash_frames(frames, n);
    /* The thread's recent stacks by hash: the shared table's slots and
     * frames are cache misses on every allocation otherwise. A hit trusts
     * the 64-bit hash and the depth (two different stacks of one thread
     * colliding: ~n^2 / 2^65, nil for any real number of stacks). */
    c = shim_tls.unw_cache;
    uint32_t slot = (uint32_t)(h >> 40) & (ID_MEMO - 1);
    if (c && c->ids[slot].hash == h && c->ids[slot].depth == n && c->ids[slot].epoch == epoch) {
        id = c->ids[slot].id;
    } else {
        if (!shim_stacks_ready())
            return SNAP_STACK_NONE;
        id = stk_table_intern_hashed(&shim_stack_table, frames, n, h);
        if (c && id != SNAP_STACK_NONE)
            c->ids[slot] = (struct id_memo){.hash = h, .depth = n, .epoch = epoch, .id = id};
    }
    if (sites && id != SNAP_STACK_NONE && c->captures == captures + 1)
        site_fill(c, frame_addr, ret, epoch, id);
    return id;
}
