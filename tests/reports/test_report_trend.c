/*
 * Unit tests of the verdict algorithm (reports/series.c, docs/report.md
 * "Verdicts"): each test is one shape of live bytes over time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "reports/report.h"

#define N 12

static struct rpt_trend run_min(const double *y, size_t n, size_t first, double min_growth)
{
    double t[64];
    for (size_t i = 0; i < n; i++)
        t[i] = (double)i; /* one minute apart */
    struct rpt_trend tr;
    rpt_trend_compute(t, y, n, first, min_growth, &tr);
    return tr;
}

/* The shapes: growth of any size counts. */
static struct rpt_trend run(const double *y, size_t n, size_t first)
{
    return run_min(y, n, first, 0);
}

static void test_linear_growth_is_leak(void **state)
{
    double y[N];
    for (int i = 0; i < N; i++)
        y[i] = 1000.0 * (i + 1);
    struct rpt_trend t = run(y, N, 0);
    assert_int_equal(t.verdict, RPT_VERDICT_LEAK);
    assert_true(t.rate_per_min > 999 && t.rate_per_min < 1001);
    assert_true(t.confidence > 0.99);
}

static void test_staircase_growth_is_leak(void **state)
{
    /* leaks on reconnect: grows in steps, never shrinks */
    double y[N] = {0, 0, 100, 100, 100, 200, 200, 300, 300, 300, 400, 500};
    assert_int_equal(run(y, N, 0).verdict, RPT_VERDICT_LEAK);
}

static void test_grow_then_flat_is_plateau(void **state)
{
    double y[N] = {100, 200, 300, 400, 400, 400, 400, 400, 400, 400, 400, 400};
    assert_int_equal(run(y, N, 0).verdict, RPT_VERDICT_PLATEAU);
}

static void test_churn_is_stable(void **state)
{
    double y[N] = {500, 520, 480, 510, 490, 505, 495, 515, 485, 500, 510, 490};
    assert_int_equal(run(y, N, 0).verdict, RPT_VERDICT_STABLE);
}

static void test_constant_is_stable(void **state)
{
    double y[N] = {64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64};
    assert_int_equal(run(y, N, 0).verdict, RPT_VERDICT_STABLE);
}

static void test_all_freed_is_freed(void **state)
{
    double y[N] = {10, 20, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(run(y, N, 0).verdict, RPT_VERDICT_FREED);
}

static void test_first_seen_last_is_new(void **state)
{
    double y[N] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100};
    assert_int_equal(run(y, N, N - 1).verdict, RPT_VERDICT_NEW);
}

static void test_one_snapshot_is_unknown(void **state)
{
    double y[1] = {100};
    assert_int_equal(run(y, 1, 0).verdict, RPT_VERDICT_UNKNOWN);
}

static void test_sawtooth_is_not_leak(void **state)
{
    /* grows and is released periodically: not monotonic enough */
    double y[N] = {100, 200, 300, 100, 200, 300, 100, 200, 300, 100, 200, 300};
    assert_int_not_equal(run(y, N, 0).verdict, RPT_VERDICT_LEAK);
}

static void test_five_snapshots_of_growth_are_not_a_leak(void **state)
{
    double y[5] = {1000, 2000, 3000, 4000, 5000};
    struct rpt_trend t = run(y, 5, 0);
    assert_int_equal(t.verdict, RPT_VERDICT_UNKNOWN);
    assert_true(t.rate_per_min > 999); /* the rate is still shown */
    double y6[6] = {1000, 2000, 3000, 4000, 5000, 6000};
    assert_int_equal(run(y6, 6, 0).verdict, RPT_VERDICT_LEAK);
}

static void test_growth_since_first_counts_points_since_first(void **state)
{
    double late[8] = {0, 0, 0, 1000, 2000, 3000, 4000, 5000};
    assert_int_equal(run(late, 8, 3).verdict, RPT_VERDICT_UNKNOWN);
    double earlier[8] = {0, 0, 1000, 2000, 3000, 4000, 5000, 6000};
    assert_int_equal(run(earlier, 8, 2).verdict, RPT_VERDICT_LEAK);
}

static void test_low_confidence_growth_is_not_a_leak(void **state)
{
    /* six points, a fit of R² ~0.8 and 4 of 5 steps up: confidence ~0.4 */
    double y[6] = {1000, 3000, 2500, 4200, 4300, 6500};
    struct rpt_trend t = run(y, 6, 0);
    assert_true(t.confidence < 0.5);
    assert_int_equal(t.verdict, RPT_VERDICT_UNKNOWN);
}

static void test_growth_below_the_size_threshold_is_not_a_leak(void **state)
{
    /* the demo's noise: a 48-byte stack growing one block now and then */
    double y[N] = {48, 48, 96, 96, 96, 144, 144, 192, 192, 192, 240, 288};
    assert_int_equal(run_min(y, N, 0, RPT_LEAK_MIN_HEAP_BYTES).verdict, RPT_VERDICT_UNKNOWN);
    for (int i = 0; i < N; i++)
        y[i] *= 100;
    assert_int_equal(run_min(y, N, 0, RPT_LEAK_MIN_HEAP_BYTES).verdict, RPT_VERDICT_LEAK);
    double fds[N] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2};
    assert_int_equal(run(fds, N, 0).verdict, RPT_VERDICT_LEAK); /* the shape is a leak */
    assert_int_equal(run_min(fds, N, 0, rpt_leak_min_growth(RPT_FDS)).verdict, RPT_VERDICT_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_growth_is_leak),
        cmocka_unit_test(test_staircase_growth_is_leak),
        cmocka_unit_test(test_grow_then_flat_is_plateau),
        cmocka_unit_test(test_churn_is_stable),
        cmocka_unit_test(test_constant_is_stable),
        cmocka_unit_test(test_all_freed_is_freed),
        cmocka_unit_test(test_first_seen_last_is_new),
        cmocka_unit_test(test_one_snapshot_is_unknown),
        cmocka_unit_test(test_sawtooth_is_not_leak),
        cmocka_unit_test(test_five_snapshots_of_growth_are_not_a_leak),
        cmocka_unit_test(test_growth_since_first_counts_points_since_first),
        cmocka_unit_test(test_low_confidence_growth_is_not_a_leak),
        cmocka_unit_test(test_growth_below_the_size_threshold_is_not_a_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
