/*
 * aarch64 (AAPCS64, Linux) behind the helpers of common/arch.h: registers
 * x0-x30 and sp from a signal context, the frame pointer in x29 and the
 * return address of a leaf in x30 (the link register), no red zone, BL /
 * BLR before a return address. Whether a fault was a write comes from the
 * kernel's esr_context record (ESR_EL1's WnR bit); an emulator that gives
 * none (qemu-user) leaves us the faulting instruction to decode. Include
 * common/arch.h, not this file.
 */
#ifndef LEAKAUDIT_ARCH_AARCH64_H
#define LEAKAUDIT_ARCH_AARCH64_H

#include <stdint.h>
#include <sys/user.h>
#include <ucontext.h>

#define ARCH_NAME           "aarch64"
#define ARCH_RED_ZONE       0  /* AAPCS64 on Linux: nothing lives below sp */
#define ARCH_NREGS          32 /* x0-x30, then sp */
#define ARCH_MAX_CALL_BYTES 4

/* The records after the registers in a signal frame (<asm/sigcontext.h>). */
#define ARCH_ESR_MAGIC      0x45535201u
#define ARCH_ESR_EC_SHIFT   26
#define ARCH_ESR_EC_DABT_LO 0x24u     /* data abort from EL0 */
#define ARCH_ESR_WNR        (1u << 6) /* write, not read */
#define ARCH_ESR_CM         (1u << 8) /* cache maintenance: reported as a write */

static inline uint64_t arch_ctx_pc(const ucontext_t *uc)
{
    return uc->uc_mcontext.pc;
}

static inline uint64_t arch_ctx_sp(const ucontext_t *uc)
{
    return uc->uc_mcontext.sp;
}

static inline uint64_t arch_ctx_fp(const ucontext_t *uc)
{
    return uc->uc_mcontext.regs[29];
}

/* The link register x30: a leaf's return address. */
static inline uint64_t arch_ctx_lr(const ucontext_t *uc)
{
    return uc->uc_mcontext.regs[30];
}

/* Copies x0-x30 and sp. */
static inline void arch_ctx_regs(const ucontext_t *uc, uint64_t regs[ARCH_NREGS])
{
    for (int r = 0; r < 31; r++)
        regs[r] = uc->uc_mcontext.regs[r];
    regs[31] = uc->uc_mcontext.sp;
}

/* Does insn write memory? Loads and stores are encoded op0 = x1x0 (bits
 * 28..25); bits 29..27 pick the class. Literal loads (011) only read. In
 * the register classes (111) a general-register access stores when opc
 * (bits 23..22) is 00, a SIMD&FP one when bit 22 is clear, and the atomics
 * (LDADD, SWP, CAS: bit 21 set, bits 11..10 clear) write. Pairs, exclusives
 * and SIMD structures have L in bit 22. DC ZVA, memset's way to clear whole
 * cache lines, is a system instruction that writes. */
static inline int arch_insn_writes(uint32_t insn)
{
    if ((insn & 0xffffffe0u) == 0xd50b7420u) /* DC ZVA, Xt */
        return 1;
    if ((insn & 0x0a000000u) != 0x08000000u)
        return 0;
    switch ((insn >> 27) & 7) {
    case 3: /* load register (literal) */
        return 0;
    case 7:
        if ((insn & 0x3f200c00u) == 0x38200000u) /* atomic memory operation */
            return 1;
        if (insn & (1u << 26)) /* SIMD&FP */
            return (insn & (1u << 22)) == 0;
        return ((insn >> 22) & 3) == 0;
    default:
        return (insn & (1u << 22)) == 0;
    }
}

/* Was the fault that delivered uc (SIGSEGV) a write? */
static inline int arch_fault_is_write(const ucontext_t *uc)
{
    const uint8_t *rec = (const uint8_t *)uc->uc_mcontext.__reserved;
    const uint8_t *end = rec + sizeof(uc->uc_mcontext.__reserved);
    while (rec + 8 <= end) {
        uint32_t magic = ((const uint32_t *)rec)[0], size = ((const uint32_t *)rec)[1];
        if (!magic || size < 8 || size > (uint64_t)(end - rec))
            break;
        if (magic == ARCH_ESR_MAGIC && size >= 16) {
            uint64_t esr = *(const uint64_t *)(rec + 8);
            if ((esr >> ARCH_ESR_EC_SHIFT) == ARCH_ESR_EC_DABT_LO)
                return (esr & (ARCH_ESR_WNR | ARCH_ESR_CM)) != 0;
            break;
        }
        rec += size;
    }
    return arch_insn_writes(*(const uint32_t *)(uintptr_t)uc->uc_mcontext.pc);
}

/* In a function that has not saved its link register (a leaf such as
 * memset), its caller's return address is still in x30. */
static inline uint64_t arch_ctx_leaf_return(const ucontext_t *uc)
{
    return arch_ctx_lr(uc);
}

/* Does the instruction before ret (readable) call: BL imm26 or BLR Xn
 * (BLRAA and friends with pointer authentication included)? */
static inline int arch_follows_call(uint64_t ret)
{
    uint32_t insn = ((const uint32_t *)(uintptr_t)ret)[-1];
    return (insn & 0xfc000000u) == 0x94000000u || (insn & 0xfffffc1fu) == 0xd63f0000u ||
           (insn & 0xfefff800u) == 0xd63f0800u;
}

/* glibc's thread control block (tcbhead_t: dtv, private) at the thread
 * pointer has no shape of its own: any word may be its dtv pointer, which
 * points one dtv_t (16 bytes) past the start of a calloc'ed block. The
 * caller confirms it by the block (ARCH_DTV_CHECK_LEN: its first word, the
 * DTV's length n, and its size, (n + 2) dtv_t). Returns the candidate
 * block start, or 0. */
#define ARCH_TCB_WORDS     1
#define ARCH_DTV_CHECK_LEN 1
static inline uint64_t arch_tcb_dtv(const uint64_t *w, uint64_t a)
{
    (void)a;
    return w[0] >= 16 && (w[0] & 15) == 0 ? w[0] - 16 : 0;
}

/* The stack pointer in the registers ptrace(PTRACE_GETREGSET, NT_PRSTATUS) reads. */
static inline uint64_t arch_user_regs_sp(const struct user_regs_struct *r)
{
    return (uint64_t)r->sp;
}

#endif
