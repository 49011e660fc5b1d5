/*
 * Implementation of common/safefile.h. Raw system calls only (no stdio, no
 * opendir): the shim's snapshot writer runs this inside the audited process.
 * Directory walks use getdents64 into a stack buffer for the same reason.
 */
#include "safefile.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DIRENT_BUF 4096

static void set_why(const char **why, const char *text)
{
    if (why)
        *why = text;
}

/* The kernel's protected_symlinks rule, applied to the directory itself: a
 * symlink is followed only when its owner is the caller or root. */
static int check_symlink(const char *path, const char **why)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return -errno;
    if (S_ISLNK(st.st_mode) && st.st_uid != geteuid() && st.st_uid != 0) {
        set_why(why, "is a symlink owned by another user");
        return -EPERM;
    }
    return 0;
}

int safe_dir_open(const char *path, unsigned flags, const char **why)
{
    set_why(why, NULL);
    int rc = util_mkdir_p(path);
    if (rc < 0)
        return rc;
    rc = check_symlink(path, why);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if (!(flags & SAFE_DIR_SHARED)) {
        const char *problem = NULL;
        if (st.st_uid != geteuid())
            problem = "is not owned by you (pass --allow-shared-dir if that is intended)";
        else if (st.st_mode & (S_IWGRP | S_IWOTH))
            problem = "is writable by group or others (pass --allow-shared-dir if that is "
                      "intended)";
        if (problem) {
            close(fd);
            set_why(why, problem);
            return -EPERM;
        }
    }
    return fd;
}

int safe_target_check(int dirfd, const char *name, const char **why)
{
    struct stat st;
    set_why(why, NULL);
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISREG(st.st_mode))
        return 0;
    set_why(why, S_ISLNK(st.st_mode)    ? "exists and is a symlink (not followed, not replaced)"
                 : S_ISDIR(st.st_mode)  ? "exists and is a directory"
                 : S_ISFIFO(st.st_mode) ? "exists and is a FIFO"
                                        : "exists and is not a regular file");
    return -EEXIST;
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        /* No entropy yet (early boot): unpredictable enough with O_EXCL. */
        static uint64_t counter;
        v = util_monotonic_ns() ^ (util_realtime_ns() << 17) ^
            __atomic_add_fetch(&counter, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED);
    }
    return v;
}

/* ".NAME.PID.HEX16.tmp" into buf. */
static int tmp_name_for(const char *name, char *buf, size_t cap)
{
    char pid[24], hex[24];
    size_t nl = strlen(name);
    size_t pl = util_u64_to_dec((uint64_t)getpid(), pid, sizeof(pid));
    uint64_t r = random_u64();
    for (int i = 15; i >= 0; i--, r >>= 4)
        hex[i] = "0123456789abcdef"[r & 0xf];
    hex[16] = '\0';
    if (1 + nl + 1 + pl + 1 + 16 + 4 + 1 > cap || nl + 40 > 255)
        return -ENAMETOOLONG;
    size_t len = 0;
    buf[len++] = '.';
    memcpy(buf + len, name, nl);
    len += nl;
    buf[len++] = '.';
    memcpy(buf + len, pid, pl);
    len += pl;
    buf[len++] = '.';
    memcpy(buf + len, hex, 16);
    len += 16;
    memcpy(buf + len, ".tmp", 5);
    return 0;
}

int safe_tmp_create(int dirfd, const char *name, char *tmp_name, size_t cap)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        int rc = tmp_name_for(name, tmp_name, cap);
        if (rc < 0)
            return rc;
        int fd =
            openat(dirfd, tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

int safe_tmp_commit(int dirfd, const char *tmp_name, const char *name, const char **why)
{
    int rc = safe_target_check(dirfd, name, why);
    if (rc == 0 && renameat(dirfd, tmp_name, dirfd, name) < 0)
        rc = -errno;
    if (rc < 0)
        unlinkat(dirfd, tmp_name, 0);
    return rc;
}

void safe_tmp_discard(int dirfd, const char *tmp_name)
{
    if (tmp_name[0])
        unlinkat(dirfd, tmp_name, 0);
}

/* The writer's pid in ".NAME.PID.HEX16.tmp", or 0 when the name is not one
 * of ours (an older writer's "NAME.tmp": judged by age alone). */
static pid_t tmp_writer_pid(const char *n, size_t len)
{
    if (len < 1 + 1 + 1 + 1 + 1 + 16 + 4 || n[0] != '.')
        return 0;
    const char *end = n + len - 4 - 16 - 1; /* the '.' before HEX16 */
    if (*end != '.')
        return 0;
    const char *p = end;
    while (p > n && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == end || p[-1] != '.')
        return 0;
    long v = 0;
    for (; p < end && v < (1L << 30); p++)
        v = v * 10 + (*p - '0');
    return (pid_t)v;
}

static int is_stale(int dirfd, const char *n, size_t len)
{
    struct stat st;
    if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != geteuid())
        return 0;
    pid_t pid = tmp_writer_pid(n, len);
    if (pid > 0 && pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH)
        return 1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec - st.st_mtim.tv_sec > SAFE_TMP_STALE_SEC;
}

int safe_clean_stale_tmp(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int removed = 0;
    char buf[DIRENT_BUF] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct util_dirent64 *d = (struct util_dirent64 *)(buf + off);
            off += d->d_reclen;
            size_t len = strlen(d->d_name);
            if (len < 5 || strcmp(d->d_name + len - 4, ".tmp"))
                continue;
            if (d->d_type != DT_REG && d->d_type != DT_UNKNOWN && d->d_type != DT_LNK)
                continue;
            if (is_stale(fd, d->d_name, len) && unlinkat(fd, d->d_name, 0) == 0)
                removed++;
        }
    }
    close(fd);
    return removed;
}

int safe_output_open(struct safe_output *o, const char *path, const char **why)
{
    memset(o, 0, sizeof(*o));
    o->dirfd = o->fd = -1;
    set_why(why, NULL);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || strlen(base) >= sizeof(o->name))
        return *base ? -ENAMETOOLONG : -EISDIR;
    util_strlcpy(o->name, base, sizeof(o->name));
    char dir[4096];
    if (!slash) {
        util_strlcpy(dir, ".", sizeof(dir));
    } else {
        size_t dl = slash == path ? 1 : (size_t)(slash - path);
        if (dl >= sizeof(dir))
            return -ENAMETOOLONG;
        memcpy(dir, path, dl);
        dir[dl] = '\0';
    }
    o->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (o->dirfd < 0)
        return -errno;
    int rc = safe_target_check(o->dirfd, o->name, why);
    if (rc == 0)
        rc = safe_tmp_create(o->dirfd, o->name, o->tmp_name, sizeof(o->tmp_name));
    if (rc < 0) {
        o->tmp_name[0] = '\0';
        close(o->dirfd);
        o->dirfd = -1;
        return rc;
    }
    o->fd = rc;
    return 0;
}

int safe_output_commit(struct safe_output *o, const char **why)
{
    int rc = safe_tmp_commit(o->dirfd, o->tmp_name, o->name, why);
    close(o->dirfd);
    o->dirfd = -1;
    return rc;
}

void safe_output_abort(struct safe_output *o)
{
    if (o->dirfd >= 0) {
        safe_tmp_discard(o->dirfd, o->tmp_name);
        close(o->dirfd);
    }
    o->dirfd = -1;
}
