/*
 * Prints a snapshot's reachability section for the reach tests: the info
 * record, then one line per stack and class with blocks, bytes and the
 * stack's frames as module-relative offsets (for addr2line). Usage:
 * reachdump FILE.snap
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "snapshot.h"

static void print_frame(const struct snapshot *s, uint64_t a)
{
    for (size_t i = 0; i < s->n_modules; i++) {
        const struct snap_module *m = &s->modules[i];
        if (a >= m->start && a < m->end) {
            printf(" %s+0x%" PRIx64, m->path, a - m->start + m->offset);
            return;
        }
    }
    printf(" ?+0x%" PRIx64, a);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: reachdump FILE.snap\n");
        return 2;
    }
    struct snapshot *s;
    char err[1024];
    if (snapshot_read_file(argv[1], &s, err, sizeof(err)) < 0) {
        fprintf(stderr, "reachdump: %s\n", err);
        return 1;
    }
    if (!s->has_reach) {
        printf("no-reachability\n");
        snapshot_free(s);
        return 0;
    }
    const struct snap_reach_info *i = &s->reach;
    printf("info flags=%u threads_stopped=%u threads_missed=%u scan_ns=%" PRIu64
           " pause_ns=%" PRIu64 " extra_bytes=%" PRIu64 " blocks=%" PRIu64 " roots_bytes=%" PRIu64
           "\n",
           i->flags, i->threads_stopped, i->threads_missed, i->scan_ns, i->pause_ns, i->extra_bytes,
           i->blocks_scanned, i->roots_bytes);
    static const char *const names[] = {"definite", "indirect", "possible", "reachable"};
    for (size_t k = 0; k < s->n_reach; k++) {
        const struct snap_reach_entry *e = &s->reach_entries[k];
        for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
            if (!e->blocks[c])
                continue;
            printf("stack %u %s %" PRIu64 " %" PRIu64 " :", e->stack_id, names[c], e->blocks[c],
                   e->bytes[c]);
            const struct snap_stack *st = snapshot_find_stack(s, e->stack_id);
            for (uint32_t f = 0; st && f < st->depth && f < 8; f++)
                print_frame(s, st->frames[f]);
            putchar('\n');
        }
    }
    snapshot_free(s);
    return 0;
}
