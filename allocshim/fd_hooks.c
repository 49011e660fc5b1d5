/*
 * File-descriptor tracking: every call that creates an fd records the
 * creating stack in a table indexed by fd number; every call that closes one
 * clears it. Calls the shim cannot see (fds opened inside libc with internal
 * syscalls, raw syscall(2), inherited across exec) are found at snapshot
 * time by reconciling the table with /proc/self/fd and reported as
 * `unattributed` or `pre-existing` -- never dropped.
 *
 * Covered: open/openat/creat (+64, fortified __open_2 ...), dup/dup2/dup3,
 * fcntl F_DUPFD[_CLOEXEC], close/close_range, socket/socketpair/accept/
 * accept4, pipe/pipe2, eventfd, memfd_create, timerfd_create, signalfd,
 * epoll_create[1], inotify_init[1], fopen/freopen/fclose, opendir/closedir,
 * posix_openpt, recvmsg with SCM_RIGHTS, and fd-returning ioctls (DMA heap, DRM PRIME,
 * ION, V4L2 EXPBUF, sync_file merge, udmabuf, TIOCGPTPEER).
 */
#include "shim.h"
#include "fdscan.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct fd_slot {
    uint32_t live;
    uint32_t stack_id;
    uint32_t origin;
    int32_t source_fd;
    uint64_t created_ns;
};

static struct fd_slot *fd_table;
static int fd_cap;
static int fd_max_seen = -1;
static uint64_t fd_overflow;      /* fds beyond the table */
static uint64_t fd_closed_unseen; /* recorded fds found closed by a path we missed */
static uint64_t fd_unattributed;  /* open fds whose creation we did not see */

/* ---- the real functions, resolved once at init ---- */

static struct {
    int (*open)(const char *, int, ...);
    int (*open64)(const char *, int, ...);
    int (*openat)(int, const char *, int, ...);
    int (*openat64)(int, const char *, int, ...);
    int (*open_2)(const char *, int);
    int (*open64_2)(const char *, int);
    int (*openat_2)(int, const char *, int);
    int (*openat64_2)(int, const char *, int);
    int (*creat)(const char *, mode_t);
    int (*creat64)(const char *, mode_t);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...);
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    int (*socket)(int, int, int);
    int (*socketpair)(int, int, int, int[2]);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*pipe)(int[2]);
    int (*pipe2)(int[2], int);
    int (*eventfd)(unsigned, int);
    int (*memfd_create)(const char *, unsigned);
    int (*timerfd_create)(int, int);
    int (*signalfd)(int, const void *, int);
    int (*epoll_create)(int);
    int (*epoll_create1)(int);
    int (*inotify_init)(void);
    int (*inotify_init1)(int);
    FILE *(*fopen)(const char *, const char *);
    FILE *(*fopen64)(const char *, const char *);
    FILE *(*freopen)(const char *, const char *, FILE *);
    int (*fclose)(FILE *);
    DIR *(*opendir)(const char *);
    int (*closedir)(DIR *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    int (*ioctl)(int, unsigned long, ...);
    int (*posix_openpt)(int);
} real;

static const struct {
    const char *name;
    size_t offset;
} real_names[] = {
#define R(field, sym)                                                                              \
    {                                                                                              \
        sym, offsetof(__typeof__(real), field)                                                     \
    }
    R(open, "open"),
    R(open64, "open64"),
    R(openat, "openat"),
    R(openat64, "openat64"),
    R(open_2, "__open_2"),
    R(open64_2, "__open64_2"),
    R(openat_2, "__openat_2"),
    R(openat64_2, "__openat64_2"),
    R(creat, "creat"),
    R(creat64, "creat64"),
    R(dup, "dup"),
    R(dup2, "dup2"),
    R(dup3, "dup3"),
    R(fcntl, "fcntl"),
    R(fcntl64, "fcntl64"),
    R(close, "close"),
    R(close_range, "close_range"),
    R(socket, "socket"),
    R(socketpair, "socketpair"),
    R(accept, "accept"),
    R(accept4, "accept4"),
    R(pipe, "pipe"),
    R(pipe2, "pipe2"),
    R(eventfd, "eventfd"),
    R(memfd_create, "memfd_create"),
    R(timerfd_create, "timerfd_create"),
    R(signalfd, "signalfd"),
    R(epoll_create, "epoll_create"),
    R(epoll_create1, "epoll_create1"),
    R(inotify_init, "inotify_init"),
    R(inotify_init1, "inotify_init1"),
    R(fopen, "fopen"),
    R(fopen64, "fopen64"),
    R(freopen, "freopen"),
    R(fclose, "fclose"),
    R(opendir, "opendir"),
    R(closedir, "closedir"),
    R(recvmsg, "recvmsg"),
    R(ioctl, "ioctl"),
    R(posix_openpt, "posix_openpt"),
#undef R
};

static int mark_preexisting(int fd, const char *target, void *arg)
{
    shim_fd_record(fd, SNAP_FDO_PREEXISTING, SNAP_STACK_NONE, -1);
    if (fd < fd_cap)
        fd_table[fd].created_ns = 0; /* opened before we were loaded: age unknown */
    return 0;
}

/* Resolution happens lazily too, for hooks called before init finished. */
static void resolve_all(void)
{
    for (size_t i = 0; i < sizeof(real_names) / sizeof(real_names[0]); i++) {
        void **slot = (void **)((char *)&real + real_names[i].offset);
        if (!*slot)
            *slot = shim_dlsym_next(real_names[i].name);
    }
}

#define REAL(fn) (SHIM_UNLIKELY(!real.fn) ? (resolve_all(), real.fn) : real.fn)

void shim_fd_init(void)
{
    resolve_all();
    struct rlimit rl;
    rlim_t cap = SHIM_MAX_FDS;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < cap)
        cap = rl.rlim_max;
    if (cap < 1024)
        cap = 1024;
    fd_table = shim_arena_map(sizeof(*fd_table) * cap);
    fd_cap = fd_table ? (int)cap : 0;
    if (fd_table && shim_cfg.track_fds)
        fdscan_foreach(0, mark_preexisting, NULL);
}

void shim_fd_record(int fd, uint32_t origin, uint32_t stack_id, int source_fd)
{
    if (fd < 0)
        return;
    if (fd >= fd_cap) {
        __atomic_fetch_add(&fd_overflow, 1, __ATOMIC_RELAXED);
        return;
    }
    struct fd_slot *s = &fd_table[fd];
    s->stack_id = stack_id;
    s->origin = origin;
    s->source_fd = source_fd;
    s->created_ns = util_realtime_ns();
    __atomic_store_n(&s->live, 1, __ATOMIC_RELEASE);
    int m = __atomic_load_n(&fd_max_seen, __ATOMIC_RELAXED);
    while (fd > m && !__atomic_compare_exchange_n(&fd_max_seen, &m, fd, 1, __ATOMIC_RELAXED,
                                                  __ATOMIC_RELAXED)) {
    }
}

void shim_fd_forget(int fd)
{
    if (fd >= 0 && fd < fd_cap)
        __atomic_store_n(&fd_table[fd].live, 0, __ATOMIC_RELEASE);
}

uint32_t shim_fd_origin(int fd)
{
    if (fd < 0 || fd >= fd_cap || !fd_table[fd].live)
        return SNAP_FDO_UNKNOWN;
    return fd_table[fd].origin;
}

uint32_t shim_fd_stack(int fd)
{
    if (fd < 0 || fd >= fd_cap || !fd_table[fd].live)
        return SNAP_STACK_NONE;
    return fd_table[fd].stack_id;
}

static inline int tracking(void)
{
    return shim_active && !shim_tls.busy && shim_cfg.track_fds && fd_table;
}

/* Records fds created by the hook whose frame/return address are given. */
static inline __attribute__((always_inline)) void created(const int *fds, int n, uint32_t origin,
                                                          int source, void *frame, void *ret)
{
    if (!tracking())
        return;
    int saved = errno;
    shim_tls.busy = 1;
    uint32_t id = shim_capture_stack_id(frame, ret);
    for (int i = 0; i < n; i++)
        shim_fd_record(fds[i], origin, id, source);
    shim_tls.busy = 0;
    errno = saved;
}

#define FRAME __builtin_frame_address(0)
#define RET   __builtin_return_address(0)
#define CREATED1(fd, origin, source)                                                               \
    do {                                                                                           \
        int one_ = (fd);                                                                           \
        if (one_ >= 0)                                                                             \
            created(&one_, 1, origin, source, FRAME, RET);                                         \
    } while (0)

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

SHIM_EXPORT int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    int fd = REAL(open)(path, flags, mode);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    int fd = REAL(open64)(path, flags, mode);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    int fd = REAL(openat)(dirfd, path, flags, mode);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    int fd = REAL(openat64)(dirfd, path, flags, mode);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int __open_2(const char *path, int flags)
{
    int fd = REAL(open_2)(path, flags);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
    int fd = REAL(open64_2)(path, flags);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    int fd = REAL(openat_2)(dirfd, path, flags);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    int fd = REAL(openat64_2)(dirfd, path, flags);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int creat(const char *path, mode_t mode)
{
    int fd = REAL(creat)(path, mode);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int creat64(const char *path, mode_t mode)
{
    int fd = REAL(creat64)(path, mode);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

SHIM_EXPORT int dup(int old)
{
    int fd = REAL(dup)(old);
    CREATED1(fd, SNAP_FDO_DUP, old);
    return fd;
}

SHIM_EXPORT int dup2(int old, int new)
{
    int fd = REAL(dup2)(old, new);
    if (fd >= 0 && old != new)
        CREATED1(fd, SNAP_FDO_DUP, old);
    return fd;
}

SHIM_EXPORT int dup3(int old, int new, int flags)
{
    int fd = REAL(dup3)(old, new, flags);
    CREATED1(fd, SNAP_FDO_DUP, old);
    return fd;
}

/* fcntl's third argument is an int or a pointer depending on cmd; reading
 * it as an unsigned long and passing it on preserves either. */
static inline __attribute__((always_inline)) int
fcntl_common(int (*fn)(int, int, ...), int fd, int cmd, unsigned long arg, void *frame, void *ret)
{
    int r = fn(fd, cmd, arg);
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        created(&r, 1, SNAP_FDO_FCNTL_DUPFD, fd, frame, ret);
    return r;
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    unsigned long arg = va_arg(ap, unsigned long);
    va_end(ap);
    return fcntl_common(REAL(fcntl), fd, cmd, arg, FRAME, RET);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    unsigned long arg = va_arg(ap, unsigned long);
    va_end(ap);
    return fcntl_common(REAL(fcntl64) ? real.fcntl64 : REAL(fcntl), fd, cmd, arg, FRAME, RET);
}

SHIM_EXPORT int close(int fd)
{
    /* Forget first: once the real close returns, another thread may be
     * handed the same number and record it. */
    shim_fd_forget(fd);
    return REAL(close)(fd);
}

SHIM_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    int r = REAL(close_range)(first, last, flags);
    if (r == 0 && !(flags & 4 /* CLOSE_RANGE_CLOEXEC */)) {
        int max = __atomic_load_n(&fd_max_seen, __ATOMIC_RELAXED);
        for (unsigned fd = first; fd <= last && (int)fd <= max; fd++)
            shim_fd_forget((int)fd);
    }
    return r;
}

SHIM_EXPORT int socket(int domain, int type, int proto)
{
    int fd = REAL(socket)(domain, type, proto);
    CREATED1(fd, SNAP_FDO_SOCKET, -1);
    return fd;
}

SHIM_EXPORT int socketpair(int domain, int type, int proto, int sv[2])
{
    int r = REAL(socketpair)(domain, type, proto, sv);
    if (r == 0)
        created(sv, 2, SNAP_FDO_SOCKETPAIR, -1, FRAME, RET);
    return r;
}

SHIM_EXPORT int accept(int s, struct sockaddr *addr, socklen_t *len)
{
    int fd = REAL(accept)(s, addr, len);
    CREATED1(fd, SNAP_FDO_ACCEPT, s);
    return fd;
}

SHIM_EXPORT int accept4(int s, struct sockaddr *addr, socklen_t *len, int flags)
{
    int fd = REAL(accept4)(s, addr, len, flags);
    CREATED1(fd, SNAP_FDO_ACCEPT, s);
    return fd;
}

SHIM_EXPORT int pipe(int fds[2])
{
    int r = REAL(pipe)(fds);
    if (r == 0)
        created(fds, 2, SNAP_FDO_PIPE, -1, FRAME, RET);
    return r;
}

SHIM_EXPORT int pipe2(int fds[2], int flags)
{
    int r = REAL(pipe2)(fds, flags);
    if (r == 0)
        created(fds, 2, SNAP_FDO_PIPE, -1, FRAME, RET);
    return r;
}

SHIM_EXPORT int eventfd(unsigned initval, int flags)
{
    int fd = REAL(eventfd)(initval, flags);
    CREATED1(fd, SNAP_FDO_EVENTFD, -1);
    return fd;
}

SHIM_EXPORT int memfd_create(const char *name, unsigned flags)
{
    int fd = REAL(memfd_create)(name, flags);
    CREATED1(fd, SNAP_FDO_MEMFD, -1);
    return fd;
}

SHIM_EXPORT int timerfd_create(int clock, int flags)
{
    int fd = REAL(timerfd_create)(clock, flags);
    CREATED1(fd, SNAP_FDO_TIMERFD, -1);
    return fd;
}

SHIM_EXPORT int signalfd(int fd, const void *mask, int flags)
{
    int r = REAL(signalfd)(fd, mask, flags);
    if (fd == -1)
        CREATED1(r, SNAP_FDO_SIGNALFD, -1); /* otherwise it only changed an existing fd */
    return r;
}

SHIM_EXPORT int epoll_create(int size)
{
    int fd = REAL(epoll_create)(size);
    CREATED1(fd, SNAP_FDO_EPOLL, -1);
    return fd;
}

SHIM_EXPORT int epoll_create1(int flags)
{
    int fd = REAL(epoll_create1)(flags);
    CREATED1(fd, SNAP_FDO_EPOLL, -1);
    return fd;
}

SHIM_EXPORT int inotify_init(void)
{
    int fd = REAL(inotify_init)();
    CREATED1(fd, SNAP_FDO_INOTIFY, -1);
    return fd;
}

SHIM_EXPORT int inotify_init1(int flags)
{
    int fd = REAL(inotify_init1)(flags);
    CREATED1(fd, SNAP_FDO_INOTIFY, -1);
    return fd;
}

SHIM_EXPORT int posix_openpt(int flags)
{
    int fd = REAL(posix_openpt)(flags);
    CREATED1(fd, SNAP_FDO_OPEN, -1);
    return fd;
}

/* stdio and dirent open their fds with internal syscalls: hook the API. */
SHIM_EXPORT FILE *fopen(const char *path, const char *mode)
{
    FILE *f = REAL(fopen)(path, mode);
    if (f)
        CREATED1(fileno(f), SNAP_FDO_FOPEN, -1);
    return f;
}

SHIM_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    FILE *f = REAL(fopen64)(path, mode);
    if (f)
        CREATED1(fileno(f), SNAP_FDO_FOPEN, -1);
    return f;
}

SHIM_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
    if (stream)
        shim_fd_forget(fileno(stream));
    FILE *f = REAL(freopen)(path, mode, stream);
    if (f)
        CREATED1(fileno(f), SNAP_FDO_FOPEN, -1);
    return f;
}

SHIM_EXPORT int fclose(FILE *f)
{
    if (f)
        shim_fd_forget(fileno(f));
    return REAL(fclose)(f);
}

SHIM_EXPORT DIR *opendir(const char *path)
{
    DIR *d = REAL(opendir)(path);
    if (d)
        CREATED1(dirfd(d), SNAP_FDO_OPENDIR, -1);
    return d;
}

SHIM_EXPORT int closedir(DIR *d)
{
    DIR *dd = d;
    __asm__("" : "+r"(dd)); /* closedir is declared nonnull; a buggy caller may pass NULL */
    if (dd)
        shim_fd_forget(dirfd(dd));
    return REAL(closedir)(d);
}

SHIM_EXPORT ssize_t recvmsg(int s, struct msghdr *msg, int flags)
{
    ssize_t r = REAL(recvmsg)(s, msg, flags);
    if (r < 0 || !msg || !msg->msg_control || !tracking())
        return r;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int fds[64];
        if (n > 64)
            n = 64;
        memcpy(fds, CMSG_DATA(c), (size_t)n * sizeof(int));
        created(fds, n, SNAP_FDO_RECVMSG, s, FRAME, RET);
    }
    return r;
}

/* ioctl requests that hand back a new fd, and where the fd is. */
#define IOC_NR_TYPE(req) ((req)&0xffff) /* _IOC type<<8 | nr */
#define FD_IN_RETURN     (-1)

static int ioctl_fd_offset(unsigned long req)
{
    switch (IOC_NR_TYPE(req)) {
    case ('H' << 8) | 0x00:
        return 8; /* DMA_HEAP_IOCTL_ALLOC: dma_heap_allocation_data.fd */
    case ('d' << 8) | 0x2d:
        return 8; /* DRM_IOCTL_PRIME_HANDLE_TO_FD: drm_prime_handle.fd */
    case ('I' << 8) | 0x00:
        return 16; /* ION_IOC_ALLOC (>= 4.12): ion_allocation_data.fd */
    case ('I' << 8) | 0x04:
        return 4; /* ION_IOC_SHARE / legacy: ion_fd_data.fd */
    case ('I' << 8) | 0x02:
        return 4; /* ION_IOC_MAP (legacy): ion_fd_data.fd */
    case ('V' << 8) | 16:
        return 16; /* VIDIOC_EXPBUF: v4l2_exportbuffer.fd */
    case ('>' << 8) | 3:
        return 36;          /* SYNC_IOC_MERGE: sync_merge_data.fence */
    case ('u' << 8) | 0x42: /* UDMABUF_CREATE */
    case ('u' << 8) | 0x43: /* UDMABUF_CREATE_LIST */
    case ('T' << 8) | 0x41: /* TIOCGPTPEER */
        return FD_IN_RETURN;
    default:
        return -2;
    }
}

SHIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int r = REAL(ioctl)(fd, req, arg);
    if (r < 0 || !tracking())
        return r;
    int off = ioctl_fd_offset(req);
    if (off == -2)
        return r;
    int newfd = r;
    if (off != FD_IN_RETURN) {
        if (!arg)
            return r;
        memcpy(&newfd, (char *)arg + off, sizeof(int));
    }
    if (newfd >= 0 && newfd != fd)
        created(&newfd, 1, SNAP_FDO_IOCTL, fd, FRAME, RET);
    return r;
}

/* ---- snapshot: reconcile with /proc/self/fd (common/fdscan.h's rule) ---- */

struct reconcile {
    struct snap_writer *w;
    int skip_fd, skip_fd2; /* the snapshot writer's own file and directory */
    int max;               /* highest fd recorded so far */
};

static uint8_t *seen_bitmap; /* over fd_cap, from the arena */

static int fd_recorded(struct snap_fd_entry *e, void *arg)
{
    int fd = e->fd;
    if (fd >= fd_cap || !fd_table[fd].live)
        return 0;
    const struct fd_slot *s = &fd_table[fd];
    e->origin = s->origin;
    e->stack_id = s->stack_id;
    e->created_ns = s->created_ns;
    e->source_fd = s->source_fd;
    if (seen_bitmap)
        seen_bitmap[fd / 8] |= (uint8_t)(1u << (fd % 8));
    return 1;
}

static int fd_emit(struct snap_fd_entry *e, void *arg)
{
    struct reconcile *r = arg;
    snap_write_fd(r->w, e);
    return 0;
}

static uint64_t fd_forget_unseen(uint64_t scan_start_ns, void *arg)
{
    struct reconcile *r = arg;
    uint64_t n = 0;
    if (!seen_bitmap)
        return 0;
    for (int fd = 0; fd <= r->max; fd++) {
        const struct fd_slot *sl = &fd_table[fd];
        if (sl->live && fd != r->skip_fd && fd != r->skip_fd2 && sl->created_ns < scan_start_ns &&
            !(seen_bitmap[fd / 8] & (1u << (fd % 8)))) {
            fd_table[fd].live = 0;
            n++;
        }
    }
    return n;
}

void shim_fd_snapshot(struct snap_writer *w, int skip_fd, int skip_fd2)
{
    if (!fd_table || !shim_cfg.track_fds)
        return;
    if (!seen_bitmap)
        seen_bitmap = shim_arena_map((size_t)fd_cap / 8 + 1);
    int max = __atomic_load_n(&fd_max_seen, __ATOMIC_RELAXED);
    if (seen_bitmap)
        memset(seen_bitmap, 0, (size_t)(max < 0 ? 0 : max) / 8 + 1);
    struct reconcile r = {.w = w, .skip_fd = skip_fd, .skip_fd2 = skip_fd2, .max = max};
    struct fdscan_reconcile rc = {.pid = 0,
                                  .skip_fd = skip_fd,
                                  .skip_fd2 = skip_fd2,
                                  .recorded = fd_recorded,
                                  .emit = fd_emit,
                                  .forget_unseen = fd_forget_unseen,
                                  .arg = &r};
    fdscan_reconcile(&rc);
    /* unattributed: a per-snapshot figure; closed unseen: a running total */
    __atomic_store_n(&fd_unattributed, rc.unattributed, __ATOMIC_RELAXED);
    __atomic_fetch_add(&fd_closed_unseen, rc.closed_unseen, __ATOMIC_RELAXED);
}

void shim_fd_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg)
{
    if (!fd_table)
        return;
    int max = __atomic_load_n(&fd_max_seen, __ATOMIC_ACQUIRE);
    for (int fd = 0; fd <= max && fd < fd_cap; fd++)
        if (__atomic_load_n(&fd_table[fd].live, __ATOMIC_ACQUIRE))
            mark(fd_table[fd].stack_id, arg);
}

void shim_fd_loss_counters(shim_loss_cb cb, void *arg)
{
    cb(SNAP_LOSS_FD_UNATTRIBUTED, __atomic_load_n(&fd_unattributed, __ATOMIC_RELAXED), arg);
    cb(SNAP_LOSS_FD_CLOSED_UNSEEN, __atomic_load_n(&fd_closed_unseen, __ATOMIC_RELAXED), arg);
    cb(SNAP_LOSS_FD_TABLE_OVERFLOW, __atomic_load_n(&fd_overflow, __ATOMIC_RELAXED), arg);
}
