/*
 * Unit tests of the resource spec language (common/resspec.c): the forms
 * in docs/resources.md parse to the right roles and handle locations,
 * presets expand, generic patterns resolve against a library's symbols,
 * and every mistake is rejected with a message naming it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "resspec.h"

static struct res_spec_set set;
static char err[256];

static const struct res_func *fn(const char *name)
{
    int i = res_spec_find(&set, name);
    assert_true(i >= 0);
    return &set.funcs[i];
}

static void test_create_destroy_spec(void **state)
{
    res_spec_init(&set);
    assert_int_equal(res_spec_parse(&set,
                                    "name=paddle;create=PD_PredictorCreate:ret;"
                                    "destroy=PD_PredictorDestroy:arg0;use=PD_PredictorRun:arg0",
                                    err, sizeof(err)),
                     0);
    assert_int_equal(set.n_kinds, 1);
    assert_string_equal(set.kinds[0].name, "paddle");
    assert_int_equal(set.kinds[0].flags, 0);
    assert_int_equal(fn("PD_PredictorCreate")->role, RES_ROLE_CREATE);
    assert_int_equal(fn("PD_PredictorCreate")->loc, RES_LOC_RET);
    assert_int_equal(fn("PD_PredictorDestroy")->role, RES_ROLE_DESTROY);
    assert_int_equal(fn("PD_PredictorDestroy")->loc, RES_LOC_ARG);
    assert_int_equal(fn("PD_PredictorRun")->role, RES_ROLE_USE);
    assert_int_equal(res_spec_find(&set, "PD_Other"), -1);
}

static void test_ref_unref_and_out_pointer(void **state)
{
    res_spec_init(&set);
    assert_int_equal(
        res_spec_parse(&set,
                       "name=gstbuf;ref=gst_mini_object_ref:arg0;"
                       "unref=gst_mini_object_unref:arg0 | "
                       "name=rknn; create = rknn_init:*arg0 ; destroy=rknn_destroy:arg0",
                       err, sizeof(err)),
        0);
    assert_int_equal(set.n_kinds, 2);
    assert_int_equal(set.kinds[0].flags, SNAP_RES_REFCOUNTED);
    assert_int_equal(fn("gst_mini_object_unref")->role, RES_ROLE_UNREF);
    assert_int_equal(fn("rknn_init")->loc, RES_LOC_DEREF_ARG);
    assert_int_equal(fn("rknn_init")->arg, 0);
    assert_int_equal(fn("rknn_init")->kind, 1);
}

static void test_presets_expand(void **state)
{
    res_spec_init(&set);
    assert_int_equal(res_spec_parse(&set, "preset:ffmpeg\npreset:turbojpeg|preset:gst|preset:glib",
                                    err, sizeof(err)),
                     0);
    assert_int_equal(fn("av_frame_free")->loc, RES_LOC_DEREF_ARG);
    assert_int_equal(fn("av_buffer_ref")->role, RES_ROLE_CREATE);
    assert_int_equal(fn("av_buffer_unref")->role, RES_ROLE_DESTROY);
    assert_int_equal(fn("tjInitCompress")->role, RES_ROLE_CREATE);
    assert_int_equal(fn("g_object_unref")->role, RES_ROLE_UNREF);
    int k = fn("av_frame_alloc")->kind;
    assert_true(res_spec_excluded(&set, k, "/usr/lib/x86_64-linux-gnu/libavcodec.so.59"));
    assert_false(res_spec_excluded(&set, k, "/usr/bin/myapp"));
}

static void test_generic_pairs_resolve_against_symbols(void **state)
{
    res_spec_init(&set);
    assert_int_equal(res_spec_parse(&set, "preset:pairs:libvendor.so*", err, sizeof(err)), 0);
    assert_int_equal(set.n_kinds, 0);
    const char *syms[] = {"vendor_create", "vendor_run", "vendor_destroy",
                          "lonely_create", "ctx_new",    "ctx_free"};
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
        res_spec_offer_symbol(&set, "/opt/lib/libvendor.so.1", syms[i]);
    res_spec_offer_symbol(&set, "/usr/lib/libother.so", "other_create");
    res_spec_offer_symbol(&set, "/usr/lib/libother.so", "other_destroy");
    assert_int_equal(res_spec_resolve_patterns(&set), 2);
    assert_int_equal(fn("vendor_create")->role, RES_ROLE_CREATE);
    assert_int_equal(fn("vendor_destroy")->role, RES_ROLE_DESTROY);
    assert_int_equal(fn("ctx_free")->role, RES_ROLE_DESTROY);
    assert_int_equal(res_spec_find(&set, "lonely_create"), -1);
    assert_int_equal(res_spec_find(&set, "other_create"), -1);
    assert_string_equal(set.kinds[fn("vendor_create")->kind].name, "vendor");
}

static void expect_error(const char *spec, const char *needle)
{
    res_spec_init(&set);
    assert_true(res_spec_parse(&set, spec, err, sizeof(err)) < 0);
    if (!strstr(err, needle))
        fail_msg("'%s': error '%s' does not mention '%s'", spec, err, needle);
    assert_int_equal(set.n_kinds, 0); /* all or nothing */
}

static void test_mistakes_are_named(void **state)
{
    expect_error("create=a:ret;destroy=b:arg0", "missing name=");
    expect_error("name=x;create=a;destroy=b:arg0", "function without");
    expect_error("name=x;create=a:arg9", "bad handle location");
    expect_error("name=x;creat=a:ret", "unknown field");
    expect_error("name=x;destroy=a:ret", "only create and ref");
    expect_error("name=x;destroy=a:arg0", "needs create= or ref=");
    expect_error("name=x;create=a b:ret", "bad function name");
    expect_error("preset:nosuch", "unknown preset");
    expect_error("name=x;create=a:ret|name=y;create=a:ret", "function tracked twice");
    expect_error("name=x;create=a:ret|name=x;create=b:ret", "resource name used twice");
    expect_error("name=ok;create=a:ret|name=bad", "spec 2");
    expect_error("name=*;create=*_create:ret", "needs lib=");
}

static void test_glob(void **state)
{
    assert_true(res_glob_match("libav*", "libavcodec.so.59"));
    assert_true(res_glob_match("*", ""));
    assert_true(res_glob_match("a*b*c", "aXXbYYc"));
    assert_false(res_glob_match("a*b", "aXXc"));
    assert_false(res_glob_match("libgst*", "libglib-2.0.so"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_destroy_spec),
        cmocka_unit_test(test_ref_unref_and_out_pointer),
        cmocka_unit_test(test_presets_expand),
        cmocka_unit_test(test_generic_pairs_resolve_against_symbols),
        cmocka_unit_test(test_mistakes_are_named),
        cmocka_unit_test(test_glob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
