/*
 * Unit tests of common/retention.c: a week of snapshots at the default
 * interval stays within the default disk bound whatever their size, keeps
 * the first, the peak and the newest, and thins old ones on schedule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "retention.h"

#define SEC      1000000000ull
#define T0       (1700000000ull * SEC)
#define WEEK_SEC (7 * 86400ull)
#define INTERVAL 10

static struct retain_entry table[RETAIN_DEFAULT_TABLE_CAP];
static uint32_t removed_count;

static void count_removal(uint32_t seq, void *arg)
{
    removed_count++;
}

static int kept(const struct retain_state *s, uint32_t seq)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].seq == seq)
            return 1;
    return 0;
}

/* A week at INTERVAL with every snapshot `bytes` big and a peak at `peak`. */
static void run_week(struct retain_state *s, const struct retain_policy *p, uint64_t bytes,
                     uint32_t peak, uint64_t *max_bytes_seen)
{
    memset(s, 0, sizeof(*s));
    s->e = table;
    s->cap = RETAIN_DEFAULT_TABLE_CAP;
    removed_count = 0;
    *max_bytes_seen = 0;
    uint32_t n = (uint32_t)(WEEK_SEC / INTERVAL);
    for (uint32_t i = 0; i < n; i++) {
        struct retain_entry e = {.seq = i,
                                 .time_ns = T0 + (uint64_t)i * INTERVAL * SEC,
                                 .bytes = bytes,
                                 .live_bytes = i == peak ? 1u << 30 : 1000 + i / 100};
        retain_add(s, p, &e, count_removal, NULL);
        if (s->bytes > *max_bytes_seen)
            *max_bytes_seen = s->bytes;
    }
}

static void test_week_of_large_snapshots_stays_under_the_default_bound(void **state)
{
    struct retain_policy p;
    retain_policy_default(&p);
    struct retain_state s;
    uint64_t max_seen;
    run_week(&s, &p, 2u << 20, 30000, &max_seen); /* 2 MB each, the README's upper size */
    assert_true(max_seen <= RETAIN_DEFAULT_MAX_DISK);
    assert_true(kept(&s, 0));
    assert_true(kept(&s, 30000));
    assert_true(kept(&s, (uint32_t)(WEEK_SEC / INTERVAL) - 1));
    assert_int_equal(removed_count + s.n, WEEK_SEC / INTERVAL);
    /* the newest hour is the last to go: it is all there */
    assert_true(kept(&s, (uint32_t)(WEEK_SEC / INTERVAL) - 300));
}

static void test_week_of_small_snapshots_is_thinned_on_schedule(void **state)
{
    struct retain_policy p;
    retain_policy_default(&p);
    struct retain_state s;
    uint64_t max_seen;
    run_week(&s, &p, 100 * 1024, 12345, &max_seen);
    /* an hour in full (360), one per 10 min for the rest of the day (~138),
     * one per hour for six days (~144), the first and the peak */
    assert_in_range(s.n, 600, 700);
    assert_true(kept(&s, 0));
    assert_true(kept(&s, 12345));
    uint32_t last = (uint32_t)(WEEK_SEC / INTERVAL) - 1;
    for (uint32_t i = last - 350; i <= last; i++)
        assert_true(kept(&s, i));
    /* between 1 h and 24 h old: no two in one 10-minute bucket; older: one an hour */
    for (size_t i = 1; i + 1 < s.n; i++) {
        uint64_t age = (s.e[s.n - 1].time_ns - s.e[i].time_ns) / SEC;
        uint64_t bucket =
            age >= RETAIN_HOURLY_AFTER_SEC ? RETAIN_OLD_BUCKET_SEC : RETAIN_MID_BUCKET_SEC;
        if (age < RETAIN_FULL_SEC + RETAIN_MID_BUCKET_SEC || s.e[i].seq == 12345 ||
            s.e[i - 1].seq == 12345 || i == 1)
            continue;
        assert_true(s.e[i].time_ns / SEC / bucket != s.e[i - 1].time_ns / SEC / bucket ||
                    (s.e[i - 1].time_ns - s.e[0].time_ns) / SEC < bucket);
    }
}

static void test_keep_for_deletes_older_snapshots_but_first_and_peak(void **state)
{
    struct retain_policy p = {.max_disk = 0, .keep_for_s = 6 * 3600, .thin = 0};
    struct retain_state s;
    uint64_t max_seen;
    run_week(&s, &p, 1000, 500, &max_seen);
    assert_true(kept(&s, 0));
    assert_true(kept(&s, 500));
    for (size_t i = 2; i < s.n; i++)
        assert_true((s.e[s.n - 1].time_ns - s.e[i].time_ns) / SEC <= 6 * 3600);
    assert_int_equal(s.n, 2 + 6 * 3600 / INTERVAL + 1);
}

static void test_full_table_drops_the_oldest_deletable(void **state)
{
    struct retain_entry small[8];
    struct retain_state s = {.e = small, .cap = 8};
    struct retain_policy p = {.max_disk = 0, .keep_for_s = 0, .thin = 0};
    for (uint32_t i = 0; i < 100; i++) {
        struct retain_entry e = {
            .seq = i, .time_ns = T0 + i * SEC, .bytes = 10, .live_bytes = i == 3 ? 99 : 1};
        retain_add(&s, &p, &e, count_removal, NULL);
    }
    assert_int_equal(s.n, 8);
    assert_true(kept(&s, 0));
    assert_true(kept(&s, 3));
    assert_true(kept(&s, 99));
    assert_int_equal(s.bytes, 80);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_week_of_large_snapshots_stays_under_the_default_bound),
        cmocka_unit_test(test_week_of_small_snapshots_is_thinned_on_schedule),
        cmocka_unit_test(test_keep_for_deletes_older_snapshots_but_first_and_peak),
        cmocka_unit_test(test_full_table_drops_the_oldest_deletable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
