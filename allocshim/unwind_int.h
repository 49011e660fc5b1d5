/*
 * What unwind.c and callsite.c share: the per-thread unwind cache (row
 * cache, the previous capture's steps, recent stack ids, call-site memos)
 * and its sizes. Private to the shim.
 */
#ifndef LEAKAUDIT_UNWIND_INT_H
#define LEAKAUDIT_UNWIND_INT_H

#include "snapshot.h"
#include "unwind_table.h"

#include <stdint.h>

#define ROW_CACHE 4096 /* per thread, 64 KiB: python3's deep stacks touch ~2,000 pcs */
#define MAX_STEPS (SNAP_MAX_STACK_DEPTH + 8)
#define ID_MEMO   1024 /* per thread, 16 KiB */
/* Call-site memos: sets of 8 ways, 2 cache lines each. 16 sets per thread,
 * doubled while it keeps refilling them, up to 2^SITE_MID (68 KiB with the
 * tags), for SITE_BIG threads at a time 2^SITE_SET_BITS (272 KiB). */
#define SITE_SET_BITS 8 /* the most sets a thread may use: 2^8 */
#define SITE_START    4 /* a thread's first 2^4 sets */
#define SITE_MID      6 /* as many as any thread may grow to */
#define SITE_BIG      32
#define SITE_WAYS     8u
#define SITE_MEMO     (SITE_WAYS << SITE_SET_BITS)
#define SITE_STEPS    40 /* steps a memo holds: the default depth's (32) stacks fit */

/* One unwound step: where the return address was and the caller's state,
 * and the other stack words the step read: the step is taken again only
 * where they hold the same values (the return address: pc; the CFA's word:
 * sp; the frame pointer's: fp, when a later step's CFA comes from it). */
struct unw_step_rec {
    uint64_t slot; /* return-address slot (0: not cacheable) | STEP_* */
    uint64_t pc, sp, fp;
    uint64_t cfa_at; /* the word the CFA was read from (0: computed, not read) */
    uint64_t fp_at;  /* the word fp was restored from (0: carried over) */
};
#define STEP_RECORDED 1ull /* the step's pc is a frame of the stack */
/* The step's CFA came from the frame pointer (a frame with alloca, or the
 * frame-pointer rule): where it lands is not fixed by the return-address
 * slots below it, but by that register's value. */
#define STEP_CFA_FP 2ull
/* The frame pointer this step left is the one a later step's CFA came from
 * (set once the capture is complete: mark_fp_kept). */
#define STEP_FP_KEPT 4ull
#define STEP_SLOT(s) ((s) & ~7ull) /* slots are words: the low bits are free */

/* The stack words step st read and the values they held, the one list
 * both ways of reusing a stack check (unwind.c's tail_holds, callsite.c's
 * memos): its return address (addr[0], 0: a step nothing checks), the word
 * its CFA was read from, and the word its fp was restored from when a
 * later step's CFA comes from that fp. Returns how many (1 to 3). */
static inline uint32_t step_words(const struct unw_step_rec *st, uint64_t addr[3], uint64_t val[3])
{
    uint32_t n = 1;
    addr[0] = STEP_SLOT(st->slot);
    val[0] = st->pc;
    if (st->cfa_at) {
        addr[n] = st->cfa_at;
        val[n++] = st->sp;
    }
    if ((st->slot & STEP_FP_KEPT) && st->fp_at) {
        addr[n] = st->fp_at;
        val[n++] = st->fp;
    }
    return n;
}

struct unw_cache {
    uint32_t gen; /* module-set generation the row cache belongs to */
    struct {
        uint64_t pc; /* lookup address + 1 (0: empty) */
        const struct unw_row *row;
    } rows[ROW_CACHE];
    /* The previous capture (buffer cur) and the one being taken (cur ^ 1). */
    uint32_t cur, prev_n, prev_complete;
    struct id_memo {
        uint64_t hash;
        uint32_t depth : 8;  /* <= SNAP_MAX_STACK_DEPTH */
        uint32_t epoch : 24; /* the stack table's epoch when filled (low bits) */
        uint32_t id;
    } ids[ID_MEMO]; /* shim_capture_stack_id: recent stacks of this thread */
    struct unw_step_rec step[2][MAX_STEPS];
    uint32_t captures; /* captures kept in step[] (cache_keep): tells a nested one happened */
    /* a set's tags (hash of return address and frame, 0: empty): one line */
    uint64_t site_tags[SITE_MEMO] __attribute__((aligned(64)));
    struct site_memo {
        uint64_t ret, frame, fp; /* the hook's return address and frame, the caller's fp */
        uint64_t vals;           /* site_fold() of the slots' values */
        uint32_t id, epoch, gen;
        uint16_t n, off[SITE_STEPS]; /* return-address slots, in words from the hook's frame */
        uint8_t fp_used;             /* a step's CFA came from the caller's fp: compare it */
    } __attribute__((aligned(64))) sites[SITE_MEMO];
    uint8_t site_next[1u << SITE_SET_BITS]; /* the way each set fills next */
    uint32_t site_fills; /* fills since the sets last grew (shim_tls: how many) */
    struct unw_cache *next_free;
};

/* unwind.c: the module set's generation (a memo from another set is
 * stale) and how many threads' memos grew past SITE_MID. */
extern uint32_t shim_unw_seg_gen;
extern int shim_unw_big_sites;

#endif
