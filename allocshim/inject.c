/*
 * The shim loaded into a running process (`leakaudit attach --inject`,
 * docs/inject.md) instead of preloaded at its start.
 *
 * tracer/inject.c makes the target dlopen this library, then calls
 * leakaudit_inject_start with the settings (LEAKAUDIT_*=value lines, the
 * same names as the environment of a preloaded shim). Nothing interposes on
 * a dlopen'ed library, so the hooks are installed by rewriting the GOT
 * slots of every loaded module (common/got_patch.c) that resolve to the
 * real malloc family, C++ operators, fd and mmap functions and dlopen;
 * modules loaded later are patched from our dlopen and at every snapshot.
 * The real functions are what the program's global scope resolves
 * (dlsym(RTLD_DEFAULT)): libc's, or a preloaded allocator's.
 *
 * Blocks allocated before the attach enter the table when glibc's heap
 * can be walked (prior_heap.c); then the reachability scan runs too.
 * Otherwise their frees pass through (heap_free_before_attach) and the scan
 * is off (new blocks that only old ones point to would look lost). Guard
 * mode needs every block's redzones, so it is refused.
 *
 * leakaudit_inject_stop writes the final snapshot, puts every patched slot
 * back to the real function, and stops the snapshot thread. The library
 * stays mapped (never dlclose'd: a thread may still be inside a hook) and a
 * later attach starts it again.
 */
#include "allocators.h"
#include "got_patch.h"
#include "interrupted.h"
#include "shim.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <unistd.h>

int shim_injected;              /* loaded by dlopen into a running process */
int shim_reach_every_snapshot;  /* attach --inject --reachability=always */
static int inject_active;       /* between start and stop */
static int inject_lock;         /* start, stop and rescans */
static unsigned long long adds; /* got_loader_adds() at the last patch */

/* The imports rewritten to our definitions (see exports.map: all but the
 * exit, signal and thread hooks, which only matter from a process's start). */
static const char *const hooked[] = {"malloc",
                                     "free",
                                     "calloc",
                                     "realloc",
                                     "reallocarray",
                                     "posix_memalign",
                                     "aligned_alloc",
                                     "memalign",
                                     "valloc",
                                     "pvalloc",
                                     "malloc_usable_size",
                                     ALLOC_CXX_NEW_NAMES,
                                     ALLOC_CXX_DELETE_NAMES,
                                     "open",
                                     "open64",
                                     "openat",
                                     "openat64",
                                     "__open_2",
                                     "__open64_2",
                                     "__openat_2",
                                     "__openat64_2",
                                     "creat",
                                     "creat64",
                                     "dup",
                                     "dup2",
                                     "dup3",
                                     "fcntl",
                                     "fcntl64",
                                     "close",
                                     "close_range",
                                     "socket",
                                     "socketpair",
                                     "accept",
                                     "accept4",
                                     "pipe",
                                     "pipe2",
                                     "eventfd",
                                     "memfd_create",
                                     "timerfd_create",
                                     "signalfd",
                                     "epoll_create",
                                     "epoll_create1",
                                     "inotify_init",
                                     "inotify_init1",
                                     "fopen",
                                     "fopen64",
                                     "freopen",
                                     "fclose",
                                     "opendir",
                                     "closedir",
                                     "recvmsg",
                                     "ioctl",
                                     "posix_openpt",
                                     "mmap",
                                     "mmap64",
                                     "munmap",
                                     "mremap",
                                     "dlopen"};
#define N_HOOKED (sizeof(hooked) / sizeof(hooked[0]))

/* alias: the executable's canonical PLT entry for the function, when it
 * exports one (other modules' slots point there); 0 otherwise. */
static uintptr_t ours[N_HOOKED], real[N_HOOKED], alias[N_HOOKED];
static uint64_t slots_patched;

/* ---- settings: "NAME=value" lines instead of the environment ---- */

/* the text, and the empty line that ends the list */
#define SETTINGS_MAX (AUDIT_INJECT_SETTINGS_MAX + 1)
/* attach --inject only: when the reachability scan runs ("always": every
 * snapshot; otherwise at detach) */
#define INJECT_REACH_WHEN "LEAKAUDIT_INJECT_REACH"
static char settings[SETTINGS_MAX];

/* settings holds the lines NUL-terminated, then an empty one. */
static const char *settings_get(const char *name)
{
    size_t n = strlen(name);
    for (const char *p = settings; *p; p += strlen(p) + 1)
        if (!strncmp(p, name, n) && p[n] == '=')
            return p + n + 1;
    return NULL;
}

static void settings_warn(const char *var, const char *val)
{
    const char *parts[] = {"leakaudit: ignoring ", var, "=", val, ": invalid value\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            return;
}

static void settings_load(const char *text)
{
    memset(settings, 0, sizeof(settings));
    util_strlcpy(settings, text ? text : "", AUDIT_INJECT_SETTINGS_MAX);
    for (char *p = settings; (p = strchr(p, '\n'));)
        *p++ = 0;
    audit_config_load(&shim_cfg, settings_get, settings_warn);
}

/* ---- GOT patching ---- */

static int hook_index(const char *symbol)
{
    for (size_t i = 0; i < N_HOOKED; i++)
        if (!strcmp(hooked[i], symbol))
            return (int)i;
    return -1;
}

static int wanted(const char *module, const char *symbol, void *arg)
{
    (void)module;
    (void)arg;
    int i = hook_index(symbol);
    return i >= 0 && ours[i] ? i : -1;
}

/* Attach: slots that go to the real function go to ours instead (a
 * module bound elsewhere -- its own malloc -- is left alone). */
static uintptr_t to_ours(int i, uintptr_t current, uintptr_t target, void *arg)
{
    (void)current;
    (void)arg;
    return target == real[i] || (alias[i] && target == alias[i]) ? ours[i] : 0;
}

/* Detach: every slot that goes to ours goes back to the real function. */
static uintptr_t to_real(int i, uintptr_t current, uintptr_t target, void *arg)
{
    (void)target;
    (void)arg;
    return current == ours[i] ? real[i] : 0;
}

static void count_patched(int i, void *arg)
{
    (void)i;
    (void)arg;
    slots_patched++;
}

static void patch(void *handle)
{
    struct got_patch_ops ops = {wanted, to_ours, count_patched, NULL};
    adds = got_loader_adds();
    got_patch_all(&ops, handle);
}

/* A dlopen'ed module, or the loader's count changed since (snapshots). */
void shim_inject_rescan(void *handle)
{
    if (!__atomic_load_n(&inject_active, __ATOMIC_ACQUIRE))
        return;
    if (!handle && got_loader_adds() == adds)
        return;
    int busy = shim_tls.busy;
    shim_tls.busy = 1;
    shim_spin_lock(&inject_lock);
    if (inject_active)
        patch(handle);
    shim_spin_unlock(&inject_lock);
    shim_tls.busy = busy;
}

int shim_inject_active(void)
{
    return __atomic_load_n(&inject_active, __ATOMIC_ACQUIRE);
}

static int resolve_hooks(void)
{
    Dl_info info;
    if (!dladdr((void *)&resolve_hooks, &info) || !info.dli_fname)
        return -ENOENT;
    void *self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (!self)
        return -ENOENT;
    for (size_t i = 0; i < N_HOOKED; i++) {
        ours[i] = (uintptr_t)dlsym(self, hooked[i]);
        real[i] = (uintptr_t)shim_real_definition(hooked[i]);
        uintptr_t global = (uintptr_t)dlsym(RTLD_DEFAULT, hooked[i]);
        alias[i] = global != real[i] ? global : 0;
        if (ours[i] == real[i] || !real[i])
            ours[i] = 0; /* not ours to hook (or we are the global definition) */
    }
    dlclose(self); /* only the reference RTLD_NOLOAD took */
    return 0;
}

/* ---- the entry points the injector calls ---- */

/* 0, or a negative errno: -EALREADY (attached now, or the shim was
 * preloaded), -EINVAL (guard mode asked for), -ENOENT (own symbols not
 * found). */
/* Every patched slot back to the real function: the resource wrappers
 * first (a tracked function the hooks also cover, fopen, was wrapped over
 * our hook, and goes back to it, then to libc), then the hooks. */
static void unpatch_all(void)
{
    struct got_patch_ops ops = {wanted, to_real, NULL, NULL};
    shim_res_inject_stop();
    SHIM_UNTRACKED(got_patch_all(&ops, NULL));
}

/*
 * A child forked while attached runs without us: `attach --inject -p PID`
 * audits PID alone (as the eBPF attach does), and nobody would ever detach
 * the child, which would stay hooked for the rest of its life (a pre-fork
 * server's workers) with a table nobody reads. Threads that held our locks
 * at the fork do not exist here; the locks are released first.
 */
static void inject_fork_child(void)
{
    if (!__atomic_load_n(&inject_active, __ATOMIC_ACQUIRE))
        return;
    inject_lock = 0;
    shim_heap_after_fork_child();
    shim_res_after_fork_child();
    unpatch_all();
    __atomic_store_n(&inject_active, 0, __ATOMIC_RELEASE);
}

const struct interrupted_thread *shim_interrupted;
pid_t shim_interrupted_tid;

/* The thread the attaching process called in, for the scan (shim.h), from
 * the injector's second argument; interrupted_end when the call returns. */
static void interrupted_begin(const struct interrupted_thread *it)
{
    if (!it || it->magic != INTERRUPTED_MAGIC || it->n_regs > INTERRUPTED_MAX_REGS)
        return;
    shim_interrupted_tid = shim_gettid();
    __atomic_store_n(&shim_interrupted, it, __ATOMIC_RELEASE);
}

static void interrupted_end(void)
{
    __atomic_store_n(&shim_interrupted, NULL, __ATOMIC_RELEASE);
}

static int inject_start(const char *text);

SHIM_EXPORT int leakaudit_inject_start(const char *text, const struct interrupted_thread *it)
{
    interrupted_begin(it);
    int rc = inject_start(text);
    interrupted_end();
    return rc;
}

static int inject_start(const char *text)
{
    if (!shim_injected)
        return -EALREADY; /* preloaded: already auditing from the start */
    int rc = 0;
    shim_spin_lock(&inject_lock);
    if (inject_active) {
        rc = -EALREADY;
        goto out;
    }
    settings_load(text);
    if (shim_cfg.guard) {
        rc = -EINVAL;
        goto out;
    }
    /* reachability needs the blocks from before the attach: decided once
     * they are enumerated (after the hooks are in) */
    int reach = shim_cfg.reachability;
    const char *when = settings_get(INJECT_REACH_WHEN);
    shim_cfg.reachability = 0;
    /* A single-threaded target stays so (glibc's malloc is lock-free only
     * then: a thread of ours would cost it ~4 % of every call); its
     * snapshots come from its allocations and from leakaudit_inject_poll. */
    shim_cfg.thread_always |= !__libc_single_threaded;
    if (!shim_ready()) {
        shim_init();
        SHIM_UNTRACKED({
            shim_unwind_init();
            shim_snapshot_init();
        });
    } else {
        SHIM_UNTRACKED(shim_snapshot_restart());
    }
    if (!shim_active) {
        rc = -ENOENT;
        goto out;
    }
    rc = resolve_hooks();
    static int atfork_set; /* once: the library is never unloaded */
    if (rc == 0 && !atfork_set)
        rc = pthread_atfork(NULL, NULL, inject_fork_child) ? -ENOMEM : (atfork_set = 1, 0);
    if (rc == 0) {
        __atomic_store_n(&inject_active, 1, __ATOMIC_RELEASE);
        SHIM_UNTRACKED(patch(NULL));
        SHIM_UNTRACKED(shim_res_inject_start(settings_get(audit_env(AUDIT_TRACK_RESOURCES)),
                                             settings_get(audit_env(AUDIT_TRACK_FILE))));
        SHIM_UNTRACKED(shim_prior_heap_load());
        shim_cfg.reachability = reach && shim_prior_heap_enumerated();
        shim_reach_every_snapshot = shim_cfg.reachability && when && !strcmp(when, "always");
    }
out:
    shim_spin_unlock(&inject_lock);
    return rc;
}

/* The attaching process, every interval while a target without the
 * snapshot thread has written none: the periodic snapshot if due. 1 if
 * written, 0 if not due (or the thread takes them), -ENOENT when not
 * attached. */
SHIM_EXPORT int leakaudit_inject_poll(const char *unused, const struct interrupted_thread *it)
{
    (void)unused;
    if (!__atomic_load_n(&inject_active, __ATOMIC_ACQUIRE))
        return -ENOENT;
    int busy = shim_tls.busy, rc;
    shim_tls.busy = 1;
    interrupted_begin(it);
    rc = shim_snapshot_due_now();
    interrupted_end();
    shim_tls.busy = busy;
    return rc;
}

/* The final snapshot, every slot back, the snapshot thread stopped. 0, or
 * -ENOENT when not attached. */
SHIM_EXPORT int leakaudit_inject_stop(const char *unused, const struct interrupted_thread *it)
{
    (void)unused;
    shim_spin_lock(&inject_lock);
    if (!inject_active) {
        shim_spin_unlock(&inject_lock);
        return -ENOENT;
    }
    /* the final snapshot while still attached: what is live at detach */
    interrupted_begin(it);
    SHIM_UNTRACKED(shim_snapshot_write(SNAP_TRIGGER_DETACH));
    interrupted_end();
    unpatch_all();
    __atomic_store_n(&inject_active, 0, __ATOMIC_RELEASE);
    shim_spin_unlock(&inject_lock);
    SHIM_UNTRACKED({
        shim_snapshot_stop_thread();
        shim_heap_clear(); /* a later attach starts from what it sees */
    });
    return 0;
}
