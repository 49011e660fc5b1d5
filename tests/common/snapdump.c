/*
 * Test helper (not a test), shared by every part's shell tests: prints a
 * snapshot one line per record, each frame as module-path:file-offset minus
 * one (inside the call instruction) so addr2line resolves it, so tests check
 * counts and sites without depending on the report formatter.
 *
 *   snapdump FILE.snap         that snapshot
 *   snapdump DIR               the newest snapshot in DIR
 *   snapdump --last DIR PID    the newest snapshot of PID's series in DIR
 *
 * Lines: header, heap, fd, mmap, res (resources), event (resource misuse),
 * corruption (heap corruption), meminfo + mem (memory breakdown), dmabuf (its
 * dma-bufs), kmem (kernel memory rows, kernel frames as names), kmeminfo,
 * kdmabuf (the kernel section's dma-bufs), loss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "snapshot.h"

static void frames(const struct snapshot *s, const char *label, uint32_t id)
{
    const struct snap_stack *st = snapshot_find_stack(s, id);
    printf(" %s=", label);
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

/* Picks the newest snapshot in dir (of pid's series if pid is given). */
static int pick(const char *dir, const char *pid, char *out, size_t cap, int *count)
{
    char **paths, err[1024];
    int n = snapshot_list_dir(dir, &paths, err, sizeof(err));
    if (n < 0) {
        fprintf(stderr, "snapdump: %s\n", err);
        return -1;
    }
    char needle[32] = "";
    if (pid)
        snprintf(needle, sizeof(needle), ".%s.", pid);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *b = strrchr(paths[i], '/');
        if (!pid || strstr(b ? b : paths[i], needle))
            snprintf(out, cap, "%s", paths[i]);
        free(paths[i]);
    }
    free(paths);
    *count = n;
    if (!out[0]) {
        fprintf(stderr, "snapdump: no snapshot of pid %s in %s\n", pid, dir);
        return -1;
    }
    return 0;
}

static int is_resource_event(uint32_t kind)
{
    return kind == SNAP_CORR_USE_AFTER_DESTROY || kind == SNAP_CORR_DOUBLE_DESTROY;
}

int main(int argc, char **argv)
{
    char path[4096], err[1024];
    int count = 1;
    struct stat st;
    if (argc == 4 && !strcmp(argv[1], "--last")) {
        if (pick(argv[2], argv[3], path, sizeof(path), &count) < 0)
            return 1;
    } else if (argc == 2 && stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode)) {
        if (pick(argv[1], NULL, path, sizeof(path), &count) < 0)
            return 1;
    } else if (argc == 2) {
        snprintf(path, sizeof(path), "%s", argv[1]);
    } else {
        fprintf(stderr, "usage: snapdump FILE | snapdump DIR | snapdump --last DIR PID\n");
        return 2;
    }
    struct snapshot *s;
    if (snapshot_read_file(path, &s, err, sizeof(err)) < 0) {
        fprintf(stderr, "snapdump: %s\n", err);
        return 1;
    }
    printf("header source=%s pid=%d seq=%u mode=%s allocator=%s trigger=%s snapshots=%d exe=%s\n",
           snap_source_name(s->hdr.source), s->hdr.pid, s->hdr.seq, snap_mode_name(s->hdr.mode),
           s->hdr.allocator, snap_trigger_name(s->hdr.trigger), count, s->hdr.exe);
    for (size_t i = 0; i < s->n_heap; i++) {
        const struct snap_heap_entry *e = &s->heap[i];
        printf("heap stack=%u live_bytes=%llu live_count=%llu total_bytes=%llu total_count=%llu "
               "flags=%u",
               e->stack_id, (unsigned long long)e->live_bytes, (unsigned long long)e->live_count,
               (unsigned long long)e->total_bytes, (unsigned long long)e->total_count, e->flags);
        frames(s, "frames", e->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_fds; i++) {
        const struct snap_fd_entry *e = &s->fds[i];
        printf("fd fd=%d kind=%s origin=%s source=%d flags=%u target=%s", e->fd,
               snap_fd_kind_name(e->kind), snap_fd_origin_name(e->origin), e->source_fd, e->flags,
               e->target);
        frames(s, "frames", e->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_mmaps; i++) {
        const struct snap_mmap_entry *e = &s->mmaps[i];
        printf("mmap len=%llu kind=%s fd=%d", (unsigned long long)e->len,
               snap_mmap_kind_name(e->kind), e->fd);
        frames(s, "frames", e->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_resources; i++) {
        const struct snap_resource_entry *e = &s->resources[i];
        printf("res kind=%s live=%llu created=%llu destroyed=%llu refs=%llu unrefs=%llu "
               "balance=%lld flags=%u",
               e->kind, (unsigned long long)e->live_count, (unsigned long long)e->total_created,
               (unsigned long long)e->total_destroyed, (unsigned long long)e->total_refs,
               (unsigned long long)e->total_unrefs, (long long)e->ref_balance, e->flags);
        frames(s, "frames", e->stack_id);
        if (e->last_ref_stack)
            frames(s, "lastref", e->last_ref_stack);
        printf("\n");
    }
    if (s->has_memory) {
        const struct snap_mem_info *m = &s->mem;
        printf("meminfo flags=%u rss=%llu pss=%llu anon=%llu file=%llu shmem=%llu swap=%llu "
               "smaps_rss=%llu smaps_pss=%llu live_heap=%llu alloc_resident=%llu "
               "alloc_in_use=%llu dmabuf_bytes=%llu threads=%u\n",
               m->flags, (unsigned long long)m->rss, (unsigned long long)m->pss,
               (unsigned long long)m->anon, (unsigned long long)m->file,
               (unsigned long long)m->shmem, (unsigned long long)m->swap,
               (unsigned long long)m->smaps_rss, (unsigned long long)m->smaps_pss,
               (unsigned long long)m->live_heap, (unsigned long long)m->alloc_resident,
               (unsigned long long)m->alloc_in_use, (unsigned long long)m->dmabuf_bytes,
               m->n_threads);
    }
    for (size_t i = 0; i < s->n_mem; i++) {
        const struct snap_mem_entry *e = &s->mem_entries[i];
        printf("mem component=%s rss=%lld pss=%lld swap=%llu size=%llu maps=%u flags=%u",
               snap_mem_component_key(e->component), (long long)e->rss, (long long)e->pss,
               (unsigned long long)e->swap, (unsigned long long)e->size, e->n_maps, e->flags);
        frames(s, "frames", e->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_dmabufs; i++) {
        const struct snap_dmabuf *d = &s->dmabufs[i];
        printf("dmabuf inode=%llu size=%llu fds=%u maps=%u exporter=%s name=%s",
               (unsigned long long)d->inode, (unsigned long long)d->size, d->n_fds, d->n_maps,
               d->exporter, d->name);
        frames(s, "frames", d->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_corruptions; i++) {
        const struct snap_corruption *c = &s->corruptions[i];
        if (is_resource_event(c->kind)) {
            printf("event kind=%s detail=\"%s\"", snap_corruption_kind_name(c->kind), c->detail);
            frames(s, "create", c->alloc_stack);
            frames(s, "destroy", c->free_stack);
            frames(s, "access", c->access_stack);
        } else {
            printf("corruption kind=%s size=%llu offset=%lld alloc",
                   snap_corruption_kind_name(c->kind), (unsigned long long)c->block_size,
                   (long long)c->offset);
            frames(s, "frames", c->alloc_stack);
            printf(" free");
            frames(s, "frames", c->free_stack);
            printf(" access");
            frames(s, "frames", c->access_stack);
        }
        printf("\n");
    }
    if (s->has_kmem)
        printf("kmeminfo live=%llu excluded=%llu flags=%u dmabufs=%u\n",
               (unsigned long long)s->kmem.live_bytes, (unsigned long long)s->kmem.excluded_bytes,
               s->kmem.flags, s->kmem.n_dmabufs);
    for (size_t i = 0; i < s->n_kmem; i++) {
        const struct snap_kmem_row *e = &s->kmem_rows[i];
        printf("kmem kind=%u flags=%u live=%llu count=%llu total=%llu freed_other=%llu cache=%s",
               e->kind, e->flags, (unsigned long long)e->live_bytes,
               (unsigned long long)e->live_count, (unsigned long long)e->total_bytes,
               (unsigned long long)e->freed_other_bytes, e->cache[0] ? e->cache : "-");
        const struct snap_kstack *k = snapshot_find_kstack(s, e->kstack_id);
        printf(" kframes=");
        for (uint32_t f = 0; k && f < k->depth; f++)
            printf("%s%s", f ? "," : "", k->names[f][0] ? k->names[f] : "?");
        frames(s, "frames", e->stack_id);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_kdmabufs; i++)
        printf("kdmabuf inode=%llu size=%llu exporter=%s fds=%u\n",
               (unsigned long long)s->kdmabufs[i].inode, (unsigned long long)s->kdmabufs[i].size,
               s->kdmabufs[i].exporter, s->kdmabufs[i].target_fds);
    for (size_t i = 0; i < s->n_losses; i++)
        printf("loss %s=%llu\n", s->losses[i].name, (unsigned long long)s->losses[i].value);
    snapshot_free(s);
    return 0;
}
