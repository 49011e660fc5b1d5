/*
 * mmap regions by stack: anonymous and file-backed mappings the program makes
 * itself (through the mmap symbol), with the fd they came from and what that
 * fd is (dma-buf and memfd mappings are marked). The allocator's own mappings
 * are made while the shim is busy inside a malloc hook (or with libc-internal
 * calls) and are not counted here: they are heap, accounted by heap.c.
 *
 * The table is a fixed array (SHIM_MAX_REGIONS) under a spinlock; mmap is
 * rare compared to malloc, and a full table is counted, not ignored.
 */
#include "shim.h"
#include "membreak.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct region {
    uint64_t addr, len;
    int32_t prot, flags, fd;
    uint32_t kind, stack_id;
    uint64_t created_ns;
};

static struct region *regions;
static struct region *scratch; /* snapshot copy, so writing happens unlocked */
static uint32_t n_regions;
static int region_lock;
static uint64_t region_overflow;

static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static void *(*real_mmap64)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);

void shim_mmap_init(void)
{
    real_mmap = (__typeof__(real_mmap))shim_dlsym_next("mmap");
    real_mmap64 = (__typeof__(real_mmap64))shim_dlsym_next("mmap64");
    real_munmap = (__typeof__(real_munmap))shim_dlsym_next("munmap");
    real_mremap = (__typeof__(real_mremap))shim_dlsym_next("mremap");
    regions = shim_arena_map(sizeof(*regions) * SHIM_MAX_REGIONS);
    scratch = shim_arena_map(sizeof(*scratch) * SHIM_MAX_REGIONS);
}

static void resolve(void)
{
    if (!real_mmap)
        shim_mmap_init();
}

static inline int tracking(void)
{
    return shim_active && !shim_tls.busy && shim_cfg.track_mmap && regions;
}

static uint32_t kind_of(int fd, int flags)
{
    if (fd < 0 || (flags & MAP_ANONYMOUS))
        return SNAP_MMAP_ANON;
    uint32_t origin = shim_fd_origin(fd);
    if (origin == SNAP_FDO_MEMFD)
        return SNAP_MMAP_MEMFD;
    if (origin == SNAP_FDO_IOCTL)
        return SNAP_MMAP_DMABUF;
    char link[64] = "/proc/thread-self/fd/", target[256];
    util_u64_to_dec((uint64_t)fd, link + 21, sizeof(link) - 21);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
        return SNAP_MMAP_FILE;
    target[n] = '\0';
    switch (snap_fd_kind_from_target(target)) {
    case SNAP_FD_DMABUF:
        return SNAP_MMAP_DMABUF;
    case SNAP_FD_MEMFD:
        return SNAP_MMAP_MEMFD;
    default:
        return strncmp(target, "/dev/shm/", 9) ? SNAP_MMAP_FILE : SNAP_MMAP_SHM;
    }
}

static inline __attribute__((always_inline)) void
add_region(void *p, size_t len, int prot, int flags, int fd, void *frame, void *ret)
{
    int saved = errno;
    shim_tls.busy = 1;
    struct region r = {.addr = (uintptr_t)p, .len = len, .prot = prot, .flags = flags, .fd = fd};
    r.kind = kind_of(fd, flags);
    r.stack_id = shim_capture_stack_id(frame, ret);
    r.created_ns = util_realtime_ns();
    shim_spin_lock(&region_lock);
    if (n_regions < SHIM_MAX_REGIONS)
        regions[n_regions++] = r;
    else
        region_overflow++;
    shim_spin_unlock(&region_lock);
    shim_tls.busy = 0;
    errno = saved;
}

/* Removes [addr, addr+len) from the table, trimming or splitting regions. */
static void remove_range(uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len;
    shim_spin_lock(&region_lock);
    for (uint32_t i = 0; i < n_regions;) {
        struct region *r = &regions[i];
        uint64_t rs = r->addr, re = r->addr + r->len;
        if (re <= addr || rs >= end) {
            i++;
            continue;
        }
        if (addr <= rs && end >= re) { /* fully covered: drop */
            regions[i] = regions[--n_regions];
            continue;
        }
        if (addr > rs && end < re) { /* hole in the middle: split */
            if (n_regions < SHIM_MAX_REGIONS) {
                struct region tail = *r;
                tail.addr = end;
                tail.len = re - end;
                regions[n_regions++] = tail;
            } else {
                region_overflow++;
            }
            r->len = addr - rs;
        } else if (addr <= rs) { /* head cut */
            r->len = re - end;
            r->addr = end;
        } else { /* tail cut */
            r->len = addr - rs;
        }
        i++;
    }
    shim_spin_unlock(&region_lock);
}

SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    resolve();
    void *p = real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED && tracking()) {
        if (flags & MAP_FIXED)
            remove_range((uintptr_t)p, len);
        add_region(p, len, prot, flags, fd, __builtin_frame_address(0),
                   __builtin_return_address(0));
    }
    return p;
}

SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    resolve();
    void *p = (real_mmap64 ? real_mmap64 : real_mmap)(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED && tracking()) {
        if (flags & MAP_FIXED)
            remove_range((uintptr_t)p, len);
        add_region(p, len, prot, flags, fd, __builtin_frame_address(0),
                   __builtin_return_address(0));
    }
    return p;
}

SHIM_EXPORT int munmap(void *addr, size_t len)
{
    resolve();
    int r = real_munmap(addr, len);
    if (r == 0 && regions && shim_active) {
        uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
        remove_range((uintptr_t)addr, (len + pg - 1) & ~(pg - 1));
    }
    return r;
}

SHIM_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    resolve();
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    void *p = real_mremap(old, old_len, new_len, flags, new_addr);
    if (p == MAP_FAILED || !regions || !shim_active)
        return p;
    shim_spin_lock(&region_lock);
    for (uint32_t i = 0; i < n_regions; i++) {
        if (regions[i].addr == (uintptr_t)old) {
            regions[i].addr = (uintptr_t)p;
            regions[i].len = new_len;
            break;
        }
    }
    shim_spin_unlock(&region_lock);
    return p;
}

void shim_mmap_snapshot(struct snap_writer *w)
{
    if (!regions || !scratch)
        return;
    shim_spin_lock(&region_lock);
    uint32_t n = n_regions;
    memcpy(scratch, regions, sizeof(*regions) * n);
    shim_spin_unlock(&region_lock);
    for (uint32_t i = 0; i < n; i++) {
        const struct region *r = &scratch[i];
        struct snap_mmap_entry e = {.addr = r->addr,
                                    .len = r->len,
                                    .prot = r->prot,
                                    .flags = r->flags,
                                    .fd = r->fd,
                                    .kind = r->kind,
                                    .stack_id = r->stack_id,
                                    .created_ns = r->created_ns,
                                    .path = ""};
        snap_write_mmap(w, &e);
    }
}

size_t shim_mmap_regions(struct mb_region *out, size_t cap)
{
    if (!regions)
        return 0;
    shim_spin_lock(&region_lock);
    size_t n = 0;
    for (uint32_t i = 0; i < n_regions && n < cap; i++, n++)
        out[n] = (struct mb_region){.start = regions[i].addr,
                                    .end = regions[i].addr + regions[i].len,
                                    .stack_id = regions[i].stack_id,
                                    .kind = regions[i].kind};
    shim_spin_unlock(&region_lock);
    return n;
}

void shim_mmap_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg)
{
    if (!regions)
        return;
    shim_spin_lock(&region_lock);
    for (uint32_t i = 0; i < n_regions; i++)
        mark(regions[i].stack_id, arg);
    shim_spin_unlock(&region_lock);
}

void shim_mmap_loss_counters(shim_loss_cb cb, void *arg)
{
    cb(SNAP_LOSS_MMAP_TABLE_FULL, __atomic_load_n(&region_overflow, __ATOMIC_RELAXED), arg);
}

void shim_mmap_fork_prepare(void)
{
    shim_spin_lock(&region_lock);
}

void shim_mmap_fork_parent(void)
{
    shim_spin_unlock(&region_lock);
}

void shim_mmap_fork_child(void)
{
    region_lock = 0;
}
