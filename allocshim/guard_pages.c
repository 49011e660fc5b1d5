/*
 * Guard pages (LEAKAUDIT_GUARD=pages), GWP-ASan style: 1 in
 * LEAKAUDIT_GUARD_SAMPLE blocks (<= 1 page) get their own page next to an
 * inaccessible one, aligned to its right or left edge; freed slots are made
 * inaccessible and reused only after FREED_WINDOW later frees. The SIGSEGV
 * handler names the faulting access -- the writer's stack -- and the
 * block's allocation and free stacks, then chains to the program's handler
 * or re-raises.
 */
#include "arch.h"
#include "guard_int.h"
#include "stacktable.h"
#include "util.h"

#include <errno.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static long page_size;

static char *pool;
uintptr_t shim_guard_pool_lo, shim_guard_pool_hi;
int shim_guard_pages_only;
#define pool_lo shim_guard_pool_lo
#define pool_hi shim_guard_pool_hi
static struct page_slot *slots;
static uint32_t slot_next;
int guard_slot_lock;
static uint32_t *freed_fifo; /* freed slots, reused oldest first */
static uint32_t fifo_head, fifo_tail, fifo_len;

static uint64_t page_slots_full; /* sampled blocks that got no page slot */
static struct sigaction old_segv;

/* Executable ranges of loaded modules, refreshed outside the signal handler,
 * so the handler can tell a return address on the stack from data. */
#define MAX_EXEC_RANGES 128
static struct {
    uintptr_t lo, hi;
} exec_ranges[MAX_EXEC_RANGES];
static int n_exec_ranges;

static int collect_exec(struct dl_phdr_info *info, size_t size, void *arg)
{
    for (int i = 0; i < info->dlpi_phnum && n_exec_ranges < MAX_EXEC_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            exec_ranges[n_exec_ranges].lo = info->dlpi_addr + ph->p_vaddr;
            exec_ranges[n_exec_ranges].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            n_exec_ranges++;
        }
    }
    return 0;
}

void shim_guard_refresh_modules(void)
{
    n_exec_ranges = 0;
    dl_iterate_phdr(collect_exec, NULL);
}

static int is_code(uintptr_t a)
{
    for (int i = 0; i < n_exec_ranges; i++)
        if (a >= exec_ranges[i].lo + ARCH_MAX_CALL_BYTES && a < exec_ranges[i].hi)
            return 1;
    return 0;
}

static void fill_slack(uint32_t i);

static uintptr_t slot_data(uint32_t i)
{
    return pool_lo + (uintptr_t)(2 * i + 1) * (uintptr_t)page_size;
}

void *guard_page_alloc(size_t size, size_t align, int zero)
{
    if (size > (size_t)page_size - RIGHT_RZ || align > 16 || !pool)
        return NULL;
    uint32_t i;
    shim_spin_lock(&guard_slot_lock);
    int first_use = 0;
    if (fifo_len > FREED_WINDOW) { /* freed slots stay inaccessible a while */
        i = freed_fifo[fifo_head];
        fifo_head = (fifo_head + 1) % PAGE_SLOTS;
        fifo_len--;
        shim_heap_evict((void *)slots[i].user);
    } else if (slot_next < PAGE_SLOTS) {
        /* A fresh slot's first use costs a VMA split and a page fault
         * (~10 us), so they are taken only while the window is filling or
         * blocks stay live: a program mostly touches FREED_WINDOW + its
         * live sampled blocks' worth of slots. */
        i = slot_next++;
        first_use = 1;
    } else {
        page_slots_full++; /* every slot live or in the freed window */
        shim_spin_unlock(&guard_slot_lock);
        return NULL;
    }
    slots[i].state = 1;
    shim_spin_unlock(&guard_slot_lock);
    uintptr_t data = slot_data(i);
    if (first_use)
        syscall(SYS_madvise, data, (size_t)page_size, MADV_DODUMP); /* see shim_guard_init */
    if (mprotect((void *)data, (size_t)page_size, PROT_READ | PROT_WRITE) != 0)
        return NULL;
    /* Alternate edges: right-aligned blocks catch overflows at the next
     * page, left-aligned ones underflows at the previous page. The few
     * alignment bytes left over on the right are canary-checked. */
    int right;
    if (shim_cfg.guard_align)
        right = shim_cfg.guard_align > 0;
    else /* overflows are the common case: 3 of 4 blocks at the right edge */
        right = (++shim_tls.page_edges & 3) != 0;
    /* Blocks keep malloc's 16-byte alignment (programs rely on it: CPython
     * rejects its own bytecode otherwise), so a right-aligned block may end
     * up to 15 bytes before the page end; those bytes are pattern-checked.
     * LEAKAUDIT_GUARD_ALIGN=right ends blocks exactly at the page end, using
     * the size's natural alignment (all C requires; GWP-ASan does this), so
     * an overflow by one byte faults at the writer. */
    size_t natural = 16;
    if (shim_cfg.guard_align > 0) {
        natural = size & (~size + 1);
        if (natural == 0 || natural > 16)
            natural = 16;
    }
    size_t rounded = (size + natural - 1) & ~(natural - 1);
    uintptr_t user = right ? data + (uintptr_t)page_size - rounded : data;
    slots[i].user = user;
    slots[i].size = size;
    slots[i].right_aligned = right;
    fill_slack(i);
    if (zero)
        memset((void *)user, 0, size);
    return (void *)user;
}

/* The pattern covers up to SLACK_CHECK bytes on each side of a page block
 * (the rest of the page is never written by correct code and not checked). */
#define SLACK_CHECK 64

static void slack_range(uint32_t i, uintptr_t *lo1, uintptr_t *hi1, uintptr_t *lo2, uintptr_t *hi2)
{
    uintptr_t data = slot_data(i), end = data + (uintptr_t)page_size;
    uintptr_t u = slots[i].user, ue = u + slots[i].size;
    *lo1 = u - data > SLACK_CHECK ? u - SLACK_CHECK : data;
    *hi1 = u;
    *lo2 = ue;
    *hi2 = end - ue > SLACK_CHECK ? ue + SLACK_CHECK : end;
}

static void fill_slack(uint32_t i)
{
    uintptr_t a, b, c, d;
    slack_range(i, &a, &b, &c, &d);
    fill(a, b - a, guard_pat_live);
    fill(c, d - c, guard_pat_live);
}

int guard_in_pool(uintptr_t p)
{
    return p >= pool_lo && p < pool_hi;
}

static uint32_t slot_of(uintptr_t p)
{
    return (uint32_t)((p - pool_lo) / (uintptr_t)page_size - 1) / 2;
}

void guard_page_free(uintptr_t user, const struct shim_block_info *info)
{
    uint32_t i = slot_of(user);
    uintptr_t data = slot_data(i);
    uintptr_t a, b, c, d;
    slack_range(i, &a, &b, &c, &d);
    uintptr_t bad = check(c, d - c, guard_pat_live);
    if (!bad)
        bad = check(a, b - a, guard_pat_live);
    if (bad) {
        struct snap_corruption c = {.kind = bad < user ? SNAP_CORR_UNDERFLOW : SNAP_CORR_OVERFLOW,
                                    .addr = user,
                                    .block_size = info->size,
                                    .offset = (int64_t)(bad - user),
                                    .alloc_stack = info->alloc_stack};
        guard_set_detail(&c, "guard-page block: padding overwritten");
        guard_report(&c, "bytes next to the block were overwritten", 1);
    }
    mprotect((void *)data, (size_t)page_size, PROT_NONE);
    shim_spin_lock(&guard_slot_lock);
    slots[i].state = 2;
    freed_fifo[fifo_tail] = i;
    fifo_tail = (fifo_tail + 1) % PAGE_SLOTS;
    fifo_len++;
    shim_spin_unlock(&guard_slot_lock);
}

/* Re-raises a fault we could not or would not handle: the program's own
 * handler if it had one, else the default action. */
static void chain(int sig, siginfo_t *si, void *uc)
{
    if (old_segv.sa_flags & SA_SIGINFO) {
        if (old_segv.sa_sigaction) {
            old_segv.sa_sigaction(sig, si, uc);
            return;
        }
    } else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL); /* returning re-executes the access: killed by SIGSEGV */
}

static void on_segv(int sig, siginfo_t *si, void *ucv)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    if (!pool || !guard_in_pool(a)) {
        chain(sig, si, ucv);
        return;
    }
    int saved_busy = shim_tls.busy;
    shim_tls.busy = 1;
    ucontext_t *uc = ucv;
    int write = arch_fault_is_write(uc);
    uint64_t frames[SNAP_MAX_STACK_DEPTH];
    uint32_t depth = 0;
    /* the faulting instruction, then its function's callers by frame pointer */
    uintptr_t pc = (uintptr_t)arch_ctx_pc(uc);
    uintptr_t fp = (uintptr_t)arch_ctx_fp(uc);
    uintptr_t sp = (uintptr_t)arch_ctx_sp(uc);
    if (shim_cfg.unwind != SNAP_UNWIND_FP) {
        /* the call-frame information: right through leaf functions
         * (memset) and code without frame pointers */
        depth = shim_capture_at(frames, pc, sp, fp, arch_ctx_lr(uc));
        goto have_stack;
    }
    frames[depth++] = pc + 1; /* reports subtract 1 from return addresses */
    /* A leaf function (memset, memcpy) has no frame of its own: its caller's
     * return address is at the stack pointer (x86-64) or in the link
     * register (aarch64). Take it if it points just after a call
     * instruction in loaded code. */
    uintptr_t top = (uintptr_t)arch_ctx_leaf_return(uc);
    int took_top = is_code(top) && arch_follows_call(top);
    if (took_top)
        frames[depth++] = top;
    for (uintptr_t prev = sp; depth < (uint32_t)shim_cfg.depth; prev = fp) {
        if (fp <= prev || fp - prev > (1u << 24) || (fp & 7))
            break;
        uintptr_t r = ((const uintptr_t *)fp)[1];
        if (r < 4096)
            break;
        /* not a leaf after all: its frame record holds the same link register */
        if (!(took_top && depth == 2 && r == top))
            frames[depth++] = r;
        fp = ((const uintptr_t *)fp)[0];
    }
have_stack:;
    uint32_t access = stk_table_intern(shim_stacks(), frames, depth);
    uint64_t idx = (a - pool_lo) / (uint64_t)page_size;
    struct snap_corruption c = {.access_stack = access};
    const char *what = "access to a guard page";
    uint32_t slot = PAGE_SLOTS;
    if (idx & 1) { /* a data page: its block was freed */
        slot = (uint32_t)(idx - 1) / 2;
        c.kind = write ? SNAP_CORR_USE_AFTER_FREE_WRITE : SNAP_CORR_USE_AFTER_FREE_READ;
        what = write ? "write to a freed block" : "read of a freed block";
    } else { /* a guard page between slot idx/2-1 (left) and idx/2 (right) */
        uint32_t left = idx >= 2 ? (uint32_t)idx / 2 - 1 : PAGE_SLOTS;
        uint32_t right = (uint32_t)idx / 2;
        if (left < PAGE_SLOTS && slots[left].state == 1 && slots[left].right_aligned) {
            slot = left;
            c.kind = write ? SNAP_CORR_OVERFLOW : SNAP_CORR_OVERFLOW_READ;
            what = write ? "write past the end of a block" : "read past the end of a block";
        } else if (right < PAGE_SLOTS && slots[right].state == 1 && !slots[right].right_aligned) {
            slot = right;
            c.kind = write ? SNAP_CORR_UNDERFLOW : SNAP_CORR_UNDERFLOW_READ;
            what = write ? "write before the start of a block" : "read before the start of a block";
        } else {
            c.kind = write ? SNAP_CORR_OVERFLOW : SNAP_CORR_OVERFLOW_READ;
        }
    }
    if (slot < PAGE_SLOTS) {
        struct shim_block_info info = {0};
        c.addr = slots[slot].user;
        c.block_size = slots[slot].size;
        c.offset = (int64_t)(a - slots[slot].user);
        if (shim_heap_lookup((void *)slots[slot].user, &info) != SHIM_LOOKUP_NONE) {
            c.alloc_stack = info.alloc_stack;
            c.free_stack = info.free_stack;
        }
    } else {
        c.addr = a;
    }
    guard_set_detail(&c, "caught by a guard page at the faulting access");
    guard_report(&c, what, 0);
    if (shim_cfg.guard_abort) {
        guard_out("==leakaudit== re-raising SIGSEGV (LEAKAUDIT_GUARD_POLICY=log to continue)\n");
        shim_keep_evidence();
        signal(SIGSEGV, SIG_DFL);
        shim_tls.busy = saved_busy;
        return; /* the access faults again, now with the default action */
    }
    /* log: open the page so the access succeeds; this slot is no longer guarded */
    uintptr_t page = a & ~((uintptr_t)page_size - 1);
    mprotect((void *)page, (size_t)page_size, PROT_READ | PROT_WRITE);
    if (slot < PAGE_SLOTS)
        slots[slot].state = 3;
    shim_tls.busy = saved_busy;
}

static int segv_installed;

void guard_install_handler(void)
{
    if (segv_installed || !pool)
        return;
    segv_installed = 1;
    shim_guard_refresh_modules();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
}

/* 1 when the program has installed its own SIGSEGV handler over ours: a
 * guard-page fault then reaches its handler first (most crash reporters
 * restore the previous handler and re-raise, which reaches ours; gcc's ends
 * the process without our report). Only counted: common enough (gcc, crash
 * reporters, language runtimes) that a line on the program's stderr would
 * be noise. */
uint64_t guard_segv_handler_replaced(void)
{
    struct sigaction cur;
    if (!segv_installed || sigaction(SIGSEGV, NULL, &cur) != 0)
        return 0;
    return !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_segv);
}

uint64_t guard_page_slots_full(void)
{
    return __atomic_load_n(&page_slots_full, __ATOMIC_RELAXED);
}

size_t guard_page_usable_size(uintptr_t p)
{
    return slots[slot_of(p)].state == 1 ? slots[slot_of(p)].size : 0;
}

/* The slot pool: [guard][data][guard][data]...[guard], PROT_NONE until a
 * slot is used. Without it (no address space) guard pages are off. */
void guard_pages_init(void)
{
    page_size = sysconf(_SC_PAGESIZE);
    {
        /* [guard][data][guard][data]...[guard]: slot i's data is page 2i+1 */
        size_t len = (size_t)page_size * (2 * PAGE_SLOTS + 1);
        long p = syscall(SYS_mmap, NULL, len, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        slots = shim_arena_map(sizeof(*slots) * PAGE_SLOTS);
        freed_fifo = shim_arena_map(sizeof(*freed_fifo) * PAGE_SLOTS);
        if ((p < 0 && p > -4096) || !slots || !freed_fifo) {
            shim_cfg.guard &= ~SHIM_GUARD_PAGES;
        } else {
            /* The whole pool starts VM_DONTDUMP; a slot's data page loses
             * the flag on first use. Its VMA then never merges with the
             * guard pages around it, so flipping it between read-write and
             * inaccessible is one page-table change, not a VMA split and
             * merge (5x cheaper; guard pages stay out of core dumps too). */
            syscall(SYS_madvise, p, len, MADV_DONTDUMP);
            pool = (char *)p;
            pool_lo = (uintptr_t)pool;
            pool_hi = pool_lo + len;
        }
    }
}
