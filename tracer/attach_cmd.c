/*
 * `leakaudit attach -p PID` (options: attach_opts.c): the checks that turn
 * every reason we cannot attach into one clear line, and the session loop:
 * attach (again, when the target ran exec meanwhile), take snapshots every
 * --interval, show a status line, detach on Ctrl-C / SIGTERM / --duration /
 * target exit or exec, always with a final snapshot and with every probe
 * destroyed.
 */
#include "cli/cli.h"
#include "reports/report.h"
#include "tracer.h"
#include "procfs.h"
#include "safefile.h"
#include "util.h"

#include "bpf/trace_events.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STATUS_PERIOD_MS 1000
#define LOOP_MAX_WAIT_MS 200
/* Sampled mode: the allocation side is probed SAMPLE_ON_MS of every
 * SAMPLE_PERIOD_MS; frees are always probed (docs/attach.md). Detaching a
 * set of uprobes takes ~0.1 s per probe, hence the long period. */
#define SAMPLE_PERIOD_MS  10000
#define SAMPLE_ON_MS      1000
#define CAP_SYS_ADMIN_BIT 21
#define CAP_PERFMON_BIT   38
#define CAP_BPF_BIT       39
#define VMLINUX_BTF       "/sys/kernel/btf/vmlinux"
static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t request_signal; /* SIGUSR2: a snapshot with a scan now */

static void on_request(int sig)
{
    request_signal = sig;
}

static void on_stop(int sig)
{
    stop_signal = sig;
}

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "leakaudit attach: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return CLI_EXIT_ERROR;
}

/* Field 22 of /proc/PID/stat: tells a pid reused by another process apart. */
static unsigned long long start_time_of(int pid)
{
    struct procfs_stat st;
    if (procfs_read_stat(pid, &st) < 0 || procfs_stat_gone(&st))
        return 0; /* gone, or exited and not yet reaped: gone for us */
    return st.starttime;
}

static int has_capabilities(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return 0;
    char line[256];
    unsigned long long caps = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "CapEff: %llx", &caps) == 1)
            break;
    fclose(f);
    if (caps & (1ull << CAP_SYS_ADMIN_BIT))
        return 1;
    return (caps & (1ull << CAP_BPF_BIT)) && (caps & (1ull << CAP_PERFMON_BIT));
}

static int target_alive(int pid, unsigned long long start)
{
    return start_time_of(pid) == start;
}

struct session {
    struct trc_opts o;
    struct trc_allocator alloc;
    struct trc_probes *probes;
    struct trc_res *res;   /* paired C-API resources, NULL when none are tracked */
    struct trc_kmem *kmem; /* kernel memory (--kmem), else NULL */
    struct trc_drain *drain;
    struct trc_writer *writer;
    unsigned long long start;
    uint64_t image; /* procfs_image_id() when the attach began */
    int execed;     /* the attach ended because the target ran exec */
    int pidfd;
    uint64_t last_events, last_status_ns;
    uint64_t on_ns, on_since;       /* sampled mode: time with the allocation side attached */
    uint64_t frees_on, frees_at_on; /* sampled mode: free calls seen while it was */
    uint64_t attach_mono;
    uint64_t unwind_bad_seen; /* TRC_C_UNWIND_BAD_FRAME at the last refresh */
    char err[TRC_ERR_LEN];
};

/* attach_session's answer when the target ran exec while we attached: the
 * allocator, tables and probes were the old program's. */
#define ATTACH_AGAIN (-2)
/* How long a chain of execs is followed before attach gives up. */
#define ATTACH_EXEC_PATIENCE_NS (10 * 1000000000ull)

/* The target ran exec since the attach began. */
static int execed(const struct session *s)
{
    uint64_t now = procfs_image_id(s->o.pid);
    return now && now != s->image && target_alive(s->o.pid, s->start);
}

static void status_line(struct session *s, int final)
{
    uint64_t events, live, fds, drops, now = util_monotonic_ns();
    trc_drain_status(s->drain, &events, &live, &fds, &drops);
    double secs = (double)(now - s->last_status_ns) / 1e9;
    double rate = secs > 0 ? (double)(events - s->last_events) / secs : 0;
    s->last_events = events;
    s->last_status_ns = now;
    char b[32];
    fprintf(stderr, "\r\033[Kleakaudit: pid %d: %.0f events/s, live %s, %llu fds, %llu drops%s",
            s->o.pid, rate, rpt_fmt_bytes((double)live, b, sizeof(b)), (unsigned long long)fds,
            (unsigned long long)drops, final ? "\n" : "");
    fflush(stderr);
}

/*
 * Sampled mode's scale: frees are probed all the time, allocations only in
 * the on-windows, so (all frees) / (frees in on-windows) is the factor from
 * sampled to estimated totals. It stays right when probing slows the target
 * down in the on-windows, which a ratio of times would not. Falls back to
 * the time ratio for programs that hardly free.
 */
#define SAMPLE_MIN_FREES 1000
static double sample_scale(struct session *s)
{
    uint64_t now = util_monotonic_ns();
    uint64_t frees = trc_drain_counter(s->drain, TRC_C_FREE_CALLS);
    uint64_t frees_on = s->frees_on + (s->on_since ? frees - s->frees_at_on : 0);
    if (frees_on >= SAMPLE_MIN_FREES)
        return (double)frees / (double)frees_on;
    uint64_t on = s->on_ns + (s->on_since ? now - s->on_since : 0);
    return on ? (double)(now - s->attach_mono) / (double)on : 1.0;
}

static int snapshot(struct session *s, uint32_t trigger, int alive)
{
    if (s->o.mode == SNAP_MODE_SAMPLED)
        trc_drain_set_scale(s->drain, sample_scale(s));
    if (s->o.verbose && s->o.mode == SNAP_MODE_SAMPLED)
        fprintf(stderr, "leakaudit: sampled: scale %.2f (frees %llu, in windows %llu)\n",
                sample_scale(s), (unsigned long long)trc_drain_counter(s->drain, TRC_C_FREE_CALLS),
                (unsigned long long)s->frees_on);
    /* reachability needs every allocation (full mode), a live target, and
     * to be its one ptrace tracer: a scan that cannot run is counted in
     * this very snapshot */
    int scan = alive && s->o.heap && s->o.mode == SNAP_MODE_FULL &&
               (s->o.reachability == TRC_REACH_ALWAYS ||
                (s->o.reachability == TRC_REACH_DETACH && trigger != SNAP_TRIGGER_INTERVAL));
    char who[96];
    if (scan && trc_traced_by(s->o.pid, who, sizeof(who)) > 0) {
        fprintf(stderr,
                "%sleakaudit attach: reachability: skipped: pid %d is traced by %s, and a "
                "process has one ptrace tracer (the scan stops it with ptrace)\n",
                s->o.progress ? "\n" : "", s->o.pid, who);
        trc_drain_count_loss(s->drain, SNAP_LOSS_REACH_SKIPPED);
        scan = 0;
    }
    trc_drain_collect(s->drain, alive);
    trc_res_collect(s->res, s->drain);
    trc_kmem_collect(s->kmem, s->drain);
    struct trc_view v = {0};
    trc_drain_view(s->drain, &v);
    trc_res_view(s->res, &v);
    trc_kmem_view(s->kmem, &v);
    struct trc_reach reach = {0};
    if (scan) {
        if (trc_reach_scan(s->drain, s->probes, s->o.pid, &reach, s->err, sizeof(s->err)) == 0) {
            v.reach = &reach;
        } else {
            fprintf(stderr, "%sleakaudit attach: %s\n", s->o.progress ? "\n" : "", s->err);
            trc_drain_count_loss(s->drain, SNAP_LOSS_REACH_SKIPPED); /* in the next one */
        }
    }
    int rc = trc_writer_write(s->writer, &v, trigger, s->err, sizeof(s->err));
    trc_reach_free(&reach);
    if (rc < 0)
        fprintf(stderr, "%sleakaudit attach: %s\n", s->o.progress ? "\n" : "", s->err);
    return rc;
}

/*
 * A window counts from the moment every allocation probe is attached to
 * the moment the first one starts to go (attaching is quick; detaching
 * takes ~0.1 s per probe, and malloc's entry probe goes first).
 */
static void set_alloc_side(struct session *s, int on)
{
    uint64_t t0 = util_monotonic_ns();
    uint64_t frees = trc_drain_counter(s->drain, TRC_C_FREE_CALLS);
    if (!on && s->on_since) {
        s->on_ns += t0 - s->on_since;
        s->frees_on += frees - s->frees_at_on;
        s->on_since = 0;
    }
    if (trc_probes_set_alloc_side(s->probes, on) < 0)
        return; /* stays off; the scale accounts for it */
    uint64_t t1 = util_monotonic_ns();
    if (s->o.verbose)
        fprintf(stderr, "leakaudit: sampled: allocation probes %s at +%.2fs (took %.2fs)\n",
                on ? "on" : "off", (double)(t0 - s->attach_mono) / 1e9, (double)(t1 - t0) / 1e9);
    if (on && !s->on_since) {
        s->on_since = t1;
        s->frees_at_on = trc_drain_counter(s->drain, TRC_C_FREE_CALLS);
    }
}

/*
 * Modules mapped since the attach (dlopen) get their unwind tables: at once
 * when the BPF walk met a frame outside every known mapping (the count went
 * up; at most every UNWIND_RETRY_MS, since garbage return addresses count
 * too), else once every UNWIND_POLL_MS. Reading /proc/PID/maps is cheap;
 * only new modules are compiled.
 */
#define UNWIND_RETRY_MS 100
#define UNWIND_POLL_MS  1000
static void refresh_unwind(struct session *s)
{
    struct trc_unwind *u = s->o.unwind_tables;
    if (!u)
        return;
    uint64_t since = trc_unwind_since_refresh_ns(u) / 1000000;
    if (since < UNWIND_RETRY_MS)
        return;
    uint64_t bad = trc_drain_counter(s->drain, TRC_C_UNWIND_BAD_FRAME);
    if (bad == s->unwind_bad_seen && since < UNWIND_POLL_MS)
        return;
    s->unwind_bad_seen = bad;
    if (trc_unwind_refresh(u) > 0 && s->o.verbose)
        fprintf(stderr, "%sleakaudit: %s\n", s->o.progress ? "\n" : "", trc_unwind_describe(u));
}

/* The session loop; returns the trigger that ended it. */
static uint32_t run_loop(struct session *s)
{
    uint64_t now = util_monotonic_ns();
    uint64_t next_snap = s->o.interval_ms ? now + s->o.interval_ms * 1000000ull : UINT64_MAX;
    uint64_t end = s->o.duration_ms ? now + s->o.duration_ms * 1000000ull : UINT64_MAX;
    uint64_t next_status = now + STATUS_PERIOD_MS * 1000000ull;
    uint64_t next_toggle =
        s->o.mode == SNAP_MODE_SAMPLED ? now + SAMPLE_ON_MS * 1000000ull : UINT64_MAX;
    int sample_on = 1;
    for (;;) {
        if (stop_signal)
            return SNAP_TRIGGER_SIGNAL;
        if (request_signal) {
            request_signal = 0;
            snapshot(s, SNAP_TRIGGER_REQUEST, 1);
        }
        now = util_monotonic_ns();
        if (now >= end)
            return SNAP_TRIGGER_DETACH;
        if (now >= next_toggle) {
            sample_on = !sample_on;
            set_alloc_side(s, sample_on);
            now = util_monotonic_ns(); /* switching takes a while */
            next_toggle =
                now + (sample_on ? SAMPLE_ON_MS : SAMPLE_PERIOD_MS - SAMPLE_ON_MS) * 1000000ull;
        }
        refresh_unwind(s);
        if (now >= next_snap) {
            snapshot(s, SNAP_TRIGGER_INTERVAL, 1);
            next_snap += s->o.interval_ms * 1000000ull;
            if (next_snap < now)
                next_snap = now + s->o.interval_ms * 1000000ull;
        }
        if (s->o.progress && now >= next_status) {
            status_line(s, 0);
            next_status = now + STATUS_PERIOD_MS * 1000000ull;
        }
        uint64_t wake = end;
        if (next_snap < wake)
            wake = next_snap;
        if (next_toggle < wake)
            wake = next_toggle;
        if (s->o.progress && next_status < wake)
            wake = next_status;
        uint64_t wait_ms = wake > now ? (wake - now + 999999) / 1000000 : 0;
        if (wait_ms > LOOP_MAX_WAIT_MS)
            wait_ms = LOOP_MAX_WAIT_MS;
        if (s->pidfd >= 0) {
            struct pollfd pfd = {.fd = s->pidfd, .events = POLLIN};
            if (poll(&pfd, 1, (int)wait_ms) > 0 && (pfd.revents & (POLLIN | POLLHUP)))
                return SNAP_TRIGGER_EXIT;
        } else {
            struct timespec ts = {(time_t)(wait_ms / 1000), (long)(wait_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            if (!target_alive(s->o.pid, s->start))
                return SNAP_TRIGGER_EXIT;
        }
        /* An exec ends the program we attached to as an exit does: its heap
         * is gone, and our probes and tables were for it. */
        if (execed(s)) {
            s->execed = 1;
            return SNAP_TRIGGER_EXIT;
        }
    }
}

static void default_out_dir(struct trc_opts *o)
{
    time_t t = time(NULL);
    struct tm tm;
    char stamp[32];
    localtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(o->out_dir, sizeof(o->out_dir), "leakaudit-%d-%s", o->pid, stamp);
}

/* The output directory is checked before anything is attached, so a refusal
 * costs the target nothing; temporaries of a killed earlier run go now. */
static int check_out_dir(const struct trc_opts *o)
{
    const char *why;
    int fd = safe_dir_open(o->out_dir, o->allow_shared_dir ? SAFE_DIR_SHARED : 0, &why);
    if (fd < 0) {
        fprintf(stderr, "leakaudit attach: output directory %s: %s\n", o->out_dir,
                why ? why : strerror(-fd));
        return -1;
    }
    safe_clean_stale_tmp(fd);
    close(fd);
    return 0;
}

/* Undoes attach_session, whatever part of it ran; the session can attach
 * again. */
static void cleanup(struct session *s)
{
    trc_kmem_close(s->kmem);     /* NULL-safe */
    trc_res_close(s->res);       /* NULL-safe */
    trc_probes_close(s->probes); /* NULL-safe; destroys every link and program */
    trc_drain_free(s->drain);
    trc_writer_free(s->writer);
    trc_unwind_close(s->o.unwind_tables); /* after every BPF object that shares its maps */
    s->o.unwind_tables = NULL;
    if (s->pidfd >= 0)
        close(s->pidfd);
    s->kmem = NULL;
    s->res = NULL;
    s->probes = NULL;
    s->drain = NULL;
    s->writer = NULL;
    s->pidfd = -1;
}

/* A process attached during or right after its exec may not have mapped
 * its executable and libraries yet: wait up to 2 s for an allocator. */
static int find_allocator(struct session *s)
{
    for (int tries = 0;; tries++) {
        int rc = trc_find_allocator(s->o.pid, &s->alloc, s->err, sizeof(s->err));
        if (rc != -EAGAIN)
            return rc;
        if (tries == 100 || !target_alive(s->o.pid, s->start)) {
            size_t l = strlen(s->err);
            snprintf(s->err + l, sizeof(s->err) - l, " (none appeared within 2 s)");
            return rc;
        }
        usleep(20 * 1000);
    }
}

static int attach_session(struct session *s)
{
    struct trc_opts *o = &s->o;
    char pidstr[16];
    snprintf(pidstr, sizeof(pidstr), "%d", o->pid);
    s->start = start_time_of(o->pid);
    s->image = procfs_image_id(o->pid);
    if (!s->start)
        return fail("no such process: %s%s", pidstr, "");
    if (o->pid == getpid())
        return fail("cannot attach to itself (pid %s)%s", pidstr, "");
    if (!has_capabilities())
        return fail("%s%s", "permission denied: needs root or CAP_BPF and CAP_PERFMON",
                    " (effective capabilities lack them)");
    if (trc_may_trace(o->pid, s->err, sizeof(s->err)) < 0)
        return fail("%s%s", s->err, "");
    if (access(VMLINUX_BTF, R_OK) != 0)
        return fail("kernel without BTF: %s is missing (needs CONFIG_DEBUG_INFO_BTF=y)%s",
                    VMLINUX_BTF, "");
    if (o->heap && find_allocator(s) < 0) {
        if (execed(s))
            return ATTACH_AGAIN;
        if (!target_alive(o->pid, s->start))
            return fail("pid %s exited while attaching%s", pidstr, "");
        return fail("pid %s: %s", pidstr, s->err);
    }
    if (check_out_dir(o) < 0)
        return CLI_EXIT_ERROR;
    s->pidfd = (int)syscall(SYS_pidfd_open, o->pid, 0);

    int rc = trc_drain_new(&s->drain, NULL, o);
    if (rc == 0)
        rc = trc_writer_new(&s->writer, o, o->heap ? s->alloc.name : NULL, util_realtime_ns());
    if (rc < 0)
        return fail("%s%s", "out of memory", "");
    if (o->unwind == SNAP_UNWIND_DWARF &&
        trc_unwind_open(&o->unwind_tables, o->pid, o->verbose, s->err, sizeof(s->err)) < 0) {
        if (execed(s))
            return ATTACH_AGAIN;
        if (!target_alive(o->pid, s->start))
            return fail("pid %s exited while attaching%s", pidstr, "");
        return fail("%s%s", s->err, "");
    }
    s->attach_mono = util_monotonic_ns();
    rc = trc_probes_open(&s->probes, o, &s->alloc, s->err, sizeof(s->err));
    if (rc == 0 && !target_alive(o->pid, s->start))
        rc = -ESRCH;
    if (rc < 0) {
        if (execed(s))
            return ATTACH_AGAIN;
        if (!target_alive(o->pid, s->start) || rc == -ESRCH)
            return fail("pid %s exited while attaching%s", pidstr, "");
        return fail("%s%s", s->err,
                    strstr(s->err, "uprobe") && strstr(s->err, "Permission denied")
                        ? trc_uprobe_permission_hint()
                        : "");
    }
    rc = trc_res_open(&s->res, o, s->err, sizeof(s->err));
    if (rc < 0) {
        if (execed(s))
            return ATTACH_AGAIN;
        if (!target_alive(o->pid, s->start))
            return fail("pid %s exited while attaching%s", pidstr, "");
        return fail("%s%s", s->err, "");
    }
    rc = trc_kmem_open(&s->kmem, o, s->err, sizeof(s->err));
    if (rc < 0)
        return execed(s) ? ATTACH_AGAIN : fail("%s%s", s->err, "");
    /* Everything above read the program the process ran when we began. */
    if (execed(s))
        return ATTACH_AGAIN;
    char who[96];
    if (o->reachability != TRC_REACH_OFF && !o->quiet_inject &&
        trc_traced_by(o->pid, who, sizeof(who)) > 0)
        fprintf(stderr,
                "leakaudit attach: pid %d is traced by %s: the reachability scan (which stops "
                "it with ptrace) is skipped while it is\n",
                o->pid, who);
    s->on_since = s->attach_mono;
    trc_drain_attach_probes(s->drain, s->probes);
    if (o->heap)
        trc_drain_set_allocator(s->drain, s->alloc.module);
    trc_drain_seed_fds(s->drain);
    if (o->verbose) {
        fprintf(stderr, "leakaudit: attached to pid %d: %s\n", o->pid,
                trc_probes_describe(s->probes));
        if (s->res)
            fprintf(stderr, "leakaudit:   %s\n", trc_res_describe(s->res));
        if (s->kmem)
            fprintf(stderr, "leakaudit:   %s\n", trc_kmem_describe(s->kmem));
        fprintf(stderr, "leakaudit:   stacks: %s%s\n",
                o->unwind_tables ? trc_unwind_describe(o->unwind_tables) : "frame pointers",
                o->unwind_tables ? "" : " (-u fp)");
        for (size_t i = 0; i < s->alloc.n; i++)
            fprintf(stderr, "leakaudit:   uprobe %s+0x%llx (%s+%u)\n", s->alloc.t[i].module,
                    (unsigned long long)s->alloc.t[i].offset, s->alloc.t[i].name,
                    s->alloc.t[i].shift);
    }
    return 0;
}

int cmd_attach(int argc, char **argv)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "leakaudit attach: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    s->pidfd = -1;
    int rc = trc_attach_parse_opts(argc, argv, &s->o);
    if (rc) {
        free(s->o.track_specs);
        free(s);
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int, old_term, old_hup;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    struct sigaction rq = {.sa_handler = on_request}, old_usr2;
    sigemptyset(&rq.sa_mask);
    sigaction(SIGUSR2, &rq, &old_usr2);
    stop_signal = 0;
    request_signal = 0;

    if (!s->o.out_dir[0])
        default_out_dir(&s->o);
    struct stat before;
    int dir_existed = lstat(s->o.out_dir, &before) == 0;
    if (s->o.inject) {
        rc = trc_attach_inject(&s->o, &stop_signal);
        if (rc != TRC_INJECT_FALLBACK)
            goto done;
    }
    /* A process caught in exec (a program started through env, a shell or
     * a wrapper script) is attached again, to what it runs now. */
    uint64_t began = util_monotonic_ns();
    while ((rc = attach_session(s)) == ATTACH_AGAIN) {
        cleanup(s);
        if (util_monotonic_ns() - began > ATTACH_EXEC_PATIENCE_NS) {
            char pidstr[16];
            snprintf(pidstr, sizeof(pidstr), "%d", s->o.pid);
            rc = fail("pid %s: still running exec after another 10 s of attaching%s", pidstr, "");
            break;
        }
        if (s->o.verbose)
            fprintf(stderr,
                    "leakaudit: pid %d ran exec while we attached; attaching to the new "
                    "program\n",
                    s->o.pid);
    }
    if (rc == 0) {
        s->last_status_ns = util_monotonic_ns();
        uint32_t trigger = run_loop(s);
        int alive = trigger != SNAP_TRIGGER_EXIT && target_alive(s->o.pid, s->start);
        if (s->o.progress)
            status_line(s, 1);
        rc = snapshot(s, trigger, alive) < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
        if (s->execed)
            fprintf(stderr,
                    "leakaudit attach: pid %d ran exec: the program attached to has ended (its "
                    "last snapshot is the final one); attach again to follow the new program\n",
                    s->o.pid);
        if (s->o.progress || s->o.verbose)
            fprintf(stderr, "leakaudit: detached from pid %d (%s); %u snapshot%s in %s\n", s->o.pid,
                    snap_trigger_name(trigger), trc_writer_count(s->writer),
                    trc_writer_count(s->writer) == 1 ? "" : "s", s->o.out_dir);
    }
    cleanup(s);
done:
    /* a refused or failed attach leaves no empty directory of its own behind
     * (rmdir removes only an empty one) */
    if (rc != CLI_EXIT_OK && !dir_existed)
        rmdir(s->o.out_dir);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGUSR2, &old_usr2, NULL);
    free(s->o.track_specs);
    free(s);
    return rc;
}
