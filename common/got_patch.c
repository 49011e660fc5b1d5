/*
 * Implementation of common/got_patch.h: a view of each loaded module's
 * dynamic section, the walk over its RELA relocations, and the RELRO dance.
 */
#include "got_patch.h"
#include "util.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#define GOT_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define GOT_R_GLOB_DAT  R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define GOT_R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define GOT_R_GLOB_DAT  R_AARCH64_GLOB_DAT
#else
#error "GOT patching: add this architecture's JUMP_SLOT / GLOB_DAT relocation types"
#endif

#define GOT_PAGE ((uintptr_t)util_page_size()) /* 4, 16 or 64 KiB on aarch64 */

struct module_view {
    uintptr_t base, lo, hi; /* load bias, mapped range */
    uintptr_t relro_lo, relro_hi;
    const ElfW(Sym) * symtab;
    const char *strtab;
    size_t strsz;
    const ElfW(Rela) * jmprel, *rela;
    size_t jmprel_n, rela_n;
    const uint32_t *gnu_hash, *sysv_hash;
    const char *name;
};

/* The executable's path: the main program's dlpi_name is "". */
static const char *exe_name(void)
{
    static char exe[PATH_MAX];
    if (!exe[0] && util_read_exe(0, exe, sizeof(exe)) <= 0)
        return "";
    return exe;
}

static uintptr_t dyn_ptr(uintptr_t base, uintptr_t v)
{
    /* glibc relocates these entries in place; the vDSO and some other
     * loaders do not. */
    return v < base ? v + base : v;
}

static const ElfW(Dyn) * map_segments(struct dl_phdr_info *info, struct module_view *m)
{
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t lo = m->base + ph->p_vaddr, hi = lo + ph->p_memsz;
            m->lo = lo < m->lo ? lo : m->lo;
            m->hi = hi > m->hi ? hi : m->hi;
        } else if (ph->p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)(m->base + ph->p_vaddr);
        } else if (ph->p_type == PT_GNU_RELRO) {
            m->relro_lo = m->base + ph->p_vaddr;
            m->relro_hi = m->relro_lo + ph->p_memsz;
        }
    }
    return dyn;
}

static int module_view(struct dl_phdr_info *info, struct module_view *m)
{
    memset(m, 0, sizeof(*m));
    m->base = info->dlpi_addr;
    m->lo = UINTPTR_MAX;
    const ElfW(Dyn) *dyn = map_segments(info, m);
    if (!dyn)
        return -ENOENT;
    int pltrel = DT_RELA;
    size_t pltsz = 0, relasz = 0;
    uintptr_t jmprel = 0, rela = 0;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        uintptr_t p = dyn_ptr(m->base, dyn->d_un.d_ptr);
        switch (dyn->d_tag) {
        case DT_SYMTAB:
            m->symtab = (const ElfW(Sym) *)p;
            break;
        case DT_STRTAB:
            m->strtab = (const char *)p;
            break;
        case DT_STRSZ:
            m->strsz = dyn->d_un.d_val;
            break;
        case DT_JMPREL:
            jmprel = p;
            break;
        case DT_PLTRELSZ:
            pltsz = dyn->d_un.d_val;
            break;
        case DT_PLTREL:
            pltrel = (int)dyn->d_un.d_val;
            break;
        case DT_RELA:
            rela = p;
            break;
        case DT_RELASZ:
            relasz = dyn->d_un.d_val;
            break;
        case DT_GNU_HASH:
            m->gnu_hash = (const uint32_t *)p;
            break;
        case DT_HASH:
            m->sysv_hash = (const uint32_t *)p;
            break;
        default:
            break;
        }
    }
    if (!m->symtab || !m->strtab)
        return -ENOENT;
    if (pltrel == DT_RELA && jmprel) {
        m->jmprel = (const ElfW(Rela) *)jmprel;
        m->jmprel_n = pltsz / sizeof(ElfW(Rela));
    }
    if (rela) {
        m->rela = (const ElfW(Rela) *)rela;
        m->rela_n = relasz / sizeof(ElfW(Rela));
    }
    m->name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : exe_name();
    return 0;
}

static int skip_module(struct dl_phdr_info *info, const struct module_view *m)
{
    uintptr_t self = (uintptr_t)&module_view;
    if (self >= m->lo && self < m->hi)
        return 1; /* the module this code is linked into */
    const char *n = info->dlpi_name ? info->dlpi_name : "";
    return strstr(n, "linux-vdso") || strstr(n, "linux-gate") || strstr(n, "/ld-linux") ||
           !strncmp(n, "ld-linux", 8);
}

/* Number of dynamic symbols, from the hash table (the section headers are
 * not mapped). */
static size_t symbol_count(const struct module_view *m)
{
    if (m->sysv_hash)
        return m->sysv_hash[1];
    if (!m->gnu_hash)
        return 0;
    const uint32_t *h = m->gnu_hash;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
    const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(h + 4) + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        last = buckets[i] > last ? buckets[i] : last;
    if (last < symoffset)
        return symoffset;
    while (!(chain[last - symoffset] & 1))
        last++;
    return (size_t)last + 1;
}

struct export_walk {
    int (*module_wanted)(const char *module, void *arg);
    void (*fn)(const char *module, const char *symbol, void *arg);
    void *arg;
};

static int exports_of(struct dl_phdr_info *info, size_t size, void *arg)
{
    const struct export_walk *w = arg;
    struct module_view m;
    if (module_view(info, &m) < 0 || skip_module(info, &m))
        return 0;
    if (w->module_wanted && !w->module_wanted(m.name, w->arg))
        return 0;
    size_t n = symbol_count(&m);
    for (size_t i = 1; i < n; i++) {
        const ElfW(Sym) *s = &m.symtab[i];
        if (s->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s->st_info) != STT_FUNC ||
            ELF64_ST_BIND(s->st_info) == STB_LOCAL || (m.strsz && s->st_name >= m.strsz))
            continue;
        w->fn(m.name, m.strtab + s->st_name, w->arg);
    }
    return 0;
}

void got_for_each_export(int (*module_wanted)(const char *module, void *arg),
                         void (*fn)(const char *module, const char *symbol, void *arg), void *arg)
{
    struct export_walk w = {module_wanted, fn, arg};
    dl_iterate_phdr(exports_of, &w);
}

/* Where a slot of this module will really go: its current value once bound,
 * else (lazy binding: it still points into the module's own PLT) the
 * definition the loader would pick. */
static uintptr_t real_target(const struct module_view *m, uintptr_t cur, const char *name,
                             void *handle)
{
    if (cur && (cur < m->lo || cur >= m->hi))
        return cur;
    void *p = dlsym(RTLD_DEFAULT, name);
    if (!p && handle)
        p = dlsym(handle, name);
    return (uintptr_t)p;
}

struct patch_walk {
    const struct got_patch_ops *ops;
    void *handle;
    unsigned patched;
};

static void patch_relocs(struct patch_walk *w, const struct module_view *m, const ElfW(Rela) * r,
                         size_t n, int *relro_open)
{
    const struct got_patch_ops *ops = w->ops;
    for (size_t i = 0; i < n; i++) {
        uint32_t type = (uint32_t)ELF64_R_TYPE(r[i].r_info);
        if (type != GOT_R_JUMP_SLOT && type != GOT_R_GLOB_DAT)
            continue;
        uint32_t sym = (uint32_t)ELF64_R_SYM(r[i].r_info);
        if (!sym || (m->strsz && m->symtab[sym].st_name >= m->strsz))
            continue;
        const char *name = m->strtab + m->symtab[sym].st_name;
        int cookie = ops->wanted(m->name, name, ops->arg);
        if (cookie < 0)
            continue;
        uintptr_t *slot = (uintptr_t *)(m->base + r[i].r_offset);
        uintptr_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
        uintptr_t target = real_target(m, cur, name, w->handle);
        if (!target)
            continue; /* not defined anywhere yet: a later dlopen may bring it */
        uintptr_t value = ops->replacement(cookie, cur, target, ops->arg);
        if (!value || value == cur)
            continue;
        uintptr_t a = (uintptr_t)slot;
        if (a >= m->relro_lo && a < m->relro_hi && !*relro_open) {
            uintptr_t lo = m->relro_lo & ~(GOT_PAGE - 1);
            if (mprotect((void *)lo, m->relro_hi - lo, PROT_READ | PROT_WRITE) < 0)
                continue;
            *relro_open = 1;
        }
        __atomic_store_n(slot, value, __ATOMIC_RELEASE);
        w->patched++;
        if (ops->patched)
            ops->patched(cookie, ops->arg);
    }
}

static int patch_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct patch_walk *w = arg;
    struct module_view m;
    if (module_view(info, &m) < 0 || skip_module(info, &m))
        return 0;
    int relro_open = 0;
    patch_relocs(w, &m, m.jmprel, m.jmprel_n, &relro_open);
    patch_relocs(w, &m, m.rela, m.rela_n, &relro_open);
    if (relro_open) {
        uintptr_t lo = m.relro_lo & ~(GOT_PAGE - 1);
        mprotect((void *)lo, m.relro_hi - lo, PROT_READ);
    }
    return 0;
}

unsigned got_patch_all(const struct got_patch_ops *ops, void *handle)
{
    struct patch_walk w = {ops, handle, 0};
    dl_iterate_phdr(patch_module, &w);
    return w.patched;
}

static int count_adds(struct dl_phdr_info *info, size_t size, void *arg)
{
    *(unsigned long long *)arg = info->dlpi_adds;
    return 1;
}

unsigned long long got_loader_adds(void)
{
    unsigned long long adds = 0;
    dl_iterate_phdr(count_adds, &adds);
    return adds;
}
