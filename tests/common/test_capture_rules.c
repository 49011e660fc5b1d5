/*
 * Unit tests of the rules both capture sides (the shim and the tracer) share
 * through common/: the loss-counter table, the naming of series and files,
 * the /proc/PID/stat parser, the allocator a library path belongs to, and the
 * fd reconcile rule run against this very process.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "allocators.h"
#include "fdscan.h"
#include "losses.h"
#include "procfs.h"
#include "series_name.h"
#include "snapshot.h"

static void test_every_loss_counter_has_one_name_a_meaning_and_a_kind(void **state)
{
    for (int i = 0; i < SNAP_LOSS_COUNT; i++) {
        const struct snap_loss_info *l = snap_loss_info((enum snap_loss_id)i);
        assert_non_null(l);
        assert_non_null(l->name);
        assert_true(strlen(l->name) > 0 && strlen(l->name) < SNAP_MAX_NAME);
        assert_non_null(l->meaning);
        assert_true(l->kind == SNAP_LOSS_KIND_LOSS || l->kind == SNAP_LOSS_KIND_NOTE);
        assert_ptr_equal(snap_loss_lookup(l->name), l);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(snap_loss_name((enum snap_loss_id)j), l->name);
    }
}

static void test_the_old_fd_loss_name_reads_as_the_current_one(void **state)
{
    assert_string_equal(snap_loss_canonical("fd_close_unseen"), "fd_closed_unseen");
    assert_string_equal(snap_loss_name(SNAP_LOSS_FD_CLOSED_UNSEEN), "fd_closed_unseen");
    const char *own = "a_name_of_a_fixture";
    assert_ptr_equal(snap_loss_canonical(own), own); /* names stay free-form */
}

static void test_notes_have_a_note_and_losses_none(void **state)
{
    assert_non_null(snap_loss_note("snapshots_retired"));
    assert_non_null(snap_loss_note("free_unknown"));
    assert_null(snap_loss_note("stack_table_full"));
    assert_null(snap_loss_note("fd_closed_unseen"));
    assert_null(snap_loss_note("not_a_counter"));
}

static void test_series_name_is_basename_pid_and_start_in_hex_ms(void **state)
{
    char s[128];
    snap_series_name(s, sizeof(s), "/usr/bin/my.server", 42, 0x1234ull * 1000000);
    assert_string_equal(s, "my_server.42.1234");
    snap_series_name(s, sizeof(s), "", 7, 0);
    assert_string_equal(s, "_.7.0");
    snap_series_name(s, sizeof(s), "/x/a_very_long_executable_name_longer_than_32", 1, 0);
    assert_string_equal(s, "a_very_long_executable_name_long.1.0");
}

static void test_file_names_pad_seq_and_split_back(void **state)
{
    char f[128];
    snap_file_name(f, sizeof(f), "srv.9.ab", 12);
    assert_string_equal(f, "srv.9.ab.000012.snap");
    size_t digits, len = snap_file_name_split(f, &digits);
    assert_int_equal(len, strlen("srv.9.ab"));
    assert_int_equal(digits, 6);
    snap_file_name(f, sizeof(f), "srv.9.ab", 1234567);
    assert_string_equal(f, "srv.9.ab.1234567.snap");
    assert_int_equal(snap_file_name_split(f, &digits), strlen("srv.9.ab"));
    assert_int_equal(digits, 7);
    assert_int_equal(snap_file_name_split("other.snap", &digits), strlen("other"));
    assert_int_equal(digits, 0);
    assert_true(snap_file_name_has_suffix("a.snap"));
    assert_false(snap_file_name_has_suffix(".snap"));
    assert_false(snap_file_name_has_suffix("a.snapx"));
}

static void test_stat_parser_counts_fields_after_the_last_paren(void **state)
{
    struct procfs_stat st;
    const char *line = "77 (a) (b c) S 12 77 77 0 -1 4194560 100 0 5 0 31 9 0 0 20 0 3 0 "
                       "8888 1000 200 1 2 3 140737488347136";
    assert_int_equal(procfs_parse_stat(line, &st), 0);
    assert_int_equal(st.state, 'S');
    assert_int_equal(st.ppid, 12);
    assert_int_equal(st.majflt, 5);
    assert_int_equal(st.utime, 31);
    assert_int_equal(st.stime, 9);
    assert_int_equal(st.threads, 3);
    assert_int_equal(st.starttime, 8888);
    assert_true(st.startstack == 140737488347136ull);
    assert_int_equal(procfs_parse_stat("77 (a) S 1 2 3", &st), 0); /* shorter: zeros */
    assert_int_equal(st.starttime, 0);
    assert_int_equal(procfs_parse_stat("no parenthesis here", &st), -EINVAL);
}

static void test_stat_of_this_process_names_its_parent(void **state)
{
    struct procfs_stat st;
    assert_int_equal(procfs_read_stat(getpid(), &st), 0);
    assert_int_equal(st.ppid, getppid());
    assert_true(st.threads >= 1);
    assert_false(procfs_stat_gone(&st));
    assert_int_equal(procfs_read_stat(0, &st), 0);
    assert_int_equal(st.ppid, getppid());
}

static void test_allocator_is_named_from_a_library_path(void **state)
{
    assert_string_equal(alloc_name_from_path("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
                        "jemalloc");
    assert_string_equal(alloc_name_from_path("libtcmalloc_minimal.so.4"), "tcmalloc");
    assert_string_equal(alloc_name_from_path("/lib/libmimalloc.so.2"), "mimalloc");
    assert_string_equal(alloc_name_from_path("/lib/x86_64-linux-gnu/libc.so.6"), "glibc");
    assert_null(alloc_name_from_path("/opt/jemalloc/lib/libfoo.so"));
}

/* A recorded-fd table of three: one open, one closed behind its back, one
 * opened by opendir; plus one open fd it never recorded. */
struct table {
    int fds[3];
    uint32_t origins[3];
    int seen[3];
    int forgotten[3];
    int emitted_unattributed, emitted_recorded, dir_kind;
    int unrecorded;
};

static int t_recorded(struct snap_fd_entry *e, void *arg)
{
    struct table *t = arg;
    for (int i = 0; i < 3; i++)
        if (t->fds[i] == e->fd && !t->forgotten[i]) {
            t->seen[i] = 1;
            e->origin = t->origins[i];
            e->stack_id = 5;
            return 1;
        }
    return 0;
}

static int t_emit(struct snap_fd_entry *e, void *arg)
{
    struct table *t = arg;
    if (e->fd == t->unrecorded && e->origin == SNAP_FDO_UNATTRIBUTED)
        t->emitted_unattributed++;
    if (e->fd == t->fds[0] && e->stack_id == 5)
        t->emitted_recorded++;
    if (e->fd == t->fds[2] && e->kind == SNAP_FD_DIR)
        t->dir_kind++;
    return 0;
}

static uint64_t t_forget(uint64_t scan_start_ns, void *arg)
{
    struct table *t = arg;
    uint64_t n = 0;
    for (int i = 0; i < 3; i++)
        if (!t->seen[i] && !t->forgotten[i]) {
            t->forgotten[i] = 1;
            n++;
        }
    return n;
}

static void test_reconcile_lists_unattributed_and_forgets_closed(void **state)
{
    struct table t = {.origins = {SNAP_FDO_OPEN, SNAP_FDO_DUP, SNAP_FDO_OPENDIR}};
    t.fds[0] = open("/proc/self/stat", O_RDONLY);
    t.fds[1] = dup(t.fds[0]);
    t.fds[2] = open("/proc/self/stat", O_RDONLY); /* a file the table says opendir opened */
    t.unrecorded = memfd_create("reconcile-test", 0);
    assert_true(t.fds[0] >= 0 && t.fds[1] >= 0 && t.fds[2] >= 0 && t.unrecorded >= 0);
    close(t.fds[1]); /* closed by a path the table did not see */
    struct fdscan_reconcile r = {.pid = 0,
                                 .skip_fd = -1,
                                 .skip_fd2 = -1,
                                 .recorded = t_recorded,
                                 .emit = t_emit,
                                 .forget_unseen = t_forget,
                                 .arg = &t};
    assert_true(fdscan_reconcile(&r) > 0);
    assert_int_equal(t.emitted_unattributed, 1);
    assert_int_equal(t.emitted_recorded, 1);
    assert_int_equal(t.dir_kind, 1);
    assert_true(r.unattributed >= 1); /* the memfd, and whatever the test runner left open */
    assert_int_equal(r.closed_unseen, 1);
    assert_int_equal(t.forgotten[1], 1);
    assert_int_equal(t.forgotten[0], 0);
    close(t.fds[0]);
    close(t.fds[2]);
    close(t.unrecorded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_loss_counter_has_one_name_a_meaning_and_a_kind),
        cmocka_unit_test(test_the_old_fd_loss_name_reads_as_the_current_one),
        cmocka_unit_test(test_notes_have_a_note_and_losses_none),
        cmocka_unit_test(test_series_name_is_basename_pid_and_start_in_hex_ms),
        cmocka_unit_test(test_file_names_pad_seq_and_split_back),
        cmocka_unit_test(test_stat_parser_counts_fields_after_the_last_paren),
        cmocka_unit_test(test_stat_of_this_process_names_its_parent),
        cmocka_unit_test(test_allocator_is_named_from_a_library_path),
        cmocka_unit_test(test_reconcile_lists_unattributed_and_forgets_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
