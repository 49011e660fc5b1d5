/*
 * The shim's own memory: anonymous mappings made with the raw mmap system
 * call, so they come neither from the audited allocator nor through the
 * shim's own mmap interposer. Mappings are MAP_NORESERVE and untouched pages
 * cost nothing, so tables are sized for their limits up front.
 *
 * Every mapping is also recorded (lock-free append, SHIM_ARENA_MAX_MAPS
 * slots) so the reachability scan can tell the shim's tables -- which hold a
 * pointer to every block -- from the program's own anonymous memory, which
 * is a root (docs/reachability.md).
 */
#include "shim.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct shim_range ranges[SHIM_ARENA_MAX_MAPS];
static uint32_t n_ranges; /* slots claimed; a slot with end == 0 is free or not yet filled */

void *shim_arena_map(size_t size)
{
    long p = syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p < 0 && p > -4096)
        return NULL;
    uint32_t i = __atomic_fetch_add(&n_ranges, 1, __ATOMIC_ACQ_REL);
    if (i < SHIM_ARENA_MAX_MAPS) {
        ranges[i].start = (uint64_t)p;
        __atomic_store_n(&ranges[i].end, (uint64_t)p + size, __ATOMIC_RELEASE);
    }
    return (void *)p;
}

void shim_arena_forget(const void *p)
{
    uint32_t n = __atomic_load_n(&n_ranges, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n && i < SHIM_ARENA_MAX_MAPS; i++)
        if (ranges[i].start == (uint64_t)(uintptr_t)p)
            __atomic_store_n(&ranges[i].end, 0, __ATOMIC_RELEASE);
}

/* Returns the number of slots to look at, or -1 if some mapping was not
 * recorded (the table is full). */
long shim_arena_ranges(const struct shim_range **out)
{
    uint32_t n = __atomic_load_n(&n_ranges, __ATOMIC_ACQUIRE);
    *out = ranges;
    return n <= SHIM_ARENA_MAX_MAPS ? (long)n : -1;
}
