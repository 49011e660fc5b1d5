/*
 * The shim's own memory: anonymous mappings made with the raw mmap system
 * call, so they come neither from the audited allocator nor through the
 * shim's own mmap interposer. Mappings are MAP_NORESERVE and untouched pages
 * cost nothing, so tables are sized for their limits up front.
 *
 * Every mapping is also recorded (lock-free append, SHIM_ARENA_MAX_MAPS
 * slots) so the reachability scan can tell the shim's tables -- which hold a
 * pointer to every block -- from the program's own anonymous memory, which
 * is a root (docs/reachability.md) -- and so that the shim can say how much
 * of its own memory is resident (snapshots' shim_memory_bytes).
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

/* Resident bytes of the recorded mappings (mincore, a chunk at a time into
 * a static vector: called by the snapshot writer only, under its lock). */
uint64_t shim_arena_resident(void)
{
    enum { CHUNK_PAGES = 16384 };
    static unsigned char vec[CHUNK_PAGES];
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint32_t n = __atomic_load_n(&n_ranges, __ATOMIC_ACQUIRE);
    uint64_t resident = 0;
    for (uint32_t i = 0; i < n && i < SHIM_ARENA_MAX_MAPS; i++) {
        uint64_t start = ranges[i].start, end = __atomic_load_n(&ranges[i].end, __ATOMIC_ACQUIRE);
        for (uint64_t a = start; a < end; a += (uint64_t)CHUNK_PAGES * page) {
            uint64_t len = end - a < (uint64_t)CHUNK_PAGES * page ? end - a : CHUNK_PAGES * page;
            if (syscall(SYS_mincore, (void *)(uintptr_t)a, (size_t)len, vec) != 0)
                break; /* unmapped meanwhile (fork, reachability scratch) */
            for (uint64_t p = 0; p < (len + page - 1) / page; p++)
                resident += (vec[p] & 1) * page;
        }
    }
    return resident;
}
