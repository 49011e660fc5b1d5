/*
 * Offline symbolization of (module, file offset) frames with libdw/libdwfl:
 * function name (symbol table first, demangled; DWARF otherwise), file:line,
 * and the chain of inlined frames at that address.
 *
 * Modules are matched by build-id: the file at the recorded path (under
 * --sysroot if given) is used only if its build-id is the one recorded at
 * capture; otherwise the build-id is looked up in the debuginfo directories
 * (DIR/.build-id/xx/rest.debug, --debuginfo-dir then /usr/lib/debug).
 * Separate debug info for a found binary is located by libdwfl (build-id,
 * .gnu_debuglink). When nothing fits, frames print as module+0xoffset and a
 * warning names the module and why.
 *
 * Every module is opened at most once and every (module, offset) is
 * symbolized at most once (hash cache): a series of 30 snapshots of 20,000
 * stacks usually has only a few thousand distinct return addresses.
 */
#include "report.h"
#include "modmap.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* From libstdc++ (the C++ ABI); declared here so this stays a C file. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

#define SYM_ARENA_CHUNK       (256 * 1024)
#define SYM_MAX_INLINE        16 /* inlined frames reported per address */
#define SYM_DEFAULT_DEBUG_DIR "/usr/lib/debug"
#define SYM_MAX_LOADS         16

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
};

struct load_seg {
    uint64_t offset, filesz, vaddr;
};

struct mod_state {
    int tried;
    Dwfl *dwfl;
    Dwfl_Module *mod;
    struct load_seg segs[SYM_MAX_LOADS];
    int n_segs;
};

struct cache_entry {
    uint64_t off;
    uint32_t mod;
    uint32_t used;
    struct rpt_sym *sym;
};

struct rpt_symbolizer {
    char *debuginfo_path; /* libdwfl's search path string */
    char **dirs;          /* build-id search roots */
    int n_dirs;
    char *sysroot;
    struct mod_state *mods;
    uint32_t n_mods;
    struct cache_entry *cache;
    size_t cache_n, cache_cap;
    struct arena_chunk *arena;
    char **warnings;
    size_t n_warnings;
    Dwfl_Callbacks callbacks;
};

static void *arena_alloc(struct rpt_symbolizer *s, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    struct arena_chunk *c = s->arena;
    if (!c || c->used + n > c->cap) {
        size_t cap = n > SYM_ARENA_CHUNK ? n : SYM_ARENA_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = s->arena;
        c->used = 0;
        c->cap = cap;
        s->arena = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static const char *arena_strdup(struct rpt_symbolizer *s, const char *str)
{
    if (!str)
        return NULL;
    size_t n = strlen(str) + 1;
    char *p = arena_alloc(s, n);
    if (p)
        memcpy(p, str, n);
    return p;
}

static void sym_warn(struct rpt_symbolizer *s, const char *fmt, ...)
{
    char buf[SNAP_MAX_PATH + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char **p = realloc(s->warnings, (s->n_warnings + 1) * sizeof(*p));
    if (!p)
        return;
    s->warnings = p;
    if ((p[s->n_warnings] = strdup(buf)))
        s->n_warnings++;
}

struct rpt_symbolizer *rpt_sym_create(const char *const *dirs, int n_dirs, const char *sysroot)
{
    struct rpt_symbolizer *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    size_t len = sizeof(":.debug:" SYM_DEFAULT_DEBUG_DIR) + 1;
    for (int i = 0; i < n_dirs; i++)
        len += strlen(dirs[i]) + 1;
    s->debuginfo_path = malloc(len);
    s->dirs = calloc((size_t)n_dirs + 1, sizeof(char *));
    if (!s->debuginfo_path || !s->dirs) {
        rpt_sym_destroy(s);
        return NULL;
    }
    /* libdwfl: absolute entries are searched for .build-id/ and debuglink
     * files; ".debug" is relative to the binary's directory. */
    char *p = s->debuginfo_path;
    for (int i = 0; i < n_dirs; i++) {
        p += sprintf(p, "%s:", dirs[i]);
        s->dirs[s->n_dirs++] = strdup(dirs[i]);
    }
    sprintf(p, ":.debug:%s", SYM_DEFAULT_DEBUG_DIR);
    s->dirs[s->n_dirs++] = strdup(SYM_DEFAULT_DEBUG_DIR);
    s->sysroot = sysroot ? strdup(sysroot) : NULL;
    s->callbacks.find_elf = dwfl_build_id_find_elf;
    s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
    s->callbacks.section_address = dwfl_offline_section_address;
    s->callbacks.debuginfo_path = &s->debuginfo_path;
    return s;
}

void rpt_sym_destroy(struct rpt_symbolizer *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n_mods; i++)
        if (s->mods[i].dwfl)
            dwfl_end(s->mods[i].dwfl);
    free(s->mods);
    free(s->cache);
    while (s->arena) {
        struct arena_chunk *next = s->arena->next;
        free(s->arena);
        s->arena = next;
    }
    for (size_t i = 0; i < s->n_warnings; i++)
        free(s->warnings[i]);
    free(s->warnings);
    for (int i = 0; i < s->n_dirs; i++)
        free(s->dirs[i]);
    free(s->dirs);
    free(s->debuginfo_path);
    free(s->sysroot);
    free(s);
}

size_t rpt_sym_warnings(struct rpt_symbolizer *s, const char ***out)
{
    *out = (const char **)s->warnings;
    return s->n_warnings;
}

const char *rpt_module_basename(uint32_t mod)
{
    const struct rpt_module *m = rpt_module_get(mod);
    if (!m || !m->path[0])
        return "??";
    const char *b = strrchr(m->path, '/');
    return b ? b + 1 : m->path;
}

static void hex_build_id(const struct rpt_module *m, char *out)
{
    for (uint32_t i = 0; i < m->build_id_len; i++)
        sprintf(out + 2 * i, "%02x", m->build_id[i]);
    out[2 * m->build_id_len] = '\0';
}

/* Is the file at path the one that was mapped (same build-id)? */
static int build_id_matches(const struct rpt_module *m, const char *path, int *exists)
{
    uint8_t id[SNAP_MAX_BUILD_ID];
    /* Only regular files: the path comes from the snapshot, and opening a
     * FIFO (or a device) there would block or read something else. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    *exists = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (fd >= 0)
        close(fd);
    if (!*exists)
        return 0;
    if (!m->build_id_len)
        return 1; /* nothing recorded: trust the path */
    int n = modmap_read_build_id(path, id, sizeof(id));
    return n == (int)m->build_id_len && !memcmp(id, m->build_id, m->build_id_len);
}

static int open_module(struct rpt_symbolizer *s, uint32_t idx, struct mod_state *st)
{
    const struct rpt_module *m = rpt_module_get(idx);
    char path[SNAP_MAX_PATH * 2], hex[2 * SNAP_MAX_BUILD_ID + 1];
    const char *found = NULL;
    int exists = 0, mismatch = 0;
    if (!m || !m->path[0] || m->path[0] != '/')
        return -ENOENT;
    hex_build_id(m, hex);
    if (s->sysroot) {
        snprintf(path, sizeof(path), "%s%s", s->sysroot, m->path);
        if (build_id_matches(m, path, &exists))
            found = path;
        mismatch |= exists;
    }
    if (!found) {
        snprintf(path, sizeof(path), "%s", m->path);
        if (build_id_matches(m, path, &exists))
            found = path;
        else
            mismatch |= exists;
    }
    for (int i = 0; !found && m->build_id_len > 1 && i < s->n_dirs; i++) {
        snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", s->dirs[i], hex, hex + 2);
        if (build_id_matches(m, path, &exists))
            found = path;
    }
    if (!found) {
        if (mismatch)
            sym_warn(s,
                     "%s: build-id differs from the one recorded (%s): the file changed "
                     "since capture; use --debuginfo-dir or --sysroot",
                     m->path, m->build_id_len ? hex : "none");
        else
            sym_warn(s, "%s: not found; frames in it are shown as offsets", m->path);
        return -ENOENT;
    }
    st->dwfl = dwfl_begin(&s->callbacks);
    if (!st->dwfl)
        return -ENOMEM;
    /* base 0 + add_p_vaddr: module addresses are the ELF's own vaddrs. */
    st->mod = dwfl_report_elf(st->dwfl, rpt_module_basename(idx), path, -1, 0, true);
    dwfl_report_end(st->dwfl, NULL, NULL);
    if (!st->mod) {
        sym_warn(s, "%s: unreadable ELF file: %s", path, dwfl_errmsg(-1));
        return -EINVAL;
    }
    GElf_Addr bias;
    Elf *elf = dwfl_module_getelf(st->mod, &bias);
    size_t phnum = 0;
    if (elf && elf_getphdrnum(elf, &phnum) == 0) {
        for (size_t i = 0; i < phnum && st->n_segs < SYM_MAX_LOADS; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
                st->segs[st->n_segs++] =
                    (struct load_seg){ph.p_offset, ph.p_filesz, ph.p_vaddr - bias};
        }
    }
    Dwarf_Addr dbias;
    if (!dwfl_module_getdwarf(st->mod, &dbias))
        sym_warn(s,
                 "%s: no debug info (install its -dbg package or use --debuginfo-dir); "
                 "function names only",
                 m->path);
    return 0;
}

static struct mod_state *module_state(struct rpt_symbolizer *s, uint32_t idx)
{
    if (idx >= s->n_mods) {
        uint32_t n = rpt_module_count();
        if (n <= idx)
            return NULL;
        struct mod_state *p = realloc(s->mods, n * sizeof(*p));
        if (!p)
            return NULL;
        memset(p + s->n_mods, 0, (n - s->n_mods) * sizeof(*p));
        s->mods = p;
        s->n_mods = n;
    }
    struct mod_state *st = &s->mods[idx];
    if (!st->tried) {
        st->tried = 1;
        if (open_module(s, idx, st) < 0 && st->dwfl) {
            dwfl_end(st->dwfl);
            st->dwfl = NULL;
            st->mod = NULL;
        }
    }
    return st->mod ? st : NULL;
}

static const char *demangle(struct rpt_symbolizer *s, const char *name)
{
    if (!name)
        return NULL;
    if (name[0] == '_' && name[1] == 'Z') {
        int status = -1;
        char *d = __cxa_demangle(name, NULL, NULL, &status);
        if (d && status == 0) {
            const char *r = arena_strdup(s, d);
            free(d);
            return r;
        }
        free(d);
    }
    return arena_strdup(s, name);
}

static const char *die_name(struct rpt_symbolizer *s, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *n = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        n = dwarf_formstring(&attr);
    if (!n && dwarf_attr_integrate(die, DW_AT_name, &attr))
        n = dwarf_formstring(&attr);
    return demangle(s, n);
}

static uint64_t seg_vaddr(const struct mod_state *st, uint64_t off)
{
    for (int i = 0; i < st->n_segs; i++)
        if (off >= st->segs[i].offset && off < st->segs[i].offset + st->segs[i].filesz)
            return off - st->segs[i].offset + st->segs[i].vaddr;
    return off;
}

static struct rpt_sym *symbolize(struct rpt_symbolizer *s, struct rpt_loc loc)
{
    struct rpt_frame frames[SYM_MAX_INLINE];
    uint32_t n = 0;
    struct mod_state *st = loc.mod ? module_state(s, loc.mod) : NULL;
    const char *file = NULL, *symname = NULL;
    int line = 0;
    if (st) {
        /* Frames are return addresses: the call is the byte before. */
        Dwarf_Addr pc = seg_vaddr(st, loc.off) - 1;
        symname = dwfl_module_addrname(st->mod, pc);
        Dwfl_Line *dl = dwfl_module_getsrc(st->mod, pc);
        if (dl)
            file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
        Dwarf_Addr bias = 0;
        Dwarf_Die *cudie = dwfl_module_addrdie(st->mod, pc, &bias);
        Dwarf_Die *scopes = NULL;
        int ns = cudie ? dwarf_getscopes(cudie, pc - bias, &scopes) : 0;
        if (ns > 0) {
            /* Past an inlined instance, dwarf_getscopes goes on with the
             * scopes of its abstract definition (what a variable lookup
             * wants), not with where it was inlined: a chain of three
             * lost its middle and took a wrong line. The concrete chain
             * is the innermost scope's own parents. */
            Dwarf_Die inner = scopes[0];
            free(scopes);
            scopes = NULL;
            ns = dwarf_getscopes_die(&inner, &scopes);
        }
        Dwarf_Files *files = NULL;
        size_t nfiles = 0;
        for (int i = 0; i < ns && n < SYM_MAX_INLINE; i++) {
            int tag = dwarf_tag(&scopes[i]);
            if (tag == DW_TAG_inlined_subroutine) {
                frames[n++] = (struct rpt_frame){die_name(s, &scopes[i]), arena_strdup(s, file),
                                                 (uint32_t)line, 1};
                /* The caller's position is where this was inlined. */
                Dwarf_Attribute attr;
                Dwarf_Word v;
                file = NULL;
                line = 0;
                if (!files && dwarf_getsrcfiles(cudie, &files, &nfiles) != 0)
                    files = NULL;
                if (files && dwarf_attr(&scopes[i], DW_AT_call_file, &attr) &&
                    dwarf_formudata(&attr, &v) == 0 && v < nfiles)
                    file = dwarf_filesrc(files, v, NULL, NULL);
                if (dwarf_attr(&scopes[i], DW_AT_call_line, &attr) &&
                    dwarf_formudata(&attr, &v) == 0)
                    line = (int)v;
            } else if (tag == DW_TAG_subprogram) {
                const char *name = symname ? demangle(s, symname) : die_name(s, &scopes[i]);
                frames[n++] = (struct rpt_frame){name, arena_strdup(s, file), (uint32_t)line, 0};
                break;
            }
        }
        free(scopes);
    }
    if (n == 0 || frames[n - 1].inlined) {
        if (n == SYM_MAX_INLINE)
            n--;
        frames[n++] = (struct rpt_frame){demangle(s, symname), arena_strdup(s, file),
                                         (uint32_t)(line > 0 ? line : 0), 0};
    }
    struct rpt_sym *sym = arena_alloc(s, sizeof(*sym));
    struct rpt_frame *fr = arena_alloc(s, n * sizeof(*fr));
    if (!sym || !fr)
        return NULL;
    memcpy(fr, frames, n * sizeof(*fr));
    sym->n_frames = n;
    sym->frames = fr;
    return sym;
}

static uint64_t loc_hash(struct rpt_loc l)
{
    uint64_t h = l.off * 0x9e3779b97f4a7c15ull ^ ((uint64_t)l.mod * 0xc2b2ae3d27d4eb4full);
    return h ^ (h >> 29);
}

static int cache_grow(struct rpt_symbolizer *s)
{
    size_t ncap = s->cache_cap ? s->cache_cap * 2 : 4096;
    struct cache_entry *c = calloc(ncap, sizeof(*c));
    if (!c)
        return -ENOMEM;
    for (size_t i = 0; i < s->cache_cap; i++) {
        if (!s->cache[i].used)
            continue;
        struct rpt_loc l = {.mod = s->cache[i].mod, .off = s->cache[i].off};
        size_t j = loc_hash(l) & (ncap - 1);
        while (c[j].used)
            j = (j + 1) & (ncap - 1);
        c[j] = s->cache[i];
    }
    free(s->cache);
    s->cache = c;
    s->cache_cap = ncap;
    return 0;
}

const struct rpt_sym *rpt_sym_lookup(struct rpt_symbolizer *s, struct rpt_loc loc)
{
    static struct rpt_frame unknown_frame;
    static struct rpt_sym unknown = {1, &unknown_frame};
    if ((s->cache_n + 1) * 2 > s->cache_cap && cache_grow(s) < 0)
        return &unknown;
    size_t j = loc_hash(loc) & (s->cache_cap - 1);
    while (s->cache[j].used) {
        if (s->cache[j].off == loc.off && s->cache[j].mod == loc.mod)
            return s->cache[j].sym;
        j = (j + 1) & (s->cache_cap - 1);
    }
    struct rpt_sym *sym = symbolize(s, loc);
    if (!sym)
        return &unknown;
    s->cache[j] = (struct cache_entry){.off = loc.off, .mod = loc.mod, .used = 1, .sym = sym};
    s->cache_n++;
    return sym;
}
