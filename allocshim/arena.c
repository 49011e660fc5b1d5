/*
 * The shim's own memory: anonymous mappings made with the raw mmap system
 * call, so they come neither from the audited allocator nor through the
 * shim's own mmap interposer. Mappings are MAP_NORESERVE and untouched pages
 * cost nothing, so tables are sized for their limits up front.
 */
#include "shim.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

void *shim_arena_map(size_t size)
{
    long p = syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p < 0 && p > -4096)
        return NULL;
    return (void *)p;
}
