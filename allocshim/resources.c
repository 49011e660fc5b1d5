/*
 * Paired C-API resources in the shim (docs/resources.md): handles of a
 * create/destroy API and references of a ref/unref API, tracked by stack,
 * with use-after-destroy and double-destroy reported as corruption events.
 *
 * The functions are named at run time (LEAKAUDIT_TRACK_RESOURCES, parsed by
 * common/resspec.c), so LD_PRELOAD symbol interposition cannot reach them.
 * Instead every loaded module's GOT is patched (common/got_patch.c): each
 * import of a tracked symbol is rewritten to one of a fixed table of
 * wrappers. The wrappers have a generic signature -- six integer
 * arguments, a two-register integer return -- which covers handle-passing
 * APIs on x86_64 SysV and aarch64 AAPCS; see "Limits" in docs/resources.md.
 * Modules loaded later are patched after dlopen (when calling dlopen from
 * the shim cannot change how it resolves the name) and at every snapshot
 * when the loader's module count has changed. Calls a library makes to its
 * own functions without going through its PLT are not seen.
 *
 * This file is the glue: the specs, the wrappers, patching imports and
 * dlopen. Per-object state and what a call does to it: res_table.c.
 */
#include "got_patch.h"
#include "procfs.h"
#include "res_int.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#define RES_FILE_MAX (64 * 1024) /* LEAKAUDIT_TRACK_FILE (docs/resources.md, "Limits") */

/* Two integer registers back (rax:rdx, x0:x1): covers pointers, integers
 * and small structs returned in registers. */
typedef unsigned __int128 res_ret_t;
typedef res_ret_t (*res_fn_t)(uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t);

struct res_spec_set shim_res_spec;
static int res_enabled;
static res_fn_t real_fns[RES_MAX_FUNCS];
static uint32_t patched_slots[RES_MAX_FUNCS];
static int patch_lock;
static unsigned long long last_adds;
static uint64_t c_other_definition, c_not_patched_dlopen; /* docs/resources.md */

/* ---- the wrappers ---- */

static inline uintptr_t arg_of(const uintptr_t *a, uint32_t n)
{
    return n <= RES_MAX_ARG ? a[n] : 0;
}

/* Reads *(void **)p; 0 for a NULL p (the real function decides what a bad
 * pointer does, and it is called with the same one). */
static inline uintptr_t deref(uintptr_t p)
{
    return p ? *(const uintptr_t *)p : 0;
}

/* Tracked calls in progress on this thread: a tracked function that calls
 * another one (vendor_open -> vendor_create through its own PLT) is one
 * API call, recorded once, by the outermost. */
static SHIM_TLS int res_depth;

static inline int tracking(void)
{
    return res_enabled && shim_active && !shim_tls.busy && !res_depth;
}

/* Before the real call: destroy, unref and use act on the handle while it is
 * still valid; create with an out-pointer remembers the old value. */
static inline __attribute__((always_inline)) uintptr_t res_before(uint32_t fn, const uintptr_t *a,
                                                                  void *frame, void *ret)
{
    const struct res_func *f = &shim_res_spec.funcs[fn];
    if (f->role == RES_ROLE_CREATE || (f->role == RES_ROLE_REF && f->loc == RES_LOC_RET))
        return f->loc == RES_LOC_DEREF_ARG ? deref(arg_of(a, f->arg)) : 0;
    uintptr_t h = f->loc == RES_LOC_DEREF_ARG ? deref(arg_of(a, f->arg)) : arg_of(a, f->arg);
    if (!h)
        return 0;
    int saved = errno;
    shim_tls.busy = 1;
    uint32_t stack = shim_capture_stack_id(frame, ret);
    switch (f->role) {
    case RES_ROLE_DESTROY:
        res_on_destroy(f->kind, fn, h, stack);
        break;
    case RES_ROLE_REF:
        res_on_ref(f->kind, fn, h, stack, +1);
        break;
    case RES_ROLE_UNREF:
        res_on_ref(f->kind, fn, h, stack, -1);
        break;
    default:
        res_on_use(f->kind, fn, h, stack);
        break;
    }
    shim_tls.busy = 0;
    errno = saved;
    return 0;
}

/* After the real call: a create records the handle it made. */
static inline __attribute__((always_inline)) void
res_after(uint32_t fn, const uintptr_t *a, uintptr_t before, uintptr_t rv, void *frame, void *ret)
{
    const struct res_func *f = &shim_res_spec.funcs[fn];
    if (f->role != RES_ROLE_CREATE && !(f->role == RES_ROLE_REF && f->loc == RES_LOC_RET))
        return;
    uintptr_t h = rv;
    if (f->loc == RES_LOC_DEREF_ARG) {
        h = deref(arg_of(a, f->arg));
        if (h == before) /* not written: the call failed */
            return;
    } else if (f->loc == RES_LOC_ARG) {
        h = arg_of(a, f->arg);
    }
    if (!h)
        return;
    int saved = errno;
    shim_tls.busy = 1;
    uint32_t stack = shim_capture_stack_id(frame, ret);
    if (f->role == RES_ROLE_CREATE)
        res_on_create(f->kind, h, stack);
    else
        res_on_ref(f->kind, fn, h, stack, +1);
    shim_tls.busy = 0;
    errno = saved;
}

#define RES_WRAP(HI, LO)                                                                           \
    static res_ret_t wrap_##HI##_##LO(uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3,      \
                                      uintptr_t a4, uintptr_t a5)                                  \
    {                                                                                              \
        const uint32_t fn = HI * 16 + LO;                                                          \
        if (!tracking())                                                                           \
            return real_fns[fn](a0, a1, a2, a3, a4, a5);                                           \
        uintptr_t a[6] = {a0, a1, a2, a3, a4, a5};                                                 \
        void *frame = __builtin_frame_address(0), *ret = __builtin_return_address(0);              \
        uintptr_t before = res_before(fn, a, frame, ret);                                          \
        res_depth++;                                                                               \
        res_ret_t r = real_fns[fn](a0, a1, a2, a3, a4, a5);                                        \
        res_depth--;                                                                               \
        res_after(fn, a, before, (uintptr_t)r, frame, ret);                                        \
        return r;                                                                                  \
    }
// clang-format off (it does not settle on one layout for this list)
#define RES_WRAP16(HI)                                                                             \
    RES_WRAP(HI, 0)                                                                                \
    RES_WRAP(HI, 1)                                                                                \
    RES_WRAP(HI, 2)                                                                                \
    RES_WRAP(HI, 3)                                                                                \
    RES_WRAP(HI, 4)                                                                                \
    RES_WRAP(HI, 5)                                                                                \
    RES_WRAP(HI, 6)                                                                                \
    RES_WRAP(HI, 7)                                                                                \
    RES_WRAP(HI, 8)                                                                                \
    RES_WRAP(HI, 9)                                                                                \
    RES_WRAP(HI, 10)                                                                               \
    RES_WRAP(HI, 11)                                                                               \
    RES_WRAP(HI, 12)                                                                               \
    RES_WRAP(HI, 13)                                                                               \
    RES_WRAP(HI, 14)                                                                               \
    RES_WRAP(HI, 15)
// clang-format on
RES_WRAP16(0)
RES_WRAP16(1)
RES_WRAP16(2)
RES_WRAP16(3)
RES_WRAP16(4)
RES_WRAP16(5)
RES_WRAP16(6)
RES_WRAP16(7)
#define RES_REF16(HI)                                                                              \
    wrap_##HI##_0, wrap_##HI##_1, wrap_##HI##_2, wrap_##HI##_3, wrap_##HI##_4, wrap_##HI##_5,      \
        wrap_##HI##_6, wrap_##HI##_7, wrap_##HI##_8, wrap_##HI##_9, wrap_##HI##_10,                \
        wrap_##HI##_11, wrap_##HI##_12, wrap_##HI##_13, wrap_##HI##_14, wrap_##HI##_15
static const res_fn_t wrappers[RES_MAX_FUNCS] = {RES_REF16(0), RES_REF16(1), RES_REF16(2),
                                                 RES_REF16(3), RES_REF16(4), RES_REF16(5),
                                                 RES_REF16(6), RES_REF16(7)};
_Static_assert(RES_MAX_FUNCS == 8 * 16, "one wrapper per trackable function");

/* ---- GOT patching (common/got_patch.h) ---- */

static int module_wanted(const char *module, void *arg)
{
    const char *base = strrchr(module, '/');
    base = base ? base + 1 : module;
    for (uint32_t p = 0; p < shim_res_spec.n_patterns; p++)
        if (res_glob_match(shim_res_spec.patterns[p].lib, base))
            return 1;
    return 0;
}

static void offer_symbol(const char *module, const char *symbol, void *arg)
{
    res_spec_offer_symbol(&shim_res_spec, module, symbol);
}

static int wanted(const char *module, const char *symbol, void *arg)
{
    int fn = res_spec_find(&shim_res_spec, symbol);
    return fn < 0 || res_spec_excluded(&shim_res_spec, shim_res_spec.funcs[fn].kind, module) ? -1
                                                                                             : fn;
}

static void set_real(uint32_t fn, uintptr_t target)
{
    res_fn_t cur = __atomic_load_n(&real_fns[fn], __ATOMIC_ACQUIRE);
    if (!cur)
        __atomic_store_n(&real_fns[fn], (res_fn_t)target, __ATOMIC_RELEASE);
    else if ((uintptr_t)cur != target)
        c_other_definition++; /* two definitions of one name: the first wins */
}

static uintptr_t replacement(int fn, uintptr_t current, uintptr_t target, void *arg)
{
    if (current == (uintptr_t)wrappers[fn])
        return 0;
    set_real((uint32_t)fn, target);
    if (real_fns[fn] != (res_fn_t)target)
        return 0; /* this module binds elsewhere: leave its calls alone */
    return (uintptr_t)wrappers[fn];
}

static void patched(int fn, void *arg)
{
    patched_slots[fn]++;
}

/* Patches every loaded module (idempotent: patched slots are skipped). */
static void rescan(void *handle)
{
    static const struct got_patch_ops ops = {wanted, replacement, patched, NULL};
    int saved_busy = shim_tls.busy;
    shim_tls.busy = 1; /* dlsym may allocate */
    shim_spin_lock(&patch_lock);
    if (!__atomic_load_n(&res_enabled, __ATOMIC_ACQUIRE)) { /* detached meanwhile */
        shim_spin_unlock(&patch_lock);
        shim_tls.busy = saved_busy;
        return;
    }
    last_adds = got_loader_adds();
    if (shim_res_spec.n_patterns) {
        got_for_each_export(module_wanted, offer_symbol, NULL);
        res_spec_resolve_patterns(&shim_res_spec);
    }
    got_patch_all(&ops, handle);
    shim_spin_unlock(&patch_lock);
    shim_tls.busy = saved_busy;
}

/* ---- dlopen ---- */

/* True when the caller's own search path (DT_RPATH / DT_RUNPATH, $ORIGIN)
 * decides where `file` is found: then dlopen must be called by the caller,
 * not by the shim, or the library could be looked up elsewhere. */
static int needs_caller_context(const char *file, void *caller)
{
    if (!file || (strchr(file, '/') && !strchr(file, '$')))
        return 0;
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1(caller, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm || !lm->l_ld)
        return 1;
    if (strchr(file, '$'))
        return 1;
    for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_RPATH || d->d_tag == DT_RUNPATH)
            return 1;
    return 0;
}

static void *(*real_dlopen)(const char *, int);

static __attribute__((noinline)) void *dlopen_and_patch(const char *file, int mode)
{
    void *h = real_dlopen(file, mode);
    if (h && res_enabled && !shim_tls.busy)
        rescan(h);
    if (h && !shim_tls.busy)
        shim_inject_rescan(h); /* attach --inject: the new module's imports */
    return h;
}

SHIM_EXPORT void *dlopen(const char *file, int mode)
{
    if (!real_dlopen)
        real_dlopen = (void *(*)(const char *, int))shim_dlsym_next("dlopen");
    /* Without resource tracking there is nothing to patch: always a tail
     * call, so the loader sees the program's caller ($ORIGIN, RUNPATH). */
    if (!res_enabled && !shim_inject_active())
        return real_dlopen(file, mode);
    if (!needs_caller_context(file, __builtin_return_address(0)))
        return dlopen_and_patch(file, mode);
    /* A tail call: the loader sees the program's caller. Patched at the
     * next snapshot instead. */
    __atomic_fetch_add(&c_not_patched_dlopen, 1, __ATOMIC_RELAXED);
    return real_dlopen(file, mode);
}

/* ---- configuration and init ---- */

static void say(const char *a, const char *b, const char *c)
{
    if (shim_cfg.quiet)
        return;
    const char *parts[] = {"leakaudit: ", a, b, c, "\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            return;
}

/* Parses the specs (a '|'-separated list, and/or a spec file's path) and
 * starts tracking: the table mapped (or emptied), every import patched. */
static void res_start(const char *specs, const char *file)
{
    if ((!specs || !*specs) && (!file || !*file))
        return;
    static char text[RES_FILE_MAX];
    char err[256];
    res_spec_init(&shim_res_spec);
    if (specs && *specs && res_spec_parse(&shim_res_spec, specs, err, sizeof(err)) < 0) {
        say("LEAKAUDIT_TRACK_RESOURCES: ", err, "; resources are not tracked");
        return;
    }
    if (file && *file) {
        if (procfs_read_file(file, text, sizeof(text)) < 0) {
            say("LEAKAUDIT_TRACK_FILE: cannot read ", file, "; resources are not tracked");
            return;
        }
        if (res_spec_parse(&shim_res_spec, text, err, sizeof(err)) < 0) {
            say(file, ": ", err);
            return;
        }
    }
    if (res_table_init() < 0) {
        say("cannot map memory for resource tracking", "", "");
        return;
    }
    __atomic_store_n(&res_enabled, 1, __ATOMIC_RELEASE);
    rescan(NULL);
}

void shim_res_init(void)
{
    res_start(shim_getenv(audit_env(AUDIT_TRACK_RESOURCES)),
              shim_getenv(audit_env(AUDIT_TRACK_FILE)));
}

/* attach --inject. A new attach starts a new series: the function table
 * is refilled by the new specs' patching (a thread still inside a wrapper
 * of the previous attach read its real function when it entered), the
 * object table starts empty. */
void shim_res_inject_start(const char *specs, const char *file)
{
    memset(real_fns, 0, sizeof(real_fns));
    memset(patched_slots, 0, sizeof(patched_slots));
    c_other_definition = c_not_patched_dlopen = 0;
    res_start(specs, file);
}

/* Detach: every slot that goes to a wrapper goes back to the function it
 * replaced (real_fns stays set: a thread that read the slot before the
 * restore still calls through the wrapper, which now only passes on). */
static uintptr_t to_real(int fn, uintptr_t current, uintptr_t target, void *arg)
{
    return current == (uintptr_t)wrappers[fn] ? (uintptr_t)real_fns[fn] : 0;
}

void shim_res_inject_stop(void)
{
    if (!__atomic_load_n(&res_enabled, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n(&res_enabled, 0, __ATOMIC_RELEASE);
    static const struct got_patch_ops ops = {wanted, to_real, NULL, NULL};
    int saved_busy = shim_tls.busy;
    shim_tls.busy = 1; /* dlsym may allocate */
    shim_spin_lock(&patch_lock);
    got_patch_all(&ops, NULL);
    shim_spin_unlock(&patch_lock);
    shim_tls.busy = saved_busy;
}

void shim_res_after_fork_child(void)
{
    res_table_fork_child();
    patch_lock = 0;
}

/* ---- snapshots ---- */

void shim_res_snapshot(struct snap_writer *w)
{
    if (!res_enabled)
        return;
    if (got_loader_adds() != __atomic_load_n(&last_adds, __ATOMIC_RELAXED))
        rescan(NULL);
    res_table_write(w);
}

void shim_res_write_events(struct snap_writer *w)
{
    if (res_enabled)
        res_table_write_events(w);
}

/* Only what means lost data is a loss counter: a full table, a dropped
 * event, a module patched late (calls before the patch were not seen). */
void shim_res_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg)
{
    if (res_enabled)
        res_table_mark_stacks(mark, arg);
}

void shim_res_loss_counters(shim_loss_cb cb, void *arg)
{
    if (!res_enabled)
        return;
    res_table_loss_counters(cb, arg);
    cb(SNAP_LOSS_RESOURCE_DLOPEN_PATCHED_LATE, c_not_patched_dlopen, arg);
}
