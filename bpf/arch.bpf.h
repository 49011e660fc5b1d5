/*
 * What the BPF programs need to know about the traced machine, one
 * definition per architecture (the BPF side of common/arch.h). At a
 * function's entry its caller's return address is on the stack at sp on
 * x86-64 (the call pushed it) and in the link register x30 on aarch64
 * (sp untouched); at its return sp is back above that pushed address on
 * x86-64 and back where it was on aarch64. Syscall numbers come from the
 * target's <asm/unistd.h> (-I/usr/include/$(TRIPLET)), registers from
 * bpf_tracing.h's PT_REGS_* for __TARGET_ARCH_x86 / __TARGET_ARCH_arm64.
 */
#ifndef LEAKAUDIT_ARCH_BPF_H
#define LEAKAUDIT_ARCH_BPF_H

#if defined(__TARGET_ARCH_x86)
/* The return address at the top of the stack; 0 or -EFAULT. */
static __always_inline long arch_entry_caller(struct pt_regs *ctx, __u64 sp, __u64 *caller)
{
    return bpf_probe_read_user(caller, sizeof(*caller), (void *)sp);
}
#define ARCH_SP_AT_RETURN(entry_sp) ((entry_sp) + sizeof(__u64))
#elif defined(__TARGET_ARCH_arm64)
/* The link register: a uprobe runs before a uretprobe replaces it. */
static __always_inline long arch_entry_caller(struct pt_regs *ctx, __u64 sp, __u64 *caller)
{
    *caller = PT_REGS_RET(ctx);
    return 0;
}
#define ARCH_SP_AT_RETURN(entry_sp) (entry_sp)
#else
#error "bpf/arch.bpf.h: add this architecture's entry caller and return stack pointer"
#endif

#endif
