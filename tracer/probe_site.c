/*
 * Where to put a uprobe in an allocator function so that its trap is cheap.
 *
 * On x86_64 the kernel *emulates* a few instructions under a uprobe (push
 * reg, jmp/jcc/call rel, nop) and single-steps every other one out of line,
 * which costs a second exception. Measured on our kernels (6.18 in a VM): a
 * probe on `push %r12` (glibc malloc) costs ~0.5 us, one on `test %rdi,%rdi`
 * (glibc free) ~9.5 us. So when a function starts with instructions that
 * would be single-stepped, the probe goes to the first emulated instruction
 * of its straight-line prologue instead, provided that everything skipped
 * is a plain ALU/mov instruction we can decode, leaves %rsp alone (the
 * return address is still at the top of the stack, and a uretprobe placed
 * there still hijacks the right slot) and does not write an argument
 * register the BPF program reads. Anything else keeps the function's entry.
 *
 * Pure function of the code bytes: no I/O, unit-tested in
 * tests/tracer/test_probe_site.c.
 */
#include "tracer.h"

#include <string.h>

#define MAX_SKIPPED 8

enum { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI, REG_R8, REG_R9 };

/* Argument registers each handler's BPF program reads (SysV ABI order). */
static uint32_t args_read(int handler)
{
    const uint32_t a1 = 1u << REG_RDI, a2 = 1u << REG_RSI, a3 = 1u << REG_RDX;
    switch (handler) {
    case TRC_H_SIZE2:
        return a1 | a2;
    case TRC_H_CALLOC:
    case TRC_H_REALLOC:
        return a1 | a2;
    case TRC_H_REALLOCARRAY:
        return a1 | a2 | a3;
    case TRC_H_MEMPTR:
        return a1 | a2 | a3;
    default:
        return a1;
    }
}

/* Instructions the kernel emulates under a uprobe: a cheap place for one. */
static int is_emulated(const uint8_t *c, size_t len)
{
    size_t i = 0;
    if (len > 1 && (c[0] == 0x41 || c[0] == 0x40)) /* REX.B push %r8..%r15 */
        i = 1;
    if (c[i] >= 0x50 && c[i] <= 0x57)
        return 1; /* push reg */
    if (i)
        return 0;
    if ((c[0] >= 0x70 && c[0] <= 0x7f) || c[0] == 0xeb || c[0] == 0xe9 || c[0] == 0xe8 ||
        c[0] == 0x90)
        return 1; /* jcc rel8, jmp, call rel32, nop */
    return len > 1 && c[0] == 0x0f && c[1] >= 0x80 && c[1] <= 0x8f; /* jcc rel32 */
}

/*
 * Decodes one skippable instruction: its length and the register it writes
 * (-1: none, only flags or memory). Returns 0 when it is not one we know.
 */
static size_t decode_skippable(const uint8_t *c, size_t len, int *writes)
{
    static const uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
    *writes = -1;
    if (len >= 4 && !memcmp(c, endbr64, 4))
        return 4;
    size_t i = 0;
    uint8_t rex = 0;
    if (c[0] >= 0x40 && c[0] <= 0x4f) {
        rex = c[0];
        i = 1;
    }
    if (i >= len)
        return 0;
    uint8_t op = c[i++];
    if (op >= 0xb8 && op <= 0xbf) { /* mov $imm, reg */
        *writes = (op - 0xb8) | ((rex & 1) << 3);
        size_t n = i + ((rex & 8) ? 8 : 4);
        return n <= len ? n : 0;
    }
    /* Opcodes with a ModRM byte: 0 = no register written, 1 = writes r/m,
     * 2 = writes reg; imm = bytes of immediate after the operand. */
    int kind, imm = 0;
    switch (op) {
    case 0x84:
    case 0x85:
    case 0x38:
    case 0x39:
    case 0x3a:
    case 0x3b: /* test, cmp */
        kind = 0;
        break;
    case 0x01:
    case 0x09:
    case 0x21:
    case 0x29:
    case 0x31:
    case 0x89: /* add or and sub xor mov */
        kind = 1;
        break;
    case 0x03:
    case 0x0b:
    case 0x23:
    case 0x2b:
    case 0x33:
    case 0x8b:
    case 0x8d:
    case 0x63:
        kind = 2; /* the same, reg <- r/m; lea; movslq */
        break;
    case 0x80:
    case 0x83: /* group 1, imm8: /7 is cmp */
    case 0x81: /* group 1, imm32 */
        kind = -1;
        imm = op == 0x81 ? 4 : 1;
        break;
    default:
        return 0;
    }
    if (i >= len)
        return 0;
    uint8_t modrm = c[i++];
    int mod = modrm >> 6, reg = ((modrm >> 3) & 7) | ((rex & 4) << 1),
        rm = (modrm & 7) | ((rex & 1) << 3);
    if (mod != 3) {
        if ((modrm & 7) == 4) { /* SIB */
            if (i >= len)
                return 0;
            uint8_t sib = c[i++];
            if (mod == 0 && (sib & 7) == 5)
                i += 4;
        } else if (mod == 0 && (modrm & 7) == 5) {
            i += 4; /* rip-relative */
        }
        i += mod == 1 ? 1 : mod == 2 ? 4 : 0;
    }
    i += (size_t)imm;
    if (i > len)
        return 0;
    if (kind == -1)
        kind = ((modrm >> 3) & 7) == 7 ? 0 : 1;
    if (kind == 1 && mod == 3)
        *writes = rm;
    else if (kind == 2)
        *writes = reg;
    return i;
}

uint32_t trc_probe_site_shift(const uint8_t *code, size_t len, int handler)
{
    uint32_t args = args_read(handler);
    size_t at = 0;
    for (int n = 0; n <= MAX_SKIPPED && at < len; n++) {
        if (is_emulated(code + at, len - at))
            return (uint32_t)at;
        int writes;
        size_t l = decode_skippable(code + at, len - at, &writes);
        if (!l)
            return 0;
        if (writes == REG_RSP || (writes >= 0 && writes < 16 && (args & (1u << writes))))
            return 0;
        at += l;
    }
    return 0;
}
