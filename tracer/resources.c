/*
 * Paired C-API resources in `leakaudit attach` (docs/resources.md): the
 * functions named by --track-resource specs (common/resspec.c, the same
 * language as the shim) are found in the target's modules by their ELF
 * symbols and probed -- a uprobe at every entry, a uretprobe on the returns
 * of creates -- with bpf/resources.bpf.c, each probe carrying its function's
 * index as the attach cookie. At snapshot time the object map is folded
 * into one record per (kind, site) and the event ring buffer is drained
 * into corruption records, stacks interned by the drain like the heap's.
 */
#include "tracer.h"
#include "resspec.h"
#include "util.h"

#include "bpf/res_events.h"
#include "bpf/resources.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RES_MAX_MODULES 512
#define RES_MAX_EVENTS  4096 /* events kept for the snapshots of one attach */

_Static_assert(TRC_RES_MAX_FUNCS == RES_MAX_FUNCS, "one BPF function slot per spec function");

struct res_probe {
    uint32_t fn;
    char module[PATH_MAX];
    uint64_t offset;
};

struct agg {
    struct trc_res_row_key key;
    struct trc_res_row totals;
    uint64_t live, oldest_mono;
    int64_t balance;
    struct trc_site last_ref;
    int has_last_ref;
};

struct trc_res {
    struct res_spec_set spec;
    struct resources_bpf *skel;
    int pid;
    struct bpf_link **links;
    size_t n_links, cap_links;
    struct res_probe *probes;
    size_t n_probes;
    uint32_t n_found_funcs;
    struct ring_buffer *rb;
    struct trc_drain *drain; /* during collect: for stack ids of events */
    struct agg *aggs;
    size_t n_aggs, cap_aggs;
    struct snap_resource_entry *entries;
    size_t n_entries;
    struct snap_corruption *events;
    size_t n_events;
    uint64_t events_dropped_user;
    struct trc_loss_row losses[8];
    size_t n_losses;
    uint64_t mono_to_real;
    char describe[512];
};

/* ---- finding the functions ---- */

/* Offers every exported function of a module to the generic patterns. */
static void offer_module(struct res_spec_set *spec, const struct trc_modpath *m)
{
    int fd = open(m->access, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    Elf_Scn *scn = NULL;
    while (elf && (scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        size_t count = sh.sh_size / sh.sh_entsize;
        for (size_t i = 1; data && i < count; i++) {
            GElf_Sym sym;
            if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
                sym.st_shndx == SHN_UNDEF || GELF_ST_BIND(sym.st_info) == STB_LOCAL)
                continue;
            const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
            if (name)
                res_spec_offer_symbol(spec, m->path, name);
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
}

static int add_link(struct trc_res *r, struct bpf_link *l)
{
    if (r->n_links == r->cap_links) {
        size_t nc = r->cap_links ? r->cap_links * 2 : 64;
        void *p = realloc(r->links, nc * sizeof(*r->links));
        if (!p)
            return -ENOMEM;
        r->links = p;
        r->cap_links = nc;
    }
    r->links[r->n_links++] = l;
    return 0;
}

/* Bytes of a function read to place its probe (tracer/probe_site.c). */
#define PROLOGUE_BYTES 48

/*
 * Where the probes of a function go: past leading instructions the kernel
 * would single-step (~10x the cost of an emulated one), as for the heap
 * probes, as long as the argument registers the program reads survive.
 */
static uint32_t probe_shift(const char *file, uint64_t off, const struct res_func *f)
{
#if defined(__x86_64__)
    int reads = f->loc == RES_LOC_RET ? 0 : f->arg;
    if (reads > 2)
        return 0;
    /* heap handlers whose programs read arg0, arg0-1, arg0-2 */
    static const int handler[3] = {TRC_H_FREE, TRC_H_CALLOC, TRC_H_REALLOCARRAY};
    uint8_t code[PROLOGUE_BYTES];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = pread(fd, code, sizeof(code), (off_t)off);
    close(fd);
    return n > 0 ? trc_probe_site_shift(code, (size_t)n, handler[reads]) : 0;
#else
    (void)file, (void)off, (void)f;
    return 0;
#endif
}

static int attach(struct trc_res *r, const struct trc_modpath *m, uint32_t fn, uint64_t off,
                  char *err, size_t errlen)
{
    const struct res_func *f = &r->spec.funcs[fn];
    off += probe_shift(m->access, off, f);
    int returns = f->role == RES_ROLE_CREATE || (f->role == RES_ROLE_REF && f->loc == RES_LOC_RET);
    for (int ret = 0; ret <= returns; ret++) {
        LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret, .bpf_cookie = fn);
        struct bpf_program *prog = ret ? r->skel->progs.la_res_return : r->skel->progs.la_res_entry;
        struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, r->pid, m->access, off, &opts);
        if (!l) {
            int e = -errno;
            snprintf(err, errlen, "cannot attach a %s to %s in %s: %s",
                     ret ? "uretprobe" : "uprobe", f->name, m->path, strerror(-e));
            return e;
        }
        if (add_link(r, l) < 0) {
            bpf_link__destroy(l);
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    return 0;
}

/* Calls from modules matching a kind's exclude globs are not tracked. */
static void set_excludes(struct trc_res *r)
{
    char p[64], line[PATH_MAX + 256];
    snprintf(p, sizeof(p), "/proc/%d/maps", r->pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return;
    uint32_t n = 0;
    int map = bpf_map__fd(r->skel->maps.excludes);
    while (n < TRC_RES_MAX_EXCLUDES && fgets(line, sizeof(line), f)) {
        unsigned long start, end;
        char perms[8];
        int at = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &at) < 3 || !at ||
            perms[2] != 'x' || line[at] != '/')
            continue;
        line[strcspn(line, "\n")] = '\0';
        struct trc_res_range rg = {.start = start, .end = end};
        for (uint32_t k = 0; k < r->spec.n_kinds && k < 32; k++)
            if (res_spec_excluded(&r->spec, k, line + at))
                rg.kind_mask |= 1u << k;
        if (rg.kind_mask)
            bpf_map_update_elem(map, &n, &rg, BPF_ANY), n++;
    }
    fclose(f);
}

static int on_event(void *ctx, void *data, size_t size);

int trc_res_open(struct trc_res **out, const struct trc_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    if (!o->track_specs)
        return 0;
    struct trc_res *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    r->pid = o->pid;
    res_spec_init(&r->spec);
    char perr[256];
    int rc = res_spec_parse(&r->spec, o->track_specs, perr, sizeof(perr));
    if (rc < 0) {
        snprintf(err, errlen, "--track-resource: %s", perr);
        free(r);
        return rc;
    }
    struct trc_modpath *mods = calloc(RES_MAX_MODULES, sizeof(*mods));
    size_t n_mods = 0;
    if (!mods || trc_read_modules(o->pid, mods, RES_MAX_MODULES, &n_mods) < 0) {
        snprintf(err, errlen, "cannot read the modules of pid %d", o->pid);
        free(mods);
        free(r);
        return -ESRCH;
    }
    elf_version(EV_CURRENT);
    if (r->spec.n_patterns) {
        for (size_t i = 0; i < n_mods; i++)
            offer_module(&r->spec, &mods[i]);
        res_spec_resolve_patterns(&r->spec);
    }
    r->skel = resources_bpf__open();
    if (!r->skel) {
        snprintf(err, errlen, "cannot open the resources BPF program");
        rc = -ENOMEM;
        goto fail;
    }
    r->skel->rodata->targ_tgid = (uint32_t)o->pid;
    r->skel->rodata->stack_depth = (uint32_t)o->stack_depth;
    r->skel->rodata->unwind_dwarf = o->unwind == SNAP_UNWIND_DWARF;
    if (o->unwind_tables &&
        (rc = trc_unwind_share(o->unwind_tables, r->skel->maps.unw_rows, r->skel->maps.unw_maps,
                               r->skel->maps.unw_meta)) < 0) {
        snprintf(err, errlen, "cannot share the unwind tables: %s", strerror(-rc));
        goto fail;
    }
    if ((rc = resources_bpf__load(r->skel)) < 0) {
        snprintf(err, errlen, "cannot load the resources BPF program: %s", strerror(-rc));
        goto fail;
    }
    int funcs = bpf_map__fd(r->skel->maps.funcs);
    for (uint32_t i = 0; i < r->spec.n_funcs; i++) {
        const struct res_func *f = &r->spec.funcs[i];
        struct trc_res_func bf = {.role = f->role, .loc = f->loc, .arg = f->arg, .kind = f->kind};
        bpf_map_update_elem(funcs, &i, &bf, BPF_ANY);
    }
    set_excludes(r);
    r->probes = calloc(r->spec.n_funcs ? r->spec.n_funcs : 1, sizeof(*r->probes));
    if (!r->probes) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Each function where the loader would find it: the first module that
     * defines it, in map order (the executable, then its libraries). */
    for (uint32_t i = 0; i < r->spec.n_funcs; i++) {
        for (size_t m = 0; m < n_mods; m++) {
            uint64_t off;
            if (trc_elf_func_offset(mods[m].access, r->spec.funcs[i].name, &off) < 0)
                continue;
            if ((rc = attach(r, &mods[m], i, off, err, errlen)) < 0)
                goto fail;
            struct res_probe *p = &r->probes[r->n_probes++];
            p->fn = i;
            p->offset = off;
            util_strlcpy(p->module, mods[m].path, sizeof(p->module));
            r->n_found_funcs++;
            break;
        }
    }
    if (!r->n_found_funcs) {
        snprintf(err, errlen, "--track-resource: none of the %u functions is defined in pid %d",
                 r->spec.n_funcs, o->pid);
        rc = -ENOENT;
        goto fail;
    }
    r->rb = ring_buffer__new(bpf_map__fd(r->skel->maps.events), on_event, r, NULL);
    if (!r->rb) {
        rc = -errno;
        snprintf(err, errlen, "cannot read the resource event ring buffer");
        goto fail;
    }
    r->mono_to_real = util_realtime_ns() - util_monotonic_ns();
    snprintf(r->describe, sizeof(r->describe),
             "resources: %u kinds, %u of %u functions found, %zu probes", r->spec.n_kinds,
             r->n_found_funcs, r->spec.n_funcs, r->n_links);
    free(mods);
    *out = r;
    return 0;
fail:
    free(mods);
    trc_res_close(r);
    return rc;
}

void trc_res_close(struct trc_res *r)
{
    if (!r)
        return;
    ring_buffer__free(r->rb);
    for (size_t i = 0; i < r->n_links; i++)
        bpf_link__destroy(r->links[i]);
    resources_bpf__destroy(r->skel);
    free(r->links);
    free(r->probes);
    free(r->aggs);
    free(r->entries);
    free(r->events);
    free(r);
}

const char *trc_res_describe(const struct trc_res *r)
{
    return r ? r->describe : "resources: off";
}

/* ---- collecting ---- */

static uint32_t site_id(struct trc_res *r, const struct trc_site *s)
{
    if (!s->caller && s->stack_id < 0)
        return SNAP_STACK_NONE;
    return trc_drain_site(r->drain, bpf_map__fd(r->skel->maps.stacks), s);
}

static void event_detail(const struct trc_res *r, const struct trc_res_event *e, char *buf,
                         size_t cap)
{
    const struct res_spec_set *sp = &r->spec;
    const char *fn = e->fn < sp->n_funcs ? sp->funcs[e->fn].name : "?";
    const char *dfn = e->destroy_fn < sp->n_funcs ? sp->funcs[e->destroy_fn].name : "?";
    uint32_t kind = e->fn < sp->n_funcs ? sp->funcs[e->fn].kind : 0;
    snprintf(buf, cap, "%s: %s(0x%llx) %s %s", kind < sp->n_kinds ? sp->kinds[kind].name : "?", fn,
             (unsigned long long)e->handle,
             e->kind == SNAP_CORR_DOUBLE_DESTROY ? "destroyed twice, first by" : "after", dfn);
}

static int on_event(void *ctx, void *data, size_t size)
{
    struct trc_res *r = ctx;
    const struct trc_res_event *e = data;
    if (size < sizeof(*e))
        return 0;
    if (r->n_events == RES_MAX_EVENTS) {
        r->events_dropped_user++;
        return 0;
    }
    if (!r->events && !(r->events = calloc(RES_MAX_EVENTS, sizeof(*r->events))))
        return -ENOMEM;
    struct snap_corruption *c = &r->events[r->n_events++];
    memset(c, 0, sizeof(*c));
    c->kind = e->kind;
    c->tid = (int32_t)e->tid;
    c->addr = e->handle;
    c->time_ns = e->time_ns + r->mono_to_real;
    c->alloc_stack = site_id(r, &e->create);
    c->free_stack = site_id(r, &e->destroy);
    c->access_stack = site_id(r, &e->access);
    event_detail(r, e, c->detail, sizeof(c->detail));
    return 0;
}

static struct agg *agg_for(struct trc_res *r, const struct trc_res_row_key *k)
{
    for (size_t i = 0; i < r->n_aggs; i++)
        if (!memcmp(&r->aggs[i].key, k, sizeof(*k)))
            return &r->aggs[i];
    if (r->n_aggs == r->cap_aggs) {
        size_t nc = r->cap_aggs ? r->cap_aggs * 2 : 64;
        void *p = realloc(r->aggs, nc * sizeof(*r->aggs));
        if (!p)
            return NULL;
        r->aggs = p;
        r->cap_aggs = nc;
    }
    struct agg *a = &r->aggs[r->n_aggs++];
    memset(a, 0, sizeof(*a));
    a->key = *k;
    return a;
}

static uint64_t counter(struct trc_res *r, int map, uint32_t idx)
{
    int ncpu = libbpf_num_possible_cpus();
    uint64_t vals[ncpu > 0 ? ncpu : 1], sum = 0;
    if (ncpu <= 0 || bpf_map_lookup_elem(map, &idx, vals))
        return 0;
    for (int i = 0; i < ncpu; i++)
        sum += vals[i];
    return sum;
}

int trc_res_collect(struct trc_res *r, struct trc_drain *d)
{
    if (!r)
        return 0;
    r->drain = d;
    ring_buffer__consume(r->rb);
    r->n_aggs = 0;
    int rows = bpf_map__fd(r->skel->maps.rows), objs = bpf_map__fd(r->skel->maps.objs);
    struct trc_res_row_key rk, next;
    int first = 1;
    while (bpf_map_get_next_key(rows, first ? NULL : &rk, &next) == 0) {
        first = 0;
        rk = next;
        struct trc_res_row v;
        struct agg *a;
        if (bpf_map_lookup_elem(rows, &rk, &v) == 0 && (a = agg_for(r, &rk)))
            a->totals = v;
    }
    struct trc_res_key ok, onext;
    first = 1;
    while (bpf_map_get_next_key(objs, first ? NULL : &ok, &onext) == 0) {
        first = 0;
        ok = onext;
        struct trc_res_obj o;
        if (bpf_map_lookup_elem(objs, &ok, &o))
            continue;
        struct trc_res_row_key k = {.site = o.row, .kind = ok.kind};
        struct agg *a = agg_for(r, &k);
        if (!a)
            return -ENOMEM;
        int64_t extra = o.count - (o.created ? 1 : 0);
        a->live++;
        a->balance += extra;
        if (o.created_ns && (!a->oldest_mono || o.created_ns < a->oldest_mono))
            a->oldest_mono = o.created_ns;
        if (extra > 0 && o.ref_n) {
            a->last_ref = o.refs[(o.ref_top + TRC_RES_REF_SITES - 1) % TRC_RES_REF_SITES];
            a->has_last_ref = 1;
        }
    }
    free(r->entries);
    r->entries = calloc(r->n_aggs ? r->n_aggs : 1, sizeof(*r->entries));
    if (!r->entries)
        return -ENOMEM;
    r->n_entries = 0;
    for (size_t i = 0; i < r->n_aggs; i++) {
        const struct agg *a = &r->aggs[i];
        if (a->key.kind >= r->spec.n_kinds)
            continue;
        struct snap_resource_entry *e = &r->entries[r->n_entries++];
        util_strlcpy(e->kind, r->spec.kinds[a->key.kind].name, sizeof(e->kind));
        e->stack_id = site_id(r, &a->key.site);
        e->flags = r->spec.kinds[a->key.kind].flags;
        e->live_count = a->live;
        e->total_created = a->totals.created;
        e->total_destroyed = a->totals.destroyed;
        e->total_refs = a->totals.refs;
        e->total_unrefs = a->totals.unrefs;
        e->ref_balance = a->balance;
        e->last_ref_stack = a->has_last_ref ? site_id(r, &a->last_ref) : SNAP_STACK_NONE;
        e->oldest_ns = a->oldest_mono ? a->oldest_mono + r->mono_to_real : 0;
    }
    int cnt = bpf_map__fd(r->skel->maps.res_counters);
    r->n_losses = 0;
    r->losses[r->n_losses++] = (struct trc_loss_row){SNAP_LOSS_RESOURCE_OBJECTS_FULL,
                                                     counter(r, cnt, TRC_RC_OBJECTS_FULL)};
    r->losses[r->n_losses++] =
        (struct trc_loss_row){SNAP_LOSS_RESOURCE_ROWS_FULL, counter(r, cnt, TRC_RC_ROWS_FULL)};
    r->losses[r->n_losses++] =
        (struct trc_loss_row){SNAP_LOSS_RESOURCE_EVENTS_DROPPED,
                              counter(r, cnt, TRC_RC_EVENTS_DROPPED) + r->events_dropped_user};
    r->losses[r->n_losses++] = (struct trc_loss_row){SNAP_LOSS_RESOURCE_PENDING_FULL,
                                                     counter(r, cnt, TRC_RC_PENDING_FULL)};
    int stk = bpf_map__fd(r->skel->maps.counters);
    r->losses[r->n_losses++] = (struct trc_loss_row){SNAP_LOSS_RESOURCE_STACK_LOST,
                                                     counter(r, stk, TRC_C_STACK_COLLISION) +
                                                         counter(r, stk, TRC_C_STACK_FULL) +
                                                         counter(r, stk, TRC_C_STACK_FAULT)};
    r->drain = NULL;
    return 0;
}

void trc_res_view(const struct trc_res *r, struct trc_view *v)
{
    if (!r)
        return;
    v->resources = r->entries;
    v->n_resources = r->n_entries;
    v->res_events = r->events;
    v->n_res_events = r->n_events;
    v->res_losses = r->losses;
    v->n_res_losses = r->n_losses;
}
