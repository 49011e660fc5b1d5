/*
 * Finding the allocator a running process really uses, and the file offsets
 * of its entry points, from /proc/PID/maps and the ELF symbol tables
 * (.dynsym and .symtab, version suffixes ignored). Handles an allocator
 * preloaded or linked as a shared library (jemalloc, tcmalloc, mimalloc),
 * glibc, and one linked statically into the main executable. The C++
 * operators are taken from the allocator when it defines its own (their fast
 * paths never call malloc), else from libstdc++ or the executable.
 *
 * Files are opened through /proc/PID/map_files/ so a target in another
 * mount namespace, or one whose library was replaced on disk, is read and
 * probed at the exact file it mapped.
 */
#include "tracer.h"
#include "allocators.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRC_MAX_MODULES 512

struct trc_fn_spec {
    const char *name;
    int handler;
};

/* The C allocation API, in the order probes are attached. */
static const struct trc_fn_spec c_api[] = {
    {"malloc", TRC_H_SIZE1},
    {"calloc", TRC_H_CALLOC},
    {"realloc", TRC_H_REALLOC},
    {"reallocarray", TRC_H_REALLOCARRAY},
    {"posix_memalign", TRC_H_MEMPTR},
    {"aligned_alloc", TRC_H_SIZE2},
    {"memalign", TRC_H_SIZE2},
    {"valloc", TRC_H_SIZE1},
    {"pvalloc", TRC_H_SIZE1},
    {"free", TRC_H_FREE},
    /* jemalloc's non-standard API (mallocx(size, flags), ...) */
    {"mallocx", TRC_H_SIZE1},
    {"rallocx", TRC_H_REALLOC},
    {"sdallocx", TRC_H_FREE},
    {"dallocx", TRC_H_FREE},
};

/* operator new: the size is always the first argument. */
static const char *const cxx_new[] = {ALLOC_CXX_NEW_NAMES};

/* operator delete: probed only in an allocator that defines its own (in
 * libstdc++ they call free, which is already probed). */
static const char *const cxx_delete[] = {ALLOC_CXX_DELETE_NAMES};

struct trc_module {
    char path[PATH_MAX];   /* as the target sees it */
    char access[PATH_MAX]; /* how we reach it */
};

static int read_modules(int pid, struct trc_module *mods, size_t cap, size_t *n)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/maps", pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return -errno;
    char line[PATH_MAX + 256];
    *n = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long start, end;
        char perms[8];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3 ||
            !path_at || line[path_at] != '/' || perms[2] != 'x')
            continue;
        char *path = line + path_at;
        path[strcspn(path, "\n")] = '\0';
        size_t i;
        for (i = 0; i < *n; i++)
            if (!strcmp(mods[i].path, path))
                break;
        if (i < *n || *n == cap)
            continue;
        util_strlcpy(mods[*n].path, path, sizeof(mods[*n].path));
        snprintf(mods[*n].access, sizeof(mods[*n].access), "/proc/%d/map_files/%lx-%lx", pid, start,
                 end);
        if (access(mods[*n].access, R_OK) != 0) /* no map_files: go through the root */
            snprintf(mods[*n].access, sizeof(mods[*n].access), "/proc/%d/root%s", pid, path);
        (*n)++;
    }
    fclose(f);
    return 0;
}

/* An opened ELF file with the symbols we look up. */
struct trc_elf {
    int fd;
    Elf *elf;
};

static int elf_open(struct trc_elf *e, const char *path)
{
    e->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (e->fd < 0)
        return -errno;
    e->elf = elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
    if (!e->elf || elf_kind(e->elf) != ELF_K_ELF) {
        if (e->elf)
            elf_end(e->elf);
        close(e->fd);
        return -ENOEXEC;
    }
    return 0;
}

static void elf_close(struct trc_elf *e)
{
    elf_end(e->elf);
    close(e->fd);
}

/* Converts a symbol's virtual address into the file offset uprobes want. */
static int vaddr_to_offset(Elf *elf, uint64_t vaddr, uint64_t *off)
{
    size_t n;
    if (elf_getphdrnum(elf, &n))
        return -ENOEXEC;
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
            continue;
        if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_memsz) {
            *off = vaddr - ph.p_vaddr + ph.p_offset;
            return 0;
        }
    }
    return -ENOENT;
}

/*
 * Looks a function up by name in .dynsym, then .symtab. "malloc@@GLIBC_2.2.5"
 * style names match "malloc". Global definitions win over local ones.
 */
static int elf_find_func(struct trc_elf *e, const char *name, uint64_t *off)
{
    static const int order[] = {SHT_DYNSYM, SHT_SYMTAB};
    size_t len = strlen(name);
    for (size_t o = 0; o < 2; o++) {
        uint64_t local = 0;
        Elf_Scn *scn = NULL;
        while ((scn = elf_nextscn(e->elf, scn))) {
            GElf_Shdr sh;
            if (!gelf_getshdr(scn, &sh) || sh.sh_type != (unsigned)order[o] || !sh.sh_entsize)
                continue;
            Elf_Data *data = elf_getdata(scn, NULL);
            size_t count = sh.sh_size / sh.sh_entsize;
            for (size_t i = 0; data && i < count; i++) {
                GElf_Sym sym;
                if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
                    sym.st_shndx == SHN_UNDEF || !sym.st_value)
                    continue;
                const char *s = elf_strptr(e->elf, sh.sh_link, sym.st_name);
                if (!s || strncmp(s, name, len) || (s[len] && s[len] != '@'))
                    continue;
                if (GELF_ST_BIND(sym.st_info) == STB_LOCAL) {
                    if (!local)
                        local = sym.st_value;
                    continue;
                }
                return vaddr_to_offset(e->elf, sym.st_value, off);
            }
        }
        if (local)
            return vaddr_to_offset(e->elf, local, off);
    }
    return -ENOENT;
}

/* Bytes of a function read to place its probe (probe_site.c). */
#define PROLOGUE_BYTES 48

static uint32_t probe_shift(const struct trc_elf *e, uint64_t off, int handler)
{
#if defined(__x86_64__)
    uint8_t code[PROLOGUE_BYTES];
    ssize_t n = pread(e->fd, code, sizeof(code), (off_t)off);
    return n > 0 ? trc_probe_site_shift(code, (size_t)n, handler) : 0;
#else
    (void)e, (void)off, (void)handler;
    return 0; /* arm64 uprobes simulate the common prologue instructions */
#endif
}

static int add_target(struct trc_allocator *a, const struct trc_module *m, const struct trc_elf *e,
                      const char *name, uint64_t off, int handler)
{
    /* Aliases (tcmalloc's operator new is its malloc) share one probe:
     * two probes at one address would count every call twice. */
    for (size_t i = 0; i < a->n; i++)
        if (a->t[i].offset - a->t[i].shift == off && !strcmp(a->t[i].module, m->path))
            return 0;
    if (a->n == TRC_MAX_PROBES)
        return -ENOSPC;
    struct trc_probe_target *t = &a->t[a->n++];
    util_strlcpy(t->path, m->access, sizeof(t->path));
    util_strlcpy(t->module, m->path, sizeof(t->module));
    util_strlcpy(t->name, name, sizeof(t->name));
    t->shift = probe_shift(e, off, handler);
    t->offset = off + t->shift;
    t->handler = handler;
    return 0;
}

static void add_funcs(struct trc_allocator *a, const struct trc_module *m, struct trc_elf *e,
                      int c_api_too, int with_delete)
{
    uint64_t off;
    for (size_t i = 0; c_api_too && i < sizeof(c_api) / sizeof(c_api[0]); i++)
        if (elf_find_func(e, c_api[i].name, &off) == 0)
            add_target(a, m, e, c_api[i].name, off, c_api[i].handler);
    for (size_t i = 0; i < sizeof(cxx_new) / sizeof(cxx_new[0]); i++)
        if (elf_find_func(e, cxx_new[i], &off) == 0)
            add_target(a, m, e, cxx_new[i], off, TRC_H_SIZE1);
    for (size_t i = 0; with_delete && i < sizeof(cxx_delete) / sizeof(cxx_delete[0]); i++)
        if (elf_find_func(e, cxx_delete[i], &off) == 0)
            add_target(a, m, e, cxx_delete[i], off, TRC_H_FREE);
}

static const char *base_name(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* Names an allocator linked into the executable by its telltale symbols. */
static const char *name_from_symbols(struct trc_elf *e)
{
    uint64_t off;
    if (elf_find_func(e, "mallocx", &off) == 0 || elf_find_func(e, "je_malloc", &off) == 0)
        return "jemalloc";
    if (elf_find_func(e, "tc_malloc", &off) == 0)
        return "tcmalloc";
    if (elf_find_func(e, "mi_malloc", &off) == 0)
        return "mimalloc";
    if (elf_find_func(e, "__libc_malloc", &off) == 0)
        return "glibc";
    return "static";
}

static int is_dynamic_linker(const char *path)
{
    return strstr(base_name(path), "ld-linux") || strstr(base_name(path), "ld-musl");
}

int trc_find_allocator(int pid, struct trc_allocator *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    elf_version(EV_CURRENT);
    struct trc_module *mods = calloc(TRC_MAX_MODULES, sizeof(*mods));
    if (!mods)
        return -ENOMEM;
    size_t n = 0;
    int rc = read_modules(pid, mods, TRC_MAX_MODULES, &n);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read /proc/%d/maps: %s", pid, strerror(-rc));
        free(mods);
        return rc;
    }
    char exe[PATH_MAX] = "";
    util_read_exe(pid, exe, sizeof(exe));

    /* Candidates, best first: the executable (allocator linked in), a known
     * allocator library (preloaded or linked), any other library defining
     * malloc, then libc. */
    int best = -1, best_rank = 0, saw_linker = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_dynamic_linker(mods[i].path)) {
            saw_linker = 1;
            continue;
        }
        struct trc_elf e;
        if (elf_open(&e, mods[i].access) < 0)
            continue;
        uint64_t off;
        int defines = elf_find_func(&e, "malloc", &off) == 0;
        elf_close(&e);
        if (!defines)
            continue;
        const char *nm = alloc_name_from_path(mods[i].path);
        int rank = !strcmp(mods[i].path, exe)       ? 4
                   : nm && strcmp(nm, "glibc") != 0 ? 3
                   : !nm                            ? 2
                                                    : 1;
        if (rank > best_rank) {
            best = (int)i;
            best_rank = rank;
        }
    }
    if (best < 0) {
        snprintf(err, errlen, "no allocator found: no mapped file of pid %d defines malloc", pid);
        free(mods);
        /* The process may be in the middle of exec: nothing mapped yet but its
         * stack, then only the executable, then the dynamic linker without
         * libc. Try again; other processes define malloc nowhere. */
        return saw_linker || n <= 1 ? -EAGAIN : -ENOENT;
    }
    const struct trc_module *am = &mods[best];
    util_strlcpy(a->module, am->path, sizeof(a->module));
    struct trc_elf e;
    rc = elf_open(&e, am->access);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read %s: %s", am->path, strerror(-rc));
        /* The mapping went away between reading the maps and opening it
         * through map_files: the process exec'd (a program attached as it
         * starts: the shell's fork still had its libc) -- look again. */
        if (rc == -ENOENT && strstr(am->access, "/map_files/"))
            rc = -EAGAIN;
        free(mods); /* am with it */
        return rc;
    }
    const char *nm = best_rank == 4 ? name_from_symbols(&e) : alloc_name_from_path(am->path);
    util_strlcpy(a->name, nm ? nm : "other", sizeof(a->name));
    uint64_t off;
    int own_new = elf_find_func(&e, "_Znwm", &off) == 0;
    /* The allocator's own operator new/delete bypass malloc/free. */
    add_funcs(a, am, &e, 1, own_new && strcmp(a->name, "glibc") != 0);
    elf_close(&e);
    if (!own_new) {
        /* operator new from libstdc++ (or linked into the executable): it
         * calls malloc, but probing it keeps the caller of `new` right. */
        for (size_t i = 0; i < n; i++) {
            if (!strstr(base_name(mods[i].path), "libstdc++") && strcmp(mods[i].path, exe))
                continue;
            if (elf_open(&e, mods[i].access) < 0)
                continue;
            add_funcs(a, &mods[i], &e, 0, 0);
            elf_close(&e);
        }
    }
    free(mods);
    return 0;
}

/* ---- shared with resources.c (paired C-API resources) ---- */

_Static_assert(sizeof(struct trc_modpath) == sizeof(struct trc_module),
               "trc_modpath mirrors struct trc_module");

int trc_read_modules(int pid, struct trc_modpath *mods, size_t cap, size_t *n)
{
    return read_modules(pid, (struct trc_module *)mods, cap, n);
}

int trc_elf_func_offset(const char *file, const char *name, uint64_t *off)
{
    struct trc_elf e;
    int rc = elf_open(&e, file);
    if (rc < 0)
        return rc;
    rc = elf_find_func(&e, name, off);
    elf_close(&e);
    return rc;
}
