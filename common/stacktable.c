/*
 * Implementation of common/stacktable.h: open addressing with linear probing
 * over a power-of-two slot array sized at twice the stack limit, and per id
 * an entry with room for max_depth frames. A writer claims an empty (or
 * removed) slot with one CAS, takes an id from the free list (a tagged CAS)
 * or the never-used ones, fills the entry and publishes the id with a
 * release store; readers that meet a slot being written wait for it, which
 * is only as long as a memcpy of a stack.
 *
 * Removal leaves a tombstone that later inserts reuse; a tombstone followed
 * by an empty slot becomes empty again, so probe chains do not grow with the
 * number of stacks that ever lived. Only the sweeper removes, and entries
 * stay readable until two sweeps later (stacktable.h), so a lookup that read
 * an id just before its removal still compares against that id's frames.
 */
#include "stacktable.h"
#include "util.h"

#include <string.h>

#define STK_BUSY   0xffffffffu
#define STK_TOMB   0xfffffffeu
#define STK_MAX_ID 0xfffffff0u

enum {
    STK_ENTRY_FREE = 0,
    STK_ENTRY_LIVE = 1,        /* published: lookups find it */
    STK_ENTRY_UNPUBLISHED = 2, /* valid id, lookups no longer find it */
    STK_ENTRY_RELEASED = 3,    /* folded; the id is reused after the next sweep */
};

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static uint32_t slot_count(uint32_t max_stacks)
{
    uint32_t n = 1024;
    while (n < 2ull * max_stacks && n < (1u << 31))
        n <<= 1;
    return n;
}

static uint32_t clamp_depth(uint32_t max_depth)
{
    return max_depth == 0 ? 1 : max_depth > SNAP_MAX_STACK_DEPTH ? SNAP_MAX_STACK_DEPTH : max_depth;
}

size_t stk_table_memsize(uint32_t max_stacks, uint32_t max_depth)
{
    if (max_stacks > STK_MAX_ID)
        max_stacks = STK_MAX_ID;
    size_t ids = (size_t)max_stacks + 1;
    return align8((size_t)slot_count(max_stacks) * sizeof(struct stk_slot)) +
           align8(ids * sizeof(struct stk_entry)) + ids * clamp_depth(max_depth) * 8;
}

void stk_table_init(struct stk_table *t, void *mem, uint32_t max_stacks, uint32_t max_depth)
{
    if (max_stacks > STK_MAX_ID)
        max_stacks = STK_MAX_ID;
    uint32_t slots = slot_count(max_stacks);
    char *p = mem;
    memset(t, 0, sizeof(*t));
    t->slot_mask = slots - 1;
    t->max_stacks = max_stacks;
    t->max_depth = clamp_depth(max_depth);
    t->slots = (struct stk_slot *)p;
    p += align8((size_t)slots * sizeof(struct stk_slot));
    t->entries = (struct stk_entry *)p;
    p += align8(((size_t)max_stacks + 1) * sizeof(struct stk_entry));
    t->frames = (uint64_t *)p;
}

/* Four independent lanes: a stack of 32 frames is hashed on every
 * allocation, and one multiply chain through all of them was most of the
 * interning cost (3-5 cycles of latency per frame). */
uint64_t stk_hash_frames(const uint64_t *f, uint32_t depth)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    uint64_t a = 0x243f6a8885a308d3ull ^ depth, b = 0x13198a2e03707344ull,
             c = 0xa4093822299f31d0ull, d = 0x082efa98ec4e6c89ull;
    uint32_t i = 0;
    for (; i + 4 <= depth; i += 4) {
        a = (a ^ f[i]) * k;
        b = (b ^ f[i + 1]) * k;
        c = (c ^ f[i + 2]) * k;
        d = (d ^ f[i + 3]) * k;
        a ^= a >> 29;
        b ^= b >> 29;
        c ^= c >> 29;
        d ^= d >> 29;
    }
    for (; i < depth; i++) {
        a = (a ^ f[i]) * k;
        a ^= a >> 29;
    }
    uint64_t h = a ^ ((b << 17) | (b >> 47)) ^ ((c << 31) | (c >> 33)) ^ ((d << 47) | (d >> 17));
    h *= k;
    h ^= h >> 32;
    return h | 1; /* never 0 */
}

/* Inline: stacks are a few frames, a library memcmp call costs more. */
static inline int frames_equal(const uint64_t *a, const uint64_t *b, uint32_t depth)
{
    for (uint32_t i = 0; i < depth; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static inline uint64_t *frames_of(const struct stk_table *t, uint32_t id)
{
    return &t->frames[(size_t)id * t->max_depth];
}

static void count_drop(struct stk_table *t)
{
    __atomic_fetch_add(&t->dropped, 1, __ATOMIC_RELAXED);
}

/* A free id: a recycled one first (so touched memory follows the most
 * stacks ever in the table), else one never used; 0 when full. The tag in
 * the list head's upper half makes a pop that raced with a pop and a push
 * of the same id fail its CAS (ABA). */
static uint32_t take_id(struct stk_table *t)
{
    uint64_t head = __atomic_load_n(&t->free_head, __ATOMIC_ACQUIRE);
    while ((uint32_t)head) {
        uint32_t id = (uint32_t)head;
        uint32_t next = __atomic_load_n(&t->entries[id].next_free, __ATOMIC_RELAXED);
        uint64_t want = ((head >> 32) + 1) << 32 | next;
        if (__atomic_compare_exchange_n(&t->free_head, &head, want, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return id;
    }
    if (__atomic_load_n(&t->next_id, __ATOMIC_RELAXED) >= t->max_stacks)
        return 0;
    uint32_t id = __atomic_fetch_add(&t->next_id, 1, __ATOMIC_RELAXED) + 1;
    if (id > t->max_stacks) {
        __atomic_store_n(&t->next_id, t->max_stacks, __ATOMIC_RELAXED);
        return 0;
    }
    return id;
}

static void push_free(struct stk_table *t, uint32_t id)
{
    uint64_t head = __atomic_load_n(&t->free_head, __ATOMIC_ACQUIRE);
    for (;;) {
        __atomic_store_n(&t->entries[id].next_free, (uint32_t)head, __ATOMIC_RELAXED);
        uint64_t want = ((head >> 32) + 1) << 32 | id;
        if (__atomic_compare_exchange_n(&t->free_head, &head, want, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return;
    }
}

uint32_t stk_table_intern(struct stk_table *t, const uint64_t *frames, uint32_t depth)
{
    if (depth > t->max_depth)
        depth = t->max_depth;
    return stk_table_intern_hashed(t, frames, depth, stk_hash_frames(frames, depth));
}

/* Fills a claimed slot (state BUSY, previously `was`) with a new id. */
static uint32_t insert_at(struct stk_table *t, uint32_t i, uint32_t was, const uint64_t *frames,
                          uint32_t depth, uint64_t h)
{
    struct stk_slot *s = &t->slots[i];
    uint32_t id = take_id(t);
    if (!id) {
        __atomic_store_n(&s->state, was, __ATOMIC_RELEASE);
        count_drop(t);
        return SNAP_STACK_NONE;
    }
    struct stk_entry *e = &t->entries[id];
    memcpy(frames_of(t, id), frames, (size_t)depth * 8);
    e->depth = depth;
    e->slot = i + 1;
    e->born = __atomic_load_n(&t->sweeps, __ATOMIC_RELAXED);
    __atomic_store_n(&e->state, STK_ENTRY_LIVE, __ATOMIC_RELEASE);
    s->hash = h;
    s->depth = depth;
    __atomic_fetch_add(&t->live, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->state, id, __ATOMIC_RELEASE);
    return id;
}

uint32_t stk_table_intern_hashed(struct stk_table *t, const uint64_t *frames, uint32_t depth,
                                 uint64_t h)
{
    if (depth > t->max_depth)
        depth = t->max_depth;
restart:;
    uint32_t tomb = STK_TOMB; /* the first removed slot on the way: where a new stack goes */
    uint32_t i = (uint32_t)h & t->slot_mask;
    for (uint32_t probes = 0; probes <= t->slot_mask; probes++, i = (i + 1) & t->slot_mask) {
        struct stk_slot *s = &t->slots[i];
        uint32_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        while (state == STK_BUSY) {
            util_cpu_relax();
            state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        }
        if (state == STK_TOMB) {
            if (tomb == STK_TOMB)
                tomb = i;
            continue;
        }
        if (state == 0) { /* the end of the chain: not in the table */
            uint32_t at = tomb != STK_TOMB ? tomb : i;
            uint32_t was = tomb != STK_TOMB ? STK_TOMB : 0, expected = was;
            if (!__atomic_compare_exchange_n(&t->slots[at].state, &expected, STK_BUSY, 0,
                                             __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                goto restart; /* someone else took it: look again, it may be this stack */
            return insert_at(t, at, was, frames, depth, h);
        }
        if (s->hash == h && s->depth == depth && frames_equal(frames_of(t, state), frames, depth))
            return state;
    }
    if (tomb != STK_TOMB) { /* no empty slot left, but a removed one */
        uint32_t expected = STK_TOMB;
        if (__atomic_compare_exchange_n(&t->slots[tomb].state, &expected, STK_BUSY, 0,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return insert_at(t, tomb, STK_TOMB, frames, depth, h);
    }
    count_drop(t);
    return SNAP_STACK_NONE;
}

uint32_t stk_table_count(const struct stk_table *t)
{
    uint32_t n = __atomic_load_n(&t->next_id, __ATOMIC_ACQUIRE);
    return n > t->max_stacks ? t->max_stacks : n;
}

uint32_t stk_table_live(const struct stk_table *t)
{
    return __atomic_load_n(&t->live, __ATOMIC_RELAXED);
}

uint32_t stk_table_get(const struct stk_table *t, uint32_t id, const uint64_t **frames)
{
    if (id == SNAP_STACK_NONE || id > t->max_stacks)
        return 0;
    const struct stk_entry *e = &t->entries[id];
    uint32_t state = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
    if (state != STK_ENTRY_LIVE && state != STK_ENTRY_UNPUBLISHED)
        return 0;
    *frames = frames_of(t, id);
    return e->depth;
}

/* Takes id out of the hash index: its slot becomes a tombstone, and
 * tombstones that end a chain become empty again. */
static void unpublish(struct stk_table *t, uint32_t id)
{
    struct stk_entry *e = &t->entries[id];
    if (e->slot) {
        uint32_t i = e->slot - 1, expected = id;
        if (!__atomic_compare_exchange_n(&t->slots[i].state, &expected, STK_TOMB, 0,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return; /* not published yet: look again at the next sweep */
        e->slot = 0;
        uint32_t next = __atomic_load_n(&t->slots[(i + 1) & t->slot_mask].state, __ATOMIC_ACQUIRE);
        for (uint32_t n = 0; next == 0 && n <= t->slot_mask; n++, i = (i - 1) & t->slot_mask) {
            uint32_t expected = STK_TOMB;
            if (!__atomic_compare_exchange_n(&t->slots[i].state, &expected, 0, 0, __ATOMIC_RELEASE,
                                             __ATOMIC_RELAXED))
                break; /* not a tombstone (or an insert is reusing it) */
        }
    }
    __atomic_store_n(&e->state, STK_ENTRY_UNPUBLISHED, __ATOMIC_RELEASE);
}

uint32_t stk_table_sweep(struct stk_table *t, const struct stk_sweep_ops *ops)
{
    uint32_t now = __atomic_add_fetch(&t->sweeps, 1, __ATOMIC_RELAXED);
    /* Ids released at the previous sweep: a whole sweep interval has passed
     * since any lookup could return them, so they can be handed out again. */
    for (uint32_t id = t->released, next; id; id = next) {
        next = t->entries[id].next_free;
        if (ops->recycle)
            ops->recycle(id, ops->arg);
        t->entries[id].depth = 0;
        __atomic_store_n(&t->entries[id].state, STK_ENTRY_FREE, __ATOMIC_RELEASE);
        push_free(t, id);
    }
    t->released = 0;
    uint32_t n = stk_table_count(t), released = 0;
    for (uint32_t id = 1; id <= n; id++) {
        struct stk_entry *e = &t->entries[id];
        uint32_t state = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
        if (state != STK_ENTRY_LIVE && state != STK_ENTRY_UNPUBLISHED)
            continue;
        /* Interned since the previous sweep (or being interned now): its
         * first use may still be on its way. */
        if (now - e->born < 2)
            continue;
        if (!ops->idle(id, ops->arg))
            continue;
        if (state == STK_ENTRY_LIVE) {
            unpublish(t, id);
            continue;
        }
        if (ops->release && !ops->release(id, ops->arg))
            continue;
        __atomic_store_n(&e->state, STK_ENTRY_RELEASED, __ATOMIC_RELEASE);
        e->next_free = t->released;
        t->released = id;
        released++;
    }
    if (released) {
        __atomic_fetch_sub(&t->live, released, __ATOMIC_RELAXED);
        __atomic_fetch_add(&t->epoch, 1, __ATOMIC_RELEASE);
        t->retired += released;
    }
    return released;
}
