/*
 * Test helper (not a test): prints the resource records and the resource
 * events of the newest snapshot in DIR, each frame as module:offset (minus
 * one, inside the call) for addr2line, and the resource loss counters.
 *
 *   resdump DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    char err[1024];
    if (argc != 2) {
        fprintf(stderr, "usage: resdump DIR\n");
        return 2;
    }
    char **paths;
    int n = snapshot_list_dir(argv[1], &paths, err, sizeof(err));
    if (n <= 0) {
        fprintf(stderr, "resdump: %s\n", n < 0 ? err : "no snapshots");
        return 1;
    }
    struct snapshot *s;
    int rc = snapshot_read_file(paths[n - 1], &s, err, sizeof(err));
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    if (rc < 0) {
        fprintf(stderr, "resdump: %s\n", err);
        return 1;
    }
    printf("header source=%s trigger=%s snapshots=%d\n", snap_source_name(s->hdr.source),
           snap_trigger_name(s->hdr.trigger), n);
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
    for (size_t i = 0; i < s->n_corruptions; i++) {
        const struct snap_corruption *c = &s->corruptions[i];
        printf("event kind=%s detail=\"%s\"", snap_corruption_kind_name(c->kind), c->detail);
        frames(s, "create", c->alloc_stack);
        frames(s, "destroy", c->free_stack);
        frames(s, "access", c->access_stack);
        printf("\n");
    }
    for (size_t i = 0; i < s->n_losses; i++)
        if (!strncmp(s->losses[i].name, "resource_", 9))
            printf("loss %s=%llu\n", s->losses[i].name, (unsigned long long)s->losses[i].value);
    snapshot_free(s);
    return 0;
}
