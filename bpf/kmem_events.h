/*
 * Types shared by bpf/kmem.bpf.c, bpf/dmabuf.bpf.c and tracer/kmem.c: kernel
 * memory allocated in the target's context (`attach --kmem`,
 * docs/memory-kernel.md). One outstanding object per kernel address (a slab
 * object, or a struct page for page allocations), totals per row = (kind,
 * kernel stack, user site). Plain fixed-width data so both sides agree.
 */
#ifndef LEAKAUDIT_KMEM_EVENTS_H
#define LEAKAUDIT_KMEM_EVENTS_H

#include "trace_events.h"

#define TRC_KMEM_MAX_OBJECTS  (1u << 18) /* outstanding kernel objects tracked */
#define TRC_KMEM_MAX_ROWS     (1u << 14) /* (kind, kernel stack, user site) rows */
#define TRC_KMEM_MAX_KSTACKS  (1u << 14) /* kernel stack-trace map buckets */
#define TRC_KMEM_KSTACK_DEPTH 32         /* kernel frames kept per stack */
#define TRC_KMEM_CACHE_NAME   32         /* bytes of a slab cache's name kept */
#define TRC_DMABUF_EXP_NAME   32         /* bytes of a dma-buf exporter / buffer name */

/* What was allocated (= enum snap_kmem_kind in common/snapshot.h). */
enum trc_kmem_kind {
    TRC_KMEM_SLAB = 1,  /* kmalloc, kmem_cache_alloc: bytes_alloc of the object */
    TRC_KMEM_PAGES = 2, /* mm_page_alloc: PAGE_SIZE << order */
};

struct trc_kmem_key {
    struct trc_site user; /* the user stack at the system call / fault */
    __s32 kstack_id;      /* kernel stack in `kstacks`, < 0: lost */
    __u32 kind;           /* enum trc_kmem_kind */
};

/* Per-row totals, atomic adds in the kernel. */
struct trc_kmem_row {
    __u64 live_bytes, live_count;
    __u64 total_bytes, total_count;
    __u64 freed_bytes, freed_count;
    __u64 freed_other_bytes, freed_other_count; /* freed by another task */
    char cache[TRC_KMEM_CACHE_NAME];            /* kmem_cache_alloc: the cache's name */
};

/* One outstanding kernel object, keyed by its address (struct page * for pages). */
struct trc_kmem_obj {
    __u64 bytes;
    struct trc_kmem_key row;
};

/* Per-thread: the user stack of the current system call (valid until the
 * thread's next sys_enter or a different user context). */
struct trc_kmem_ucache {
    __u64 ip, sp, fp;
    struct trc_site site;
    __u32 valid;
    __u32 pad;
};

/* One dma-buf as bpf/dmabuf.bpf.c's iterator writes it. */
struct trc_dmabuf_rec {
    __u64 inode;
    __u64 size;
    char exporter[TRC_DMABUF_EXP_NAME];
    char name[TRC_DMABUF_EXP_NAME];
};

enum trc_kmem_counter {
    TRC_KC_ALLOCS,       /* allocations seen in the target's context */
    TRC_KC_FREES_OWN,    /* tracked objects freed by the target */
    TRC_KC_FREES_OTHER,  /* tracked objects freed by another context (kworker, RCU, irq) */
    TRC_KC_PAGES_USER,   /* movable page allocations (user memory, page cache): skipped */
    TRC_KC_OBJECTS_FULL, /* outstanding-object map full (loss) */
    TRC_KC_ROWS_FULL,    /* row map full (loss) */
    TRC_KC_KSTACK_LOST,  /* kernel stack not recorded: collision or full map (loss) */
    TRC_KC_READDED,      /* an address allocated again without a free seen (loss) */
    TRC_KC_NR
};

#endif
