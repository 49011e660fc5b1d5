/*
 * Test helper (not a test): prints the newest snapshot in DIR, one line per
 * record, each frame as module-path:file-offset (minus one, so it lands
 * inside the call) for addr2line. Heap lines carry live/total counts.
 *
 *   tracer_snapdump DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static void frames(const struct snapshot *s, uint32_t id)
{
    const struct snap_stack *st = snapshot_find_stack(s, id);
    printf(" frames=");
    for (uint32_t i = 0; st && i < st->depth; i++) {
        uint64_t a = st->frames[i];
        const struct snap_module *mod = NULL;
        for (size_t m = 0; m < s->n_modules; m++)
            if (a >= s->modules[m].start && a < s->modules[m].end)
                mod = &s->modules[m];
        if (mod)
            printf("%s%s:0x%llx", i ? "," : "", mod->path,
                   (unsigned long long)(a - 1 - mod->start + mod->offset));
        else
            printf("%s?:0x%llx", i ? "," : "", (unsigned long long)a);
    }
}

int main(int argc, char **argv)
{
    char err[1024];
    if (argc != 2) {
        fprintf(stderr, "usage: tracer_snapdump DIR\n");
        return 2;
    }
    char **paths;
    int n = snapshot_list_dir(argv[1], &paths, err, sizeof(err));
    if (n <= 0) {
        fprintf(stderr, "tracer_snapdump: %s\n", n < 0 ? err : "no snapshots");
        return 1;
    }
    struct snapshot *s;
    int rc = snapshot_read_file(paths[n - 1], &s, err, sizeof(err));
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    if (rc < 0) {
        fprintf(stderr, "tracer_snapdump: %s\n", err);
        return 1;
    }
    printf("header pid=%d seq=%u source=%s mode=%s allocator=%s trigger=%s snapshots=%d\n",
           s->hdr.pid, s->hdr.seq, snap_source_name(s->hdr.source), snap_mode_name(s->hdr.mode),
           s->hdr.allocator, snap_trigger_name(s->hdr.trigger), n);
    for (size_t i = 0; i < s->n_heap; i++) {
        const struct snap_heap_entry *e = &s->heap[i];
        printf("heap stack=%u live_bytes=%llu live_count=%llu total_bytes=%llu total_count=%llu "
               "flags=%u",
               e->stack_id, (unsigned long long)e->live_bytes, (unsigned long long)e->live_count,
               (unsigned long long)e->total_bytes, (unsigned long long)e->total_count, e->flags);
        frames(s, e->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_fds; i++) {
        const struct snap_fd_entry *e = &s->fds[i];
        printf("fd fd=%d kind=%s origin=%s source=%d flags=%u target=%s", e->fd,
               snap_fd_kind_name(e->kind), snap_fd_origin_name(e->origin), e->source_fd, e->flags,
               e->target);
        frames(s, e->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_mmaps; i++) {
        const struct snap_mmap_entry *e = &s->mmaps[i];
        printf("mmap len=%llu kind=%s fd=%d", (unsigned long long)e->len,
               snap_mmap_kind_name(e->kind), e->fd);
        frames(s, e->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_losses; i++)
        printf("loss %s=%llu\n", s->losses[i].name, (unsigned long long)s->losses[i].value);
    snapshot_free(s);
    return 0;
}
