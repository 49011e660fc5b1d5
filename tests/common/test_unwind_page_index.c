/*
 * Unit tests of the unwind table's page index (common/unwind_table.h): for
 * every address from below the first row to past the last page, the indexed
 * lookup returns the very row the whole-table binary search returns -- on
 * hand-made rows (one row, rows on and off page boundaries, pages with no
 * row of their own, many rows in one page) and on the tables of real
 * libraries (libc, and the largest this machine has of libstdc++ and
 * tesseract, tens of thousands of rows).
 */
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unwind_table.h"

/* Every pc in [lo, hi): indexed == unw_table_find. Returns pcs checked. */
static uint64_t check_range(const struct unw_row *rows, uint32_t n, uint32_t lo, uint32_t hi)
{
    uint32_t *idx = malloc(unw_page_index_pages(rows, n) * sizeof(*idx));
    assert_non_null(idx);
    struct unw_page_index ix;
    unw_page_index_fill(rows, n, idx, &ix);
    assert_int_equal(ix.page0, rows[0].pc >> 12);
    uint64_t checked = 0;
    for (uint64_t pc = lo; pc < hi; pc++, checked++) {
        const struct unw_row *want = unw_table_find(rows, n, (uint32_t)pc);
        const struct unw_row *got = unw_table_find_indexed(rows, n, &ix, (uint32_t)pc);
        if (want != got)
            fail_msg("pc %#llx: indexed row %td, whole-table row %td", (unsigned long long)pc,
                     got ? got - rows : -1, want ? want - rows : -1);
    }
    free(idx);
    return checked;
}

static void check_rows(const struct unw_row *rows, uint32_t n)
{
    uint32_t lo = rows[0].pc > 5000 ? rows[0].pc - 5000 : 0;
    uint32_t hi = rows[n - 1].pc + 3 * 4096;
    assert_true(check_range(rows, n, lo, hi) > 0);
}

static void hand_made_rows(void **state)
{
    (void)state;
    static const uint32_t cases[][8] = {
        {0x1000},                                   /* one row, on a page boundary */
        {0x1234},                                   /* one row, inside a page */
        {0x1000, 0x2000, 0x3000},                   /* every row on a boundary */
        {0x0ff0, 0x1000, 0x1010, 0x5ffc, 0x6000},   /* around boundaries */
        {0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70}, /* all in page 0 */
        {0x1800, 0x9800, 0x9801, 0x40000, 0x40fff}, /* pages without a row of their own */
        {0xfffff000, 0xfffff800, 0xfffffff0},       /* the last page of 32 bits */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct unw_row rows[8];
        uint32_t n = 0;
        while (n < 8 && (n == 0 || cases[c][n]))
            rows[n] = (struct unw_row){.pc = cases[c][n], .cfa = UNW_CFA_SP}, n++;
        uint32_t lo = rows[0].pc > 5000 ? rows[0].pc - 5000 : 0;
        uint64_t hi = (uint64_t)rows[n - 1].pc + 3 * 4096;
        check_range(rows, n, lo, hi > UINT32_MAX ? UINT32_MAX : (uint32_t)hi);
    }
}

static int find_libc(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    if (strstr(info->dlpi_name, "/libc.so.6")) {
        snprintf(arg, 4096, "%s", info->dlpi_name);
        return 1;
    }
    return 0;
}

static void real_library(const char *path, uint32_t min_rows)
{
    struct unw_table t;
    int rc = unw_table_build_file(path, &t);
    if (rc < 0)
        fail_msg("%s: %s", path, strerror(-rc));
    assert_true(t.n >= min_rows);
    check_rows(t.rows, t.n);
    print_message("%s: %u rows, every pc of %u pages checked\n", path, t.n,
                  unw_page_index_pages(t.rows, t.n));
    unw_table_free(&t);
}

static void real_libraries(void **state)
{
    (void)state;
    char libc[4096] = "";
    dl_iterate_phdr(find_libc, libc);
    assert_true(libc[0]);
    real_library(libc, 1000);
    static const char *const big[] = {"/usr/lib/x86_64-linux-gnu/libtesseract.so.5",
                                      "/usr/lib/aarch64-linux-gnu/libtesseract.so.5",
                                      "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                                      "/usr/lib/aarch64-linux-gnu/libstdc++.so.6"};
    int seen = 0;
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
        if (access(big[i], R_OK) == 0) {
            real_library(big[i], 1000);
            seen++;
        }
    assert_true(seen > 0); /* inferd's dependencies (make deps) bring both */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_made_rows),
        cmocka_unit_test(real_libraries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
