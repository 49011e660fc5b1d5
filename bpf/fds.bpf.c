// SPDX-License-Identifier: GPL-2.0
/*
 * fd and mmap tracking for `leakaudit attach`: the raw syscall tracepoints
 * (sys_enter / sys_exit, filtered to the target's tgid in the kernel; no
 * tracefs needed), with a tp_btf twin used when raw_tp cannot be attached.
 * sys_enter stashes the arguments and the call site per thread; sys_exit
 * records the fds/regions a successful call created in `fds` / `mmaps`.
 * close/close_range/munmap remove them at sys_enter (they cannot fail in a
 * way that keeps the fd).
 */
#include "site.bpf.h"

#include <asm/unistd.h>

char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_MAX_FDS);
    __type(key, __s32);
    __type(value, struct trc_fd);
} fds SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_MAX_MMAPS);
    __type(key, __u64);
    __type(value, struct trc_mmap);
} mmaps SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRC_MAX_THREADS);
    __type(key, __u32);
    __type(value, struct trc_sys_pending);
} sys_pending SEC(".maps");

/* Text of the C library and the loader: a return address in there is a
 * wrapper calling its own helper, keep climbing (set by the tracer). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TRC_MAX_SKIP_RANGES);
    __type(key, __u32);
    __type(value, struct trc_range);
} skip_ranges SEC(".maps");

/* Values from the uapi headers (not in vmlinux BTF). */
#define F_DUPFD                      0
#define F_DUPFD_CLOEXEC              1030
#define SOL_SOCKET                   1
#define SCM_RIGHTS                   1
#define CLOSE_RANGE_CLOEXEC          4
#define TIOCGPTPEER                  0x5441
#define DMA_HEAP_IOCTL_ALLOC         0xc0184800u /* fd at offset 8 */
#define DRM_IOCTL_PRIME_HANDLE_TO_FD 0xc00c642du /* fd at offset 8 */
#define ION_IOC_ALLOC                0xc0184900u /* fd at offset 16 (ION >= 4.12) */
#define ION_IOC_MAP                  0xc0084902u /* fd at offset 4 (legacy ION) */
#define ION_IOC_SHARE                0xc0084904u /* fd at offset 4 (legacy ION) */
#define PAGE_SIZE_BYTES              4096
/* How far below the wrapper's ip the function it called may start. */
#define WRAPPER_MAX_BYTES 0x4000

/* Origins (enum snap_fd_origin in common/snapshot.h). */
#define FDO_OPEN        1
#define FDO_DUP         2
#define FDO_FCNTL_DUPFD 3
#define FDO_SOCKET      4
#define FDO_ACCEPT      5
#define FDO_PIPE        6
#define FDO_EVENTFD     7
#define FDO_MEMFD       8
#define FDO_TIMERFD     9
#define FDO_SIGNALFD    10
#define FDO_EPOLL       11
#define FDO_INOTIFY     12
#define FDO_IOCTL       13
#define FDO_RECVMSG     14
#define FDO_SOCKETPAIR  19
#define FDO_OTHER       20

/* Reads a GOT slot and tells whether the function it holds contains ip. */
static __always_inline int got_holds(__u64 slot, __u64 ip)
{
    __u64 fn = 0;
    if (bpf_probe_read_user(&fn, sizeof(fn), (void *)slot))
        return 0;
    return fn <= ip && ip - fn < WRAPPER_MAX_BYTES;
}

/*
 * Is w the return address of a call to the function containing ip (the
 * syscall wrapper)? 2: yes (a direct call, a call through a PLT stub or
 * `call *GOT(%rip)` that lands just below ip); 1: w follows some call
 * instruction we cannot resolve (a tail call, an indirect call); 0: no.
 */
static __always_inline int returns_from(__u64 w, __u64 ip)
{
#if defined(__TARGET_ARCH_x86)
    unsigned char c[8];
    if (w < PAGE_SIZE_BYTES || bpf_probe_read_user(c, sizeof(c), (void *)(w - 8)))
        return 0;
    if (c[3] == 0xe8) { /* call rel32 */
        __s32 rel = (__s32)(c[4] | c[5] << 8 | c[6] << 16 | (__u32)c[7] << 24);
        __u64 target = w + (__s64)rel;
        if (target <= ip && ip - target < WRAPPER_MAX_BYTES)
            return 2;
        /* a PLT stub: [endbr64] [bnd] jmp *disp32(%rip) */
        unsigned char s[12];
        if (bpf_probe_read_user(s, sizeof(s), (void *)target))
            return 1;
        int at = s[0] == 0xf3 ? 4 : 0;
        if (at == 4 && s[4] == 0xf2)
            at = 5;
        if (at > 5 || s[at & 7] != 0xff || s[(at + 1) & 7] != 0x25)
            return 1;
        __s32 disp = 0;
        bpf_probe_read_user(&disp, sizeof(disp), (void *)(target + at + 2));
        return got_holds(target + at + 6 + (__s64)disp, ip) ? 2 : 1;
    }
    if (c[2] == 0xff && c[3] == 0x15) { /* call *disp32(%rip) */
        __s32 disp = (__s32)(c[4] | c[5] << 8 | c[6] << 16 | (__u32)c[7] << 24);
        return got_holds(w + (__s64)disp, ip) ? 2 : 1;
    }
    if (c[6] == 0xff && (c[7] & 0xf8) == 0xd0) /* call *%reg */
        return 1;
    return 0;
#elif defined(__TARGET_ARCH_arm64)
    __u32 insn;
    if (w < PAGE_SIZE_BYTES || bpf_probe_read_user(&insn, sizeof(insn), (void *)(w - 4)))
        return 0;
    if ((insn & 0xfffffc1fu) == 0xd63f0000u) /* blr xN */
        return 1;
    if ((insn & 0xfc000000u) != 0x94000000u) /* bl imm26 */
        return 0;
    __s64 imm26 = (__s64)((__s32)(insn << 6) >> 6);
    __u64 target = w - 4 + (__u64)(imm26 * 4);
    if (target <= ip && ip - target < WRAPPER_MAX_BYTES)
        return 2;
    /* a PLT stub: adrp x16, page; ldr x17, [x16, #off] */
    __u32 s[2];
    if (bpf_probe_read_user(s, sizeof(s), (void *)target))
        return 1;
    if ((s[0] & 0x9f00001fu) != 0x90000010u || (s[1] & 0xffc003ffu) != 0xf9400211u)
        return 1;
    __s64 page = (__s64)(((__u64)((s[0] >> 5) & 0x7ffff) << 2 | ((s[0] >> 29) & 3)) << 43) >> 31;
    __u64 slot = (target & ~0xfffull) + (__u64)page + (((s[1] >> 10) & 0xfff) << 3);
    return got_holds(slot, ip) ? 2 : 1;
#else
    return 0;
#endif
}

static __always_inline int in_skip_range(__u64 a)
{
    for (__u32 i = 0; i < TRC_MAX_SKIP_RANGES; i++) {
        struct trc_range *r = bpf_map_lookup_elem(&skip_ranges, &i);
        if (r && a >= r->start && a < r->end)
            return 1;
    }
    return 0;
}

/*
 * The wrapper's caller: the first word on the user stack that returns from
 * a call to the wrapper. The wrapper's own frame (saved registers, locals)
 * is below it; glibc's wrappers have no frame pointer, so the FP walk alone
 * would skip this caller. When that return address is itself inside libc
 * (fcntl -> an internal helper), climb on to whoever called that. When no
 * call can be matched to the wrapper (the caller tail-called it), the first
 * word that follows any call instruction is the best guess.
 */
struct caller_scan {
    __u64 words[TRC_CALLER_SCAN_WORDS];
};

/* The words syscall_caller() scans: in map memory, not on the BPF stack,
 * which the stack walk that follows needs (512 bytes in all). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct caller_scan);
} caller_scan SEC(".maps");

static __always_inline __u64 syscall_caller(__u64 sp, __u64 ip)
{
    __u32 zero = 0;
    struct caller_scan *scan = bpf_map_lookup_elem(&caller_scan, &zero);
    if (!scan)
        return 0;
    __u64 *words = scan->words;
    if (bpf_probe_read_user(words, sizeof(scan->words), (void *)sp)) {
        count(TRC_C_CALLER_UNREADABLE, 1);
        return 0;
    }
    __u64 found = 0, guess = 0, late_guess = 0;
    for (int i = 0; i < TRC_CALLER_SCAN_WORDS; i++) {
        int r = returns_from(words[i], ip);
        /* Past libc's own frames, an unresolved call is the best guess if
         * no resolved one follows (the caller tail-called the wrapper). */
        if (r == 1 && found && !late_guess && !in_skip_range(words[i]))
            late_guess = words[i];
        if (r == 1 && !guess && !found)
            guess = words[i];
        if (r != 2)
            continue;
        found = words[i];
        if (!in_skip_range(found))
            return found;
        ip = found;
    }
    if (found)
        return late_guess ? late_guess : found;
    if (!guess)
        count(TRC_C_CALLER_UNREADABLE, 1);
    return guess;
}

/* Syscalls whose result we record at sys_exit. */
static __always_inline int wants_exit(long nr)
{
    switch (nr) {
#ifdef __NR_open
    case __NR_open:
    case __NR_creat:
    case __NR_dup2:
    case __NR_pipe:
    case __NR_eventfd:
    case __NR_signalfd:
    case __NR_epoll_create:
    case __NR_inotify_init:
#endif
    case __NR_openat:
    case __NR_openat2:
    case __NR_open_by_handle_at:
    case __NR_dup:
    case __NR_dup3:
    case __NR_fcntl:
    case __NR_socket:
    case __NR_socketpair:
    case __NR_accept:
    case __NR_accept4:
    case __NR_pipe2:
    case __NR_eventfd2:
    case __NR_memfd_create:
    case __NR_timerfd_create:
    case __NR_signalfd4:
    case __NR_epoll_create1:
    case __NR_inotify_init1:
    case __NR_pidfd_open:
    case __NR_pidfd_getfd:
    case __NR_ioctl:
    case __NR_recvmsg:
    case __NR_mmap:
    case __NR_mremap:
        return 1;
    }
    return 0;
}

struct range_ctx {
    __u64 lo, hi;
};

static long drop_fd_in_range(struct bpf_map *map, const __s32 *fd, struct trc_fd *v,
                             struct range_ctx *r)
{
    if ((__u64)*fd >= r->lo && (__u64)*fd <= r->hi)
        bpf_map_delete_elem(map, fd);
    return 0;
}

static long drop_mmap_in_range(struct bpf_map *map, const __u64 *addr, struct trc_mmap *v,
                               struct range_ctx *r)
{
    __u64 end = *addr + v->len;
    if (*addr >= r->lo && end <= r->hi)
        bpf_map_delete_elem(map, addr);
    else if (*addr < r->hi && end > r->lo)
        count(TRC_C_MUNMAP_PARTIAL, 1);
    return 0;
}

static __always_inline void on_munmap(__u64 addr, __u64 len)
{
    len = (len + PAGE_SIZE_BYTES - 1) & ~(__u64)(PAGE_SIZE_BYTES - 1);
    struct trc_mmap *m = bpf_map_lookup_elem(&mmaps, &addr);
    if (m && m->len <= len) {
        bpf_map_delete_elem(&mmaps, &addr);
        if (m->len == len)
            return;
    }
    struct range_ctx r = {.lo = addr, .hi = addr + len};
    bpf_for_each_map_elem(&mmaps, drop_mmap_in_range, &r, 0);
}

static __always_inline int sys_enter(void *ctx, struct pt_regs *regs, long nr)
{
    __u32 tid = target_tid();
    if (!tid)
        return 0;
    if (nr == __NR_close) {
        __s32 fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
        count(TRC_C_SYSCALLS, 1);
        bpf_map_delete_elem(&fds, &fd);
        return 0;
    }
    if (nr == __NR_close_range) {
        __u64 flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
        count(TRC_C_SYSCALLS, 1);
        if (flags & CLOSE_RANGE_CLOEXEC)
            return 0;
        struct range_ctx r = {.lo = (__u32)PT_REGS_PARM1_CORE_SYSCALL(regs),
                              .hi = (__u32)PT_REGS_PARM2_CORE_SYSCALL(regs)};
        bpf_for_each_map_elem(&fds, drop_fd_in_range, &r, 0);
        return 0;
    }
    if (nr == __NR_munmap) {
        count(TRC_C_SYSCALLS, 1);
        on_munmap(PT_REGS_PARM1_CORE_SYSCALL(regs), PT_REGS_PARM2_CORE_SYSCALL(regs));
        return 0;
    }
    if (nr == __NR_recvmmsg)
        count(TRC_C_RECVMMSG, 1);
    if (!wants_exit(nr))
        return 0;
    if (nr == __NR_fcntl) {
        __u64 cmd = PT_REGS_PARM2_CORE_SYSCALL(regs);
        if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
            return 0;
    }
    if (nr == __NR_ioctl) {
        __u32 req = (__u32)PT_REGS_PARM2_CORE_SYSCALL(regs);
        if (req != TIOCGPTPEER && req != DMA_HEAP_IOCTL_ALLOC &&
            req != DRM_IOCTL_PRIME_HANDLE_TO_FD && req != ION_IOC_ALLOC && req != ION_IOC_MAP &&
            req != ION_IOC_SHARE)
            return 0;
    }
    count(TRC_C_SYSCALLS, 1);
    struct trc_sys_pending p = {.nr = nr, .ts = bpf_ktime_get_ns()};
    p.args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
    p.args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
    p.args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
    p.args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
    p.args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
    p.site.caller = syscall_caller(PT_REGS_SP_CORE(regs), PT_REGS_IP_CORE(regs));
    /* the user context: the task's registers at the syscall */
    p.site.stack_id =
        walk_stack_id(PT_REGS_IP_CORE(regs), PT_REGS_FP_CORE(regs), PT_REGS_SP_CORE(regs));
    if (bpf_map_update_elem(&sys_pending, &tid, &p, BPF_ANY))
        count(TRC_C_PENDING_FULL, 1);
    return 0;
}

static __always_inline void add_fd(__s32 fd, const struct trc_sys_pending *p, __u32 origin,
                                   __s32 source)
{
    if (fd < 0)
        return;
    struct trc_fd v = {.created_ns = p->ts, .site = p->site, .origin = origin, .source_fd = source};
    if (bpf_map_update_elem(&fds, &fd, &v, BPF_ANY))
        count(TRC_C_FDS_FULL, 1);
}

static __always_inline void add_fd_pair(__u64 uptr, const struct trc_sys_pending *p, __u32 origin)
{
    __s32 pair[2];
    if (bpf_probe_read_user(pair, sizeof(pair), (void *)uptr))
        return;
    add_fd(pair[0], p, origin, -1);
    add_fd(pair[1], p, origin, -1);
}

static __always_inline void add_fd_at(__u64 uptr, const struct trc_sys_pending *p)
{
    __s32 fd;
    if (bpf_probe_read_user(&fd, sizeof(fd), (void *)uptr) == 0)
        add_fd(fd, p, FDO_IOCTL, (__s32)p->args[0]);
}

/* SCM_RIGHTS fds in the first control message of a received msghdr. */
static __always_inline void add_scm_rights(const struct trc_sys_pending *p)
{
    struct {
        __u64 control;
        __u64 controllen;
    } mc;
    if (bpf_probe_read_user(&mc, sizeof(mc), (void *)(p->args[1] + 32)) || !mc.control ||
        mc.controllen < 16)
        return;
    struct {
        __u64 len;
        __s32 level, type;
    } ch;
    if (bpf_probe_read_user(&ch, sizeof(ch), (void *)mc.control) || ch.level != SOL_SOCKET ||
        ch.type != SCM_RIGHTS || ch.len < 16)
        return;
    __u64 n = (ch.len - 16) / sizeof(__s32);
    if (n > TRC_MAX_SCM_FDS || ch.len + 8 <= mc.controllen) /* more than we parse */
        count(TRC_C_SCM_TRUNCATED, 1);
    __s32 got[TRC_MAX_SCM_FDS] = {};
    if (n > TRC_MAX_SCM_FDS)
        n = TRC_MAX_SCM_FDS;
    if (bpf_probe_read_user(got, sizeof(got), (void *)(mc.control + 16)))
        return;
    for (int i = 0; i < TRC_MAX_SCM_FDS; i++)
        if (i < n)
            add_fd(got[i], p, FDO_RECVMSG, (__s32)p->args[0]);
}

static __always_inline void add_mmap(__u64 addr, __u64 len, const struct trc_sys_pending *p)
{
    struct trc_mmap m = {.len = (len + PAGE_SIZE_BYTES - 1) & ~(__u64)(PAGE_SIZE_BYTES - 1),
                         .created_ns = p->ts,
                         .site = p->site,
                         .prot = (__s32)p->args[2],
                         .flags = (__s32)p->args[3],
                         .fd = (__s32)p->args[4]};
    if (bpf_map_update_elem(&mmaps, &addr, &m, BPF_ANY))
        count(TRC_C_MMAPS_FULL, 1);
}

/* The number of the system call a thread is returning from. */
static __always_inline long exiting_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
    return (long)BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
    return (long)BPF_CORE_READ(regs, syscallno);
#else
#error "exiting_nr: unsupported architecture"
#endif
}

static __always_inline int sys_exit(struct pt_regs *regs, long ret)
{
    __u32 tid = target_tid();
    if (!tid)
        return 0;
    struct trc_sys_pending *pp = bpf_map_lookup_elem(&sys_pending, &tid);
    if (!pp)
        return 0;
    struct trc_sys_pending p = *pp;
    bpf_map_delete_elem(&sys_pending, &tid);
    /* A call whose entry was seen but whose exit was not (the exit program
     * was attached a moment after the entry one, or the thread died in
     * exit_group and its tid was reused) must not take the result of the
     * next call: a dup() would be recorded as returning nanosleep's 0. */
    if (exiting_nr(regs) != p.nr)
        return 0;
    if (ret < 0 && !(p.nr == __NR_mmap || p.nr == __NR_mremap))
        return 0;
    __s32 fd = (__s32)ret;
    switch (p.nr) {
#ifdef __NR_open
    case __NR_open:
    case __NR_creat:
#endif
    case __NR_openat:
    case __NR_openat2:
    case __NR_open_by_handle_at:
        add_fd(fd, &p, FDO_OPEN, -1);
        break;
#ifdef __NR_open
    case __NR_dup2:
#endif
    case __NR_dup:
    case __NR_dup3:
        add_fd(fd, &p, FDO_DUP, (__s32)p.args[0]);
        break;
    case __NR_fcntl:
        add_fd(fd, &p, FDO_FCNTL_DUPFD, (__s32)p.args[0]);
        break;
    case __NR_socket:
        add_fd(fd, &p, FDO_SOCKET, -1);
        break;
    case __NR_accept:
    case __NR_accept4:
        add_fd(fd, &p, FDO_ACCEPT, (__s32)p.args[0]);
        break;
    case __NR_socketpair:
        add_fd_pair(p.args[3], &p, FDO_SOCKETPAIR);
        break;
#ifdef __NR_open
    case __NR_pipe:
#endif
    case __NR_pipe2:
        add_fd_pair(p.args[0], &p, FDO_PIPE);
        break;
#ifdef __NR_open
    case __NR_eventfd:
#endif
    case __NR_eventfd2:
        add_fd(fd, &p, FDO_EVENTFD, -1);
        break;
    case __NR_memfd_create:
        add_fd(fd, &p, FDO_MEMFD, -1);
        break;
    case __NR_timerfd_create:
        add_fd(fd, &p, FDO_TIMERFD, -1);
        break;
#ifdef __NR_open
    case __NR_signalfd:
#endif
    case __NR_signalfd4:
        if ((__s32)p.args[0] != fd) /* an existing signalfd is only updated */
            add_fd(fd, &p, FDO_SIGNALFD, -1);
        break;
#ifdef __NR_open
    case __NR_epoll_create:
#endif
    case __NR_epoll_create1:
        add_fd(fd, &p, FDO_EPOLL, -1);
        break;
#ifdef __NR_open
    case __NR_inotify_init:
#endif
    case __NR_inotify_init1:
        add_fd(fd, &p, FDO_INOTIFY, -1);
        break;
    case __NR_pidfd_open:
    case __NR_pidfd_getfd:
        add_fd(fd, &p, FDO_OTHER, -1);
        break;
    case __NR_ioctl:
        switch ((__u32)p.args[1]) {
        case TIOCGPTPEER:
            add_fd(fd, &p, FDO_IOCTL, (__s32)p.args[0]);
            break;
        case DMA_HEAP_IOCTL_ALLOC:
        case DRM_IOCTL_PRIME_HANDLE_TO_FD:
            add_fd_at(p.args[2] + 8, &p);
            break;
        case ION_IOC_ALLOC:
            add_fd_at(p.args[2] + 16, &p);
            break;
        default: /* ION_IOC_MAP, ION_IOC_SHARE */
            add_fd_at(p.args[2] + 4, &p);
        }
        break;
    case __NR_recvmsg:
        add_scm_rights(&p);
        break;
    case __NR_mmap:
        if (ret < 0 && ret > -PAGE_SIZE_BYTES) /* an error, not an address */
            break;
        add_mmap((__u64)ret, p.args[1], &p);
        break;
    case __NR_mremap: {
        if (ret < 0 && ret > -PAGE_SIZE_BYTES)
            break;
        __u64 old = p.args[0];
        struct trc_mmap *m = bpf_map_lookup_elem(&mmaps, &old);
        if (!m)
            break;
        struct trc_mmap moved = *m;
        moved.len = (p.args[2] + PAGE_SIZE_BYTES - 1) & ~(__u64)(PAGE_SIZE_BYTES - 1);
        bpf_map_delete_elem(&mmaps, &old);
        __u64 addr = (__u64)ret;
        if (bpf_map_update_elem(&mmaps, &addr, &moved, BPF_ANY))
            count(TRC_C_MMAPS_FULL, 1);
        break;
    }
    }
    return 0;
}

/* Exits before entries: the skeleton attaches in this order, so no entry
 * is recorded whose exit program is not there yet. */
SEC("raw_tp/sys_exit")
int BPF_PROG(la_sys_exit, struct pt_regs *regs, long ret)
{
    return sys_exit(regs, ret);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(la_sys_enter, struct pt_regs *regs, long id)
{
    return sys_enter(ctx, regs, id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(la_sys_exit_btf, struct pt_regs *regs, long ret)
{
    return sys_exit(regs, ret);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(la_sys_enter_btf, struct pt_regs *regs, long id)
{
    return sys_enter(ctx, regs, id);
}
