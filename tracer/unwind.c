/*
 * The target's unwind tables in BPF maps, for the in-kernel walk of
 * bpf/site.bpf.h (`attach -u dwarf`, the default; docs/unwinding.md, "In
 * the kernel (attach)").
 *
 * For every executable file mapping of the target the module's call-frame
 * information is compiled once (common/unwind_table.h) and its rows are
 * appended to one array map, all modules concatenated; a module is known
 * by its GNU build-id (else by device and inode), so a library mapped
 * twice, or by two processes of a container, is compiled and stored once.
 * Files are opened through /proc/PID/map_files (deleted files, other mount
 * namespaces), else through /proc/PID/root. A second array lists the
 * mappings sorted by address with their load bias and their module's rows;
 * it has two halves: a refresh writes the one BPF is not reading and then
 * flips `active` in the meta map (bumping the generation that invalidates
 * the BPF row caches). All three maps are mmap'ed here: loading a module is
 * a memcpy, not a system call per row.
 *
 * Modules mapped after the attach (dlopen) are picked up by
 * trc_unwind_refresh(), which the session loop calls when the BPF side
 * counted a frame outside every known mapping and once a second; until
 * then such frames end their stacks (counted), they are never guessed.
 * Tables are not cached on disk: compiling is fast (libavcodec's 150k rows
 * in ~50 ms), and a cache would be one more file to trust.
 */
#include "tracer.h"
#include "modmap.h"
#include "unwind_table.h"
#include "util.h"

#include "bpf/trace_events.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_MODULES   1024
#define MAX_SEGMENTS  8 /* executable PT_LOAD segments per module */
#define MAX_BUILD_ID  32
#define MAPS_LINE_MAX (PATH_MAX + 256)
#define PAGE_ROUND(x) (((x) + 4095) & ~(size_t)4095)
#define NO_ROWS       UINT32_MAX /* first_row of a module without rows */

struct segment {
    uint64_t offset, vaddr, filesz; /* an executable PT_LOAD */
};

struct module {
    uint64_t dev, inode;
    uint8_t build_id[MAX_BUILD_ID];
    int build_id_len;
    uint32_t first_row, n_rows; /* n_rows 0: frame pointers only */
    struct segment seg[MAX_SEGMENTS];
    int n_seg;
    char path[256]; /* as the target sees it (for -v) */
};

struct mapping_line {
    uint64_t start, end, offset, dev, inode;
    char path[256];
};

struct trc_unwind {
    int pid, verbose;
    int rows_fd, maps_fd, meta_fd;
    struct unw_row *rows;
    struct trc_unw_mapping *maps;
    struct trc_unw_meta *meta;
    size_t rows_bytes, maps_bytes, meta_bytes;
    uint32_t max_rows, next_row;
    struct module *mods;
    size_t n_mods;
    struct mapping_line *prev; /* the maps lines the active half was made from */
    size_t n_prev;
    uint64_t rows_full, no_cfi; /* modules: rows did not fit / no call-frame information */
    uint64_t last_refresh_ns;
    char describe[128];
    /* Tables compiled at the open to size the rows map, used by the first
     * refresh instead of compiling every module a second time. */
    struct compiled {
        uint64_t dev, inode;
        struct unw_table t;
        int rc;
    } * compiled;
    size_t n_compiled;
};

/* ---- reading /proc/PID/maps ---- */

/* The executable file mappings of pid, sorted by address (maps is sorted). */
static int read_exec_mappings(int pid, struct mapping_line *out, size_t cap, size_t *n)
{
    char p[64], line[MAPS_LINE_MAX];
    snprintf(p, sizeof(p), "/proc/%d/maps", pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return -errno;
    *n = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long start, end, offset, inode;
        unsigned major, minor;
        char perms[8];
        int at = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &start, &end, perms, &offset, &major,
                   &minor, &inode, &at) < 7 ||
            perms[2] != 'x' || !at || line[at] != '/' || !inode)
            continue;
        if (*n == cap)
            break; /* more than TRC_UNW_MAX_MAPPINGS: the rest ends stacks (counted) */
        struct mapping_line *m = &out[(*n)++];
        m->start = start;
        m->end = end;
        m->offset = offset;
        m->dev = makedev(major, minor);
        m->inode = inode;
        line[strcspn(line, "\n")] = '\0';
        util_strlcpy(m->path, line + at, sizeof(m->path));
    }
    fclose(f);
    return 0;
}

/* ---- modules ---- */

/* The executable PT_LOAD segments of an ELF file (for the load bias). */
static int read_segments(const char *file, struct module *m)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    Elf64_Ehdr eh;
    int rc = 0;
    m->n_seg = 0;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr)) {
        close(fd);
        return -ENOEXEC;
    }
    for (unsigned i = 0; i < eh.e_phnum && m->n_seg < MAX_SEGMENTS; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
            (ssize_t)sizeof(ph)) {
            rc = -EIO;
            break;
        }
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
            m->seg[m->n_seg++] = (struct segment){ph.p_offset, ph.p_vaddr, ph.p_filesz};
    }
    close(fd);
    return rc;
}

/* Runtime address minus link-time address for a mapping of module m. */
static int load_bias(const struct module *m, const struct mapping_line *l, uint64_t *bias)
{
    for (int i = 0; i < m->n_seg; i++) {
        const struct segment *s = &m->seg[i];
        if ((s->offset & ~4095ull) <= l->offset && l->offset < s->offset + s->filesz) {
            /* file offset s->offset is at runtime l->start + (s->offset - l->offset) */
            *bias = l->start + (s->offset - l->offset) - s->vaddr;
            return 0;
        }
    }
    return -ENOENT;
}

static struct module *find_module(struct trc_unwind *u, const struct mapping_line *l,
                                  const uint8_t *id, int id_len)
{
    for (size_t i = 0; i < u->n_mods; i++) {
        struct module *m = &u->mods[i];
        if (m->dev == l->dev && m->inode == l->inode)
            return m;
        if (id_len > 0 && m->build_id_len == id_len && !memcmp(m->build_id, id, (size_t)id_len))
            return m;
    }
    return NULL;
}

/* Opens the file behind a mapping the way the target sees it. */
static void mapping_file(const struct trc_unwind *u, const struct mapping_line *l, char *out,
                         size_t len)
{
    snprintf(out, len, "/proc/%d/map_files/%llx-%llx", u->pid, (unsigned long long)l->start,
             (unsigned long long)l->end);
    if (access(out, R_OK) != 0)
        snprintf(out, len, "/proc/%d/root%s", u->pid, l->path);
}

/* The table of file (dev, inode): the one compiled at the open if there
 * is one (handed over: the caller frees it), else compiled now. */
static int build_table(struct trc_unwind *u, uint64_t dev, uint64_t inode, const char *file,
                       struct unw_table *t)
{
    for (size_t i = 0; i < u->n_compiled; i++) {
        struct compiled *c = &u->compiled[i];
        if (c->dev == dev && c->inode == inode && c->rc != 1) {
            int rc = c->rc;
            *t = c->t;
            c->rc = 1; /* handed over */
            return rc;
        }
    }
    return unw_table_build_file(file, t);
}

/* Compiles the module behind l into rows at the end of the rows map. */
static void load_rows(struct trc_unwind *u, struct module *m, const char *file)
{
    struct unw_table t;
    m->first_row = NO_ROWS;
    m->n_rows = 0;
    int rc = build_table(u, m->dev, m->inode, file, &t);
    if (rc < 0 || t.n == 0) {
        u->no_cfi++;
        if (rc == 0)
            unw_table_free(&t);
        return;
    }
    if (t.arch != UNW_ARCH_X86_64 || t.n > u->max_rows - u->next_row) {
        if (t.arch == UNW_ARCH_X86_64)
            u->rows_full++;
        else
            u->no_cfi++;
        unw_table_free(&t);
        return;
    }
    memcpy(u->rows + u->next_row, t.rows, (size_t)t.n * sizeof(*t.rows));
    m->first_row = u->next_row;
    m->n_rows = t.n;
    u->next_row += t.n;
    unw_table_free(&t);
}

static struct module *module_for(struct trc_unwind *u, const struct mapping_line *l)
{
    for (size_t i = 0; i < u->n_mods; i++)
        if (u->mods[i].dev == l->dev && u->mods[i].inode == l->inode)
            return &u->mods[i];
    char file[PATH_MAX + 64];
    mapping_file(u, l, file, sizeof(file));
    uint8_t id[MAX_BUILD_ID];
    int id_len = modmap_read_build_id(file, id, sizeof(id));
    struct module *same = find_module(u, l, id, id_len);
    if (u->n_mods == MAX_MODULES)
        return same; /* may be NULL: its frames end stacks */
    struct module *m = &u->mods[u->n_mods];
    memset(m, 0, sizeof(*m));
    m->dev = l->dev;
    m->inode = l->inode;
    m->build_id_len = id_len > 0 ? id_len : 0;
    memcpy(m->build_id, id, (size_t)m->build_id_len);
    util_strlcpy(m->path, l->path, sizeof(m->path));
    if (read_segments(file, m) < 0)
        return NULL;
    if (same) { /* the same build under another inode: share its rows */
        m->first_row = same->first_row;
        m->n_rows = same->n_rows;
    } else {
        load_rows(u, m, file);
        if (u->verbose)
            fprintf(stderr, "leakaudit:   unwind table %s: %u rows%s\n", l->path, m->n_rows,
                    m->n_rows ? "" : " (frame pointers)");
    }
    u->n_mods++;
    return m;
}

/* ---- the maps ---- */

static void *map_shared(int fd, size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int create_array(const char *name, uint32_t value_size, uint32_t n)
{
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
    int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(uint32_t), value_size, n, &opts);
    return fd < 0 ? -errno : fd;
}

int trc_unwind_refresh(struct trc_unwind *u)
{
    struct mapping_line *lines = calloc(TRC_UNW_MAX_MAPPINGS, sizeof(*lines));
    if (!lines)
        return -ENOMEM;
    size_t n = 0;
    int rc = read_exec_mappings(u->pid, lines, TRC_UNW_MAX_MAPPINGS, &n);
    u->last_refresh_ns = util_monotonic_ns();
    if (rc < 0) {
        free(lines);
        return rc;
    }
    int same = u->prev && n == u->n_prev;
    for (size_t i = 0; same && i < n; i++)
        same = u->prev[i].start == lines[i].start && u->prev[i].end == lines[i].end &&
               u->prev[i].inode == lines[i].inode && u->prev[i].dev == lines[i].dev;
    if (same) {
        free(lines);
        return 0;
    }
    uint32_t next = (u->meta->active & 1) ^ 1;
    struct trc_unw_mapping *half = u->maps + next * TRC_UNW_MAX_MAPPINGS;
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct module *m = module_for(u, &lines[i]);
        uint64_t bias;
        if (!m || load_bias(m, &lines[i], &bias) < 0)
            continue; /* unreadable: its frames end stacks */
        half[k++] = (struct trc_unw_mapping){.start = lines[i].start,
                                             .end = lines[i].end,
                                             .bias = bias,
                                             .first_row = m->n_rows ? m->first_row : 0,
                                             .n_rows = m->n_rows};
    }
    free(u->prev);
    u->prev = lines;
    u->n_prev = n;
    u->meta->n[next] = k;
    __atomic_store_n(&u->meta->gen, u->meta->gen + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&u->meta->active, next, __ATOMIC_RELEASE);
    snprintf(u->describe, sizeof(u->describe),
             "unwind tables: %zu modules, %u rows of %u, %u mappings", u->n_mods, u->next_row,
             u->max_rows, k);
    return 1;
}

/* Compiles the modules mapped now, to size the rows map (cheaper than
 * growing a map); the first refresh takes these tables. Returns the rows. */
static uint32_t compile_mapped(struct trc_unwind *u)
{
    struct mapping_line *lines = calloc(TRC_UNW_MAX_MAPPINGS, sizeof(*lines));
    size_t n = 0;
    uint64_t total = 0;
    if (!lines || read_exec_mappings(u->pid, lines, TRC_UNW_MAX_MAPPINGS, &n) < 0)
        n = 0;
    u->compiled = n ? calloc(n, sizeof(*u->compiled)) : NULL;
    for (size_t i = 0; i < n && u->compiled; i++) {
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = lines[j].dev == lines[i].dev && lines[j].inode == lines[i].inode;
        if (dup)
            continue;
        char file[PATH_MAX + 64];
        mapping_file(u, &lines[i], file, sizeof(file));
        struct compiled *c = &u->compiled[u->n_compiled++];
        c->dev = lines[i].dev;
        c->inode = lines[i].inode;
        c->rc = unw_table_build_file(file, &c->t);
        if (c->rc == 0)
            total += c->t.n;
    }
    free(lines);
    return total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
}

/* Frees the tables no refresh took. */
static void drop_compiled(struct trc_unwind *u)
{
    for (size_t i = 0; i < u->n_compiled; i++)
        if (u->compiled[i].rc == 0)
            unw_table_free(&u->compiled[i].t);
    free(u->compiled);
    u->compiled = NULL;
    u->n_compiled = 0;
}

int trc_unwind_open(struct trc_unwind **out, int pid, int verbose, char *err, size_t errlen)
{
    struct trc_unwind *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->pid = pid;
    u->verbose = verbose;
    u->rows_fd = u->maps_fd = u->meta_fd = -1;
    uint64_t want = (uint64_t)compile_mapped(u) * 3 / 2;
    if (want < TRC_UNW_MIN_ROWS)
        want = TRC_UNW_MIN_ROWS;
    if (want > TRC_UNW_MAX_ROWS)
        want = TRC_UNW_MAX_ROWS;
    u->max_rows = (uint32_t)want;
    u->rows_bytes = PAGE_ROUND((size_t)u->max_rows * sizeof(struct unw_row));
    u->maps_bytes = PAGE_ROUND(2 * TRC_UNW_MAX_MAPPINGS * sizeof(struct trc_unw_mapping));
    u->meta_bytes = PAGE_ROUND(sizeof(struct trc_unw_meta));
    int rc = 0;
    if ((u->rows_fd = create_array("la_unw_rows", sizeof(struct unw_row), u->max_rows)) < 0 ||
        (u->maps_fd = create_array("la_unw_maps", sizeof(struct trc_unw_mapping),
                                   2 * TRC_UNW_MAX_MAPPINGS)) < 0 ||
        (u->meta_fd = create_array("la_unw_meta", sizeof(struct trc_unw_meta), 1)) < 0) {
        rc = u->rows_fd < 0 ? u->rows_fd : u->maps_fd < 0 ? u->maps_fd : u->meta_fd;
        snprintf(err, errlen, "cannot create the unwind-table maps (%u rows): %s", u->max_rows,
                 strerror(-rc));
        goto fail;
    }
    u->rows = map_shared(u->rows_fd, u->rows_bytes);
    u->maps = map_shared(u->maps_fd, u->maps_bytes);
    u->meta = map_shared(u->meta_fd, u->meta_bytes);
    u->mods = calloc(MAX_MODULES, sizeof(*u->mods));
    if (!u->rows || !u->maps || !u->meta || !u->mods) {
        rc = -errno ? -errno : -ENOMEM;
        snprintf(err, errlen, "cannot map the unwind-table maps: %s", strerror(-rc));
        goto fail;
    }
    rc = trc_unwind_refresh(u);
    drop_compiled(u);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read /proc/%d/maps: %s", pid, strerror(-rc));
        goto fail;
    }
    *out = u;
    return 0;
fail:
    trc_unwind_close(u);
    return rc;
}

void trc_unwind_close(struct trc_unwind *u)
{
    if (!u)
        return;
    if (u->rows)
        munmap(u->rows, u->rows_bytes);
    if (u->maps)
        munmap(u->maps, u->maps_bytes);
    if (u->meta)
        munmap(u->meta, u->meta_bytes);
    if (u->rows_fd >= 0)
        close(u->rows_fd);
    if (u->maps_fd >= 0)
        close(u->maps_fd);
    if (u->meta_fd >= 0)
        close(u->meta_fd);
    drop_compiled(u);
    free(u->mods);
    free(u->prev);
    free(u);
}

int trc_unwind_share(const struct trc_unwind *u, struct bpf_map *rows, struct bpf_map *maps,
                     struct bpf_map *meta)
{
    int rc = bpf_map__reuse_fd(rows, u->rows_fd);
    if (!rc)
        rc = bpf_map__reuse_fd(maps, u->maps_fd);
    if (!rc)
        rc = bpf_map__reuse_fd(meta, u->meta_fd);
    return rc;
}

uint64_t trc_unwind_since_refresh_ns(const struct trc_unwind *u)
{
    return util_monotonic_ns() - u->last_refresh_ns;
}

void trc_unwind_losses(const struct trc_unwind *u, uint64_t *rows_full, uint64_t *no_cfi)
{
    *rows_full = u ? u->rows_full : 0;
    *no_cfi = u ? u->no_cfi : 0;
}

const char *trc_unwind_describe(const struct trc_unwind *u)
{
    return u->describe;
}
