/*
 * The one option table (common/audit_options.c) against what users read:
 * docs/options.md's table of the shim's settings must have a row for every
 * variable, with its `run` flag and its default, and name no variable the
 * table lacks, and be exactly what `leakaudit run --options-markdown`
 * generates from the table (a stale doc fails: `make options-doc`);
 * `leakaudit run --help` (generated from the table) must show every flag and
 * variable, `soak --help` the settings soak sets; and the defaults the table
 * parses are the ones the code's constants say. Fails when they drift.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit_options.h"
#include "retention.h"
#include "snapshot.h"

#define DOCS      "docs/options.md"
#define SECTION   "## The shim"
#define MAX_CELLS 8

static char *read_all(FILE *f)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* The table rows of the shim's section, one line each. */
static char *shim_section(void)
{
    FILE *f = fopen(DOCS, "r");
    if (!f) {
        printf("SKIP: %s not found (run from the repository root)\n", DOCS);
        exit(77);
    }
    char *text = read_all(f);
    fclose(f);
    assert_non_null(text);
    char *start = strstr(text, SECTION);
    assert_non_null(start);
    char *end = strstr(start + 1, "\n## ");
    if (end)
        *end = '\0';
    memmove(text, start, strlen(start) + 1);
    return text;
}

/* Splits a markdown table line into trimmed cells (an escaped \| stays). */
static int cells(const char *line, size_t len, char out[MAX_CELLS][512])
{
    int n = -1;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) {
            if (n >= 0 && n < MAX_CELLS) {
                while (k && out[n][k - 1] == ' ')
                    k--;
                out[n][k] = '\0';
            }
            n++;
            k = 0;
            continue;
        }
        if (n < 0 || n >= MAX_CELLS || k + 1 >= 512 || (k == 0 && line[i] == ' '))
            continue;
        out[n][k++] = line[i];
    }
    return n;
}

/* The docs row whose variable cell names env (`ENV`, `ENV=...`, `ENV` (...)). */
static int find_row(const char *docs, const char *env, char row[MAX_CELLS][512])
{
    for (const char *line = docs; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        size_t len = strcspn(line, "\n");
        if (line[0] != '|' || cells(line, len, row) < 3)
            continue;
        size_t el = strlen(env);
        const char *cell = row[1];
        if (cell[0] == '`' && !strncmp(cell + 1, env, el) &&
            (cell[1 + el] == '`' || cell[1 + el] == '='))
            return 1;
    }
    return 0;
}

static void test_every_setting_has_a_docs_row_with_its_flag_and_default(void **state)
{
    char *docs = shim_section();
    for (int id = 0; id < AUDIT_OPTION_COUNT; id++) {
        const struct audit_option *o = &audit_options[id];
        char row[MAX_CELLS][512];
        if (!find_row(docs, o->env, row))
            fail_msg("%s: no row in %s", o->env, DOCS);
        const char *def = o->def_doc ? o->def_doc : o->def;
        if (strcmp(row[2], def))
            fail_msg("%s: %s says default '%s', the table '%s'", o->env, DOCS, row[2], def);
        if (o->flag) {
            char flag[64];
            snprintf(flag, sizeof(flag), "--%s", o->flag);
            if (!strstr(row[0], flag))
                fail_msg("%s: %s's row lacks its flag %s", o->env, DOCS, flag);
        }
    }
    free(docs);
}

static void test_docs_name_no_variable_the_table_lacks(void **state)
{
    char *docs = shim_section();
    for (const char *line = docs; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        char row[MAX_CELLS][512];
        if (line[0] != '|' || cells(line, strcspn(line, "\n"), row) < 3)
            continue;
        const char *v = strstr(row[1], "LEAKAUDIT_");
        if (!v)
            continue;
        size_t len = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
        int known = 0;
        for (int id = 0; id < AUDIT_OPTION_COUNT && !known; id++)
            known = strlen(audit_options[id].env) == len && !strncmp(audit_options[id].env, v, len);
        if (!known)
            fail_msg("%s names %.*s, which common/audit_options.c does not have", DOCS, (int)len,
                     v);
    }
    free(docs);
}

/* The output of `leakaudit ARGS` (SKIP when it cannot run). */
static char *leakaudit_output(const char *args)
{
    const char *build = getenv("BUILD");
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s/bin/leakaudit %s", build && *build ? build : "build", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = read_all(p);
    if (pclose(p) != 0) {
        printf("SKIP: %s failed (build leakaudit first)\n", cmd);
        exit(77);
    }
    assert_non_null(out);
    return out;
}

static void test_run_help_shows_every_flag_and_variable(void **state)
{
    char *help = leakaudit_output("run --help");
    for (int id = 0; id < AUDIT_OPTION_COUNT; id++) {
        const struct audit_option *o = &audit_options[id];
        if (!strstr(help, o->env))
            fail_msg("run --help lacks %s", o->env);
        if (o->flag) {
            char flag[64];
            snprintf(flag, sizeof(flag), " --%s", o->flag);
            if (!strstr(help, flag))
                fail_msg("run --help lacks %s", flag + 1);
        }
    }
    free(help);
}

#define BEGIN_MARK "<!-- generated from common/audit_options.c by `make options-doc`"
#define END_MARK   "<!-- end of the generated table -->"

static void test_docs_table_is_the_one_generated_from_the_option_table(void **state)
{
    char *docs = shim_section();
    char *begin = strstr(docs, BEGIN_MARK);
    if (!begin)
        fail_msg("%s: no line starting '%s'", DOCS, BEGIN_MARK);
    begin = strchr(begin, '\n') + 1;
    char *end = strstr(begin, END_MARK);
    if (!end)
        fail_msg("%s: no line '%s'", DOCS, END_MARK);
    *end = '\0';
    char *generated = leakaudit_output("run --options-markdown");
    if (strcmp(begin, generated)) {
        const char *d = begin, *g = generated;
        while (*d && *d == *g)
            d++, g++;
        while (d > begin && d[-1] != '\n')
            d--, g--;
        fail_msg("%s's table is stale (run `make options-doc`); first difference:\n"
                 "  committed: %.*s\n  generated: %.*s",
                 DOCS, (int)strcspn(d, "\n"), d, (int)strcspn(g, "\n"), g);
    }
    free(generated);
    free(docs);
}

/* soak sets LEAKAUDIT_MODE, _INTERVAL, _GUARD and _ALLOW_SHARED_DIR in shim
 * runs: its --help names them, with the table's defaults. */
static void test_soak_help_shows_the_settings_it_sets_from_the_table(void **state)
{
    char *help = leakaudit_output("soak --help");
    static const enum audit_option_id set[] = {AUDIT_MODE, AUDIT_INTERVAL, AUDIT_GUARD,
                                               AUDIT_ALLOW_SHARED_DIR};
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
        const struct audit_option *o = &audit_options[set[i]];
        char named[128];
        snprintf(named, sizeof(named), "(%s, default %s)", o->env,
                 o->def_doc ? o->def_doc : o->def);
        /* the line may wrap inside the parenthesis: compare without blanks */
        char squeezed_help[1 << 14], squeezed[128];
        size_t k = 0;
        for (const char *c = help; *c && k + 1 < sizeof(squeezed_help); c++)
            if (*c != ' ' && *c != '\n')
                squeezed_help[k++] = *c;
        squeezed_help[k] = '\0';
        k = 0;
        for (const char *c = named; *c; c++)
            if (*c != ' ')
                squeezed[k++] = *c;
        squeezed[k] = '\0';
        if (!strstr(squeezed_help, squeezed))
            fail_msg("soak --help lacks %s", named);
    }
    free(help);
}

static void test_defaults_are_the_constants_the_code_uses(void **state)
{
    struct audit_config c;
    audit_config_defaults(&c);
    assert_int_equal(c.max_disk, RETAIN_DEFAULT_MAX_DISK);
    assert_int_equal(c.guard_poison, AUDIT_GUARD_POISON_DEFAULT);
    assert_int_equal(c.mode, SNAP_MODE_FULL);
    assert_int_equal(c.interval_ms, 10000);
    assert_int_equal(c.guard_min_size, 0);
    assert_true(c.guard_max_size == UINT64_MAX);
    assert_true(c.track_heap && c.track_fds && c.track_mmap);
    assert_string_equal(c.out_dir, "leakaudit-out");
}

static const char *fake_env(const char *name)
{
    if (!strcmp(name, "LEAKAUDIT_GUARD"))
        return "canary";
    if (!strcmp(name, "LEAKAUDIT_MODE"))
        return "sampled";
    if (!strcmp(name, "LEAKAUDIT_DEPTH"))
        return "99"; /* out of range: kept at the default, warned */
    if (!strcmp(name, "LEAKAUDIT_KEEP_FOR"))
        return "2h";
    if (!strcmp(name, "LEAKAUDIT_GUARD_ALIGN"))
        return "left";
    return NULL;
}

static int warned;
static void count_warning(const char *env, const char *value)
{
    warned++;
    assert_string_equal(env, "LEAKAUDIT_DEPTH");
    assert_string_equal(value, "99");
}

static void test_loading_parses_values_and_keeps_defaults_for_bad_ones(void **state)
{
    struct audit_config c;
    audit_config_load(&c, fake_env, count_warning);
    assert_int_equal(warned, 1);
    assert_int_equal(c.depth, 32);
    assert_int_equal(c.guard, AUDIT_GUARD_CANARY);
    assert_int_equal(c.mode, SNAP_MODE_FULL); /* canaries need every block */
    assert_int_equal(c.keep_for_s, 7200);
    assert_int_equal(c.guard_align, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_setting_has_a_docs_row_with_its_flag_and_default),
        cmocka_unit_test(test_docs_name_no_variable_the_table_lacks),
        cmocka_unit_test(test_run_help_shows_every_flag_and_variable),
        cmocka_unit_test(test_docs_table_is_the_one_generated_from_the_option_table),
        cmocka_unit_test(test_soak_help_shows_the_settings_it_sets_from_the_table),
        cmocka_unit_test(test_defaults_are_the_constants_the_code_uses),
        cmocka_unit_test(test_loading_parses_values_and_keeps_defaults_for_bad_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
