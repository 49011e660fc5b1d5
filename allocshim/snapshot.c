/*
 * Writing snapshots from inside the audited process: periodically (a
 * background thread that sleeps in short steps, started when the program
 * creates its first thread; before that, from the allocation hooks), on a
 * signal (the handler only sets a flag), at exit (the library destructor),
 * and in a forked child under its own series. Everything goes through the
 * one writer in common/snapshot_write.c, into a static writer buffer: no
 * allocation from the audited allocator.
 *
 * File names: OUT/<series>.<seq, 6 digits>.snap where the series is
 * <exe basename>.<pid>.<start time in ms, hex> (common/series_name.h), so an
 * exec'd image or a forked child starts a new series. After each
 * snapshot, common/retention.c decides which older ones of the series to
 * delete (thinning, LEAKAUDIT_MAX_DISK, LEAKAUDIT_KEEP_FOR).
 */
#include "shim.h"
#include "allocators.h"
#include "modmap.h"
#include "procfs.h"
#include "retention.h"
#include "safefile.h"
#include "snapshot_produce.h"
#include "series_name.h"
#include "stacktable.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 100

static struct snap_writer writer; /* large: static so it is not on a stack */
static int snap_lock;
static uint32_t seq;
static uint64_t start_ns;
static char series[SNAP_MAX_NAME];
static char exe_path[SNAP_MAX_PATH];
static volatile sig_atomic_t signal_pending;
static int thread_running;
static int thread_stop;      /* inject.c detached: the thread ends */
static uint64_t next_due_ns; /* monotonic deadline of the next periodic snapshot */
static int (*real_pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static uint64_t write_failures;
static uid_t start_euid;
static struct retain_state retain; /* this series' snapshots on disk */
static int failure_reported;

static void make_series(void)
{
    start_ns = util_realtime_ns();
    start_euid = geteuid();
    util_read_exe(0, exe_path, sizeof(exe_path));
    snap_series_name(series, sizeof(series), exe_path, getpid(), start_ns);
    seq = 0;
}

/* OUT/SERIES.SEQ.snap's last part (common/series_name.h). */
static void snapshot_name(uint32_t n, char *name, size_t cap)
{
    snap_file_name(name, cap, series, n);
}

static void retire_snapshot(uint32_t n, void *arg)
{
    char path[SNAP_MAX_PATH + SNAP_MAX_NAME + 32];
    size_t len = util_strlcpy(path, shim_cfg.out_dir, sizeof(path));
    if (len + 1 >= sizeof(path))
        return;
    path[len++] = '/';
    snapshot_name(n, path + len, sizeof(path) - len);
    unlink(path);
}

/* After a snapshot was written: what retention keeps (common/retention.h).
 * The table lives in the shim's own memory, mapped on first use. */
static void apply_retention(const struct snap_writer *w, uint64_t time_ns)
{
    if (!retain.e) {
        retain.e = shim_arena_map(RETAIN_DEFAULT_TABLE_CAP * sizeof(*retain.e));
        retain.cap = retain.e ? RETAIN_DEFAULT_TABLE_CAP : 0;
    }
    struct retain_policy p = {
        .max_disk = shim_cfg.max_disk, .keep_for_s = shim_cfg.keep_for_s, .thin = shim_cfg.thin};
    struct retain_entry e = {
        .seq = seq, .time_ns = time_ns, .bytes = w->offset, .live_bytes = w->heap_live_bytes};
    retain_add(&retain, &p, &e, retire_snapshot, NULL);
}

static const char *detect_allocator(void)
{
    if (shim_cfg.allocator[0])
        return shim_cfg.allocator;
    Dl_info info;
    if (!dladdr((void *)shim_real.malloc, &info) || !info.dli_fname)
        return "unknown";
    const char *name = alloc_name_from_path(info.dli_fname);
    return name ? name : "other";
}

/* ---- the sources of a snapshot (common/snapshot_produce.h) ---- */

static int write_module(const struct snap_module *m, void *arg)
{
    snap_write_module(arg, m);
    return 0;
}

static int src_modules(struct snap_writer *w, void *arg)
{
    modmap_foreach(0, write_module, w);
    return w->error;
}

static int src_stacks(struct snap_writer *w, void *arg)
{
    struct stk_table *t = shim_stacks();
    uint32_t n = shim_stacks_ready() ? stk_table_count(t) : 0;
    for (uint32_t id = 1; id <= n; id++) {
        const uint64_t *frames;
        uint32_t depth = stk_table_get(t, id, &frames);
        if (depth)
            snap_write_stack(w, id, frames, depth);
    }
    return w->error;
}

static void write_heap(const struct snap_heap_entry *e, void *arg)
{
    snap_write_heap(arg, e);
}

static int src_heap(struct snap_writer *w, void *arg)
{
    shim_heap_foreach_stack(write_heap, w);
    return w->error;
}

static int src_fds(struct snap_writer *w, void *arg)
{
    shim_fd_snapshot(w, w->fd, w->dirfd); /* not the snapshot's own file and directory */
    return w->error;
}

static int src_mmaps(struct snap_writer *w, void *arg)
{
    shim_mmap_snapshot(w);
    return w->error;
}

static int src_resources(struct snap_writer *w, void *arg)
{
    shim_res_snapshot(w);
    return w->error;
}

static int src_guard_events(struct snap_writer *w, void *arg)
{
    shim_guard_snapshot(w);
    return w->error;
}

static int src_resource_events(struct snap_writer *w, void *arg)
{
    shim_res_write_events(w);
    return w->error;
}

static void write_loss(enum snap_loss_id id, uint64_t v, void *arg)
{
    snap_emit_loss(arg, id, v);
}

static int src_losses(struct snap_writer *w, void *arg)
{
    shim_stacks_loss_counters(write_loss, w);
    shim_heap_loss_counters(write_loss, w);
    shim_prior_loss_counters(write_loss, w);
    shim_fd_loss_counters(write_loss, w);
    shim_mmap_loss_counters(write_loss, w);
    shim_res_loss_counters(write_loss, w);
    shim_unwind_loss_counters(write_loss, w);
    if (shim_cfg.guard)
        shim_guard_loss_counters(write_loss, w);
    snap_emit_loss(w, SNAP_LOSS_SNAPSHOT_WRITE_FAILED, write_failures);
    snap_emit_loss(w, SNAP_LOSS_SNAPSHOTS_RETIRED, retain.removed);
    snap_emit_loss(w, SNAP_LOSS_SHIM_MEMORY_BYTES, shim_arena_resident());
    return w->error;
}

/* What this process's snapshot is made of, in no particular order: the
 * section order is snap_produce's. */
static void describe(struct snap_description *d, int *trigger)
{
    snap_describe(d, SNAP_PART_MODULES, src_modules, NULL);
    snap_describe(d, SNAP_PART_STACKS, src_stacks, NULL);
    snap_describe(d, SNAP_PART_HEAP, src_heap, NULL);
    snap_describe(d, SNAP_PART_REACHABILITY, shim_reach_emit, trigger);
    snap_describe(d, SNAP_PART_FDS, src_fds, NULL);
    snap_describe(d, SNAP_PART_MMAPS, src_mmaps, NULL);
    snap_describe(d, SNAP_PART_RESOURCES, src_resources, NULL);
    snap_describe(d, SNAP_PART_MEMORY, shim_memory_emit, (void *)(uintptr_t)d->header->allocator);
    snap_describe(d, SNAP_PART_CORRUPTION, src_guard_events, NULL);
    snap_describe(d, SNAP_PART_CORRUPTION, src_resource_events, NULL);
    snap_describe(d, SNAP_PART_LOSSES, src_losses, NULL);
}

static void report_failure(int err, const char *why)
{
    write_failures++;
    if (failure_reported || shim_cfg.quiet)
        return;
    /* A program that switched to another user since it started (servers
     * dropping privileges, tests) cannot write into the private output
     * directory. That is expected: stay silent rather than change its
     * stderr. */
    if ((err == -EACCES || err == -EPERM) && geteuid() != start_euid)
        return;
    failure_reported = 1;
    const char *parts[] = {"leakaudit: cannot write snapshots into ", shim_cfg.out_dir, ": ",
                           why ? why : strerror(-err), "\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            return;
}

int shim_snapshot_write(int trigger)
{
    /* Not before the constructor named the series (allocations made by
     * other libraries' initialisers reach the hooks first). */
    if (!shim_ready() || !series[0] || shim_cfg.off)
        return -EAGAIN;
    /* One snapshot at a time. The exit snapshot and the one written just
     * before a guard-mode abort wait for a running one (at most ~5 s, in
     * case the holder is this very thread); the others give way. */
    int waited_ms = 0;
    while (__atomic_exchange_n(&snap_lock, 1, __ATOMIC_ACQUIRE)) {
        if ((trigger != SNAP_TRIGGER_EXIT && trigger != SNAP_TRIGGER_CORRUPTION) ||
            waited_ms++ > 5000)
            return -EBUSY;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct snap_writer *w = &writer;
    char name[SNAP_MAX_NAME + 32];
    snapshot_name(seq, name, sizeof(name));
    uint64_t time_ns = util_realtime_ns();

    int rc = snap_writer_open_flags(w, shim_cfg.out_dir, name,
                                    shim_cfg.allow_shared_dir ? SAFE_DIR_SHARED : 0);
    if (rc == 0) {
        struct snap_header h = {.source = shim_injected ? SNAP_SOURCE_INJECTED : SNAP_SOURCE_SHIM,
                                .mode = (uint32_t)shim_cfg.mode,
                                .unwind = (uint32_t)shim_cfg.unwind,
                                .trigger = (uint32_t)trigger,
                                .seq = seq,
                                .pid = getpid(),
                                .ppid = getppid(),
                                .sample_period =
                                    shim_cfg.mode == SNAP_MODE_SAMPLED ? shim_cfg.sample_period : 0,
                                .start_time_ns = start_ns,
                                .snapshot_time_ns = time_ns,
                                .monotonic_ns = util_monotonic_ns(),
                                .rss_bytes = util_read_rss(0)};
        util_strlcpy(h.exe, exe_path, sizeof(h.exe));
        util_strlcpy(h.series, series, sizeof(h.series));
        util_strlcpy(h.allocator, detect_allocator(), sizeof(h.allocator));
        gethostname(h.hostname, sizeof(h.hostname) - 1);
        shim_stacks_sweep();              /* stacks nothing live names leave the table */
        static struct snap_description d; /* under snap_lock */
        memset(&d, 0, sizeof(d));
        d.header = &h;
        describe(&d, &trigger);
        snap_produce(w, &d);
        rc = snap_writer_commit(w);
    }
    if (rc < 0) {
        report_failure(rc, w->why);
    } else {
        apply_retention(w, time_ns);
        seq++;
    }
    __atomic_store_n(&snap_lock, 0, __ATOMIC_RELEASE);
    return rc;
}

static void on_signal(int sig)
{
    signal_pending = 1;
    /* Without the snapshot thread, the interrupted thread's next recorded
     * allocation takes the snapshot: make that the very next one (in
     * sampled mode, the next allocation is sampled to get there). */
    shim_tls.poll_countdown = 0;
    shim_tls.countdown = 0;
}

/* Threads of the process that are not the program's: qemu-user runs one of
 * its own (an RCU thread) in every program it emulates; /proc counts it,
 * and it never takes a signal. Listed by the constructor under an emulator
 * only (its /proc/thread-self/exe is the emulator, /proc/self/exe the
 * program): natively a thread alive that early is the program's. */
#define MAX_FOREIGN_THREADS 4
static pid_t foreign_tids[MAX_FOREIGN_THREADS];
static long foreign_threads;

static void find_foreign_threads(void)
{
    char self[PATH_MAX], thread[PATH_MAX];
    ssize_t a = readlink("/proc/self/exe", self, sizeof(self));
    ssize_t b = readlink("/proc/thread-self/exe", thread, sizeof(thread));
    if (a <= 0 || b <= 0 || (a == b && memcmp(self, thread, (size_t)a) == 0))
        return;
    pid_t tids[16];
    size_t n = procfs_list_threads(tids, 16);
    for (size_t i = 0; i < n && foreign_threads < MAX_FOREIGN_THREADS; i++)
        if (tids[i] != shim_gettid())
            foreign_tids[foreign_threads++] = tids[i];
}

int shim_foreign_thread(pid_t tid)
{
    for (long i = 0; i < foreign_threads; i++)
        if (foreign_tids[i] == tid)
            return 1;
    return 0;
}

/* True when every thread of the program has ended and only this one is left:
 * num_threads (field 20, less the emulator's) is 1, or 2 with the
 * thread-group leader a zombie (the main thread ended with pthread_exit). */
static int only_thread_left(void)
{
    /* this thread's own stat file: qemu-user fakes /proc/self/stat's */
    struct procfs_stat st;
    char path[64] = "/proc/self/task/";
    util_u64_to_dec((uint64_t)shim_gettid(), path + 16, sizeof(path) - 16);
    util_strlcpy(path + strlen(path), "/stat", sizeof(path) - strlen(path));
    if (procfs_read_stat_path(path, &st) < 0)
        return 0;
    long n = (long)st.threads - foreign_threads;
    if (n == 1)
        return 1;
    if (n != 2 || shim_gettid() == getpid())
        return 0;
    util_u64_to_dec((uint64_t)getpid(), path + 16, sizeof(path) - 16);
    util_strlcpy(path + strlen(path), "/stat", sizeof(path) - strlen(path));
    return procfs_read_stat_path(path, &st) == 0 && procfs_stat_gone(&st);
}

pid_t shim_snapshot_tid;
uint64_t shim_snapshot_stack; /* an address in that thread's stack */

static void *snapshot_thread(void *arg)
{
    shim_tls.busy = 1; /* nothing this thread does is the program's */
    __atomic_store_n(&shim_snapshot_stack, (uint64_t)(uintptr_t)__builtin_frame_address(0),
                     __ATOMIC_RELEASE);
    __atomic_store_n(&shim_snapshot_tid, shim_gettid(), __ATOMIC_RELEASE);
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* the program's signals are not ours to take */
    uint64_t next = util_monotonic_ns() + shim_cfg.interval_ms * 1000000ull;
    uint64_t next_scan = util_monotonic_ns();
    for (;;) {
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        if (__atomic_load_n(&thread_stop, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&shim_snapshot_tid, 0, __ATOMIC_RELEASE);
            __atomic_store_n(&thread_running, 0, __ATOMIC_RELEASE);
            return NULL; /* attach --inject detached */
        }
        shim_inject_rescan(NULL); /* modules loaded without our dlopen */
        /* When the program's last thread ends with pthread_exit, glibc
         * would call exit(0) in it -- but this thread still counts, so it
         * must do that itself, or the process would never end. */
        if (only_thread_left())
            exit(0);
        if (signal_pending) {
            signal_pending = 0;
            shim_snapshot_write(SNAP_TRIGGER_SIGNAL);
        }
        if (shim_cfg.guard && util_monotonic_ns() >= next_scan) {
            shim_guard_scan();
            shim_guard_refresh_modules();
            next_scan = util_monotonic_ns() + shim_guard_scan_interval_ms() * 1000000ull;
        }
        if (shim_cfg.interval_ms && util_monotonic_ns() >= next) {
            shim_snapshot_write(SNAP_TRIGGER_INTERVAL);
            next = util_monotonic_ns() + shim_cfg.interval_ms * 1000000ull;
        }
    }
    return NULL;
}

void shim_snapshot_start_thread(void)
{
    if ((!shim_cfg.interval_ms && !shim_cfg.signal) || thread_running || !real_pthread_create ||
        shim_cfg.off)
        return;
    thread_running = 1;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (real_pthread_create(&th, &attr, snapshot_thread, NULL) == 0) {
        pthread_setname_np(th, "leakaudit");
        /* until it has said who it is: a scan before that (a program that
         * starts threads and exits at once) took it for one of the
         * program's threads, stopped it and read its stack as roots */
        for (int i = 0; i < 1000 && !__atomic_load_n(&shim_snapshot_tid, __ATOMIC_ACQUIRE); i++) {
            struct timespec ts = {0, 100000}; /* 0.1 ms; 100 ms at most */
            nanosleep(&ts, NULL);
        }
    } else {
        thread_running = 0;
    }
    pthread_attr_destroy(&attr);
}

/*
 * Without the thread (a program that has not created one), periodic and
 * signal-requested snapshots are taken from the allocation hooks: the
 * deadline is checked about every POLL_MS of the program's allocating --
 * every SHIM_POLL_CALLS recorded allocations at most, every one when they
 * come a few a second (each poll sets the next countdown from the rate it
 * saw). This keeps single-threaded programs single-threaded -- glibc's
 * malloc takes a lock-free fast path only then -- at the price that a
 * single-threaded program that stops allocating is next snapshotted when it
 * allocates again, at exit, or (attach --inject) when the attaching
 * process asks (leakaudit_inject_poll). LEAKAUDIT_THREAD=always starts the
 * thread anyway; so does a program that has threads our pthread_create did
 * not see start (attach --inject patches no thread hook): the thread costs
 * it nothing more from then on.
 */
static uint64_t last_poll_ns;
static int32_t poll_calls = SHIM_POLL_CALLS; /* the countdown the last poll set */

void shim_snapshot_poll(void)
{
    shim_tls.poll_countdown = SHIM_POLL_CALLS;
    if (__atomic_load_n(&thread_running, __ATOMIC_RELAXED))
        return;
    if (!__libc_single_threaded && shim_ready() && !shim_cfg.off) {
        shim_snapshot_start_thread();
        if (__atomic_load_n(&thread_running, __ATOMIC_RELAXED))
            return;
    }
    uint64_t now = util_monotonic_ns(), since = now - last_poll_ns;
    uint64_t next = since ? (uint64_t)poll_calls * POLL_MS * 1000000ull / since : SHIM_POLL_CALLS;
    poll_calls = next < 1 ? 1 : next > SHIM_POLL_CALLS ? SHIM_POLL_CALLS : (int32_t)next;
    shim_tls.poll_countdown = poll_calls;
    last_poll_ns = now;
    static uint64_t next_rescan_ns;
    if (now >= next_rescan_ns) { /* modules loaded without our dlopen, as the thread looks */
        shim_inject_rescan(NULL);
        next_rescan_ns = now + POLL_MS * 1000000ull;
    }
    if (signal_pending) {
        signal_pending = 0;
        shim_snapshot_write(SNAP_TRIGGER_SIGNAL);
    }
    shim_snapshot_due_now();
    static uint64_t next_scan_ns;
    if (shim_cfg.guard && util_monotonic_ns() >= next_scan_ns) {
        shim_guard_scan();
        next_scan_ns = util_monotonic_ns() + shim_guard_scan_interval_ms() * 1000000ull;
    }
}

/* Without the snapshot thread: the periodic snapshot if it is due (1 if
 * written). From the allocation hooks' poll, and (attach --inject) from the
 * attaching process while the target is stopped at a safe point -- a
 * single-threaded program that has stopped allocating still gets its
 * snapshots. */
int shim_snapshot_due_now(void)
{
    if (__atomic_load_n(&thread_running, __ATOMIC_RELAXED) || !shim_cfg.interval_ms ||
        util_monotonic_ns() < next_due_ns)
        return 0;
    shim_snapshot_write(SNAP_TRIGGER_INTERVAL);
    next_due_ns = util_monotonic_ns() + shim_cfg.interval_ms * 1000000ull;
    return 1;
}

/* The program's first thread is when ours can start at no extra cost. */
SHIM_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
                               void *arg)
{
    if (!real_pthread_create) {
        shim_init();
        SHIM_UNTRACKED(real_pthread_create =
                           (__typeof__(real_pthread_create))shim_dlsym_next("pthread_create"));
    }
    int rc = real_pthread_create(th, attr, fn, arg);
    if (rc == 0 && !__atomic_load_n(&thread_running, __ATOMIC_RELAXED) && shim_ready())
        SHIM_UNTRACKED(shim_snapshot_start_thread());
    return rc;
}

void shim_snapshot_init(void)
{
    find_foreign_threads();
    make_series();
    /* the capture side reaches us only through these (shim.h) */
    shim_evidence_hook = shim_snapshot_write;
    shim_poll_hook = shim_snapshot_poll;
    const char *why;
    int fd = safe_dir_open(shim_cfg.out_dir, shim_cfg.allow_shared_dir ? SAFE_DIR_SHARED : 0, &why);
    if (fd < 0) {
        report_failure(fd, why);
    } else {
        safe_clean_stale_tmp(fd); /* left by writers that were killed mid-snapshot */
        close(fd);
    }
    if (shim_cfg.signal) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(shim_cfg.signal, &sa, NULL);
    }
    if (!real_pthread_create)
        real_pthread_create = (__typeof__(real_pthread_create))shim_dlsym_next("pthread_create");
    next_due_ns = util_monotonic_ns() + shim_cfg.interval_ms * 1000000ull;
    if (shim_cfg.thread_always)
        shim_snapshot_start_thread();
}

/* Detach (inject.c): the thread ends within POLL_MS; waits for it. */
void shim_snapshot_stop_thread(void)
{
    __atomic_store_n(&thread_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2000 && __atomic_load_n(&thread_running, __ATOMIC_ACQUIRE); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* A later attach: the settings may name another directory, a new series. */
void shim_snapshot_restart(void)
{
    __atomic_store_n(&thread_stop, 0, __ATOMIC_RELEASE);
    shim_snapshot_init();
}

void shim_snapshot_fork_prepare(void)
{
    /* Do not fork in the middle of a snapshot: the child would inherit a
     * half-written temp file and a held lock. */
    while (__atomic_exchange_n(&snap_lock, 1, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

void shim_snapshot_fork_parent(void)
{
    __atomic_store_n(&snap_lock, 0, __ATOMIC_RELEASE);
}

void shim_snapshot_fork_child(void)
{
    __atomic_store_n(&snap_lock, 0, __ATOMIC_RELEASE);
    make_series(); /* the child's own series; its inherited blocks count as its own */
    retain.n = 0;  /* the parent's snapshots are the parent's to retire */
    retain.bytes = retain.removed = retain.removed_bytes = 0;
    thread_running = 0; /* the child is single-threaded until it creates a thread */
    shim_snapshot_tid = 0;
    shim_snapshot_stack = 0;
    next_due_ns = util_monotonic_ns() + shim_cfg.interval_ms * 1000000ull;
    if (shim_cfg.thread_always)
        shim_snapshot_start_thread();
}
