/*
 * May this caller trace that process? Loading BPF programs needs CAP_BPF and
 * CAP_PERFMON (or root), but those say nothing about *which* process: with
 * them alone `attach` would read another user's fds, RSS and heap words.
 * The tracer therefore applies the kernel's own rule for ptrace
 * (PTRACE_MODE_ATTACH_REALCREDS, kernel/ptrace.c): the caller's real uid
 * equals the target's real, effective and saved uids and its real gid the
 * target's three gids, and the target is dumpable -- or the caller has
 * CAP_SYS_PTRACE. Whatever other capabilities it holds.
 */
#include "tracer.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAP_SYS_PTRACE_BIT 19

#define CAP_SYS_ADMIN_BIT 21

static unsigned long long effective_caps(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    unsigned long long caps = 0;
    char line[256];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "CapEff: %llx", &caps) == 1)
            break;
    if (f)
        fclose(f);
    return caps;
}

/* Reads the Uid: or Gid: line of /proc/PID/status (real, effective, saved). */
static int read_ids(int pid, const char *key, unsigned ids[3])
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = 0;
    size_t kl = strlen(key);
    while (!found && fgets(line, sizeof(line), f))
        if (!strncmp(line, key, kl) &&
            sscanf(line + kl, "%u %u %u", &ids[0], &ids[1], &ids[2]) == 3)
            found = 1;
    fclose(f);
    return found ? 0 : -1;
}

int trc_may_trace(int pid, char *err, size_t errlen)
{
    if (effective_caps() & (1ull << CAP_SYS_PTRACE_BIT))
        return 0;
    unsigned uids[3], gids[3];
    if (read_ids(pid, "Uid:", uids) < 0 || read_ids(pid, "Gid:", gids) < 0) {
        snprintf(err, errlen, "pid %d: cannot read its credentials", pid);
        return -1;
    }
    uid_t me = getuid();
    gid_t my_gid = getgid();
    for (int i = 0; i < 3; i++) {
        if (uids[i] != me || gids[i] != my_gid) {
            snprintf(err, errlen,
                     "permission denied: pid %d runs as uid %u, you as uid %u; attaching "
                     "needs the same user (real uid and gid) or CAP_SYS_PTRACE, as ptrace does",
                     pid, uids[i], (unsigned)me);
            return -1;
        }
    }
    /* A process that is not dumpable (it changed credentials, or asked
     * with prctl) has its /proc/PID owned by root, and ptrace refuses it. */
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d", pid);
    if (stat(path, &st) == 0 && st.st_uid != me) {
        snprintf(err, errlen,
                 "permission denied: pid %d is not dumpable (it changed credentials); "
                 "attaching needs CAP_SYS_PTRACE, as ptrace does",
                 pid);
        return -1;
    }
    return 0;
}

int trc_traced_by(int pid, char *who, size_t len)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    int tracer = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "TracerPid: %d", &tracer) == 1)
            break;
    if (f)
        fclose(f);
    if (tracer <= 0)
        return 0;
    char comm[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/comm", tracer);
    f = fopen(path, "re");
    if (f && fgets(comm, sizeof(comm), f))
        comm[strcspn(comm, "\n")] = 0;
    if (f)
        fclose(f);
    snprintf(who, len, comm[0] ? "pid %d (%s)" : "pid %d", tracer, comm);
    return tracer;
}

const char *trc_uprobe_permission_hint(void)
{
    if (effective_caps() & (1ull << CAP_SYS_ADMIN_BIT))
        return "";
    return " (uprobes, used for heap tracking, need CAP_SYS_ADMIN on this kernel besides "
           "CAP_BPF and CAP_PERFMON; --no-heap traces fds and mmaps without it)";
}
