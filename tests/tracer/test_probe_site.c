/*
 * Unit test of tracer/probe_site.c: where a uprobe goes in an allocator
 * function's prologue (the first instruction the kernel emulates, past
 * plain instructions that leave %rsp and the arguments alone). The byte
 * sequences are the real prologues of glibc 2.36, jemalloc 5.3, tcmalloc
 * and libstdc++ on Debian 12.
 */
#include "tracer.h"

#include <stdio.h>
#include <stdlib.h>

static int failures;

static void expect(const char *what, const uint8_t *code, size_t len, int handler, uint32_t want)
{
    uint32_t got = trc_probe_site_shift(code, len, handler);
    if (got != want) {
        fprintf(stderr, "FAIL: %s: shift %u, want %u\n", what, got, want);
        failures++;
    }
}

int main(void)
{
    /* glibc malloc: push %r12 is emulated: the entry itself. */
    static const uint8_t malloc_glibc[] = {0x41, 0x54, 0x55, 0x53};
    expect("glibc malloc", malloc_glibc, sizeof(malloc_glibc), TRC_H_SIZE1, 0);
    /* glibc free: test %rdi,%rdi; je rel32 -> the je. */
    static const uint8_t free_glibc[] = {0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0, 0, 0, 0x55};
    expect("glibc free", free_glibc, sizeof(free_glibc), TRC_H_FREE, 3);
    /* glibc posix_memalign: cmpb $0,disp32(%rip); push %r12 -> the push. */
    static const uint8_t pm_glibc[] = {0x80, 0x3d, 1, 2, 0x14, 0, 0, 0x41, 0x54};
    expect("glibc posix_memalign", pm_glibc, sizeof(pm_glibc), TRC_H_MEMPTR, 7);
    /* jemalloc malloc: cmp $0x1000,%rdi; ja rel32. */
    static const uint8_t malloc_je[] = {0x48, 0x81, 0xff, 0, 0x10, 0, 0, 0x0f, 0x87, 0, 0, 0, 0};
    expect("jemalloc malloc", malloc_je, sizeof(malloc_je), TRC_H_SIZE1, 7);
    /* libstdc++ operator new: endbr64; test %rdi,%rdi; mov $1,%eax; push %rbx. */
    static const uint8_t new_stdcxx[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x85, 0xff,
                                         0xb8, 1,    0,    0,    0,    0x53};
    expect("libstdc++ new", new_stdcxx, sizeof(new_stdcxx), TRC_H_SIZE1, 12);
    /* jemalloc free: mov %rdi,%rax; mov disp32(%rip),%rdx; ... (rdx is not
     * read by free's program) then a jcc later: mov %rdi,%rax; mov ..; jmp */
    static const uint8_t free_like[] = {0x48, 0x89, 0xf8, 0x48, 0x8b, 0x15, 1, 2, 3, 4, 0xeb, 0};
    expect("mov/mov then jmp", free_like, sizeof(free_like), TRC_H_FREE, 10);
    /* ...but the same for posix_memalign, which reads %rdx: entry. */
    expect("writes an argument register", free_like, sizeof(free_like), TRC_H_MEMPTR, 0);
    /* sub $0x18,%rsp moves the return address: entry. */
    static const uint8_t sub_rsp[] = {0x48, 0x83, 0xec, 0x18, 0x55};
    expect("sub rsp", sub_rsp, sizeof(sub_rsp), TRC_H_SIZE1, 0);
    /* mov %rsi,%rax; mul %rdx (unknown to the decoder): entry. */
    static const uint8_t unknown[] = {0x48, 0x89, 0xf0, 0x48, 0xf7, 0xe2, 0x70, 0};
    expect("unknown instruction", unknown, sizeof(unknown), TRC_H_REALLOCARRAY, 0);
    /* Truncated code: entry. */
    expect("truncated", free_glibc, 2, TRC_H_FREE, 0);
    if (failures)
        return 1;
    printf("probe placement: 10 prologues placed as expected\n");
    return 0;
}
