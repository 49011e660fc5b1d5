/*
 * Paired C-API resources in the shim (docs/resources.md): handles of a
 * create/destroy API and references of a ref/unref API, tracked by stack,
 * with use-after-destroy and double-destroy reported as corruption events.
 *
 * The functions are named at run time (LEAKAUDIT_TRACK_RESOURCES, parsed by
 * common/resspec.c), so LD_PRELOAD symbol interposition cannot reach them.
 * Instead every loaded module's GOT is patched: for each JUMP_SLOT and
 * GLOB_DAT relocation against a tracked symbol the slot is rewritten to one
 * of a fixed table of wrappers (RELRO pages are made writable for the
 * write and restored). The wrappers have a generic signature -- six integer
 * arguments, a two-register integer return -- which covers handle-passing
 * APIs on x86_64 SysV and aarch64 AAPCS; see "Limits" in docs/resources.md.
 * Modules loaded later are patched after dlopen (when calling dlopen from
 * the shim cannot change how it resolves the name) and at every snapshot
 * when the loader's module count has changed. Calls a library makes to its
 * own functions without going through its PLT are not seen.
 *
 * Per-object state lives in a striped hash table in shim memory (like
 * heap.c): no allocation through the audited allocator, no global lock on
 * create/ref/unref/use. Destroyed handles stay as tombstones (bounded, the
 * oldest evicted first) so a later use or a second destroy is recognised.
 */
#include "resspec.h"
#include "shim.h"
#include "stacktable.h"
#include "util.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Limits (docs/resources.md, "Limits"). */
#define RES_OBJ_BITS        16 /* hash buckets for tracked objects */
#define RES_OBJ_LOCKS       256
#define RES_MAX_OBJECTS     (1u << 20)  /* live handles + tombstones */
#define RES_MAX_TOMBSTONES  (1u << 16)  /* destroyed handles remembered */
#define RES_STAT_BITS       16          /* (kind, stack) rows */
#define RES_MAX_EVENTS      1024        /* use-after-destroy / double-destroy events kept */
#define RES_EVENT_SNAPSHOTS 4           /* first events also write a snapshot at once */
#define RES_FILE_MAX        (64 * 1024) /* LEAKAUDIT_TRACK_FILE */
#define RES_PAGE            util_page_size()
#define RES_REF_STACKS      4 /* unmatched ref stacks remembered per object */

#if defined(__x86_64__)
#define RES_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define RES_R_GLOB_DAT  R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define RES_R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define RES_R_GLOB_DAT  R_AARCH64_GLOB_DAT
#else
#error "GOT patching: add this architecture's JUMP_SLOT / GLOB_DAT relocation types"
#endif

/* Two integer registers back (rax:rdx, x0:x1): covers pointers, integers
 * and small structs returned in registers. */
typedef unsigned __int128 res_ret_t;
typedef res_ret_t (*res_fn_t)(uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t);

enum { OBJ_LIVE = 1, OBJ_DESTROYED = 2 };
#define OBJ_REPORTED_USE    0x1u
#define OBJ_REPORTED_DOUBLE 0x2u

struct res_obj {
    struct res_obj *next;
    uintptr_t handle;
    uint16_t kind;
    uint8_t state;   /* OBJ_* */
    uint8_t created; /* seen created by a tracked create */
    int32_t count;   /* references we saw: 1 at create, +1 ref, -1 unref */
    uint32_t stack;  /* row: creating stack, or the ref that made it outstanding */
    uint32_t create_stack, destroy_stack;
    /* The most recent refs not yet matched by an unref, as a small LIFO:
     * an unref is taken to match the latest ref, so the top is the stack
     * of the last unmatched ref. Older ones fall off the bottom. */
    uint32_t ref_stacks[RES_REF_STACKS];
    uint8_t ref_top, ref_n;
    uint16_t destroy_fn;
    uint16_t reported;
    uint32_t gen; /* tombstone generation, for eviction */
    uint64_t created_ns;
};

struct res_stat {
    uint64_t key; /* (kind + 1) << 32 | stack; 0 = empty */
    uint64_t created, destroyed, refs, unrefs;
    /* filled by the snapshot writer only (serialized by the snapshot lock) */
    uint64_t snap_live, snap_oldest;
    int64_t snap_balance;
    uint32_t snap_last_ref;
    uint32_t pad;
};

struct tombstone {
    uintptr_t handle;
    uint32_t kind, gen;
};

static struct res_spec_set spec;
static int res_enabled;
static res_fn_t real_fns[RES_MAX_FUNCS];
static uint32_t patched_slots[RES_MAX_FUNCS];
static struct res_obj **obj_buckets;
static int obj_locks[RES_OBJ_LOCKS];
static struct res_obj *obj_pool;
static uint32_t obj_next;        /* atomic: bump index into obj_pool */
static struct res_obj *obj_free; /* recycled nodes, under free_lock */
static int free_lock;
static struct res_stat *stats;
static struct tombstone *tombs;
static uint64_t tomb_next; /* under tomb_lock */
static int tomb_lock;
static uint32_t tomb_gen;
static struct snap_corruption *events;
static uint32_t n_events; /* atomic: events claimed */
static int patch_lock;
static unsigned long long last_adds;
static char exe_path[SNAP_MAX_PATH];

/* Loss / information counters (docs/resources.md). */
static uint64_t c_objects_full, c_stats_full, c_events_dropped, c_events_repeated;
static uint64_t c_destroy_unknown, c_unref_unknown, c_other_definition, c_not_patched_dlopen;

/* ---- the object table ---- */

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return x;
}

static inline uint32_t bucket_of(uintptr_t handle, uint32_t kind)
{
    return (uint32_t)(mix(handle ^ ((uint64_t)kind << 56)) >> (64 - RES_OBJ_BITS));
}

static inline int *lock_of(uint32_t b)
{
    return &obj_locks[b & (RES_OBJ_LOCKS - 1)];
}

static struct res_obj *node_alloc(void)
{
    if (__atomic_load_n(&obj_free, __ATOMIC_RELAXED)) {
        shim_spin_lock(&free_lock);
        struct res_obj *n = obj_free;
        if (n)
            obj_free = n->next;
        shim_spin_unlock(&free_lock);
        if (n)
            return n;
    }
    uint32_t i = __atomic_fetch_add(&obj_next, 1, __ATOMIC_RELAXED);
    if (i >= RES_MAX_OBJECTS) {
        __atomic_fetch_add(&c_objects_full, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    return &obj_pool[i];
}

static void node_release(struct res_obj *n)
{
    shim_spin_lock(&free_lock);
    n->next = obj_free;
    obj_free = n;
    shim_spin_unlock(&free_lock);
}

/* Caller holds the bucket's lock. */
static struct res_obj *find(uint32_t b, uintptr_t handle, uint32_t kind, struct res_obj ***link)
{
    struct res_obj **l = &obj_buckets[b];
    while (*l && ((*l)->handle != handle || (*l)->kind != kind))
        l = &(*l)->next;
    if (link)
        *link = l;
    return *l;
}

static struct res_stat *stat_of(uint32_t kind, uint32_t stack)
{
    uint64_t key = ((uint64_t)(kind + 1) << 32) | stack;
    uint32_t mask = (1u << RES_STAT_BITS) - 1, i = (uint32_t)mix(key) & mask;
    for (uint32_t probe = 0; probe <= mask; probe++, i = (i + 1) & mask) {
        uint64_t k = __atomic_load_n(&stats[i].key, __ATOMIC_ACQUIRE);
        if (k == key)
            return &stats[i];
        if (k == 0) {
            uint64_t expected = 0;
            if (__atomic_compare_exchange_n(&stats[i].key, &expected, key, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE) ||
                expected == key)
                return &stats[i];
        }
    }
    __atomic_fetch_add(&c_stats_full, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void stat_add(uint32_t kind, uint32_t stack, size_t field_off)
{
    struct res_stat *s = stat_of(kind, stack);
    if (s)
        __atomic_fetch_add((uint64_t *)((char *)s + field_off), 1, __ATOMIC_RELAXED);
}
#define STAT_ADD(kind, stack, field) stat_add(kind, stack, offsetof(struct res_stat, field))

/* Remembers a destroyed handle; evicts the oldest tombstone when full. */
static void tomb_push(struct res_obj *n)
{
    shim_spin_lock(&tomb_lock);
    n->gen = ++tomb_gen;
    struct tombstone old = tombs[tomb_next % RES_MAX_TOMBSTONES];
    tombs[tomb_next % RES_MAX_TOMBSTONES] =
        (struct tombstone){.handle = n->handle, .kind = n->kind, .gen = n->gen};
    tomb_next++;
    shim_spin_unlock(&tomb_lock);
    if (!old.gen)
        return;
    uint32_t b = bucket_of(old.handle, old.kind);
    int *l = lock_of(b);
    shim_spin_lock(l);
    struct res_obj **link;
    struct res_obj *o = find(b, old.handle, old.kind, &link);
    if (o && o->state == OBJ_DESTROYED && o->gen == old.gen)
        *link = o->next;
    else
        o = NULL;
    shim_spin_unlock(l);
    if (o)
        node_release(o);
}

/* ---- events ---- */

static size_t append(char *buf, size_t len, size_t cap, const char *s)
{
    if (len + 1 >= cap)
        return len;
    util_strlcpy(buf + len, s, cap - len);
    return len + strlen(buf + len);
}

static void report(uint32_t kind, uint32_t fn, const struct res_obj *o, uint32_t stack)
{
    uint32_t i = __atomic_fetch_add(&n_events, 1, __ATOMIC_RELAXED);
    if (i >= RES_MAX_EVENTS) {
        __atomic_fetch_add(&c_events_dropped, 1, __ATOMIC_RELAXED);
        return;
    }
    struct snap_corruption *c = &events[i];
    int twice = kind == SNAP_CORR_DOUBLE_DESTROY;
    c->tid = shim_gettid();
    c->addr = o->handle;
    c->time_ns = util_realtime_ns();
    c->alloc_stack = o->create_stack;
    c->free_stack = o->destroy_stack;
    c->access_stack = stack;
    char hex[24] = "0x";
    util_u64_to_hex(o->handle, hex + 2, sizeof(hex) - 2);
    size_t cap = sizeof(c->detail), len = 0;
    len = append(c->detail, len, cap, spec.kinds[o->kind].name);
    len = append(c->detail, len, cap, ": ");
    len = append(c->detail, len, cap, spec.funcs[fn].name);
    len = append(c->detail, len, cap, "(");
    len = append(c->detail, len, cap, hex);
    len = append(c->detail, len, cap, twice ? ") destroyed twice, first by " : ") after ");
    len = append(c->detail, len, cap, spec.funcs[o->destroy_fn].name);
    /* published last: the snapshot writer reads events whose kind is set */
    __atomic_store_n(&c->kind, kind, __ATOMIC_RELEASE);
    if (i < RES_EVENT_SNAPSHOTS) /* the program may crash right after: keep the evidence */
        shim_snapshot_write(SNAP_TRIGGER_CORRUPTION);
}

/* ---- what a call does to an object ---- */

static void on_create(uint32_t kind, uintptr_t h, uint32_t stack)
{
    uint32_t b = bucket_of(h, kind);
    int *l = lock_of(b);
    struct res_obj *fresh = NULL;
    shim_spin_lock(l);
    struct res_obj *o = find(b, h, kind, NULL);
    if (!o) {
        shim_spin_unlock(l);
        if (!(fresh = node_alloc()))
            return;
        shim_spin_lock(l);
        o = find(b, h, kind, NULL);
        if (!o) {
            o = fresh;
            fresh = NULL;
            memset(o, 0, sizeof(*o));
            o->handle = h;
            o->kind = (uint16_t)kind;
            o->next = obj_buckets[b];
            obj_buckets[b] = o;
        }
    }
    /* A live record here means its destroy was not seen (an untracked path):
     * the new handle replaces it; a tombstone is simply reused. */
    o->state = OBJ_LIVE;
    o->created = 1;
    o->count = 1;
    o->stack = o->create_stack = stack;
    o->destroy_stack = SNAP_STACK_NONE;
    o->ref_top = o->ref_n = 0;
    o->reported = 0;
    o->gen = 0;
    o->created_ns = util_realtime_ns();
    shim_spin_unlock(l);
    if (fresh)
        node_release(fresh);
    STAT_ADD(kind, stack, created);
}

/* destroy (explicit, or the last unref of a created object). */
static void on_destroy(uint32_t kind, uint32_t fn, uintptr_t h, uint32_t stack)
{
    uint32_t b = bucket_of(h, kind);
    int *l = lock_of(b);
    shim_spin_lock(l);
    struct res_obj **link;
    struct res_obj *o = find(b, h, kind, &link);
    if (!o) {
        shim_spin_unlock(l);
        __atomic_fetch_add(&c_destroy_unknown, 1, __ATOMIC_RELAXED);
        return;
    }
    if (o->state == OBJ_DESTROYED) {
        struct res_obj copy = *o;
        int first = !(o->reported & OBJ_REPORTED_DOUBLE);
        o->reported |= OBJ_REPORTED_DOUBLE;
        shim_spin_unlock(l);
        if (first)
            report(SNAP_CORR_DOUBLE_DESTROY, fn, &copy, stack);
        else
            __atomic_fetch_add(&c_events_repeated, 1, __ATOMIC_RELAXED);
        return;
    }
    uint32_t row = o->stack;
    if (!o->created) { /* never saw it created: nothing to remember it by */
        *link = o->next;
        shim_spin_unlock(l);
        node_release(o);
        STAT_ADD(kind, row, destroyed);
        return;
    }
    o->state = OBJ_DESTROYED;
    o->destroy_stack = stack;
    o->destroy_fn = (uint16_t)fn;
    shim_spin_unlock(l);
    STAT_ADD(kind, row, destroyed);
    tomb_push(o);
}

static void on_ref(uint32_t kind, uint32_t fn, uintptr_t h, uint32_t stack, int delta)
{
    uint32_t b = bucket_of(h, kind);
    int *l = lock_of(b);
    shim_spin_lock(l);
    struct res_obj *o = find(b, h, kind, NULL);
    if (o && o->state == OBJ_DESTROYED) {
        struct res_obj copy = *o;
        int first = !(o->reported & OBJ_REPORTED_USE);
        o->reported |= OBJ_REPORTED_USE;
        shim_spin_unlock(l);
        if (first)
            report(SNAP_CORR_USE_AFTER_DESTROY, fn, &copy, stack);
        else
            __atomic_fetch_add(&c_events_repeated, 1, __ATOMIC_RELAXED);
        return;
    }
    if (delta < 0) {
        if (!o) {
            shim_spin_unlock(l);
            __atomic_fetch_add(&c_unref_unknown, 1, __ATOMIC_RELAXED);
            return;
        }
        STAT_ADD(kind, o->stack, unrefs);
        if (o->ref_n) {
            o->ref_top = (uint8_t)((o->ref_top + RES_REF_STACKS - 1) % RES_REF_STACKS);
            o->ref_n--;
        }
        if (--o->count > 0) {
            shim_spin_unlock(l);
            return;
        }
        if (o->created) { /* the last reference of an object we saw created */
            shim_spin_unlock(l);
            on_destroy(kind, fn, h, stack);
            return;
        }
        struct res_obj **link; /* references we saw are all matched: forget it */
        find(b, h, kind, &link);
        *link = o->next;
        shim_spin_unlock(l);
        node_release(o);
        return;
    }
    if (!o) {
        shim_spin_unlock(l);
        struct res_obj *fresh = node_alloc();
        if (!fresh)
            return;
        shim_spin_lock(l);
        if (!(o = find(b, h, kind, NULL))) {
            o = fresh;
            fresh = NULL;
            memset(o, 0, sizeof(*o));
            o->handle = h;
            o->kind = (uint16_t)kind;
            o->state = OBJ_LIVE;
            o->stack = stack; /* the ref that made it outstanding owns the row */
            o->created_ns = util_realtime_ns();
            o->next = obj_buckets[b];
            obj_buckets[b] = o;
        }
        if (fresh)
            node_release(fresh);
    }
    o->count++;
    o->ref_stacks[o->ref_top] = stack;
    o->ref_top = (uint8_t)((o->ref_top + 1) % RES_REF_STACKS);
    if (o->ref_n < RES_REF_STACKS)
        o->ref_n++;
    uint32_t row = o->stack;
    shim_spin_unlock(l);
    STAT_ADD(kind, row, refs);
}

static void on_use(uint32_t kind, uint32_t fn, uintptr_t h, uint32_t stack)
{
    uint32_t b = bucket_of(h, kind);
    int *l = lock_of(b);
    shim_spin_lock(l);
    struct res_obj *o = find(b, h, kind, NULL);
    if (!o || o->state != OBJ_DESTROYED) {
        shim_spin_unlock(l);
        return;
    }
    struct res_obj copy = *o;
    int first = !(o->reported & OBJ_REPORTED_USE);
    o->reported |= OBJ_REPORTED_USE;
    shim_spin_unlock(l);
    if (first)
        report(SNAP_CORR_USE_AFTER_DESTROY, fn, &copy, stack);
    else
        __atomic_fetch_add(&c_events_repeated, 1, __ATOMIC_RELAXED);
}

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
    const struct res_func *f = &spec.funcs[fn];
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
        on_destroy(f->kind, fn, h, stack);
        break;
    case RES_ROLE_REF:
        on_ref(f->kind, fn, h, stack, +1);
        break;
    case RES_ROLE_UNREF:
        on_ref(f->kind, fn, h, stack, -1);
        break;
    default:
        on_use(f->kind, fn, h, stack);
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
    const struct res_func *f = &spec.funcs[fn];
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
        on_create(f->kind, h, stack);
    else
        on_ref(f->kind, fn, h, stack, +1);
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

/* ---- GOT patching ---- */

struct module_view {
    uintptr_t base, lo, hi; /* load bias, mapped range */
    uintptr_t relro_lo, relro_hi;
    const ElfW(Sym) * symtab;
    const char *strtab;
    size_t strsz;
    const ElfW(Rela) * jmprel, *rela;
    size_t jmprel_n, rela_n;
    const uint32_t *gnu_hash, *sysv_hash;
    const char *name;
};

static uintptr_t dyn_ptr(uintptr_t base, uintptr_t v)
{
    /* glibc relocates these entries in place; the vDSO and some other
     * loaders do not. */
    return v < base ? v + base : v;
}

static int module_view(struct dl_phdr_info *info, struct module_view *m)
{
    memset(m, 0, sizeof(*m));
    m->base = info->dlpi_addr;
    m->lo = UINTPTR_MAX;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t lo = m->base + ph->p_vaddr, hi = lo + ph->p_memsz;
            m->lo = lo < m->lo ? lo : m->lo;
            m->hi = hi > m->hi ? hi : m->hi;
        } else if (ph->p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)(m->base + ph->p_vaddr);
        } else if (ph->p_type == PT_GNU_RELRO) {
            m->relro_lo = m->base + ph->p_vaddr;
            m->relro_hi = m->relro_lo + ph->p_memsz;
        }
    }
    if (!dyn)
        return -ENOENT;
    int pltrel = DT_RELA;
    size_t pltsz = 0, relasz = 0;
    uintptr_t jmprel = 0, rela = 0;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB:
            m->symtab = (const ElfW(Sym) *)dyn_ptr(m->base, dyn->d_un.d_ptr);
            break;
        case DT_STRTAB:
            m->strtab = (const char *)dyn_ptr(m->base, dyn->d_un.d_ptr);
            break;
        case DT_STRSZ:
            m->strsz = dyn->d_un.d_val;
            break;
        case DT_JMPREL:
            jmprel = dyn_ptr(m->base, dyn->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            pltsz = dyn->d_un.d_val;
            break;
        case DT_PLTREL:
            pltrel = (int)dyn->d_un.d_val;
            break;
        case DT_RELA:
            rela = dyn_ptr(m->base, dyn->d_un.d_ptr);
            break;
        case DT_RELASZ:
            relasz = dyn->d_un.d_val;
            break;
        case DT_GNU_HASH:
            m->gnu_hash = (const uint32_t *)dyn_ptr(m->base, dyn->d_un.d_ptr);
            break;
        case DT_HASH:
            m->sysv_hash = (const uint32_t *)dyn_ptr(m->base, dyn->d_un.d_ptr);
            break;
        default:
            break;
        }
    }
    if (!m->symtab || !m->strtab)
        return -ENOENT;
    if (pltrel == DT_RELA && jmprel) {
        m->jmprel = (const ElfW(Rela) *)jmprel;
        m->jmprel_n = pltsz / sizeof(ElfW(Rela));
    }
    if (rela) {
        m->rela = (const ElfW(Rela) *)rela;
        m->rela_n = relasz / sizeof(ElfW(Rela));
    }
    m->name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : exe_path;
    return 0;
}

static int skip_module(struct dl_phdr_info *info, const struct module_view *m)
{
    uintptr_t self = (uintptr_t)&module_view;
    if (self >= m->lo && self < m->hi)
        return 1; /* the shim itself */
    const char *n = info->dlpi_name ? info->dlpi_name : "";
    return strstr(n, "linux-vdso") || strstr(n, "linux-gate") || strstr(n, "/ld-linux") ||
           !strncmp(n, "ld-linux", 8);
}

/* Number of dynamic symbols, from the hash table (the section headers are
 * not mapped). */
static size_t symbol_count(const struct module_view *m)
{
    if (m->sysv_hash)
        return m->sysv_hash[1];
    if (!m->gnu_hash)
        return 0;
    const uint32_t *h = m->gnu_hash;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
    const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(h + 4) + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        last = buckets[i] > last ? buckets[i] : last;
    if (last < symoffset)
        return symoffset;
    while (!(chain[last - symoffset] & 1))
        last++;
    return (size_t)last + 1;
}

static int offer_symbols(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct module_view m;
    if (module_view(info, &m) < 0 || skip_module(info, &m))
        return 0;
    int wanted = 0;
    const char *base = strrchr(m.name, '/');
    base = base ? base + 1 : m.name;
    for (uint32_t p = 0; p < spec.n_patterns && !wanted; p++)
        wanted = res_glob_match(spec.patterns[p].lib, base);
    if (!wanted)
        return 0;
    size_t n = symbol_count(&m);
    for (size_t i = 1; i < n; i++) {
        const ElfW(Sym) *s = &m.symtab[i];
        if (s->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s->st_info) != STT_FUNC ||
            ELF64_ST_BIND(s->st_info) == STB_LOCAL || (m.strsz && s->st_name >= m.strsz))
            continue;
        res_spec_offer_symbol(&spec, m.name, m.strtab + s->st_name);
    }
    return 0;
}

static void set_real(uint32_t fn, uintptr_t target)
{
    res_fn_t cur = __atomic_load_n(&real_fns[fn], __ATOMIC_ACQUIRE);
    if (!cur)
        __atomic_store_n(&real_fns[fn], (res_fn_t)target, __ATOMIC_RELEASE);
    else if ((uintptr_t)cur != target)
        c_other_definition++; /* two definitions of one name: the first wins */
}

/* Where a slot of this module will really go: its current value once bound,
 * else (lazy binding: it still points into the module's own PLT) the
 * definition the loader would pick. */
static uintptr_t real_target(const struct module_view *m, uintptr_t cur, const char *name,
                             void *handle)
{
    if (cur && (cur < m->lo || cur >= m->hi))
        return cur;
    void *p = dlsym(RTLD_DEFAULT, name);
    if (!p && handle)
        p = dlsym(handle, name);
    return (uintptr_t)p;
}

static void patch_relocs(const struct module_view *m, const ElfW(Rela) * r, size_t n, void *handle,
                         int *relro_open)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t type = (uint32_t)ELF64_R_TYPE(r[i].r_info);
        if (type != RES_R_JUMP_SLOT && type != RES_R_GLOB_DAT)
            continue;
        uint32_t sym = (uint32_t)ELF64_R_SYM(r[i].r_info);
        if (!sym || (m->strsz && m->symtab[sym].st_name >= m->strsz))
            continue;
        const char *name = m->strtab + m->symtab[sym].st_name;
        int fn = res_spec_find(&spec, name);
        if (fn < 0 || res_spec_excluded(&spec, spec.funcs[fn].kind, m->name))
            continue;
        uintptr_t *slot = (uintptr_t *)(m->base + r[i].r_offset);
        uintptr_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);
        if (cur == (uintptr_t)wrappers[fn])
            continue;
        uintptr_t target = real_target(m, cur, name, handle);
        if (!target)
            continue; /* not defined anywhere yet: a later dlopen may bring it */
        set_real((uint32_t)fn, target);
        if (real_fns[fn] != (res_fn_t)target)
            continue; /* this module binds elsewhere: leave its calls alone */
        uintptr_t a = (uintptr_t)slot;
        if (a >= m->relro_lo && a < m->relro_hi && !*relro_open) {
            uintptr_t lo = m->relro_lo & ~(uintptr_t)(RES_PAGE - 1);
            if (mprotect((void *)lo, m->relro_hi - lo, PROT_READ | PROT_WRITE) < 0)
                continue;
            *relro_open = 1;
        }
        __atomic_store_n(slot, (uintptr_t)wrappers[fn], __ATOMIC_RELEASE);
        patched_slots[fn]++;
    }
}

static int patch_module(struct dl_phdr_info *info, size_t size, void *handle)
{
    struct module_view m;
    if (module_view(info, &m) < 0 || skip_module(info, &m))
        return 0;
    int relro_open = 0;
    patch_relocs(&m, m.jmprel, m.jmprel_n, handle, &relro_open);
    patch_relocs(&m, m.rela, m.rela_n, handle, &relro_open);
    if (relro_open) {
        uintptr_t lo = m.relro_lo & ~(uintptr_t)(RES_PAGE - 1);
        mprotect((void *)lo, m.relro_hi - lo, PROT_READ);
    }
    return 0;
}

static int count_adds(struct dl_phdr_info *info, size_t size, void *arg)
{
    *(unsigned long long *)arg = info->dlpi_adds;
    return 1;
}

static unsigned long long loader_adds(void)
{
    unsigned long long adds = 0;
    dl_iterate_phdr(count_adds, &adds);
    return adds;
}

/* Patches every loaded module (idempotent: patched slots are skipped). */
static void rescan(void *handle)
{
    int saved_busy = shim_tls.busy;
    shim_tls.busy = 1; /* dlsym may allocate */
    shim_spin_lock(&patch_lock);
    last_adds = loader_adds();
    if (spec.n_patterns) {
        dl_iterate_phdr(offer_symbols, NULL);
        res_spec_resolve_patterns(&spec);
    }
    dl_iterate_phdr(patch_module, handle);
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
    return h;
}

SHIM_EXPORT void *dlopen(const char *file, int mode)
{
    if (!real_dlopen)
        real_dlopen = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
    /* Without resource tracking there is nothing to patch: always a tail
     * call, so the loader sees the program's caller ($ORIGIN, RUNPATH). */
    if (!res_enabled)
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

static int load_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return 0;
}

void shim_res_init(void)
{
    const char *env = shim_getenv("LEAKAUDIT_TRACK_RESOURCES");
    const char *file = shim_getenv("LEAKAUDIT_TRACK_FILE");
    if ((!env || !*env) && (!file || !*file))
        return;
    static char text[RES_FILE_MAX];
    char err[256];
    res_spec_init(&spec);
    if (env && *env && res_spec_parse(&spec, env, err, sizeof(err)) < 0) {
        say("LEAKAUDIT_TRACK_RESOURCES: ", err, "; resources are not tracked");
        return;
    }
    if (file && *file) {
        int rc = load_file(file, text, sizeof(text));
        if (rc < 0) {
            say("LEAKAUDIT_TRACK_FILE: cannot read ", file, "; resources are not tracked");
            return;
        }
        if (res_spec_parse(&spec, text, err, sizeof(err)) < 0) {
            say(file, ": ", err);
            return;
        }
    }
    util_read_exe(0, exe_path, sizeof(exe_path));
    obj_buckets = shim_arena_map(sizeof(*obj_buckets) << RES_OBJ_BITS);
    obj_pool = shim_arena_map(sizeof(*obj_pool) * RES_MAX_OBJECTS);
    stats = shim_arena_map(sizeof(*stats) << RES_STAT_BITS);
    tombs = shim_arena_map(sizeof(*tombs) * RES_MAX_TOMBSTONES);
    events = shim_arena_map(sizeof(*events) * RES_MAX_EVENTS);
    if (!obj_buckets || !obj_pool || !stats || !tombs || !events) {
        say("cannot map memory for resource tracking", "", "");
        return;
    }
    __atomic_store_n(&res_enabled, 1, __ATOMIC_RELEASE);
    rescan(NULL);
}

void shim_res_after_fork_child(void)
{
    /* Another thread may have held a lock at fork: the child has one thread. */
    memset(obj_locks, 0, sizeof(obj_locks));
    free_lock = tomb_lock = patch_lock = 0;
}

/* ---- snapshots ---- */

static void accumulate(void)
{
    for (uint32_t i = 0; i < (1u << RES_STAT_BITS); i++) {
        stats[i].snap_live = stats[i].snap_oldest = 0;
        stats[i].snap_balance = 0;
        stats[i].snap_last_ref = SNAP_STACK_NONE;
    }
    for (uint32_t b = 0; b < (1u << RES_OBJ_BITS); b++) {
        if (!__atomic_load_n(&obj_buckets[b], __ATOMIC_RELAXED))
            continue;
        int *l = lock_of(b);
        shim_spin_lock(l);
        for (struct res_obj *o = obj_buckets[b]; o; o = o->next) {
            if (o->state != OBJ_LIVE)
                continue;
            struct res_stat *s = stat_of(o->kind, o->stack);
            if (!s)
                continue;
            int64_t extra = o->count - (o->created ? 1 : 0);
            s->snap_live++;
            s->snap_balance += extra;
            if (extra > 0 && o->ref_n)
                s->snap_last_ref =
                    o->ref_stacks[(o->ref_top + RES_REF_STACKS - 1) % RES_REF_STACKS];
            if (o->created_ns && (!s->snap_oldest || o->created_ns < s->snap_oldest))
                s->snap_oldest = o->created_ns;
        }
        shim_spin_unlock(l);
    }
}

void shim_res_snapshot(struct snap_writer *w)
{
    if (!res_enabled)
        return;
    if (loader_adds() != __atomic_load_n(&last_adds, __ATOMIC_RELAXED))
        rescan(NULL);
    accumulate();
    for (uint32_t i = 0; i < (1u << RES_STAT_BITS); i++) {
        struct res_stat *s = &stats[i];
        uint64_t key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        if (!key)
            continue;
        uint32_t kind = (uint32_t)(key >> 32) - 1;
        struct snap_resource_entry e = {
            .stack_id = (uint32_t)key,
            .flags = spec.kinds[kind].flags,
            .live_count = s->snap_live,
            .total_created = __atomic_load_n(&s->created, __ATOMIC_RELAXED),
            .total_destroyed = __atomic_load_n(&s->destroyed, __ATOMIC_RELAXED),
            .total_refs = __atomic_load_n(&s->refs, __ATOMIC_RELAXED),
            .total_unrefs = __atomic_load_n(&s->unrefs, __ATOMIC_RELAXED),
            .ref_balance = s->snap_balance,
            .last_ref_stack = s->snap_last_ref,
            .oldest_ns = s->snap_oldest,
        };
        util_strlcpy(e.kind, spec.kinds[kind].name, sizeof(e.kind));
        snap_write_resource(w, &e);
    }
}

void shim_res_write_events(struct snap_writer *w)
{
    if (!res_enabled)
        return;
    uint32_t n = __atomic_load_n(&n_events, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n && i < RES_MAX_EVENTS; i++)
        if (__atomic_load_n(&events[i].kind, __ATOMIC_ACQUIRE))
            snap_write_corruption(w, &events[i]);
}

/* Only what means lost data is a loss counter: a full table, a dropped
 * event, a module patched late (calls before the patch were not seen). */
void shim_res_loss_counters(void (*cb)(const char *name, uint64_t v, void *arg), void *arg)
{
    if (!res_enabled)
        return;
    cb("resource_objects_full", c_objects_full, arg);
    cb("resource_rows_full", c_stats_full, arg);
    cb("resource_events_dropped", c_events_dropped, arg);
    cb("resource_dlopen_patched_late", c_not_patched_dlopen, arg);
}
