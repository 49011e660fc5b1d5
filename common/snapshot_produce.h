/*
 * The one producer contract: a snapshot is emitted from a description of its
 * sources, by one function, in one section order with one empty-section
 * policy. The shim (allocshim/snapshot.c) and the tracer
 * (tracer/snapshot_out.c) only describe where the records come from; every
 * source is an iterator that writes its records with the snap_write_*
 * functions of snapshot.h (and loss counters with snap_emit_loss) and never
 * opens, ends or orders a section itself.
 *
 * Section order: header, MODULES, HEAP, REACHABILITY, FDS, MMAPS, RESOURCES,
 * MEMORY, KMEM, CORRUPTION, STACKS, LOSSES (docs/snapshot-format.md). STACKS comes after
 * every section that names stacks: in a running program a stack interned
 * while the snapshot is written is then in the table of every record that
 * names it (written first, a heap record could name a stack the table did
 * not hold yet: report_stack_id_not_in_table). A section has any
 * number of sources, emitted in the order given (CORRUPTION: guard mode's
 * events, then the resource tracker's). Empty-section policy: a section
 * appears in the file only when its sources wrote at least one record; a
 * reader treats a missing section as empty (REACHABILITY: no scan).
 *
 * Never allocates (the shim produces from inside the audited process).
 */
#ifndef LEAKAUDIT_SNAPSHOT_PRODUCE_H
#define LEAKAUDIT_SNAPSHOT_PRODUCE_H

#include "snapshot.h"

/* In the order written. The stacks come after every record that names one:
 * a stack interned while the records were written (another thread
 * allocating) is then in the table too. */
enum snap_part {
    SNAP_PART_MODULES,
    SNAP_PART_HEAP,
    SNAP_PART_REACHABILITY,
    SNAP_PART_FDS,
    SNAP_PART_MMAPS,
    SNAP_PART_RESOURCES,
    SNAP_PART_MEMORY, /* docs/memory.md */
    SNAP_PART_KMEM,   /* names user stacks: before STACKS */
    SNAP_PART_CORRUPTION,
    SNAP_PART_STACKS, /* after every section that names a stack */
    SNAP_PART_LOSSES,
    SNAP_PART_COUNT
};

#define SNAP_MAX_SOURCES 8 /* per section */

/* Writes a section's records; returns 0 or -errno (the writer's error). */
typedef int (*snap_source_fn)(struct snap_writer *w, void *arg);

struct snap_part_source {
    snap_source_fn emit;
    void *arg;
};

struct snap_description {
    const struct snap_header *header;
    struct snap_part_source sources[SNAP_PART_COUNT][SNAP_MAX_SOURCES];
};

/* Adds a source to part (in order); -ENOSPC past SNAP_MAX_SOURCES. */
int snap_describe(struct snap_description *d, enum snap_part part, snap_source_fn emit, void *arg);

/* Writes the header and every part's sources into w, opened by the caller
 * (snap_writer_open*), which commits it. Returns the writer's error. */
int snap_produce(struct snap_writer *w, const struct snap_description *d);

/* A loss counter by its id (losses.h), for LOSSES sources. */
int snap_emit_loss(struct snap_writer *w, enum snap_loss_id id, uint64_t value);

#endif
