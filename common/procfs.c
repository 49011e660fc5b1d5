/*
 * Implementation of common/procfs.h: raw open/read, no stdio, no malloc
 * (the shim reads /proc/self/stat from its snapshot thread).
 */
#include "procfs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Large enough for any stat line (52 numeric fields + a 16-byte comm). */
#define STAT_TEXT_MAX 1024

ssize_t procfs_read_file(const char *path, char *buf, size_t cap)
{
    if (!cap)
        return -EINVAL;
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    int err = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            err = -errno;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return err && !len ? err : (ssize_t)len;
}

static uint64_t number(const char **p)
{
    uint64_t v = 0;
    if (**p == '-')
        (*p)++;
    while (**p >= '0' && **p <= '9')
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

int procfs_parse_stat(const char *text, struct procfs_stat *st)
{
    memset(st, 0, sizeof(*st));
    const char *p = strrchr(text, ')'); /* the command name may contain anything */
    if (!p || p[1] != ' ' || !p[2])
        return -EINVAL;
    st->state = p[2];
    p += 3; /* after the state: field 4 next */
    for (int field = 4; field <= 28; field++) {
        if (*p != ' ')
            return field > 4 ? 0 : -EINVAL; /* an older kernel's shorter line */
        p++;
        uint64_t v = number(&p);
        switch (field) {
        case 4:
            st->ppid = (int)v;
            break;
        case 12:
            st->majflt = v;
            break;
        case 14:
            st->utime = v;
            break;
        case 15:
            st->stime = v;
            break;
        case 20:
            st->threads = v;
            break;
        case 22:
            st->starttime = v;
            break;
        case 28:
            st->startstack = v;
            break;
        default:
            break;
        }
    }
    return 0;
}

int procfs_read_stat_path(const char *path, struct procfs_stat *st)
{
    char buf[STAT_TEXT_MAX];
    ssize_t n = procfs_read_file(path, buf, sizeof(buf));
    if (n <= 0) {
        memset(st, 0, sizeof(*st));
        return n < 0 ? (int)n : -ESRCH;
    }
    return procfs_parse_stat(buf, st);
}

int procfs_read_stat(int pid, struct procfs_stat *st)
{
    char path[64] = "/proc/self/stat";
    if (pid > 0) {
        size_t len = util_strlcpy(path, "/proc/", sizeof(path));
        len += util_u64_to_dec((uint64_t)pid, path + len, sizeof(path) - len);
        util_strlcpy(path + len, "/stat", sizeof(path) - len);
    }
    return procfs_read_stat_path(path, st);
}

uint64_t procfs_image_id(int pid)
{
    char path[64] = "/proc/self/exe";
    if (pid > 0) {
        size_t len = util_strlcpy(path, "/proc/", sizeof(path));
        len += util_u64_to_dec((uint64_t)pid, path + len, sizeof(path) - len);
        util_strlcpy(path + len, "/exe", sizeof(path) - len);
    }
    struct procfs_stat st;
    struct stat exe;
    if (procfs_read_stat(pid, &st) < 0 || procfs_stat_gone(&st) || stat(path, &exe) < 0)
        return 0;
    return st.startstack ^ ((uint64_t)exe.st_ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)exe.st_dev;
}

uint64_t procfs_blocked_sp(pid_t tid)
{
    char path[80] = "/proc/thread-self/../";
    size_t len = strlen(path);
    len += util_u64_to_dec((uint64_t)tid, path + len, sizeof(path) - len);
    util_strlcpy(path + len, "/syscall", sizeof(path) - len);
    return procfs_blocked_sp_path(path);
}

uint64_t procfs_blocked_sp_path(const char *path)
{
    char buf[256];
    if (procfs_read_file(path, buf, sizeof(buf)) <= 0)
        return 0;
    const char *fields[16];
    int nf = 0;
    for (char *s = buf; *s && nf < 16;) {
        while (*s == ' ' || *s == '\n')
            s++;
        if (!*s)
            break;
        fields[nf++] = s;
        while (*s && *s != ' ' && *s != '\n')
            s++;
    }
    if (nf < 3 || fields[nf - 2][0] != '0' || fields[nf - 2][1] != 'x')
        return 0;
    uint64_t v = 0;
    for (const char *p = fields[nf - 2] + 2;; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v * 16 + (uint64_t)d;
    }
}

size_t procfs_list_threads(pid_t *tids, size_t cap)
{
    int fd = open("/proc/thread-self/..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t n = 0;
    char buf[4096] __attribute__((aligned(8)));
    long got;
    while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < got;) {
            const struct util_dirent64 *de = (const void *)(buf + off);
            long tid = 0;
            const char *s = de->d_name;
            for (; *s >= '0' && *s <= '9'; s++)
                tid = tid * 10 + (*s - '0');
            if (!*s && tid > 0 && n < cap)
                tids[n++] = (pid_t)tid;
            off += de->d_reclen;
        }
    }
    close(fd);
    return n;
}
