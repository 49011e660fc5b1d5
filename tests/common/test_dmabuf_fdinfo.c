/*
 * The dma-buf fdinfo parser (common/dmabuf.c) on the fixtures in
 * tests/common/fixtures/dmabuf/ (their origin: the README there): a dma-buf
 * gives its size, exporter, inode, count and optional name; any other fd's
 * fdinfo, and text missing the dma-buf lines, is not a dma-buf.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dmabuf.h"

#define FIXTURES "tests/common/fixtures/dmabuf/"

static int parse_fixture(const char *name, struct dmabuf_fdinfo *out)
{
    char path[256], text[4096];
    snprintf(path, sizeof(path), FIXTURES "%s", name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return dmabuf_parse_fdinfo(text, out);
}

static void test_udmabuf_buffer_gives_size_exporter_and_inode(void **state)
{
    struct dmabuf_fdinfo fi;
    assert_int_equal(parse_fixture("udmabuf-4mib.fdinfo", &fi), 0);
    assert_int_equal(fi.size, 4194304);
    assert_int_equal(fi.inode, 5537);
    assert_int_equal(fi.count, 2);
    assert_string_equal(fi.exp_name, "udmabuf");
    assert_string_equal(fi.name, "");
}

static void test_named_heap_buffer_keeps_its_name_with_spaces(void **state)
{
    struct dmabuf_fdinfo fi;
    assert_int_equal(parse_fixture("system-heap-named.fdinfo", &fi), 0);
    assert_int_equal(fi.size, 8294400);
    assert_int_equal(fi.inode, 1124);
    assert_string_equal(fi.exp_name, "system");
    assert_string_equal(fi.name, "camera preview 1080p");
}

static void test_older_kernel_without_inode_still_parses(void **state)
{
    struct dmabuf_fdinfo fi;
    assert_int_equal(parse_fixture("ion-no-inode.fdinfo", &fi), 0);
    assert_int_equal(fi.size, 3133440);
    assert_int_equal(fi.inode, 0);
    assert_int_equal(fi.count, 3);
    assert_string_equal(fi.exp_name, "ion");
}

static void test_other_fds_are_not_dmabufs(void **state)
{
    struct dmabuf_fdinfo fi;
    assert_int_equal(parse_fixture("not-dmabuf-regular-file.fdinfo", &fi), -EINVAL);
    assert_int_equal(parse_fixture("not-dmabuf-eventfd.fdinfo", &fi), -EINVAL);
}

static void test_text_without_the_dmabuf_lines_is_refused(void **state)
{
    struct dmabuf_fdinfo fi;
    assert_int_equal(dmabuf_parse_fdinfo("size:\t4096\n", &fi), -EINVAL);  /* no exp_name */
    assert_int_equal(dmabuf_parse_fdinfo("exp_name:\tx\n", &fi), -EINVAL); /* no size */
    assert_int_equal(dmabuf_parse_fdinfo("size:\t12x\nexp_name:\tx\n", &fi), -EINVAL);
    assert_int_equal(dmabuf_parse_fdinfo("", &fi), -EINVAL);
    /* a key that only starts like one is not it */
    assert_int_equal(dmabuf_parse_fdinfo("sizes:\t1\nexp_name:\tx\n", &fi), -EINVAL);
}

static void test_overlong_exporter_is_truncated_not_overflowed(void **state)
{
    char text[512];
    char longname[200];
    memset(longname, 'e', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    snprintf(text, sizeof(text), "size:\t1\nexp_name:\t%s\nname:\t%s", longname, longname);
    struct dmabuf_fdinfo fi;
    assert_int_equal(dmabuf_parse_fdinfo(text, &fi), 0);
    assert_int_equal(strlen(fi.exp_name), SNAP_MAX_NAME - 1);
    assert_int_equal(strlen(fi.name), SNAP_MAX_NAME - 1); /* last line without a newline */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udmabuf_buffer_gives_size_exporter_and_inode),
        cmocka_unit_test(test_named_heap_buffer_keeps_its_name_with_spaces),
        cmocka_unit_test(test_older_kernel_without_inode_still_parses),
        cmocka_unit_test(test_other_fds_are_not_dmabufs),
        cmocka_unit_test(test_text_without_the_dmabuf_lines_is_refused),
        cmocka_unit_test(test_overlong_exporter_is_truncated_not_overflowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
