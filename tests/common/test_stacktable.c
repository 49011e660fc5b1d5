/*
 * Unit tests of the stack table, module map and fd scan: concurrent interning
 * gives one id per distinct stack, a full table refuses and counts, idle
 * stacks leave in two sweeps and their ids come back a sweep later, a table
 * churned far past its size stays consistent (also while threads intern
 * during sweeps), and the module map finds this test binary with its
 * build-id.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fdscan.h"
#include "modmap.h"
#include "stacktable.h"

#define THREADS  8
#define DISTINCT 5000

static struct stk_table table;
static uint32_t ids[THREADS][DISTINCT];

static void make_stack(uint64_t *f, uint32_t n, uint32_t *depth)
{
    *depth = 1 + n % 12;
    for (uint32_t i = 0; i < *depth; i++)
        f[i] = 0x400000 + n * 64 + i;
}

static void *intern_all(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (uint32_t k = 0; k < DISTINCT; k++) {
        uint32_t n = (k * 7 + (uint32_t)t * 13) % DISTINCT; /* different orders per thread */
        uint64_t f[16];
        uint32_t d;
        make_stack(f, n, &d);
        ids[t][n] = stk_table_intern(&table, f, d);
    }
    return NULL;
}

static void test_concurrent_interning_gives_one_id_per_stack(void **state)
{
    size_t sz = stk_table_memsize(DISTINCT * 2, 16);
    void *mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    stk_table_init(&table, mem, DISTINCT * 2, 16);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, intern_all, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(stk_table_count(&table), DISTINCT);
    for (uint32_t n = 0; n < DISTINCT; n++) {
        assert_true(ids[0][n] != SNAP_STACK_NONE);
        for (int t = 1; t < THREADS; t++)
            assert_int_equal(ids[t][n], ids[0][n]);
        const uint64_t *frames;
        uint64_t f[16];
        uint32_t d;
        make_stack(f, n, &d);
        assert_int_equal(stk_table_get(&table, ids[0][n], &frames), d);
        assert_memory_equal(frames, f, d * 8);
    }
    assert_int_equal(table.dropped, 0);
    munmap(mem, sz);
}

static void test_full_table_refuses_and_counts(void **state)
{
    struct stk_table t;
    size_t sz = stk_table_memsize(10, 16);
    void *mem = calloc(1, sz);
    stk_table_init(&t, mem, 10, 16);
    for (uint32_t n = 0; n < 15; n++) {
        uint64_t f[16];
        uint32_t d;
        make_stack(f, n, &d);
        uint32_t id = stk_table_intern(&t, f, d);
        if (n < 10)
            assert_int_equal(id, n + 1);
        else
            assert_int_equal(id, SNAP_STACK_NONE);
    }
    assert_int_equal(t.dropped, 5);
    free(mem);
}

/* ---- retirement ---- */

struct owner {
    uint8_t idle[1 << 16];      /* by id: what the owner says at the next sweep */
    uint32_t released[1 << 16]; /* by id: release calls */
    uint32_t recycled[1 << 16]; /* by id: recycle calls */
    unsigned seed;
    int random_idle;
};

static int owner_idle(uint32_t id, void *arg)
{
    struct owner *o = arg;
    return o->random_idle ? rand_r(&o->seed) % 2 : o->idle[id];
}

static int owner_release(uint32_t id, void *arg)
{
    ((struct owner *)arg)->released[id]++;
    return 1;
}

static void owner_recycle(uint32_t id, void *arg)
{
    ((struct owner *)arg)->recycled[id]++;
}

static struct stk_sweep_ops owner_ops(struct owner *o)
{
    return (struct stk_sweep_ops){owner_idle, owner_release, owner_recycle, o};
}

static void test_idle_stacks_leave_in_two_sweeps_and_their_ids_come_back(void **state)
{
    struct stk_table t;
    size_t sz = stk_table_memsize(100, 16);
    void *mem = calloc(1, sz);
    stk_table_init(&t, mem, 100, 16);
    struct owner *o = calloc(1, sizeof(*o));
    struct stk_sweep_ops ops = owner_ops(o);
    uint64_t a[3] = {1, 2, 3}, b[3] = {4, 5, 6}, c[2] = {7, 8};
    uint32_t ida = stk_table_intern(&t, a, 3), idb = stk_table_intern(&t, b, 3);
    o->idle[ida] = 1;                               /* b stays in use */
    assert_int_equal(stk_table_sweep(&t, &ops), 0); /* interned since the last sweep: left alone */
    assert_int_equal(stk_table_sweep(&t, &ops), 0); /* now looked at, idle: unpublished */
    const uint64_t *f;
    assert_int_equal(stk_table_get(&t, ida, &f), 3); /* still readable by id */
    assert_memory_equal(f, a, sizeof(a));
    uint32_t ida2 = stk_table_intern(&t, a, 3); /* not found: a new id for the same stack */
    assert_true(ida2 != ida && ida2 != idb);
    assert_int_equal(stk_table_live(&t), 3);
    uint32_t epoch = t.epoch;
    assert_int_equal(stk_table_sweep(&t, &ops), 1); /* still idle: released */
    assert_int_equal(o->released[ida], 1);
    assert_int_equal(stk_table_get(&t, ida, &f), 0);
    assert_true(t.epoch != epoch);
    assert_int_equal(stk_table_live(&t), 2);
    assert_int_equal(o->recycled[ida], 0);
    /* handed out again only after one more sweep */
    uint32_t idc = stk_table_intern(&t, c, 2);
    assert_true(idc != ida);
    stk_table_sweep(&t, &ops);
    assert_int_equal(o->recycled[ida], 1);
    uint64_t d[1] = {9};
    assert_int_equal(stk_table_intern(&t, d, 1), ida);
    assert_int_equal(stk_table_get(&t, ida, &f), 1);
    assert_int_equal(f[0], 9);
    assert_int_equal(stk_table_intern(&t, b, 3), idb); /* the used one never moved */
    assert_int_equal(t.retired, 1);
    free(o);
    free(mem);
}

/* Checks, with nothing running, that every stack in the table is found under
 * its own id (or a twin with the same frames) and that the live count is
 * right. */
static void check_consistent(struct stk_table *t)
{
    uint32_t n = stk_table_count(t), live = 0;
    const uint64_t *f;
    for (uint32_t id = 1; id <= n; id++)
        live += stk_table_get(t, id, &f) != 0;
    assert_int_equal(stk_table_live(t), live);
    for (uint32_t id = 1; id <= n; id++) {
        uint32_t d = stk_table_get(t, id, &f);
        if (!d)
            continue;
        uint64_t copy[16];
        memcpy(copy, f, d * 8);
        uint32_t found = stk_table_intern(t, copy, d);
        const uint64_t *g;
        assert_int_equal(stk_table_get(t, found, &g), d);
        assert_memory_equal(g, copy, d * 8);
    }
}

static void test_churn_far_past_the_table_size_stays_consistent(void **state)
{
    enum { MAX = 1000, ROUNDS = 400, PER_ROUND = 150 };
    struct stk_table t;
    size_t sz = stk_table_memsize(MAX, 16);
    void *mem = calloc(1, sz);
    stk_table_init(&t, mem, MAX, 16);
    struct owner *o = calloc(1, sizeof(*o));
    memset(o->idle, 1, sizeof(o->idle));
    struct stk_sweep_ops ops = owner_ops(o);
    uint64_t next = 1;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < PER_ROUND; i++, next++) {
            uint64_t f[4] = {next, next * 3, next * 7, next * 11};
            assert_true(stk_table_intern(&t, f, 1 + next % 4) != SNAP_STACK_NONE);
        }
        stk_table_sweep(&t, &ops);
    }
    /* 60,000 stacks through a 1,000-stack table (a stack is in it for about
     * four sweeps, its id a fifth): nothing refused, ids stay low (touched
     * memory follows what is in the table) */
    assert_int_equal(t.dropped, 0);
    assert_true(stk_table_count(&t) <= MAX);
    assert_true(stk_table_live(&t) <= 4 * PER_ROUND);
    check_consistent(&t);
    free(o);
    free(mem);
}

#define CHURN_THREADS  4
#define CHURN_UNIVERSE 3000

static struct stk_table churn_table;
static volatile int churn_stop;

static void *intern_randomly(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!churn_stop) {
        uint64_t n = (uint64_t)(rand_r(&seed) % CHURN_UNIVERSE) + 1;
        uint64_t f[3] = {n, n << 8, n << 16};
        stk_table_intern(&churn_table, f, 1 + n % 3);
    }
    return NULL;
}

static void test_interning_during_sweeps_leaves_the_table_consistent(void **state)
{
    size_t sz = stk_table_memsize(CHURN_UNIVERSE * 2, 16);
    void *mem = calloc(1, sz);
    stk_table_init(&churn_table, mem, CHURN_UNIVERSE * 2, 16);
    struct owner *o = calloc(1, sizeof(*o));
    o->random_idle = 1;
    o->seed = 12345;
    struct stk_sweep_ops ops = owner_ops(o);
    pthread_t th[CHURN_THREADS];
    churn_stop = 0;
    for (int i = 0; i < CHURN_THREADS; i++)
        pthread_create(&th[i], NULL, intern_randomly, (void *)(uintptr_t)(i + 1));
    uint32_t released = 0;
    while (released < 20000) /* a condition, not a duration */
        released += stk_table_sweep(&churn_table, &ops);
    churn_stop = 1;
    for (int i = 0; i < CHURN_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(churn_table.dropped, 0);
    check_consistent(&churn_table);
    free(o);
    free(mem);
}

static int find_self(const struct snap_module *m, void *arg)
{
    const char *exe = arg;
    if (!strcmp(m->path, exe) && m->build_id_len == 20)
        return 1;
    return 0;
}

static void test_modmap_finds_this_binary_with_build_id(void **state)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    assert_int_equal(modmap_foreach(0, find_self, exe), 1);
    assert_int_equal(modmap_foreach(getpid(), find_self, exe), 1);
}

struct seen {
    int fd;
    int found;
};

static int find_fd(int fd, const char *target, void *arg)
{
    struct seen *s = arg;
    if (fd == s->fd && !strncmp(target, "/memfd:fdscan-test", 18))
        s->found = 1;
    return 0;
}

static void test_fdscan_sees_a_memfd_with_its_target(void **state)
{
    struct seen s = {.fd = memfd_create("fdscan-test", 0)};
    assert_true(s.fd >= 0);
    assert_true(fdscan_foreach(0, find_fd, &s) > 0);
    assert_int_equal(s.found, 1);
    close(s.fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_interning_gives_one_id_per_stack),
        cmocka_unit_test(test_full_table_refuses_and_counts),
        cmocka_unit_test(test_idle_stacks_leave_in_two_sweeps_and_their_ids_come_back),
        cmocka_unit_test(test_churn_far_past_the_table_size_stays_consistent),
        cmocka_unit_test(test_interning_during_sweeps_leaves_the_table_consistent),
        cmocka_unit_test(test_modmap_finds_this_binary_with_build_id),
        cmocka_unit_test(test_fdscan_sees_a_memfd_with_its_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
