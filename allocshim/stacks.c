/*
 * The shim's stack table (common/stacktable.h) and what keeps it bounded by
 * what is live rather than by history: at every snapshot, stacks that hold
 * no live block, no open fd, no mapping and no resource object, and that
 * were not used for a whole snapshot interval, leave the table in two
 * sweeps (unpublished, then released). The heap folds a released stack's
 * totals into the retired-stacks row (heap.c); every other record names
 * only stacks that are still in the table, because a stack one of them
 * names is marked here before the sweep and never released.
 *
 * Guard mode keeps every stack: its quarantine and its corruption events
 * hold stack ids this file does not see.
 *
 * The residual race, for the record: a thread that took a stack id and then
 * stalled for two whole snapshot intervals before storing it (between two
 * adjacent statements of a hook) could store a released id. The heap hook
 * checks for that after it counts (heap.c, stack_released_race); fd, mmap
 * and resource records do not.
 */
#include "shim.h"
#include "stacktable.h"

#include <string.h>

#define MARK_WORD_BITS 64

struct stk_table shim_stack_table;
static uint64_t *marks; /* one bit per stack id: named by an fd, mapping or resource */
static size_t marks_words;
static uint64_t released_race; /* heap.c: allocations that met a released stack */

void shim_stacks_init(void)
{
    uint32_t max = shim_cfg.max_stacks;
    void *mem = shim_arena_map(stk_table_memsize(max, (uint32_t)shim_cfg.depth));
    marks_words = ((size_t)max + MARK_WORD_BITS) / MARK_WORD_BITS;
    marks = shim_arena_map(marks_words * sizeof(*marks));
    if (!mem || !marks)
        return; /* shim_stacks_ready() stays 0: stack ids are all SNAP_STACK_NONE */
    stk_table_init(&shim_stack_table, mem, max, (uint32_t)shim_cfg.depth);
}

struct stk_table *shim_stacks(void)
{
    return &shim_stack_table;
}

int shim_stacks_ready(void)
{
    return shim_stack_table.slots != NULL;
}

void shim_stack_mark(uint32_t id, void *arg)
{
    (void)arg;
    if (id != SNAP_STACK_NONE && id / MARK_WORD_BITS < marks_words)
        marks[id / MARK_WORD_BITS] |= 1ull << (id % MARK_WORD_BITS);
}

int shim_stack_marked(uint32_t id)
{
    return id / MARK_WORD_BITS < marks_words &&
           (marks[id / MARK_WORD_BITS] >> (id % MARK_WORD_BITS) & 1);
}

void shim_stacks_count_released_race(void)
{
    __atomic_fetch_add(&released_race, 1, __ATOMIC_RELAXED);
}

/* Called by the snapshot writer (under its lock) before it writes. */
void shim_stacks_sweep(void)
{
    if (!shim_stacks_ready() || shim_cfg.guard)
        return;
    uint32_t n = stk_table_count(&shim_stack_table);
    memset(marks, 0, ((size_t)n / MARK_WORD_BITS + 1) * sizeof(*marks));
    shim_fd_mark_stacks(shim_stack_mark, NULL);
    shim_mmap_mark_stacks(shim_stack_mark, NULL);
    shim_res_mark_stacks(shim_stack_mark, NULL);
    struct stk_sweep_ops ops = {.idle = shim_heap_stack_idle,
                                .release = shim_heap_stack_release,
                                .recycle = shim_heap_stack_recycle};
    stk_table_sweep(&shim_stack_table, &ops);
}

void shim_stacks_loss_counters(shim_loss_cb cb, void *arg)
{
    const struct stk_table *t = &shim_stack_table;
    cb(SNAP_LOSS_STACK_TABLE_FULL, __atomic_load_n(&t->dropped, __ATOMIC_RELAXED), arg);
    cb(SNAP_LOSS_STACK_RELEASED_RACE, __atomic_load_n(&released_race, __ATOMIC_RELAXED), arg);
    cb(SNAP_LOSS_STACKS_RETIRED, t->retired, arg);
    cb(SNAP_LOSS_STACKS_IN_TABLE, stk_table_live(t), arg);
}
