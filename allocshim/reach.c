/*
 * Reachability scan inside the audited process (docs/reachability.md): at
 * exit and with the snapshot signal, classify every outstanding block as
 * definitely / indirectly / possibly lost or still reachable, per stack,
 * into the snapshot's reachability section.
 *
 * The scan stops every other thread of the program with a real-time signal
 * (SHIM_REACH_SIGNAL) whose handler saves the thread's registers and stack
 * pointer into a slot and waits on a futex until the scan is over, so the
 * heap does not move under the marker. While they are stopped, the scanner
 * may hold no lock another thread could hold: it does not call malloc,
 * stdio, dl_iterate_phdr (called before the stop) or the heap table's
 * locking iterator; all its memory comes from mmap and is unmapped after.
 *
 * Roots, as valgrind memcheck sees them (docs/reachability.md): modules'
 * writable segments but the shim's; each live thread's stack from its stack
 * pointer up, its registers, static TLS and thread control block; every
 * other readable, writable mapping but the allocator's heap, the shim's own
 * memory and the blocks (scanned once reached). Marking and classification:
 * common/reachmark.c.
 */
#include "arch.h"
#include "interrupted.h"
#include "shim.h"
#include "procfs.h"
#include "reachmark.h"
#include "stacktable.h"
#include "util.h"

#include <errno.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define REACH_MAX_THREADS     8192
#define REACH_MAX_SEGMENTS    8192
#define REACH_STOP_TIMEOUT_NS (500ull * 1000000) /* then a thread counts as missed */
#define REACH_TLS_MAPPING_MAX (16u << 20)        /* a larger mapping around tp: scan a window */
#define REACH_TLS_WINDOW      (64u << 10)
#define REACH_TCB_BYTES       4096
#define REACH_MAPS_INITIAL    (1u << 20)
#define REACH_PAGE            util_page_size()
#define REACH_MAX_SHIM_SEGS   8
/* glibc's non-main arenas are heaps of HEAP_MAX_SIZE (2 x the largest mmap
 * threshold, 64 MiB on 64-bit) aligned to their size (malloc/arena.c). */
#define REACH_GLIBC_HEAP_ALIGN (64ull << 20)

/* What a line of /proc/self/maps names. */
enum map_kind { MAPPING_ANON, MAPPING_HEAP, MAPPING_STACK, MAPPING_FILE, MAPPING_SPECIAL };

struct parked {
    pid_t tid;
    int pad;
    uint64_t sp, tp;
    uint64_t regs[ARCH_NREGS];
};

struct segment {
    uint64_t start, end;
};

struct mapping {
    uint64_t start, end;
    uint8_t readable, writable;
    uint8_t kind;       /* enum map_kind */
    uint8_t live_stack; /* a running thread's stack: scanned from its sp only */
    uint8_t file_safe;  /* a file mapping that reads cannot fault on (file_is_safe) */
};

/* Shared with the signal handler. */
static struct parked *slots;
static int n_claimed;   /* slots taken by handlers */
static int n_parked;    /* futex: handlers increment it once their slot is filled */
static int release_gen; /* futex: bumped to resume the threads */
static int scan_active;
static int handler_signal;
static struct sigaction previous_action;

/* Memory mapped for one scan; every mapping is recorded to be unmapped. */
#define REACH_MAX_MAPS 16
static struct {
    void *p;
    size_t len;
} maps_made[REACH_MAX_MAPS];
static size_t n_maps_made;
static uint64_t mapped_now, mapped_peak;

static void *scan_map(size_t len)
{
    len = (len + REACH_PAGE - 1) & ~(size_t)(REACH_PAGE - 1);
    if (n_maps_made == REACH_MAX_MAPS)
        return NULL;
    void *p = shim_arena_map(len);
    if (!p)
        return NULL;
    maps_made[n_maps_made].p = p;
    maps_made[n_maps_made++].len = len;
    mapped_now += len;
    mapped_peak = mapped_now > mapped_peak ? mapped_now : mapped_peak;
    return p;
}

/* Grows a scan mapping in place or by moving it (only this thread runs). */
static void *scan_remap(void *old, size_t new_len)
{
    new_len = (new_len + REACH_PAGE - 1) & ~(size_t)(REACH_PAGE - 1);
    for (size_t i = 0; i < n_maps_made; i++) {
        if (maps_made[i].p != old)
            continue;
        long p = syscall(SYS_mremap, old, maps_made[i].len, new_len, MREMAP_MAYMOVE);
        if (p < 0 && p > -4096)
            return NULL;
        shim_arena_forget(old); /* maps_made keeps the new place */
        mapped_now += new_len - maps_made[i].len;
        mapped_peak = mapped_now > mapped_peak ? mapped_now : mapped_peak;
        maps_made[i].p = (void *)p;
        maps_made[i].len = new_len;
        return (void *)p;
    }
    return NULL;
}

static void scan_unmap_all(void)
{
    for (size_t i = 0; i < n_maps_made; i++) {
        shim_arena_forget(maps_made[i].p);
        syscall(SYS_munmap, maps_made[i].p, maps_made[i].len);
    }
    n_maps_made = 0;
    mapped_now = 0;
}

static long futex(int *addr, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* ---- stopping the world ---- */

static void chain_previous(int sig, siginfo_t *si, void *ctx)
{
    if (previous_action.sa_flags & SA_SIGINFO) {
        if (previous_action.sa_sigaction)
            previous_action.sa_sigaction(sig, si, ctx);
    } else if (previous_action.sa_handler == SIG_DFL) {
        /* the program did not expect this signal: its default action */
        sigaction(sig, &previous_action, NULL);
        syscall(SYS_tgkill, getpid(), shim_gettid(), sig);
    } else if (previous_action.sa_handler != SIG_IGN) {
        previous_action.sa_handler(sig);
    }
}

static void on_stop_signal(int sig, siginfo_t *si, void *ctx)
{
    if (si->si_code != SI_TKILL || si->si_pid != getpid()) {
        chain_previous(sig, si, ctx);
        return;
    }
    if (!__atomic_load_n(&scan_active, __ATOMIC_ACQUIRE))
        return; /* a late delivery after the scan ended */
    int saved_errno = errno;
    int gen = __atomic_load_n(&release_gen, __ATOMIC_ACQUIRE);
    int i = __atomic_fetch_add(&n_claimed, 1, __ATOMIC_ACQ_REL);
    if (i < REACH_MAX_THREADS) {
        const ucontext_t *uc = ctx;
        struct parked *p = &slots[i];
        arch_ctx_regs(uc, p->regs);
        p->sp = arch_ctx_sp(uc);
        p->tp = (uint64_t)pthread_self();
        __atomic_store_n(&p->tid, shim_gettid(), __ATOMIC_RELEASE);
        __atomic_add_fetch(&n_parked, 1, __ATOMIC_ACQ_REL);
        futex(&n_parked, FUTEX_WAKE_PRIVATE, 1, NULL);
    }
    while (__atomic_load_n(&release_gen, __ATOMIC_ACQUIRE) == gen)
        futex(&release_gen, FUTEX_WAIT_PRIVATE, gen, NULL);
    errno = saved_errno;
}

static void install_handler(void)
{
    struct sigaction cur, sa;
    handler_signal = SHIM_REACH_SIGNAL;
    if (sigaction(handler_signal, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == on_stop_signal)
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_stop_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask); /* nothing else runs on top of a parked thread */
    if (sigaction(handler_signal, &sa, &cur) == 0)
        previous_action = cur;
}

static int contains_tid(const pid_t *tids, size_t n, pid_t t)
{
    for (size_t i = 0; i < n; i++)
        if (tids[i] == t)
            return 1;
    return 0;
}

/* Signals every thread but this one and the shim's own, until a fresh
 * listing shows no thread that was not signalled; waits for them to park.
 * Returns the number of threads signalled that never parked (missed). */
static uint32_t stop_world(pid_t *signalled, size_t *n_signalled, pid_t *missed_tids)
{
    pid_t self = shim_gettid();
    pid_t list[REACH_MAX_THREADS];
    size_t n_sig = 0;
    uint64_t deadline = util_monotonic_ns() + REACH_STOP_TIMEOUT_NS;
    for (;;) {
        size_t n = procfs_list_threads(list, REACH_MAX_THREADS), added = 0;
        for (size_t i = 0; i < n; i++) {
            pid_t t = list[i];
            if (t == self || t == shim_snapshot_tid || contains_tid(signalled, n_sig, t) ||
                shim_foreign_thread(t) || n_sig == REACH_MAX_THREADS)
                continue;
            if (syscall(SYS_tgkill, getpid(), t, handler_signal) == 0) {
                signalled[n_sig++] = t;
                added++;
            }
        }
        /* wait until everyone signalled so far parked, or the deadline */
        for (;;) {
            int parked = __atomic_load_n(&n_parked, __ATOMIC_ACQUIRE);
            if ((size_t)parked >= n_sig)
                break;
            uint64_t now = util_monotonic_ns();
            if (now >= deadline)
                break;
            struct timespec ts = {0, 1000000};
            futex(&n_parked, FUTEX_WAIT_PRIVATE, parked, &ts);
        }
        if (!added || util_monotonic_ns() >= deadline)
            break;
    }
    *n_signalled = n_sig;
    /* Threads that did not park: exited meanwhile, or block the signal. */
    uint32_t missed = 0;
    for (size_t i = 0; i < n_sig; i++) {
        int found = 0;
        for (int k = 0; k < REACH_MAX_THREADS && slots[k].tid && !found; k++)
            found = __atomic_load_n(&slots[k].tid, __ATOMIC_ACQUIRE) == signalled[i];
        if (found)
            continue;
        char path[64] = "/proc/thread-self/../";
        size_t len = strlen(path);
        util_u64_to_dec((uint64_t)signalled[i], path + len, sizeof(path) - len);
        if (access(path, F_OK) == 0)
            missed_tids[missed++] = signalled[i];
    }
    return missed;
}

static void resume_world(void)
{
    __atomic_store_n(&scan_active, 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&release_gen, 1, __ATOMIC_ACQ_REL);
    futex(&release_gen, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL);
}

/* ---- roots ---- */

static struct segment *segments;
static size_t n_segments;
static struct segment shim_segments[REACH_MAX_SHIM_SEGS];
static size_t n_shim_segments;

static int collect_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
    uint64_t self = (uint64_t)(uintptr_t)&scan_active;
    struct segment local[64];
    size_t n = 0;
    int is_shim = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uint64_t start = info->dlpi_addr + ph->p_vaddr;
        uint64_t end = start + ph->p_memsz;
        /* the page tail past the segment still belongs to it (ld.so keeps
         * its early allocations there) */
        end = (end + REACH_PAGE - 1) & ~(uint64_t)(REACH_PAGE - 1);
        if (self >= start && self < end)
            is_shim = 1;
        if (n < 64)
            local[n++] = (struct segment){start, end};
    }
    if (is_shim) { /* the shim's own data: tables and pointers of its own */
        for (size_t i = 0; i < n && n_shim_segments < REACH_MAX_SHIM_SEGS; i++)
            shim_segments[n_shim_segments++] = local[i];
        return 0;
    }
    for (size_t i = 0; i < n && n_segments < REACH_MAX_SEGMENTS; i++)
        segments[n_segments++] = local[i];
    return 0;
}

static struct mapping *mappings;
static size_t n_mappings;

static uint64_t parse_hex(const char **p)
{
    uint64_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v * 16 + (uint64_t)d;
    }
}

/*
 * A writable file mapping is read as a root only when reading it cannot
 * fault or touch a device: private (a shared one is not this process's
 * heap bookkeeping), not under /dev, the file still there and covering the
 * whole mapping (a page past the end of the file raises SIGBUS, and the
 * scan has no fault handler). Modules' data segments are scanned anyway.
 * perms points at the permissions field of the maps line, name at the path.
 */
static int file_is_safe(const struct mapping *m, const char *perms, const char *name,
                        const char *eol)
{
    char path[PATH_MAX];
    size_t len = (size_t)(eol - name);
    if (perms[3] != 'p' || len >= sizeof(path) || !strncmp(name, "/dev/", 5))
        return 0;
    memcpy(path, name, len);
    path[len] = '\0';
    const char *o = perms + 5; /* "rw-p " then the offset */
    uint64_t offset = parse_hex(&o);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) /* also "(deleted)" files */
        return 0;
    uint64_t covered = ((uint64_t)st.st_size + REACH_PAGE - 1) & ~(uint64_t)(REACH_PAGE - 1);
    return offset + (m->end - m->start) <= covered;
}

/* Reads our maps (util_proc_path) into `mappings` (sorted by address). */
static int read_maps(void)
{
    size_t cap = REACH_MAPS_INITIAL;
    char *buf = scan_map(cap);
    if (!buf)
        return -ENOMEM;
    size_t len;
    for (;;) {
        char maps_path[64];
        int fd =
            open(util_proc_path(maps_path, sizeof(maps_path), 0, "maps"), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        len = 0;
        ssize_t got;
        while (len < cap && (got = read(fd, buf + len, cap - len)) > 0)
            len += (size_t)got;
        close(fd);
        if (len < cap)
            break;
        if (!(buf = scan_remap(buf, cap * 2)))
            return -ENOMEM;
        cap *= 2;
    }
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    mappings = scan_map((lines + 1) * sizeof(*mappings));
    if (!mappings)
        return -ENOMEM;
    n_mappings = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        struct mapping *m = &mappings[n_mappings];
        m->start = parse_hex(&p);
        p++; /* '-' */
        m->end = parse_hex(&p);
        p++; /* ' ' */
        m->readable = p[0] == 'r';
        m->writable = p[1] == 'w';
        m->live_stack = 0;
        /* perms offset dev inode, then the name (if any) */
        const char *q = p;
        for (int field = 0; field < 4 && q < eol; field++) {
            while (q < eol && *q != ' ')
                q++;
            while (q < eol && *q == ' ')
                q++;
        }
        if (q == eol || !strncmp(q, "[anon:", 6))
            m->kind = MAPPING_ANON;
        else if (!strncmp(q, "[heap]", 6))
            m->kind = MAPPING_HEAP;
        else if (!strncmp(q, "[stack]", 7))
            m->kind = MAPPING_STACK;
        else
            m->kind = *q == '[' ? MAPPING_SPECIAL : MAPPING_FILE;
        m->file_safe = m->kind == MAPPING_FILE && file_is_safe(m, p, q, eol);
        n_mappings++;
        p = eol + 1;
    }
    return 0;
}

static const struct mapping *mapping_of(uint64_t a)
{
    size_t l = 0, r = n_mappings;
    while (l < r) {
        size_t mid = l + (r - l) / 2;
        if (mappings[mid].end <= a)
            l = mid + 1;
        else
            r = mid;
    }
    if (l < n_mappings && mappings[l].start <= a && a < mappings[l].end)
        return &mappings[l];
    return NULL;
}

/* Scans [start, end) where it is mapped readable (a module may have been
 * unloaded, a segment tail may be unmapped). */
static void scan_mapped(struct rmark *m, uint64_t start, uint64_t end)
{
    while (start < end) {
        const struct mapping *mp = mapping_of(start);
        if (!mp) {
            /* skip to the next mapping */
            size_t l = 0, r = n_mappings;
            while (l < r) {
                size_t mid = l + (r - l) / 2;
                if (mappings[mid].start <= start)
                    l = mid + 1;
                else
                    r = mid;
            }
            if (l == n_mappings)
                return;
            start = mappings[l].start;
            continue;
        }
        uint64_t stop = mp->end < end ? mp->end : end;
        if (mp->readable)
            rmark_scan_root(m, start, stop);
        start = stop;
    }
}

/*
 * glibc's DTV (a thread's vector of TLS blocks) is a calloc'ed block the
 * thread control block points to one element (16 bytes) past its start,
 * an interior pointer that alone would make it "possibly lost" -- for
 * every live thread, and for every exited thread whose stack glibc keeps
 * in its cache. The TCB is found as common/arch.h's arch_tcb_dtv says
 * (x86-64: by its shape; aarch64: by the DTV block it points into); its DTV
 * is then reachable, and so are the dynamic TLS blocks it holds.
 */
#define REACH_TCB_SEARCH (64u << 10) /* the TCB is at the top of a thread's stack mapping */

static void scan_tcbs(struct rmark *m, uint64_t start, uint64_t end)
{
    start = (start + 7) & ~(uint64_t)7;
    if (end - start > REACH_TCB_SEARCH)
        start = end - REACH_TCB_SEARCH;
    for (uint64_t a = start; a + ARCH_TCB_WORDS * sizeof(uint64_t) <= end; a += sizeof(uint64_t)) {
        uint64_t dtv = arch_tcb_dtv((const uint64_t *)(uintptr_t)a, a);
        if (!dtv)
            continue;
        long b = rmark_find(m, dtv);
        if (b < 0 || m->blocks[b].addr != dtv)
            continue;
        if (ARCH_DTV_CHECK_LEN && m->blocks[b].size != (*(const uint64_t *)(uintptr_t)dtv + 2) * 16)
            continue; /* not a DTV: its length word does not give its size */
        rmark_scan_values(m, &dtv, 1);
    }
}

/* A thread's stack from sp down (minus the red zone) to the end of its
 * mapping -- or of the heap block holding it (pthread_attr_setstack). */
static void scan_stack(struct rmark *m, uint64_t sp)
{
    uint64_t from = sp - ARCH_RED_ZONE;
    long b = rmark_find(m, sp);
    if (b >= 0) {
        rmark_scan_root(m, from, m->blocks[b].addr + m->blocks[b].size);
        return;
    }
    const struct mapping *mp = mapping_of(sp);
    if (mp) {
        scan_mapped(m, from < mp->start ? mp->start : from, mp->end);
        scan_tcbs(m, sp, mp->end);
    }
}

/* Static TLS and the TCB, below and at the thread pointer: in a glibc
 * thread's stack mapping above the stack (scanned already); the main
 * thread's in an anonymous mapping of their own. */
static void scan_tls(struct rmark *m, uint64_t tp, uint64_t sp)
{
    const struct mapping *mp = mapping_of(tp);
    if (!mp || (mp == mapping_of(sp) && tp >= sp))
        return;
    uint64_t start = mp->start, end = mp->end;
    if (end - start <= REACH_TLS_MAPPING_MAX && !rmark_has_blocks(m, start, end)) {
        scan_mapped(m, start, end);
        return;
    }
    /* a window around tp, less the blocks in it: the kernel merges the main
     * thread's TLS mapping with a block served by mmap right below it */
    start = tp - REACH_TLS_WINDOW > mp->start ? tp - REACH_TLS_WINDOW : mp->start;
    end = tp + REACH_TCB_BYTES < mp->end ? tp + REACH_TCB_BYTES : mp->end;
    if (mp->readable)
        rmark_scan_root_between_blocks(m, start, end);
}

/* ---- every other writable mapping ---- */

/* Ranges never scanned as "other mappings": the module segments (scanned
 * already), the shim's own data, tables and scan memory. */
static struct segment *excluded;
static size_t n_excluded;

static void exclude(uint64_t start, uint64_t end)
{
    if (end > start)
        excluded[n_excluded++] = (struct segment){start, end};
}

/* Builds `excluded`, sorted by start (no qsort: it may allocate); -1 when
 * the shim's own memory is not fully known (its arena table overflowed). */
static int build_exclusions(void)
{
    const struct shim_range *arena;
    long n_arena = shim_arena_ranges(&arena);
    if (n_arena < 0)
        return -1;
    excluded = scan_map((n_segments + REACH_MAX_SHIM_SEGS + (size_t)n_arena + REACH_MAX_MAPS) *
                        sizeof(*excluded));
    if (!excluded)
        return -1;
    n_excluded = 0;
    for (size_t i = 0; i < n_segments; i++)
        exclude(segments[i].start, segments[i].end);
    for (size_t i = 0; i < n_shim_segments; i++)
        exclude(shim_segments[i].start, shim_segments[i].end);
    for (long i = 0; i < n_arena; i++)
        exclude(arena[i].start, __atomic_load_n(&arena[i].end, __ATOMIC_ACQUIRE));
    for (size_t i = 0; i < n_maps_made; i++)
        exclude((uint64_t)(uintptr_t)maps_made[i].p,
                (uint64_t)(uintptr_t)maps_made[i].p + maps_made[i].len);
    for (size_t gap = n_excluded / 2; gap > 0; gap /= 2) /* shell sort */
        for (size_t i = gap; i < n_excluded; i++)
            for (size_t j = i; j >= gap && excluded[j - gap].start > excluded[j].start; j -= gap) {
                struct segment t = excluded[j];
                excluded[j] = excluded[j - gap];
                excluded[j - gap] = t;
            }
    return 0;
}

/* Scans [start, end) minus the excluded ranges and the blocks. */
static void scan_minus_excluded(struct rmark *m, uint64_t start, uint64_t end)
{
    for (size_t i = 0; i < n_excluded && start < end; i++) {
        const struct segment *x = &excluded[i];
        if (x->end <= start)
            continue;
        if (x->start >= end)
            break;
        if (x->start > start)
            rmark_scan_root_between_blocks(m, start, x->start);
        start = x->end > start ? x->end : start;
    }
    if (start < end)
        rmark_scan_root_between_blocks(m, start, end);
}

/*
 * Every readable, writable mapping that is no other kind of root: memory
 * the program or a library mapped itself. Not roots: [heap] (brk: glibc's
 * main arena, tcmalloc's first spans), running threads' stacks (scanned
 * from their stack pointer), and the allocator's arenas -- a mapping that
 * holds a block, except under glibc where only its 64 MiB-aligned arena
 * heaps are arenas and a mapping holding a block is a block served by mmap
 * (possibly merged by the kernel with a neighbouring mapping of the
 * program's) whose surroundings are scanned.
 */
static void scan_other_mappings(struct rmark *m, int glibc)
{
    for (size_t i = 0; i < n_mappings; i++) {
        const struct mapping *mp = &mappings[i];
        if (!mp->readable || !mp->writable || mp->live_stack || mp->kind == MAPPING_HEAP ||
            mp->kind == MAPPING_SPECIAL || (mp->kind == MAPPING_FILE && !mp->file_safe))
            continue;
        if (rmark_has_blocks(m, mp->start, mp->end) &&
            (!glibc || mp->start % REACH_GLIBC_HEAP_ALIGN == 0))
            continue;
        scan_minus_excluded(m, mp->start, mp->end);
        if (mp->kind == MAPPING_ANON)
            scan_tcbs(m, mp->start, mp->end);
    }
}

/* The text of the allocator's library when it is not libc (found before
 * the stop): blocks it allocates for itself are its bookkeeping. */
static uint64_t allocator_lo, allocator_hi;

static int find_allocator(struct dl_phdr_info *info, size_t size, void *arg)
{
    uint64_t fn = (uint64_t)(uintptr_t)arg, lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uint64_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        lo = s < lo ? s : lo;
        hi = e > hi ? e : hi;
    }
    if (fn >= lo && fn < hi) {
        allocator_lo = lo;
        allocator_hi = hi;
        return 1;
    }
    return 0;
}

/* Blocks the allocator allocated for itself (the caller of malloc/new is
 * inside it) count as reached from a root: its own metadata, not the
 * program's (tcmalloc's MallocExtension instance is one). */
static void root_allocator_blocks(struct rmark *m)
{
    if (!allocator_hi)
        return;
    const struct stk_table *t = shim_stacks();
    for (size_t i = 0; i < m->n; i++) {
        const uint64_t *frames;
        uint32_t depth = t->slots ? stk_table_get(t, m->blocks[i].stack_id, &frames) : 0;
        if (depth && frames[0] >= allocator_lo && frames[0] < allocator_hi)
            rmark_scan_values(m, &m->blocks[i].addr, 1);
    }
}

/* Marks the mapping holding sp as a running thread's stack. */
static void mark_live_stack(uint64_t sp)
{
    struct mapping *mp = (struct mapping *)mapping_of(sp);
    if (mp)
        mp->live_stack = 1;
}

/* ---- the scan ---- */

struct collect {
    struct rmark_block *blocks;
    size_t n, cap;
    int overflow;
};

static void collect_block(uintptr_t addr, uint64_t bytes, uint32_t stack_id, void *arg)
{
    struct collect *c = arg;
    if (c->n == c->cap) {
        struct rmark_block *nb = scan_remap(c->blocks, c->cap * 2 * sizeof(*nb));
        if (!nb) {
            c->overflow = 1;
            return;
        }
        c->blocks = nb;
        c->cap *= 2;
    }
    c->blocks[c->n++] = (struct rmark_block){.addr = addr, .size = bytes, .stack_id = stack_id};
}

/* glibc's exit-handler lists are left out of the blocks (exit() frees them
 * right after this scan) but what they point to -- the arguments of
 * registered destructors -- stays reachable through them until then. */
static void scan_exit_list(uintptr_t addr, uint64_t bytes, void *arg)
{
    rmark_scan_root(arg, addr, addr + bytes);
}

static void count_live(const struct snap_heap_entry *e, void *arg)
{
    *(uint64_t *)arg += e->live_count;
}

/* The calling thread, its stack mapping marked live. At exit, its stack
 * from where the program's exit path called the shim (shim_exit_sp) up: the
 * shim's frames and the registers of a thread in exit() are not roots.
 * Called in by the attaching process (attach --inject): as the program left
 * it (shim_interrupted), not from the call's frames and the dead stack below
 * the program's. Otherwise its registers and its stack from here. */
static __attribute__((noinline)) void scan_current_thread(struct rmark *m)
{
    const struct interrupted_thread *it = __atomic_load_n(&shim_interrupted, __ATOMIC_ACQUIRE);
    uint64_t exit_sp = __atomic_load_n(&shim_exit_sp, __ATOMIC_ACQUIRE), sp = exit_sp;
    if (it && shim_interrupted_tid == shim_gettid()) {
        sp = it->sp;
        mark_live_stack(sp);
        rmark_scan_values(m, it->regs, it->n_regs);
        scan_stack(m, sp);
    } else if (exit_sp) {
        const struct mapping *mp = mapping_of(exit_sp);
        mark_live_stack(exit_sp);
        if (mp) {
            scan_mapped(m, exit_sp, mp->end);
            scan_tcbs(m, exit_sp, mp->end);
        }
    } else {
        ucontext_t uc;
        getcontext(&uc);
        uint64_t regs[ARCH_NREGS];
        arch_ctx_regs(&uc, regs);
        rmark_scan_values(m, regs, ARCH_NREGS);
        sp = (uint64_t)(uintptr_t)__builtin_frame_address(0);
        mark_live_stack(sp);
        scan_stack(m, sp);
    }
    scan_tls(m, (uint64_t)pthread_self(), sp);
}

/* Per-stack totals of the marked blocks, written as the info record and
 * one entry per stack with blocks (in the scan's own memory). */
static void write_classes(struct snap_writer *w, const struct rmark *m,
                          const struct snap_reach_info *info)
{
    uint32_t max_id = 0;
    for (size_t i = 0; i < m->n; i++)
        max_id = m->blocks[i].stack_id > max_id ? m->blocks[i].stack_id : max_id;
    struct snap_reach_entry *per = scan_map(((size_t)max_id + 1) * sizeof(*per));
    if (per) {
        for (size_t i = 0; i < m->n; i++) {
            const struct rmark_block *b = &m->blocks[i];
            per[b->stack_id].bytes[b->state] += b->size;
            per[b->stack_id].blocks[b->state]++;
        }
    }
    if (per) {
        snap_write_reach_info(w, info);
        for (uint32_t id = 0; id <= max_id; id++) {
            struct snap_reach_entry *e = &per[id];
            uint64_t blocks = 0;
            for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++)
                blocks += e->blocks[c];
            if (!blocks)
                continue;
            e->stack_id = id;
            snap_write_reach(w, e);
        }
    }
}

/* LEAKAUDIT_REACH_WHY, the world still stopped: the stopped threads' ids and
 * stack pointers name the stacks roots are found in. */
static void explain(const struct rmark *m, void *why, int n_stopped)
{
    pid_t *tids = scan_map((size_t)(n_stopped + 1) * sizeof(pid_t));
    uint64_t *sps = scan_map((size_t)(n_stopped + 1) * sizeof(uint64_t));
    if (!tids || !sps)
        return;
    for (int i = 0; i < n_stopped; i++) {
        tids[i] = slots[i].tid;
        sps[i] = slots[i].sp;
    }
    shim_reach_why_report(m, why, tids, sps, n_stopped);
}

int shim_reach_emit(struct snap_writer *w, void *trigger_arg)
{
    int trigger = *(const int *)trigger_arg;
    if (!shim_cfg.reachability || shim_cfg.mode != SNAP_MODE_FULL || !shim_cfg.track_heap)
        return w->error;
    int injected_scan = trigger == SNAP_TRIGGER_DETACH ||
                        (trigger == SNAP_TRIGGER_INTERVAL && shim_reach_every_snapshot);
    if (trigger != SNAP_TRIGGER_EXIT && trigger != SNAP_TRIGGER_SIGNAL && !injected_scan)
        return w->error;
    uint64_t t0 = util_monotonic_ns();
    struct snap_reach_info info = {0};
    mapped_peak = mapped_now = 0;

    /* Before the stop: anything that may take a lock (the loader's). */
    segments = scan_map(REACH_MAX_SEGMENTS * sizeof(*segments));
    slots = scan_map(REACH_MAX_THREADS * sizeof(*slots));
    pid_t *signalled = scan_map(2 * REACH_MAX_THREADS * sizeof(pid_t));
    uint64_t estimate = 0;
    shim_heap_foreach_stack(count_live, &estimate);
    struct collect col = {.cap = estimate + estimate / 4 + 4096};
    col.blocks = scan_map(col.cap * sizeof(*col.blocks));
    if (!segments || !slots || !signalled || !col.blocks) {
        scan_unmap_all();
        return w->error;
    }
    n_segments = n_shim_segments = 0;
    dl_iterate_phdr(collect_segment, NULL);
    Dl_info allocator_info;
    int glibc = dladdr((void *)shim_real.malloc, &allocator_info) && allocator_info.dli_fname &&
                strstr(allocator_info.dli_fname, "libc.so");
    allocator_lo = allocator_hi = 0;
    if (!glibc)
        dl_iterate_phdr(find_allocator, (void *)shim_real.malloc);
    install_handler();

    /* Stop the world, with the heap table's layout held (a thread stopped
     * while growing it would leave it half moved). */
    shim_heap_layout_hold();
    uint64_t pause0 = util_monotonic_ns();
    __atomic_store_n(&n_parked, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&n_claimed, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&scan_active, 1, __ATOMIC_RELEASE);
    size_t n_signalled = 0;
    pid_t *missed = signalled + REACH_MAX_THREADS;
    uint32_t n_missed = stop_world(signalled, &n_signalled, missed);
    int n_stopped = 0; /* slots filled (a slot claimed but not yet filled is skipped) */
    while (n_stopped < REACH_MAX_THREADS &&
           __atomic_load_n(&slots[n_stopped].tid, __ATOMIC_ACQUIRE))
        n_stopped++;

    int rc = read_maps();
    shim_heap_foreach_live_stopped(collect_block, &col);
    void *scratch = rc == 0 ? scan_map(rmark_sort_scratch(col.n)) : NULL;
    uint32_t *mark_stack = scratch ? scan_map((2 * col.n + 1) * sizeof(uint32_t)) : NULL;
    if (rc < 0 || col.overflow || !scratch || !mark_stack) {
        resume_world();
        shim_heap_layout_release();
        scan_unmap_all();
        return w->error;
    }
    rmark_sort(col.blocks, col.n, scratch);
    struct rmark m = {
        .blocks = col.blocks, .n = col.n, .stack = mark_stack, .ignore_chunk_tail = glibc};
    rmark_begin(&m);
    void *why = shim_cfg.reach_why ? scan_map(shim_reach_why_bytes(m.n)) : NULL;
    shim_reach_why_begin(&m, why); /* LEAKAUDIT_REACH_WHY (NULL: off) */
    for (size_t i = 0; i < n_segments; i++)
        scan_mapped(&m, segments[i].start, segments[i].end);
    shim_heap_foreach_flagged_stopped(SHIM_BLOCK_EXIT_LIST, scan_exit_list, &m);
    for (int i = 0; i < n_stopped; i++) {
        mark_live_stack(slots[i].sp);
        rmark_scan_values(&m, slots[i].regs, ARCH_NREGS);
        scan_stack(&m, slots[i].sp);
        scan_tls(&m, slots[i].tp, slots[i].sp);
    }
    for (uint32_t i = 0; i < n_missed; i++) {
        /* not stopped (blocks the signal, or stuck in the kernel): its
         * stack as it is now, from where its system call left it */
        uint64_t sp = procfs_blocked_sp(missed[i]);
        if (sp) {
            mark_live_stack(sp);
            scan_stack(&m, sp);
        }
    }
    if (shim_gettid() != shim_snapshot_tid)
        scan_current_thread(&m);
    /* The snapshot thread is the shim's: its stack is no root. Its DTV is
     * glibc's, reached from its TCB as any thread's (under attach --inject
     * the heap walk lists it: pthread_create calloc'ed it through the
     * loader, which passes no GOT slot -- docs/inject.md). */
    uint64_t snapshot_stack = __atomic_load_n(&shim_snapshot_stack, __ATOMIC_ACQUIRE);
    const struct mapping *snapshot_mp = snapshot_stack ? mapping_of(snapshot_stack) : NULL;
    if (snapshot_mp) {
        mark_live_stack(snapshot_stack);
        scan_tcbs(&m, snapshot_stack, snapshot_mp->end);
    }
    root_allocator_blocks(&m);
    if (build_exclusions() == 0)
        scan_other_mappings(&m, glibc);
    else
        info.flags |= SNAP_REACH_MAPPINGS_SKIPPED;
    rmark_classify(&m);
    if (why)
        explain(&m, why, n_stopped);
    resume_world();
    shim_heap_layout_release();
    uint64_t pause_ns = util_monotonic_ns() - pause0;

    info.flags |= n_missed ? SNAP_REACH_THREADS_MISSED : 0;
    info.threads_stopped = (uint32_t)n_stopped;
    info.threads_missed = n_missed;
    info.pause_ns = pause_ns;
    info.blocks_scanned = m.n;
    info.roots_bytes = m.roots_bytes;
    info.extra_bytes = mapped_peak;
    info.scan_ns = util_monotonic_ns() - t0;
    write_classes(w, &m, &info);
    scan_unmap_all();
    return w->error;
}
