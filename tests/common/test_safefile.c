/*
 * Unit tests of common/safefile.c, the one way every writer creates files:
 * nothing planted at a final name or in a shared directory is followed or
 * replaced, output directories are private, and temporaries of dead writers
 * go away at the next start.
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

#include "safefile.h"
#include "snapshot.h"
#include "util.h"

#define NOBODY_UID 65534

static char dir[256], victim[300];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/leakaudit-safefile.%d/out", getpid());
    snprintf(victim, sizeof(victim), "/tmp/leakaudit-safefile.%d/victim", getpid());
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/leakaudit-safefile.%d", getpid());
    return system(cmd);
}

static void write_victim(void)
{
    int fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "unchanged\n", 10), 10);
    close(fd);
}

static void assert_victim_unchanged(void)
{
    char buf[64] = "";
    int fd = open(victim, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof(buf)), 10);
    close(fd);
    assert_string_equal(buf, "unchanged\n");
    struct stat st;
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
}

static struct snap_writer writer;

static int write_snapshot(const char *name, unsigned flags)
{
    struct snap_writer *w = &writer;
    int rc = snap_writer_open_flags(w, dir, name, flags);
    if (rc < 0)
        return rc;
    struct snap_header h = {.source = SNAP_SOURCE_SHIM, .mode = SNAP_MODE_FULL, .pid = 1};
    snap_write_header(w, &h);
    return snap_writer_commit(w);
}

static void test_new_output_directory_is_private(void **state)
{
    const char *why = "x";
    int fd = safe_dir_open(dir, 0, &why);
    assert_true(fd >= 0);
    assert_null(why);
    close(fd);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(write_snapshot("a.000000.snap", 0), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/a.000000.snap", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_shared_directory_is_refused_unless_allowed(void **state)
{
    assert_int_equal(chmod(dir, 0777), 0);
    const char *why = NULL;
    assert_int_equal(safe_dir_open(dir, 0, &why), -EPERM);
    assert_non_null(why);
    assert_non_null(strstr(why, "writable by group or others"));
    assert_int_equal(write_snapshot("b.000000.snap", 0), -EPERM);
    assert_non_null(writer.why);
    assert_int_equal(write_snapshot("b.000000.snap", SAFE_DIR_SHARED), 0);
    assert_int_equal(chmod(dir, 0700), 0);
    if (geteuid() == 0) {
        assert_int_equal(chown(dir, NOBODY_UID, NOBODY_UID), 0);
        assert_int_equal(safe_dir_open(dir, 0, &why), -EPERM);
        assert_non_null(strstr(why, "not owned by you"));
        assert_int_equal(chown(dir, 0, 0), 0);
    }
}

static void test_symlink_at_final_name_is_not_followed_or_replaced(void **state)
{
    write_victim();
    char link[512];
    snprintf(link, sizeof(link), "%s/c.000000.snap", dir);
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(write_snapshot("c.000000.snap", 0), -EEXIST);
    assert_non_null(strstr(writer.why, "symlink"));
    assert_victim_unchanged();
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));

    struct safe_output so;
    const char *why = NULL;
    assert_int_equal(safe_output_open(&so, link, &why), -EEXIST);
    assert_non_null(why);
    assert_victim_unchanged();
}

static void test_planted_old_style_tmp_is_never_written(void **state)
{
    write_victim();
    char link[512];
    snprintf(link, sizeof(link), "%s/d.000000.snap.tmp", dir);
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(write_snapshot("d.000000.snap", 0), 0);
    assert_victim_unchanged();
}

static void test_fifo_at_final_name_is_refused(void **state)
{
    char fifo[512];
    snprintf(fifo, sizeof(fifo), "%s/e.txt", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    struct safe_output so;
    const char *why = NULL;
    assert_int_equal(safe_output_open(&so, fifo, &why), -EEXIST);
    assert_non_null(strstr(why, "FIFO"));
}

static void test_output_replaces_regular_file_only_on_commit(void **state)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/f.txt", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_int_equal(write(fd, "old", 3), 3);
    close(fd);
    struct safe_output so;
    const char *why;
    assert_int_equal(safe_output_open(&so, path, &why), 0);
    assert_int_equal(write(so.fd, "new", 3), 3);
    close(so.fd);
    safe_output_abort(&so); /* a failed write: the old file stays */
    char buf[8] = "";
    fd = open(path, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf)), 3);
    close(fd);
    assert_string_equal(buf, "old");
    assert_int_equal(safe_output_open(&so, path, &why), 0);
    assert_int_equal(write(so.fd, "new", 3), 3);
    close(so.fd);
    assert_int_equal(safe_output_commit(&so, &why), 0);
    memset(buf, 0, sizeof(buf));
    fd = open(path, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf)), 3);
    close(fd);
    assert_string_equal(buf, "new");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static int exists(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

static void touch(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
}

static void test_stale_temporaries_of_dead_writers_are_removed(void **state)
{
    char live[128];
    /* pid 2^30 cannot exist (pid_max is at most 2^22) */
    touch(".g.000000.snap.1073741823.0123456789abcdef.tmp");
    snprintf(live, sizeof(live), ".g.000001.snap.%d.0123456789abcdef.tmp", (int)getppid());
    touch(live);
    touch("unrelated.tmp.keep");
    int fd = safe_dir_open(dir, 0, NULL);
    assert_true(fd >= 0);
    assert_int_equal(safe_clean_stale_tmp(fd), 1);
    close(fd);
    assert_false(exists(".g.000000.snap.1073741823.0123456789abcdef.tmp"));
    assert_true(exists(live));
    assert_true(exists("unrelated.tmp.keep"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_output_directory_is_private),
        cmocka_unit_test(test_shared_directory_is_refused_unless_allowed),
        cmocka_unit_test(test_symlink_at_final_name_is_not_followed_or_replaced),
        cmocka_unit_test(test_planted_old_style_tmp_is_never_written),
        cmocka_unit_test(test_fifo_at_final_name_is_refused),
        cmocka_unit_test(test_output_replaces_regular_file_only_on_commit),
        cmocka_unit_test(test_stale_temporaries_of_dead_writers_are_removed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
