/*
 * Guard mode's parts (guard.c) share this: the block layouts, the pattern
 * and poison helpers every part inlines, the state each part owns, and the
 * functions they call in each other. Not for any other file of the shim.
 *
 *   guard.c            init, the hooks' entry points, the periodic scan, fork
 *   guard_report.c     one event: stderr block, event list, policy
 *   guard_canary.c     redzones of canary blocks, poisoning freed ones
 *   guard_quarantine.c freed canary blocks held back, recycled, evicted
 *   guard_pages.c      guard-page slots and the SIGSEGV handler
 */
#ifndef LEAKAUDIT_GUARD_INT_H
#define LEAKAUDIT_GUARD_INT_H

#include "shim.h"

#include <string.h>

#define LEFT_RZ          32 /* header (16) + pattern (16) before the block */
#define RIGHT_RZ         16 /* at least this many pattern bytes after it */
#define HEADER_BYTES     16
#define PAGE_SLOTS       4096 /* guard-page slots (each: one data page) */
#define FREED_WINDOW     256  /* a freed slot is reused after this many later frees */
#define MAX_EVENTS       256
#define QUARANTINE_SLOTS (1u << 20) /* entries at most: 64 MiB of address space, reserved */
/* Recycling: a quarantined block whose real allocation had the same size
 * (redzones included: always a multiple of 16) is handed out again directly
 * once LEAKAUDIT_QUARANTINE bytes were freed after it, instead of going back
 * through the real allocator -- whose free and malloc, on memory freed that
 * long ago, are the quarantine's main cost. Sizes up to this many 16-byte
 * classes are recycled; larger blocks go back to the allocator. */
#define RECYCLE_CLASSES 4096 /* real blocks up to 64 KiB */
/* The quarantine holds up to 1 + 1/QUARANTINE_SLACK times its size, so that
 * blocks old enough to recycle are there to be found. */
#define QUARANTINE_SLACK 4
#define MAX_DUMP         SNAP_MAX_CORRUPTION_BYTES
/* Freed blocks are poisoned (and checked) over their first and last
 * shim_cfg.guard_poison bytes (LEAKAUDIT_GUARD_POISON, default 256, or the
 * whole block): use-after-free writes land in a struct's first or last
 * fields far more often than deep inside a buffer, and each further cache
 * line costs a miss at free and another at eviction. Guard pages catch any
 * offset. A victim's first and last PREFETCH_BYTES are warmed ahead. */
#define PREFETCH_BYTES 256

struct header {    /* at user - LEFT_RZ */
    uint64_t tag;  /* guard_secret ^ user address: a copy elsewhere does not match */
    uint32_t left; /* bytes from the real block start to the user pointer */
    uint32_t kind;
};

struct page_slot {
    uintptr_t user;
    uint64_t size;
    int state; /* 0 unused, 1 live, 2 freed, 3 disarmed (policy log opened it) */
    int right_aligned;
};

/* A freed canary block's record: it leaves the address table at free (one
 * table operation per free, as without guard mode) and lives here until it
 * is recycled or evicted, which then need no lookup. Records are linked
 * oldest to newest, and, per size class, in the same order (links are
 * entry index + 1; 0 is none). */
struct quarantined {
    uintptr_t user;
    uint64_t size;
    uint32_t alloc_stack, free_stack;
    uint32_t flags; /* SHIM_BLOCK_REPORTED: a corruption of it was reported */
    uint32_t left;  /* the real block starts at user - left */
    uint64_t seq;   /* push number (0: the entry is free) */
    uint64_t mark;  /* q_pushed after its push: its age is q_pushed - mark */
    uint32_t older, newer;
    uint32_t next_in_class; /* (free entries: the next free one) */
    uint32_t cls;           /* size class (real size / 16), 0: not recycled */
};
_Static_assert(sizeof(struct quarantined) == 64, "a quarantine record is one cache line");
#define PREFETCH_AHEAD 2  /* victims ahead whose memory is warmed at each push */
#define SCAN_BATCH     64 /* quarantined blocks checked per guard_q_lock hold */

/* ---- the pattern (guard.c owns it, guard_init fills it) ---- */

extern uint64_t guard_secret;
extern uint8_t guard_pat_live, guard_pat_free;

/* The redzone pattern: byte i of memory holds guard_pat_table[addr & 63], so a
 * redzone copied elsewhere does not look valid, and filling or checking is
 * a memcpy/memcmp from a 128-byte table (twice 64, for wrap-around). */
#define PAT_PERIOD 64
extern uint8_t guard_pat_table[2 * PAT_PERIOD];
extern uint8_t guard_poison_ref[2 * SHIM_GUARD_POISON_DEFAULT]; /* what guard_poison() writes */

/* Redzones are at most 64 bytes at a time, and guard_pat_table holds the period
 * twice, so one piece starting at guard_pat_table + (addr & 63) covers them; the
 * loops move or compare 8 bytes at a time without a library call. */
static inline void fill(uintptr_t addr, size_t len, uint8_t base)
{
    (void)base;
    while (len) {
        size_t off = addr & (PAT_PERIOD - 1), n = len < PAT_PERIOD ? len : PAT_PERIOD, i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, guard_pat_table + off + i, 8);
            memcpy((void *)(addr + i), &w, 8);
        }
        for (; i < n; i++)
            ((uint8_t *)addr)[i] = guard_pat_table[off + i];
        addr += n;
        len -= n;
    }
}

/* First address in [addr, addr+len) not holding the pattern, or 0. */
static inline uintptr_t check(uintptr_t addr, size_t len, uint8_t base)
{
    (void)base;
    while (len) {
        size_t off = addr & (PAT_PERIOD - 1), n = len < PAT_PERIOD ? len : PAT_PERIOD, i = 0;
        uint64_t diff = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t a, b;
            memcpy(&a, (const void *)(addr + i), 8);
            memcpy(&b, guard_pat_table + off + i, 8);
            diff |= a ^ b;
        }
        for (; i < n; i++)
            diff |= (uint8_t)(((const uint8_t *)addr)[i] ^ guard_pat_table[off + i]);
        if (diff)
            for (i = 0; i < n; i++)
                if (((const uint8_t *)addr)[i] != guard_pat_table[off + i])
                    return addr + i;
        addr += n;
        len -= n;
    }
    return 0;
}

static inline struct header *header_of(uintptr_t user)
{
    return (struct header *)(user - LEFT_RZ);
}

/* Pattern bytes after a block: RIGHT_RZ and up to the next 16-byte boundary. */
static inline size_t right_rz(size_t size)
{
    return RIGHT_RZ + ((16 - (size & 15)) & 15);
}

/* The real allocation behind a malloc-aligned canary block (a multiple of 16). */
static inline size_t user_total(size_t size)
{
    return size + LEFT_RZ + right_rz(size);
}

/* Freed blocks are poisoned with one constant byte: memset speed, and a
 * compare against a reference buffer. */
static inline __attribute__((always_inline)) void poison_ends(uintptr_t addr, size_t len,
                                                              size_t ends)
{
    if (len <= 2 * ends) {
        memset((void *)addr, guard_pat_free, len);
        return;
    }
    memset((void *)addr, guard_pat_free, ends);
    memset((void *)(addr + len - ends), guard_pat_free, ends);
}

static inline __attribute__((always_inline)) uintptr_t check_poison_range(uintptr_t addr,
                                                                          size_t len)
{
    /* memcmp against poisoned reference bytes: the C library's vector
     * compare reads 256 bytes in a few dozen cycles, a word loop takes ~100. */
    for (size_t done = 0; done < len; done += sizeof(guard_poison_ref)) {
        size_t n = len - done < sizeof(guard_poison_ref) ? len - done : sizeof(guard_poison_ref);
        if (memcmp((const void *)(addr + done), guard_poison_ref, n))
            for (size_t i = done; i < done + n; i++)
                if (((const uint8_t *)addr)[i] != guard_pat_free)
                    return addr + i;
    }
    return 0;
}

static inline __attribute__((always_inline)) uintptr_t check_poison_ends(uintptr_t addr, size_t len,
                                                                         size_t ends)
{
    if (len <= 2 * ends)
        return check_poison_range(addr, len);
    uintptr_t bad = check_poison_range(addr, ends);
    return bad ? bad : check_poison_range(addr + len - ends, ends);
}

/* Warms the lines guard_poison() writes over a block of len bytes at addr (its
 * first and last PREFETCH_BYTES at most); for_write: a constant. */
static inline __attribute__((always_inline)) void prefetch_poison_lines(uintptr_t addr, size_t len,
                                                                        int for_write)
{
    size_t ends = shim_cfg.guard_poison;
    if (ends > PREFETCH_BYTES)
        ends = PREFETCH_BYTES;
    size_t head = len <= 2 * ends ? len : ends;
    for (size_t i = 0; i < head; i += 64)
        __builtin_prefetch((const void *)(addr + i), for_write);
    if (len > 2 * ends)
        for (size_t i = len - ends; i < len; i += 64)
            __builtin_prefetch((const void *)(addr + i), for_write);
}

/* ---- guard_report.c ---- */
void guard_out(const char *s);
/* One clear block on stderr, the event in the next snapshot, then the
 * policy (may_abort: abort under policy abort). */
void guard_report(struct snap_corruption *c, const char *what, int may_abort);
void guard_dump_bytes(struct snap_corruption *c, uintptr_t at, uintptr_t end);
void guard_set_detail(struct snap_corruption *c, const char *s);
uint64_t guard_events_dropped(void);
void guard_write_events(struct snap_writer *w);
extern int guard_event_lock;

/* ---- guard_canary.c ---- */
void guard_poison(uintptr_t addr, size_t len);
uintptr_t guard_check_poison(uintptr_t addr, size_t len);
void guard_prefetch_victim(const struct quarantined *e);
int guard_check_canaries(uintptr_t user, const struct shim_block_info *info, uint32_t detect_stack,
                         const char *when);
uintptr_t guard_canary_take(size_t size, size_t align, struct quarantined *rec);
void guard_canary_arm(uintptr_t user, size_t size, size_t align, int kind, int zero,
                      const struct quarantined *rec);

/* ---- guard_quarantine.c ---- */
int guard_quarantine_init(void);
void guard_report_uaf(const struct quarantined *e, uintptr_t bad, const char *when);
void guard_quarantine_push(uintptr_t user, const struct shim_block_info *info, uint32_t flags);
void *guard_quarantine_recycle(size_t real_size, struct quarantined *rec);
int guard_quarantine_find(uintptr_t user, struct quarantined *out);
int guard_scan_quarantine(struct quarantined *out, uintptr_t *bad_at);
extern int guard_q_lock;

/* ---- guard_pages.c ---- */
void guard_pages_init(void);
void *guard_page_alloc(size_t size, size_t align, int zero);
void guard_page_free(uintptr_t user, const struct shim_block_info *info);
int guard_in_pool(uintptr_t p);
size_t guard_page_usable_size(uintptr_t p);
void guard_install_handler(void);
uint64_t guard_segv_handler_replaced(void);
uint64_t guard_page_slots_full(void);
extern int guard_slot_lock;

#endif
