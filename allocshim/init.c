/*
 * Start-up and life-cycle of the shim: resolving the real allocator with
 * dlsym(RTLD_NEXT) (serving the allocations dlsym itself makes from a static
 * bootstrap arena), the constructor that starts snapshots, fork handling and
 * the final snapshot at exit.
 *
 * Init can be triggered by the first malloc, which may come before any
 * constructor runs (another preloaded library's constructor, libc itself), so
 * it does only what is safe that early: secure_getenv, dlsym, mmap. Threads, signal
 * handlers and atfork handlers are set up in the constructor.
 */
#include "shim.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct shim_real shim_real;
SHIM_TLS struct shim_tls shim_tls;
int shim_active;
int shim_fast_mode;
int shim_fast_sampled;
int (*shim_evidence_hook)(int trigger); /* shim.h: set by shim_snapshot_init */
void (*shim_poll_hook)(void);

/* ---- bootstrap arena: serves malloc while dlsym resolves malloc ---- */

#define BOOT_HEADER 16

unsigned char shim_boot_arena[SHIM_BOOT_BYTES] __attribute__((aligned(4096)));
#define boot_arena shim_boot_arena
#define BOOT_BYTES SHIM_BOOT_BYTES
static size_t boot_used;

void *shim_bootstrap_alloc(size_t size, size_t align)
{
    if (align < BOOT_HEADER)
        align = BOOT_HEADER;
    if (size > BOOT_BYTES || align > 4096)
        return NULL;
    size_t cur = __atomic_load_n(&boot_used, __ATOMIC_RELAXED);
    for (;;) {
        size_t start = (cur + BOOT_HEADER + align - 1) & ~(align - 1);
        size_t end = start + ((size + 15) & ~(size_t)15);
        if (end > BOOT_BYTES) {
            errno = ENOMEM;
            return NULL;
        }
        if (__atomic_compare_exchange_n(&boot_used, &cur, end, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            memcpy(boot_arena + start - sizeof(size_t), &size, sizeof(size_t));
            return boot_arena + start; /* zeroed: static storage */
        }
    }
}

size_t shim_bootstrap_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - sizeof(size_t), sizeof(size_t));
    return size;
}

/* ---- symbol resolution ---- */

static int init_state; /* 0 not started, 1 in progress, 2 done */
static SHIM_TLS int init_thread;

/* The module that defines `name` itself, in load order, skipping the one
 * holding `skip` (the executable's canonical PLT entry) and ours. */
struct def_walk {
    const char *name;
    uintptr_t skip;
    void *found;
};

static int in_module(const struct dl_phdr_info *info, uintptr_t a)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && a >= lo && a < lo + ph->p_memsz)
            return 1;
    }
    return 0;
}

static int find_definition(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct def_walk *w = arg;
    if (!info->dlpi_name || !info->dlpi_name[0] || in_module(info, w->skip) ||
        in_module(info, (uintptr_t)&find_definition))
        return 0;
    void *h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return 0;
    void *p = dlsym(h, w->name);
    dlclose(h);
    if (p && in_module(info, (uintptr_t)p)) {
        w->found = p;
        return 1;
    }
    return 0;
}

/* Injected: the definition the program's calls reach. dlsym(RTLD_DEFAULT)
 * is that, except where a non-PIE executable exports a canonical PLT entry
 * for the function (it takes its address: python3 does for malloc): that
 * entry jumps through the executable's own GOT slot, which we patch, so the
 * real function is the next module's definition. */
void *shim_real_definition(const char *name)
{
    void *p = dlsym(RTLD_DEFAULT, name);
    Dl_info di;
    const ElfW(Sym) *sym = NULL;
    if (p && dladdr1(p, &di, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_shndx == SHN_UNDEF) {
        struct def_walk w = {name, (uintptr_t)p, NULL};
        dl_iterate_phdr(find_definition, &w);
        if (w.found)
            return w.found;
    }
    return p;
}

/* Preloaded: the definition after ours. Injected (inject.c): ours is not
 * in the global scope, the program's definition is the real one. */
void *shim_dlsym_next(const char *name)
{
    return shim_injected ? shim_real_definition(name) : dlsym(RTLD_NEXT, name);
}

pid_t shim_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

int shim_ready(void)
{
    return __atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == 2;
}

#define RESOLVE(field, name) shim_real.field = (__typeof__(shim_real.field))shim_dlsym_next(name)

void shim_init(void)
{
    if (SHIM_LIKELY(__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == 2))
        return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&init_state, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        if (init_thread)
            return; /* re-entered from dlsym on the initialising thread: use bootstrap */
        while (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != 2)
            util_cpu_relax();
        return;
    }
    init_thread = 1;
    shim_tls.busy = 1;
    if (!shim_injected) /* injected: inject.c loaded the attach's settings */
        shim_config_load();
    /* free first: anything dlsym allocates after malloc resolves must be
     * freeable by the same allocator. */
    RESOLVE(free, "free");
    RESOLVE(malloc, "malloc");
    RESOLVE(calloc, "calloc");
    RESOLVE(realloc, "realloc");
    RESOLVE(reallocarray, "reallocarray");
    RESOLVE(posix_memalign, "posix_memalign");
    RESOLVE(aligned_alloc, "aligned_alloc");
    RESOLVE(memalign, "memalign");
    RESOLVE(valloc, "valloc");
    RESOLVE(pvalloc, "pvalloc");
    RESOLVE(malloc_usable_size, "malloc_usable_size");
    if (!shim_real.malloc || !shim_real.free || !shim_real.calloc || !shim_real.realloc) {
        static const char msg[] = "leakaudit: cannot find the real malloc/free (dlsym RTLD_NEXT)\n";
        if (write(2, msg, sizeof(msg) - 1) < 0) {
        }
        _exit(127);
    }
    if (shim_cfg.off) {
        /* A setuid/setgid program root did not allow (config.c): real
         * functions only; shim_active and shim_fast_mode stay 0. */
        shim_tls.busy = 0;
        init_thread = 0;
        __atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
        return;
    }
    shim_heap_init();
    if (shim_cfg.guard)
        shim_guard_init();
    shim_fd_init();
    shim_mmap_init();
    shim_tls.busy = 0;
    init_thread = 0;
    __atomic_store_n(&shim_active, 1, __ATOMIC_RELEASE);
    int fast = shim_cfg.track_heap ? shim_cfg.mode : 0;
    if (shim_cfg.guard & SHIM_GUARD_CANARY)
        fast = SHIM_FAST_GUARD; /* every block gets redzones, whatever track_heap says */
    else if (shim_guard_pages_only && !shim_cfg.track_heap)
        fast = SHIM_FAST_PAGES;
    __atomic_store_n(&shim_fast_mode, fast, __ATOMIC_RELEASE);
    __atomic_store_n(&shim_fast_sampled, fast == SNAP_MODE_SAMPLED && !shim_guard_pages_only,
                     __ATOMIC_RELEASE);
    if (shim_fast_sampled)
        shim_heap_coarse_enable();
    __atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
}

/* ---- fork: keep shim-internal locks consistent in the child ---- */

static void fork_prepare(void)
{
    shim_snapshot_fork_prepare();
    shim_mmap_fork_prepare();
    shim_guard_fork_prepare();
    shim_heap_layout_hold(); /* a child must not inherit a half-grown table */
}

static void fork_parent(void)
{
    shim_heap_layout_release();
    shim_guard_fork_release();
    shim_mmap_fork_parent();
    shim_snapshot_fork_parent();
}

static void fork_child(void)
{
    shim_guard_fork_release();
    shim_unwind_fork_child();
    shim_heap_after_fork_child();
    shim_res_after_fork_child();
    shim_mmap_fork_child();
    shim_snapshot_fork_child();
}

/* Loaded by dlopen into a running process rather than preloaded: then
 * nothing starts until the injector calls leakaudit_inject_start
 * (inject.c). The loader's module list is in load order: a preloaded
 * library comes before libc (which the program needs and so loads after
 * the preloads), a dlopen'ed one after it. (Comparing dlsym(RTLD_DEFAULT,
 * "malloc") with our own is not enough: a non-PIE program that takes
 * malloc's address, python3 among them, exports a canonical PLT entry for
 * it, which dlsym returns.) */
struct load_order {
    int index, self, libc;
};

static int find_order(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct load_order *o = arg;
    uintptr_t self = (uintptr_t)&find_order;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && self >= lo && self < lo + ph->p_memsz)
            o->self = o->index;
    }
    const char *n = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
    n = n ? n + 1 : info->dlpi_name ? info->dlpi_name : "";
    if (o->libc < 0 && (!strncmp(n, "libc.so", 7) || !strncmp(n, "libc-", 5)))
        o->libc = o->index;
    o->index++;
    return 0;
}

static int loaded_late(void)
{
    if (shim_ready())
        return 0; /* a malloc already came through us: preloaded */
    struct load_order o = {0, -1, -1};
    dl_iterate_phdr(find_order, &o);
    return o.self >= 0 && o.libc >= 0 && o.self > o.libc;
}

/*
 * The start-up work below (unwind tables, settings, snapshot set-up) runs
 * deep on the main thread's stack before main. The frames the program later
 * builds there (__libc_start_call_main's jump buffer, main's padding) keep
 * whatever of it they never overwrite, and the reachability scan reads
 * those frames: a stale half-overwritten pointer of ours (0x7f..00000000)
 * made a lost 32 MiB block that happened to span it "possibly lost" in
 * ~1 run of 75 (tests/reach, case_big). So the shim clears what it used.
 */
static __attribute__((noinline)) void scrub_dead_stack(void)
{
    volatile char used[64 << 10];
    memset((char *)used, 0, sizeof(used));
    __asm__ volatile("" ::"r"(used) : "memory");
}

__attribute__((constructor(101))) static void shim_constructor(void)
{
    if (loaded_late()) {
        shim_injected = 1;
        return;
    }
    shim_init();
    if (shim_cfg.off)
        return;
    SHIM_UNTRACKED({
        shim_unwind_init();
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        shim_snapshot_init();
        shim_termsig_init();
        shim_res_init();
    });
    scrub_dead_stack();
}

uint64_t shim_exit_sp;

#define CXX_FREERES_SYMBOL "_ZN9__gnu_cxx9__freeresEv" /* __gnu_cxx::__freeres() */

/* The exit snapshot (and its reachability scan): after every destructor. */
static __attribute__((noinline)) void shim_exit_late(void)
{
    /* The caller's stack pointer before the call: our canonical frame
     * address (frame pointer + 16 on x86-64; on aarch64 the frame record is
     * at the bottom of the frame, so only the CFA says where it ends). */
    __atomic_store_n(&shim_exit_sp, (uint64_t)(uintptr_t)__builtin_dwarf_cfa(), __ATOMIC_RELEASE);
    if (shim_cfg.guard)
        SHIM_UNTRACKED(shim_guard_scan()); /* last look at every redzone */
    if (shim_cfg.reachability && shim_cfg.mode == SNAP_MODE_FULL && shim_cfg.track_heap) {
        /* As valgrind does by default (--run-cxx-freeres=yes): libstdc++'s
         * emergency exception pool (~71 KiB, allocated at load, freed by no
         * destructor) is released before the scan. Its free is tracked. */
        void (*cxx_freeres)(void) = NULL;
        SHIM_UNTRACKED(cxx_freeres = (void (*)(void))dlsym(RTLD_DEFAULT, CXX_FREERES_SYMBOL));
        if (cxx_freeres)
            cxx_freeres();
    }
    SHIM_UNTRACKED(shim_snapshot_write(SNAP_TRIGGER_EXIT));
}

/*
 * The loader runs this destructor before those of the libraries loaded
 * after the shim (gnutls, p11-kit, libstdc++'s emergency pool...), which
 * free memory a scan now would count. So it only registers shim_exit_late
 * with atexit: glibc's exit restarts its handler list when a handler (here
 * _dl_fini, running every destructor) registers another, so that runs once
 * every destructor has. Only stdio's final flush and _exit come after it.
 * If registering fails (exit handlers already done), the snapshot is taken
 * now.
 */
__attribute__((destructor(101))) static void shim_destructor(void)
{
    if (!shim_ready() || shim_cfg.off)
        return;
    if (shim_injected && !shim_inject_active())
        return; /* detached (attach --inject): dormant, nothing more is written */
    if (atexit(shim_exit_late) != 0)
        shim_exit_late();
}
