/*
 * Implementation of common/stacktable.h: open addressing with linear probing
 * over a power-of-two slot array sized at twice the stack limit, plus a bump
 * allocated frame pool. A writer claims an empty slot with one CAS (state
 * 0 -> BUSY), fills it and publishes the id with a release store; readers that
 * meet a BUSY slot wait for it, which is only as long as a memcpy of a stack.
 */
#include "stacktable.h"
#include "util.h"

#include <string.h>

#define STK_BUSY   0xffffffffu
#define STK_DEAD   0xfffffffeu
#define STK_MAX_ID 0xfffffff0u

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

size_t stk_table_memsize(uint32_t max_stacks, uint64_t frame_cap)
{
    return align8((size_t)slot_count(max_stacks) * sizeof(struct stk_slot)) +
           align8((size_t)frame_cap * 8) + align8(((size_t)max_stacks + 1) * 4);
}

void stk_table_init(struct stk_table *t, void *mem, uint32_t max_stacks, uint64_t frame_cap)
{
    if (max_stacks > STK_MAX_ID)
        max_stacks = STK_MAX_ID;
    uint32_t slots = slot_count(max_stacks);
    char *p = mem;
    memset(t, 0, sizeof(*t));
    t->slot_mask = slots - 1;
    t->max_stacks = max_stacks;
    t->frame_cap = frame_cap;
    t->slots = (struct stk_slot *)p;
    p += align8((size_t)slots * sizeof(struct stk_slot));
    t->frames = (uint64_t *)p;
    p += align8((size_t)frame_cap * 8);
    t->id_to_slot = (uint32_t *)p;
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

static void count_drop(struct stk_table *t)
{
    __atomic_fetch_add(&t->dropped, 1, __ATOMIC_RELAXED);
}

uint32_t stk_table_intern(struct stk_table *t, const uint64_t *frames, uint32_t depth)
{
    if (depth > SNAP_MAX_STACK_DEPTH)
        depth = SNAP_MAX_STACK_DEPTH;
    return stk_table_intern_hashed(t, frames, depth, stk_hash_frames(frames, depth));
}

uint32_t stk_table_intern_hashed(struct stk_table *t, const uint64_t *frames, uint32_t depth,
                                 uint64_t h)
{
    if (depth > SNAP_MAX_STACK_DEPTH)
        depth = SNAP_MAX_STACK_DEPTH;
    uint32_t i = (uint32_t)h & t->slot_mask;
    for (uint32_t probes = 0; probes <= t->slot_mask; probes++, i = (i + 1) & t->slot_mask) {
        struct stk_slot *s = &t->slots[i];
        uint32_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (state == 0) {
            if (__atomic_load_n(&t->next_id, __ATOMIC_RELAXED) >= t->max_stacks) {
                count_drop(t);
                return SNAP_STACK_NONE;
            }
            uint32_t expected = 0;
            if (!__atomic_compare_exchange_n(&s->state, &expected, STK_BUSY, 0, __ATOMIC_ACQUIRE,
                                             __ATOMIC_RELAXED)) {
                state = expected; /* someone else claimed it: examine what they wrote */
            } else {
                uint64_t off = __atomic_fetch_add(&t->next_frame, depth, __ATOMIC_RELAXED);
                uint32_t id = __atomic_fetch_add(&t->next_id, 1, __ATOMIC_RELAXED) + 1;
                if (off + depth > t->frame_cap || id > t->max_stacks) {
                    __atomic_store_n(&s->state, STK_DEAD, __ATOMIC_RELEASE);
                    count_drop(t);
                    return SNAP_STACK_NONE;
                }
                memcpy(&t->frames[off], frames, (size_t)depth * 8);
                s->hash = h;
                s->depth = depth;
                s->frame_off = off;
                __atomic_store_n(&t->id_to_slot[id], i + 1, __ATOMIC_RELEASE);
                __atomic_store_n(&s->state, id, __ATOMIC_RELEASE);
                return id;
            }
        }
        while (state == STK_BUSY) {
            util_cpu_relax();
            state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        }
        if (state == STK_DEAD)
            continue;
        if (s->hash == h && s->depth == depth &&
            frames_equal(&t->frames[s->frame_off], frames, depth))
            return state;
    }
    count_drop(t);
    return SNAP_STACK_NONE;
}

uint32_t stk_table_count(const struct stk_table *t)
{
    uint32_t n = __atomic_load_n(&t->next_id, __ATOMIC_ACQUIRE);
    return n > t->max_stacks ? t->max_stacks : n;
}

uint32_t stk_table_get(const struct stk_table *t, uint32_t id, const uint64_t **frames)
{
    if (id == SNAP_STACK_NONE || id > t->max_stacks)
        return 0;
    uint32_t si = __atomic_load_n(&t->id_to_slot[id], __ATOMIC_ACQUIRE);
    if (si == 0)
        return 0;
    const struct stk_slot *s = &t->slots[si - 1];
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != id)
        return 0;
    *frames = &t->frames[s->frame_off];
    return s->depth;
}
