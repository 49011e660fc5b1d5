/*
 * Unit tests of canary mode's quarantine (allocshim/guard_quarantine.c, with
 * guard.c, guard_canary.c and guard_report.c) outside a preload: the shim's
 * own guard objects linked into a cmocka program over the real allocator.
 * A freed block is held back (not handed out again at once), a write to it
 * while it is held is reported when it leaves the quarantine, and a second
 * free is reported and skipped. Events are read back the way reports read
 * them: written into a real snapshot file and parsed by the one reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "allocshim/shim.h"
#include "snapshot.h"

/* What init.c provides in the library: the real allocator, the thread's
 * shim state and id, and the snapshot side's hooks (none here: no
 * snapshot is written behind the test's back). */
struct shim_real shim_real;
SHIM_TLS struct shim_tls shim_tls;
int (*shim_evidence_hook)(int trigger);
void (*shim_poll_hook)(void);
pid_t shim_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

#define QUARANTINE 4096
#define BLOCK      64

static int setup(void **state)
{
    shim_real.malloc = malloc;
    shim_real.free = free;
    shim_real.posix_memalign = posix_memalign;
    audit_config_defaults(&shim_cfg);
    shim_cfg.guard = AUDIT_GUARD_CANARY;
    shim_cfg.guard_abort = 0; /* policy log: report and carry on */
    shim_cfg.quarantine_bytes = QUARANTINE;
    shim_cfg.unwind = SNAP_UNWIND_FP;
    shim_heap_init();
    shim_unwind_init();
    shim_guard_init();
    return 0;
}

static void *alloc(size_t n)
{
    return shim_guard_alloc(n, 16, SHIM_KIND_MALLOC, 0, __builtin_frame_address(0),
                            __builtin_return_address(0));
}

static void release(void *p)
{
    shim_guard_free(p, SHIM_KIND_MALLOC, __builtin_frame_address(0), __builtin_return_address(0));
}

/* The events guard mode recorded so far, through a snapshot file. */
static struct snapshot *events(void)
{
    char dir[] = "/tmp/leakaudit-quarantine-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static struct snap_writer w;
    assert_int_equal(snap_writer_open(&w, dir, "q.snap"), 0);
    struct snap_header h = {.source = SNAP_SOURCE_SHIM, .mode = SNAP_MODE_FULL};
    snap_write_header(&w, &h);
    snap_begin_section(&w, SNAP_SEC_CORRUPTION);
    shim_guard_snapshot(&w);
    assert_int_equal(snap_writer_commit(&w), 0);
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/q.snap", dir);
    struct snapshot *s;
    assert_int_equal(snapshot_read_file(path, &s, err, sizeof(err)), 0);
    unlink(path);
    rmdir(dir);
    return s;
}

static int count_kind(const struct snapshot *s, uint32_t kind, uint64_t addr)
{
    int n = 0;
    for (size_t i = 0; i < s->n_corruptions; i++)
        n += s->corruptions[i].kind == kind && s->corruptions[i].addr == addr;
    return n;
}

static void test_a_freed_block_is_held_back(void **state)
{
    char *p = alloc(BLOCK);
    assert_non_null(p);
    release(p);
    /* as long as less than QUARANTINE bytes were freed after it, it is not
     * handed out again */
    void *held[QUARANTINE / BLOCK / 2];
    for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
        held[i] = alloc(BLOCK);
        assert_ptr_not_equal(held[i], p);
    }
    for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
        release(held[i]);
}

static void test_a_write_to_a_held_block_is_reported_when_it_leaves(void **state)
{
    char *p = alloc(BLOCK);
    assert_non_null(p);
    release(p);
    p[10] = 0x41; /* use after free, while the block is quarantined */
    /* free enough after it that it is evicted or recycled (and checked) */
    for (int i = 0; i < 4 * QUARANTINE / BLOCK; i++)
        release(alloc(BLOCK));
    struct snapshot *s = events();
    assert_int_equal(count_kind(s, SNAP_CORR_USE_AFTER_FREE_WRITE, (uint64_t)(uintptr_t)p), 1);
    snapshot_free(s);
}

static void test_a_second_free_is_reported_and_skipped(void **state)
{
    char *p = alloc(BLOCK);
    assert_non_null(p);
    release(p);
    release(p);
    struct snapshot *s = events();
    assert_int_equal(count_kind(s, SNAP_CORR_DOUBLE_FREE, (uint64_t)(uintptr_t)p), 1);
    snapshot_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_freed_block_is_held_back),
        cmocka_unit_test(test_a_write_to_a_held_block_is_reported_when_it_leaves),
        cmocka_unit_test(test_a_second_free_is_reported_and_skipped),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
