/*
 * The one table of loss counters: every counter a snapshot's LOSSES section
 * can hold, with its name in the file, one line saying what it counts, and
 * whether it is lost data (a "loss": the report shows it under DATA LOSS) or
 * information (a "note": nothing was dropped, the report explains it).
 * Producers (the shim, the tracer, the report's own checks) name a counter by
 * its id, never by a string of their own, so a name is spelled once, here.
 * Readers accept the names older writers used (snap_loss_canonical).
 */
#ifndef LEAKAUDIT_LOSSES_H
#define LEAKAUDIT_LOSSES_H

#include <stdint.h>

enum snap_loss_id {
    /* heap (shim and tracer) */
    SNAP_LOSS_STACK_TABLE_FULL,
    SNAP_LOSS_STACK_RELEASED_RACE,
    SNAP_LOSS_STACKS_RETIRED,
    SNAP_LOSS_STACKS_IN_TABLE,
    SNAP_LOSS_TRACER_SITES,
    SNAP_LOSS_SHIM_MEMORY_BYTES,
    SNAP_LOSS_HEAP_NODE_ALLOC_FAILED,
    SNAP_LOSS_HEAP_FREE_UNTRACKED,
    SNAP_LOSS_HEAP_FREE_BEFORE_ATTACH,
    SNAP_LOSS_HEAP_BEFORE_ATTACH_BLOCKS,
    SNAP_LOSS_HEAP_BEFORE_ATTACH_NOT_ENUMERATED,
    SNAP_LOSS_HEAP_BEFORE_ATTACH_FREE_LOG_FULL,
    SNAP_LOSS_HEAP_TABLE_OVERLOADED,
    /* fds and mmaps */
    SNAP_LOSS_FD_UNATTRIBUTED,
    SNAP_LOSS_FD_CLOSED_UNSEEN,
    SNAP_LOSS_FD_TABLE_OVERFLOW,
    SNAP_LOSS_MMAP_TABLE_FULL,
    SNAP_LOSS_MMAP_UNMAPPED_UNSEEN,
    SNAP_LOSS_MMAP_BY_ALLOCATOR_OR_LOADER,
    /* paired C-API resources */
    SNAP_LOSS_RESOURCE_OBJECTS_FULL,
    SNAP_LOSS_RESOURCE_ROWS_FULL,
    SNAP_LOSS_RESOURCE_EVENTS_DROPPED,
    SNAP_LOSS_RESOURCE_DLOPEN_PATCHED_LATE,
    SNAP_LOSS_RESOURCE_PENDING_FULL,
    SNAP_LOSS_RESOURCE_STACK_LOST,
    /* stacks */
    SNAP_LOSS_UNWIND_BAD_FRAME,
    SNAP_LOSS_UNWIND_FP_FRAMES,
    SNAP_LOSS_UNWIND_MODULES_WITHOUT_CFI,
    SNAP_LOSS_UNWIND_FOREIGN_STACK,
    SNAP_LOSS_UNWIND_ROWS_FULL,
    /* guard mode */
    SNAP_LOSS_CORRUPTION_EVENTS_DROPPED,
    SNAP_LOSS_GUARD_PAGE_SLOTS_FULL,
    SNAP_LOSS_GUARD_SEGV_HANDLER_REPLACED,
    /* the writer */
    SNAP_LOSS_SNAPSHOT_WRITE_FAILED,
    SNAP_LOSS_SNAPSHOTS_RETIRED,
    /* the tracer's BPF maps and probes (docs/attach.md) */
    SNAP_LOSS_FREE_UNKNOWN,
    SNAP_LOSS_FREE_MISSED,
    SNAP_LOSS_ALLOCS_MAP_FULL,
    SNAP_LOSS_SITES_MAP_FULL,
    SNAP_LOSS_STACK_COLLISION,
    SNAP_LOSS_STACK_MAP_FULL,
    SNAP_LOSS_STACK_WALK_FAILED,
    SNAP_LOSS_CALLER_UNKNOWN,
    SNAP_LOSS_REACH_SKIPPED,
    SNAP_LOSS_PENDING_MAP_FULL,
    SNAP_LOSS_PENDING_STALE,
    SNAP_LOSS_FDS_MAP_FULL,
    SNAP_LOSS_MMAPS_MAP_FULL,
    SNAP_LOSS_MUNMAP_PARTIAL,
    SNAP_LOSS_SCM_RIGHTS_TRUNCATED,
    SNAP_LOSS_RECVMMSG_UNPARSED,
    SNAP_LOSS_SITE_CACHE_FULL,
    /* kernel memory (attach --kmem, docs/memory-kernel.md) */
    SNAP_LOSS_KMEM_OBJECTS_FULL,
    SNAP_LOSS_KMEM_ROWS_FULL,
    SNAP_LOSS_KMEM_KSTACK_LOST,
    SNAP_LOSS_KMEM_USTACK_LOST,
    SNAP_LOSS_KMEM_FREE_MISSED,
    SNAP_LOSS_KMEM_FREED_BY_OTHER,
    SNAP_LOSS_KMEM_PAGES_USER,
    SNAP_LOSS_KMEM_EXCLUDED_BYTES,
    /* the report's own consistency checks */
    SNAP_LOSS_REPORT_STACK_ID_NOT_IN_TABLE,
    SNAP_LOSS_COUNT
};

enum snap_loss_kind {
    SNAP_LOSS_KIND_LOSS, /* data was dropped: the report says DATA LOSS */
    SNAP_LOSS_KIND_NOTE, /* information: nothing was dropped */
};

struct snap_loss_info {
    const char *name;    /* as written in the LOSSES section */
    const char *meaning; /* one line for reports and docs */
    enum snap_loss_kind kind;
};

/* The entry of a counter (never NULL for an id below SNAP_LOSS_COUNT). */
const struct snap_loss_info *snap_loss_info(enum snap_loss_id id);
/* Its name in the file. */
const char *snap_loss_name(enum snap_loss_id id);
/* The entry of a name read from a file (old names included), or NULL for a
 * name this table does not know (readers keep those: names are free-form). */
const struct snap_loss_info *snap_loss_lookup(const char *name);
/* The name a reader should use for a name read from a file: the current one
 * for a name older writers used (fd_close_unseen), else `name` itself. */
const char *snap_loss_canonical(const char *name);
/* For a counter that is information rather than lost data: its meaning;
 * NULL for a loss (and for names this table does not know). */
const char *snap_loss_note(const char *name);

#endif
