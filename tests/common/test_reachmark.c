/*
 * Unit tests of the reachability marking (common/reachmark.c) on real memory
 * of this process: blocks are malloc'ed, linked to each other and to a root
 * array, and the classifier must give valgrind's classes -- reachable from a
 * start pointer, possibly lost from an interior one, a lost chain as one
 * definitely lost leader with indirectly lost followers, a lost cycle the
 * same -- and a root range scanned around the blocks it contains must not
 * count what is inside those blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reachmark.h"
#include "snapshot.h"

#define N_BLOCKS 8
#define BLOCK_SZ 64
#define WORDS    (BLOCK_SZ / 8)

struct fixture {
    uint64_t *mem[N_BLOCKS]; /* the blocks, BLOCK_SZ bytes each, zeroed */
    struct rmark_block blocks[N_BLOCKS];
    uint32_t stack[2 * N_BLOCKS + 1];
    struct rmark m;
};

static void setup_blocks(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < N_BLOCKS; i++) {
        f->mem[i] = calloc(1, BLOCK_SZ);
        assert_non_null(f->mem[i]);
    }
}

/* Sorts, begins, scans the root words and propagates; then classifies. */
static void classify(struct fixture *f, const uint64_t *roots, size_t n_roots)
{
    for (int i = 0; i < N_BLOCKS; i++)
        f->blocks[i] = (struct rmark_block){
            .addr = (uint64_t)(uintptr_t)f->mem[i], .size = BLOCK_SZ, .stack_id = (uint32_t)i + 1};
    void *scratch = malloc(rmark_sort_scratch(N_BLOCKS));
    assert_non_null(scratch);
    rmark_sort(f->blocks, N_BLOCKS, scratch);
    free(scratch);
    f->m = (struct rmark){.blocks = f->blocks, .n = N_BLOCKS, .stack = f->stack};
    rmark_begin(&f->m);
    rmark_scan_values(&f->m, roots, n_roots);
    rmark_propagate(&f->m);
    rmark_classify(&f->m);
}

static uint32_t class_of(const struct fixture *f, int i)
{
    for (int k = 0; k < N_BLOCKS; k++)
        if (f->blocks[k].addr == (uint64_t)(uintptr_t)f->mem[i])
            return f->blocks[k].state;
    fail_msg("block %d not found", i);
    return 0;
}

static void teardown_blocks(struct fixture *f)
{
    for (int i = 0; i < N_BLOCKS; i++)
        free(f->mem[i]);
}

static void test_start_pointers_make_blocks_reachable_transitively(void **state)
{
    struct fixture f;
    setup_blocks(&f);
    f.mem[0][3] = (uint64_t)(uintptr_t)f.mem[1]; /* 0 -> 1 -> 2 */
    f.mem[1][0] = (uint64_t)(uintptr_t)f.mem[2];
    uint64_t roots[] = {0, (uint64_t)(uintptr_t)f.mem[0]};
    classify(&f, roots, 2);
    assert_int_equal(class_of(&f, 0), SNAP_REACH_REACHABLE);
    assert_int_equal(class_of(&f, 1), SNAP_REACH_REACHABLE);
    assert_int_equal(class_of(&f, 2), SNAP_REACH_REACHABLE);
    assert_int_equal(class_of(&f, 3), SNAP_REACH_DEFINITE); /* nothing points to it */
    teardown_blocks(&f);
}

static void test_an_interior_pointer_makes_a_block_possibly_lost(void **state)
{
    struct fixture f;
    setup_blocks(&f);
    f.mem[4][0] = (uint64_t)(uintptr_t)f.mem[5]; /* 4 -> 5, 4 only from the inside */
    uint64_t roots[] = {(uint64_t)(uintptr_t)f.mem[4] + 24};
    classify(&f, roots, 1);
    assert_int_equal(class_of(&f, 4), SNAP_REACH_POSSIBLE);
    assert_int_equal(class_of(&f, 5), SNAP_REACH_POSSIBLE); /* what a possible block holds */
    teardown_blocks(&f);
}

static void test_a_lost_chain_has_one_definitely_lost_leader(void **state)
{
    struct fixture f;
    setup_blocks(&f);
    f.mem[6][1] = (uint64_t)(uintptr_t)f.mem[7]; /* 6 -> 7, nothing -> 6 */
    uint64_t roots[] = {0};
    classify(&f, roots, 1);
    assert_int_equal(class_of(&f, 6), SNAP_REACH_DEFINITE);
    assert_int_equal(class_of(&f, 7), SNAP_REACH_INDIRECT);
    teardown_blocks(&f);
}

static void test_a_lost_cycle_is_one_definite_block_and_the_rest_indirect(void **state)
{
    struct fixture f;
    setup_blocks(&f);
    f.mem[1][0] = (uint64_t)(uintptr_t)f.mem[2]; /* 1 -> 2 -> 3 -> 1 */
    f.mem[2][0] = (uint64_t)(uintptr_t)f.mem[3];
    f.mem[3][0] = (uint64_t)(uintptr_t)f.mem[1];
    uint64_t roots[] = {0};
    classify(&f, roots, 1);
    int definite = 0, indirect = 0;
    for (int i = 1; i <= 3; i++) {
        definite += class_of(&f, i) == SNAP_REACH_DEFINITE;
        indirect += class_of(&f, i) == SNAP_REACH_INDIRECT;
    }
    assert_int_equal(definite, 1);
    assert_int_equal(indirect, 2);
    teardown_blocks(&f);
}

static void test_a_root_range_around_blocks_skips_their_insides(void **state)
{
    /* One array: [root word][block A: 8 words][root word]; block A holds a
     * pointer to block B, which must not count as a root. */
    uint64_t *arena = calloc(2 + WORDS, sizeof(uint64_t));
    uint64_t *b = calloc(1, BLOCK_SZ);
    assert_non_null(arena);
    assert_non_null(b);
    struct rmark_block blocks[2] = {
        {.addr = (uint64_t)(uintptr_t)(arena + 1), .size = BLOCK_SZ, .stack_id = 1},
        {.addr = (uint64_t)(uintptr_t)b, .size = BLOCK_SZ, .stack_id = 2},
    };
    arena[1] = (uint64_t)(uintptr_t)b; /* inside block A */
    void *scratch = malloc(rmark_sort_scratch(2));
    rmark_sort(blocks, 2, scratch);
    free(scratch);
    uint32_t stack[5];
    struct rmark m = {.blocks = blocks, .n = 2, .stack = stack};
    rmark_begin(&m);
    uint64_t lo = (uint64_t)(uintptr_t)arena, hi = lo + (2 + WORDS) * 8;
    assert_true(rmark_has_blocks(&m, lo, hi));
    assert_false(rmark_has_blocks(&m, lo, lo + 8));
    rmark_scan_root_between_blocks(&m, lo, hi);
    rmark_propagate(&m);
    rmark_classify(&m);
    for (int i = 0; i < 2; i++)
        assert_int_not_equal(blocks[i].state, SNAP_REACH_REACHABLE);
    free(arena);
    free(b);
}

/* The why hook (LEAKAUDIT_REACH_WHY): each rise of a mark names the word
 * and the block it was in; a root range gives -1, a saved value address 0;
 * a possibly lost block later reached by a start pointer is recorded again. */
struct why_log {
    uint64_t at[N_BLOCKS];
    long from[N_BLOCKS];
    int calls;
};
static void log_why(void *arg, size_t block, uint64_t at, long from)
{
    struct why_log *l = arg;
    l->at[block] = at;
    l->from[block] = from;
    l->calls++;
}

static long index_of(const struct fixture *f, int i)
{
    for (int k = 0; k < N_BLOCKS; k++)
        if (f->blocks[k].addr == (uint64_t)(uintptr_t)f->mem[i])
            return k;
    return -1;
}

static void test_the_why_hook_records_each_rise_and_its_cause(void **state)
{
    (void)state;
    struct fixture f;
    setup_blocks(&f);
    for (int i = 0; i < N_BLOCKS; i++)
        f.blocks[i] = (struct rmark_block){
            .addr = (uint64_t)(uintptr_t)f.mem[i], .size = BLOCK_SZ, .stack_id = (uint32_t)i + 1};
    void *scratch = malloc(rmark_sort_scratch(N_BLOCKS));
    rmark_sort(f.blocks, N_BLOCKS, scratch);
    free(scratch);
    f.mem[0][2] = (uint64_t)(uintptr_t)f.mem[1] + 8; /* 0 -> inside 1 */
    f.mem[2][1] = (uint64_t)(uintptr_t)f.mem[1];     /* 2 -> 1 */
    uint64_t root[2] = {(uint64_t)(uintptr_t)f.mem[0], 0};
    struct why_log l = {.calls = 0};
    f.m = (struct rmark){
        .blocks = f.blocks, .n = N_BLOCKS, .stack = f.stack, .why = log_why, .why_arg = &l};
    rmark_begin(&f.m);
    rmark_scan_root(&f.m, (uint64_t)(uintptr_t)root, (uint64_t)(uintptr_t)(root + 2));
    long b0 = index_of(&f, 0), b1 = index_of(&f, 1), b2 = index_of(&f, 2);
    assert_int_equal(l.from[b0], -1);
    assert_int_equal(l.at[b0], (uint64_t)(uintptr_t)&root[0]);
    assert_int_equal(l.from[b1], b0); /* possibly lost, from block 0's word 2 */
    assert_int_equal(l.at[b1], (uint64_t)(uintptr_t)&f.mem[0][2]);
    assert_int_equal(l.calls, 2);
    uint64_t regs[1] = {(uint64_t)(uintptr_t)f.mem[2]};
    rmark_scan_values(&f.m, regs, 1); /* a register reaches 2, whose start pointer lifts 1 */
    assert_int_equal(l.from[b2], -1);
    assert_int_equal(l.at[b2], 0);
    assert_int_equal(l.from[b1], b2);
    assert_int_equal(l.at[b1], (uint64_t)(uintptr_t)&f.mem[2][1]);
    assert_int_equal(l.calls, 4);
    rmark_classify(&f.m);
    assert_int_equal(class_of(&f, 1), SNAP_REACH_REACHABLE);
    teardown_blocks(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_pointers_make_blocks_reachable_transitively),
        cmocka_unit_test(test_an_interior_pointer_makes_a_block_possibly_lost),
        cmocka_unit_test(test_a_lost_chain_has_one_definitely_lost_leader),
        cmocka_unit_test(test_a_lost_cycle_is_one_definite_block_and_the_rest_indirect),
        cmocka_unit_test(test_a_root_range_around_blocks_skips_their_insides),
        cmocka_unit_test(test_the_why_hook_records_each_rise_and_its_cause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
