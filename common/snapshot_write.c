/*
 * The snapshot writer: the only code that produces snapshot files
 * (docs/snapshot-format.md). It runs inside the audited process, so it never
 * allocates: records are encoded into the fixed buffer in struct snap_writer
 * and flushed with write(2) to a fresh temporary in DIR (common/safefile.h),
 * which is renamed to DIR/NAME only once the end marker and checksum are on
 * disk. A reader therefore sees a complete file or none.
 */
#include "snapshot.h"
#include "safefile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the snapshot format is little-endian; add byte swapping for this target"
#endif

#define SECTION_VERSION 1

static int flush(struct snap_writer *w)
{
    size_t off = 0;
    while (off < w->used) {
        ssize_t n = write(w->fd, w->buf + off, w->used - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            w->error = -errno;
            return w->error;
        }
        off += (size_t)n;
    }
    w->used = 0;
    return 0;
}

static void put(struct snap_writer *w, const void *data, size_t len)
{
    if (w->error)
        return;
    const unsigned char *p = data;
    w->crc = util_crc32(w->crc, p, len);
    w->offset += len;
    while (len) {
        if (w->used == sizeof(w->buf) && flush(w) < 0)
            return;
        size_t n = sizeof(w->buf) - w->used;
        if (n > len)
            n = len;
        memcpy(w->buf + w->used, p, n);
        w->used += n;
        p += n;
        len -= n;
    }
}

static void put_u8(struct snap_writer *w, uint8_t v)
{
    put(w, &v, 1);
}
static void put_u16(struct snap_writer *w, uint16_t v)
{
    put(w, &v, 2);
}
static void put_u32(struct snap_writer *w, uint32_t v)
{
    put(w, &v, 4);
}
static void put_u64(struct snap_writer *w, uint64_t v)
{
    put(w, &v, 8);
}

/* Strings are length-prefixed, at most cap-1 bytes (cap = the field's size). */
static void put_str(struct snap_writer *w, const char *s, size_t cap)
{
    size_t len = s ? strnlen(s, cap - 1) : 0;
    put_u32(w, (uint32_t)len);
    put(w, s, len);
}

static size_t str_size(const char *s, size_t cap)
{
    return 4 + (s ? strnlen(s, cap - 1) : 0);
}

/* Every record is prefixed by its length so readers can skip fields they
 * do not know (a newer section version appends fields at the end). */
static int begin_record(struct snap_writer *w, size_t body_len)
{
    if (w->error)
        return w->error;
    if (!w->in_section && w->pending_section) {
        uint32_t type = w->pending_section;
        w->pending_section = 0;
        snap_begin_section(w, type);
    }
    if (!w->in_section)
        return w->error = -EINVAL;
    put_u32(w, (uint32_t)body_len);
    return w->error;
}

int snap_writer_open_flags(struct snap_writer *w, const char *dir, const char *name,
                           unsigned dir_flags)
{
    memset(w, 0, offsetof(struct snap_writer, buf));
    w->fd = w->dirfd = -1;
    size_t dl = strlen(dir), nl = strlen(name);
    if (dl + nl + 2 > sizeof(w->final_path) || nl >= sizeof(w->name))
        return w->error = -ENAMETOOLONG;
    memcpy(w->final_path, dir, dl);
    w->final_path[dl] = '/';
    memcpy(w->final_path + dl + 1, name, nl + 1);
    memcpy(w->name, name, nl + 1);
    int fd = safe_dir_open(dir, dir_flags, &w->why);
    if (fd < 0)
        return w->error = fd;
    w->dirfd = fd;
    fd = safe_tmp_create(w->dirfd, name, w->tmp_name, sizeof(w->tmp_name));
    if (fd < 0) {
        w->tmp_name[0] = '\0';
        close(w->dirfd);
        w->dirfd = -1;
        return w->error = fd;
    }
    w->fd = fd;
    put(w, SNAP_MAGIC, SNAP_MAGIC_LEN);
    put_u32(w, SNAP_FORMAT_VERSION);
    put_u32(w, 0); /* flags, reserved */
    return w->error;
}

int snap_writer_open(struct snap_writer *w, const char *dir, const char *name)
{
    return snap_writer_open_flags(w, dir, name, 0);
}

int snap_begin_section(struct snap_writer *w, uint32_t type)
{
    if (w->error)
        return w->error;
    if (w->in_section)
        snap_end_section(w);
    put_u16(w, (uint16_t)type);
    put_u16(w, SECTION_VERSION);
    w->in_section = 1;
    return w->error;
}

int snap_open_section(struct snap_writer *w, uint32_t type)
{
    snap_end_section(w);
    w->pending_section = type;
    return w->error;
}

int snap_end_section(struct snap_writer *w)
{
    w->pending_section = 0;
    if (!w->in_section)
        return w->error;
    put_u32(w, 0); /* a zero-length record ends the section */
    w->in_section = 0;
    return w->error;
}

int snap_write_header(struct snap_writer *w, const struct snap_header *h)
{
    snap_begin_section(w, SNAP_SEC_HEADER);
    size_t len =
        8 * 4 + 5 * 8 + str_size(h->exe, sizeof(h->exe)) + str_size(h->series, sizeof(h->series)) +
        str_size(h->allocator, sizeof(h->allocator)) + str_size(h->hostname, sizeof(h->hostname));
    if (begin_record(w, len) < 0)
        return w->error;
    put_u32(w, h->source);
    put_u32(w, h->mode);
    put_u32(w, h->unwind);
    put_u32(w, h->trigger);
    put_u32(w, h->seq);
    put_u32(w, (uint32_t)h->pid);
    put_u32(w, (uint32_t)h->ppid);
    put_u32(w, 0);
    put_u64(w, h->sample_period);
    put_u64(w, h->start_time_ns);
    put_u64(w, h->snapshot_time_ns);
    put_u64(w, h->monotonic_ns);
    put_u64(w, h->rss_bytes);
    put_str(w, h->exe, sizeof(h->exe));
    put_str(w, h->series, sizeof(h->series));
    put_str(w, h->allocator, sizeof(h->allocator));
    put_str(w, h->hostname, sizeof(h->hostname));
    return snap_end_section(w);
}

int snap_write_module(struct snap_writer *w, const struct snap_module *m)
{
    uint32_t bl = m->build_id_len > SNAP_MAX_BUILD_ID ? SNAP_MAX_BUILD_ID : m->build_id_len;
    if (begin_record(w, 24 + 1 + bl + str_size(m->path, SNAP_MAX_PATH)) < 0)
        return w->error;
    put_u64(w, m->start);
    put_u64(w, m->end);
    put_u64(w, m->offset);
    put_u8(w, (uint8_t)bl);
    put(w, m->build_id, bl);
    put_str(w, m->path, SNAP_MAX_PATH);
    return w->error;
}

int snap_write_stack(struct snap_writer *w, uint32_t id, const uint64_t *frames, uint32_t depth)
{
    if (depth > SNAP_MAX_STACK_DEPTH)
        depth = SNAP_MAX_STACK_DEPTH;
    if (begin_record(w, 8 + 8 * (size_t)depth) < 0)
        return w->error;
    put_u32(w, id);
    put_u32(w, depth);
    put(w, frames, 8 * (size_t)depth);
    return w->error;
}

int snap_write_heap(struct snap_writer *w, const struct snap_heap_entry *e)
{
    if (begin_record(w, 8 + 9 * 8) < 0)
        return w->error;
    w->heap_live_bytes += e->live_bytes;
    put_u32(w, e->stack_id);
    put_u32(w, e->flags);
    put_u64(w, e->live_bytes);
    put_u64(w, e->live_count);
    put_u64(w, e->total_bytes);
    put_u64(w, e->total_count);
    put_u64(w, e->freed_bytes);
    put_u64(w, e->freed_count);
    put_u64(w, e->peak_bytes);
    put_u64(w, e->temp_count);
    put_u64(w, e->temp_bytes);
    return w->error;
}

int snap_write_fd(struct snap_writer *w, const struct snap_fd_entry *e)
{
    if (begin_record(w, 16 + 8 + 8 + str_size(e->target, SNAP_MAX_PATH)) < 0)
        return w->error;
    put_u32(w, (uint32_t)e->fd);
    put_u32(w, e->kind);
    put_u32(w, e->origin);
    put_u32(w, e->stack_id);
    put_u64(w, e->created_ns);
    put_u32(w, (uint32_t)e->source_fd);
    put_u32(w, e->flags);
    put_str(w, e->target, SNAP_MAX_PATH);
    return w->error;
}

int snap_write_mmap(struct snap_writer *w, const struct snap_mmap_entry *e)
{
    if (begin_record(w, 16 + 5 * 4 + 4 + 8 + str_size(e->path, SNAP_MAX_PATH)) < 0)
        return w->error;
    put_u64(w, e->addr);
    put_u64(w, e->len);
    put_u32(w, (uint32_t)e->prot);
    put_u32(w, (uint32_t)e->flags);
    put_u32(w, (uint32_t)e->fd);
    put_u32(w, e->kind);
    put_u32(w, e->stack_id);
    put_u32(w, 0);
    put_u64(w, e->created_ns);
    put_str(w, e->path, SNAP_MAX_PATH);
    return w->error;
}

int snap_write_corruption(struct snap_writer *w, const struct snap_corruption *c)
{
    uint32_t bl =
        c->bytes_len > SNAP_MAX_CORRUPTION_BYTES ? SNAP_MAX_CORRUPTION_BYTES : c->bytes_len;
    char detail[sizeof(c->detail)];
    memcpy(detail, c->detail, sizeof(detail));
    detail[sizeof(detail) - 1] = '\0';
    if (begin_record(w, 8 + 8 * 4 + 12 + 1 + bl + str_size(detail, sizeof(detail))) < 0)
        return w->error;
    put_u32(w, c->kind);
    put_u32(w, (uint32_t)c->tid);
    put_u64(w, c->addr);
    put_u64(w, c->block_size);
    put_u64(w, (uint64_t)c->offset);
    put_u64(w, c->time_ns);
    put_u32(w, c->alloc_stack);
    put_u32(w, c->free_stack);
    put_u32(w, c->access_stack);
    put_u8(w, (uint8_t)bl);
    put(w, c->bytes, bl);
    put_str(w, detail, sizeof(detail));
    return w->error;
}

int snap_write_loss(struct snap_writer *w, const char *name, uint64_t value)
{
    char n[SNAP_MAX_NAME];
    util_strlcpy(n, name, sizeof(n));
    if (begin_record(w, str_size(n, sizeof(n)) + 8) < 0)
        return w->error;
    put_str(w, n, sizeof(n));
    put_u64(w, value);
    return w->error;
}

/* Reachability records start with a tag so the info record and the
 * per-stack entries can share one section. */
#define REACH_TAG_INFO  1u
#define REACH_TAG_ENTRY 2u

int snap_write_reach_info(struct snap_writer *w, const struct snap_reach_info *i)
{
    if (begin_record(w, 4 * 4 + 5 * 8) < 0)
        return w->error;
    put_u32(w, REACH_TAG_INFO);
    put_u32(w, i->flags);
    put_u32(w, i->threads_stopped);
    put_u32(w, i->threads_missed);
    put_u64(w, i->scan_ns);
    put_u64(w, i->pause_ns);
    put_u64(w, i->extra_bytes);
    put_u64(w, i->blocks_scanned);
    put_u64(w, i->roots_bytes);
    return w->error;
}

int snap_write_reach(struct snap_writer *w, const struct snap_reach_entry *e)
{
    if (begin_record(w, 2 * 4 + 2 * SNAP_REACH_CLASS_COUNT * 8) < 0)
        return w->error;
    put_u32(w, REACH_TAG_ENTRY);
    put_u32(w, e->stack_id);
    for (int c = 0; c < SNAP_REACH_CLASS_COUNT; c++) {
        put_u64(w, e->bytes[c]);
        put_u64(w, e->blocks[c]);
    }
    return w->error;
}

int snap_write_resource(struct snap_writer *w, const struct snap_resource_entry *e)
{
    char kind[SNAP_MAX_NAME];
    util_strlcpy(kind, e->kind, sizeof(kind));
    if (begin_record(w, str_size(kind, sizeof(kind)) + 8 + 6 * 8 + 8 + 8) < 0)
        return w->error;
    put_str(w, kind, sizeof(kind));
    put_u32(w, e->stack_id);
    put_u32(w, e->flags);
    put_u64(w, e->live_count);
    put_u64(w, e->total_created);
    put_u64(w, e->total_destroyed);
    put_u64(w, e->total_refs);
    put_u64(w, e->total_unrefs);
    put_u64(w, (uint64_t)e->ref_balance);
    put_u32(w, e->last_ref_stack);
    put_u32(w, 0);
    put_u64(w, e->oldest_ns);
    return w->error;
}

/* Memory records start with a tag, as reachability's do. */
#define MEM_TAG_INFO   1u
#define MEM_TAG_ENTRY  2u
#define MEM_TAG_DMABUF 3u

int snap_write_mem_info(struct snap_writer *w, const struct snap_mem_info *i)
{
    if (begin_record(w, 3 * 4 + 12 * 8) < 0)
        return w->error;
    put_u32(w, MEM_TAG_INFO);
    put_u32(w, i->flags);
    put_u32(w, i->n_threads);
    const uint64_t v[] = {
        i->rss,          i->pss,         i->anon,      i->file,      i->shmem,
        i->swap,         i->smaps_rss,   i->smaps_pss, i->live_heap, i->alloc_resident,
        i->alloc_in_use, i->dmabuf_bytes};
    for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
        put_u64(w, v[k]);
    return w->error;
}

int snap_write_mem(struct snap_writer *w, const struct snap_mem_entry *e)
{
    if (begin_record(w, 5 * 4 + 4 * 8) < 0)
        return w->error;
    put_u32(w, MEM_TAG_ENTRY);
    put_u32(w, e->component);
    put_u32(w, e->stack_id);
    put_u32(w, e->flags);
    put_u32(w, e->n_maps);
    put_u64(w, (uint64_t)e->rss);
    put_u64(w, (uint64_t)e->pss);
    put_u64(w, e->swap);
    put_u64(w, e->size);
    return w->error;
}

int snap_write_dmabuf(struct snap_writer *w, const struct snap_dmabuf *d)
{
    char exp[SNAP_MAX_NAME], name[SNAP_MAX_NAME];
    util_strlcpy(exp, d->exporter, sizeof(exp));
    util_strlcpy(name, d->name, sizeof(name));
    if (begin_record(w, 4 * 4 + 2 * 8 + str_size(exp, sizeof(exp)) + str_size(name, sizeof(name))) <
        0)
        return w->error;
    put_u32(w, MEM_TAG_DMABUF);
    put_u64(w, d->inode);
    put_u64(w, d->size);
    put_u32(w, d->stack_id);
    put_u32(w, d->n_fds);
    put_u32(w, d->n_maps);
    put_str(w, exp, sizeof(exp));
    put_str(w, name, sizeof(name));
    return w->error;
}

/* Kernel-memory records start with a tag (docs/snapshot-format.md). */
#define KMEM_TAG_INFO   1u
#define KMEM_TAG_KSTACK 2u
#define KMEM_TAG_ROW    3u
#define KMEM_TAG_DMABUF 4u
#define KFRAME_NAME_CAP 128 /* "function+0xoff [module]" */

int snap_write_kmem_info(struct snap_writer *w, const struct snap_kmem_info *i)
{
    if (begin_record(w, 3 * 4 + 2 * 8) < 0)
        return w->error;
    put_u32(w, KMEM_TAG_INFO);
    put_u32(w, i->flags);
    put_u32(w, i->n_dmabufs);
    put_u64(w, i->live_bytes);
    put_u64(w, i->excluded_bytes);
    return w->error;
}

int snap_write_kstack(struct snap_writer *w, uint32_t id, const uint64_t *addrs,
                      const char *const *names, uint32_t depth)
{
    if (depth > SNAP_MAX_STACK_DEPTH)
        depth = SNAP_MAX_STACK_DEPTH;
    size_t len = 3 * 4;
    for (uint32_t i = 0; i < depth; i++)
        len += 8 + str_size(names[i], KFRAME_NAME_CAP);
    if (begin_record(w, len) < 0)
        return w->error;
    put_u32(w, KMEM_TAG_KSTACK);
    put_u32(w, id);
    put_u32(w, depth);
    for (uint32_t i = 0; i < depth; i++) {
        put_u64(w, addrs[i]);
        put_str(w, names[i], KFRAME_NAME_CAP);
    }
    return w->error;
}

int snap_write_kmem_row(struct snap_writer *w, const struct snap_kmem_row *e)
{
    if (begin_record(w, 5 * 4 + 8 * 8 + str_size(e->cache, sizeof(e->cache))) < 0)
        return w->error;
    put_u32(w, KMEM_TAG_ROW);
    put_u32(w, e->kind);
    put_u32(w, e->kstack_id);
    put_u32(w, e->stack_id);
    put_u32(w, e->flags);
    put_u64(w, e->live_bytes);
    put_u64(w, e->live_count);
    put_u64(w, e->total_bytes);
    put_u64(w, e->total_count);
    put_u64(w, e->freed_bytes);
    put_u64(w, e->freed_count);
    put_u64(w, e->freed_other_bytes);
    put_u64(w, e->freed_other_count);
    put_str(w, e->cache, sizeof(e->cache));
    return w->error;
}

int snap_write_kdmabuf(struct snap_writer *w, const struct snap_kdmabuf *d)
{
    if (begin_record(w, 3 * 4 + 2 * 8 + str_size(d->exporter, sizeof(d->exporter)) +
                            str_size(d->name, sizeof(d->name))) < 0)
        return w->error;
    put_u32(w, KMEM_TAG_DMABUF);
    put_u32(w, d->target_fds);
    put_u32(w, d->flags);
    put_u64(w, d->inode);
    put_u64(w, d->size);
    put_str(w, d->exporter, sizeof(d->exporter));
    put_str(w, d->name, sizeof(d->name));
    return w->error;
}

int snap_writer_commit(struct snap_writer *w)
{
    if (w->in_section)
        snap_end_section(w);
    put_u16(w, SNAP_SEC_END);
    put_u16(w, SECTION_VERSION);
    put_u64(w, w->offset + 8 + 4); /* total file length, including this and the crc */
    uint32_t crc = w->crc;
    put_u32(w, crc);
    if (!w->error)
        flush(w);
    if (w->fd >= 0 && close(w->fd) < 0 && !w->error)
        w->error = -errno;
    w->fd = -1;
    if (w->dirfd < 0)
        return w->error ? w->error : -EBADF;
    if (w->error)
        safe_tmp_discard(w->dirfd, w->tmp_name);
    else
        w->error = safe_tmp_commit(w->dirfd, w->tmp_name, w->name, &w->why);
    close(w->dirfd);
    w->dirfd = -1;
    return w->error;
}

void snap_writer_abort(struct snap_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->dirfd >= 0) {
        safe_tmp_discard(w->dirfd, w->tmp_name);
        close(w->dirfd);
    }
    w->dirfd = -1;
}
