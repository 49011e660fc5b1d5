/*
 * Implementation of common/fdscan.h with raw getdents64 so no DIR* (and so
 * no malloc) is involved, and the fd reconcile rule built on it.
 */
#include "fdscan.h"
#include "procfs.h"
#include "snapshot.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int fdscan_foreach(int pid, int (*cb)(int fd, const char *target, void *arg), void *arg)
{
    char path[64];
    util_proc_path(path, sizeof(path), pid, "fd");
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    char buf[4096] __attribute__((aligned(8)));
    int count = 0, rc = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        for (long pos = 0; pos < n;) {
            struct util_dirent64 *de = (struct util_dirent64 *)(buf + pos);
            pos += de->d_reclen;
            const char *s = de->d_name;
            if (*s < '0' || *s > '9')
                continue;
            int fd = 0;
            while (*s >= '0' && *s <= '9')
                fd = fd * 10 + (*s++ - '0');
            if (fd == dfd && pid <= 0)
                continue;
            char target[4096];
            ssize_t len = readlinkat(dfd, de->d_name, target, sizeof(target) - 1);
            if (len < 0)
                continue; /* closed meanwhile */
            target[len] = '\0';
            count++;
            rc = cb(fd, target, arg);
            if (rc)
                goto out;
        }
    }
out:
    close(dfd);
    return rc ? rc : count;
}

/* SNAP_FD_* of an open fd from /proc/PID/fdinfo/FD: its "flags:" (octal)
 * carry O_CLOEXEC when the fd is close-on-exec (set at open, by fcntl or
 * ioctl FIOCLEX, whichever way: the kernel's word, read at snapshot time).
 * 0 when it cannot be read (closed meanwhile). Allocation-free. */
static uint32_t fd_flags(int pid, int fd)
{
    char path[96], buf[256];
    util_proc_path(path, sizeof(path), pid, "fdinfo/");
    size_t n = strlen(path);
    util_u64_to_dec((uint64_t)fd, path + n, sizeof(path) - n);
    if (procfs_read_file(path, buf, sizeof(buf)) <= 0)
        return 0;
    const char *p = strstr(buf, "flags:");
    if (!p)
        return 0;
    for (p += 6; *p == ' ' || *p == '\t'; p++)
        ;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '7'; p++)
        v = v * 8 + (uint64_t)(*p - '0');
    return (v & O_CLOEXEC) ? SNAP_FD_CLOEXEC : 0;
}

static int reconcile_one(int fd, const char *target, void *arg)
{
    struct fdscan_reconcile *r = arg;
    if (fd == r->skip_fd || fd == r->skip_fd2)
        return 0;
    struct snap_fd_entry e = {.fd = fd, .source_fd = -1, .target = (char *)target};
    e.kind = snap_fd_kind_from_target(target);
    e.flags = fd_flags(r->pid, fd);
    if (r->recorded(&e, r->arg)) {
        if (e.origin == SNAP_FDO_OPENDIR && e.kind == SNAP_FD_FILE)
            e.kind = SNAP_FD_DIR;
    } else {
        e.origin = SNAP_FDO_UNATTRIBUTED;
        e.stack_id = 0;
        e.created_ns = 0;
        e.source_fd = -1;
        r->unattributed++;
    }
    return r->emit(&e, r->arg);
}

int fdscan_reconcile(struct fdscan_reconcile *r)
{
    r->unattributed = 0;
    r->closed_unseen = 0;
    uint64_t scan_start = util_realtime_ns();
    int rc = fdscan_foreach(r->pid, reconcile_one, r);
    if (rc >= 0 && r->forget_unseen)
        r->closed_unseen = r->forget_unseen(scan_start, r->arg);
    return rc;
}
