/*
 * The one place that knows which machine the code runs on. Everything that
 * differs between x86-64 and aarch64 -- where a signal context keeps the
 * program counter, stack pointer, frame pointer and the other registers,
 * whether a fault was a write, the red zone below the stack pointer, how a
 * return address is recognised -- is a static inline helper in the
 * architecture's own header (arch_x86_64.h, arch_aarch64.h), with the same
 * names in each; the rest of the code includes only this file. Syscall
 * numbers come from each architecture's <sys/syscall.h> / <asm/unistd.h>,
 * and the page size from getauxval (util_page_size): neither is written
 * down anywhere. Every helper is async-signal-safe and never allocates:
 * guard mode's fault handler and the reachability scan call them from
 * signal handlers inside the audited process. docs/architectures.md says
 * what was verified on which architecture.
 */
#ifndef LEAKAUDIT_ARCH_H
#define LEAKAUDIT_ARCH_H

#if defined(__x86_64__)
#include "arch_x86_64.h"
#elif defined(__aarch64__)
#include "arch_aarch64.h"
#else
#error "leakaudit: add this architecture's common/arch_<name>.h (see common/arch.h)"
#endif

#endif
