/*
 * Implementation of common/membreak.h: smaps walked once, each mapping put
 * in its component by the rules of the header, then the heap bucket split.
 */
#include "membreak.h"
#include "dmabuf.h"
#include "fdscan.h"
#include "procfs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A PROT_NONE mapping at most this large right below anonymous memory is a
 * thread stack's guard (glibc: one page by default; larger with attrs). */
#define MB_GUARD_MAX (1u << 20)

struct vma {
    uint64_t start, end, inode;
    char perms[5];
    char path[256];
    uint64_t rss, pss, swap; /* bytes */
};

/* The walk's state between mappings. */
struct walk {
    const struct mb_input *in;
    struct mb_result *r;
    struct vma cur, prev;
    int have_cur;
    struct snap_mem_entry heap; /* the heap bucket, split at the end */
};

static void add(struct mb_result *r, uint32_t comp, uint32_t stack, uint64_t rss, uint64_t pss,
                uint64_t swap, uint64_t size)
{
    size_t i = 0;
    for (; i < r->n_entries; i++)
        if (r->entries[i].component == comp && r->entries[i].stack_id == stack)
            break;
    if (i == r->n_entries) {
        if (r->n_entries == MB_MAX_ENTRIES) {
            r->info.flags |= SNAP_MEMI_TRUNCATED;
            if (stack != SNAP_STACK_NONE)
                add(r, comp, SNAP_STACK_NONE, rss, pss, swap, size);
            return; /* (comp, none) itself did not fit: the remainder shows it */
        }
        r->entries[i] = (struct snap_mem_entry){.component = comp, .stack_id = stack};
        r->n_entries++;
    }
    struct snap_mem_entry *e = &r->entries[i];
    e->n_maps++;
    e->rss += (int64_t)rss;
    e->pss += (int64_t)pss;
    e->swap += swap;
    e->size += size;
}

static int starts(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static int is_anonymous(const struct vma *v)
{
    return !v->path[0] || starts(v->path, "[anon:");
}

static uint64_t overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
    uint64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

/* Resident bytes of [start, end) in this process (mincore), a chunk at a time. */
static uint64_t resident_self(uint64_t start, uint64_t end)
{
    enum { CHUNK_PAGES = 4096 };
    unsigned char vec[CHUNK_PAGES];
    const uint64_t page = util_page_size();
    uint64_t n = 0;
    start &= ~(page - 1);
    for (uint64_t a = start; a < end;) {
        uint64_t len = end - a < CHUNK_PAGES * page ? end - a : CHUNK_PAGES * page;
        if (mincore((void *)(uintptr_t)a, len, vec) < 0)
            return n;
        for (uint64_t p = 0; p < (len + page - 1) / page; p++)
            n += (vec[p] & 1) ? page : 0;
        a += len;
    }
    return n;
}

/* Part of a mapping: rss bytes of it go to comp/stack, pss and swap in proportion. */
static void add_part(struct walk *w, const struct vma *v, uint32_t comp, uint32_t stack,
                     uint64_t rss, uint64_t size)
{
    uint64_t pss = v->rss ? (uint64_t)((double)v->pss * (double)rss / (double)v->rss) : 0;
    uint64_t swap = v->end > v->start ? v->swap * size / (v->end - v->start) : 0;
    add(w->r, comp, stack, rss, pss, swap, size);
}

/* The tracked mmaps overlapping v get their share of v's resident bytes
 * (exact with mincore in this process, by length for another process);
 * returns the bytes given away. regions are sorted by start. */
static uint64_t claim_regions(struct walk *w, const struct vma *v, uint32_t comp, int anon,
                              uint64_t budget)
{
    const struct mb_input *in = w->in;
    uint64_t given = 0, len = v->end - v->start;
    for (size_t i = 0; i < in->n_regions && in->regions[i].start < v->end && given < budget; i++) {
        const struct mb_region *g = &in->regions[i];
        uint64_t ov = overlap(v->start, v->end, g->start, g->end);
        if (!ov || (anon != (g->kind == SNAP_MMAP_ANON)))
            continue;
        uint64_t lo = g->start > v->start ? g->start : v->start;
        uint64_t rss = in->pid == 0 ? resident_self(lo, lo + ov)
                                    : (uint64_t)((double)v->rss * (double)ov / (double)len);
        if (rss > budget - given)
            rss = budget - given;
        add_part(w, v, comp, g->stack_id, rss, ov);
        given += rss;
    }
    return given;
}

static int holds_thread_sp(const struct mb_result *r, const struct vma *v)
{
    for (size_t i = 0; i < r->n_sps; i++)
        if (r->sps[i] >= v->start && r->sps[i] < v->end)
            return 1;
    return 0;
}

static int above_guard(const struct walk *w, const struct vma *v)
{
    const struct vma *p = &w->prev;
    return p->end == v->start && !strcmp(p->perms, "---p") && is_anonymous(p) &&
           p->end - p->start <= MB_GUARD_MAX && v->perms[1] == 'w';
}

/* An anonymous private mapping: the tool's, a stack, tracked mmaps, a
 * module's bss, or the heap bucket. */
static void classify_anon(struct walk *w, const struct vma *v)
{
    uint64_t rest = v->rss;
    if (w->in->pid == 0) {
        for (size_t i = 0; i < w->in->n_tool && rest; i++) {
            const struct mb_range *t = &w->in->tool[i];
            uint64_t ov = overlap(v->start, v->end, t->start, t->end);
            if (!ov)
                continue;
            uint64_t lo = t->start > v->start ? t->start : v->start;
            uint64_t rss = resident_self(lo, lo + ov);
            rss = rss < rest ? rss : rest;
            add_part(w, v, SNAP_MEM_TOOL, SNAP_STACK_NONE, rss, ov);
            rest -= rss;
        }
        if (rest < v->rss && !rest)
            return;
    }
    if (holds_thread_sp(w->r, v) || above_guard(w, v)) {
        add_part(w, v, SNAP_MEM_STACKS, SNAP_STACK_NONE, rest, v->end - v->start);
        return;
    }
    rest -= claim_regions(w, v, SNAP_MEM_ANON_MMAP, 1, rest);
    const struct vma *p = &w->prev;
    if (p->end == v->start && !is_anonymous(p) && p->path[0] == '/' && p->perms[1] == 'w') {
        add_part(w, v, SNAP_MEM_OTHER_ANON, SNAP_STACK_NONE, rest, v->end - v->start);
        return;
    }
    uint64_t pss = v->rss ? (uint64_t)((double)v->pss * (double)rest / (double)v->rss) : 0;
    w->heap.rss += (int64_t)rest;
    w->heap.pss += (int64_t)pss;
    w->heap.swap += v->swap;
    w->heap.size += v->end - v->start;
    w->heap.n_maps++;
}

static void note_dmabuf_map(struct mb_result *r, const struct vma *v)
{
    for (size_t i = 0; i < r->n_dmabufs; i++)
        if (r->dmabufs[i].inode == v->inode) {
            r->dmabufs[i].n_maps++;
            return;
        }
    if (r->n_dmabufs == MB_MAX_DMABUFS)
        return;
    struct snap_dmabuf *d = &r->dmabufs[r->n_dmabufs++];
    memset(d, 0, sizeof(*d));
    d->inode = v->inode;
    d->size = v->end - v->start; /* fdinfo's size replaces it when an fd is open */
    d->n_maps = 1;
}

static void classify(struct walk *w, const struct vma *v)
{
    struct mb_result *r = w->r;
    r->info.smaps_rss += v->rss;
    r->info.smaps_pss += v->pss;
    const char *p = v->path;
    uint64_t size = v->end - v->start;
    if (!strcmp(p, "[heap]")) {
        w->heap.rss += (int64_t)v->rss;
        w->heap.pss += (int64_t)v->pss;
        w->heap.swap += v->swap;
        w->heap.size += size;
        w->heap.n_maps++;
    } else if (!strcmp(p, "[stack]")) {
        add_part(w, v, SNAP_MEM_STACKS, SNAP_STACK_NONE, v->rss, size);
    } else if (starts(p, "/dmabuf:") || starts(p, "anon_inode:dmabuf")) {
        uint64_t given = claim_regions(w, v, SNAP_MEM_DMABUF, 0, v->rss);
        add_part(w, v, SNAP_MEM_DMABUF, SNAP_STACK_NONE, v->rss - given, size);
        note_dmabuf_map(r, v);
    } else if (starts(p, "/memfd:") || starts(p, "/dev/shm/") || starts(p, "/SYSV") ||
               starts(p, "/dev/zero") || (is_anonymous(v) && v->perms[3] == 's')) {
        uint64_t given = claim_regions(w, v, SNAP_MEM_SHMEM, 0, v->rss);
        add_part(w, v, SNAP_MEM_SHMEM, SNAP_STACK_NONE, v->rss - given, size);
    } else if (is_anonymous(v)) {
        classify_anon(w, v);
    } else {
        add_part(w, v, SNAP_MEM_FILE, SNAP_STACK_NONE, v->rss, size);
    }
}

static uint64_t parse_dec(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return v;
}

/* "start-end perms offset dev inode   path": 0 if the line is not a header. */
static int parse_header_line(const char *s, struct vma *v)
{
    const char *p = s;
    memset(v, 0, sizeof(*v));
    v->start = util_parse_hex(&p);
    if (p == s || *p != '-')
        return 0;
    p++;
    v->end = util_parse_hex(&p);
    if (*p != ' ')
        return 0;
    p++;
    for (int i = 0; i < 4 && *p && *p != ' '; i++)
        v->perms[i] = *p++;
    for (int field = 0; field < 3 && *p; field++) { /* offset, dev, inode */
        while (*p == ' ')
            p++;
        const char *f = p;
        while (*p && *p != ' ')
            p++;
        if (field == 2)
            v->inode = parse_dec(f);
    }
    while (*p == ' ')
        p++;
    util_strlcpy(v->path, p, sizeof(v->path));
    return 1;
}

static void on_line(struct walk *w, const char *line)
{
    struct vma next;
    if (line[0] >= '0' && line[0] <= '9'
            ? parse_header_line(line, &next)
            : (line[0] >= 'a' && line[0] <= 'f' && parse_header_line(line, &next))) {
        if (w->have_cur) {
            classify(w, &w->cur);
            w->prev = w->cur;
        }
        w->cur = next;
        w->have_cur = 1;
        return;
    }
    if (!w->have_cur)
        return;
    if (starts(line, "Rss:"))
        w->cur.rss = parse_dec(line + 4) * 1024;
    else if (starts(line, "Pss:"))
        w->cur.pss = parse_dec(line + 4) * 1024;
    else if (starts(line, "Swap:"))
        w->cur.swap = parse_dec(line + 5) * 1024;
}

/* Calls on_line for every line of the file at path (through r->buf). */
static int walk_lines(struct walk *w, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *buf = w->r->buf;
    size_t used = 0, cap = sizeof(w->r->buf) - 1;
    for (;;) {
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        size_t start = 0;
        for (size_t i = 0; i < used; i++)
            if (buf[i] == '\n') {
                buf[i] = '\0';
                on_line(w, buf + start);
                start = i + 1;
            }
        if (start == 0 && used == cap) /* a line longer than the buffer: drop it */
            start = used;
        memmove(buf, buf + start, used - start);
        used -= start;
    }
    if (used) {
        buf[used] = '\0';
        on_line(w, buf);
    }
    close(fd);
    return 0;
}

/* Blocked threads' stack pointers (/proc/PID/task/TID/syscall). */
static void collect_sps(const struct mb_input *in, struct mb_result *r)
{
    char dir[64];
    util_proc_path(dir, sizeof(dir), in->pid, "task");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    r->n_sps = 0;
    if (fd < 0)
        return;
    char ents[4096] __attribute__((aligned(8)));
    long got;
    while ((got = syscall(SYS_getdents64, fd, ents, sizeof(ents))) > 0) {
        for (long off = 0; off < got;) {
            const struct util_dirent64 *de = (const void *)(ents + off);
            off += de->d_reclen;
            if (de->d_name[0] < '1' || de->d_name[0] > '9')
                continue;
            r->info.n_threads++;
            char path[128];
            size_t len = util_strlcpy(path, dir, sizeof(path));
            if (len + 40 >= sizeof(path))
                continue;
            path[len++] = '/';
            len += util_strlcpy(path + len, de->d_name, sizeof(path) - len);
            util_strlcpy(path + len, "/syscall", sizeof(path) - len);
            uint64_t sp = procfs_blocked_sp_path(path);
            if (sp && r->n_sps < MB_MAX_THREADS)
                r->sps[r->n_sps++] = sp;
        }
    }
    close(fd);
}

struct fd_walk {
    const struct mb_input *in;
    struct mb_result *r;
};

static int on_fd(int fd, const char *target, void *arg)
{
    struct fd_walk *fw = arg;
    if (snap_fd_kind_from_target(target) != SNAP_FD_DMABUF)
        return 0;
    struct dmabuf_fdinfo fi;
    if (dmabuf_read_fdinfo(fw->in->pid, fd, &fi) < 0)
        return 0;
    struct mb_result *r = fw->r;
    struct snap_dmabuf *d = NULL;
    for (size_t i = 0; i < r->n_dmabufs && fi.inode; i++)
        if (r->dmabufs[i].inode == fi.inode)
            d = &r->dmabufs[i];
    if (!d) {
        if (r->n_dmabufs == MB_MAX_DMABUFS) {
            r->info.dmabuf_bytes += fi.size; /* not listed, still counted */
            return 0;
        }
        d = &r->dmabufs[r->n_dmabufs++];
        memset(d, 0, sizeof(*d));
        d->inode = fi.inode;
    }
    d->size = fi.size;
    d->n_fds++;
    util_strlcpy(d->exporter, fi.exp_name, sizeof(d->exporter));
    util_strlcpy(d->name, fi.name, sizeof(d->name));
    if (d->stack_id == SNAP_STACK_NONE && fw->in->fd_stack)
        d->stack_id = fw->in->fd_stack(fd, fw->in->fd_stack_arg);
    return 0;
}

static uint64_t field_kb(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? parse_dec(p + strlen(key)) * 1024 : 0;
}

int mb_read_rollup(int pid, struct snap_mem_info *info)
{
    char path[64], text[2048];
    util_proc_path(path, sizeof(path), pid, "smaps_rollup");
    if (procfs_read_file(path, text, sizeof(text)) > 0) {
        info->rss = field_kb(text, "\nRss:");
        info->pss = field_kb(text, "\nPss:");
        info->anon = field_kb(text, "\nAnonymous:");
        info->swap = field_kb(text, "\nSwap:");
        info->flags |= SNAP_MEMI_ROLLUP;
    }
    util_proc_path(path, sizeof(path), pid, "status");
    if (procfs_read_file(path, text, sizeof(text)) <= 0)
        return info->flags & SNAP_MEMI_ROLLUP ? 0 : -ENOENT;
    info->file = field_kb(text, "\nRssFile:");
    info->shmem = field_kb(text, "\nRssShmem:");
    if (!(info->flags & SNAP_MEMI_ROLLUP)) {
        info->rss = field_kb(text, "\nVmRSS:");
        info->anon = field_kb(text, "\nRssAnon:");
        info->swap = field_kb(text, "\nVmSwap:");
    }
    return 0;
}

/* Shell sort by start: no allocation (qsort may allocate). */
static void sort_regions(struct mb_region *g, size_t n)
{
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++) {
            struct mb_region t = g[i];
            size_t j = i;
            for (; j >= gap && g[j - gap].start > t.start; j -= gap)
                g[j] = g[j - gap];
            g[j] = t;
        }
}

/* The heap bucket into live heap, allocator retained and the rest. */
static void split_heap(const struct mb_input *in, struct walk *w)
{
    struct mb_result *r = w->r;
    uint64_t bucket = (uint64_t)w->heap.rss;
    uint64_t live = in->live_heap < bucket ? in->live_heap : bucket;
    uint64_t retained, in_use = in->alloc_in_use > live ? in->alloc_in_use : live;
    uint32_t flags = 0;
    if (in->alloc_known) {
        retained = in->alloc_resident > in_use ? in->alloc_resident - in_use : 0;
        r->info.flags |= SNAP_MEMI_ALLOC_STATS;
    } else {
        retained = bucket - live;
        flags = SNAP_MEM_ESTIMATED;
        r->info.flags |= SNAP_MEMI_ALLOC_ESTIMATED;
    }
    if (retained > bucket - live)
        retained = bucket - live;
    uint64_t other = bucket - live - retained;
    struct vma share = {.end = w->heap.size, .rss = bucket, .pss = (uint64_t)w->heap.pss};
    add_part(w, &share, SNAP_MEM_HEAP_LIVE, SNAP_STACK_NONE, live, 0);
    add_part(w, &share, SNAP_MEM_ALLOC_RETAINED, SNAP_STACK_NONE, retained, 0);
    add_part(w, &share, SNAP_MEM_OTHER_ANON, SNAP_STACK_NONE, other, w->heap.size);
    for (size_t i = 0; i < r->n_entries; i++)
        if (r->entries[i].component == SNAP_MEM_ALLOC_RETAINED)
            r->entries[i].flags |= flags;
    r->info.live_heap = in->live_heap;
    r->info.alloc_resident = in->alloc_known ? in->alloc_resident : 0;
    r->info.alloc_in_use = in->alloc_known ? in->alloc_in_use : 0;
}

int mb_collect(const struct mb_input *in, struct mb_result *r)
{
    r->info = (struct snap_mem_info){0};
    r->n_entries = r->n_dmabufs = 0;
    mb_read_rollup(in->pid, &r->info);
    sort_regions(in->regions, in->n_regions);
    collect_sps(in, r);
    struct fd_walk fw = {in, r};
    fdscan_foreach(in->pid, on_fd, &fw);
    struct walk w = {.in = in, .r = r};
    char path[64];
    int rc = walk_lines(&w, util_proc_path(path, sizeof(path), in->pid, "smaps"));
    if (rc < 0) {
        r->info.flags |= SNAP_MEMI_NO_SMAPS;
        return rc;
    }
    if (w.have_cur)
        classify(&w, &w.cur);
    split_heap(in, &w);
    for (size_t i = 0; i < r->n_dmabufs; i++)
        r->info.dmabuf_bytes += r->dmabufs[i].size;
    if (r->info.flags & SNAP_MEMI_ROLLUP) {
        int64_t d_rss = (int64_t)r->info.rss - (int64_t)r->info.smaps_rss;
        int64_t d_pss = (int64_t)r->info.pss - (int64_t)r->info.smaps_pss;
        if (d_rss || d_pss) {
            add(r, SNAP_MEM_UNACCOUNTED, SNAP_STACK_NONE, 0, 0, 0, 0);
            for (size_t i = 0; i < r->n_entries; i++)
                if (r->entries[i].component == SNAP_MEM_UNACCOUNTED) {
                    r->entries[i].rss = d_rss;
                    r->entries[i].pss = d_pss;
                    r->entries[i].n_maps = 0;
                }
        }
    }
    return 0;
}

int mb_emit(struct snap_writer *w, const struct mb_result *r)
{
    snap_write_mem_info(w, &r->info);
    for (size_t i = 0; i < r->n_entries && !w->error; i++)
        if (r->entries[i].rss || r->entries[i].n_maps)
            snap_write_mem(w, &r->entries[i]);
    for (size_t i = 0; i < r->n_dmabufs && !w->error; i++)
        snap_write_dmabuf(w, &r->dmabufs[i]);
    return w->error;
}
