/*
 * Unit tests of the resources section (SNAP_SEC_RESOURCES) of the snapshot
 * format: entries and the resource corruption events round-trip exactly,
 * a damaged entry is an error, and a file without the section has none.
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
    snprintf(dir, sizeof(dir), "/tmp/leakaudit-restest.%d", getpid());
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static const char *path_of(const char *name)
{
    static char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, int with_resources)
{
    struct snap_writer *w = &writer;
    assert_int_equal(snap_writer_open(w, dir, name), 0);
    struct snap_header h = {.source = SNAP_SOURCE_TRACER, .mode = SNAP_MODE_FULL, .pid = 42};
    snap_write_header(w, &h);
    snap_begin_section(w, SNAP_SEC_STACKS);
    uint64_t frames[2] = {0x1111, 0x2222};
    snap_write_stack(w, 1, frames, 2);
    snap_write_stack(w, 2, frames + 1, 1);
    if (with_resources) {
        snap_begin_section(w, SNAP_SEC_RESOURCES);
        struct snap_resource_entry e = {.stack_id = 1,
                                        .flags = SNAP_RES_REFCOUNTED,
                                        .live_count = 3,
                                        .total_created = 10,
                                        .total_destroyed = 7,
                                        .total_refs = 5,
                                        .total_unrefs = 2,
                                        .ref_balance = -1,
                                        .last_ref_stack = 2,
                                        .oldest_ns = 123456789};
        strcpy(e.kind, "gstbuf");
        assert_int_equal(snap_write_resource(w, &e), 0);
        struct snap_resource_entry e2 = {.stack_id = 2, .live_count = 1, .total_created = 1};
        strcpy(e2.kind, "paddle");
        snap_write_resource(w, &e2);
        snap_begin_section(w, SNAP_SEC_CORRUPTION);
        struct snap_corruption c = {.kind = SNAP_CORR_DOUBLE_DESTROY,
                                    .tid = 9,
                                    .addr = 0xabc0,
                                    .alloc_stack = 1,
                                    .free_stack = 2,
                                    .access_stack = 1};
        strcpy(c.detail, "paddle: PD_PredictorDestroy(0xabc0) after PD_PredictorDestroy");
        snap_write_corruption(w, &c);
    }
    assert_int_equal(snap_writer_commit(w), 0);
}

static void test_resource_entries_roundtrip(void **state)
{
    write_file("r.000000.snap", 1);
    struct snapshot *s;
    char err[256];
    assert_int_equal(snapshot_read_file(path_of("r.000000.snap"), &s, err, sizeof(err)), 0);
    assert_int_equal(s->n_resources, 2);
    const struct snap_resource_entry *e = &s->resources[0];
    assert_string_equal(e->kind, "gstbuf");
    assert_int_equal(e->stack_id, 1);
    assert_int_equal(e->flags, SNAP_RES_REFCOUNTED);
    assert_int_equal(e->live_count, 3);
    assert_int_equal(e->total_created, 10);
    assert_int_equal(e->total_destroyed, 7);
    assert_int_equal(e->total_refs, 5);
    assert_int_equal(e->total_unrefs, 2);
    assert_int_equal(e->ref_balance, -1);
    assert_int_equal(e->last_ref_stack, 2);
    assert_int_equal(e->oldest_ns, 123456789);
    assert_string_equal(s->resources[1].kind, "paddle");
    assert_int_equal(s->n_corruptions, 1);
    assert_int_equal(s->corruptions[0].kind, SNAP_CORR_DOUBLE_DESTROY);
    assert_int_equal(s->corruptions[0].free_stack, 2);
    assert_string_equal(snap_corruption_kind_name(s->corruptions[0].kind), "double-destroy");
    assert_string_equal(snap_corruption_kind_name(SNAP_CORR_USE_AFTER_DESTROY),
                        "use-after-destroy");
    snapshot_free(s);
}

static void test_file_without_resources_has_none(void **state)
{
    write_file("n.000000.snap", 0);
    struct snapshot *s;
    char err[256];
    assert_int_equal(snapshot_read_file(path_of("n.000000.snap"), &s, err, sizeof(err)), 0);
    assert_int_equal(s->n_resources, 0);
    assert_null(s->resources);
    snapshot_free(s);
}

/* A resource record cut short (inside a valid file) names the section. */
static void test_short_resource_record_is_an_error(void **state)
{
    struct snap_writer *w = &writer;
    assert_int_equal(snap_writer_open(w, dir, "t.000000.snap"), 0);
    struct snap_header h = {.source = SNAP_SOURCE_SHIM, .mode = SNAP_MODE_FULL};
    snap_write_header(w, &h);
    snap_begin_section(w, SNAP_SEC_RESOURCES);
    snap_write_loss(w, "x", 1); /* a record of the wrong shape for this section */
    assert_int_equal(snap_writer_commit(w), 0);
    struct snapshot *s;
    char err[256];
    assert_true(snapshot_read_file(path_of("t.000000.snap"), &s, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "resources section"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resource_entries_roundtrip),
        cmocka_unit_test(test_file_without_resources_has_none),
        cmocka_unit_test(test_short_resource_record_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
