/*
 * The stack table: interns call stacks (arrays of return addresses) into
 * small ids 1..max_stacks, in memory the caller provides, so the shim can use
 * it on its malloc hot path and the tracer can use it to merge BPF stacks.
 * Lookups and inserts are lock-free (one CAS to claim a slot). When it is
 * full, interning returns SNAP_STACK_NONE and counts the drop: nothing is
 * lost silently.
 *
 * Stacks also leave the table, so that what it holds is bounded by what is
 * live rather than by history (docs/snapshot-format.md, "Retired stacks").
 * The data owners decide what is still in use; stk_table_sweep() applies it
 * in two steps, one sweep (one snapshot) apart:
 *
 *   1. a stack its owners call idle is unpublished: lookups stop finding it
 *      (the same stack interned again gets a new id), but its id stays
 *      valid and its frames readable for whoever still holds the id;
 *   2. at the next sweep, if it is still idle, it is released: the owners
 *      fold what they keep about it, and its id goes back to the free list
 *      one sweep later still (recycle), so an id is only ever handed out
 *      again two sweeps after the last lookup could have returned it.
 *
 * A stack may transiently have two ids (interned again while unpublished,
 * or two threads racing to reuse tombstones): readers merge rows by frames,
 * so that costs a row, never a wrong figure.
 */
#ifndef LEAKAUDIT_STACKTABLE_H
#define LEAKAUDIT_STACKTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

/* The hash index: open addressing, linear probing. */
struct stk_slot {
    uint64_t hash;
    uint32_t state; /* 0 empty, STK_BUSY being written, STK_TOMB removed, else the id */
    uint32_t depth;
};

/* One id's stack; frames live in stk_table.frames at id * max_depth. */
struct stk_entry {
    uint32_t state;     /* STK_ENTRY_*: free, live, unpublished, released */
    uint32_t depth;     /* frames stored (0 while free) */
    uint32_t slot;      /* index slot + 1 while published, else 0 */
    uint32_t next_free; /* free and released lists */
    uint32_t born;      /* stk_table.sweeps when it was interned */
};

struct stk_table {
    uint32_t slot_mask;
    uint32_t max_stacks;
    uint32_t max_depth; /* frames kept per stack; deeper stacks are cut */
    struct stk_slot *slots;
    struct stk_entry *entries; /* [1..max_stacks] */
    uint64_t *frames;
    uint32_t next_id;   /* atomic: ids handed out so far (1..next_id have been used) */
    uint32_t live;      /* atomic: ids in use (published or unpublished) */
    uint64_t free_head; /* atomic: (tag << 32) | first free id, 0 = none */
    uint32_t released;  /* sweeper only: ids released at the last sweep */
    uint32_t epoch;     /* atomic: +1 at every sweep that released an id */
    uint64_t dropped;   /* atomic: interning attempts refused because full */
    uint64_t retired;   /* stacks released so far */
    uint32_t sweeps;    /* atomic: stk_table_sweep calls */
};

/* Bytes of memory stk_table_init needs for these limits. */
size_t stk_table_memsize(uint32_t max_stacks, uint32_t max_depth);
/* mem must be zeroed (fresh mmap) and stk_table_memsize() bytes long.
 * Untouched pages of it cost nothing: freed ids are reused before new ones,
 * so what is touched follows the most stacks ever in the table at once. */
void stk_table_init(struct stk_table *t, void *mem, uint32_t max_stacks, uint32_t max_depth);

/* Returns the id of frames[0..depth) (interning it if new), or
 * SNAP_STACK_NONE when the table is full (counted in t->dropped). */
uint32_t stk_table_intern(struct stk_table *t, const uint64_t *frames, uint32_t depth);
/* The same with the stack's hash already computed by stk_hash_frames(). */
uint32_t stk_table_intern_hashed(struct stk_table *t, const uint64_t *frames, uint32_t depth,
                                 uint64_t hash);
/* The table's hash of a stack (never 0). */
uint64_t stk_hash_frames(const uint64_t *frames, uint32_t depth);

/* Ids handed out so far: every id in the table is in 1..count (released
 * ids in that range have no frames: stk_table_get returns 0). */
uint32_t stk_table_count(const struct stk_table *t);
/* Stacks in the table now (published or unpublished). */
uint32_t stk_table_live(const struct stk_table *t);
/* Frames of an id; returns depth (0 if unknown, released or not yet published). */
uint32_t stk_table_get(const struct stk_table *t, uint32_t id, const uint64_t **frames);

/* What the data owners say about one id at a sweep. */
struct stk_sweep_ops {
    /* 1 if nothing references the stack now and it was not used since the
     * previous sweep. Called once per id in the table at every sweep. */
    int (*idle)(uint32_t id, void *arg);
    /* The stack leaves the table: fold what is kept about it. Returns 0 to
     * keep it after all (it was used while being released). */
    int (*release)(uint32_t id, void *arg);
    /* Its id is about to be handed out again: clear what is kept by id. */
    void (*recycle)(uint32_t id, void *arg);
    void *arg;
};

/* One sweep (see the top of this file). One caller at a time; interning
 * and lookups go on concurrently. A stack interned since the previous sweep
 * is not looked at yet. Returns the number of stacks released. */
uint32_t stk_table_sweep(struct stk_table *t, const struct stk_sweep_ops *ops);

#endif
