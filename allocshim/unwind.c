/*
 * Stack capture for the shim. frames[0] is always the return address taken
 * at the interposer's entry, so the immediate caller of malloc/open/... is
 * right even in code built without frame pointers. Deeper frames come from
 * the frame-pointer chain (default: a few loads per frame) or, with
 * LEAKAUDIT_UNWIND=dwarf, from libunwind's unw_backtrace, loaded privately
 * with dlopen(RTLD_LOCAL) so the audited program never sees its symbols.
 *
 * The frame-pointer walk only follows pointers that stay inside the current
 * thread's stack and strictly increase, so a garbage rbp in code without
 * frame pointers ends the walk instead of faulting.
 */
#include "shim.h"
#include "stacktable.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

extern void *__libc_stack_end;

static int (*unw_backtrace_fn)(void **buf, int size);
static uintptr_t shim_text_lo, shim_text_hi; /* our own code, skipped in dwarf stacks */

/* Finds the executable segment of this library, to drop its frames. */
static int find_own_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t me = (uintptr_t)find_own_text;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (me >= lo && me < hi) {
            shim_text_lo = lo;
            shim_text_hi = hi;
            return 1;
        }
    }
    return 0;
}

void shim_unwind_init(void)
{
    if (shim_cfg.unwind != SNAP_UNWIND_DWARF)
        return;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (h)
        unw_backtrace_fn = (int (*)(void **, int))dlsym(h, "unw_backtrace");
    if (!unw_backtrace_fn) {
        static const char msg[] = "leakaudit: --unwind=dwarf needs libunwind.so.8 "
                                  "(apt-get install libunwind8); using frame pointers\n";
        if (write(2, msg, sizeof(msg) - 1) < 0) {
        }
        shim_cfg.unwind = SNAP_UNWIND_FP;
        return;
    }
    dl_iterate_phdr(find_own_text, NULL);
}

static void find_stack_bounds(void)
{
    shim_tls.stack_known = 1;
    shim_tls.stack_hi = 0;
    if (shim_gettid() == getpid()) {
        shim_tls.stack_hi = (uintptr_t)__libc_stack_end;
        return;
    }
    pthread_attr_t attr;
    int rc;
    SHIM_UNTRACKED(rc = pthread_getattr_np(pthread_self(), &attr));
    if (rc != 0)
        return; /* unknown stack (raw clone): only frames[0] will be recorded */
    void *lo;
    size_t size;
    if (pthread_attr_getstack(&attr, &lo, &size) == 0)
        shim_tls.stack_hi = (uintptr_t)lo + size;
    SHIM_UNTRACKED(pthread_attr_destroy(&attr));
}

static uint32_t capture_dwarf(uint64_t *frames, void *ret)
{
    void *buf[SNAP_MAX_STACK_DEPTH + 8];
    int n;
    SHIM_UNTRACKED(n = unw_backtrace_fn(buf, shim_cfg.depth + 8));
    int i = 0;
    while (i < n && (uintptr_t)buf[i] >= shim_text_lo && (uintptr_t)buf[i] < shim_text_hi)
        i++;
    uint32_t d = 0;
    frames[d++] = (uint64_t)(uintptr_t)ret;
    if (i < n && buf[i] == ret)
        i++;
    for (; i < n && d < (uint32_t)shim_cfg.depth; i++)
        frames[d++] = (uint64_t)(uintptr_t)buf[i];
    return d;
}

uint32_t shim_capture(uint64_t *frames, void *frame_addr, void *ret)
{
    if (SHIM_UNLIKELY(shim_cfg.unwind == SNAP_UNWIND_DWARF) && unw_backtrace_fn)
        return capture_dwarf(frames, ret);
    frames[0] = (uint64_t)(uintptr_t)ret;
    uint32_t n = 1;
    if (SHIM_UNLIKELY(!shim_tls.stack_known))
        find_stack_bounds();
    uintptr_t hi = shim_tls.stack_hi;
    uintptr_t fp = (uintptr_t)frame_addr;
    uintptr_t next = ((const uintptr_t *)fp)[0];
    uint32_t depth = (uint32_t)shim_cfg.depth;
    while (n < depth) {
        if (next <= fp || next >= hi || hi - next < 16 || (next & 7))
            break;
        uintptr_t r = ((const uintptr_t *)next)[1];
        if (r < 4096)
            break;
        frames[n++] = r;
        fp = next;
        next = ((const uintptr_t *)fp)[0];
    }
    return n;
}

uint32_t shim_capture_stack_id(void *frame_addr, void *ret)
{
    uint64_t frames[SNAP_MAX_STACK_DEPTH];
    uint32_t n = shim_capture(frames, frame_addr, ret);
    return stk_table_intern(shim_stacks(), frames, n);
}
