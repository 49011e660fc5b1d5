/*
 * The snapshot reader: the only code that parses snapshot files
 * (docs/snapshot-format.md). It runs in offline tools, never in the audited
 * process, so it allocates freely. It trusts nothing: every length is checked
 * against what is left, counts are bounded, and the first problem found is
 * reported as one line naming the file, the section and the byte offset.
 */
#include "snapshot.h"
#include "series_name.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_HEADER_LEN (SNAP_MAGIC_LEN + 8)
#define END_SECTION_LEN (4 + 8 + 4) /* type+version, total length, crc */
#define MAX_FILE_BYTES  (4ull << 30)

struct cursor {
    const unsigned char *p, *end, *base;
    char *err;
    size_t errlen;
    const char *where; /* section being parsed */
    int failed;
};

static int failf(struct cursor *c, const char *fmt, ...)
{
    if (c->failed)
        return -EINVAL;
    c->failed = 1;
    if (c->err && c->errlen) {
        int n = snprintf(c->err, c->errlen, "%s at byte %zu: ", c->where, (size_t)(c->p - c->base));
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

static int need(struct cursor *c, size_t n)
{
    if (c->failed)
        return -EINVAL;
    if ((size_t)(c->end - c->p) < n)
        return failf(c, "truncated record (need %zu bytes, %zu left)", n, (size_t)(c->end - c->p));
    return 0;
}

static uint8_t get_u8(struct cursor *c)
{
    if (need(c, 1))
        return 0;
    return *c->p++;
}

static uint16_t get_u16(struct cursor *c)
{
    uint16_t v = 0;
    if (need(c, 2))
        return 0;
    memcpy(&v, c->p, 2);
    c->p += 2;
    return v;
}

static uint32_t get_u32(struct cursor *c)
{
    uint32_t v = 0;
    if (need(c, 4))
        return 0;
    memcpy(&v, c->p, 4);
    c->p += 4;
    return v;
}

static uint64_t get_u64(struct cursor *c)
{
    uint64_t v = 0;
    if (need(c, 8))
        return 0;
    memcpy(&v, c->p, 8);
    c->p += 8;
    return v;
}

static void get_bytes(struct cursor *c, void *dst, size_t n)
{
    if (need(c, n))
        return;
    memcpy(dst, c->p, n);
    c->p += n;
}

/* Reads a length-prefixed string into a heap copy (or into buf if given). */
static char *get_str(struct cursor *c, char *buf, size_t cap)
{
    uint32_t len = get_u32(c);
    if (c->failed)
        return NULL;
    if (len >= SNAP_MAX_PATH) {
        failf(c, "string of %u bytes exceeds the %d-byte limit", len, SNAP_MAX_PATH);
        return NULL;
    }
    if (need(c, len))
        return NULL;
    char *s = buf;
    if (!s) {
        s = malloc(len + 1);
        if (!s) {
            failf(c, "out of memory");
            return NULL;
        }
        cap = len + 1;
    }
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(s, c->p, n);
    s[n] = '\0';
    if (memchr(s, '\0', n)) {
        if (!buf)
            free(s);
        failf(c, "string contains a NUL byte");
        return NULL;
    }
    c->p += len;
    return s;
}

static int parse_header(struct cursor *c, struct snap_header *h)
{
    h->source = get_u32(c);
    h->mode = get_u32(c);
    h->unwind = get_u32(c);
    h->trigger = get_u32(c);
    h->seq = get_u32(c);
    h->pid = (int32_t)get_u32(c);
    h->ppid = (int32_t)get_u32(c);
    get_u32(c);
    h->sample_period = get_u64(c);
    h->start_time_ns = get_u64(c);
    h->snapshot_time_ns = get_u64(c);
    h->monotonic_ns = get_u64(c);
    h->rss_bytes = get_u64(c);
    get_str(c, h->exe, sizeof(h->exe));
    get_str(c, h->series, sizeof(h->series));
    get_str(c, h->allocator, sizeof(h->allocator));
    get_str(c, h->hostname, sizeof(h->hostname));
    if (c->failed)
        return -EINVAL;
    if (h->source != SNAP_SOURCE_SHIM && h->source != SNAP_SOURCE_TRACER &&
        h->source != SNAP_SOURCE_INJECTED)
        return failf(c, "unknown source %u", h->source);
    if (h->mode != SNAP_MODE_FULL && h->mode != SNAP_MODE_SAMPLED)
        return failf(c, "unknown mode %u", h->mode);
    if (h->start_time_ns && h->snapshot_time_ns && h->snapshot_time_ns < h->start_time_ns)
        return failf(c, "snapshot_time %llu is before start_time %llu",
                     (unsigned long long)h->snapshot_time_ns, (unsigned long long)h->start_time_ns);
    return 0;
}

/*
 * Values no capture can produce (docs/snapshot-format.md, "Sanity checks"):
 * a CRC only says the file is the one written, not that what was written
 * makes sense, and a report must not render "+146097744 TiB/min".
 * Estimated (sampled) entries are scaled separately per field, so only the
 * address-space bound applies to them.
 */
#define SNAP_MAX_PLAUSIBLE_BYTES (1ull << 57) /* the largest virtual address space */

static int check_heap_entry(struct cursor *c, const struct snap_heap_entry *e)
{
    if (e->live_bytes > SNAP_MAX_PLAUSIBLE_BYTES)
        return failf(c, "stack %u: live_bytes %llu is more than any address space holds",
                     e->stack_id, (unsigned long long)e->live_bytes);
    if (e->live_count > SNAP_MAX_PLAUSIBLE_BYTES)
        return failf(c, "stack %u: live_count %llu is more than any address space holds",
                     e->stack_id, (unsigned long long)e->live_count);
    if (e->flags & SNAP_HEAP_ESTIMATED)
        return 0;
    if (e->live_bytes > e->total_bytes)
        return failf(c, "stack %u: live_bytes %llu > total_bytes %llu", e->stack_id,
                     (unsigned long long)e->live_bytes, (unsigned long long)e->total_bytes);
    if (e->live_count > e->total_count)
        return failf(c, "stack %u: live_count %llu > total_count %llu", e->stack_id,
                     (unsigned long long)e->live_count, (unsigned long long)e->total_count);
    if ((e->flags & SNAP_HEAP_PEAK_TEMP) &&
        (e->peak_bytes > e->total_bytes || e->temp_count > e->freed_count))
        return failf(c,
                     "stack %u: peak_bytes %llu > total_bytes %llu or temp_count %llu > "
                     "freed_count %llu",
                     e->stack_id, (unsigned long long)e->peak_bytes,
                     (unsigned long long)e->total_bytes, (unsigned long long)e->temp_count,
                     (unsigned long long)e->freed_count);
    return 0;
}

static int parse_module(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->modules, &caps[0], s->n_modules + 1, sizeof(*s->modules)))
        return failf(c, "out of memory");
    struct snap_module *m = &s->modules[s->n_modules];
    m->start = get_u64(c);
    m->end = get_u64(c);
    m->offset = get_u64(c);
    m->build_id_len = get_u8(c);
    if (m->build_id_len > SNAP_MAX_BUILD_ID)
        return failf(c, "build-id of %u bytes is too long", m->build_id_len);
    get_bytes(c, m->build_id, m->build_id_len);
    m->path = get_str(c, NULL, 0);
    if (c->failed)
        return -EINVAL;
    if (m->end < m->start) {
        int rc = failf(c, "module %s ends before it starts", m->path);
        free(m->path); /* not counted in n_modules: snapshot_free would miss it */
        m->path = NULL;
        return rc;
    }
    s->n_modules++;
    return 0;
}

static int parse_stack(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->stacks, &caps[1], s->n_stacks + 1, sizeof(*s->stacks)))
        return failf(c, "out of memory");
    struct snap_stack *st = &s->stacks[s->n_stacks];
    st->id = get_u32(c);
    st->depth = get_u32(c);
    if (c->failed)
        return -EINVAL;
    if (st->id == SNAP_STACK_NONE)
        return failf(c, "stack id 0 is reserved");
    if (st->depth > SNAP_MAX_STACK_DEPTH)
        return failf(c, "stack depth %u exceeds %d", st->depth, SNAP_MAX_STACK_DEPTH);
    if (need(c, 8 * (size_t)st->depth))
        return -EINVAL;
    st->frames = malloc(8 * (size_t)st->depth + 8);
    if (!st->frames)
        return failf(c, "out of memory");
    get_bytes(c, st->frames, 8 * (size_t)st->depth);
    s->n_stacks++;
    return 0;
}

static int parse_heap(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->heap, &caps[2], s->n_heap + 1, sizeof(*s->heap)))
        return failf(c, "out of memory");
    struct snap_heap_entry *e = &s->heap[s->n_heap];
    e->stack_id = get_u32(c);
    e->flags = get_u32(c);
    e->live_bytes = get_u64(c);
    e->live_count = get_u64(c);
    e->total_bytes = get_u64(c);
    e->total_count = get_u64(c);
    e->freed_bytes = get_u64(c);
    e->freed_count = get_u64(c);
    e->peak_bytes = e->temp_count = e->temp_bytes = 0;
    if (c->end - c->p >= 24) { /* appended fields: older writers lack them */
        e->peak_bytes = get_u64(c);
        e->temp_count = get_u64(c);
        e->temp_bytes = get_u64(c);
    } else {
        e->flags &= ~SNAP_HEAP_PEAK_TEMP;
    }
    if (c->failed)
        return -EINVAL;
    if (check_heap_entry(c, e) < 0)
        return -EINVAL;
    s->n_heap++;
    return 0;
}

static int parse_fd(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->fds, &caps[3], s->n_fds + 1, sizeof(*s->fds)))
        return failf(c, "out of memory");
    struct snap_fd_entry *e = &s->fds[s->n_fds];
    e->fd = (int32_t)get_u32(c);
    e->kind = get_u32(c);
    e->origin = get_u32(c);
    e->stack_id = get_u32(c);
    e->created_ns = get_u64(c);
    e->source_fd = (int32_t)get_u32(c);
    e->flags = get_u32(c);
    e->target = get_str(c, NULL, 0);
    if (c->failed)
        return -EINVAL;
    s->n_fds++;
    if (e->kind >= SNAP_FD_KIND_COUNT)
        e->kind = SNAP_FD_UNKNOWN;
    if (e->origin >= SNAP_FDO_COUNT)
        e->origin = SNAP_FDO_UNKNOWN;
    return 0;
}

static int parse_mmap(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->mmaps, &caps[4], s->n_mmaps + 1, sizeof(*s->mmaps)))
        return failf(c, "out of memory");
    struct snap_mmap_entry *e = &s->mmaps[s->n_mmaps];
    e->addr = get_u64(c);
    e->len = get_u64(c);
    e->prot = (int32_t)get_u32(c);
    e->flags = (int32_t)get_u32(c);
    e->fd = (int32_t)get_u32(c);
    e->kind = get_u32(c);
    e->stack_id = get_u32(c);
    get_u32(c);
    e->created_ns = get_u64(c);
    e->path = get_str(c, NULL, 0);
    if (c->failed)
        return -EINVAL;
    s->n_mmaps++;
    return 0;
}

static int parse_corruption(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->corruptions, &caps[5], s->n_corruptions + 1,
                  sizeof(*s->corruptions)))
        return failf(c, "out of memory");
    struct snap_corruption *e = &s->corruptions[s->n_corruptions];
    e->kind = get_u32(c);
    e->tid = (int32_t)get_u32(c);
    e->addr = get_u64(c);
    e->block_size = get_u64(c);
    e->offset = (int64_t)get_u64(c);
    e->time_ns = get_u64(c);
    e->alloc_stack = get_u32(c);
    e->free_stack = get_u32(c);
    e->access_stack = get_u32(c);
    e->bytes_len = get_u8(c);
    if (e->bytes_len > SNAP_MAX_CORRUPTION_BYTES)
        return failf(c, "corruption byte dump of %u bytes is too long", e->bytes_len);
    get_bytes(c, e->bytes, e->bytes_len);
    get_str(c, e->detail, sizeof(e->detail));
    if (c->failed)
        return -EINVAL;
    s->n_corruptions++;
    return 0;
}

static int parse_loss(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->losses, &caps[6], s->n_losses + 1, sizeof(*s->losses)))
        return failf(c, "out of memory");
    struct snap_loss *e = &s->losses[s->n_losses];
    get_str(c, e->name, sizeof(e->name));
    e->value = get_u64(c);
    if (c->failed)
        return -EINVAL;
    /* one name per counter, whatever the writer's version called it */
    const char *canonical = snap_loss_canonical(e->name);
    if (canonical != e->name)
        util_strlcpy(e->name, canonical, sizeof(e->name));
    s->n_losses++;
    return 0;
}

static int parse_reach(struct cursor *c, struct snapshot *s, size_t caps[])
{
    uint32_t tag = get_u32(c);
    if (tag == 1) { /* info */
        struct snap_reach_info *i = &s->reach;
        i->flags = get_u32(c);
        i->threads_stopped = get_u32(c);
        i->threads_missed = get_u32(c);
        i->scan_ns = get_u64(c);
        i->pause_ns = get_u64(c);
        i->extra_bytes = get_u64(c);
        i->blocks_scanned = get_u64(c);
        i->roots_bytes = get_u64(c);
        if (c->failed)
            return -EINVAL;
        s->has_reach = 1;
        return 0;
    }
    if (tag != 2)
        return c->failed ? -EINVAL : 0; /* a newer record kind: skipped */
    if (util_grow((void **)&s->reach_entries, &caps[7], s->n_reach + 1, sizeof(*s->reach_entries)))
        return failf(c, "out of memory");
    struct snap_reach_entry *e = &s->reach_entries[s->n_reach];
    e->stack_id = get_u32(c);
    for (int k = 0; k < SNAP_REACH_CLASS_COUNT; k++) {
        e->bytes[k] = get_u64(c);
        e->blocks[k] = get_u64(c);
    }
    if (c->failed)
        return -EINVAL;
    s->has_reach = 1;
    s->n_reach++;
    return 0;
}

static int parse_resource(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->resources, &caps[8], s->n_resources + 1, sizeof(*s->resources)))
        return failf(c, "out of memory");
    struct snap_resource_entry *e = &s->resources[s->n_resources];
    get_str(c, e->kind, sizeof(e->kind));
    e->stack_id = get_u32(c);
    e->flags = get_u32(c);
    e->live_count = get_u64(c);
    e->total_created = get_u64(c);
    e->total_destroyed = get_u64(c);
    e->total_refs = get_u64(c);
    e->total_unrefs = get_u64(c);
    e->ref_balance = (int64_t)get_u64(c);
    e->last_ref_stack = get_u32(c);
    get_u32(c);
    e->oldest_ns = get_u64(c);
    if (c->failed)
        return -EINVAL;
    if (!e->kind[0])
        return failf(c, "resource entry without a kind name");
    s->n_resources++;
    return 0;
}

static int parse_mem_entry(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->mem_entries, &caps[9], s->n_mem + 1, sizeof(*s->mem_entries)))
        return failf(c, "out of memory");
    struct snap_mem_entry *e = &s->mem_entries[s->n_mem];
    e->component = get_u32(c);
    e->stack_id = get_u32(c);
    e->flags = get_u32(c);
    e->n_maps = get_u32(c);
    e->rss = (int64_t)get_u64(c);
    e->pss = (int64_t)get_u64(c);
    e->swap = get_u64(c);
    e->size = get_u64(c);
    if (c->failed)
        return -EINVAL;
    if (e->component == 0 || e->component >= SNAP_MEM_COMPONENT_COUNT)
        return 0; /* a newer component: skipped */
    s->n_mem++;
    return 0;
}

static int parse_dmabuf(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->dmabufs, &caps[10], s->n_dmabufs + 1, sizeof(*s->dmabufs)))
        return failf(c, "out of memory");
    struct snap_dmabuf *d = &s->dmabufs[s->n_dmabufs];
    memset(d, 0, sizeof(*d));
    d->inode = get_u64(c);
    d->size = get_u64(c);
    d->stack_id = get_u32(c);
    d->n_fds = get_u32(c);
    d->n_maps = get_u32(c);
    get_str(c, d->exporter, sizeof(d->exporter));
    get_str(c, d->name, sizeof(d->name));
    if (c->failed)
        return -EINVAL;
    s->n_dmabufs++;
    return 0;
}

/* The memory section (SNAP_SEC_MEMORY): tagged records. */
static int parse_memory(struct cursor *c, struct snapshot *s, size_t caps[])
{
    uint32_t tag = get_u32(c);
    if (tag == 1) {
        struct snap_mem_info *i = &s->mem;
        i->flags = get_u32(c);
        i->n_threads = get_u32(c);
        uint64_t *v[] = {
            &i->rss,          &i->pss,         &i->anon,      &i->file,      &i->shmem,
            &i->swap,         &i->smaps_rss,   &i->smaps_pss, &i->live_heap, &i->alloc_resident,
            &i->alloc_in_use, &i->dmabuf_bytes};
        for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
            *v[k] = get_u64(c);
        if (c->failed)
            return -EINVAL;
        s->has_memory = 1;
        return 0;
    }
    if (tag == 2)
        return parse_mem_entry(c, s, caps);
    if (tag == 3)
        return parse_dmabuf(c, s, caps);
    return c->failed ? -EINVAL : 0; /* a newer record kind: skipped */
}

/* KMEM (tags as in snapshot_write.c): info, kernel stack, row, dma-buf. */
static int parse_kstack(struct cursor *c, struct snapshot *s, size_t caps[])
{
    if (util_grow((void **)&s->kstacks, &caps[12], s->n_kstacks + 1, sizeof(*s->kstacks)))
        return failf(c, "out of memory");
    struct snap_kstack *k = &s->kstacks[s->n_kstacks];
    k->id = get_u32(c);
    uint32_t depth = get_u32(c);
    if (c->failed)
        return -EINVAL;
    if (!k->id || depth > SNAP_MAX_STACK_DEPTH)
        return failf(c, "kernel stack %u of depth %u", k->id, depth);
    s->n_kstacks++; /* owns what follows, freed with the snapshot */
    k->addrs = calloc(depth ? depth : 1, sizeof(*k->addrs));
    k->names = calloc(depth ? depth : 1, sizeof(*k->names));
    if (!k->addrs || !k->names)
        return failf(c, "out of memory");
    for (uint32_t i = 0; i < depth && !c->failed; i++, k->depth++) {
        k->addrs[i] = get_u64(c);
        k->names[i] = get_str(c, NULL, 0);
    }
    return c->failed ? -EINVAL : 0;
}

static int parse_kmem(struct cursor *c, struct snapshot *s, size_t caps[])
{
    uint32_t tag = get_u32(c);
    s->has_kmem = 1;
    if (tag == 1) {
        s->kmem.flags = get_u32(c);
        s->kmem.n_dmabufs = get_u32(c);
        s->kmem.live_bytes = get_u64(c);
        s->kmem.excluded_bytes = get_u64(c);
    } else if (tag == 2) {
        return parse_kstack(c, s, caps);
    } else if (tag == 3) {
        if (util_grow((void **)&s->kmem_rows, &caps[13], s->n_kmem + 1, sizeof(*s->kmem_rows)))
            return failf(c, "out of memory");
        struct snap_kmem_row *e = &s->kmem_rows[s->n_kmem];
        e->kind = get_u32(c);
        e->kstack_id = get_u32(c);
        e->stack_id = get_u32(c);
        e->flags = get_u32(c);
        uint64_t *v[] = {&e->live_bytes,        &e->live_count,       &e->total_bytes,
                         &e->total_count,       &e->freed_bytes,      &e->freed_count,
                         &e->freed_other_bytes, &e->freed_other_count};
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
            *v[i] = get_u64(c);
        get_str(c, e->cache, sizeof(e->cache));
        if (!c->failed)
            s->n_kmem++;
    } else if (tag == 4) {
        if (util_grow((void **)&s->kdmabufs, &caps[14], s->n_kdmabufs + 1, sizeof(*s->kdmabufs)))
            return failf(c, "out of memory");
        struct snap_kdmabuf *d = &s->kdmabufs[s->n_kdmabufs];
        d->target_fds = get_u32(c);
        d->flags = get_u32(c);
        d->inode = get_u64(c);
        d->size = get_u64(c);
        get_str(c, d->exporter, sizeof(d->exporter));
        get_str(c, d->name, sizeof(d->name));
        if (!c->failed)
            s->n_kdmabufs++;
    } /* else a newer record kind: skipped */
    return c->failed ? -EINVAL : 0;
}

const struct snap_kstack *snapshot_find_kstack(const struct snapshot *s, uint32_t id)
{
    for (size_t i = 0; id && i < s->n_kstacks; i++)
        if (s->kstacks[i].id == id)
            return &s->kstacks[i];
    return NULL;
}

/* One record of a section, by the section's type. */
static int parse_record(struct cursor *c, uint16_t type, struct snapshot *s, size_t caps[])
{
    switch (type) {
    case SNAP_SEC_HEADER:
        return parse_header(c, &s->hdr);
    case SNAP_SEC_MODULES:
        return parse_module(c, s, caps);
    case SNAP_SEC_STACKS:
        return parse_stack(c, s, caps);
    case SNAP_SEC_HEAP:
        return parse_heap(c, s, caps);
    case SNAP_SEC_FDS:
        return parse_fd(c, s, caps);
    case SNAP_SEC_MMAPS:
        return parse_mmap(c, s, caps);
    case SNAP_SEC_CORRUPTION:
        return parse_corruption(c, s, caps);
    case SNAP_SEC_LOSSES:
        return parse_loss(c, s, caps);
    case SNAP_SEC_REACHABILITY:
        return parse_reach(c, s, caps);
    case SNAP_SEC_RESOURCES:
        return parse_resource(c, s, caps);
    case SNAP_SEC_MEMORY:
        return parse_memory(c, s, caps);
    case SNAP_SEC_KMEM:
        return parse_kmem(c, s, caps);
    default:
        return 0; /* unknown section: records are skipped by length */
    }
}

static const char *section_name(uint16_t type)
{
    switch (type) {
    case SNAP_SEC_HEADER:
        return "header section";
    case SNAP_SEC_MODULES:
        return "modules section";
    case SNAP_SEC_STACKS:
        return "stacks section";
    case SNAP_SEC_HEAP:
        return "heap section";
    case SNAP_SEC_FDS:
        return "fds section";
    case SNAP_SEC_MMAPS:
        return "mmaps section";
    case SNAP_SEC_CORRUPTION:
        return "corruption section";
    case SNAP_SEC_LOSSES:
        return "losses section";
    case SNAP_SEC_REACHABILITY:
        return "reachability section";
    case SNAP_SEC_RESOURCES:
        return "resources section";
    case SNAP_SEC_MEMORY:
        return "memory section";
    case SNAP_SEC_KMEM:
        return "kernel memory section";
    default:
        return "unknown section";
    }
}

static int cmp_stack_id(const void *a, const void *b)
{
    const struct snap_stack *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

int snapshot_read_mem(const void *data, size_t len, struct snapshot **out, char *err, size_t errlen)
{
    struct cursor c = {.p = data,
                       .end = (const unsigned char *)data + len,
                       .base = data,
                       .err = err,
                       .errlen = errlen,
                       .where = "file header"};
    *out = NULL;
    if (len < FILE_HEADER_LEN + END_SECTION_LEN) {
        if (len >= SNAP_MAGIC_LEN && memcmp(data, SNAP_MAGIC, SNAP_MAGIC_LEN))
            return failf(&c, "not a leakaudit snapshot (bad magic)");
        return failf(&c, "truncated: %zu bytes is shorter than any snapshot", len), -EIO;
    }
    if (memcmp(data, SNAP_MAGIC, SNAP_MAGIC_LEN))
        return failf(&c, "not a leakaudit snapshot (bad magic)");
    c.p += SNAP_MAGIC_LEN;
    uint32_t version = get_u32(&c);
    get_u32(&c); /* flags */
    if (version != SNAP_FORMAT_VERSION) {
        failf(&c, "format version %u, this build reads version %d", version, SNAP_FORMAT_VERSION);
        return -EPROTO;
    }
    /* The end marker holds the total length and a CRC of everything before it. */
    const unsigned char *tail = c.end - END_SECTION_LEN;
    uint16_t end_type;
    uint64_t total;
    uint32_t crc;
    memcpy(&end_type, tail, 2);
    memcpy(&total, tail + 4, 8);
    memcpy(&crc, tail + 12, 4);
    if (end_type != SNAP_SEC_END || total != len) {
        c.p = tail;
        c.where = "end marker";
        failf(&c, "truncated or incomplete file (no end marker for %zu bytes)", len);
        return -EIO;
    }
    uint32_t actual = util_crc32(0, data, len - 4);
    if (actual != crc) {
        c.p = tail + 12;
        c.where = "end marker";
        return failf(&c, "checksum mismatch (stored %08x, computed %08x): file is corrupt", crc,
                     actual);
    }

    struct snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        return failf(&c, "out of memory"), -ENOMEM;
    size_t caps[16] = {0};
    int have_header = 0;
    c.end = tail;
    while (c.p < c.end && !c.failed) {
        c.where = "section header";
        uint16_t type = get_u16(&c);
        get_u16(&c); /* section version: newer versions only append record fields */
        c.where = section_name(type);
        if (type == SNAP_SEC_HEADER)
            have_header = 1;
        for (;;) {
            uint32_t rlen = get_u32(&c);
            if (c.failed || rlen == 0)
                break;
            if (need(&c, rlen))
                break;
            struct cursor rc = c;
            rc.end = c.p + rlen;
            parse_record(&rc, type, s, caps);
            if (rc.failed) {
                c.failed = 1;
                break;
            }
            c.p += rlen;
        }
    }
    if (!c.failed && !have_header) {
        c.where = "file";
        failf(&c, "no header section");
    }
    if (c.failed) {
        snapshot_free(s);
        return -EINVAL;
    }
    if (s->n_stacks > 1) /* qsort(NULL, 0) is undefined behaviour */
        qsort(s->stacks, s->n_stacks, sizeof(*s->stacks), cmp_stack_id);
    for (size_t i = 1; i < s->n_stacks; i++) {
        if (s->stacks[i].id == s->stacks[i - 1].id) {
            c.where = "stacks section";
            failf(&c, "stack id %u appears twice", s->stacks[i].id);
            snapshot_free(s);
            return -EINVAL;
        }
    }
    s->hdr.format_version = version;
    *out = s;
    return 0;
}

int snapshot_read_file(const char *path, struct snapshot **out, char *err, size_t errlen)
{
    *out = NULL;
    /* O_NONBLOCK: a FIFO named *.snap must not hang the reader (fstat
     * below refuses it). */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : errno ? errno : EINVAL;
        close(fd);
        snprintf(err, errlen, "%s: %s", path,
                 S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        return -e;
    }
    if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
        close(fd);
        snprintf(err, errlen, "%s: %lld bytes is larger than any valid snapshot", path,
                 (long long)st.st_size);
        return -EFBIG;
    }
    size_t len = (size_t)st.st_size;
    unsigned char *data = malloc(len ? len : 1);
    if (!data) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = read(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    char inner[512];
    int rc = snapshot_read_mem(data, off, out, inner, sizeof(inner));
    free(data);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, inner);
        return rc;
    }
    (*out)->path = strdup(path);
    return 0;
}

void snapshot_free(struct snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_modules; i++)
        free(s->modules[i].path);
    for (size_t i = 0; i < s->n_stacks; i++)
        free(s->stacks[i].frames);
    for (size_t i = 0; i < s->n_fds; i++)
        free(s->fds[i].target);
    for (size_t i = 0; i < s->n_mmaps; i++)
        free(s->mmaps[i].path);
    free(s->modules);
    free(s->stacks);
    free(s->heap);
    free(s->fds);
    free(s->mmaps);
    free(s->corruptions);
    free(s->losses);
    free(s->reach_entries);
    free(s->resources);
    free(s->mem_entries);
    free(s->dmabufs);
    for (size_t i = 0; i < s->n_kstacks; i++) {
        for (uint32_t k = 0; k < s->kstacks[i].depth; k++)
            free(s->kstacks[i].names[k]);
        free(s->kstacks[i].addrs);
        free(s->kstacks[i].names);
    }
    free(s->kstacks);
    free(s->kmem_rows);
    free(s->kdmabufs);
    free(s->path);
    free(s);
}

const struct snap_stack *snapshot_find_stack(const struct snapshot *s, uint32_t id)
{
    size_t lo = 0, hi = s->n_stacks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->stacks[mid].id == id)
            return &s->stacks[mid];
        if (s->stacks[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

uint64_t snapshot_loss(const struct snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n_losses; i++)
        if (!strcmp(s->losses[i].name, name))
            return s->losses[i].value;
    return 0;
}
