/*
 * One /proc sample of the soak target: RSS, PSS and anonymous memory from
 * /proc/PID/smaps_rollup (one read, cheap even for big processes), CPU time,
 * threads and major faults from /proc/PID/stat, open fds via fdscan.
 */
#include "fdscan.h"
#include "soak.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROLLUP_BUF 4096
#define STAT_BUF   2048
#define KIB        1024ull

/* /proc/PID/stat fields counted from the one after "(comm)" (field 3). */
#define STAT_IDX_MAJFLT  9  /* field 12 */
#define STAT_IDX_UTIME   11 /* field 14 */
#define STAT_IDX_STIME   12 /* field 15 */
#define STAT_IDX_THREADS 17 /* field 20 */

static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static uint64_t rollup_kib(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, klen) && p[klen] == ':')
            return strtoull(p + klen + 1, NULL, 10) * KIB;
    return 0;
}

static int count_fd(int fd, const char *target, void *arg)
{
    (void)fd;
    (void)target;
    (void)arg;
    return 0;
}

int soak_sample_proc(pid_t pid, struct soak_sample *s)
{
    char buf[ROLLUP_BUF];
    ssize_t n = read_proc(pid, "stat", buf, STAT_BUF);
    if (n <= 0)
        return n < 0 ? (int)n : -ESRCH;
    /* A zombie has no memory left to sample: it is gone for our purposes. */
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return -ESRCH;
    p += 2;
    static const long ticks_default = 100;
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0)
        ticks = ticks_default;
    uint64_t utime = 0, stime = 0;
    for (int idx = 0; *p; idx++) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (idx == STAT_IDX_MAJFLT)
            s->major_faults = v;
        else if (idx == STAT_IDX_UTIME)
            utime = v;
        else if (idx == STAT_IDX_STIME)
            stime = v;
        else if (idx == STAT_IDX_THREADS) {
            s->threads = (uint32_t)v;
            break;
        }
        p = strchr(p, ' ');
        if (!p)
            break;
        p++;
    }
    s->cpu_s = (double)(utime + stime) / (double)ticks;

    if (read_proc(pid, "smaps_rollup", buf, sizeof(buf)) > 0) {
        s->rss = rollup_kib(buf, "Rss");
        s->pss = rollup_kib(buf, "Pss");
        s->anon = rollup_kib(buf, "Anonymous");
    }
    int fds = fdscan_foreach(pid, count_fd, NULL);
    s->fds = fds >= 0 ? fds : -1;
    return 0;
}
