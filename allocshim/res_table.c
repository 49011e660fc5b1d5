/*
 * The object table of paired C-API resource tracking (docs/resources.md):
 * per-object state in a striped hash table in shim memory (like heap.c: no
 * allocation through the audited allocator, no global lock on create / ref /
 * unref / use), per-(kind, creating stack) rows, tombstones of destroyed
 * handles (bounded, the oldest evicted first) so that a later use or a
 * second destroy is recognised, and those events for the snapshot's
 * corruption section. What a tracked call does to an object is here; which
 * calls are tracked, and how they are reached, is resources.c's.
 */
#include "res_int.h"
#include "stacktable.h"
#include "util.h"

#include <string.h>
#include <sys/mman.h>

/* Limits (docs/resources.md, "Limits"). */
#define RES_OBJ_BITS        16 /* hash buckets for tracked objects */
#define RES_OBJ_LOCKS       256
#define RES_MAX_OBJECTS     (1u << 20) /* live handles + tombstones */
#define RES_MAX_TOMBSTONES  (1u << 16) /* destroyed handles remembered */
#define RES_STAT_BITS       16         /* (kind, stack) rows */
#define RES_MAX_EVENTS      1024       /* use-after-destroy / double-destroy events kept */
#define RES_EVENT_SNAPSHOTS 4          /* first events also write a snapshot at once */
#define RES_REF_STACKS      4          /* unmatched ref stacks remembered per object */

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

/* Loss / information counters (docs/resources.md). */
static uint64_t c_objects_full, c_stats_full, c_events_dropped, c_events_repeated;
static uint64_t c_destroy_unknown, c_unref_unknown;

#define OBJ_BUCKETS_SIZE (sizeof(*obj_buckets) << RES_OBJ_BITS)
#define OBJ_POOL_SIZE    (sizeof(*obj_pool) * RES_MAX_OBJECTS)
#define STATS_SIZE       (sizeof(*stats) << RES_STAT_BITS)
#define TOMBS_SIZE       (sizeof(*tombs) * RES_MAX_TOMBSTONES)
#define EVENTS_SIZE      (sizeof(*events) * RES_MAX_EVENTS)

/* A table mapped before (attach --inject, attached again) starts empty:
 * its pages are dropped (anonymous private memory reads back as zeros). */
static void table_empty(void)
{
    madvise(obj_buckets, OBJ_BUCKETS_SIZE, MADV_DONTNEED);
    madvise(obj_pool, OBJ_POOL_SIZE, MADV_DONTNEED);
    madvise(stats, STATS_SIZE, MADV_DONTNEED);
    madvise(tombs, TOMBS_SIZE, MADV_DONTNEED);
    madvise(events, EVENTS_SIZE, MADV_DONTNEED);
    obj_next = n_events = tomb_gen = 0;
    tomb_next = 0;
    obj_free = NULL;
    c_objects_full = c_stats_full = c_events_dropped = c_events_repeated = 0;
    c_destroy_unknown = c_unref_unknown = 0;
}

/* Maps the table's memory, or empties it when mapped already; 0 or
 * -ENOMEM. */
int res_table_init(void)
{
    if (obj_buckets && obj_pool && stats && tombs && events) {
        table_empty();
        return 0;
    }
    obj_buckets = shim_arena_map(OBJ_BUCKETS_SIZE);
    obj_pool = shim_arena_map(OBJ_POOL_SIZE);
    stats = shim_arena_map(STATS_SIZE);
    tombs = shim_arena_map(TOMBS_SIZE);
    events = shim_arena_map(EVENTS_SIZE);
    return obj_buckets && obj_pool && stats && tombs && events ? 0 : -ENOMEM;
}

void res_table_fork_child(void)
{
    /* Another thread may have held a lock at fork: the child has one thread. */
    memset(obj_locks, 0, sizeof(obj_locks));
    free_lock = tomb_lock = 0;
}

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
    len = append(c->detail, len, cap, shim_res_spec.kinds[o->kind].name);
    len = append(c->detail, len, cap, ": ");
    len = append(c->detail, len, cap, shim_res_spec.funcs[fn].name);
    len = append(c->detail, len, cap, "(");
    len = append(c->detail, len, cap, hex);
    len = append(c->detail, len, cap, twice ? ") destroyed twice, first by " : ") after ");
    len = append(c->detail, len, cap, shim_res_spec.funcs[o->destroy_fn].name);
    /* published last: the snapshot writer reads events whose kind is set */
    __atomic_store_n(&c->kind, kind, __ATOMIC_RELEASE);
    if (i < RES_EVENT_SNAPSHOTS) /* the program may crash right after: keep the evidence */
        shim_keep_evidence();
}

/* ---- what a call does to an object ---- */

void res_on_create(uint32_t kind, uintptr_t h, uint32_t stack)
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
void res_on_destroy(uint32_t kind, uint32_t fn, uintptr_t h, uint32_t stack)
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

void res_on_ref(uint32_t kind, uint32_t fn, uintptr_t h, uint32_t stack, int delta)
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
            res_on_destroy(kind, fn, h, stack);
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

void res_on_use(uint32_t kind, uint32_t fn, uintptr_t h, uint32_t stack)
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

void res_table_write(struct snap_writer *w)
{
    accumulate();
    for (uint32_t i = 0; i < (1u << RES_STAT_BITS); i++) {
        struct res_stat *s = &stats[i];
        uint64_t key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        if (!key)
            continue;
        uint32_t kind = (uint32_t)(key >> 32) - 1;
        struct snap_resource_entry e = {
            .stack_id = (uint32_t)key,
            .flags = shim_res_spec.kinds[kind].flags,
            .live_count = s->snap_live,
            .total_created = __atomic_load_n(&s->created, __ATOMIC_RELAXED),
            .total_destroyed = __atomic_load_n(&s->destroyed, __ATOMIC_RELAXED),
            .total_refs = __atomic_load_n(&s->refs, __ATOMIC_RELAXED),
            .total_unrefs = __atomic_load_n(&s->unrefs, __ATOMIC_RELAXED),
            .ref_balance = s->snap_balance,
            .last_ref_stack = s->snap_last_ref,
            .oldest_ns = s->snap_oldest,
        };
        util_strlcpy(e.kind, shim_res_spec.kinds[kind].name, sizeof(e.kind));
        snap_write_resource(w, &e);
    }
}

void res_table_write_events(struct snap_writer *w)
{
    uint32_t n = __atomic_load_n(&n_events, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n && i < RES_MAX_EVENTS; i++)
        if (__atomic_load_n(&events[i].kind, __ATOMIC_ACQUIRE))
            snap_write_corruption(w, &events[i]);
}

/* Every stack a row, a tracked object or an event names (stacks.c keeps
 * them in the table; rows never go away). */
void res_table_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg)
{
    for (uint32_t i = 0; i < (1u << RES_STAT_BITS); i++) {
        uint64_t key = __atomic_load_n(&stats[i].key, __ATOMIC_ACQUIRE);
        if (key)
            mark((uint32_t)key, arg);
    }
    for (uint32_t b = 0; b < (1u << RES_OBJ_BITS); b++) {
        if (!__atomic_load_n(&obj_buckets[b], __ATOMIC_RELAXED))
            continue;
        int *l = lock_of(b);
        shim_spin_lock(l);
        for (const struct res_obj *o = obj_buckets[b]; o; o = o->next) {
            mark(o->stack, arg);
            mark(o->create_stack, arg);
            mark(o->destroy_stack, arg);
            for (uint32_t k = 0; k < RES_REF_STACKS; k++)
                mark(o->ref_stacks[k], arg);
        }
        shim_spin_unlock(l);
    }
    uint32_t n = __atomic_load_n(&n_events, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n && i < RES_MAX_EVENTS; i++) {
        mark(events[i].alloc_stack, arg);
        mark(events[i].free_stack, arg);
        mark(events[i].access_stack, arg);
    }
}

void res_table_loss_counters(shim_loss_cb cb, void *arg)
{
    cb(SNAP_LOSS_RESOURCE_OBJECTS_FULL, c_objects_full, arg);
    cb(SNAP_LOSS_RESOURCE_ROWS_FULL, c_stats_full, arg);
    cb(SNAP_LOSS_RESOURCE_EVENTS_DROPPED, c_events_dropped, arg);
}
