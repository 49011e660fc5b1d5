/*
 * The stack table: interns call stacks (arrays of return addresses) into
 * dense ids 1..N. Insert-only and lock-free (one CAS to claim a slot), in
 * memory the caller provides, so the shim can use it on its malloc hot path
 * and the tracer can use it to merge BPF stacks. When it is full, interning
 * returns SNAP_STACK_NONE and counts the drop: nothing is lost silently.
 */
#ifndef LEAKAUDIT_STACKTABLE_H
#define LEAKAUDIT_STACKTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

struct stk_slot {
    uint64_t hash;
    uint32_t state; /* 0 empty, STK_BUSY being written, STK_DEAD unusable, else id */
    uint32_t depth;
    uint64_t frame_off;
};

struct stk_table {
    uint32_t slot_mask;
    uint32_t max_stacks;
    uint64_t frame_cap;
    struct stk_slot *slots;
    uint64_t *frames;
    uint32_t *id_to_slot; /* slot index + 1, 0 while being written */
    uint32_t next_id;     /* atomic: ids handed out so far */
    uint64_t next_frame;  /* atomic: frames used so far */
    uint64_t dropped;     /* atomic: interning attempts refused because full */
};

/* Bytes of memory stk_table_init needs for these limits. */
size_t stk_table_memsize(uint32_t max_stacks, uint64_t frame_cap);
/* mem must be zeroed (fresh mmap) and stk_table_memsize() bytes long. */
void stk_table_init(struct stk_table *t, void *mem, uint32_t max_stacks, uint64_t frame_cap);

/* Returns the id of frames[0..depth) (interning it if new), or
 * SNAP_STACK_NONE when the table is full (counted in t->dropped). */
uint32_t stk_table_intern(struct stk_table *t, const uint64_t *frames, uint32_t depth);
/* The same with the stack's hash already computed by stk_hash_frames(). */
uint32_t stk_table_intern_hashed(struct stk_table *t, const uint64_t *frames, uint32_t depth,
                                 uint64_t hash);
/* The table's hash of a stack (never 0). */
uint64_t stk_hash_frames(const uint64_t *frames, uint32_t depth);

/* Number of ids handed out (ids are 1..count). */
uint32_t stk_table_count(const struct stk_table *t);
/* Frames of an id; returns depth (0 if unknown or not yet published). */
uint32_t stk_table_get(const struct stk_table *t, uint32_t id, const uint64_t **frames);

#endif
