/*
 * Unit tests of the shim's core outside a preload: the shim's own objects
 * (heap.c, unwind.c, arena.c, config.c, common/stacktable.c...) linked into
 * a cmocka program. The address table (allocshim/heap.c), fed real block
 * addresses: blocks are found with their size and stack, per-stack totals
 * add up, a free of an unknown pointer is counted, and the table stays exact
 * while threads allocate and free at the same time (it grows several times
 * under that load). The unwinder's frame validation (allocshim/unwind.c):
 * a frame-pointer walk gives the real callers, and a return address outside
 * every executable mapping ends the stack and is counted, never recorded.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "allocshim/shim.h"
#include "stacktable.h"

/* What init.c provides in the library: the calling thread's shim state and
 * its thread id (the rest: shim_core_stubs.c). */
SHIM_TLS struct shim_tls shim_tls;
pid_t shim_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

#define THREADS           8
#define BLOCKS_PER_THREAD 20000

static uint32_t stack_of(uint64_t n)
{
    uint64_t frames[3] = {0x401000 + n, 0x402000, 0x403000};
    return stk_table_intern(shim_stacks(), frames, 3);
}

static int setup(void **state)
{
    audit_config_defaults(&shim_cfg); /* full mode, the default table size */
    shim_heap_init();
    shim_unwind_init();
    return shim_cfg.track_heap ? 0 : -1;
}

struct totals {
    uint32_t stack;
    uint64_t live_bytes, live_count, total_count;
};

static void find_stack(const struct snap_heap_entry *e, void *arg)
{
    struct totals *t = arg;
    if (e->stack_id == t->stack) {
        t->live_bytes = e->live_bytes;
        t->live_count = e->live_count;
        t->total_count = e->total_count;
    }
}

static void test_blocks_are_found_with_their_size_and_stack(void **state)
{
    uint32_t id = stack_of(1);
    enum { N = 1000 };
    static char blocks[N][48];
    for (int i = 0; i < N; i++)
        shim_heap_on_alloc(blocks[i], 16 + (size_t)i % 32, id, SHIM_KIND_MALLOC);
    for (int i = 0; i < N; i++) {
        struct shim_block_info info;
        assert_int_equal(shim_heap_lookup(blocks[i], &info), SHIM_LOOKUP_LIVE);
        assert_int_equal(info.size, 16 + (size_t)i % 32);
        assert_int_equal(info.alloc_stack, id);
    }
    struct totals t = {.stack = id};
    shim_heap_foreach_stack(find_stack, &t);
    assert_int_equal(t.live_count, N);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(shim_heap_on_free(blocks[i]), 1);
    struct shim_block_info info;
    assert_int_equal(shim_heap_lookup(blocks[0], &info), SHIM_LOOKUP_NONE);
    assert_int_equal(shim_heap_lookup(blocks[1], &info), SHIM_LOOKUP_LIVE);
    t = (struct totals){.stack = id};
    shim_heap_foreach_stack(find_stack, &t);
    assert_int_equal(t.live_count, N / 2);
    assert_int_equal(t.total_count, N);
    for (int i = 1; i < N; i += 2)
        shim_heap_on_free(blocks[i]);
}

static uint64_t untracked;
static void loss(enum snap_loss_id id, uint64_t v, void *arg)
{
    if (id == SNAP_LOSS_HEAP_FREE_UNTRACKED)
        untracked = v;
}

static void test_a_free_of_an_unknown_pointer_is_counted(void **state)
{
    static char never_recorded[32];
    shim_heap_loss_counters(loss, NULL);
    uint64_t before = untracked;
    assert_int_equal(shim_heap_on_free(never_recorded), 0);
    shim_heap_loss_counters(loss, NULL);
    assert_int_equal(untracked, before + 1);
}

static char *arena_of[THREADS];

static void *churn(void *arg)
{
    int t = (int)(intptr_t)arg;
    uint32_t id = stack_of(100 + (uint64_t)t);
    char *mem = arena_of[t];
    /* every block is recorded, then every other one freed: the table grows
     * while other threads insert and remove in it */
    for (int i = 0; i < BLOCKS_PER_THREAD; i++)
        shim_heap_on_alloc(mem + 16 * i, 16, id, SHIM_KIND_MALLOC);
    for (int i = 0; i < BLOCKS_PER_THREAD; i += 2)
        if (!shim_heap_on_free(mem + 16 * i))
            return (void *)1;
    return NULL;
}

static void test_concurrent_inserts_and_frees_keep_every_record(void **state)
{
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        arena_of[t] = malloc(16 * BLOCKS_PER_THREAD);
        assert_non_null(arena_of[t]);
    }
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, churn, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++) {
        void *failed;
        pthread_join(th[t], &failed);
        assert_null(failed);
    }
    for (int t = 0; t < THREADS; t++) {
        struct totals tot = {.stack = stack_of(100 + (uint64_t)t)};
        shim_heap_foreach_stack(find_stack, &tot);
        assert_int_equal(tot.live_count, BLOCKS_PER_THREAD / 2);
        assert_int_equal(tot.live_bytes, 16 * (BLOCKS_PER_THREAD / 2));
        for (int i = 0; i < BLOCKS_PER_THREAD; i++) {
            struct shim_block_info info;
            int st = shim_heap_lookup(arena_of[t] + 16 * i, &info);
            assert_int_equal(st, i % 2 ? SHIM_LOOKUP_LIVE : SHIM_LOOKUP_NONE);
        }
    }
}

/* ---- the unwinder ---- */

static uint64_t expected[3]; /* return addresses, innermost first */
static uint64_t got[SNAP_MAX_STACK_DEPTH];
static uint32_t got_n;
static volatile int sink;

static __attribute__((noinline)) void leaf(void)
{
    expected[0] = (uint64_t)(uintptr_t)__builtin_return_address(0);
    got_n = shim_capture(got, __builtin_frame_address(0), __builtin_return_address(0));
    sink++;
}

static __attribute__((noinline)) void middle(void)
{
    expected[1] = (uint64_t)(uintptr_t)__builtin_return_address(0);
    leaf();
    sink++; /* no tail call: middle's frame stays */
}

static __attribute__((noinline)) void outer(void)
{
    expected[2] = (uint64_t)(uintptr_t)__builtin_return_address(0);
    middle();
    sink++;
}

static void test_a_frame_pointer_walk_gives_the_real_callers(void **state)
{
    shim_cfg.unwind = SNAP_UNWIND_FP;
    outer();
    assert_true(got_n >= 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(got[i], expected[i]);
}

static uint64_t bad_frames;
static void unwind_loss(enum snap_loss_id id, uint64_t v, void *arg)
{
    if (id == SNAP_LOSS_UNWIND_BAD_FRAME)
        bad_frames = v;
}

static void test_a_return_address_outside_every_module_ends_the_stack(void **state)
{
    shim_cfg.unwind = SNAP_UNWIND_FP;
    /* Fake frames on this thread's stack: [next fp, -] [next fp, a return
     * address in this program] [next fp, an address no module maps]. */
    uintptr_t frames[8] __attribute__((aligned(16)));
    uintptr_t in_program = (uintptr_t)&leaf + 4;
    frames[0] = (uintptr_t)&frames[2];
    frames[2] = (uintptr_t)&frames[4];
    frames[3] = in_program;
    frames[4] = (uintptr_t)&frames[6];
    frames[5] = 0x1000; /* the first page: never code */
    frames[6] = 0;
    frames[7] = 0;
    shim_unwind_loss_counters(unwind_loss, NULL);
    uint64_t before = bad_frames;
    uint64_t out[SNAP_MAX_STACK_DEPTH];
    uint32_t n = shim_capture(out, frames, (void *)in_program);
    assert_int_equal(n, 2);
    assert_int_equal(out[1], in_program);
    shim_unwind_loss_counters(unwind_loss, NULL);
    assert_int_equal(bad_frames, before + 1);
    sink += (int)frames[1];
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_are_found_with_their_size_and_stack),
        cmocka_unit_test(test_a_free_of_an_unknown_pointer_is_counted),
        cmocka_unit_test(test_concurrent_inserts_and_frees_keep_every_record),
        cmocka_unit_test(test_a_frame_pointer_walk_gives_the_real_callers),
        cmocka_unit_test(test_a_return_address_outside_every_module_ends_the_stack),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
