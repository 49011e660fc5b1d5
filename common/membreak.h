/*
 * The memory breakdown of a process (docs/memory.md): every resident byte of
 * /proc/PID/smaps put in exactly one component (snapshot.h, enum
 * snap_mem_component), the program's own mmaps and shared memory by the
 * stack that created them, dma-bufs by inode from /proc/PID/fdinfo, and the
 * smaps_rollup totals the components must add up to. One implementation for
 * the shim (pid 0, from inside the audited process) and the tracer (another
 * pid): the caller describes what it knows (its tracked mmaps, its own
 * memory, the live heap, the allocator's statistics), mb_collect measures.
 *
 * Rules, one per mapping, first match wins:
 *   [heap], anonymous memory nobody claims  -> the heap bucket, split below
 *   inside the tool's own ranges            -> leakaudit (resident pages, mincore)
 *   [stack], or holds a blocked thread's SP,
 *     or sits right above a small PROT_NONE guard -> thread_stacks
 *   overlaps a tracked anonymous mmap       -> anon_mmap, by its stack
 *   right after a writable file mapping     -> other_anon (a module's bss)
 *   /memfd:, /dev/shm/, /SYSV, /dev/zero    -> shmem, by the creating mmap's stack
 *   /dmabuf:, anon_inode:dmabuf             -> dmabuf
 *   any other path or [vdso]-like name      -> file
 * The heap bucket: heap_live = the live heap (at most the bucket),
 * allocator_retained = what the allocator says it holds beyond its
 * allocated bytes (at most the rest), other_anon = the rest. Without
 * allocator statistics (the tracer) retained is the rest itself, flagged
 * estimated. unaccounted = smaps_rollup's Rss minus the sum of the mappings.
 *
 * Allocation-free and stdio-free; the state lives in caller memory.
 */
#ifndef LEAKAUDIT_MEMBREAK_H
#define LEAKAUDIT_MEMBREAK_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

#define MB_MAX_ENTRIES 512  /* (component, stack) pairs; more go to stack 0 */
#define MB_MAX_DMABUFS 256  /* distinct dma-buf inodes; more are counted in dmabuf_bytes only */
#define MB_MAX_THREADS 4096 /* blocked threads' stack pointers looked at */

/* A mapping the capture saw the program make (its mmap table). */
struct mb_region {
    uint64_t start, end;
    uint32_t stack_id;
    uint32_t kind; /* enum snap_mmap_kind */
};

struct mb_range {
    uint64_t start, end;
};

struct mb_input {
    int pid;                   /* 0: this process */
    struct mb_region *regions; /* sorted in place by mb_collect */
    size_t n_regions;
    const struct mb_range *tool; /* the tool's own mappings (shim arena), may be empty */
    size_t n_tool;
    uint64_t live_heap;      /* the capture's live heap bytes */
    int alloc_known;         /* the allocator answered: alloc_resident, alloc_in_use */
    uint64_t alloc_resident; /* bytes it holds in memory (resident or committed) */
    uint64_t alloc_in_use;   /* bytes it has handed out (0: use live_heap) */
    /* The stack that created fd (dma-buf fds), SNAP_STACK_NONE if unknown. */
    uint32_t (*fd_stack)(int fd, void *arg);
    void *fd_stack_arg;
};

struct mb_result {
    struct snap_mem_info info;
    struct snap_mem_entry entries[MB_MAX_ENTRIES];
    size_t n_entries;
    struct snap_dmabuf dmabufs[MB_MAX_DMABUFS];
    size_t n_dmabufs;
    uint64_t sps[MB_MAX_THREADS]; /* scratch: blocked threads' stack pointers */
    size_t n_sps;
    char buf[65536]; /* scratch: smaps is read through it */
};

/* Measures pid's memory into r. 0, or -errno when smaps could not be read
 * (r->info then says SNAP_MEMI_NO_SMAPS and holds what rollup gave). */
int mb_collect(const struct mb_input *in, struct mb_result *r);

/* Writes r as the records of SNAP_SEC_MEMORY (info, entries, dma-bufs). */
int mb_emit(struct snap_writer *w, const struct mb_result *r);

/* The rollup totals of smaps_rollup into info (rss..swap, SNAP_MEMI_ROLLUP). */
int mb_read_rollup(int pid, struct snap_mem_info *info);

#endif
