/*
 * Unit tests of the snapshot format: what the writer writes the reader reads
 * back exactly, and every kind of damage gives a clear error, never a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot.h"
#include "util.h"

static char dir[256];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/leakaudit-snaptest.%d/sub", getpid());
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/leakaudit-snaptest.%d", getpid());
    return system(cmd);
}

static struct snap_writer writer;

static void write_sample(const char *name)
{
    struct snap_writer *w = &writer;
    assert_int_equal(snap_writer_open(w, dir, name), 0);
    struct snap_header h = {.source = SNAP_SOURCE_SHIM,
                            .mode = SNAP_MODE_SAMPLED,
                            .unwind = SNAP_UNWIND_FP,
                            .trigger = SNAP_TRIGGER_EXIT,
                            .seq = 7,
                            .pid = 1234,
                            .ppid = 1,
                            .sample_period = 524288,
                            .start_time_ns = 100,
                            .snapshot_time_ns = 200,
                            .monotonic_ns = 300,
                            .rss_bytes = 4096};
    strcpy(h.exe, "/usr/bin/example");
    strcpy(h.series, "example.1234.abc");
    strcpy(h.allocator, "glibc");
    assert_int_equal(snap_write_header(w, &h), 0);
    snap_begin_section(w, SNAP_SEC_MODULES);
    struct snap_module m = {.start = 0x1000,
                            .end = 0x2000,
                            .offset = 0x0,
                            .build_id_len = 3,
                            .build_id = {1, 2, 3},
                            .path = "/usr/bin/example"};
    snap_write_module(w, &m);
    snap_begin_section(w, SNAP_SEC_STACKS);
    uint64_t frames[3] = {0x1010, 0x1020, 0x1030};
    snap_write_stack(w, 5, frames, 3);
    snap_write_stack(w, 2, frames, 1);
    snap_begin_section(w, SNAP_SEC_HEAP);
    struct snap_heap_entry he = {.stack_id = 5,
                                 .live_bytes = 100,
                                 .live_count = 2,
                                 .total_bytes = 300,
                                 .total_count = 6,
                                 .freed_bytes = 200,
                                 .freed_count = 4};
    snap_write_heap(w, &he);
    snap_begin_section(w, SNAP_SEC_FDS);
    struct snap_fd_entry fe = {.fd = 9,
                               .kind = SNAP_FD_MEMFD,
                               .origin = SNAP_FDO_DUP,
                               .stack_id = 2,
                               .created_ns = 150,
                               .source_fd = 4,
                               .target = "/memfd:frame (deleted)"};
    snap_write_fd(w, &fe);
    snap_begin_section(w, SNAP_SEC_MMAPS);
    struct snap_mmap_entry me = {.addr = 0x7000,
                                 .len = 8192,
                                 .prot = 3,
                                 .flags = 1,
                                 .fd = 9,
                                 .kind = SNAP_MMAP_MEMFD,
                                 .stack_id = 2,
                                 .path = ""};
    snap_write_mmap(w, &me);
    snap_begin_section(w, SNAP_SEC_CORRUPTION);
    struct snap_corruption ce = {.kind = SNAP_CORR_OVERFLOW,
                                 .tid = 77,
                                 .addr = 0x5000,
                                 .block_size = 16,
                                 .offset = 16,
                                 .alloc_stack = 5,
                                 .bytes_len = 2,
                                 .bytes = {0xde, 0xad}};
    strcpy(ce.detail, "1 byte past a 16-byte block");
    snap_write_corruption(w, &ce);
    snap_begin_section(w, SNAP_SEC_LOSSES);
    snap_write_loss(w, "fd_unattributed", 3);
    snap_begin_section(w, SNAP_SEC_REACHABILITY);
    struct snap_reach_info ri = {.flags = SNAP_REACH_ATTACH_ONLY,
                                 .threads_stopped = 3,
                                 .scan_ns = 11,
                                 .pause_ns = 7,
                                 .extra_bytes = 4096,
                                 .blocks_scanned = 2,
                                 .roots_bytes = 8192};
    snap_write_reach_info(w, &ri);
    struct snap_reach_entry re = {.stack_id = 5, .bytes = {64, 32, 0, 4}, .blocks = {1, 2, 0, 1}};
    snap_write_reach(w, &re);
    assert_int_equal(snap_writer_commit(w), 0);
}

static char *path_of(const char *name)
{
    static char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

static void test_roundtrip_preserves_every_field(void **state)
{
    write_sample("a.000000.snap");
    struct snapshot *s;
    char err[256];
    assert_int_equal(snapshot_read_file(path_of("a.000000.snap"), &s, err, sizeof(err)), 0);
    assert_int_equal(s->hdr.pid, 1234);
    assert_int_equal(s->hdr.seq, 7);
    assert_int_equal(s->hdr.mode, SNAP_MODE_SAMPLED);
    assert_int_equal(s->hdr.sample_period, 524288);
    assert_string_equal(s->hdr.exe, "/usr/bin/example");
    assert_string_equal(s->hdr.series, "example.1234.abc");
    assert_int_equal(s->n_modules, 1);
    assert_int_equal(s->modules[0].build_id_len, 3);
    assert_int_equal(s->modules[0].build_id[2], 3);
    assert_int_equal(s->n_stacks, 2);
    assert_int_equal(s->stacks[0].id, 2); /* sorted by id */
    const struct snap_stack *st = snapshot_find_stack(s, 5);
    assert_non_null(st);
    assert_int_equal(st->depth, 3);
    assert_int_equal(st->frames[2], 0x1030);
    assert_null(snapshot_find_stack(s, 3));
    assert_int_equal(s->n_heap, 1);
    assert_int_equal(s->heap[0].live_bytes, 100);
    assert_int_equal(s->heap[0].freed_count, 4);
    assert_int_equal(s->n_fds, 1);
    assert_string_equal(s->fds[0].target, "/memfd:frame (deleted)");
    assert_int_equal(s->fds[0].source_fd, 4);
    assert_int_equal(s->n_mmaps, 1);
    assert_int_equal(s->mmaps[0].len, 8192);
    assert_int_equal(s->n_corruptions, 1);
    assert_int_equal(s->corruptions[0].bytes[1], 0xad);
    assert_string_equal(s->corruptions[0].detail, "1 byte past a 16-byte block");
    assert_int_equal(snapshot_loss(s, "fd_unattributed"), 3);
    assert_true(s->has_reach);
    assert_int_equal(s->reach.flags, SNAP_REACH_ATTACH_ONLY);
    assert_int_equal(s->reach.threads_stopped, 3);
    assert_int_equal(s->reach.pause_ns, 7);
    assert_int_equal(s->reach.extra_bytes, 4096);
    assert_int_equal(s->reach.roots_bytes, 8192);
    assert_int_equal(s->n_reach, 1);
    assert_int_equal(s->reach_entries[0].stack_id, 5);
    assert_int_equal(s->reach_entries[0].bytes[SNAP_REACH_DEFINITE], 64);
    assert_int_equal(s->reach_entries[0].blocks[SNAP_REACH_INDIRECT], 2);
    assert_int_equal(s->reach_entries[0].bytes[SNAP_REACH_REACHABLE], 4);
    snapshot_free(s);
}

static void test_snapshot_without_reachability_section_has_none(void **state)
{
    struct snap_writer *w = &writer;
    assert_int_equal(snap_writer_open(w, dir, "r.000000.snap"), 0);
    struct snap_header h = {.source = SNAP_SOURCE_SHIM, .mode = SNAP_MODE_FULL};
    snap_write_header(w, &h);
    snap_begin_section(w, SNAP_SEC_REACHABILITY);
    /* entries without an info record still count as a reachability section */
    struct snap_reach_entry re = {.stack_id = 1};
    snap_write_reach(w, &re);
    assert_int_equal(snap_writer_commit(w), 0);
    struct snapshot *s;
    char err[256];
    assert_int_equal(snapshot_read_file(path_of("r.000000.snap"), &s, err, sizeof(err)), 0);
    assert_true(s->has_reach);
    assert_int_equal(s->n_reach, 1);
    assert_int_equal(s->reach.blocks_scanned, 0);
    snapshot_free(s);

    assert_int_equal(snap_writer_open(w, dir, "r.000001.snap"), 0);
    snap_write_header(w, &h);
    assert_int_equal(snap_writer_commit(w), 0);
    assert_int_equal(snapshot_read_file(path_of("r.000001.snap"), &s, err, sizeof(err)), 0);
    assert_false(s->has_reach);
    assert_int_equal(s->n_reach, 0);
    assert_null(s->reach_entries);
    snapshot_free(s);
    assert_string_equal(snap_reach_class_name(SNAP_REACH_INDIRECT), "indirectly lost");
}

static void test_files_are_private(void **state)
{
    write_sample("b.000000.snap");
    struct stat st;
    assert_int_equal(stat(path_of("b.000000.snap"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(access(path_of("b.000000.snap.tmp"), F_OK), -1);
}

static unsigned char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(*len);
    assert_int_equal(fread(d, 1, *len, f), *len);
    fclose(f);
    return d;
}

static void test_every_truncation_is_an_error(void **state)
{
    write_sample("c.000000.snap");
    size_t len;
    unsigned char *d = slurp(path_of("c.000000.snap"), &len);
    for (size_t cut = 0; cut < len; cut++) {
        struct snapshot *s = NULL;
        char err[256] = "";
        int rc = snapshot_read_mem(d, cut, &s, err, sizeof(err));
        assert_true(rc < 0);
        assert_null(s);
        assert_true(strlen(err) > 0);
    }
    free(d);
}

static void test_every_flipped_byte_is_an_error(void **state)
{
    write_sample("d.000000.snap");
    size_t len;
    unsigned char *d = slurp(path_of("d.000000.snap"), &len);
    for (size_t i = 0; i < len; i++) {
        d[i] ^= 0x5a;
        struct snapshot *s = NULL;
        char err[256] = "";
        assert_true(snapshot_read_mem(d, len, &s, err, sizeof(err)) < 0);
        d[i] ^= 0x5a;
    }
    free(d);
}

static void test_wrong_version_is_named(void **state)
{
    write_sample("e.000000.snap");
    size_t len;
    unsigned char *d = slurp(path_of("e.000000.snap"), &len);
    d[SNAP_MAGIC_LEN] = 99;
    struct snapshot *s = NULL;
    char err[256] = "";
    assert_int_equal(snapshot_read_mem(d, len, &s, err, sizeof(err)), -EPROTO);
    assert_non_null(strstr(err, "format version 99"));
    free(d);
}

static void test_bad_magic_is_named(void **state)
{
    struct snapshot *s = NULL;
    char err[256] = "";
    const char junk[64] = "this is not a snapshot at all, just text....";
    assert_true(snapshot_read_mem(junk, sizeof(junk), &s, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "bad magic"));
}

static void test_missing_file_and_empty_dir_are_named(void **state)
{
    struct snapshot *s = NULL;
    char err[512] = "";
    assert_int_equal(snapshot_read_file("/nonexistent/x.snap", &s, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/x.snap"));
    char empty[300];
    snprintf(empty, sizeof(empty), "%s/empty", dir);
    assert_int_equal(util_mkdir_p(empty), 0);
    char **paths;
    assert_int_equal(snapshot_list_dir(empty, &paths, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "no snapshot files"));
}

static void test_list_dir_orders_by_series_then_seq(void **state)
{
    write_sample("s.000002.snap");
    write_sample("s.000010.snap");
    write_sample("r.000001.snap");
    char **paths, err[256];
    int n = snapshot_list_dir(dir, &paths, err, sizeof(err));
    assert_true(n >= 3);
    int ir = -1, i2 = -1, i10 = -1;
    for (int i = 0; i < n; i++) {
        if (strstr(paths[i], "/r.000001"))
            ir = i;
        if (strstr(paths[i], "/s.000002"))
            i2 = i;
        if (strstr(paths[i], "/s.000010"))
            i10 = i;
    }
    assert_true(ir >= 0 && ir < i2 && i2 < i10);
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

static void test_sequence_numbers_past_999999_order_right(void **state)
{
    write_sample("big.999998.snap");
    write_sample("big.999999.snap");
    write_sample("big.1000000.snap");
    write_sample("big.1000001.snap");
    char **paths, err[256];
    int n = snapshot_list_dir(dir, &paths, err, sizeof(err));
    assert_true(n >= 4);
    const char *want[] = {"/big.999998.snap", "/big.999999.snap", "/big.1000000.snap",
                          "/big.1000001.snap"};
    int next = 0;
    for (int i = 0; i < n; i++) {
        if (next < 4 && strstr(paths[i], want[next]))
            next++;
        free(paths[i]);
    }
    free(paths);
    assert_int_equal(next, 4);

    /* series names still sort as text: hex start times 0x19 < 0x1a */
    write_sample("h.19.000001.snap");
    write_sample("h.1a.000000.snap");
    n = snapshot_list_dir(dir, &paths, err, sizeof(err));
    int i19 = -1, i1a = -1;
    for (int i = 0; i < n; i++) {
        if (strstr(paths[i], "/h.19."))
            i19 = i;
        if (strstr(paths[i], "/h.1a."))
            i1a = i;
        free(paths[i]);
    }
    free(paths);
    assert_true(i19 >= 0 && i19 < i1a);
}

/* A CRC-valid file with values no capture produces is an error naming the
 * section and the field, never rendered. */
static int read_back_heap(const struct snap_heap_entry *e, uint64_t start, uint64_t t, char *err,
                          size_t errlen)
{
    struct snap_writer *w = &writer;
    assert_int_equal(snap_writer_open(w, dir, "odd.000000.snap"), 0);
    struct snap_header h = {.source = SNAP_SOURCE_SHIM,
                            .mode = SNAP_MODE_FULL,
                            .pid = 1,
                            .start_time_ns = start,
                            .snapshot_time_ns = t};
    snap_write_header(w, &h);
    snap_begin_section(w, SNAP_SEC_STACKS);
    uint64_t frame = 0x401000;
    snap_write_stack(w, 1, &frame, 1);
    snap_begin_section(w, SNAP_SEC_HEAP);
    snap_write_heap(w, e);
    assert_int_equal(snap_writer_commit(w), 0);
    char path[400];
    snprintf(path, sizeof(path), "%s/odd.000000.snap", dir);
    struct snapshot *s = NULL;
    int rc = snapshot_read_file(path, &s, err, errlen);
    snapshot_free(s);
    unlink(path);
    return rc;
}

static void test_impossible_values_are_errors_naming_the_field(void **state)
{
    char err[512];
    struct snap_heap_entry ok = {.stack_id = 1,
                                 .live_bytes = 100,
                                 .live_count = 1,
                                 .total_bytes = 300,
                                 .total_count = 3,
                                 .freed_bytes = 200,
                                 .freed_count = 2};
    assert_int_equal(read_back_heap(&ok, 1000, 2000, err, sizeof(err)), 0);

    struct snap_heap_entry e = ok;
    e.live_bytes = 2305843009213693952ull; /* 2,097,152 TiB, the file */
    e.total_bytes = 64000;
    assert_true(read_back_heap(&e, 1000, 2000, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "odd.000000.snap"));
    assert_non_null(strstr(err, "heap section"));
    assert_non_null(strstr(err, "live_bytes"));

    e = ok;
    e.live_bytes = 400;
    assert_true(read_back_heap(&e, 1000, 2000, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "live_bytes 400 > total_bytes 300"));

    e = ok;
    e.live_count = 4;
    assert_true(read_back_heap(&e, 1000, 2000, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "live_count 4 > total_count 3"));

    assert_true(read_back_heap(&ok, 3000, 2000, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "header section"));
    assert_non_null(strstr(err, "snapshot_time 2000 is before start_time 3000"));
}

static void test_fifo_named_snap_is_an_error_not_a_hang(void **state)
{
    char path[400], err[512];
    snprintf(path, sizeof(path), "%s/fifo.000000.snap", dir);
    assert_int_equal(util_mkdir_p(dir), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    struct snapshot *s = NULL;
    assert_true(snapshot_read_file(path, &s, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(path);
}

static void test_parse_size_and_duration(void **state)
{
    uint64_t v;
    assert_int_equal(util_parse_size("512K", &v), 0);
    assert_int_equal(v, 524288);
    assert_int_equal(util_parse_size("4MiB", &v), 0);
    assert_int_equal(v, 4u << 20);
    assert_int_equal(util_parse_size("x", &v), -EINVAL);
    assert_int_equal(util_parse_duration_ms("500ms", &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(util_parse_duration_ms("2m", &v), 0);
    assert_int_equal(v, 120000);
    assert_int_equal(util_parse_duration_ms("3", &v), 0);
    assert_int_equal(v, 3000);
    assert_int_equal(util_parse_duration_ms("-1", &v), -EINVAL);
    uint64_t lo, hi;
    assert_int_equal(util_parse_size_range("1000", &lo, &hi), 0);
    assert_true(lo == 1000 && hi == 1000);
    assert_int_equal(util_parse_size_range("65-4k", &lo, &hi), 0);
    assert_true(lo == 65 && hi == 4096);
    assert_int_equal(util_parse_size_range("2k-", &lo, &hi), 0);
    assert_true(lo == 2048 && hi == UINT64_MAX);
    assert_int_equal(util_parse_size_range("-64", &lo, &hi), 0);
    assert_true(lo == 0 && hi == 64);
    assert_int_equal(util_parse_size_range("10-5", &lo, &hi), -EINVAL);
    assert_int_equal(util_parse_size_range("-", &lo, &hi), -EINVAL);
    assert_int_equal(util_parse_size_range("", &lo, &hi), -EINVAL);
    assert_int_equal(util_parse_size_range("1-x", &lo, &hi), -EINVAL);
}

static void test_crc32_matches_the_standard_value(void **state)
{
    /* the CRC-32 check value, and the same across unaligned splits */
    assert_int_equal(util_crc32(0, "123456789", 9), 0xCBF43926u);
    const char *text = "The quick brown fox jumps over the lazy dog, twice over.";
    uint32_t whole = util_crc32(0, text, strlen(text));
    for (size_t cut = 0; cut < strlen(text); cut++)
        assert_int_equal(util_crc32(util_crc32(0, text, cut), text + cut, strlen(text) - cut),
                         whole);
}

static void test_fd_kind_classification(void **state)
{
    assert_int_equal(snap_fd_kind_from_target("socket:[123]"), SNAP_FD_SOCKET);
    assert_int_equal(snap_fd_kind_from_target("/memfd:x (deleted)"), SNAP_FD_MEMFD);
    assert_int_equal(snap_fd_kind_from_target("anon_inode:dmabuf"), SNAP_FD_DMABUF);
    assert_int_equal(snap_fd_kind_from_target("/dmabuf:"), SNAP_FD_DMABUF);
    assert_int_equal(snap_fd_kind_from_target("anon_inode:[eventfd]"), SNAP_FD_EVENTFD);
    assert_int_equal(snap_fd_kind_from_target("pipe:[9]"), SNAP_FD_PIPE);
    assert_int_equal(snap_fd_kind_from_target("/etc/passwd"), SNAP_FD_FILE);
    assert_int_equal(snap_fd_kind_from_target("/dev/null"), SNAP_FD_DEVICE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_preserves_every_field),
        cmocka_unit_test(test_files_are_private),
        cmocka_unit_test(test_snapshot_without_reachability_section_has_none),
        cmocka_unit_test(test_every_truncation_is_an_error),
        cmocka_unit_test(test_every_flipped_byte_is_an_error),
        cmocka_unit_test(test_wrong_version_is_named),
        cmocka_unit_test(test_bad_magic_is_named),
        cmocka_unit_test(test_missing_file_and_empty_dir_are_named),
        cmocka_unit_test(test_list_dir_orders_by_series_then_seq),
        cmocka_unit_test(test_sequence_numbers_past_999999_order_right),
        cmocka_unit_test(test_impossible_values_are_errors_naming_the_field),
        cmocka_unit_test(test_fifo_named_snap_is_an_error_not_a_hang),
        cmocka_unit_test(test_parse_size_and_duration),
        cmocka_unit_test(test_fd_kind_classification),
        cmocka_unit_test(test_crc32_matches_the_standard_value),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
