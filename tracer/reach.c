/*
 * Reachability scan in attach mode (docs/reachability.md): the target is
 * stopped with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT on every thread), its
 * registers read with PTRACE_GETREGS and its memory with process_vm_readv,
 * the allocations the BPF probes saw (the `allocs` map) classified with the
 * same marker as the shim (common/reachmark.c), and every thread detached
 * again -- on success, on errors and on Ctrl-C alike.
 *
 * Only allocations made since the attach are known. Older blocks may hold
 * pointers to newer ones, so every writable mapping of the target is a root
 * except the known blocks themselves (and below each thread's stack
 * pointer): a block reported lost is lost, but a lost block may be missed
 * when a stale copy of its address sits in old or freed heap memory. The
 * section's SNAP_REACH_ATTACH_ONLY flag says so.
 */
#include "tracer.h"
#include "reachmark.h"
#include "bpf/trace_events.h"
#include "util.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define REACH_MAX_THREADS 65536
#define REACH_STOP_ROUNDS 8 /* re-list threads until no new one appears */
#define REACH_RED_ZONE 128

struct thread_state {
    pid_t tid;
    int seized;
    int stopped;
    struct user_regs_struct regs;
};

struct mapping {
    uint64_t start, end;
    int readable, writable, is_device;
};

static size_t read_remote(void *arg, uint64_t addr, void *buf, size_t len)
{
    pid_t pid = *(pid_t *)arg;
    struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n > 0)
        return (size_t)n;
    /* a partially unmapped range fails as a whole: retry page by page */
    size_t got = 0;
    while (got < len) {
        size_t chunk = 4096 - ((addr + got) & 4095);
        if (chunk > len - got)
            chunk = len - got;
        local.iov_base = (char *)buf + got;
        local.iov_len = chunk;
        remote.iov_base = (void *)(uintptr_t)(addr + got);
        remote.iov_len = chunk;
        if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)chunk)
            break;
        got += chunk;
    }
    return got;
}

static int has_thread(const struct thread_state *t, size_t n, pid_t tid)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].tid == tid)
            return 1;
    return 0;
}

/* Seizes and interrupts every thread; returns how many were stopped. */
static size_t stop_target(pid_t pid, struct thread_state *t, size_t *n_threads)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    size_t n = 0;
    for (int round = 0; round < REACH_STOP_ROUNDS; round++) {
        DIR *d = opendir(path);
        if (!d)
            break;
        size_t added = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < REACH_MAX_THREADS) {
            pid_t tid = (pid_t)atoi(de->d_name);
            if (tid <= 0 || has_thread(t, n, tid))
                continue;
            t[n] = (struct thread_state){.tid = tid};
            if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) == 0) {
                t[n].seized = 1;
                ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
            }
            n++;
            added++;
        }
        closedir(d);
        if (!added)
            break;
    }
    size_t stopped = 0;
    for (size_t i = 0; i < n; i++) {
        if (!t[i].seized)
            continue;
        int status;
        /* the interrupt arrives as a PTRACE_EVENT_STOP; other stops (a
         * signal arriving meanwhile) are also stops, good enough to read */
        if (waitpid(t[i].tid, &status, __WALL) == t[i].tid && WIFSTOPPED(status)) {
            t[i].stopped = 1;
            if (ptrace(PTRACE_GETREGS, t[i].tid, NULL, &t[i].regs) == 0)
                stopped++;
            else
                t[i].stopped = 0;
        }
    }
    *n_threads = n;
    return stopped;
}

/* Always runs: a seized thread is detached whatever happened. A signal that
 * stopped it meanwhile is given back to it. */
static void resume_target(struct thread_state *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!t[i].seized)
            continue;
        ptrace(PTRACE_DETACH, t[i].tid, NULL, NULL);
    }
}

static size_t read_maps(pid_t pid, struct mapping **out)
{
    char path[64], line[4096];
    snprintf(path, sizeof(path), "/proc/%d/maps", pid);
    FILE *f = fopen(path, "re");
    *out = NULL;
    if (!f)
        return 0;
    size_t n = 0, cap = 0;
    struct mapping *m = NULL;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long s, e;
        char perms[8] = "", name[4096] = "";
        if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %4095[^\n]", &s, &e, perms, name) < 3)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            struct mapping *p = realloc(m, nc * sizeof(*p));
            if (!p)
                break;
            m = p;
            cap = nc;
        }
        m[n++] = (struct mapping){
            .start = s, .end = e, .readable = perms[0] == 'r', .writable = perms[1] == 'w',
            /* device memory may not be readable without side effects */
            .is_device = !strncmp(name, "/dev/", 5) && strncmp(name, "/dev/zero", 9) &&
                         strncmp(name, "/dev/shm/", 9),
        };
        if (!strcmp(name, "[vvar]") || !strcmp(name, "[vsyscall]") || !strcmp(name, "[vdso]"))
            m[n - 1].writable = 0;
    }
    fclose(f);
    *out = m;
    return n;
}

static const struct mapping *mapping_of(const struct mapping *m, size_t n, uint64_t a)
{
    for (size_t i = 0; i < n; i++)
        if (a >= m[i].start && a < m[i].end)
            return &m[i];
    return NULL;
}

/* Scans [start, end) as a root, skipping the known blocks inside it. */
static void scan_excluding_blocks(struct rmark *m, uint64_t start, uint64_t end)
{
    size_t l = 0, r = m->n;
    while (l < r) { /* first block ending after start */
        size_t mid = l + (r - l) / 2;
        if (m->blocks[mid].addr + m->blocks[mid].size <= start)
            l = mid + 1;
        else
            r = mid;
    }
    uint64_t at = start;
    for (size_t i = l; i < m->n && m->blocks[i].addr < end; i++) {
        const struct rmark_block *b = &m->blocks[i];
        if (b->addr > at)
            rmark_scan_root(m, at, b->addr);
        if (b->addr + b->size > at)
            at = b->addr + b->size;
    }
    if (at < end)
        rmark_scan_root(m, at, end);
}

int trc_reach_scan(struct trc_drain *d, struct trc_probes *p, int pid, struct trc_reach *out,
                   char *err, size_t errlen)
{
    uint64_t t0 = util_monotonic_ns();
    memset(&out->info, 0, sizeof(out->info));
    out->n = 0;
    int allocs, sites, stacks;
    if (trc_probes_heap_fds(p, &allocs, &sites, &stacks)) {
        snprintf(err, errlen, "reachability: heap probes are not attached");
        return -ENOENT;
    }
    struct thread_state *threads = calloc(REACH_MAX_THREADS, sizeof(*threads));
    if (!threads) {
        snprintf(err, errlen, "reachability: out of memory");
        return -ENOMEM;
    }
    uint64_t pause0 = util_monotonic_ns();
    size_t n_threads = 0;
    size_t stopped = stop_target((pid_t)pid, threads, &n_threads);
    int rc = 0;
    struct rmark m = {0};
    struct mapping *maps = NULL;
    void *scratch = NULL;
    uint64_t extra = (uint64_t)REACH_MAX_THREADS * sizeof(*threads);
    if (!stopped) {
        snprintf(err, errlen, "reachability: cannot stop pid %d with ptrace: %s", pid,
                 strerror(errno ? errno : ESRCH));
        rc = -EPERM;
        goto out;
    }

    /* The allocations the probes saw, read while nothing can change them. */
    size_t cap = 4096;
    m.blocks = malloc(cap * sizeof(*m.blocks));
    uint64_t key, next;
    struct trc_alloc a;
    int first = 1;
    while (m.blocks && bpf_map_get_next_key(allocs, first ? NULL : &key, &next) == 0) {
        first = 0;
        key = next;
        if (bpf_map_lookup_elem(allocs, &key, &a))
            continue;
        if (m.n == cap) {
            struct rmark_block *nb = realloc(m.blocks, cap * 2 * sizeof(*nb));
            if (!nb)
                break;
            m.blocks = nb;
            cap *= 2;
        }
        m.blocks[m.n++] = (struct rmark_block){
            .addr = key, .size = a.size, .stack_id = trc_drain_heap_site_id(d, &a.site)};
    }
    scratch = malloc(rmark_sort_scratch(m.n) + 1);
    m.stack = malloc((2 * m.n + 1) * sizeof(uint32_t));
    m.chunk = malloc(RMARK_READ_CHUNK);
    if (!m.blocks || !scratch || !m.stack || !m.chunk) {
        snprintf(err, errlen, "reachability: out of memory");
        rc = -ENOMEM;
        goto out;
    }
    extra += cap * sizeof(*m.blocks) + rmark_sort_scratch(m.n) + (2 * m.n + 1) * 4 +
             RMARK_READ_CHUNK;
    rmark_sort(m.blocks, m.n, scratch);
    pid_t target = (pid_t)pid;
    m.read = read_remote;
    m.read_arg = &target;
    rmark_begin(&m);

    size_t n_maps = read_maps(target, &maps);
    /* registers and stacks (from the stack pointer) of every stopped thread */
    for (size_t i = 0; i < n_threads; i++) {
        if (!threads[i].stopped)
            continue;
        rmark_scan_values(&m, (const uint64_t *)&threads[i].regs,
                          sizeof(threads[i].regs) / sizeof(uint64_t));
        uint64_t sp = threads[i].regs.rsp;
        const struct mapping *mp = mapping_of(maps, n_maps, sp);
        if (mp && mp->readable)
            scan_excluding_blocks(&m, sp - REACH_RED_ZONE < mp->start ? mp->start
                                                                      : sp - REACH_RED_ZONE,
                                  mp->end);
    }
    /* every other writable mapping: data, bss, TLS, and heap memory the
     * probes did not see allocated */
    for (size_t i = 0; i < n_maps; i++) {
        const struct mapping *mp = &maps[i];
        if (!mp->readable || !mp->writable || mp->is_device)
            continue;
        int is_stack = 0;
        for (size_t k = 0; k < n_threads && !is_stack; k++)
            is_stack = threads[k].stopped && threads[k].regs.rsp >= mp->start &&
                       threads[k].regs.rsp < mp->end;
        if (!is_stack)
            scan_excluding_blocks(&m, mp->start, mp->end);
    }
    rmark_classify(&m);

out:
    resume_target(threads, n_threads);
    out->info.pause_ns = util_monotonic_ns() - pause0;
    if (rc == 0) {
        /* per-stack totals */
        uint32_t max_id = 0;
        for (size_t i = 0; i < m.n; i++)
            max_id = m.blocks[i].stack_id > max_id ? m.blocks[i].stack_id : max_id;
        struct snap_reach_entry *per = calloc((size_t)max_id + 1, sizeof(*per));
        if (!per) {
            rc = -ENOMEM;
            snprintf(err, errlen, "reachability: out of memory");
        } else {
            extra += ((size_t)max_id + 1) * sizeof(*per);
            for (size_t i = 0; i < m.n; i++) {
                per[m.blocks[i].stack_id].bytes[m.blocks[i].state] += m.blocks[i].size;
                per[m.blocks[i].stack_id].blocks[m.blocks[i].state]++;
            }
            size_t k = 0;
            for (uint32_t id = 0; id <= max_id; id++) {
                uint64_t b = 0;
                for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++)
                    b += per[id].blocks[c];
                if (!b)
                    continue;
                per[id].stack_id = id;
                per[k++] = per[id];
            }
            free(out->entries);
            out->entries = per;
            out->n = k;
            out->info.flags = SNAP_REACH_ATTACH_ONLY;
            out->info.threads_stopped = (uint32_t)stopped;
            out->info.threads_missed = (uint32_t)(n_threads - stopped);
            if (out->info.threads_missed)
                out->info.flags |= SNAP_REACH_THREADS_MISSED;
            out->info.blocks_scanned = m.n;
            out->info.roots_bytes = m.roots_bytes;
            out->info.extra_bytes = extra;
        }
    }
    out->info.scan_ns = util_monotonic_ns() - t0;
    free(maps);
    free(m.blocks);
    free(m.stack);
    free(m.chunk);
    free(scratch);
    free(threads);
    return rc;
}

void trc_reach_free(struct trc_reach *r)
{
    free(r->entries);
    r->entries = NULL;
    r->n = 0;
}
