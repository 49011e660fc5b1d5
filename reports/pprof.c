/*
 * pprof output: a gzipped profile.proto (github.com/google/pprof,
 * proto/profile.proto) encoded by hand, so `go tool pprof` and every pprof
 * viewer can open a leak report. Sample types follow Go's heap profiles:
 * alloc_objects, alloc_space, inuse_objects, inuse_space (the default),
 * values from the last snapshot; then fds (open fds by creating stack, a
 * count) and mmap_space (mapped bytes by creating stack), so
 * `-sample_index=fds` shows the fd leak sites; peak_space (the stack's
 * highest live heap bytes, or mapped bytes) and temporary_objects
 * (heaptrack's temporary allocations), kernel_space (attach --kmem:
 * outstanding kernel bytes, kernel frames then the user stack). Each sample
 * has one non-zero group and a class label (heap, fds, mmaps, resources,
 * kernel). Locations carry
 * function + file:line, with
 * inlined frames as extra lines of one location (innermost first), so no
 * symbolization is needed on the viewing side. Each sample is labelled with
 * its verdict (`-tagfocus=verdict=leak`).
 */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* profile.proto field numbers */
enum {
    PB_PROFILE_SAMPLE_TYPE = 1,
    PB_PROFILE_SAMPLE = 2,
    PB_PROFILE_MAPPING = 3,
    PB_PROFILE_LOCATION = 4,
    PB_PROFILE_FUNCTION = 5,
    PB_PROFILE_STRING_TABLE = 6,
    PB_PROFILE_TIME_NANOS = 9,
    PB_PROFILE_DURATION_NANOS = 10,
    PB_PROFILE_PERIOD_TYPE = 11,
    PB_PROFILE_PERIOD = 12,
    PB_PROFILE_DEFAULT_SAMPLE_TYPE = 14,
};
#define PB_VARINT         0
#define PB_LEN            2
#define MOD_SPACING_SHIFT 40 /* fake, disjoint address range per module */

struct buf {
    unsigned char *p;
    size_t n, cap;
    int oom;
};

static void put(struct buf *b, const void *d, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void varint(struct buf *b, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n] = v & 0x7f;
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    put(b, t, n);
}

static void field_varint(struct buf *b, int field, uint64_t v)
{
    varint(b, (uint64_t)field << 3 | PB_VARINT);
    varint(b, v);
}

static void field_bytes(struct buf *b, int field, const void *d, size_t n)
{
    varint(b, (uint64_t)field << 3 | PB_LEN);
    varint(b, n);
    put(b, d, n);
}

static void field_msg(struct buf *b, int field, struct buf *m)
{
    field_bytes(b, field, m->p, m->n);
    b->oom |= m->oom;
    m->n = 0;
}

/* ---- interning (strings, functions, locations) ---- */

struct intern {
    uint64_t *keys;
    uint32_t *vals; /* id, 0 = empty */
    size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ? h : 1;
}

/* Finds key (never 0); returns a pointer to its value slot (0 if new). */
static uint32_t *intern_slot(struct intern *t, uint64_t key, int *oom)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        uint64_t *k = calloc(ncap, sizeof(*k));
        uint32_t *v = calloc(ncap, sizeof(*v));
        if (!k || !v) {
            free(k);
            free(v);
            *oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->vals[i])
                continue;
            size_t j = t->keys[i] & (ncap - 1);
            while (v[j])
                j = (j + 1) & (ncap - 1);
            k[j] = t->keys[i];
            v[j] = t->vals[i];
        }
        free(t->keys);
        free(t->vals);
        t->keys = k;
        t->vals = v;
        t->cap = ncap;
    }
    size_t j = key & (t->cap - 1);
    while (t->vals[j] && t->keys[j] != key)
        j = (j + 1) & (t->cap - 1);
    if (!t->vals[j])
        t->keys[j] = key;
    return &t->vals[j];
}

struct pprof {
    struct buf out, tmp, tmp2;
    struct intern strings, functions, locations;
    char **strtab; /* [0] is "" (static), the rest are owned copies */
    size_t n_str, cap_str;
    uint32_t n_functions, n_locations;
    int oom;
};

/* String table index; hash collisions are resolved by comparing. */
static uint64_t str_id(struct pprof *p, const char *s)
{
    if (!s || !*s)
        return 0;
    uint64_t h = hash_str(s);
    for (;;) {
        uint32_t *slot = intern_slot(&p->strings, h, &p->oom);
        if (!slot)
            return 0;
        if (*slot && !strcmp(p->strtab[*slot], s))
            return *slot;
        if (*slot) {
            h = h * 31 + 7; /* collision: probe another key */
            continue;
        }
        if (p->n_str == p->cap_str) {
            size_t ncap = p->cap_str ? p->cap_str * 2 : 1024;
            char **t = realloc(p->strtab, ncap * sizeof(*t));
            if (!t) {
                p->oom = 1;
                return 0;
            }
            p->strtab = t;
            p->cap_str = ncap;
        }
        char *copy = strdup(s); /* callers' strings may be temporary */
        if (!copy) {
            p->oom = 1;
            return 0;
        }
        p->strtab[p->n_str] = copy;
        p->strings.n++;
        *slot = (uint32_t)p->n_str++;
        return *slot;
    }
}

static uint64_t function_id(struct pprof *p, const char *name, const char *file)
{
    uint64_t ns = str_id(p, name ? name : "??"), fs = str_id(p, file);
    uint64_t key = (ns << 32 | fs) + 1;
    uint32_t *slot = intern_slot(&p->functions, key, &p->oom);
    if (!slot)
        return 0;
    if (*slot)
        return *slot;
    *slot = ++p->n_functions;
    p->functions.n++;
    struct buf *f = &p->tmp;
    field_varint(f, 1, *slot);
    field_varint(f, 2, ns);
    field_varint(f, 3, ns);
    field_varint(f, 4, fs);
    field_msg(&p->out, PB_PROFILE_FUNCTION, f);
    return *slot;
}

/* The location id of key; *fresh = 1 when it is new (the caller writes
 * its message). 0 when out of memory. */
static uint32_t location_slot(struct pprof *p, uint64_t key, int *fresh)
{
    uint32_t *slot = intern_slot(&p->locations, key, &p->oom);
    *fresh = 0;
    if (!slot || *slot)
        return slot ? *slot : 0;
    *slot = ++p->n_locations;
    p->locations.n++;
    *fresh = 1;
    return *slot;
}

static uint64_t location_id(struct pprof *p, struct rpt_ctx *ctx, struct rpt_loc loc)
{
    uint64_t key = ((uint64_t)loc.mod << MOD_SPACING_SHIFT) + loc.off + 1;
    int fresh;
    uint32_t id = location_slot(p, key, &fresh);
    if (!fresh)
        return id;
    const struct rpt_sym *sym = rpt_sym_lookup(ctx->sym, loc);
    struct buf *l = &p->tmp2;
    l->n = 0;
    field_varint(l, 1, id);
    field_varint(l, 2, loc.mod); /* mapping ids are module indexes */
    field_varint(l, 3, key - 1);
    for (uint32_t f = 0; f < sym->n_frames; f++) {
        struct buf line = {0};
        uint64_t fid = function_id(p, sym->frames[f].function, sym->frames[f].file);
        field_varint(&line, 1, fid);
        field_varint(&line, 2, sym->frames[f].line);
        field_bytes(l, 4, line.p, line.n);
        l->oom |= line.oom;
        free(line.p);
    }
    field_bytes(&p->out, PB_PROFILE_LOCATION, l->p, l->n);
    l->n = 0;
    return id;
}

static void value_type(struct pprof *p, int field, const char *type, const char *unit)
{
    struct buf *v = &p->tmp;
    field_varint(v, 1, str_id(p, type));
    field_varint(v, 2, str_id(p, unit));
    field_msg(&p->out, field, v);
}

static int gzip_write(const struct buf *b, FILE *out)
{
    z_stream zs = {0};
    unsigned char chunk[65536];
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return -ENOMEM;
    zs.next_in = b->p;
    zs.avail_in = (uInt)b->n;
    int rc;
    do {
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        rc = deflate(&zs, Z_FINISH);
        fwrite(chunk, 1, sizeof(chunk) - zs.avail_out, out);
    } while (rc == Z_OK || (rc == Z_BUF_ERROR && zs.avail_out == 0));
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? 0 : -EIO;
}

/* The buffers one sample is built in, and the label keys every sample has. */
struct samples {
    struct buf sample, packed, label;
    uint64_t class_key, verdict_key, resource_key;
};

static void mappings(struct pprof *p)
{
    for (uint32_t m = 1; m < rpt_module_count(); m++) {
        const struct rpt_module *mod = rpt_module_get(m);
        char hex[2 * SNAP_MAX_BUILD_ID + 1] = "";
        for (uint32_t i = 0; i < mod->build_id_len; i++)
            sprintf(hex + 2 * i, "%02x", mod->build_id[i]);
        struct buf *mb = &p->tmp;
        field_varint(mb, 1, m);
        field_varint(mb, 2, (uint64_t)m << MOD_SPACING_SHIFT);
        field_varint(mb, 3, (uint64_t)(m + 1) << MOD_SPACING_SHIFT);
        field_varint(mb, 4, 0);
        field_varint(mb, 5, str_id(p, mod->path));
        field_varint(mb, 6, str_id(p, hex));
        field_varint(mb, 7, 1);
        field_varint(mb, 8, 1);
        field_varint(mb, 9, 1);
        field_varint(mb, 10, 1);
        field_msg(&p->out, PB_PROFILE_MAPPING, mb);
    }
}

#define N_VALUES 9 /* sample types, in the order the header declares them */

static uint64_t named_location_id(struct pprof *p, const char *key, const char *fn,
                                  const char *file);

/* A sample's locations, then its values (in sample-type order). A row
 * without a stack (blocks from before an attach --inject) gets the one
 * location "[no stack]", as in collapsed stacks, so viewers show it. */
static void sample_start(struct pprof *p, struct rpt_ctx *ctx, struct samples *b,
                         const struct rpt_row *r, const uint64_t values[N_VALUES])
{
    for (uint32_t i = r->skip; i < rpt_row_end(ctx, r); i++)
        varint(&b->packed, location_id(p, ctx, r->locs[i]));
    if (r->skip >= rpt_row_end(ctx, r))
        varint(&b->packed, named_location_id(p, "[no stack]", "[no stack]", ""));
    field_bytes(&b->sample, 1, b->packed.p, b->packed.n);
    b->packed.n = 0;
    for (int v = 0; v < N_VALUES; v++)
        varint(&b->packed, values[v]);
    field_bytes(&b->sample, 2, b->packed.p, b->packed.n);
    b->packed.n = 0;
}

/* A label: key = string value, or key = number (num_unit != NULL). */
static void sample_label(struct pprof *p, struct samples *b, uint64_t key, const char *str,
                         uint64_t num, const char *num_unit)
{
    field_varint(&b->label, 1, key);
    if (num_unit) {
        field_varint(&b->label, 3, num);
        field_varint(&b->label, 4, str_id(p, num_unit));
    } else {
        field_varint(&b->label, 2, str_id(p, str));
    }
    field_bytes(&b->sample, 3, b->label.p, b->label.n);
    b->label.n = 0;
}

static void heap_samples(struct pprof *p, struct rpt_ctx *ctx, struct samples *b)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *t = &s->tab[RPT_HEAP];
    size_t last = s->n_snaps - 1;
    for (size_t k = 0; k < t->n_selected; k++) {
        const struct rpt_row *r = &t->rows[t->selected[k]];
        if (!r->value[last] && !r->total_bytes)
            continue;
        uint64_t v[N_VALUES] = {
            r->total_count,     r->total_bytes, r->count[last], r->value[last], 0, 0,
            rpt_row_peak(s, r), r->temp_count};
        sample_start(p, ctx, b, r, v);
        sample_label(p, b, b->class_key, "heap", 0, NULL);
        sample_label(p, b, b->verdict_key, rpt_verdict_name(r->trend.verdict), 0, NULL);
        /* reachability classes as numeric labels: "definitely_lost" = bytes */
        for (int c = 0; s->has_reach && c < SNAP_REACH_CLASS_COUNT; c++)
            if (r->reach_blocks[c])
                sample_label(p, b, str_id(p, rpt_reach_key(c)), NULL, r->reach_bytes[c], "bytes");
        field_msg(&p->out, PB_PROFILE_SAMPLE, &b->sample);
    }
}

/* Open fds and mapped bytes by creating stack: their own sample types. */
static void fd_mmap_samples(struct pprof *p, struct rpt_ctx *ctx, struct samples *b)
{
    const struct rpt_series *s = ctx->series;
    size_t last = s->n_snaps - 1;
    for (int c = RPT_FDS; c <= RPT_MMAPS; c++) {
        const struct rpt_table *ft = &s->tab[c];
        for (size_t k = 0; k < ft->n_selected; k++) {
            const struct rpt_row *r = &ft->rows[ft->selected[k]];
            if (!r->value[last] || !r->depth)
                continue; /* nothing open, or no creating stack to show */
            uint64_t v[N_VALUES] = {0,
                                    0,
                                    0,
                                    0,
                                    c == RPT_FDS ? r->value[last] : 0,
                                    c == RPT_MMAPS ? r->value[last] : 0,
                                    c == RPT_MMAPS ? rpt_row_peak(s, r) : 0,
                                    0};
            sample_start(p, ctx, b, r, v);
            sample_label(p, b, b->class_key, rpt_class_name((enum rpt_class)c), 0, NULL);
            sample_label(p, b, b->verdict_key, rpt_verdict_name(r->trend.verdict), 0, NULL);
            field_msg(&p->out, PB_PROFILE_SAMPLE, &b->sample);
        }
    }
}

/* Resource handles (docs/resources.md): counts only, no bytes, labelled
 * resource=KIND so `pprof -tagfocus resource=KIND` shows one kind. */
static void resource_samples(struct pprof *p, struct rpt_ctx *ctx, struct samples *b)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_table *rt = &s->tab[RPT_RES];
    size_t last = s->n_snaps - 1;
    for (size_t k = 0; k < rt->n_selected; k++) {
        const struct rpt_row *r = &rt->rows[rt->selected[k]];
        if (!r->res || !r->value[last])
            continue;
        uint64_t v[N_VALUES] = {r->res->created, 0, r->value[last], 0, 0, 0, 0, 0};
        sample_start(p, ctx, b, r, v);
        sample_label(p, b, b->class_key, "resources", 0, NULL);
        sample_label(p, b, b->resource_key, r->res->kind, 0, NULL);
        sample_label(p, b, b->verdict_key, rpt_verdict_name(r->trend.verdict), 0, NULL);
        field_msg(&p->out, PB_PROFILE_SAMPLE, &b->sample);
    }
}

/* A location that is only a name, keyed by `key` apart from the module/offset
 * keys: a kernel frame, or "[no stack]". */
static uint64_t named_location_id(struct pprof *p, const char *key, const char *fn,
                                  const char *file)
{
    int fresh;
    uint32_t id = location_slot(p, (1ull << 63) | str_id(p, key), &fresh);
    if (!fresh)
        return id;
    struct buf *l = &p->tmp2, line = {0};
    l->n = 0;
    field_varint(l, 1, id);
    field_varint(&line, 1, function_id(p, fn, file));
    field_bytes(l, 4, line.p, line.n);
    l->oom |= line.oom;
    free(line.p);
    field_bytes(&p->out, PB_PROFILE_LOCATION, l->p, l->n);
    l->n = 0;
    return id;
}

/* A kernel frame as the capture named it ("function+0xoff [module]"): its
 * function the name up to the offset. */
static uint64_t kernel_location_id(struct pprof *p, const char *frame)
{
    char fn[128];
    size_t n = strcspn(frame, "+ ");
    snprintf(fn, sizeof(fn), "%.*s", (int)(n < sizeof(fn) ? n : sizeof(fn) - 1), frame);
    return named_location_id(p, frame, fn[0] ? fn : frame, "[kernel]");
}

/* attach --kmem (docs/memory-kernel.md): outstanding kernel bytes by kernel
 * stack then user stack, sample type kernel_space, labelled class=kernel. */
static void kmem_samples(struct pprof *p, struct rpt_ctx *ctx, struct samples *b)
{
    const struct rpt_series *s = ctx->series;
    const struct rpt_kmem_row *rows;
    const uint32_t *order;
    size_t n = rpt_kmem_shown(s, &rows, &order), last = s->n_snaps - 1;
    for (size_t i = 0; i < n; i++) {
        const struct rpt_kmem_row *r = &rows[order[i]];
        if (!r->value[last])
            continue;
        for (uint32_t f = 0; f < r->kdepth; f++)
            varint(&b->packed, kernel_location_id(p, r->kframes[f]));
        for (uint32_t f = 0; f < r->depth; f++)
            varint(&b->packed, location_id(p, ctx, r->locs[f]));
        field_bytes(&b->sample, 1, b->packed.p, b->packed.n);
        b->packed.n = 0;
        for (int v = 0; v < N_VALUES; v++)
            varint(&b->packed, v == N_VALUES - 1 ? r->value[last] : 0);
        field_bytes(&b->sample, 2, b->packed.p, b->packed.n);
        b->packed.n = 0;
        sample_label(p, b, b->class_key, "kernel", 0, NULL);
        sample_label(p, b, b->verdict_key, rpt_verdict_name(r->trend.verdict), 0, NULL);
        field_msg(&p->out, PB_PROFILE_SAMPLE, &b->sample);
    }
}

/* Time, period, default type, then the string table (complete only now). */
static void trailer(struct pprof *p, const struct rpt_series *s)
{
    uint64_t t0 = s->snaps[0].time_ns, t1 = s->snaps[s->n_snaps - 1].time_ns;
    field_varint(&p->out, PB_PROFILE_TIME_NANOS, t1);
    field_varint(&p->out, PB_PROFILE_DURATION_NANOS, t1 > t0 ? t1 - t0 : 0);
    value_type(p, PB_PROFILE_PERIOD_TYPE, "space", "bytes");
    field_varint(&p->out, PB_PROFILE_PERIOD, s->last.sample_period ? s->last.sample_period : 1);
    field_varint(&p->out, PB_PROFILE_DEFAULT_SAMPLE_TYPE, str_id(p, "inuse_space"));
    for (size_t i = 0; i < p->n_str; i++)
        field_bytes(&p->out, PB_PROFILE_STRING_TABLE, p->strtab[i], strlen(p->strtab[i]));
}

static void pprof_free(struct pprof *p)
{
    free(p->out.p);
    free(p->tmp.p);
    free(p->tmp2.p);
    free(p->strings.keys);
    free(p->strings.vals);
    free(p->functions.keys);
    free(p->functions.vals);
    free(p->locations.keys);
    free(p->locations.vals);
    for (size_t i = 1; i < p->n_str; i++)
        free(p->strtab[i]);
    free(p->strtab);
}

int rpt_render_pprof(struct rpt_ctx *ctx, FILE *out)
{
    const struct rpt_series *s = ctx->series;
    struct pprof p = {0};
    static char empty[] = "";
    p.strtab = malloc(1024 * sizeof(*p.strtab));
    if (!p.strtab)
        return -ENOMEM;
    p.cap_str = 1024;
    p.strtab[p.n_str++] = empty; /* profile.proto: string_table[0] must be "" */

    value_type(&p, PB_PROFILE_SAMPLE_TYPE, "alloc_objects", "count");
    value_type(&p, PB_PROFILE_SAMPLE_TYPE, "alloc_space", "bytes");
    value_type(&p, PB_PROFILE_SAMPLE_TYPE, "inuse_objects", "count");
    value_type(&p, PB_PROFILE_SAMPLE_TYPE, "inuse_space", "bytes");
    value_type(&p, PB_PROFILE_SAMPLE_TYPE, "fds", "count");
    value_type(&p, PB_PROFILE_SAMPLE_TYPE, "mmap_space", "bytes");
    value_type(&p, PB_PROFILE_SAMPLE_TYPE, "peak_space", "bytes");
    value_type(&p, PB_PROFILE_SAMPLE_TYPE, "temporary_objects", "count");
    value_type(&p, PB_PROFILE_SAMPLE_TYPE, "kernel_space", "bytes");
    mappings(&p);

    struct samples b;
    memset(&b, 0, sizeof(b));
    b.verdict_key = str_id(&p, "verdict"); /* interned in this order: the string ids */
    b.class_key = str_id(&p, "class");
    heap_samples(&p, ctx, &b);
    fd_mmap_samples(&p, ctx, &b);
    b.resource_key = str_id(&p, "resource");
    resource_samples(&p, ctx, &b);
    kmem_samples(&p, ctx, &b);
    p.oom |= b.sample.oom | b.packed.oom | b.label.oom;
    free(b.sample.p);
    free(b.packed.p);
    free(b.label.p);

    trailer(&p, s);
    int rc = p.oom || p.out.oom || p.tmp.oom || p.tmp2.oom ? -ENOMEM : gzip_write(&p.out, out);
    pprof_free(&p);
    if (rc == 0 && ferror(out))
        rc = -EIO;
    return rc;
}
