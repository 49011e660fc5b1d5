/*
 * Implementation of common/snapshot_produce.h: the section order and the
 * empty-section policy (through the writer's lazily opened sections).
 */
#include "snapshot_produce.h"

#include <errno.h>

static const uint32_t section_of[SNAP_PART_COUNT] = {
    [SNAP_PART_MODULES] = SNAP_SEC_MODULES,
    [SNAP_PART_STACKS] = SNAP_SEC_STACKS,
    [SNAP_PART_HEAP] = SNAP_SEC_HEAP,
    [SNAP_PART_REACHABILITY] = SNAP_SEC_REACHABILITY,
    [SNAP_PART_FDS] = SNAP_SEC_FDS,
    [SNAP_PART_MMAPS] = SNAP_SEC_MMAPS,
    [SNAP_PART_RESOURCES] = SNAP_SEC_RESOURCES,
    [SNAP_PART_MEMORY] = SNAP_SEC_MEMORY,
    [SNAP_PART_KMEM] = SNAP_SEC_KMEM,
    [SNAP_PART_CORRUPTION] = SNAP_SEC_CORRUPTION,
    [SNAP_PART_LOSSES] = SNAP_SEC_LOSSES,
};

int snap_describe(struct snap_description *d, enum snap_part part, snap_source_fn emit, void *arg)
{
    if ((unsigned)part >= SNAP_PART_COUNT)
        return -EINVAL;
    for (int i = 0; i < SNAP_MAX_SOURCES; i++)
        if (!d->sources[part][i].emit) {
            d->sources[part][i] = (struct snap_part_source){emit, arg};
            return 0;
        }
    return -ENOSPC;
}

int snap_produce(struct snap_writer *w, const struct snap_description *d)
{
    snap_write_header(w, d->header);
    for (int part = 0; part < SNAP_PART_COUNT && !w->error; part++) {
        snap_open_section(w, section_of[part]); /* written at its first record, if any */
        for (int i = 0; i < SNAP_MAX_SOURCES && d->sources[part][i].emit && !w->error; i++)
            d->sources[part][i].emit(w, d->sources[part][i].arg);
        snap_end_section(w);
    }
    return w->error;
}

int snap_emit_loss(struct snap_writer *w, enum snap_loss_id id, uint64_t value)
{
    return snap_write_loss(w, snap_loss_name(id), value);
}
