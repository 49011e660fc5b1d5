/*
 * The quarantine of canary mode: freed blocks are held, poisoned, until
 * LEAKAUDIT_QUARANTINE bytes were freed after them; then they are checked
 * (a changed poison byte is a use-after-free write) and either recycled for
 * an allocation of the same real size or handed back to the allocator. A
 * second free of a held block is found here. Records live in one array in
 * shim memory, linked oldest to newest and per size class.
 */
#include "guard_int.h"
#include "stacktable.h"
#include "util.h"

#include <string.h>

static struct quarantined *quarantine;
/* Per size class, its oldest and newest entry; head is also read without
 * guard_q_lock (recycling looks before it locks), so it is written atomically. */
static struct {
    uint32_t head, tail;
} * q_class;
static uint32_t q_oldest, q_newest, q_free, q_touched; /* q_touched: entries ever used */
static uint32_t q_len;
static uint64_t q_seq;
static uint64_t q_bytes;     /* held now */
static uint64_t q_pushed;    /* ever pushed */
static uint32_t q_scan_next; /* the next entry the scan checks (q_take moves it on) */
int guard_q_lock;

/* Maps the record array and the per-class lists; 0 or -ENOMEM. */
int guard_quarantine_init(void)
{
    quarantine = shim_arena_map(sizeof(*quarantine) * QUARANTINE_SLOTS);
    q_class = shim_arena_map(sizeof(*q_class) * RECYCLE_CLASSES);
    return quarantine && q_class ? 0 : -ENOMEM;
}

/* ---- the quarantine's lists (guard_q_lock held) ---- */

static inline struct quarantined *q_entry(uint32_t link)
{
    return &quarantine[link - 1];
}

/* A free entry, or 0 when all QUARANTINE_SLOTS are in use. Freed entries
 * are reused last-in first-out: their memory stays warm. */
static uint32_t q_entry_get(void)
{
    uint32_t link = q_free;
    if (link)
        q_free = q_entry(link)->next_in_class;
    else if (q_touched < QUARANTINE_SLOTS)
        link = ++q_touched;
    return link;
}

static void q_link_newest(uint32_t link)
{
    struct quarantined *e = q_entry(link);
    e->older = q_newest;
    e->newer = 0;
    if (q_newest)
        q_entry(q_newest)->newer = link;
    else
        q_oldest = link;
    q_newest = link;
    e->next_in_class = 0;
    if (e->cls) {
        if (q_class[e->cls].tail)
            q_entry(q_class[e->cls].tail)->next_in_class = link;
        else
            __atomic_store_n(&q_class[e->cls].head, link, __ATOMIC_RELAXED);
        q_class[e->cls].tail = link;
    }
    q_len++;
    q_bytes += e->size;
}

/* Takes an entry out, returning a copy; it must be the oldest of its class
 * (the global oldest is, and recycling takes a class's oldest). */
static struct quarantined q_take(uint32_t link)
{
    struct quarantined *e = q_entry(link), v = *e;
    if (q_scan_next == link)
        q_scan_next = e->newer;
    if (e->older)
        q_entry(e->older)->newer = e->newer;
    else
        q_oldest = e->newer;
    if (e->newer)
        q_entry(e->newer)->older = e->older;
    else
        q_newest = e->older;
    if (e->cls) {
        __atomic_store_n(&q_class[e->cls].head, e->next_in_class, __ATOMIC_RELAXED);
        if (!e->next_in_class)
            q_class[e->cls].tail = 0;
    }
    e->seq = 0;
    e->next_in_class = q_free;
    q_free = link;
    q_len--;
    q_bytes -= v.size;
    return v;
}

/* The quarantine entry of a freed block, newest first (a double free: the
 * rare path, so a linear search). */
int guard_quarantine_find(uintptr_t user, struct quarantined *out)
{
    int found = 0;
    shim_spin_lock(&guard_q_lock);
    for (uint32_t link = q_newest; link && !found; link = q_entry(link)->older)
        if (q_entry(link)->user == user) {
            *out = *q_entry(link);
            found = 1;
        }
    shim_spin_unlock(&guard_q_lock);
    return found;
}

void guard_report_uaf(const struct quarantined *e, uintptr_t bad, const char *when)
{
    struct snap_corruption c = {.kind = SNAP_CORR_USE_AFTER_FREE_WRITE,
                                .addr = e->user,
                                .block_size = e->size,
                                .offset = (int64_t)(bad - e->user),
                                .alloc_stack = e->alloc_stack,
                                .free_stack = e->free_stack};
    guard_dump_bytes(&c, bad, e->user + e->size);
    guard_set_detail(&c, when);
    guard_report(&c, "a freed block was written to", 1);
}

/* Poisons a freed canary block and pushes it into the quarantine; while it
 * holds more than 1 + 1/QUARANTINE_SLACK times its size, evicts the oldest,
 * checking their poison first (use-after-free writes), and hands them to the
 * real allocator. The poison is written before the block is pushed: once in
 * the quarantine another thread may take it at any time (a block larger than
 * the whole budget is evicted by the very next push). */
void guard_quarantine_push(uintptr_t user, const struct shim_block_info *info, uint32_t flags)
{
    struct quarantined victims[8];
    int nv = 0;
    uint32_t left = header_of(user)->left;
    if (!shim_cfg.quarantine_bytes) { /* LEAKAUDIT_QUARANTINE=0: no use-after-free checks */
        shim_real.free((void *)(user - left));
        return;
    }
    guard_poison(user, info->size);
    uint64_t hold = shim_cfg.quarantine_bytes + shim_cfg.quarantine_bytes / QUARANTINE_SLACK;
    if (hold < shim_cfg.quarantine_bytes)
        hold = UINT64_MAX;
    size_t cls = (user_total(info->size) >> 4);
    shim_spin_lock(&guard_q_lock);
    uint32_t link = q_entry_get();
    if (!link) { /* every entry in use: the oldest makes room */
        victims[nv++] = q_take(q_oldest);
        link = q_entry_get();
    }
    q_pushed += info->size;
    *q_entry(link) =
        (struct quarantined){.user = user,
                             .size = info->size,
                             .alloc_stack = info->alloc_stack,
                             .free_stack = info->free_stack,
                             .flags = flags,
                             .left = left,
                             .seq = ++q_seq,
                             .mark = q_pushed,
                             .cls = left == LEFT_RZ && cls < RECYCLE_CLASSES ? (uint32_t)cls : 0};
    q_link_newest(link);
    while (q_bytes > hold && q_len > 1 && nv < 8)
        victims[nv++] = q_take(q_oldest);
    /* A victim a few pushes ahead: start loading its memory now, so its
     * eviction does not wait on it. */
    struct quarantined next = {0};
    uint32_t ahead = q_oldest;
    for (int i = 0; i < PREFETCH_AHEAD && ahead; i++)
        ahead = q_entry(ahead)->newer;
    if (ahead && ahead != link)
        next = *q_entry(ahead);
    shim_spin_unlock(&guard_q_lock);
    if (next.user)
        guard_prefetch_victim(&next);
    for (int i = 0; i < nv; i++) {
        const struct quarantined *v = &victims[i];
        if (!(v->flags & SHIM_BLOCK_REPORTED)) {
            uintptr_t bad = guard_check_poison(v->user, v->size);
            if (bad)
                guard_report_uaf(v, bad, "found when the block left the quarantine");
        }
        shim_real.free((void *)(v->user - v->left));
    }
}

/* A quarantined block freed at least LEAKAUDIT_QUARANTINE bytes ago whose
 * real size is real_size (a multiple of 16), taken out and checked, or
 * NULL: the real block to use again. */
/* A quarantined block freed at least LEAKAUDIT_QUARANTINE bytes ago whose
 * real size is real_size (a multiple of 16), taken out, or NULL: the real
 * block to use again. *rec gets its record; its poison is prefetched, to be
 * checked (canary_arm) once the caller's stack has been walked. */
void *guard_quarantine_recycle(size_t real_size, struct quarantined *rec)
{
    size_t cls = real_size >> 4;
    if (!shim_cfg.quarantine_bytes || cls >= RECYCLE_CLASSES ||
        !__atomic_load_n(&q_class[cls].head, __ATOMIC_RELAXED))
        return NULL;
    shim_spin_lock(&guard_q_lock);
    uint32_t link = q_class[cls].head;
    if (!link || q_pushed - q_entry(link)->mark < shim_cfg.quarantine_bytes) {
        shim_spin_unlock(&guard_q_lock);
        return NULL;
    }
    *rec = q_take(link);
    /* The class's next block is the next one handed out at this size:
     * start loading its poison now, so that check finds it in cache. */
    struct quarantined next = {0};
    if (q_class[cls].head) {
        next = *q_entry(q_class[cls].head);
        /* and the records taking it will touch: its neighbours by age and
         * the block after it in the class (whose record is read then) */
        if (next.older)
            __builtin_prefetch(q_entry(next.older), 1);
        if (next.newer)
            __builtin_prefetch(q_entry(next.newer), 1);
        if (next.next_in_class)
            __builtin_prefetch(q_entry(next.next_in_class), 0);
    }
    shim_spin_unlock(&guard_q_lock);
    guard_prefetch_victim(rec);
    if (next.user)
        guard_prefetch_victim(&next);
    return (void *)(rec->user - rec->left);
}

/* Checks the poison of every quarantined block, SCAN_BATCH at a time under
 * guard_q_lock (a block cannot be evicted and handed back while it is read);
 * returns 1 with the first bad one (now marked reported) in *out. */
int guard_scan_quarantine(struct quarantined *out, uintptr_t *bad_at)
{
    /* Entries pushed after the scan began are left for the next one. A
     * second scan running at the same time restarts the shared cursor:
     * blocks are then checked twice, never skipped. */
    shim_spin_lock(&guard_q_lock);
    uint64_t end_seq = q_seq;
    q_scan_next = q_oldest;
    shim_spin_unlock(&guard_q_lock);
    for (;;) {
        int found = 0, done = 0;
        shim_spin_lock(&guard_q_lock);
        uint32_t link = q_scan_next;
        for (int n = 0; n < SCAN_BATCH && !found; n++) {
            if (!link || q_entry(link)->seq > end_seq) {
                done = 1;
                break;
            }
            struct quarantined *e = q_entry(link);
            link = e->newer;
            if (e->flags & SHIM_BLOCK_REPORTED)
                continue;
            uintptr_t bad = guard_check_poison(e->user, e->size);
            if (bad) {
                e->flags |= SHIM_BLOCK_REPORTED;
                *out = *e;
                *bad_at = bad;
                found = 1;
            }
        }
        q_scan_next = link;
        shim_spin_unlock(&guard_q_lock);
        if (found)
            return 1;
        if (done)
            return 0;
    }
}
