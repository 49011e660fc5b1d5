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
#include "arch.h"
#include "reachmark.h"
#include "bpf/trace_events.h"
#include "util.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <elf.h>
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
#define REACH_STOP_ROUNDS 8            /* re-list threads until no new one appears */
#define REACH_BATCH       8192         /* allocs map entries per lookup_batch call */
#define REACH_COPY_MAX    (1ull << 30) /* copy the known blocks up front below this */
#define REACH_IOV_MAX     1024         /* remote iovecs per process_vm_readv */

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

/* The target's memory: the known blocks copied in a few large reads (one
 * syscall per REACH_IOV_MAX blocks, not one per block), the rest read on
 * demand. */
struct remote {
    pid_t pid;
    const struct rmark *m;
    unsigned char *copy; /* blocks' bytes, in block order; NULL: none */
    uint64_t *offset;    /* of block i in copy; UINT64_MAX if it could not be read */
};

static size_t read_direct(pid_t pid, uint64_t addr, void *buf, size_t len)
{
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

static size_t read_remote(void *arg, uint64_t addr, void *buf, size_t len)
{
    const struct remote *r = arg;
    if (r->copy) {
        long i = rmark_find(r->m, addr);
        if (i >= 0 && r->offset[i] != UINT64_MAX) {
            const struct rmark_block *b = &r->m->blocks[i];
            uint64_t in = addr - b->addr;
            if (in + len <= b->size) {
                memcpy(buf, r->copy + r->offset[i] + in, len);
                return len;
            }
        }
    }
    return read_direct(r->pid, addr, buf, len);
}

/* Copies every block's bytes, REACH_IOV_MAX blocks per system call. */
static void copy_blocks(struct remote *r)
{
    const struct rmark *m = r->m;
    uint64_t at = 0;
    struct iovec local, remote[REACH_IOV_MAX];
    for (size_t i = 0; i < m->n;) {
        size_t k = 0;
        uint64_t bytes = 0;
        size_t first = i;
        for (; i < m->n && k < REACH_IOV_MAX; i++, k++) {
            remote[k].iov_base = (void *)(uintptr_t)m->blocks[i].addr;
            remote[k].iov_len = m->blocks[i].size;
            r->offset[i] = at + bytes;
            bytes += m->blocks[i].size;
        }
        local.iov_base = r->copy + at;
        local.iov_len = bytes;
        ssize_t got = process_vm_readv(r->pid, &local, 1, remote, k, 0);
        if (got < 0)
            got = 0;
        /* blocks past a failure (one unmapped page) are read on demand */
        for (size_t j = first; j < i; j++)
            if (r->offset[j] + m->blocks[j].size > at + (uint64_t)got)
                r->offset[j] = UINT64_MAX;
        at += bytes;
    }
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
            struct iovec regs = {.iov_base = &t[i].regs, .iov_len = sizeof(t[i].regs)};
            if (ptrace(PTRACE_GETREGSET, t[i].tid, (void *)NT_PRSTATUS, &regs) == 0)
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
            .start = s,
            .end = e,
            .readable = perms[0] == 'r',
            .writable = perms[1] == 'w',
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

/* Scans [start, end) as a root, skipping the known blocks inside it: read
 * in large chunks (the gaps between heap blocks are a few bytes each; one
 * system call per gap would dominate the pause), the words inside blocks
 * dropped, the rest handed to the marker. */
static void scan_excluding_blocks(struct rmark *m, pid_t pid, uint64_t start, uint64_t end)
{
    uint64_t *buf = m->chunk;
    size_t words_per_chunk = RMARK_READ_CHUNK / sizeof(uint64_t);
    size_t j = 0, r = m->n;
    while (j < r) { /* first block ending after start */
        size_t mid = j + (r - j) / 2;
        if (m->blocks[mid].addr + m->blocks[mid].size <= start)
            j = mid + 1;
        else
            r = mid;
    }
    for (uint64_t at = start & ~7ull; at < end;) {
        size_t len = end - at < RMARK_READ_CHUNK ? (size_t)(end - at) : RMARK_READ_CHUNK;
        size_t got = read_direct(pid, at, buf, len) / sizeof(uint64_t);
        size_t n = 0;
        for (size_t i = 0; i < got && i < words_per_chunk; i++) {
            uint64_t a = at + i * sizeof(uint64_t);
            while (j < m->n && m->blocks[j].addr + m->blocks[j].size <= a)
                j++;
            if (j < m->n && a >= m->blocks[j].addr)
                continue; /* inside a known block: scanned only if reached */
            buf[n++] = buf[i];
        }
        rmark_scan_values(m, buf, n);
        if (got * sizeof(uint64_t) < len) /* an unreadable page: skip it */
            at = ((at + got * sizeof(uint64_t)) | 4095) + 1;
        else
            at += len;
    }
}

/* The allocations in the probes' map into m->blocks (by batches, or one
 * key at a time on kernels without batch lookups); returns the array's
 * capacity (m->blocks NULL when out of memory). */
static size_t collect_blocks(struct trc_drain *d, int allocs, struct rmark *mk)
{
    size_t cap = 4096;
    mk->blocks = malloc(cap * sizeof(*mk->blocks));
    uint64_t *keys = malloc(REACH_BATCH * sizeof(*keys));
    struct trc_alloc *vals = malloc(REACH_BATCH * sizeof(*vals));
    uint64_t batch_pos = 0;
    int batch_ok = keys && vals;
    for (int first = 1; mk->blocks && batch_ok;) {
        __u32 count = REACH_BATCH;
        int r = bpf_map_lookup_batch(allocs, first ? NULL : &batch_pos, &batch_pos, keys, vals,
                                     &count, NULL);
        first = 0;
        if (r < 0 && errno != ENOENT) {
            batch_ok = 0; /* old kernel: fall back to one key at a time */
            mk->n = 0;
            break;
        }
        for (__u32 i = 0; i < count; i++) {
            if (mk->n == cap) {
                struct rmark_block *nb = realloc(mk->blocks, cap * 2 * sizeof(*nb));
                if (!nb)
                    break;
                mk->blocks = nb;
                cap *= 2;
            }
            mk->blocks[mk->n++] =
                (struct rmark_block){.addr = keys[i],
                                     .size = vals[i].size,
                                     .stack_id = trc_drain_heap_site_id(d, &vals[i].site)};
        }
        if (r < 0) /* ENOENT: that was the last batch */
            break;
    }
    free(keys);
    free(vals);
    uint64_t key, next;
    struct trc_alloc a;
    int first = 1;
    while (mk->blocks && !batch_ok &&
           bpf_map_get_next_key(allocs, first ? NULL : &key, &next) == 0) {
        first = 0;
        key = next;
        if (bpf_map_lookup_elem(allocs, &key, &a))
            continue;
        if (mk->n == cap) {
            struct rmark_block *nb = realloc(mk->blocks, cap * 2 * sizeof(*nb));
            if (!nb)
                break;
            mk->blocks = nb;
            cap *= 2;
        }
        mk->blocks[mk->n++] = (struct rmark_block){
            .addr = key, .size = a.size, .stack_id = trc_drain_heap_site_id(d, &a.site)};
    }
    return cap;
}

/* The classes of the marked blocks as one entry per stack with blocks,
 * into out (its info: flags, counts); 0 or -ENOMEM. */
static int per_stack_totals(const struct rmark *m, struct trc_reach *out, uint64_t *extra)
{
    uint32_t max_id = 0;
    for (size_t i = 0; i < m->n; i++)
        max_id = m->blocks[i].stack_id > max_id ? m->blocks[i].stack_id : max_id;
    struct snap_reach_entry *per = calloc((size_t)max_id + 1, sizeof(*per));
    if (!per)
        return -ENOMEM;
    *extra += ((size_t)max_id + 1) * sizeof(*per);
    for (size_t i = 0; i < m->n; i++) {
        per[m->blocks[i].stack_id].bytes[m->blocks[i].state] += m->blocks[i].size;
        per[m->blocks[i].stack_id].blocks[m->blocks[i].state]++;
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
    out->info.blocks_scanned = m->n;
    out->info.roots_bytes = m->roots_bytes;
    return 0;
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
    /* glibc's top and bin pointers into a block's tail (common/reachmark.h) */
    struct rmark m = {.ignore_chunk_tail = !strcmp(trc_probes_allocator(p), "glibc")};
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
    size_t cap = collect_blocks(d, allocs, &m);
    scratch = malloc(rmark_sort_scratch(m.n) + 1);
    m.stack = malloc((2 * m.n + 1) * sizeof(uint32_t));
    m.chunk = malloc(RMARK_READ_CHUNK);
    if (!m.blocks || !scratch || !m.stack || !m.chunk) {
        snprintf(err, errlen, "reachability: out of memory");
        rc = -ENOMEM;
        goto out;
    }
    extra +=
        cap * sizeof(*m.blocks) + rmark_sort_scratch(m.n) + (2 * m.n + 1) * 4 + RMARK_READ_CHUNK;
    rmark_sort(m.blocks, m.n, scratch);
    pid_t target = (pid_t)pid;
    struct remote rem = {.pid = target, .m = &m};
    m.read = read_remote;
    m.read_arg = &rem;
    rmark_begin(&m);
    uint64_t block_bytes = 0;
    for (size_t i = 0; i < m.n; i++)
        block_bytes += m.blocks[i].size;
    if (block_bytes <= REACH_COPY_MAX) {
        rem.copy = malloc(block_bytes + 1);
        rem.offset = malloc((m.n + 1) * sizeof(*rem.offset));
        if (rem.copy && rem.offset) {
            copy_blocks(&rem);
            extra += block_bytes + (m.n + 1) * sizeof(*rem.offset);
        } else {
            free(rem.copy);
            free(rem.offset);
            rem.copy = NULL;
            rem.offset = NULL;
        }
    }

    size_t n_maps = read_maps(target, &maps);
    /* registers and stacks (from the stack pointer) of every stopped thread */
    for (size_t i = 0; i < n_threads; i++) {
        if (!threads[i].stopped)
            continue;
        rmark_scan_values(&m, (const uint64_t *)&threads[i].regs,
                          sizeof(threads[i].regs) / sizeof(uint64_t));
        uint64_t sp = arch_user_regs_sp(&threads[i].regs);
        const struct mapping *mp = mapping_of(maps, n_maps, sp);
        if (mp && mp->readable)
            scan_excluding_blocks(&m, target,
                                  sp - ARCH_RED_ZONE < mp->start ? mp->start : sp - ARCH_RED_ZONE,
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
            is_stack = threads[k].stopped && arch_user_regs_sp(&threads[k].regs) >= mp->start &&
                       arch_user_regs_sp(&threads[k].regs) < mp->end;
        if (!is_stack)
            scan_excluding_blocks(&m, target, mp->start, mp->end);
    }
    rmark_classify(&m);
    free(rem.copy);
    free(rem.offset);

out:
    resume_target(threads, n_threads);
    out->info.pause_ns = util_monotonic_ns() - pause0;
    if (rc == 0) {
        rc = per_stack_totals(&m, out, &extra);
        if (rc < 0) {
            snprintf(err, errlen, "reachability: out of memory");
        } else {
            out->info.threads_stopped = (uint32_t)stopped;
            out->info.threads_missed = (uint32_t)(n_threads - stopped);
            if (out->info.threads_missed)
                out->info.flags |= SNAP_REACH_THREADS_MISSED;
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
