/*
 * Loading a shared library into a running process without gdb (inject.h).
 *
 * How the call is made (x86-64): one thread is seized and interrupted; if
 * it is not at a safe point (running inside libc, the loader, libstdc++ or
 * an allocator, where it may hold a lock dlopen needs; or waiting in a
 * futex) it is let go and tried again a little later, then the next
 * thread. At a safe point its registers are saved (general purpose with
 * orig_rax, and the whole XSAVE area), the library path is written below
 * its stack pointer (past the red zone), and the thread is pointed at the
 * target's dlopen with a return address of 0, so that dlopen's return
 * faults at address 0 where the tracer catches it. orig_rax = -1 while it
 * runs: a syscall the thread was blocked in is not restarted into our
 * call; once the saved registers are back, the kernel restarts it exactly
 * as after any signal. Signals that arrive meanwhile are delivered as
 * usual. dlopen returning NULL is followed by a call of dlerror, whose
 * text is read back for the error message.
 */
#include "inject.h"
#include "interrupted.h"
#include "procfs.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNTIME_RANGES 64
#define XSTATE_MAX         (64 * 1024)
#define SAFE_TRIES         400 /* stops per thread before trying the next one */
#define CALL_TIMEOUT_MS    20000
#define LOADER_WAIT_MS     10000 /* for the dynamic linker to finish loading */
/* The answer of a try made while the process ran exec (its maps were the
 * old program's, or the new one has not mapped its C library yet):
 * nothing was called; try again. */
#define INJECT_EXECED (-2)

static int errf(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- the target's modules ---- */

struct range {
    uint64_t lo, hi;
};

struct target_maps {
    char libc[4096];
    uint64_t libc_start; /* start of libc's mapping at file offset 0 */
    struct range runtime[MAX_RUNTIME_RANGES];
    int n_runtime;
    struct range loader[4]; /* the dynamic linker's code */
    int n_loader;
    char loader_path[4096];
    uint64_t loader_start; /* start of its mapping at file offset 0 */
    uint64_t r_debug_at;   /* its _r_debug (0: not found, not checked) */
    int lib_mapped;        /* the library to inject is already there */
    uint64_t image;        /* procfs_image_id() before the maps were read */
};

/* Libraries whose code may hold a lock dlopen needs (or be dlopen). */
static int is_runtime(const char *base)
{
    static const char *const names[] = {"libc.so",     "libc-",       "ld-linux",    "libstdc++.so",
                                        "libgcc_s.so", "libpthread",  "libjemalloc", "libtcmalloc",
                                        "libmimalloc", "libleakaudit"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strncmp(base, names[i], strlen(names[i])))
            return 1;
    return 0;
}

static int read_maps(pid_t pid, const char *lib, struct target_maps *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->image = procfs_image_id(pid);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return errf(err, errlen, "%s: %s", path, strerror(errno));
    char line[4096 + 256];
    while (fgets(line, sizeof(line), f)) {
        unsigned long long lo, hi, off;
        char perms[8];
        int n = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s%n", &lo, &hi, perms, &off, &n) < 4)
            continue;
        char *p = line + n;
        while (*p == ' ')
            p++;
        p[strcspn(p, "\n")] = 0;
        if (*p != '/')
            continue;
        const char *base = strrchr(p, '/') + 1;
        int ld = !strncmp(base, "ld-linux", 8);
        if (lib && !strcmp(p, lib))
            m->lib_mapped = 1;
        if ((!strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5)) && off == 0 &&
            !m->libc_start) {
            m->libc_start = lo;
            snprintf(m->libc, sizeof(m->libc), "%s", p);
        }
        if (perms[2] == 'x' && is_runtime(base) && m->n_runtime < MAX_RUNTIME_RANGES)
            m->runtime[m->n_runtime++] = (struct range){lo, hi};
        if (ld && perms[2] == 'x' && m->n_loader < 4)
            m->loader[m->n_loader++] = (struct range){lo, hi};
        if (ld && off == 0 && !m->loader_start) {
            m->loader_start = lo;
            snprintf(m->loader_path, sizeof(m->loader_path), "%s", p);
        }
    }
    fclose(f);
    if (m->libc_start)
        return 0;
    /* Starting (the dynamic linker mapped, or, in the middle of the exec,
     * only the executable so far), or a static program: looked at again. */
    errf(err, errlen,
         m->loader_start ? "pid %d is starting: its C library is not mapped yet"
                         : "pid %d has no libc.so.6 mapped (static program?)",
         (int)pid);
    return INJECT_EXECED;
}

/* ---- a symbol of the target's libc, from the file ---- */

static uint64_t elf_symbol(const unsigned char *img, size_t len, const char *name, int type,
                           uint64_t *first_load_vaddr)
{
    const Elf64_Ehdr *eh = (const void *)img;
    if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shoff == 0 || eh->e_shoff > len ||
        (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len - eh->e_shoff || eh->e_phoff > len ||
        (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
        return 0;
    const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff);
    *first_load_vaddr = UINT64_MAX;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < *first_load_vaddr)
            *first_load_vaddr = ph[i].p_vaddr;
    const Elf64_Shdr *sh = (const void *)(img + eh->e_shoff);
    const Elf64_Shdr *dynsym = NULL, *versym = NULL;
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type == SHT_DYNSYM)
            dynsym = &sh[i];
        else if (sh[i].sh_type == SHT_GNU_versym)
            versym = &sh[i];
    }
    if (!dynsym || dynsym->sh_link >= eh->e_shnum || dynsym->sh_offset > len ||
        dynsym->sh_size > len - dynsym->sh_offset)
        return 0;
    const Elf64_Shdr *strs = &sh[dynsym->sh_link];
    if (strs->sh_offset > len || strs->sh_size > len - strs->sh_offset)
        return 0;
    const Elf64_Sym *sym = (const void *)(img + dynsym->sh_offset);
    size_t n = dynsym->sh_size / sizeof(*sym);
    const uint16_t *ver = NULL;
    if (versym && versym->sh_offset <= len && versym->sh_size <= len - versym->sh_offset &&
        versym->sh_size / 2 >= n)
        ver = (const void *)(img + versym->sh_offset);
    const char *str = (const char *)img + strs->sh_offset;
    uint64_t found = 0;
    for (size_t i = 1; i < n; i++) {
        if (sym[i].st_name >= strs->sh_size || sym[i].st_shndx == SHN_UNDEF || !sym[i].st_value ||
            ELF64_ST_TYPE(sym[i].st_info) != type)
            continue;
        if (strcmp(str + sym[i].st_name, name))
            continue;
        if (ver && (ver[i] & 0x8000)) { /* a hidden (non-default) version: a fallback */
            if (!found)
                found = sym[i].st_value;
            continue;
        }
        return sym[i].st_value;
    }
    return found;
}

/* A symbol of the module mapped from file (as the target sees it) at start;
 * type STT_FUNC or STT_OBJECT. */
static uint64_t module_symbol(pid_t pid, const char *file, uint64_t start, const char *name,
                              int type, char *err, size_t errlen)
{
    char path[4096 + 64];
    snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        errf(err, errlen, "%s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return 0;
    }
    void *img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (img == MAP_FAILED) {
        errf(err, errlen, "%s: %s", path, strerror(errno));
        return 0;
    }
    uint64_t first = 0, v = elf_symbol(img, (size_t)st.st_size, name, type, &first);
    munmap(img, (size_t)st.st_size);
    if (!v) {
        errf(err, errlen, "%s exports no %s", file, name);
        return 0;
    }
    return start - (first & ~(uint64_t)0xfff) + v;
}

static uint64_t libc_symbol(pid_t pid, const struct target_maps *m, const char *name, char *err,
                            size_t errlen)
{
    return module_symbol(pid, m->libc, m->libc_start, name, STT_FUNC, err, errlen);
}

uint64_t trc_inject_libc_symbol(pid_t pid, const char *name, char *err, size_t errlen)
{
    struct target_maps m;
    if (read_maps(pid, NULL, &m, err, errlen) < 0)
        return 0;
    return libc_symbol(pid, &m, name, err, errlen);
}

/* ---- refusals ---- */

#if defined(__x86_64__)
static int seccomp_mode(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    int mode = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Seccomp: %d", &mode) == 1)
            break;
    fclose(f);
    return mode;
}

/* ---- one thread, stopped ---- */

struct saved {
    struct user_regs_struct regs;
    unsigned char *xstate;
    size_t xstate_len;
};

static int wait_stop(pid_t tid, int *status, int timeout_ms)
{
    for (int waited = 0;; waited++) {
        pid_t r = waitpid(tid, status, __WALL | WNOHANG);
        if (r == tid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited >= timeout_ms * 10) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

/* Interrupts a seized thread; 0 once it is in an interrupt stop. Signal
 * stops met on the way are passed on. */
static int interrupt(pid_t tid)
{
    if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
        return -1;
    for (;;) {
        int st;
        if (wait_stop(tid, &st, 5000) < 0)
            return -1;
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            errno = ESRCH;
            return -1;
        }
        if (!WIFSTOPPED(st))
            continue;
        if ((st >> 16) == PTRACE_EVENT_STOP)
            return 0;
        /* a signal for the thread: deliver it, then stop it again */
        if (ptrace(PTRACE_CONT, tid, 0, (void *)(long)WSTOPSIG(st)) < 0 ||
            ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
            return -1;
    }
}

static int in_ranges(const struct range *rs, int n, uint64_t pc)
{
    for (int i = 0; i < n; i++)
        if (pc >= rs[i].lo && pc < rs[i].hi)
            return 1;
    return 0;
}

/* The dynamic linker's own account of its work (r_debug, what debuggers
 * read): r_version is set when it starts, r_state is RT_CONSISTENT once the
 * program's libraries are mapped and relocated and libc is initialised, and
 * RT_ADD or RT_DELETE again while a dlopen or dlclose changes the list.
 * While it is not consistent, dlopen is not safe to call: a program this
 * early runs code the loader called (an IFUNC resolver while it relocates)
 * with libc not ready, which no test of the thread's pc can see. 1: busy,
 * -1: its state could not be read (errno). */
static int loader_busy(pid_t pid, const struct target_maps *m)
{
    if (!m->r_debug_at)
        return 0; /* no _r_debug (not glibc's loader): not checked */
    struct r_debug rd;
    struct iovec here = {&rd, sizeof(rd)}, there = {(void *)(uintptr_t)m->r_debug_at, sizeof(rd)};
    if (process_vm_readv(pid, &here, 1, &there, 1, 0) != (ssize_t)sizeof(rd))
        return -1;
    return rd.r_version == 0 || rd.r_state != RT_CONSISTENT;
}

/* With a thread stopped: 1 if the loader is not busy, or if the process
 * ran exec since its maps were read (not called then: the caller sees the
 * new image and starts again). */
static int loader_settled(pid_t pid, const struct target_maps *m)
{
    int busy = loader_busy(pid, m);
    return busy == 0 || (busy < 0 && procfs_image_id(pid) != m->image);
}

/* Waits (polling, the target running) until the loader is not busy;
 * INJECT_EXECED if the process ran exec meanwhile. */
static int wait_loader(pid_t pid, const struct target_maps *m, char *err, size_t errlen)
{
    for (int waited = 0;; waited += 2) {
        int busy = loader_busy(pid, m);
        if (busy < 0 && procfs_image_id(pid) != m->image) {
            errf(err, errlen, "pid %d ran exec while we injected", (int)pid);
            return INJECT_EXECED;
        }
        if (busy < 0)
            return errf(err, errlen, "pid %d: reading its dynamic linker's state: %s", (int)pid,
                        strerror(errno));
        if (!busy)
            return 0;
        if (waited >= LOADER_WAIT_MS)
            return errf(err, errlen,
                        "pid %d's dynamic linker was still loading libraries after %d s "
                        "(a program starting, or a dlopen that does not end): not injected",
                        (int)pid, LOADER_WAIT_MS / 1000);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

/* The memory system calls an allocator makes with its lock held: glibc's
 * malloc takes the arena lock and then grows the heap with brk or mmap
 * (and gives memory back with madvise, munmap or brk from free); jemalloc,
 * tcmalloc and mimalloc do the same under theirs. */
static int memory_syscall(unsigned long long nr)
{
    return nr == 9 || nr == 10 || nr == 11 || nr == 12 || nr == 25 || nr == 28;
}

/* A stop where the thread holds no lock dlopen could need: blocked in a
 * system call other than futex, or running outside the runtime libraries.
 * Not a system call the dynamic linker made itself (a dlopen's, with the
 * loader's lock held), nor a memory one from the runtime libraries (an
 * allocator's, with its lock held: the first malloc of a starting
 * ffmpeg, caught in brk inside tcache_init, left dlopen's malloc waiting
 * for that lock forever). The program starting is ruled out before this,
 * by the loader's state (loader_busy). */
static int safe_point(const struct target_maps *m, const struct user_regs_struct *r)
{
    if ((long long)r->orig_rax >= 0)
        return r->orig_rax != 202 && /* SYS_futex: may be waiting for a lock it needs */
               !in_ranges(m->loader, m->n_loader, r->rip) &&
               !(memory_syscall(r->orig_rax) && in_ranges(m->runtime, m->n_runtime, r->rip));
    return !in_ranges(m->runtime, m->n_runtime, r->rip);
}

static int save(pid_t tid, struct saved *s)
{
    if (ptrace(PTRACE_GETREGS, tid, 0, &s->regs) < 0)
        return -1;
    s->xstate = malloc(XSTATE_MAX);
    if (!s->xstate)
        return -1;
    struct iovec iov = {s->xstate, XSTATE_MAX};
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) == 0) {
        s->xstate_len = iov.iov_len;
        return 0;
    }
    /* no XSAVE: the legacy FXSAVE area */
    if (ptrace(PTRACE_GETFPREGS, tid, 0, s->xstate) < 0)
        return -1;
    s->xstate_len = 0;
    return 0;
}

static int restore(pid_t tid, const struct saved *s)
{
    int rc = ptrace(PTRACE_SETREGS, tid, 0, &s->regs);
    if (s->xstate_len) {
        struct iovec iov = {s->xstate, s->xstate_len};
        if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0)
            rc = -1;
    } else if (ptrace(PTRACE_SETFPREGS, tid, 0, s->xstate) < 0) {
        rc = -1;
    }
    return rc;
}

/* Reads or writes the target's memory through /proc/PID/mem (allowed to
 * its tracer); returns the bytes moved or -1. */
static ssize_t mem_io(pid_t pid, uint64_t addr, void *buf, size_t len, int write)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
    int fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write ? pwrite(fd, buf, len, (off_t)addr) : pread(fd, buf, len, (off_t)addr);
    close(fd);
    return n;
}

static int write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
    return mem_io(pid, addr, (void *)buf, len, 1) == (ssize_t)len ? 0 : -1;
}

/* Calls fn(a[0], a[1]) in the stopped thread on its own stack (with `data`
 * copied below its stack pointer first: an argument ARG_DATA_AT(off) is
 * replaced by the address of the copy's byte off). Returns 0 with *ret set,
 * or -1 with err. The thread is left stopped, registers not restored. */
#define ARG_DATA_TAG     0xfffe000000000000ull /* no user address has these bits */
#define ARG_DATA_AT(off) (ARG_DATA_TAG | (uint64_t)(off))
#define ARG_DATA         ARG_DATA_AT(0)
static uint64_t arg_value(uint64_t a, uint64_t data_at)
{
    return (a & 0xffff000000000000ull) == ARG_DATA_TAG ? data_at + (a & 0xffffffffffffull) : a;
}

static int remote_call(pid_t pid, pid_t tid, const struct user_regs_struct *base, uint64_t fn,
                       const void *data, size_t data_len, uint64_t a0, uint64_t a1, uint64_t *ret,
                       char *err, size_t errlen)
{
    struct user_regs_struct r = *base;
    uint64_t sp = (base->rsp - 256 - data_len) & ~(uint64_t)15; /* past the red zone */
    if (data_len && write_mem(pid, sp, data, data_len) < 0)
        return errf(err, errlen, "writing the target's stack: %s", strerror(errno));
    uint64_t data_at = sp;
    sp -= 8; /* at a call's entry, rsp + 8 is 16-byte aligned */
    uint64_t zero = 0;
    if (write_mem(pid, sp, &zero, sizeof(zero)) < 0)
        return errf(err, errlen, "writing the return address: %s", strerror(errno));
    r.rsp = sp;
    r.rip = fn;
    r.rdi = arg_value(a0, data_at);
    r.rsi = arg_value(a1, data_at);
    r.rax = 0;
    r.orig_rax = (unsigned long long)-1; /* no syscall restart into the call */
    if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0)
        return errf(err, errlen, "PTRACE_SETREGS: %s", strerror(errno));
    int sig = 0;
    for (int spent = 0;; spent++) {
        if (ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig) < 0)
            return errf(err, errlen, "PTRACE_CONT: %s", strerror(errno));
        int st;
        if (wait_stop(tid, &st, CALL_TIMEOUT_MS) < 0)
            return errf(err, errlen, "the call did not return within %d s: %s",
                        CALL_TIMEOUT_MS / 1000, strerror(errno));
        if (WIFEXITED(st) || WIFSIGNALED(st))
            return errf(err, errlen, "pid %d ended during the call", (int)pid);
        sig = 0;
        if (!WIFSTOPPED(st) || (st >> 16) == PTRACE_EVENT_STOP)
            continue;
        int s = WSTOPSIG(st);
        if (s == SIGSEGV) {
            if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
                return errf(err, errlen, "PTRACE_GETREGS: %s", strerror(errno));
            if (r.rip == 0) {
                *ret = r.rax;
                return 0;
            }
            return errf(err, errlen, "the call faulted at 0x%llx in pid %d",
                        (unsigned long long)r.rip, (int)pid);
        }
        sig = s; /* the program's own signal: delivered, handlers run as usual */
        if (spent > 10000)
            return errf(err, errlen, "too many signals during the call");
    }
}

/* fn(arg, it) with it the thread as the program left it (common/interrupted.h),
 * both copied below its stack pointer. */
static int call_with_state(pid_t pid, pid_t tid, const struct user_regs_struct *base, uint64_t fn,
                           const char *arg, uint64_t *ret, char *err, size_t errlen)
{
    _Static_assert(sizeof(*base) / 8 <= INTERRUPTED_MAX_REGS, "x86-64 registers fit");
    size_t len = arg ? strlen(arg) + 1 : 0;
    struct interrupted_thread *it = calloc(1, sizeof(*it) + len);
    if (!it)
        return errf(err, errlen, "out of memory");
    it->magic = INTERRUPTED_MAGIC;
    it->sp = base->rsp;
    it->n_regs = (uint32_t)(sizeof(*base) / 8);
    memcpy(it->regs, base, sizeof(*base));
    if (len)
        memcpy(it + 1, arg, len);
    int rc = remote_call(pid, tid, base, fn, it, sizeof(*it) + len,
                         len ? ARG_DATA_AT(sizeof(*it)) : 0, ARG_DATA, ret, err, errlen);
    free(it);
    return rc;
}

/* What to call in the target: dlopen(lib), then (call != NULL) the
 * library's function `call` with the string `arg` (or NULL). */
struct funcs {
    uint64_t dlopen_at, dlerror_at, dlsym_at;
    const char *call, *arg;
};

static int inject_in_thread(pid_t pid, pid_t tid, const struct target_maps *m,
                            const struct funcs *f, const char *lib, struct trc_inject_result *res,
                            char *err, size_t errlen, int *not_safe)
{
    *not_safe = 0;
    if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0)
        return errf(err, errlen, "ptrace(PTRACE_SEIZE, %d): %s", (int)tid, strerror(errno));
    struct saved s = {0};
    int rc = -1, tries = 0, stopped = 0, futex_stops = 0;
    for (; tries < SAFE_TRIES; tries++) {
        if (interrupt(tid) < 0) {
            errf(err, errlen, "stopping thread %d: %s", (int)tid, strerror(errno));
            goto out;
        }
        stopped = 1;
        if (ptrace(PTRACE_GETREGS, tid, 0, &s.regs) < 0) {
            errf(err, errlen, "PTRACE_GETREGS: %s", strerror(errno));
            goto out;
        }
        /* the loader's state again, with this thread stopped: another
         * thread may have begun a dlopen since */
        if (safe_point(m, &s.regs) && loader_settled(pid, m))
            break;
        /* waiting in a futex three times running: a thread parked in a
         * join or a condition wait, try another one */
        futex_stops = s.regs.orig_rax == 202 ? futex_stops + 1 : 0;
        if (futex_stops >= 3) {
            tries = SAFE_TRIES - 1;
            if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
                goto out;
            stopped = 0;
            continue;
        }
        if (ptrace(PTRACE_CONT, tid, 0, 0) < 0) {
            errf(err, errlen, "PTRACE_CONT: %s", strerror(errno));
            goto out;
        }
        stopped = 0;
        struct timespec ts = {0, 200000 + (long)(rand() % 1800000)};
        nanosleep(&ts, NULL);
    }
    if (tries == SAFE_TRIES) {
        *not_safe = 1;
        errf(err, errlen, "thread %d was never at a safe point in %d stops", (int)tid, tries);
        goto out;
    }
    /* Stopped, the thread cannot exec; had the process run one since its
     * maps were read, dlopen's address would be garbage in the new program. */
    if (procfs_image_id(pid) != m->image) {
        rc = INJECT_EXECED;
        errf(err, errlen, "pid %d ran exec while we injected", (int)pid);
        goto out;
    }
    if (save(tid, &s) < 0) {
        errf(err, errlen, "saving thread %d's registers: %s", (int)tid, strerror(errno));
        goto out;
    }
    uint64_t handle = 0;
    int called = remote_call(pid, tid, &s.regs, f->dlopen_at, lib, strlen(lib) + 1, ARG_DATA,
                             RTLD_NOW, &handle, err, errlen);
    if (called == 0 && !handle) {
        uint64_t msg = 0;
        char text[512] = "";
        if (f->dlerror_at &&
            remote_call(pid, tid, &s.regs, f->dlerror_at, NULL, 0, 0, 0, &msg, err, errlen) == 0 &&
            msg && mem_io(pid, msg, text, sizeof(text) - 1, 0) > 0)
            text[sizeof(text) - 1] = 0;
        errf(err, errlen, "dlopen in pid %d failed: %s", (int)pid, text[0] ? text : "(no reason)");
    } else if (called == 0) {
        res->handle = handle;
        res->image = m->image;
        res->tid = tid;
        res->tries = tries + 1;
        rc = 0;
        if (f->call) {
            /* fn = dlsym(handle, call); fn(arg) */
            uint64_t fn = 0, ret = 0;
            rc = remote_call(pid, tid, &s.regs, f->dlsym_at, f->call, strlen(f->call) + 1, handle,
                             ARG_DATA, &fn, err, errlen);
            if (rc == 0 && !fn)
                rc = errf(err, errlen, "%s does not define %s", lib, f->call);
            if (rc == 0)
                rc = call_with_state(pid, tid, &s.regs, fn, f->arg, &ret, err, errlen);
            res->call_ret = (int64_t)(int32_t)ret; /* an int */
        }
    }
    if (restore(tid, &s) < 0 && rc == 0)
        rc = errf(err, errlen, "restoring thread %d's registers: %s", (int)tid, strerror(errno));
out:
    free(s.xstate);
    (void)stopped;
    /* PTRACE_DETACH needs a stopped tracee; a running one is stopped first */
    if (!stopped && interrupt(tid) < 0) {
        ptrace(PTRACE_DETACH, tid, 0, 0);
        return rc;
    }
    ptrace(PTRACE_DETACH, tid, 0, 0);
    return rc;
}

/* One try: maps, libc's functions, then a thread at a safe point. */
static int inject_once(pid_t pid, uint64_t image, const char *lib, const char *call,
                       const char *arg, struct trc_inject_result *res, char *err, size_t errlen)
{
    struct target_maps m;
    int rc = read_maps(pid, lib, &m, err, errlen);
    if (rc < 0)
        return rc;
    if (image && m.image != image) {
        errf(err, errlen, "pid %d ran exec: the program called into before has ended", (int)pid);
        return INJECT_EXECED;
    }
    res->already = m.lib_mapped;
    struct funcs f = {.call = call, .arg = arg};
    f.dlopen_at = libc_symbol(pid, &m, "dlopen", err, errlen);
    if (!f.dlopen_at)
        return errf(err, errlen,
                    "%s has no dlopen (glibc older than 2.34?): use attach without --inject (eBPF)",
                    m.libc);
    char ignored[256];
    f.dlerror_at = libc_symbol(pid, &m, "dlerror", ignored, sizeof(ignored));
    f.dlsym_at = libc_symbol(pid, &m, "dlsym", ignored, sizeof(ignored));
    if (call && !f.dlsym_at)
        return errf(err, errlen, "%s has no dlsym", m.libc);
    if (m.loader_start)
        m.r_debug_at = module_symbol(pid, m.loader_path, m.loader_start, "_r_debug", STT_OBJECT,
                                     ignored, sizeof(ignored));
    if ((rc = wait_loader(pid, &m, err, errlen)) != 0)
        return rc;

    /* the main thread first, then the others */
    char taskdir[64];
    snprintf(taskdir, sizeof(taskdir), "/proc/%d/task", (int)pid);
    pid_t tids[256];
    int n = 0;
    tids[n++] = pid;
    DIR *d = opendir(taskdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < 256) {
            pid_t t = (pid_t)atoi(e->d_name);
            if (t > 0 && t != pid)
                tids[n++] = t;
        }
        closedir(d);
    }
    rc = -1;
    for (int i = 0; i < n; i++) {
        int not_safe = 0;
        rc = inject_in_thread(pid, tids[i], &m, &f, lib, res, err, errlen, &not_safe);
        if (rc == 0 || !not_safe)
            break;
    }
    return rc;
}

#endif /* __x86_64__ */

int trc_inject_call(pid_t pid, const char *lib, const char *call, const char *arg,
                    struct trc_inject_result *res, char *err, size_t errlen)
{
    return trc_inject_call_in(pid, 0, lib, call, arg, res, err, errlen);
}

int trc_inject_call_in(pid_t pid, uint64_t image, const char *lib, const char *call,
                       const char *arg, struct trc_inject_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    if (lib[0] != '/')
        return errf(err, errlen, "%s: the library path must be absolute", lib);
#if !defined(__x86_64__)
    (void)pid;
    (void)image;
    (void)call;
    (void)arg;
    return errf(err, errlen, "injection is implemented for x86-64 only (use the eBPF path)");
#else
    int sc = seccomp_mode(pid);
    if (sc < 0)
        return errf(err, errlen, "pid %d: no such process", (int)pid);
    if (sc != 0)
        return errf(err, errlen,
                    "pid %d runs under a seccomp %s: loading a library into it could kill it "
                    "(use attach without --inject: eBPF)",
                    (int)pid, sc == 1 ? "strict mode" : "filter");
    /* A process caught in exec (started through env or a shell) is
     * injected into the program it runs now. */
    int rc;
    for (int attempt = 0;
         (rc = inject_once(pid, image, lib, call, arg, res, err, errlen)) == INJECT_EXECED &&
         !image && attempt < 20;
         attempt++)
        usleep(50 * 1000);
    return rc == INJECT_EXECED ? -1 : rc;
#endif
}

int trc_inject_library(pid_t pid, const char *lib, struct trc_inject_result *res, char *err,
                       size_t errlen)
{
    return trc_inject_call(pid, lib, NULL, NULL, res, err, errlen);
}
