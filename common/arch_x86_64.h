/*
 * x86-64 (System V ABI) behind the helpers of common/arch.h: registers from
 * a signal context, the page-fault error code's write bit, the 128-byte red
 * zone, and the call instructions a return address follows. Include
 * common/arch.h, not this file.
 */
#ifndef LEAKAUDIT_ARCH_X86_64_H
#define LEAKAUDIT_ARCH_X86_64_H

#include <stdint.h>
#include <sys/user.h>
#include <ucontext.h>

#define ARCH_NAME     "x86_64"
#define ARCH_RED_ZONE 128   /* the ABI lets leaf code use 128 bytes below sp */
#define ARCH_NREGS    NGREG /* general registers a signal context saves */
#define ARCH_PF_WRITE 2     /* page-fault error code bit: the access was a write */
/* The longest call instruction a return address can follow (call *disp32(%rip)). */
#define ARCH_MAX_CALL_BYTES 6

static inline uint64_t arch_ctx_pc(const ucontext_t *uc)
{
    return (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
}

static inline uint64_t arch_ctx_sp(const ucontext_t *uc)
{
    return (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
}

static inline uint64_t arch_ctx_fp(const ucontext_t *uc)
{
    return (uint64_t)uc->uc_mcontext.gregs[REG_RBP];
}

/* The link register: x86-64 has none (0: unknown). */
static inline uint64_t arch_ctx_lr(const ucontext_t *uc)
{
    (void)uc;
    return 0;
}

/* Copies the ARCH_NREGS general registers (stack pointer included). */
static inline void arch_ctx_regs(const ucontext_t *uc, uint64_t regs[ARCH_NREGS])
{
    for (int r = 0; r < ARCH_NREGS; r++)
        regs[r] = (uint64_t)uc->uc_mcontext.gregs[r];
}

/* Was the fault that delivered uc (SIGSEGV) a write? */
static inline int arch_fault_is_write(const ucontext_t *uc)
{
    return (uc->uc_mcontext.gregs[REG_ERR] & ARCH_PF_WRITE) != 0;
}

/* In a function that has not built a frame (a leaf such as memset), where
 * its caller's return address is: on the stack, at sp. */
static inline uint64_t arch_ctx_leaf_return(const ucontext_t *uc)
{
    return *(const uint64_t *)(uintptr_t)arch_ctx_sp(uc);
}

/* Does the code just before ret (readable, ARCH_MAX_CALL_BYTES of it) end
 * with a call instruction: call rel32, call *%reg, call *disp8(%reg),
 * call *disp32(%rip)? */
static inline int arch_follows_call(uint64_t ret)
{
    const uint8_t *c = (const uint8_t *)(uintptr_t)ret;
    return c[-5] == 0xe8 || c[-2] == 0xff || c[-3] == 0xff || c[-6] == 0xff;
}

/* glibc's thread control block (tcbhead_t: tcb, dtv, self) recognised by
 * its shape at address a (words w[0..2]): tcb and self point to itself.
 * Returns the start of its DTV block (the TCB points one dtv_t, 16 bytes,
 * past it), or 0. */
#define ARCH_TCB_WORDS     3
#define ARCH_DTV_CHECK_LEN 0 /* the shape alone is proof */
static inline uint64_t arch_tcb_dtv(const uint64_t *w, uint64_t a)
{
    if (w[0] != a || w[2] != a || w[1] < 16)
        return 0;
    return w[1] - 16;
}

/* The stack pointer in the registers ptrace(PTRACE_GETREGSET, NT_PRSTATUS) reads. */
static inline uint64_t arch_user_regs_sp(const struct user_regs_struct *r)
{
    return (uint64_t)r->rsp;
}

#endif
