/*
 * The reachability classifier (reachmark.h): valgrind memcheck's leak-check
 * rules over a sorted block array. It runs inside the audited process (the
 * shim, with every other thread stopped) and in the tracer, so it never
 * allocates and never calls into libc beyond memcpy/memset.
 */
#include "reachmark.h"
#include "snapshot.h"

#include <string.h>

#define WORD              8u
#define RADIX_BITS        16
#define RADIX_BUCKETS     (1u << RADIX_BITS)
#define KEY_SHIFT         3 /* blocks are at least 8-byte aligned: the low bits carry nothing */
#define RMARK_UNLIKELY(x) __builtin_expect(!!(x), 0)

size_t rmark_sort_scratch(size_t n)
{
    return n * sizeof(struct rmark_block) + RADIX_BUCKETS * sizeof(size_t);
}

/* LSD radix sort on (addr >> 3), 16 bits per pass: 3 passes cover user
 * space, so a million blocks sort in a few tens of milliseconds, the time
 * the program's threads are stopped. Passes whose digit is constant are
 * skipped. */
void rmark_sort(struct rmark_block *b, size_t n, void *scratch)
{
    struct rmark_block *tmp = scratch;
    size_t *count = (size_t *)((char *)scratch + n * sizeof(*tmp));
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++)
        max = b[i].addr > max ? b[i].addr : max;
    struct rmark_block *src = b, *dst = tmp;
    for (unsigned shift = KEY_SHIFT; shift < 64 && (max >> shift); shift += RADIX_BITS) {
        memset(count, 0, RADIX_BUCKETS * sizeof(*count));
        for (size_t i = 0; i < n; i++)
            count[(src[i].addr >> shift) & (RADIX_BUCKETS - 1)]++;
        int constant = 0;
        for (size_t d = 0; d < RADIX_BUCKETS; d++)
            if (count[d] == n)
                constant = 1;
        if (constant)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < RADIX_BUCKETS; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i].addr >> shift) & (RADIX_BUCKETS - 1)]++] = src[i];
        struct rmark_block *t = src;
        src = dst;
        dst = t;
    }
    if (src != b)
        memcpy(b, src, n * sizeof(*b));
}

void rmark_begin(struct rmark *m)
{
    m->lo = m->n ? m->blocks[0].addr : 1;
    m->hi = 0;
    for (size_t i = 0; i < m->n; i++) {
        uint64_t end = m->blocks[i].addr + (m->blocks[i].size ? m->blocks[i].size : 1);
        m->hi = end > m->hi ? end : m->hi;
        m->blocks[i].state = RMARK_UNREACHED;
    }
    m->depth = 0;
    m->scanning = -1;
    m->roots_bytes = 0;
    m->read_failures = 0;
}

long rmark_find(const struct rmark *m, uint64_t p)
{
    if (p < m->lo || p >= m->hi)
        return -1;
    size_t l = 0, r = m->n;
    while (l < r) { /* first block with addr > p */
        size_t mid = l + (r - l) / 2;
        if (m->blocks[mid].addr <= p)
            l = mid + 1;
        else
            r = mid;
    }
    if (l == 0)
        return -1;
    const struct rmark_block *b = &m->blocks[l - 1];
    if (p - b->addr < b->size || p == b->addr) /* a zero-size block: its start only */
        return (long)(l - 1);
    return -1;
}

static inline void push(struct rmark *m, size_t i)
{
    m->stack[m->depth++] = (uint32_t)i;
}

/* One candidate pointer found in a root (definite = 1) or in a block in the
 * mark phase (definite = that block is reachable). */
/* A pointer to the header of the chunk after the block (see ignore_chunk_tail). */
static inline int next_chunk_header(const struct rmark *m, const struct rmark_block *b, uint64_t p)
{
    return m->ignore_chunk_tail && p != b->addr && p % 16 == 0 && p + 8 >= b->addr + b->size;
}

/* An aligned allocation made by over-allocating is held by its start
 * rounded up to the alignment, the start itself kept next to that address
 * so that it can be freed: in the word before it (the usual aligned-malloc
 * idiom) or in the header there (glibc's _dl_find_object segments, which
 * the loader allocates at a dlopen and points to only that way, keep it in
 * their second word). Such a pointer is the block's start pointer
 * (docs/reachability.md). */
#define RMARK_ALIGN_MAX 4096

int rmark_aligned_start(const struct rmark *m, const struct rmark_block *b, uint64_t p)
{
    uint64_t off = p - b->addr;
    if (off < WORD || off > RMARK_ALIGN_MAX || p % 16 || p + 2 * WORD > b->addr + b->size)
        return 0;
    uint64_t w[3];
    if (m->read) {
        if (m->read(m->read_arg, p - WORD, w, sizeof(w)) != sizeof(w))
            return 0;
    } else {
        for (int i = 0; i < 3; i++)
            w[i] = *(const volatile uint64_t *)(uintptr_t)(p - WORD + i * WORD);
    }
    return w[0] == b->addr || w[1] == b->addr || w[2] == b->addr;
}

static inline void found(struct rmark *m, uint64_t p, int definite, uint64_t at)
{
    long k = rmark_find(m, p);
    if (k < 0)
        return;
    struct rmark_block *b = &m->blocks[k];
    if (next_chunk_header(m, b, p))
        return;
    if (b->state == RMARK_REACHABLE)
        return;
    if (definite && (p == b->addr || rmark_aligned_start(m, b, p))) {
        b->state = RMARK_REACHABLE; /* (re)scan: what it points to is now definite too */
        push(m, (size_t)k);
    } else if (b->state == RMARK_UNREACHED) {
        b->state = RMARK_POSSIBLE;
        push(m, (size_t)k);
    } else {
        return;
    }
    if (RMARK_UNLIKELY(m->why))
        m->why(m->why_arg, (size_t)k, at, m->scanning);
}

/* The same in the clique phase: any pointer into an unclaimed lost block
 * makes it part of the leader's clique. */
static inline void found_in_clique(struct rmark *m, uint64_t p, size_t leader)
{
    long k = rmark_find(m, p);
    if (k < 0 || (size_t)k == leader)
        return;
    struct rmark_block *b = &m->blocks[k];
    if (b->state != RMARK_UNREACHED || next_chunk_header(m, b, p))
        return;
    b->state = RMARK_INDIRECT;
    push(m, (size_t)k);
}

/* Visits every aligned word in [start, end): mode 0 = root/mark, 1 = clique. */
static void scan_range(struct rmark *m, uint64_t start, uint64_t end, int definite, int clique,
                       size_t leader)
{
    start = (start + WORD - 1) & ~(uint64_t)(WORD - 1);
    end &= ~(uint64_t)(WORD - 1);
    if (end <= start)
        return;
    if (!m->read) {
        const uint64_t *w = (const uint64_t *)(uintptr_t)start;
        const uint64_t *e = (const uint64_t *)(uintptr_t)end;
        uint64_t lo = m->lo, hi = m->hi;
        for (; w < e; w++) {
            uint64_t v = *(const volatile uint64_t *)w;
            if (v < lo || v >= hi)
                continue;
            if (clique)
                found_in_clique(m, v, leader);
            else
                found(m, v, definite, (uint64_t)(uintptr_t)w);
        }
        return;
    }
    while (start < end) {
        size_t len = end - start < RMARK_READ_CHUNK ? (size_t)(end - start) : RMARK_READ_CHUNK;
        size_t got = m->read(m->read_arg, start, m->chunk, len) & ~(size_t)(WORD - 1);
        for (size_t i = 0; i < got / WORD; i++) {
            uint64_t v = m->chunk[i];
            if (v < m->lo || v >= m->hi)
                continue;
            if (clique)
                found_in_clique(m, v, leader);
            else
                found(m, v, definite, start + i * WORD);
        }
        if (got < len) {
            /* skip the unreadable page and go on with the next one */
            uint64_t next = ((start + got) | 4095) + 1;
            m->read_failures += (next < end ? next : end) - (start + got);
            start = next;
            continue;
        }
        start += len;
    }
}

void rmark_scan_root(struct rmark *m, uint64_t start, uint64_t end)
{
    if (end <= start || !m->n)
        return;
    m->roots_bytes += end - start;
    scan_range(m, start, end, 1, 0, 0);
    rmark_propagate(m); /* keeps the mark stack short */
}

void rmark_scan_values(struct rmark *m, const uint64_t *v, size_t n)
{
    m->roots_bytes += n * WORD;
    for (size_t i = 0; i < n && m->n; i++)
        if (v[i] >= m->lo && v[i] < m->hi)
            found(m, v[i], 1, 0);
    rmark_propagate(m);
}

void rmark_propagate(struct rmark *m)
{
    long outer = m->scanning;
    while (m->depth) {
        uint32_t i = m->stack[--m->depth];
        const struct rmark_block *b = &m->blocks[i];
        m->scanning = (long)i;
        scan_range(m, b->addr, b->addr + b->size, b->state == RMARK_REACHABLE, 0, 0);
    }
    m->scanning = outer;
}

void rmark_classify(struct rmark *m)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->blocks[i].state != RMARK_UNREACHED)
            continue;
        push(m, i);
        while (m->depth) {
            const struct rmark_block *b = &m->blocks[m->stack[--m->depth]];
            scan_range(m, b->addr, b->addr + b->size, 0, 1, i);
        }
    }
    for (size_t i = 0; i < m->n; i++) {
        uint32_t s = m->blocks[i].state;
        m->blocks[i].state = s == RMARK_REACHABLE  ? SNAP_REACH_REACHABLE
                             : s == RMARK_POSSIBLE ? SNAP_REACH_POSSIBLE
                             : s == RMARK_INDIRECT ? SNAP_REACH_INDIRECT
                                                   : SNAP_REACH_DEFINITE;
    }
}

/* Index of the first block starting at or after addr (m->n if none). */
static size_t first_block_from(const struct rmark *m, uint64_t addr)
{
    size_t l = 0, r = m->n;
    while (l < r) {
        size_t mid = l + (r - l) / 2;
        if (m->blocks[mid].addr < addr)
            l = mid + 1;
        else
            r = mid;
    }
    return l;
}

int rmark_has_blocks(const struct rmark *m, uint64_t start, uint64_t end)
{
    size_t l = first_block_from(m, start);
    return l < m->n && m->blocks[l].addr < end;
}

void rmark_scan_root_between_blocks(struct rmark *m, uint64_t start, uint64_t end)
{
    size_t l = first_block_from(m, start);
    if (l > 0 && m->blocks[l - 1].addr + m->blocks[l - 1].size > start)
        start = m->blocks[l - 1].addr + m->blocks[l - 1].size;
    for (size_t i = l; i < m->n && start < end && m->blocks[i].addr < end; i++) {
        if (m->blocks[i].addr > start)
            rmark_scan_root(m, start, m->blocks[i].addr);
        uint64_t b_end = m->blocks[i].addr + m->blocks[i].size;
        start = b_end > start ? b_end : start;
    }
    if (start < end)
        rmark_scan_root(m, start, end);
}
