/*
 * Kernel memory by stack for `attach --kmem` (docs/memory-kernel.md): loads
 * bpf/kmem.bpf.c (the kmem tracepoints) and bpf/dmabuf.bpf.c (the dma-buf
 * iterator, when the kernel has it), and at each snapshot turns their maps
 * into SNAP_SEC_KMEM records.
 *
 * Kernel stacks are symbolized here, at capture, with this machine's
 * /proc/kallsyms (read once at attach): a kernel address means nothing on
 * another machine or after a reboot, and unlike user modules there is no
 * file to find later by build-id. Each frame keeps its address and
 * "function+0xoff [module]". User stacks stay raw (the drain interns them).
 *
 * Rows the kernel stack shows to be no business of the target are flagged
 * and kept out of the outstanding total: allocations in interrupt or
 * softirq context (an interrupt that arrived while a thread of the target
 * ran), and the pages behind slab objects and large kmallocs (the objects
 * themselves are counted).
 */
#include "tracer.h"
#include "util.h"

#include "bpf/dmabuf.skel.h"
#include "bpf/kmem.skel.h"
#include "bpf/kmem_events.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KSYM_NAME_CAP 128 /* = the writer's cap of a frame name */

struct ksym {
    uint64_t addr;
    uint32_t name, mod; /* offsets into strs; mod 0: the kernel itself */
};

struct kstack {
    uint32_t depth, flags;
    uint64_t addrs[TRC_KMEM_KSTACK_DEPTH];
};

struct trc_kmem {
    const struct trc_opts *opts;
    struct kmem_bpf *skel;
    struct dmabuf_bpf *dskel;
    struct bpf_link *links[8];
    size_t n_links;
    struct bpf_link *iter;
    char dmabuf_why[160]; /* why there is no iterator ("" when there is) */
    struct ksym *syms;
    size_t n_syms;
    char *strs;
    size_t strs_len, strs_cap;
    /* one snapshot's records */
    uint32_t *local_of; /* BPF kernel stack id -> 1 + index in kstacks, 0: not yet */
    struct kstack *kstacks;
    size_t n_kstacks, cap_kstacks;
    struct snap_kmem_row *rows;
    size_t n_rows, cap_rows;
    struct snap_kdmabuf *bufs;
    size_t n_bufs, cap_bufs;
    struct snap_kmem_info info;
    struct trc_loss_row losses[12];
    size_t n_losses;
    char desc[256];
};

/* ---- /proc/kallsyms ---- */

static uint32_t add_str(struct trc_kmem *k, const char *s)
{
    size_t len = strlen(s) + 1;
    if (k->strs_len + len > k->strs_cap) {
        size_t nc = k->strs_cap ? k->strs_cap * 2 : 1 << 20;
        char *p = realloc(k->strs, nc);
        if (!p)
            return 0;
        k->strs = p;
        k->strs_cap = nc;
    }
    memcpy(k->strs + k->strs_len, s, len);
    k->strs_len += len;
    return (uint32_t)(k->strs_len - len);
}

static int cmp_ksym(const void *a, const void *b)
{
    const struct ksym *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Text symbols only: a return address is in code. */
static int load_kallsyms(struct trc_kmem *k)
{
    FILE *f = fopen("/proc/kallsyms", "r");
    if (!f)
        return -errno;
    add_str(k, ""); /* offset 0: no module */
    size_t cap = 0;
    char line[512], prev_mod[128] = "";
    uint32_t prev_mod_off = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long addr;
        char type, name[256], mod[128] = "";
        if (sscanf(line, "%llx %c %255s [%127[^]]]", &addr, &type, name, mod) < 3 || !addr)
            continue;
        if (type != 't' && type != 'T' && type != 'w' && type != 'W')
            continue;
        if (k->n_syms == cap) {
            cap = cap ? cap * 2 : 65536;
            void *p = realloc(k->syms, cap * sizeof(*k->syms));
            if (!p) {
                fclose(f);
                return -ENOMEM;
            }
            k->syms = p;
        }
        if (strcmp(mod, prev_mod)) {
            util_strlcpy(prev_mod, mod, sizeof(prev_mod));
            prev_mod_off = mod[0] ? add_str(k, mod) : 0;
        }
        k->syms[k->n_syms++] =
            (struct ksym){.addr = addr, .name = add_str(k, name), .mod = prev_mod_off};
    }
    fclose(f);
    if (!k->n_syms)
        return -EPERM; /* addresses hidden (kptr_restrict) */
    qsort(k->syms, k->n_syms, sizeof(*k->syms), cmp_ksym);
    return 0;
}

static const struct ksym *ksym_of(const struct trc_kmem *k, uint64_t addr)
{
    size_t lo = 0, hi = k->n_syms;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (k->syms[mid].addr <= addr)
            lo = mid;
        else
            hi = mid;
    }
    return k->n_syms && k->syms[lo].addr <= addr ? &k->syms[lo] : NULL;
}

static const char *ksym_name(const struct trc_kmem *k, uint64_t addr)
{
    const struct ksym *s = ksym_of(k, addr);
    return s ? k->strs + s->name : "";
}

/* "function+0xoff [module]", or "" when no symbol covers addr. */
static void frame_name(const struct trc_kmem *k, uint64_t addr, char *buf, size_t cap)
{
    const struct ksym *s = ksym_of(k, addr);
    if (!s) {
        buf[0] = '\0';
        return;
    }
    if (s->mod)
        snprintf(buf, cap, "%.80s+0x%llx [%.24s]", k->strs + s->name,
                 (unsigned long long)(addr - s->addr), k->strs + s->mod);
    else
        snprintf(buf, cap, "%.100s+0x%llx", k->strs + s->name,
                 (unsigned long long)(addr - s->addr));
}

/* ---- kernel stacks: trimmed and classified ---- */

static int has_prefix(const char *s, const char *const *prefixes)
{
    for (; *prefixes; prefixes++)
        if (!strncmp(s, *prefixes, strlen(*prefixes)))
            return 1;
    return 0;
}

/* The tracepoint and BPF machinery above the allocator. */
static const char *const tracing_frames[] = {"bpf_",  "__bpf_",       "trace_", "__traceiter_",
                                             "perf_", "__probestub_", NULL};
/* An interrupt or softirq on the target's CPU: not the target's memory. */
static const char *const irq_frames[] = {"handle_softirqs",      "__do_softirq",
                                         "do_softirq",           "irq_exit",
                                         "__irq_exit",           "common_interrupt",
                                         "asm_common_interrupt", "sysvec_",
                                         "asm_sysvec_",          "__sysvec_",
                                         "handle_irq_event",     "exc_nmi",
                                         "run_ksoftirqd",        NULL};
/* Pages that hold slab objects or a large kmalloc (counted as objects). */
static const char *const backing_frames[] = {
    "___slab_alloc",    "new_slab",      "allocate_slab", "alloc_slab_page",     "__kmalloc_large",
    "___kmalloc_large", "kmalloc_large", "refill_sheaf",  "alloc_from_new_slab", NULL};

static uint32_t local_kstack(struct trc_kmem *k, int32_t bpf_id, uint32_t kind)
{
    if (bpf_id < 0 || (uint32_t)bpf_id >= TRC_KMEM_MAX_KSTACKS)
        return 0;
    if (k->local_of[bpf_id])
        return k->local_of[bpf_id];
    uint64_t ips[TRC_KMEM_KSTACK_DEPTH] = {0};
    if (bpf_map_lookup_elem(bpf_map__fd(k->skel->maps.kstacks), &bpf_id, ips))
        return 0;
    if (k->n_kstacks == k->cap_kstacks) {
        size_t nc = k->cap_kstacks ? k->cap_kstacks * 2 : 256;
        void *p = realloc(k->kstacks, nc * sizeof(*k->kstacks));
        if (!p)
            return 0;
        k->kstacks = p;
        k->cap_kstacks = nc;
    }
    struct kstack *st = &k->kstacks[k->n_kstacks];
    memset(st, 0, sizeof(*st));
    uint32_t i = 0;
    while (i < TRC_KMEM_KSTACK_DEPTH && ips[i] && has_prefix(ksym_name(k, ips[i]), tracing_frames))
        i++;
    for (; i < TRC_KMEM_KSTACK_DEPTH && ips[i]; i++) {
        const char *name = ksym_name(k, ips[i]);
        if (has_prefix(name, irq_frames))
            st->flags |= SNAP_KMEM_IRQ;
        if (kind == TRC_KMEM_PAGES && has_prefix(name, backing_frames))
            st->flags |= SNAP_KMEM_SLAB_BACKING;
        st->addrs[st->depth++] = ips[i];
    }
    k->local_of[bpf_id] = (uint32_t)++k->n_kstacks;
    return k->local_of[bpf_id];
}

/* ---- open / close ---- */

static int attach_prog(struct trc_kmem *k, struct bpf_program *p)
{
    struct bpf_link *l = bpf_program__attach(p);
    if (!l)
        return -errno;
    k->links[k->n_links++] = l;
    return 0;
}

/* The dma-buf iterator: optional, its absence is a note. */
static void open_dmabuf(struct trc_kmem *k)
{
    k->dskel = dmabuf_bpf__open();
    int rc = k->dskel ? dmabuf_bpf__load(k->dskel) : -ENOMEM;
    if (rc == 0 && !(k->iter = bpf_program__attach_iter(k->dskel->progs.la_dmabuf_iter, NULL)))
        rc = -errno;
    if (rc < 0) {
        snprintf(k->dmabuf_why, sizeof(k->dmabuf_why),
                 "no dma-buf iterator (iter/dmabuf needs Linux 6.16+): %s", strerror(-rc));
        dmabuf_bpf__destroy(k->dskel);
        k->dskel = NULL;
    }
}

int trc_kmem_open(struct trc_kmem **out, const struct trc_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    if (!o->kmem)
        return 0;
    struct trc_kmem *k = calloc(1, sizeof(*k));
    int rc = -ENOMEM;
    if (!k || !(k->local_of = calloc(TRC_KMEM_MAX_KSTACKS, sizeof(*k->local_of)))) {
        snprintf(err, errlen, "--kmem: out of memory");
        goto fail;
    }
    k->opts = o;
    if ((rc = load_kallsyms(k)) < 0) {
        snprintf(err, errlen, "--kmem: cannot read kernel symbols from /proc/kallsyms: %s",
                 rc == -EPERM ? "addresses hidden (kernel.kptr_restrict)" : strerror(-rc));
        goto fail;
    }
    if (!(k->skel = kmem_bpf__open())) {
        snprintf(err, errlen, "--kmem: cannot open the kmem BPF program");
        goto fail;
    }
    k->skel->rodata->targ_tgid = (uint32_t)o->pid;
    k->skel->rodata->stack_depth = (uint32_t)o->stack_depth;
    k->skel->rodata->unwind_dwarf = o->unwind == SNAP_UNWIND_DWARF;
    k->skel->rodata->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
    if (o->unwind_tables &&
        (rc = trc_unwind_share(o->unwind_tables, k->skel->maps.unw_rows, k->skel->maps.unw_maps,
                               k->skel->maps.unw_meta)) < 0) {
        snprintf(err, errlen, "--kmem: cannot share the unwind tables: %s", strerror(-rc));
        goto fail;
    }
    if ((rc = kmem_bpf__load(k->skel)) < 0) {
        snprintf(err, errlen, "--kmem: cannot load the kmem BPF program: %s", strerror(-rc));
        goto fail;
    }
    /* frees before allocations: no object is recorded whose free is not watched */
    struct bpf_program *order[] = {
        k->skel->progs.la_kmem_kfree,      k->skel->progs.la_kmem_cache_free,
        k->skel->progs.la_kmem_page_free,  k->skel->progs.la_kmem_sys_enter,
        k->skel->progs.la_kmem_kmalloc,    k->skel->progs.la_kmem_cache_alloc,
        k->skel->progs.la_kmem_page_alloc,
    };
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if ((rc = attach_prog(k, order[i])) < 0) {
            snprintf(err, errlen, "--kmem: cannot attach %s: %s", bpf_program__name(order[i]),
                     strerror(-rc));
            goto fail;
        }
    open_dmabuf(k);
    snprintf(k->desc, sizeof(k->desc), "kernel memory: kmem tracepoints (%zu kernel symbols)%s%s",
             k->n_syms, k->dmabuf_why[0] ? "; " : "; dma-buf iterator", k->dmabuf_why);
    *out = k;
    return 0;
fail:
    trc_kmem_close(k);
    return rc < 0 ? rc : -EINVAL;
}

void trc_kmem_close(struct trc_kmem *k)
{
    if (!k)
        return;
    bpf_link__destroy(k->iter);
    for (size_t i = k->n_links; i > 0; i--)
        bpf_link__destroy(k->links[i - 1]);
    dmabuf_bpf__destroy(k->dskel);
    kmem_bpf__destroy(k->skel);
    free(k->syms);
    free(k->strs);
    free(k->local_of);
    free(k->kstacks);
    free(k->rows);
    free(k->bufs);
    free(k);
}

const char *trc_kmem_describe(const struct trc_kmem *k)
{
    return k->desc;
}

/* ---- collection ---- */

static uint64_t kcounter(struct trc_kmem *k, uint32_t idx, int map)
{
    int ncpu = libbpf_num_possible_cpus();
    uint64_t v[ncpu > 0 ? ncpu : 1], sum = 0;
    if (ncpu > 0 && bpf_map_lookup_elem(map, &idx, v) == 0)
        for (int i = 0; i < ncpu; i++)
            sum += v[i];
    return sum;
}

static void add_loss(struct trc_kmem *k, enum snap_loss_id id, uint64_t v)
{
    if (k->n_losses < sizeof(k->losses) / sizeof(k->losses[0]))
        k->losses[k->n_losses++] = (struct trc_loss_row){.id = id, .value = v};
}

static void collect_losses(struct trc_kmem *k)
{
    int kc = bpf_map__fd(k->skel->maps.kmem_counters), uc = bpf_map__fd(k->skel->maps.counters);
    k->n_losses = 0;
    add_loss(k, SNAP_LOSS_KMEM_OBJECTS_FULL, kcounter(k, TRC_KC_OBJECTS_FULL, kc));
    add_loss(k, SNAP_LOSS_KMEM_ROWS_FULL, kcounter(k, TRC_KC_ROWS_FULL, kc));
    add_loss(k, SNAP_LOSS_KMEM_KSTACK_LOST, kcounter(k, TRC_KC_KSTACK_LOST, kc));
    add_loss(k, SNAP_LOSS_KMEM_USTACK_LOST,
             kcounter(k, TRC_C_STACK_COLLISION, uc) + kcounter(k, TRC_C_STACK_FULL, uc));
    add_loss(k, SNAP_LOSS_KMEM_FREE_MISSED, kcounter(k, TRC_KC_READDED, kc));
    add_loss(k, SNAP_LOSS_KMEM_FREED_BY_OTHER, kcounter(k, TRC_KC_FREES_OTHER, kc));
    add_loss(k, SNAP_LOSS_KMEM_PAGES_USER, kcounter(k, TRC_KC_PAGES_USER, kc));
    add_loss(k, SNAP_LOSS_KMEM_EXCLUDED_BYTES, k->info.excluded_bytes);
}

static int add_row(struct trc_kmem *k, struct trc_drain *d, const struct trc_kmem_key *key,
                   const struct trc_kmem_row *v)
{
    if (k->n_rows == k->cap_rows) {
        size_t nc = k->cap_rows ? k->cap_rows * 2 : 256;
        void *p = realloc(k->rows, nc * sizeof(*k->rows));
        if (!p)
            return -ENOMEM;
        k->rows = p;
        k->cap_rows = nc;
    }
    struct snap_kmem_row *r = &k->rows[k->n_rows++];
    memset(r, 0, sizeof(*r));
    r->kind = key->kind;
    r->kstack_id = local_kstack(k, key->kstack_id, key->kind);
    r->flags = r->kstack_id ? k->kstacks[r->kstack_id - 1].flags : 0;
    r->stack_id = trc_drain_kmem_site(d, bpf_map__fd(k->skel->maps.stacks), &key->user);
    r->live_bytes = v->live_bytes;
    r->live_count = v->live_count;
    r->total_bytes = v->total_bytes;
    r->total_count = v->total_count;
    r->freed_bytes = v->freed_bytes;
    r->freed_count = v->freed_count;
    r->freed_other_bytes = v->freed_other_bytes;
    r->freed_other_count = v->freed_other_count;
    memcpy(r->cache, v->cache, sizeof(v->cache));
    r->cache[sizeof(v->cache) - 1] = '\0';
    if (r->flags & (SNAP_KMEM_IRQ | SNAP_KMEM_SLAB_BACKING))
        k->info.excluded_bytes += r->live_bytes;
    else
        k->info.live_bytes += r->live_bytes;
    return 0;
}

/* How many of the target's fds are on the dma-buf with this inode. */
static uint32_t target_fds_on(const struct trc_kmem *k, uint64_t inode)
{
    char dir[64], path[64 + 256], link[128];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", k->opts->pid);
    DIR *dh = opendir(dir);
    uint32_t n = 0;
    struct dirent *de;
    while (dh && (de = readdir(dh))) {
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        ssize_t l = readlink(path, link, sizeof(link) - 1);
        struct stat st;
        if (l <= 0 || (link[l] = '\0', !strstr(link, "dmabuf")) || stat(path, &st))
            continue;
        n += (uint64_t)st.st_ino == inode;
    }
    if (dh)
        closedir(dh);
    return n;
}

static void collect_dmabufs(struct trc_kmem *k)
{
    k->n_bufs = 0;
    k->info.n_dmabufs = 0;
    if (!k->iter)
        return;
    int fd = bpf_iter_create(bpf_link__fd(k->iter));
    if (fd < 0)
        return;
    k->info.flags |= SNAP_KMEM_DMABUF_ITER;
    struct trc_dmabuf_rec r;
    while (read(fd, &r, sizeof(r)) == (ssize_t)sizeof(r)) {
        k->info.n_dmabufs++;
        uint32_t held = target_fds_on(k, r.inode);
        if (!held)
            continue; /* another process's buffer: counted only */
        if (k->n_bufs == k->cap_bufs) {
            size_t nc = k->cap_bufs ? k->cap_bufs * 2 : 16;
            void *p = realloc(k->bufs, nc * sizeof(*k->bufs));
            if (!p)
                break;
            k->bufs = p;
            k->cap_bufs = nc;
        }
        struct snap_kdmabuf *b = &k->bufs[k->n_bufs++];
        memset(b, 0, sizeof(*b));
        b->inode = r.inode;
        b->size = r.size;
        b->target_fds = held;
        r.exporter[sizeof(r.exporter) - 1] = r.name[sizeof(r.name) - 1] = '\0';
        util_strlcpy(b->exporter, r.exporter, sizeof(b->exporter));
        util_strlcpy(b->name, r.name, sizeof(b->name));
    }
    close(fd);
}

int trc_kmem_collect(struct trc_kmem *k, struct trc_drain *d)
{
    if (!k)
        return 0;
    k->n_rows = k->n_kstacks = 0;
    memset(k->local_of, 0, TRC_KMEM_MAX_KSTACKS * sizeof(*k->local_of));
    memset(&k->info, 0, sizeof(k->info));
    int rows = bpf_map__fd(k->skel->maps.rows);
    struct trc_kmem_key key, next;
    int first = 1, rc = 0;
    while (rc == 0 && bpf_map_get_next_key(rows, first ? NULL : &key, &next) == 0) {
        first = 0;
        key = next;
        struct trc_kmem_row v;
        if (bpf_map_lookup_elem(rows, &key, &v) == 0 && v.total_count)
            rc = add_row(k, d, &key, &v);
    }
    collect_dmabufs(k);
    collect_losses(k);
    return rc;
}

void trc_kmem_view(const struct trc_kmem *k, struct trc_view *v)
{
    if (!k)
        return;
    v->kmem = k;
    v->kmem_losses = k->losses;
    v->n_kmem_losses = k->n_losses;
}

uint64_t trc_kmem_live_bytes(const struct trc_kmem *k)
{
    return k ? k->info.live_bytes : 0;
}

/* The section's records (snapshot_out.c's source for SNAP_PART_KMEM). */
int trc_kmem_write(const struct trc_kmem *k, struct snap_writer *w)
{
    snap_write_kmem_info(w, &k->info);
    static char names[TRC_KMEM_KSTACK_DEPTH][KSYM_NAME_CAP];
    const char *ptrs[TRC_KMEM_KSTACK_DEPTH];
    for (size_t i = 0; i < k->n_kstacks && !w->error; i++) {
        const struct kstack *st = &k->kstacks[i];
        for (uint32_t f = 0; f < st->depth; f++) {
            frame_name(k, st->addrs[f], names[f], sizeof(names[f]));
            ptrs[f] = names[f];
        }
        snap_write_kstack(w, (uint32_t)i + 1, st->addrs, ptrs, st->depth);
    }
    for (size_t i = 0; i < k->n_rows && !w->error; i++)
        snap_write_kmem_row(w, &k->rows[i]);
    for (size_t i = 0; i < k->n_bufs && !w->error; i++)
        snap_write_kdmabuf(w, &k->bufs[i]);
    return w->error;
}
