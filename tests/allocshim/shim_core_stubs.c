/*
 * What the shim's core objects need from the parts of libleakaudit.so the
 * unit tests (test_shim_core, test_guard_quarantine) do not link: the
 * injection flag (not injected) and the fd, mmap and resource tables'
 * stack marks for the stack sweep (they name no stack here).
 */
#include "allocshim/shim.h"

int shim_injected;
/* allocshim/prior_heap.c: no attach here, no blocks from before one */
int shim_prior_free_missed(void *p)
{
    (void)p;
    return 0;
}

void shim_fd_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg)
{
    (void)mark;
    (void)arg;
}

void shim_mmap_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg)
{
    (void)mark;
    (void)arg;
}

void shim_res_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg)
{
    (void)mark;
    (void)arg;
}
