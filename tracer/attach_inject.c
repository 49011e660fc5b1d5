/*
 * `leakaudit attach --inject -p PID`: the shim loaded into the running
 * process (tracer/inject.c makes it dlopen libleakaudit.so and call
 * leakaudit_inject_start; allocshim/inject.c patches its imports), writing
 * the same snapshot series as `leakaudit run`, from inside the target, at
 * the shim's cost instead of a uprobe trap per call. At the end
 * (--duration, Ctrl-C, SIGTERM) leakaudit_inject_stop writes the final
 * snapshot and puts every patched import back; the library stays mapped,
 * dormant, and a later attach reuses it.
 *
 * The snapshots are written by the target itself, so the output directory
 * must be the target's: it is created 0700 and given to the target's user,
 * or, if it exists, must already belong to that user.
 */
#include "inject.h"
#include "tracer.h"

#include "allocators.h"
#include "audit_options.h"
#include "cli/cli.h"
#include "procfs.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int inject_fail(const char *what, const char *why)
{
    fprintf(stderr, "leakaudit attach --inject: %s%s\n", what, why ? why : "");
    return CLI_EXIT_ERROR;
}

static int gone(int pid)
{
    struct procfs_stat st;
    return procfs_read_stat(pid, &st) < 0 || procfs_stat_gone(&st);
}

/* Gone, or on its way out: a process in exit lets go of its memory (then
 * /proc/PID/exe no longer resolves) and of its root directory (nor does
 * /proc/PID/root) a moment before it becomes a zombie. */
static int exiting(int pid)
{
    char path[64], buf[8];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/exe", pid);
    if (gone(pid) || (readlink(path, buf, sizeof(buf)) < 0 && errno == ENOENT))
        return 1;
    snprintf(path, sizeof(path), "/proc/%d/root/", pid);
    return stat(path, &st) < 0 && errno == ENOENT;
}

static int exited_while_attaching(int pid)
{
    char why[64];
    snprintf(why, sizeof(why), "pid %d exited while attaching", pid);
    return inject_fail(why, NULL);
}

/* ERR, or what explains it when the target has exited meanwhile. */
static int fail_or_gone(int pid, const char *err)
{
    return exiting(pid) ? exited_while_attaching(pid) : inject_fail(err, NULL);
}

/* The target's effective uid and gid (/proc/PID/status). */
static int target_ids(int pid, uid_t *uid, gid_t *gid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    int have = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned r, e;
        if (sscanf(line, "Uid: %u %u", &r, &e) == 2)
            *uid = e, have |= 1;
        else if (sscanf(line, "Gid: %u %u", &r, &e) == 2)
            *gid = e, have |= 2;
    }
    fclose(f);
    return have == 3 ? 0 : -EINVAL;
}

/* DIR made absolute, created 0700 for the target's user, or checked to be
 * that user's. */
static int prepare_out_dir(const struct trc_opts *o, char *abs, size_t cap)
{
    uid_t uid = 0;
    gid_t gid = 0;
    int rc = target_ids(o->pid, &uid, &gid);
    if (rc < 0)
        return fail_or_gone(o->pid, "cannot read the target's user");
    if (mkdir(o->out_dir, 0700) == 0) {
        if (chown(o->out_dir, uid, gid) < 0)
            return inject_fail("chown of the output directory: ", strerror(errno));
    } else if (errno != EEXIST) {
        fprintf(stderr, "leakaudit attach --inject: output directory %s: %s\n", o->out_dir,
                strerror(errno));
        return CLI_EXIT_ERROR;
    }
    struct stat st;
    if (lstat(o->out_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return inject_fail("the output directory is not a directory: ", o->out_dir);
    if (st.st_uid != uid && !o->allow_shared_dir) {
        fprintf(stderr,
                "leakaudit attach --inject: output directory %s belongs to uid %u; the target "
                "(uid %u) writes the snapshots itself: use a new directory\n",
                o->out_dir, (unsigned)st.st_uid, (unsigned)uid);
        return CLI_EXIT_ERROR;
    }
    if (!realpath(o->out_dir, abs) || strlen(abs) >= cap)
        return inject_fail("cannot resolve the output directory: ", strerror(errno));
    return 0;
}

/* The shim's settings, as the environment of `leakaudit run` would hold them;
 * 0, or -ENOSPC when they do not fit in cap (long resource specs). */
static int settings_text(const struct trc_opts *o, const char *dir, char *out, size_t cap)
{
    size_t n = 0;
#define ADD(...) n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__)
    ADD("%s=%s\n", audit_env(AUDIT_OUT), dir);
    ADD("%s=%llums\n", audit_env(AUDIT_INTERVAL), (unsigned long long)o->interval_ms);
    ADD("%s=%s\n", audit_env(AUDIT_MODE), o->mode == SNAP_MODE_SAMPLED ? "sampled" : "full");
    ADD("%s=%s\n", audit_env(AUDIT_UNWIND), o->unwind == SNAP_UNWIND_FP ? "fp" : "dwarf");
    ADD("%s=%u\n", audit_env(AUDIT_DEPTH), o->stack_depth);
    ADD("%s=%s\n", audit_env(AUDIT_TRACK),
        o->heap && o->fds ? "heap,fd,mmap"
        : o->heap         ? "heap"
                          : "fd,mmap");
    if (o->reachability != TRC_REACH_OFF && o->heap && o->mode != SNAP_MODE_SAMPLED) {
        /* the scan needs the heap from before the attach (glibc, walked) */
        ADD("%s=on\n", audit_env(AUDIT_REACHABILITY));
        ADD("LEAKAUDIT_INJECT_REACH=%s\n",
            o->reachability == TRC_REACH_ALWAYS ? "always" : "detach");
    }
    if (o->allow_shared_dir)
        ADD("%s=1\n", audit_env(AUDIT_ALLOW_SHARED_DIR));
    if (o->max_disk)
        ADD("%s=%llu\n", audit_env(AUDIT_MAX_DISK), (unsigned long long)o->max_disk);
    if (o->track_specs) /* checked by attach_cmd.c, lines joined with '|' */
        ADD("%s=%s\n", audit_env(AUDIT_TRACK_RESOURCES), o->track_specs);
    ADD("%s=1\n", audit_env(AUDIT_QUIET));
#undef ADD
    return n < cap ? 0 : -ENOSPC;
}

/* IMAGE: 0 for the first call, then the program image it was made in. */
static int call(const struct trc_opts *o, uint64_t image, const char *lib, const char *fn,
                const char *arg, struct trc_inject_result *r)
{
    char err[512];
    if (trc_inject_call_in(o->pid, image, lib, fn, arg, r, err, sizeof(err)) < 0)
        return fail_or_gone(o->pid, err);
    return 0;
}

/* 1 when the target's malloc is defined in its executable (an allocator
 * linked in statically): its calls there are not imports, GOT patching
 * cannot see them. */
static int allocator_in_executable(int pid, char *name, size_t cap)
{
    struct trc_allocator *a = calloc(1, sizeof(*a));
    char err[256], exe[PATH_MAX], link[64];
    int in_exe = 0;
    snprintf(link, sizeof(link), "/proc/%d/exe", pid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    if (a && n > 0 && trc_find_allocator(pid, a, err, sizeof(err)) == 0) {
        exe[n] = 0;
        in_exe = !strcmp(a->module, exe);
        snprintf(name, cap, "%s", a->name);
    }
    free(a);
    return in_exe;
}

/* Whether pid sees, at path, the file we see there: the library it is to
 * load and the directory its shim writes to must be at the same paths in
 * its mount namespace. */
static int seen_alike(int pid, const char *path)
{
    char there[PATH_MAX + 64];
    struct stat ours, theirs;
    snprintf(there, sizeof(there), "/proc/%d/root%s", pid, path);
    return stat(path, &ours) == 0 && stat(there, &theirs) == 0 && ours.st_dev == theirs.st_dev &&
           ours.st_ino == theirs.st_ino;
}

/* Newest modification time (ns, realtime) of a file in dir, 0 if none. */
static uint64_t newest_file_ns(const char *dir)
{
    DIR *d = opendir(dir);
    uint64_t best = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
            S_ISREG(st.st_mode)) {
            uint64_t t = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
            if (t > best)
                best = t;
        }
    }
    if (d)
        closedir(d);
    return best;
}

/* A single-threaded target keeps no snapshot thread (allocshim/inject.c):
 * its snapshots come from its allocations. One that has stopped allocating
 * is asked, once an interval has gone by without a snapshot, to take the
 * one that is due -- a call made at a safe point like the attach's. */
static void nudge_if_idle(const struct trc_opts *o, uint64_t image, const char *lib,
                          const char *dir, uint64_t *next_ns)
{
    uint64_t now = util_monotonic_ns();
    if (!o->interval_ms || now < *next_ns)
        return;
    uint64_t period = o->interval_ms * 1000000ull;
    *next_ns = now + period;
    struct procfs_stat st;
    if (procfs_read_stat(o->pid, &st) < 0 || st.threads != 1 ||
        util_realtime_ns() - newest_file_ns(dir) < period)
        return;
    struct trc_inject_result r;
    char err[512];
    if (trc_inject_call_in(o->pid, image, lib, "leakaudit_inject_poll", NULL, &r, err,
                           sizeof(err)) < 0 &&
        o->verbose)
        fprintf(stderr, "leakaudit: pid %d is idle and could not be asked for a snapshot: %s\n",
                o->pid, err);
}

int trc_attach_inject(struct trc_opts *o, volatile int *stop)
{
    char err[512], lib[PATH_MAX], dir[PATH_MAX], settings[AUDIT_INJECT_SETTINGS_MAX],
        alloc[64] = "";
    if (gone(o->pid)) {
        snprintf(err, sizeof(err), "%d", o->pid);
        return inject_fail("no such process: ", err);
    }
    if (trc_may_trace(o->pid, err, sizeof(err)) < 0)
        return fail_or_gone(o->pid, err);
    char who[96];
    if (trc_traced_by(o->pid, who, sizeof(who)) > 0) {
        fprintf(stderr,
                "leakaudit attach --inject: pid %d is traced by %s, and a process has one ptrace "
                "tracer: detach it, or attach without --inject (eBPF)\n",
                o->pid, who);
        return CLI_EXIT_ERROR;
    }
    struct procfs_stat ps;
    if (procfs_read_stat(o->pid, &ps) == 0 && ps.state == 'T') {
        /* It cannot run to a safe point, and runs the injected call only if
         * resumed: which would undo a stop someone wanted. */
        fprintf(stderr,
                "leakaudit attach --inject: pid %d is stopped (SIGSTOP or a job-control stop), "
                "and the injection runs code in it: continue it (kill -CONT %d), or attach "
                "without --inject (eBPF)\n",
                o->pid, o->pid);
        return CLI_EXIT_ERROR;
    }
    if (o->heap && allocator_in_executable(o->pid, alloc, sizeof(alloc))) {
        fprintf(stderr,
                "leakaudit attach --inject: pid %d's allocator (%s) is linked into its executable: "
                "calls to it are not imports, which is all --inject can hook; using the eBPF "
                "tracer instead\n",
                o->pid, alloc);
        return TRC_INJECT_FALLBACK;
    }
    if (alloc_find_shim(lib, sizeof(lib)) < 0)
        return inject_fail("libleakaudit.so not found next to this binary (set LEAKAUDIT_SHIM)",
                           NULL);
    int rc = prepare_out_dir(o, dir, sizeof(dir));
    if (rc)
        return rc;
    const char *unseen = !seen_alike(o->pid, lib) ? lib : !seen_alike(o->pid, dir) ? dir : NULL;
    if (unseen && exiting(o->pid)) /* not another namespace: no namespace any more */
        return exited_while_attaching(o->pid);
    if (unseen) {
        fprintf(stderr,
                "leakaudit attach --inject: pid %d does not see %s at that path (another mount "
                "namespace: a container?), and the injected shim would load or write there; "
                "using the eBPF tracer instead\n",
                o->pid, unseen);
        return TRC_INJECT_FALLBACK;
    }
    if (settings_text(o, dir, settings, sizeof(settings)) < 0) {
        fprintf(stderr,
                "leakaudit attach --inject: the settings (resource specs: %zu bytes) exceed "
                "the %zu bytes passed to the target; use fewer or shorter specs\n",
                o->track_specs ? strlen(o->track_specs) : (size_t)0, sizeof(settings));
        return CLI_EXIT_ERROR;
    }
    struct trc_inject_result r;
    if (call(o, 0, lib, "leakaudit_inject_start", settings, &r))
        return CLI_EXIT_ERROR;
    if (r.call_ret == -EALREADY)
        return inject_fail("the target is already audited (started under the shim, or attached "
                           "by another leakaudit)",
                           NULL);
    if (r.call_ret < 0)
        return inject_fail("the shim could not start in the target: ", strerror((int)-r.call_ret));
    struct procfs_stat st;
    int single = procfs_read_stat(o->pid, &st) == 0 && st.threads == 1;
    if (!o->quiet_inject)
        fprintf(stderr,
                "leakaudit: injected into pid %d (thread %d)%s; snapshots every %llu ms in %s%s\n",
                o->pid, (int)r.tid, r.already ? ", reusing the library loaded before" : "",
                (unsigned long long)o->interval_ms, dir,
                single ? " (single-threaded: no thread of ours, glibc's malloc stays lock-free; "
                         "taken as it allocates, asked for while it is idle)"
                       : "");
    uint64_t start = util_monotonic_ns(), next_nudge = start + o->interval_ms * 1000000ull;
    uint64_t image = r.image;
    int execed = 0;
    while (!*stop && !gone(o->pid) && !execed) {
        if (o->duration_ms && util_monotonic_ns() - start >= o->duration_ms * 1000000ull)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        /* An exec unloads the shim with the rest of the program: the new
         * one is not ours to load it into. */
        uint64_t now = procfs_image_id(o->pid);
        execed = now && now != image;
        if (!execed)
            nudge_if_idle(o, image, lib, dir, &next_nudge);
    }
    if (execed) {
        fprintf(stderr,
                "leakaudit attach: pid %d ran exec: the program injected into has ended (its "
                "snapshots are in %s); attach again to follow the new program\n",
                o->pid, dir);
        return CLI_EXIT_OK;
    }
    if (gone(o->pid)) {
        if (!o->quiet_inject)
            fprintf(stderr, "leakaudit: pid %d exited; its snapshots are in %s\n", o->pid, dir);
        return CLI_EXIT_OK;
    }
    if (call(o, image, lib, "leakaudit_inject_stop", NULL, &r))
        return CLI_EXIT_ERROR;
    if (!o->quiet_inject)
        fprintf(stderr, "leakaudit: detached from pid %d (imports restored); snapshots in %s\n",
                o->pid, dir);
    return r.call_ret < 0 ? inject_fail("the shim was not attached at the end", NULL) : CLI_EXIT_OK;
}
