/*
 * Where a module's call-frame information is: in an ELF file on disk
 * (sections .eh_frame, .eh_frame_hdr, .debug_frame; the program header
 * PT_GNU_EH_FRAME when section headers are gone), or in a module loaded in
 * this process (PT_GNU_EH_FRAME of its program headers). Feeds
 * unwind_table.c. No malloc: the file is mapped with raw system calls, so
 * the shim may use this too.
 */
#include "unwind_table.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int arch_of_machine(unsigned machine)
{
    if (machine == EM_X86_64)
        return UNW_ARCH_X86_64;
    if (machine == EM_AARCH64)
        return UNW_ARCH_AARCH64;
    return 0;
}

/* Reads the eh_frame_ptr of an .eh_frame_hdr: the address of .eh_frame. */
static int hdr_eh_frame(const uint8_t *h, size_t avail, uint64_t hdr_vaddr, uint64_t *out)
{
    if (avail < 8 || h[0] != 1)
        return -EINVAL;
    uint8_t enc = h[1];
    int32_t v32;
    switch (enc) {
    case 0x1b: /* pcrel | sdata4: the usual */
        memcpy(&v32, h + 4, 4);
        *out = hdr_vaddr + 4 + (uint64_t)(int64_t)v32;
        return 0;
    case 0x03: /* udata4 */
    case 0x0b: /* sdata4 */
        memcpy(&v32, h + 4, 4);
        *out = enc == 0x03 ? (uint64_t)(uint32_t)v32 : (uint64_t)(int64_t)v32;
        return 0;
    case 0x00: /* absptr */
    case 0x04: /* udata8 */
        if (avail < 12)
            return -EINVAL;
        memcpy(out, h + 4, 8);
        return 0;
    default:
        return -EINVAL;
    }
}

int unw_src_from_loaded(const void *eh_frame_hdr, uint64_t load_bias, int arch,
                        struct unw_cfi_src *src)
{
    const uint8_t *h = eh_frame_hdr;
    uint64_t hv = (uint64_t)(uintptr_t)h, eh;
    int rc = hdr_eh_frame(h, 16, hv, &eh);
    if (rc)
        return rc;
    memset(src, 0, sizeof(*src));
    src->data = (const uint8_t *)(uintptr_t)eh;
    src->size = 0;
    src->vaddr = eh;
    src->pc_bias = load_bias;
    src->arch = arch;
    src->hdr = h;
    src->hdr_vaddr = hv;
    return 0;
}

/* File offset of link-time address v, through the PT_LOAD that holds it. */
static int vaddr_to_offset(const Elf64_Ehdr *eh, const uint8_t *base, size_t size, uint64_t v,
                           uint64_t *off, uint64_t *avail)
{
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || v < ph[i].p_vaddr || v - ph[i].p_vaddr >= ph[i].p_filesz)
            continue;
        *off = ph[i].p_offset + (v - ph[i].p_vaddr);
        *avail = ph[i].p_filesz - (v - ph[i].p_vaddr);
        if (*off > size || *avail > size - *off)
            return -EINVAL;
        return 0;
    }
    return -ENOENT;
}

struct elf_sections {
    const Elf64_Shdr *eh_frame, *eh_frame_hdr, *debug_frame;
};

static void find_sections(const Elf64_Ehdr *eh, const uint8_t *base, size_t size,
                          struct elf_sections *out)
{
    memset(out, 0, sizeof(*out));
    if (!eh->e_shoff || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > size ||
        (size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum || eh->e_shstrndx >= eh->e_shnum)
        return;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
    const Elf64_Shdr *strs = &sh[eh->e_shstrndx];
    if (strs->sh_offset > size || strs->sh_size > size - strs->sh_offset)
        return;
    const char *names = (const char *)base + strs->sh_offset;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_name >= strs->sh_size || sh[i].sh_type == SHT_NOBITS)
            continue;
        if (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset)
            continue;
        const char *n = names + sh[i].sh_name;
        size_t room = strs->sh_size - sh[i].sh_name;
        if (strnlen(n, room) == room)
            continue;
        if (!strcmp(n, ".eh_frame"))
            out->eh_frame = &sh[i];
        else if (!strcmp(n, ".eh_frame_hdr"))
            out->eh_frame_hdr = &sh[i];
        else if (!strcmp(n, ".debug_frame") && !(sh[i].sh_flags & SHF_COMPRESSED))
            out->debug_frame = &sh[i];
    }
}

static int build_from_image(const uint8_t *base, size_t size, struct unw_table *t)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return -ENOEXEC;
    int arch = arch_of_machine(eh->e_machine);
    if (!arch)
        return -ENOEXEC;
    if (eh->e_phoff > size || (size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
        return -ENOEXEC;
    struct elf_sections s;
    find_sections(eh, base, size, &s);
    struct unw_cfi_src src = {.arch = arch};
    int have = 0, rc = 0;
    if (s.eh_frame) {
        src.data = base + s.eh_frame->sh_offset;
        src.size = s.eh_frame->sh_size;
        src.vaddr = s.eh_frame->sh_addr;
        have = 1;
    } else {
        /* No section headers: the loader's view, PT_GNU_EH_FRAME. */
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
        for (unsigned i = 0; i < eh->e_phnum && !have; i++) {
            if (ph[i].p_type != PT_GNU_EH_FRAME || ph[i].p_offset > size ||
                ph[i].p_filesz > size - ph[i].p_offset)
                continue;
            const uint8_t *h = base + ph[i].p_offset;
            uint64_t ehv, off, avail;
            if (hdr_eh_frame(h, ph[i].p_filesz, ph[i].p_vaddr, &ehv) ||
                vaddr_to_offset(eh, base, size, ehv, &off, &avail))
                continue;
            src.data = base + off;
            src.size = avail; /* to the end of its segment; the terminator ends it */
            src.vaddr = ehv;
            have = 1;
        }
    }
    if (have)
        rc = unw_table_build(&src, t);
    if (rc < 0)
        return rc;
    if (s.debug_frame) {
        struct unw_cfi_src dbg = {.arch = arch,
                                  .data = base + s.debug_frame->sh_offset,
                                  .size = s.debug_frame->sh_size,
                                  .is_debug_frame = 1};
        if (!have) {
            rc = unw_table_build(&dbg, t);
            have = rc == 0;
        } else {
            rc = unw_table_merge(t, &dbg);
        }
        if (rc < 0)
            return rc;
    }
    if (!have) {
        memset(t, 0, sizeof(*t));
        t->arch = arch;
        return -ENOENT; /* no call-frame information at all */
    }
    return 0;
}

int unw_table_build_file(const char *path, struct unw_table *t)
{
    memset(t, 0, sizeof(*t));
    /* O_NONBLOCK: a FIFO planted as a module path must not block us. */
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        int e = S_ISREG(st.st_mode) ? ENOEXEC : EINVAL;
        close(fd);
        return -e;
    }
    size_t size = (size_t)st.st_size;
    long p = syscall(SYS_mmap, NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p < 0 && p > -4096)
        return (int)p;
    int rc = build_from_image((const uint8_t *)p, size, t);
    syscall(SYS_munmap, (void *)p, size);
    return rc;
}
