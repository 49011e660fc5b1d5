/*
 * Unit tests of the stack table, module map and fd scan: concurrent interning
 * gives one id per distinct stack, a full table refuses and counts, and the
 * module map finds this test binary with its build-id.
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
    size_t sz = stk_table_memsize(DISTINCT * 2, DISTINCT * 16);
    void *mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    stk_table_init(&table, mem, DISTINCT * 2, DISTINCT * 16);
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
    size_t sz = stk_table_memsize(10, 1000);
    void *mem = calloc(1, sz);
    stk_table_init(&t, mem, 10, 1000);
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
        cmocka_unit_test(test_modmap_finds_this_binary_with_build_id),
        cmocka_unit_test(test_fdscan_sees_a_memfd_with_its_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
