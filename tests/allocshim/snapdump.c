/*
 * Test helper: prints a snapshot as one line per record, frames as
 * module-path:file-offset, so shell tests can resolve them with addr2line
 * and compare counts without depending on the report formatter.
 *
 *   snapdump FILE          heap/fd/mmap/loss lines
 *   snapdump --last DIR PID   the newest snapshot of PID's series in DIR
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
        /* return addresses point after the call: -1 lands inside it */
        if (mod)
            printf("%s%s:0x%llx", i ? "," : "", mod->path,
                   (unsigned long long)(a - 1 - mod->start + mod->offset));
        else
            printf("%s?:0x%llx", i ? "," : "", (unsigned long long)a);
    }
}

int main(int argc, char **argv)
{
    char path[4096], err[1024];
    if (argc == 4 && !strcmp(argv[1], "--last")) {
        char **paths;
        int n = snapshot_list_dir(argv[2], &paths, err, sizeof(err));
        if (n < 0) {
            fprintf(stderr, "snapdump: %s\n", err);
            return 1;
        }
        char needle[32];
        snprintf(needle, sizeof(needle), ".%s.", argv[3]);
        path[0] = '\0';
        for (int i = 0; i < n; i++) {
            const char *b = strrchr(paths[i], '/');
            if (strstr(b ? b : paths[i], needle))
                snprintf(path, sizeof(path), "%s", paths[i]);
        }
        if (!path[0]) {
            fprintf(stderr, "snapdump: no snapshot of pid %s in %s\n", argv[3], argv[2]);
            return 1;
        }
    } else if (argc == 2) {
        snprintf(path, sizeof(path), "%s", argv[1]);
    } else {
        fprintf(stderr, "usage: snapdump FILE | snapdump --last DIR PID\n");
        return 2;
    }
    struct snapshot *s;
    if (snapshot_read_file(path, &s, err, sizeof(err)) < 0) {
        fprintf(stderr, "snapdump: %s\n", err);
        return 1;
    }
    printf("header pid=%d seq=%u mode=%s allocator=%s trigger=%s exe=%s\n", s->hdr.pid,
           s->hdr.seq, snap_mode_name(s->hdr.mode), s->hdr.allocator,
           snap_trigger_name(s->hdr.trigger), s->hdr.exe);
    for (size_t i = 0; i < s->n_heap; i++) {
        const struct snap_heap_entry *e = &s->heap[i];
        printf("heap stack=%u live_bytes=%llu live_count=%llu total_bytes=%llu total_count=%llu",
               e->stack_id, (unsigned long long)e->live_bytes, (unsigned long long)e->live_count,
               (unsigned long long)e->total_bytes, (unsigned long long)e->total_count);
        frames(s, e->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_fds; i++) {
        const struct snap_fd_entry *e = &s->fds[i];
        printf("fd fd=%d kind=%s origin=%s source=%d target=%s", e->fd, snap_fd_kind_name(e->kind),
               snap_fd_origin_name(e->origin), e->source_fd, e->target);
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
    for (size_t i = 0; i < s->n_corruptions; i++) {
        const struct snap_corruption *c = &s->corruptions[i];
        printf("corruption kind=%s size=%llu offset=%lld", snap_corruption_kind_name(c->kind),
               (unsigned long long)c->block_size, (long long)c->offset);
        printf(" alloc");
        frames(s, c->alloc_stack);
        printf(" free");
        frames(s, c->free_stack);
        printf(" access");
        frames(s, c->access_stack);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_losses; i++)
        printf("loss %s=%llu\n", s->losses[i].name, (unsigned long long)s->losses[i].value);
    snapshot_free(s);
    return 0;
}
