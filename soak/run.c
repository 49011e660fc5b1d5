/*
 * One soak run: starts the workload in its own process group with the chosen
 * allocator (and the shim) preloaded, its stderr through a pipe into a file
 * and a scanner for allocator error messages, samples it every interval,
 * starts the load generator, and at the end of the duration stops it with
 * SIGTERM, then SIGKILL after the grace period. A crash or an external kill
 * ends the run early and is recorded; nothing here can hang on a dead target.
 */
#include "allocators.h"
#include "audit_options.h"
#include "snapshot.h"
#include "reports/report.h"
#include "soak.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define POLL_SLICE_MS        100  /* wake-up granularity without a pidfd */
#define SCRAPE_TIMEOUT_MS    1000 /* one /metrics GET at most */
#define STDERR_DRAIN_MS      500  /* after exit, for the last lines */
#define LOAD_GRACE_MS        1000 /* SIGTERM to SIGKILL for the load generator */
#define PROGRESS_EVERY_S     10   /* progress lines when stderr is not a tty */
#define LINE_MAX_SCAN        1024
#define FINAL_SNAPSHOT_MS    2000    /* wait for the shim's last snapshot */
#define SHIM_SNAPSHOT_SIGNAL SIGUSR2 /* the shim's default LEAKAUDIT_SIGNAL */

struct run_state {
    const struct soak_config *cfg;
    struct soak_run *r;
    uint64_t t0_ns;
    pid_t pid, load_pid;
    int pidfd, errfd, errfile;
    int gone, status;
    char line[LINE_MAX_SCAN];
    size_t line_len;
    char last_line[SOAK_MAX_MSG];
    struct soak_url url;
    int have_url;
    double prev_scrape_t, prev_counter;
    struct soak_hist prev_hist;
    int have_prev_scrape;
    int progress_tty;
    double last_progress_t;
};

static double elapsed(const struct run_state *st)
{
    return (double)(util_monotonic_ns() - st->t0_ns) / 1e9;
}

int soak_line_is_heap_error(const char *line, int *is_glibc)
{
    /* glibc's malloc consistency checks (malloc_printerr) all start with the
     * function name or "corrupted"/"double free". */
    static const char *const glibc[] = {"malloc(): ",
                                        "free(): ",
                                        "realloc(): ",
                                        "calloc(): ",
                                        "memalign(): ",
                                        "malloc_consolidate(): ",
                                        "munmap_chunk(): ",
                                        "tcache_thread_shutdown(): ",
                                        "double free or corruption",
                                        "corrupted size vs. prev_size",
                                        "corrupted double-linked",
                                        "malloc_check",
                                        "*** Error in `",
                                        NULL};
    static const char *const others[] = {"<jemalloc>: ",
                                         "mimalloc: error: ",
                                         "Attempt to free invalid pointer",
                                         "src/tcmalloc.cc",
                                         "double free",
                                         "heap corruption",
                                         "heap-buffer-overflow",
                                         NULL};
    *is_glibc = 0;
    for (int i = 0; glibc[i]; i++)
        if (strstr(line, glibc[i])) {
            *is_glibc = 1;
            return 1;
        }
    for (int i = 0; others[i]; i++)
        if (strstr(line, others[i]))
            return 1;
    /* The shim's guard mode names what it found. */
    return !strncmp(line, "leakaudit", 9) && strstr(line, "corrupt");
}

static void scan_line(struct run_state *st)
{
    st->line[st->line_len] = '\0';
    while (st->line_len && (st->line[st->line_len - 1] == '\r'))
        st->line[--st->line_len] = '\0';
    if (st->line_len)
        util_strlcpy(st->last_line, st->line, sizeof(st->last_line));
    int is_glibc;
    if (!st->r->heap_msg[0] && soak_line_is_heap_error(st->line, &is_glibc)) {
        util_strlcpy(st->r->heap_msg, st->line, sizeof(st->r->heap_msg));
        st->r->heap_msg_t = elapsed(st);
        st->r->heap_msg_is_glibc = is_glibc;
    }
    st->line_len = 0;
}

/* Reads what the target wrote to stderr. Returns 0, or -1 at EOF. */
static int drain_stderr(struct run_state *st)
{
    char buf[4096];
    ssize_t n = read(st->errfd, buf, sizeof(buf));
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0)
        return -1;
    if (write(st->errfile, buf, (size_t)n) < 0) {
        /* A full disk must not stop the soak; the scanner still sees it. */
    }
    if (st->cfg->verbose) {
        if (st->progress_tty)
            fputs("\r\033[K", stderr);
        fflush(stderr);
        if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
        }
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n' || st->line_len + 1 >= sizeof(st->line))
            scan_line(st);
        if (buf[i] != '\n')
            st->line[st->line_len++] = buf[i];
    }
    return 0;
}

static void push_sample(struct soak_run *r, const struct soak_sample *s)
{
    if (r->n_samples == r->cap_samples) {
        size_t ncap = r->cap_samples ? r->cap_samples * 2 : 256;
        struct soak_sample *n = realloc(r->samples, ncap * sizeof(*n));
        if (!n)
            return; /* keep what we have; the summary says how many samples */
        r->samples = n;
        r->cap_samples = ncap;
    }
    r->samples[r->n_samples++] = *s;
}

static void scrape(struct run_state *st, struct soak_sample *s)
{
    char *body;
    int rc = soak_http_get(&st->url, SCRAPE_TIMEOUT_MS, &body);
    if (rc < 0) {
        st->r->scrapes_failed++;
        return;
    }
    struct soak_scrape sc;
    struct soak_metric_names *names = (struct soak_metric_names *)&st->cfg->metrics;
    soak_scrape_parse(body, names, &sc);
    free(body);
    st->r->scrapes_ok++;
    double now = elapsed(st);
    s->throughput_total = sc.throughput_total;
    s->drops_total = sc.drops_total;
    if (st->have_prev_scrape && !isnan(sc.throughput_total) && !isnan(st->prev_counter) &&
        sc.throughput_total >= st->prev_counter && now > st->prev_scrape_t)
        s->throughput_rate = (sc.throughput_total - st->prev_counter) / (now - st->prev_scrape_t);
    if (sc.latency.n) {
        if (st->have_prev_scrape)
            s->p99_ms = soak_hist_quantile(&st->prev_hist, &sc.latency, 0.99) *
                        soak_hist_unit_ms(names->latency);
        if (st->r->lat_first.n == 0)
            st->r->lat_first = sc.latency;
        st->r->lat_last = sc.latency;
    }
    st->prev_hist = sc.latency;
    st->prev_counter = sc.throughput_total;
    st->prev_scrape_t = now;
    st->have_prev_scrape = 1;
}

static void progress(struct run_state *st, const struct soak_sample *s)
{
    if (!st->cfg->progress)
        return;
    if (!st->progress_tty && s->t - st->last_progress_t < PROGRESS_EVERY_S)
        return;
    st->last_progress_t = s->t;
    char rss[32];
    rpt_fmt_bytes((double)s->rss, rss, sizeof(rss));
    fprintf(stderr, "%ssoak: run %d/%d %s: %.0fs/%.0fs, RSS %s%s",
            st->progress_tty ? "\r\033[K" : "", st->r->index, st->r->total, st->r->name, s->t,
            (double)st->cfg->duration_ms / 1e3, rss, st->progress_tty ? "" : "\n");
    fflush(stderr);
}

/* Is the shim really mapped in the target (not a static binary, not dropped
 * by a setuid exec)? */
static int shim_mapped(pid_t pid, const char *shim)
{
    char path[64], line[PATH_MAX + 128];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int found = 0;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, shim) != NULL;
    fclose(f);
    return found;
}

static void take_sample(struct run_state *st)
{
    struct soak_sample s;
    memset(&s, 0, sizeof(s));
    s.throughput_total = s.throughput_rate = s.p99_ms = s.drops_total = NAN;
    s.t = elapsed(st);
    if (soak_sample_proc(st->pid, &s) < 0)
        return;
    if (st->r->with_shim && !st->r->shim_loaded)
        st->r->shim_loaded = shim_mapped(st->pid, st->cfg->shim);
    if (st->have_url)
        scrape(st, &s);
    struct soak_run *r = st->r;
    if (r->n_samples) {
        const struct soak_sample *prev = &r->samples[r->n_samples - 1];
        if (s.t > prev->t)
            s.cpu_pct = 100.0 * (s.cpu_s - prev->cpu_s) / (s.t - prev->t);
    }
    push_sample(r, &s);
    progress(st, &s);
}

static int open_output(const struct soak_config *cfg, const char *name, const char *suffix)
{
    char path[PATH_MAX + SOAK_MAX_RUN_NAME + 32];
    snprintf(path, sizeof(path), "%s/%s%s", cfg->outdir, name, suffix);
    /* Written while the run goes on, so not through a temporary: a previous
     * soak's regular file is replaced, anything else planted there refused. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return -EEXIST;
        if (unlink(path) < 0)
            return -errno;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    return fd < 0 ? -errno : fd;
}

static void set_child_env(const struct soak_config *cfg, const struct soak_run *r,
                          const char *snapdir)
{
    char preload[3 * PATH_MAX];
    if (alloc_compose_preload(preload, sizeof(preload), r->with_shim ? cfg->shim : NULL,
                              r->alloc_lib, getenv("LD_PRELOAD")) == 0 &&
        preload[0])
        setenv("LD_PRELOAD", preload, 1);
    if (r->with_shim) { /* the shim's settings: common/audit_options.h */
        setenv(audit_env(AUDIT_OUT), snapdir, 1);
        if (cfg->allow_shared_dir)
            setenv(audit_env(AUDIT_ALLOW_SHARED_DIR), "1", 1);
        setenv(audit_env(AUDIT_ALLOCATOR), r->alloc->name, 1);
        if (cfg->shim_mode)
            setenv(audit_env(AUDIT_MODE), cfg->shim_mode, 1);
        if (cfg->guard)
            setenv(audit_env(AUDIT_GUARD), cfg->guard, 1);
        if (cfg->shim_interval)
            setenv(audit_env(AUDIT_INTERVAL), cfg->shim_interval, 1);
    }
    /* Old glibc versions write malloc's fatal messages to /dev/tty unless told
     * otherwise; soak must see them on stderr. */
    setenv("LIBC_FATAL_STDERR_", "1", 1);
}

static void child_reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
}

static pid_t start_target(struct run_state *st, const char *snapdir, int outfd, int errw)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    child_reset_signals();
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0 && null != STDIN_FILENO) {
        dup2(null, STDIN_FILENO);
        close(null);
    }
    dup2(outfd, STDOUT_FILENO);
    dup2(errw, STDERR_FILENO);
    set_child_env(st->cfg, st->r, snapdir);
    execvp(st->cfg->cmd[0], st->cfg->cmd);
    dprintf(STDERR_FILENO, "leakaudit soak: %s: %s\n", st->cfg->cmd[0], strerror(errno));
    _exit(127);
}

static void start_load(struct run_state *st)
{
    int fd = open_output(st->cfg, st->r->name, ".load.log");
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        child_reset_signals();
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        char pidbuf[24];
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)st->pid);
        setenv("LEAKAUDIT_SOAK_PID", pidbuf, 1);
        setenv("LEAKAUDIT_SOAK_RUN", st->r->name, 1);
        execl("/bin/sh", "sh", "-c", st->cfg->load_cmd, (char *)NULL);
        _exit(127);
    }
    if (fd >= 0)
        close(fd);
    if (pid > 0) {
        setpgid(pid, pid);
        st->load_pid = pid;
    }
}

static void check_load(struct run_state *st)
{
    int status;
    if (st->load_pid <= 0 || waitpid(st->load_pid, &status, WNOHANG) != st->load_pid)
        return;
    snprintf(st->r->load_note, sizeof(st->r->load_note), "load generator ended at %.1fs (%s %d)",
             elapsed(st), WIFEXITED(status) ? "exit status" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    st->load_pid = 0;
}

static void stop_load(struct run_state *st)
{
    if (st->load_pid <= 0)
        return;
    kill(-st->load_pid, SIGTERM);
    uint64_t deadline = util_monotonic_ns() + (uint64_t)LOAD_GRACE_MS * 1000000;
    int status;
    while (waitpid(st->load_pid, &status, WNOHANG) == 0) {
        if (util_monotonic_ns() >= deadline) {
            kill(-st->load_pid, SIGKILL);
            waitpid(st->load_pid, &status, 0);
            break;
        }
        usleep(20 * 1000);
    }
    kill(-st->load_pid, SIGKILL); /* whatever it left behind in its group */
    st->load_pid = 0;
}

static void reap(struct run_state *st)
{
    while (waitpid(st->pid, &st->status, 0) < 0 && errno == EINTR) {
    }
    st->gone = 1;
    st->r->end_t = elapsed(st);
}

/* Waits up to ms for the target to end, draining its stderr meanwhile. */
static void wait_events(struct run_state *st, int ms)
{
    struct pollfd p[2];
    int n = 0, ie = -1, ip = -1;
    if (st->errfd >= 0) {
        ie = n;
        p[n++] = (struct pollfd){.fd = st->errfd, .events = POLLIN};
    }
    if (st->pidfd >= 0) {
        ip = n;
        p[n++] = (struct pollfd){.fd = st->pidfd, .events = POLLIN};
    }
    int timeout = ms < 0 ? 0 : ms;
    if (st->pidfd < 0 && timeout > POLL_SLICE_MS)
        timeout = POLL_SLICE_MS;
    int rc = poll(p, (nfds_t)n, timeout);
    if (rc > 0 && ie >= 0 && (p[ie].revents & (POLLIN | POLLHUP | POLLERR)) &&
        drain_stderr(st) < 0) {
        close(st->errfd);
        st->errfd = -1;
    }
    if (ip >= 0) {
        if (rc > 0 && (p[ip].revents & POLLIN))
            reap(st);
    } else if (waitpid(st->pid, &st->status, WNOHANG) == st->pid) {
        st->gone = 1;
        st->r->end_t = elapsed(st);
    }
}

static int count_snapshots(const char *dir)
{
    char **paths, err[128];
    int n = snapshot_list_dir(dir, &paths, err, sizeof(err));
    for (int i = 0; i < n; i++)
        free(paths[i]);
    if (n >= 0)
        free(paths);
    return n;
}

/* SIGTERM ends a program without running its exit handlers, so the shim
 * would write no snapshot for a run shorter than its interval: ask for one
 * first (its snapshot signal), and give it a moment to land. */
static void request_final_snapshot(struct run_state *st, const char *snapdir)
{
    const char *sig = getenv(audit_env(AUDIT_SIGNAL));
    if (!st->r->shim_loaded ||
        (sig && *sig && strcasecmp(sig, "USR2") && strcasecmp(sig, "SIGUSR2")))
        return;
    int before = count_snapshots(snapdir);
    kill(st->pid, SHIM_SNAPSHOT_SIGNAL);
    uint64_t deadline = util_monotonic_ns() + (uint64_t)FINAL_SNAPSHOT_MS * 1000000;
    while (!st->gone && util_monotonic_ns() < deadline && count_snapshots(snapdir) <= before)
        wait_events(st, POLL_SLICE_MS);
}

static void stop_target(struct run_state *st)
{
    st->r->stopped_by_us = 1;
    kill(-st->pid, SIGTERM);
    uint64_t deadline = util_monotonic_ns() + st->cfg->grace_ms * 1000000;
    while (!st->gone) {
        uint64_t now = util_monotonic_ns();
        if (now >= deadline)
            break;
        wait_events(st, (int)((deadline - now) / 1000000) + 1);
    }
    if (!st->gone) {
        st->r->killed_by_us = 1;
        kill(-st->pid, SIGKILL);
        reap(st);
    }
}

static void classify_exit(struct run_state *st)
{
    struct soak_run *r = st->r;
    int status = st->status;
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
    if (r->stopped_by_us) {
        /* Whatever it did after our SIGTERM is a shutdown, unless it died of
         * a signal other than ours (an abort while shutting down). */
        if (r->term_signal < 0 || r->term_signal == SIGTERM || r->term_signal == SIGKILL)
            return;
    } else if (r->exit_code == 0) {
        return; /* finished before the duration: not a crash */
    }
    r->crashed = 1;
    r->crash_t = r->end_t;
    if (r->term_signal >= 0)
        snprintf(r->crash_msg, sizeof(r->crash_msg), "killed by SIG%s",
                 sigabbrev_np(r->term_signal) ? sigabbrev_np(r->term_signal) : "?");
    else if (st->last_line[0] && !r->heap_msg[0])
        snprintf(r->crash_msg, sizeof(r->crash_msg), "exit status %d (stderr: %.200s)",
                 r->exit_code, st->last_line);
    else
        snprintf(r->crash_msg, sizeof(r->crash_msg), "exit status %d", r->exit_code);
}

/* What the shim's snapshots say: guard-mode events, and the newest memory
 * breakdown (the exit snapshot's): freed memory the allocator kept. */
static void read_snapshots(struct soak_run *r, const char *snapdir)
{
    char **paths, err[256];
    int n = snapshot_list_dir(snapdir, &paths, err, sizeof(err));
    if (n < 0)
        return;
    for (int i = 0; i < n; i++) {
        struct snapshot *s;
        if (snapshot_read_file(paths[i], &s, err, sizeof(err)) == 0) {
            if (s->n_corruptions > r->guard_corruptions)
                r->guard_corruptions = s->n_corruptions;
            if (s->has_memory) {
                r->has_memory = 1;
                r->retained_bytes = r->live_heap_bytes = 0;
                for (size_t k = 0; k < s->n_mem; k++)
                    if (s->mem_entries[k].component == SNAP_MEM_ALLOC_RETAINED)
                        r->retained_bytes += (uint64_t)s->mem_entries[k].rss;
                    else if (s->mem_entries[k].component == SNAP_MEM_HEAP_LIVE)
                        r->live_heap_bytes += (uint64_t)s->mem_entries[k].rss;
            }
            snapshot_free(s);
        }
        free(paths[i]);
    }
    free(paths);
}

int soak_run_one(const struct soak_config *cfg, struct soak_run *r,
                 const volatile sig_atomic_t *interrupted)
{
    struct run_state st;
    memset(&st, 0, sizeof(st));
    st.cfg = cfg;
    st.r = r;
    st.pidfd = st.errfd = st.errfile = -1;
    st.progress_tty = isatty(STDERR_FILENO);
    st.last_progress_t = -PROGRESS_EVERY_S;
    r->exit_code = r->term_signal = -1;
    if (cfg->metrics_url) {
        char err[128];
        st.have_url = soak_url_parse(cfg->metrics_url, &st.url, err, sizeof(err)) == 0;
    }

    char snapdir[PATH_MAX + SOAK_MAX_RUN_NAME + 32] = "";
    if (r->with_shim) {
        snprintf(snapdir, sizeof(snapdir), "%s/%s.snapshots", cfg->outdir, r->name);
        int rc = util_mkdir_p(snapdir);
        if (rc < 0)
            return rc;
    }
    int outfd = open_output(cfg, r->name, ".stdout");
    if (outfd < 0)
        return outfd;
    st.errfile = open_output(cfg, r->name, ".stderr");
    if (st.errfile < 0) {
        close(outfd);
        return st.errfile;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        int e = -errno;
        close(outfd);
        close(st.errfile);
        return e;
    }
    fflush(NULL);
    st.t0_ns = util_monotonic_ns();
    st.pid = start_target(&st, snapdir, outfd, pipefd[1]);
    int fork_errno = errno;
    close(outfd);
    close(pipefd[1]);
    st.errfd = pipefd[0];
    if (st.pid < 0) {
        close(st.errfd);
        close(st.errfile);
        return -fork_errno;
    }
    setpgid(st.pid, st.pid); /* also here: no race with our first kill(-pgid) */
    fcntl(st.errfd, F_SETFL, O_NONBLOCK);
    st.pidfd = (int)syscall(SYS_pidfd_open, st.pid, 0);
    r->ran = 1;

    double duration = (double)cfg->duration_ms / 1e3, interval = (double)cfg->interval_ms / 1e3;
    double load_at = (double)cfg->load_delay_ms / 1e3, next_sample = interval;
    int load_started = 0;
    while (!st.gone && !*interrupted) {
        double now = elapsed(&st);
        if (cfg->load_cmd && !load_started && now >= load_at) {
            start_load(&st);
            load_started = 1;
        }
        check_load(&st);
        if (now >= duration)
            break;
        if (now >= next_sample) {
            take_sample(&st);
            next_sample += interval;
            if (next_sample <= elapsed(&st))
                next_sample = elapsed(&st) + interval;
            continue;
        }
        double wake = next_sample < duration ? next_sample : duration;
        if (cfg->load_cmd && !load_started && load_at < wake)
            wake = load_at;
        wait_events(&st, (int)((wake - now) * 1e3) + 1);
    }
    if (!st.gone && r->with_shim && !*interrupted) {
        if (!r->shim_loaded)
            r->shim_loaded = shim_mapped(st.pid, cfg->shim);
        request_final_snapshot(&st, snapdir);
    }
    if (!st.gone && *interrupted)
        r->interrupted = 1;
    if (!st.gone)
        stop_target(&st);
    /* The last lines (an abort message is written just before the signal). */
    uint64_t drain_until = util_monotonic_ns() + (uint64_t)STDERR_DRAIN_MS * 1000000;
    while (st.errfd >= 0 && util_monotonic_ns() < drain_until) {
        struct pollfd p = {.fd = st.errfd, .events = POLLIN};
        if (poll(&p, 1, STDERR_DRAIN_MS) <= 0 || drain_stderr(&st) < 0)
            break;
    }
    if (st.line_len)
        scan_line(&st);
    kill(-st.pid, SIGKILL); /* stragglers left in the target's process group */
    stop_load(&st);
    if (st.progress_tty && cfg->progress)
        fputs("\r\033[K", stderr);
    classify_exit(&st);
    if (r->with_shim)
        read_snapshots(r, snapdir);
    if (st.errfd >= 0)
        close(st.errfd);
    if (st.pidfd >= 0)
        close(st.pidfd);
    close(st.errfile);
    return 0;
}
