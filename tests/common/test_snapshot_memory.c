/*
 * Unit tests of the memory section (SNAP_SEC_MEMORY, docs/memory.md) of the
 * snapshot format: the info record, component entries (with a negative
 * unaccounted remainder) and dma-buf entries round-trip exactly; a record
 * kind or component this reader does not know is skipped, and so is a
 * whole section it does not know (13): older readers read newer files. The
 * kernel-memory section (SNAP_SEC_KMEM, attach --kmem) round-trips too:
 * info, kernel stacks with their names, rows, dma-bufs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot.h"

static char dir[256];
static struct snap_writer writer;

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/leakaudit-memtest.%d", getpid());
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static struct snapshot *write_and_read(void)
{
    struct snap_writer *w = &writer;
    assert_int_equal(snap_writer_open(w, dir, "m.snap"), 0);
    struct snap_header h = {.source = SNAP_SOURCE_SHIM, .mode = SNAP_MODE_FULL, .pid = 7};
    snap_write_header(w, &h);
    snap_begin_section(w, SNAP_SEC_MEMORY);
    struct snap_mem_info info = {.flags = SNAP_MEMI_ROLLUP | SNAP_MEMI_ALLOC_STATS,
                                 .n_threads = 3,
                                 .rss = 100 << 20,
                                 .pss = 90 << 20,
                                 .anon = 80 << 20,
                                 .file = 15 << 20,
                                 .shmem = 5 << 20,
                                 .swap = 4096,
                                 .smaps_rss = (100 << 20) + 8192,
                                 .smaps_pss = 90 << 20,
                                 .live_heap = 1 << 20,
                                 .alloc_resident = 70 << 20,
                                 .alloc_in_use = 2 << 20,
                                 .dmabuf_bytes = 8294400};
    assert_int_equal(snap_write_mem_info(w, &info), 0);
    struct snap_mem_entry e = {.component = SNAP_MEM_SHMEM,
                               .stack_id = 2,
                               .flags = 0,
                               .n_maps = 5,
                               .rss = 20 << 20,
                               .pss = 10 << 20,
                               .swap = 0,
                               .size = 20 << 20};
    assert_int_equal(snap_write_mem(w, &e), 0);
    struct snap_mem_entry u = {.component = SNAP_MEM_UNACCOUNTED, .rss = -8192, .pss = -4};
    snap_write_mem(w, &u);
    struct snap_mem_entry future = {.component = 99, .rss = 1};
    snap_write_mem(w, &future);    /* a component of a newer writer: skipped */
    snap_write_loss(w, "abcd", 1); /* begins with u32 4: a record kind (tag 4) not known yet */
    struct snap_dmabuf d = {.inode = 1124, .size = 8294400, .stack_id = 2, .n_fds = 2, .n_maps = 1};
    strcpy(d.exporter, "system");
    strcpy(d.name, "camera preview");
    assert_int_equal(snap_write_dmabuf(w, &d), 0);
    snap_begin_section(w, 13); /* a section this reader does not know */
    snap_write_loss(w, "kernel-record", 5);
    snap_begin_section(w, SNAP_SEC_STACKS);
    uint64_t frames[1] = {0x1234};
    snap_write_stack(w, 2, frames, 1);
    assert_int_equal(snap_writer_commit(w), 0);
    char path[512], err[256];
    snprintf(path, sizeof(path), "%s/m.snap", dir);
    struct snapshot *s;
    assert_int_equal(snapshot_read_file(path, &s, err, sizeof(err)), 0);
    return s;
}

static void test_memory_section_round_trips(void **state)
{
    struct snapshot *s = write_and_read();
    assert_true(s->has_memory);
    assert_int_equal(s->mem.rss, 100 << 20);
    assert_int_equal(s->mem.smaps_rss, (100 << 20) + 8192);
    assert_int_equal(s->mem.alloc_resident, 70 << 20);
    assert_int_equal(s->mem.dmabuf_bytes, 8294400);
    assert_int_equal(s->mem.n_threads, 3);
    assert_int_equal(s->n_mem, 2);
    assert_int_equal(s->mem_entries[0].component, SNAP_MEM_SHMEM);
    assert_int_equal(s->mem_entries[0].stack_id, 2);
    assert_int_equal(s->mem_entries[0].rss, 20 << 20);
    assert_int_equal(s->mem_entries[0].pss, 10 << 20);
    assert_int_equal(s->mem_entries[0].n_maps, 5);
    assert_true(s->mem_entries[1].rss == -8192);
    assert_true(s->mem_entries[1].pss == -4);
    assert_int_equal(s->n_dmabufs, 1);
    assert_int_equal(s->dmabufs[0].inode, 1124);
    assert_int_equal(s->dmabufs[0].n_fds, 2);
    assert_string_equal(s->dmabufs[0].exporter, "system");
    assert_string_equal(s->dmabufs[0].name, "camera preview");
    assert_int_equal(s->n_stacks, 1); /* read on past the unknown section */
    assert_int_equal(s->n_losses, 0);
    snapshot_free(s);
}

static void test_kmem_section_round_trips(void **state)
{
    struct snap_writer *w = &writer;
    assert_int_equal(snap_writer_open(w, dir, "k.snap"), 0);
    struct snap_header h = {.source = SNAP_SOURCE_TRACER, .mode = SNAP_MODE_FULL, .pid = 9};
    snap_write_header(w, &h);
    snap_begin_section(w, SNAP_SEC_KMEM);
    struct snap_kmem_info info = {.flags = SNAP_KMEM_DMABUF_ITER,
                                  .n_dmabufs = 3,
                                  .live_bytes = 416000,
                                  .excluded_bytes = 4096};
    assert_int_equal(snap_write_kmem_info(w, &info), 0);
    uint64_t addrs[2] = {0xffffffff81234567ull, 0xffffffff81000010ull};
    const char *names[2] = {"inotify_update_watch+0x1a7", "do_syscall_64+0x40"};
    assert_int_equal(snap_write_kstack(w, 5, addrs, names, 2), 0);
    struct snap_kmem_row r = {.kind = SNAP_KMEM_SLAB,
                              .kstack_id = 5,
                              .stack_id = 2,
                              .flags = 0,
                              .live_bytes = 416000,
                              .live_count = 2000,
                              .total_bytes = 420000,
                              .total_count = 2020,
                              .freed_bytes = 4000,
                              .freed_count = 20,
                              .freed_other_bytes = 208,
                              .freed_other_count = 1};
    strcpy(r.cache, "inotify_inode_mark");
    assert_int_equal(snap_write_kmem_row(w, &r), 0);
    struct snap_kdmabuf d = {.inode = 77, .size = 1 << 20, .target_fds = 2};
    strcpy(d.exporter, "udmabuf");
    assert_int_equal(snap_write_kdmabuf(w, &d), 0);
    snap_begin_section(w, SNAP_SEC_STACKS);
    uint64_t frames[1] = {0x1234};
    snap_write_stack(w, 2, frames, 1);
    assert_int_equal(snap_writer_commit(w), 0);
    char path[512], err[256];
    snprintf(path, sizeof(path), "%s/k.snap", dir);
    struct snapshot *s;
    assert_int_equal(snapshot_read_file(path, &s, err, sizeof(err)), 0);
    assert_true(s->has_kmem);
    assert_int_equal(s->kmem.flags, SNAP_KMEM_DMABUF_ITER);
    assert_int_equal(s->kmem.n_dmabufs, 3);
    assert_int_equal(s->kmem.live_bytes, 416000);
    assert_int_equal(s->kmem.excluded_bytes, 4096);
    const struct snap_kstack *k = snapshot_find_kstack(s, 5);
    assert_non_null(k);
    assert_int_equal(k->depth, 2);
    assert_int_equal(k->addrs[0], 0xffffffff81234567ull);
    assert_string_equal(k->names[0], "inotify_update_watch+0x1a7");
    assert_string_equal(k->names[1], "do_syscall_64+0x40");
    assert_null(snapshot_find_kstack(s, 6));
    assert_int_equal(s->n_kmem, 1);
    assert_int_equal(s->kmem_rows[0].kind, SNAP_KMEM_SLAB);
    assert_int_equal(s->kmem_rows[0].kstack_id, 5);
    assert_int_equal(s->kmem_rows[0].stack_id, 2);
    assert_int_equal(s->kmem_rows[0].live_bytes, 416000);
    assert_int_equal(s->kmem_rows[0].total_count, 2020);
    assert_int_equal(s->kmem_rows[0].freed_other_bytes, 208);
    assert_string_equal(s->kmem_rows[0].cache, "inotify_inode_mark");
    assert_int_equal(s->n_kdmabufs, 1);
    assert_int_equal(s->kdmabufs[0].inode, 77);
    assert_int_equal(s->kdmabufs[0].size, 1 << 20);
    assert_int_equal(s->kdmabufs[0].target_fds, 2);
    assert_string_equal(s->kdmabufs[0].exporter, "udmabuf");
    assert_int_equal(s->n_stacks, 1);
    snapshot_free(s);
}

static void test_component_keys_name_every_component(void **state)
{
    for (uint32_t c = 1; c < SNAP_MEM_COMPONENT_COUNT; c++)
        assert_string_not_equal(snap_mem_component_key(c), "unknown");
    assert_string_equal(snap_mem_component_key(SNAP_MEM_COMPONENT_COUNT), "unknown");
    assert_string_equal(snap_mem_component_key(0), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_section_round_trips, setup, teardown),
        cmocka_unit_test(test_component_keys_name_every_component),
        cmocka_unit_test_setup_teardown(test_kmem_section_round_trips, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
