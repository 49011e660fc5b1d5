/*
 * One /proc sample of the soak target: RSS, PSS and anonymous memory from
 * /proc/PID/smaps_rollup (one read, cheap even for big processes), CPU time,
 * threads and major faults from /proc/PID/stat, open fds via fdscan.
 */
#include "fdscan.h"
#include "procfs.h"
#include "soak.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROLLUP_BUF 4096
#define KIB        1024ull

static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    return procfs_read_file(path, buf, cap);
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
    struct procfs_stat st;
    int rc = procfs_read_stat(pid, &st);
    if (rc < 0)
        return rc == -EINVAL ? -ESRCH : rc;
    /* A zombie has no memory left to sample: it is gone for our purposes. */
    if (procfs_stat_gone(&st))
        return -ESRCH;
    static const long ticks_default = 100;
    long ticks = sysconf(_SC_CLK_TCK);
    if (ticks <= 0)
        ticks = ticks_default;
    s->major_faults = st.majflt;
    s->threads = (uint32_t)st.threads;
    uint64_t utime = st.utime, stime = st.stime;
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
