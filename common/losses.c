/*
 * The loss-counter table (losses.h): one row per counter, its name in the
 * snapshot file, what it counts, and whether it is lost data or a note.
 * The notes' text is what reports print next to a non-zero note; docs/
 * snapshot-format.md and docs/attach.md list the same names.
 */
#include "losses.h"

#include <stddef.h>
#include <string.h>

#define LOSS(id, n, m) [id] = {.name = n, .meaning = m, .kind = SNAP_LOSS_KIND_LOSS}
#define NOTE(id, n, m) [id] = {.name = n, .meaning = m, .kind = SNAP_LOSS_KIND_NOTE}

static const struct snap_loss_info table[SNAP_LOSS_COUNT] = {
    LOSS(SNAP_LOSS_STACK_TABLE_FULL, "stack_table_full",
         "stacks that did not fit the stack table (their blocks count under no stack)"),
    LOSS(SNAP_LOSS_STACK_RELEASED_RACE, "stack_released_race",
         "allocations whose stack left the table while they were recorded (counted under no "
         "stack)"),
    NOTE(SNAP_LOSS_STACKS_RETIRED, "stacks_retired",
         "stacks that left the capture's stack table with nothing live for two snapshots; "
         "their totals are in the retired-stacks row (docs/snapshot-format.md)"),
    NOTE(SNAP_LOSS_STACKS_IN_TABLE, "stacks_in_table",
         "stacks in the capture's stack table (the series' highest)"),
    NOTE(SNAP_LOSS_TRACER_SITES, "tracer_sites",
         "heap sites in the tracer's BPF sites map (the series' highest; idle ones leave it)"),
    NOTE(SNAP_LOSS_SHIM_MEMORY_BYTES, "shim_memory_bytes",
         "the shim's own memory resident in the program (the series' highest)"),
    LOSS(SNAP_LOSS_HEAP_NODE_ALLOC_FAILED, "heap_node_alloc_failed",
         "blocks not tracked: no memory for their record"),
    LOSS(SNAP_LOSS_HEAP_FREE_UNTRACKED, "heap_free_untracked",
         "frees of blocks the shim holds no record of"),
    NOTE(SNAP_LOSS_HEAP_FREE_BEFORE_ATTACH, "heap_free_before_attach",
         "attach --inject: frees of blocks allocated before the attach that the heap walk did "
         "not find (passed through)"),
    NOTE(SNAP_LOSS_HEAP_BEFORE_ATTACH_BLOCKS, "heap_before_attach_blocks",
         "attach --inject: blocks live at the attach, found by walking glibc's arenas (the "
         "rows 'allocated before attach', no stack)"),
    NOTE(SNAP_LOSS_HEAP_BEFORE_ATTACH_NOT_ENUMERATED, "heap_before_attach_not_enumerated",
         "attach --inject: 1 when the heap live at the attach was not enumerated (an allocator "
         "other than glibc's, or its arenas did not validate): older blocks are not reported"),
    LOSS(SNAP_LOSS_HEAP_BEFORE_ATTACH_FREE_LOG_FULL, "heap_before_attach_free_log_full",
         "attach --inject: frees during the heap walk past its log (those blocks may show as "
         "live before-attach blocks)"),
    NOTE(SNAP_LOSS_HEAP_TABLE_OVERLOADED, "heap_table_overloaded",
         "the shim's address table held over 4 blocks per bucket "
         "(slower lookups, nothing lost; raise LEAKAUDIT_TABLE_BITS)"),
    LOSS(SNAP_LOSS_FD_UNATTRIBUTED, "fd_unattributed",
         "open fds created by a path that was not seen (shown as unattributed)"),
    LOSS(SNAP_LOSS_FD_CLOSED_UNSEEN, "fd_closed_unseen",
         "recorded fds found closed in /proc/PID/fd by a path that was not seen"),
    LOSS(SNAP_LOSS_FD_TABLE_OVERFLOW, "fd_table_overflow",
         "fds above the fd table's size (not tracked)"),
    LOSS(SNAP_LOSS_MMAP_TABLE_FULL, "mmap_table_full", "mmaps that did not fit the region table"),
    LOSS(SNAP_LOSS_MMAP_UNMAPPED_UNSEEN, "mmap_unmapped_unseen",
         "recorded mappings gone from /proc/PID/maps twice: unmapped by a path not seen"),
    LOSS(SNAP_LOSS_MMAP_BY_ALLOCATOR_OR_LOADER, "mmap_by_allocator_or_loader",
         "mmaps made by the allocator or the dynamic loader (left out of the list)"),
    LOSS(SNAP_LOSS_RESOURCE_OBJECTS_FULL, "resource_objects_full",
         "resource objects that did not fit the object table"),
    LOSS(SNAP_LOSS_RESOURCE_ROWS_FULL, "resource_rows_full",
         "resource stacks that did not fit the per-stack table"),
    LOSS(SNAP_LOSS_RESOURCE_EVENTS_DROPPED, "resource_events_dropped",
         "use-after-destroy / double-destroy events past the ones a snapshot keeps"),
    LOSS(SNAP_LOSS_RESOURCE_DLOPEN_PATCHED_LATE, "resource_dlopen_patched_late",
         "modules loaded by dlopen whose imports could not be patched"),
    LOSS(SNAP_LOSS_RESOURCE_PENDING_FULL, "resource_pending_full",
         "resource calls in flight that found no room (attach)"),
    LOSS(SNAP_LOSS_RESOURCE_STACK_LOST, "resource_stack_lost",
         "resource calls whose stack was lost (attach: collision, full map, fault)"),
    NOTE(SNAP_LOSS_UNWIND_BAD_FRAME, "unwind_bad_frame",
         "stacks that ended at a return address outside every executable "
         "mapping (JIT code, a corrupted stack): the frames above it are "
         "left out, never guessed"),
    NOTE(SNAP_LOSS_UNWIND_FP_FRAMES, "unwind_fp_frames",
         "frames unwound by frame pointer for lack of call-frame "
         "information (they may be missing or wrong)"),
    NOTE(SNAP_LOSS_UNWIND_MODULES_WITHOUT_CFI, "unwind_modules_without_cfi",
         "modules with no .eh_frame: frames in them are "
         "unwound by frame pointer"),
    NOTE(SNAP_LOSS_UNWIND_FOREIGN_STACK, "unwind_foreign_stack",
         "allocations made on a stack that is not the thread's own "
         "(a signal's alternate stack, a coroutine): only the "
         "immediate caller is recorded"),
    NOTE(SNAP_LOSS_UNWIND_ROWS_FULL, "unwind_rows_full",
         "modules whose unwind rows did not fit attach's BPF map: frames "
         "in them are unwound by frame pointer"),
    LOSS(SNAP_LOSS_CORRUPTION_EVENTS_DROPPED, "corruption_events_dropped",
         "corruption events past the 256 a snapshot keeps (each was reported on stderr)"),
    NOTE(SNAP_LOSS_GUARD_PAGE_SLOTS_FULL, "guard_page_slots_full",
         "sampled blocks that got no guard page: every slot was live or "
         "recently freed (they were allocated as usual)"),
    NOTE(SNAP_LOSS_GUARD_SEGV_HANDLER_REPLACED, "guard_segv_handler_replaced",
         "the program replaced guard mode's SIGSEGV handler: a "
         "guard-page fault reaches the program's handler first"),
    LOSS(SNAP_LOSS_SNAPSHOT_WRITE_FAILED, "snapshot_write_failed",
         "snapshots that could not be written"),
    NOTE(SNAP_LOSS_SNAPSHOTS_RETIRED, "snapshots_retired",
         "older snapshots of this series deleted by retention (thinning, "
         "--max-disk, --keep-for; docs/snapshot-format.md)"),
    NOTE(SNAP_LOSS_FREE_UNKNOWN, "free_unknown",
         "frees of blocks allocated before the attach (ignored)"),
    LOSS(SNAP_LOSS_FREE_MISSED, "free_missed",
         "addresses handed out again without a free that was seen (the old record is released)"),
    LOSS(SNAP_LOSS_ALLOCS_MAP_FULL, "allocs_map_full",
         "blocks not tracked: the allocs map was full"),
    LOSS(SNAP_LOSS_SITES_MAP_FULL, "sites_map_full", "allocation sites that did not fit the map"),
    LOSS(SNAP_LOSS_STACK_COLLISION, "stack_collision", "stacks lost to a stack-map hash collision"),
    LOSS(SNAP_LOSS_STACK_MAP_FULL, "stack_map_full", "stacks lost: the stack map was full"),
    LOSS(SNAP_LOSS_STACK_WALK_FAILED, "stack_walk_failed",
         "stacks the kernel could not walk (a fault)"),
    NOTE(SNAP_LOSS_CALLER_UNKNOWN, "caller_unknown",
         "allocations whose return address was not found"),
    NOTE(SNAP_LOSS_REACH_SKIPPED, "reachability_skipped",
         "reachability scans that could not run (the target held by another ptrace tracer, "
         "or ptrace refused; said on stderr): the leak summary is from the last scan that ran"),
    LOSS(SNAP_LOSS_PENDING_MAP_FULL, "pending_map_full",
         "calls in flight that found no storage (not recorded)"),
    NOTE(SNAP_LOSS_PENDING_STALE, "pending_stale",
         "calls that never returned (longjmp, exceptions, detach)"),
    LOSS(SNAP_LOSS_FDS_MAP_FULL, "fds_map_full", "fds not tracked: the fds map was full"),
    LOSS(SNAP_LOSS_MMAPS_MAP_FULL, "mmaps_map_full", "mmaps not tracked: the mmaps map was full"),
    LOSS(SNAP_LOSS_MUNMAP_PARTIAL, "munmap_partial", "munmaps cutting a tracked region"),
    LOSS(SNAP_LOSS_SCM_RIGHTS_TRUNCATED, "scm_rights_truncated",
         "fds received by SCM_RIGHTS past the 16 of a message's first cmsg"),
    NOTE(SNAP_LOSS_RECVMMSG_UNPARSED, "recvmmsg_unparsed",
         "fds received by recvmmsg (they show as unattributed)"),
    LOSS(SNAP_LOSS_SITE_CACHE_FULL, "site_cache_full",
         "allocation sites that did not fit the tracer's site cache"),
    LOSS(SNAP_LOSS_KMEM_OBJECTS_FULL, "kmem_objects_full",
         "kernel allocations not tracked: the kmem objects map was full"),
    LOSS(SNAP_LOSS_KMEM_ROWS_FULL, "kmem_rows_full",
         "kernel allocations not tracked: the kmem rows map was full"),
    LOSS(SNAP_LOSS_KMEM_KSTACK_LOST, "kmem_kstack_lost",
         "kernel allocations without a kernel stack (stack map full or a bucket collision)"),
    LOSS(SNAP_LOSS_KMEM_USTACK_LOST, "kmem_ustack_lost",
         "kernel allocations whose user stack was lost (stack map full or a collision)"),
    LOSS(SNAP_LOSS_KMEM_FREE_MISSED, "kmem_free_missed",
         "kernel addresses allocated again without a free that was seen (bulk or RCU frees "
         "without a tracepoint)"),
    NOTE(SNAP_LOSS_KMEM_FREED_BY_OTHER, "kmem_freed_by_other_context",
         "kernel objects of the target freed by another task (a kworker, an RCU callback): "
         "counted as freed"),
    NOTE(SNAP_LOSS_KMEM_PAGES_USER, "kmem_pages_user_skipped",
         "movable page allocations in the target's context (its own memory, page cache): "
         "not kernel memory, skipped"),
    NOTE(SNAP_LOSS_KMEM_EXCLUDED_BYTES, "kmem_excluded_bytes",
         "outstanding kernel bytes kept out of the total: interrupt context, or the pages "
         "behind slab objects"),
    LOSS(SNAP_LOSS_REPORT_STACK_ID_NOT_IN_TABLE, "report_stack_id_not_in_table",
         "records naming a stack the snapshot's stack table does not hold"),
};

/* Names older writers used, and the counter they mean now. */
static const struct {
    const char *old_name;
    enum snap_loss_id id;
} renamed[] = {
    {"fd_close_unseen", SNAP_LOSS_FD_CLOSED_UNSEEN}, /* the shim, before 2026-12 */
};

const struct snap_loss_info *snap_loss_info(enum snap_loss_id id)
{
    return (unsigned)id < SNAP_LOSS_COUNT ? &table[id] : NULL;
}

const char *snap_loss_name(enum snap_loss_id id)
{
    return (unsigned)id < SNAP_LOSS_COUNT ? table[id].name : "?";
}

const struct snap_loss_info *snap_loss_lookup(const char *name)
{
    for (size_t i = 0; i < SNAP_LOSS_COUNT; i++)
        if (!strcmp(name, table[i].name))
            return &table[i];
    for (size_t i = 0; i < sizeof(renamed) / sizeof(renamed[0]); i++)
        if (!strcmp(name, renamed[i].old_name))
            return &table[renamed[i].id];
    return NULL;
}

const char *snap_loss_canonical(const char *name)
{
    const struct snap_loss_info *l = snap_loss_lookup(name);
    return l ? l->name : name;
}

const char *snap_loss_note(const char *name)
{
    const struct snap_loss_info *l = snap_loss_lookup(name);
    return l && l->kind == SNAP_LOSS_KIND_NOTE ? l->meaning : NULL;
}
