/*
 * The reachability classifier shared by the shim (in-process scan) and the
 * tracer (a stopped target read with process_vm_readv): a conservative
 * mark phase over a sorted array of outstanding blocks, with valgrind
 * memcheck's rules (docs/reachability.md):
 *
 *   - a word in a root that equals a block's start makes it reachable; a
 *     word pointing inside it (interior pointer) makes it possibly lost;
 *   - blocks are scanned transitively; a start pointer found in a reachable
 *     block makes the target reachable, any pointer found in a possibly-lost
 *     block makes the target possibly lost;
 *   - what is left is lost. Going through the lost blocks in address order,
 *     each one not yet claimed leads a "clique": every lost block reachable
 *     from it (start or interior pointer) is indirectly lost, the leader is
 *     definitely lost. A cycle nobody points to is therefore one definitely
 *     lost block (the lowest address) and the rest indirectly lost.
 *
 * No allocation here: the caller provides every array (the shim maps them
 * with mmap while the program's threads are stopped).
 */
#ifndef LEAKAUDIT_REACHMARK_H
#define LEAKAUDIT_REACHMARK_H

#include <stddef.h>
#include <stdint.h>

/* Mark states; after rmark_classify they are enum snap_reach_class values. */
enum rmark_state {
    RMARK_UNREACHED = 0,
    RMARK_POSSIBLE = 1,
    RMARK_REACHABLE = 2,
    RMARK_INDIRECT = 3,
};

struct rmark_block {
    uint64_t addr;
    uint64_t size;
    uint32_t stack_id;
    uint32_t state; /* enum rmark_state, then enum snap_reach_class */
};

/* Reads len bytes of the audited memory at addr into buf; returns the number
 * of bytes read (a short count at an unmapped page is fine). */
typedef size_t (*rmark_read_fn)(void *arg, uint64_t addr, void *buf, size_t len);

#define RMARK_READ_CHUNK 65536 /* bytes per read through rmark_read_fn */

struct rmark {
    struct rmark_block *blocks; /* sorted by addr (rmark_sort) */
    size_t n;
    uint32_t *stack; /* mark stack: room for 2 * n + 1 entries */
    size_t depth;
    rmark_read_fn read; /* NULL: memory is this process's own, read directly */
    void *read_arg;
    uint64_t *chunk; /* RMARK_READ_CHUNK bytes, needed when read != NULL */
    uint64_t lo, hi; /* lowest block start, highest block end */
    uint64_t roots_bytes;
    uint64_t read_failures; /* root or block bytes that could not be read */
    /* glibc: a 16-aligned pointer into a block's last 8 bytes is the next
     * chunk's header (malloc's top or a bin), not a pointer to the block:
     * ignored (docs/reachability.md). */
    int ignore_chunk_tail;
    /* Optional, for explaining a block's class (LEAKAUDIT_REACH_WHY): called
     * whenever a block's mark rises (to possibly lost, or reachable) with
     * the address of the word that pointed at it (0: a saved register
     * value) and the block that word is in (-1: a root). NULL: nothing is
     * recorded. rmark_begin sets scanning to -1. */
    void (*why)(void *arg, size_t block, uint64_t at, long from);
    void *why_arg;
    long scanning; /* the block whose words are being scanned, -1: a root */
};

/* Bytes of scratch rmark_sort needs for n blocks. */
size_t rmark_sort_scratch(size_t n);
/* Sorts blocks by address (LSD radix sort; scratch from rmark_sort_scratch). */
void rmark_sort(struct rmark_block *b, size_t n, void *scratch);
/* Call once the blocks are sorted: sets lo/hi, clears states and the stack. */
void rmark_begin(struct rmark *m);
/* Index of the block containing p (start or interior), or -1. */
long rmark_find(const struct rmark *m, uint64_t p);
/* Is p, inside block b, the block's start rounded up to an alignment with
 * the start kept at p or just before it (an aligned allocation's handle)?
 * Counted as a start pointer. */
int rmark_aligned_start(const struct rmark *m, const struct rmark_block *b, uint64_t p);
/* Scans a root range word by word (8-byte aligned inside [start, end)). */
void rmark_scan_root(struct rmark *m, uint64_t start, uint64_t end);
/* Scans root words already in our memory (saved registers). */
void rmark_scan_values(struct rmark *m, const uint64_t *v, size_t n);
/* True when a block starts in [start, end). */
int rmark_has_blocks(const struct rmark *m, uint64_t start, uint64_t end);
/* Scans [start, end) as a root, minus the blocks in it (they are scanned
 * once reached). */
void rmark_scan_root_between_blocks(struct rmark *m, uint64_t start, uint64_t end);
/* Transitive marking from everything the roots reached. */
void rmark_propagate(struct rmark *m);
/* Lost-block cliques, then every block's state becomes its snap_reach_class. */
void rmark_classify(struct rmark *m);

#endif
