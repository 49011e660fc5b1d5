/*
 * Types shared by the BPF programs (bpf/NAME.bpf.c) and the tracer that loads
 * them (tracer/): map keys and values, the counter indexes, and the map size
 * limits. Everything here is plain fixed-width data so both sides (BPF
 * target and x86_64/aarch64 user space) agree on the layout.
 */
#ifndef LEAKAUDIT_TRACE_EVENTS_H
#define LEAKAUDIT_TRACE_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Map sizes (docs/attach.md lists each with the loss counter it feeds). */
#define TRC_MAX_ALLOCS          (1u << 20) /* outstanding allocations tracked */
#define TRC_MAX_HEAP_STACKS     (1u << 16) /* distinct (stack, caller) heap sites */
#define TRC_MAX_STACK_IDS       (1u << 15) /* BPF stack-trace map buckets */
#define TRC_MAX_THREADS         (1u << 14) /* calls in flight, one per thread */
#define TRC_MAX_FDS             (1u << 16) /* outstanding fds tracked */
#define TRC_MAX_MMAPS           (1u << 15) /* outstanding mmap regions tracked */
#define TRC_DEFAULT_STACK_DEPTH 32
#define TRC_MAX_STACK_DEPTH     64
/* Words of user stack scanned for the caller's return address at a syscall. */
#define TRC_CALLER_SCAN_WORDS 24
/* An allocation call pending for longer than this is stale (longjmp, detach). */
#define TRC_PENDING_STALE_NS 50000000ull
#define TRC_MAX_SCM_FDS      16
#define TRC_MAX_SKIP_RANGES  8

/*
 * In-kernel unwinding with the modules' unwind tables (docs/unwinding.md,
 * "In the kernel (attach)"). The tracer compiles each executable module of
 * the target once (common/unwind_table.h) and copies the rows, all modules
 * concatenated, into one array map; a second, sorted array describes the
 * target's executable mappings. It has two halves: the tracer rewrites the
 * inactive one when modules come and go, then flips `active`.
 */
#define TRC_UNW_MAX_ROWS     (1u << 22) /* rows map ceiling: 64 MiB of 16-byte rows */
#define TRC_UNW_MIN_ROWS     (1u << 18) /* rows map floor: room for dlopen'ed modules */
#define TRC_UNW_MAX_MAPPINGS 1024       /* executable mappings per half */
#define TRC_UNW_ROW_CACHE    1024       /* per-CPU pc -> row cache slots (power of two) */
/* Binary-search steps: enough for TRC_UNW_MAX_MAPPINGS and for a module of
 * UNW_MAX_ROWS (2^24) rows. */
#define TRC_UNW_MAP_STEPS 11
#define TRC_UNW_ROW_STEPS 25

/* One executable mapping of the target: runtime [start, end), load bias,
 * and its module's rows (n_rows 0: no call-frame information, unwound by
 * frame pointer). */
struct trc_unw_mapping {
    __u64 start, end, bias;
    __u32 first_row, n_rows;
};

struct trc_unw_meta {
    __u32 active; /* half of the mappings array in use: 0 or 1 */
    __u32 gen;    /* bumped on every flip: invalidates the row caches */
    __u32 n[2];   /* mappings in each half */
};

/* What a row lookup found (the row cache stores it). */
enum trc_unw_kind { TRC_UNW_OUTSIDE = 0, TRC_UNW_BY_FP = 1, TRC_UNW_BY_ROW = 2 };

/* A text range [start, end) of the target. */
struct trc_range {
    __u64 start, end;
};

/*
 * A heap (or fd) site: the immediate caller, read from the stack at entry
 * so that it is right without frame pointers, plus the frame-pointer walk
 * from the BPF stack map (stack_id < 0 when the walk failed).
 */
struct trc_site {
    __u64 caller;
    __s32 stack_id;
    __u32 pad;
};

/* Per-site heap totals, updated with atomic adds in the kernel. */
struct trc_heap_stats {
    __u64 live_bytes;
    __u64 live_count;
    __u64 total_bytes;
    __u64 total_count;
    __u64 freed_bytes;
    __u64 freed_count;
};

/* One outstanding allocation, keyed by its address. */
struct trc_alloc {
    __u64 size;
    struct trc_site site;
};

enum trc_alloc_kind {
    TRC_ALLOC_PLAIN = 0,   /* returns the block */
    TRC_ALLOC_REALLOC = 1, /* returns the block, frees old_ptr */
    TRC_ALLOC_MEMPTR = 2,  /* posix_memalign: returns 0, block in *memptr */
};

/* An allocation call between its entry and its return, keyed by thread id. */
struct trc_pending {
    __u64 size;
    __u64 sp; /* stack pointer at entry: tells nested and stale calls apart */
    __u64 ts;
    __u64 old_ptr;
    __u64 memptr;
    struct trc_site site;
    __u32 kind;
    __u32 pad;
};

/* One outstanding fd, keyed by fd number. */
struct trc_fd {
    __u64 created_ns; /* CLOCK_MONOTONIC */
    struct trc_site site;
    __u32 origin; /* enum snap_fd_origin */
    __s32 source_fd;
};

/* One outstanding mmap region, keyed by start address. */
struct trc_mmap {
    __u64 len;
    __u64 created_ns;
    struct trc_site site;
    __s32 prot, flags, fd;
    __u32 pad;
};

/* A syscall between sys_enter and sys_exit, keyed by thread id. */
struct trc_sys_pending {
    __u64 args[6];
    __s64 nr;
    __u64 ts;
    struct trc_site site;
};

/*
 * Counters (per-CPU array, summed by the tracer). Names in
 * tracer/drain.c; the ones marked "loss" become snapshot loss counters.
 */
enum trc_counter {
    TRC_C_ALLOC_CALLS,       /* allocation entries seen */
    TRC_C_FREE_CALLS,        /* free entries seen */
    TRC_C_ALLOC_FAILED,      /* allocator returned NULL */
    TRC_C_NESTED,            /* allocator calls made by the allocator (new -> malloc) */
    TRC_C_BYTES_ALLOCATED,   /* total bytes of tracked allocations */
    TRC_C_BYTES_FREED,       /* total bytes of tracked frees */
    TRC_C_FREE_UNKNOWN,      /* frees of blocks allocated before attach (or untracked) */
    TRC_C_FREE_MISSED,       /* address handed out again without a free seen (loss) */
    TRC_C_ALLOCS_FULL,       /* outstanding-allocation map full (loss) */
    TRC_C_SITES_FULL,        /* heap site map full (loss) */
    TRC_C_STACK_COLLISION,   /* stack map bucket taken by another stack (loss) */
    TRC_C_STACK_FULL,        /* stack map out of entries (loss) */
    TRC_C_STACK_FAULT,       /* frame-pointer walk failed otherwise (loss) */
    TRC_C_CALLER_UNREADABLE, /* return address could not be read (loss) */
    TRC_C_PENDING_FULL,      /* in-flight map full (loss) */
    TRC_C_PENDING_STALE,     /* an entry never returned (longjmp, detach) */
    TRC_C_SYSCALLS,          /* fd/mmap syscalls seen */
    TRC_C_FDS_FULL,          /* fd map full (loss) */
    TRC_C_MMAPS_FULL,        /* mmap map full (loss) */
    TRC_C_MUNMAP_PARTIAL,    /* munmap of part of a tracked region (loss) */
    TRC_C_SCM_TRUNCATED,     /* SCM_RIGHTS fds beyond the first cmsg/limit (loss) */
    TRC_C_RECVMMSG,          /* recvmmsg calls (fds they pass are not parsed) */
    TRC_C_UNWIND_BAD_FRAME,  /* stacks ended at an address in no known executable mapping */
    TRC_C_UNWIND_FP_FRAMES,  /* frames unwound by frame pointer for lack of a row */
    TRC_NR_COUNTERS
};

#endif
