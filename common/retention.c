/*
 * Implementation of common/retention.h: one pass over the (small) table per
 * snapshot written, every ten seconds by default. Allocation-free.
 */
#include "retention.h"

#include <string.h>

#define NS_PER_SEC 1000000000ull
#define DROP       1u /* this entry is to be deleted */

void retain_policy_default(struct retain_policy *p)
{
    p->max_disk = RETAIN_DEFAULT_MAX_DISK;
    p->keep_for_s = 0;
    p->thin = 1;
}

static size_t peak_index(const struct retain_state *s)
{
    size_t best = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->e[i].live_bytes > s->e[best].live_bytes)
            best = i;
    return best;
}

/* The first, the peak and the newest are never deleted. */
static int protected_entry(const struct retain_state *s, size_t i, size_t peak)
{
    return i == 0 || i == peak || i + 1 == s->n;
}

/* Deletes the entries marked DROP, keeping the table in order. */
static void sweep(struct retain_state *s, void (*remove)(uint32_t, void *), void *arg)
{
    size_t out = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->e[i].flags & DROP) {
            remove(s->e[i].seq, arg);
            s->bytes -= s->e[i].bytes;
            s->removed++;
            s->removed_bytes += s->e[i].bytes;
            continue;
        }
        s->e[out++] = s->e[i];
    }
    s->n = out;
}

/* The oldest entry that may go, or s->n when none may. */
static size_t oldest_deletable(const struct retain_state *s)
{
    size_t peak = peak_index(s);
    for (size_t i = 0; i < s->n; i++)
        if (!protected_entry(s, i, peak) && !(s->e[i].flags & DROP))
            return i;
    return s->n;
}

static void thin(struct retain_state *s, uint64_t now_ns, size_t peak)
{
    uint64_t prev_bucket[2] = {UINT64_MAX, UINT64_MAX}; /* 10-min, hourly stage */
    for (size_t i = 0; i < s->n; i++) {
        uint64_t t = s->e[i].time_ns;
        uint64_t age_s = now_ns > t ? (now_ns - t) / NS_PER_SEC : 0;
        if (age_s < RETAIN_FULL_SEC)
            continue;
        int stage = age_s >= RETAIN_HOURLY_AFTER_SEC;
        uint64_t size = stage ? RETAIN_OLD_BUCKET_SEC : RETAIN_MID_BUCKET_SEC;
        uint64_t bucket = t / NS_PER_SEC / size;
        if (bucket == prev_bucket[stage] && !protected_entry(s, i, peak))
            s->e[i].flags |= DROP;
        else
            prev_bucket[stage] = bucket;
    }
}

void retain_add(struct retain_state *s, const struct retain_policy *p,
                const struct retain_entry *just_written, void (*remove)(uint32_t seq, void *arg),
                void *arg)
{
    if (!s->cap)
        return;
    if (s->n == s->cap) {
        size_t victim = oldest_deletable(s);
        if (victim == s->n)
            victim = s->n - 1; /* cap 1-2: the newest gives way */
        s->e[victim].flags |= DROP;
        sweep(s, remove, arg);
    }
    s->e[s->n] = *just_written;
    s->e[s->n].flags = 0;
    s->n++;
    s->bytes += just_written->bytes;

    uint64_t now = just_written->time_ns;
    size_t peak = peak_index(s);
    if (p->thin)
        thin(s, now, peak);
    if (p->keep_for_s) {
        for (size_t i = 0; i < s->n; i++) {
            uint64_t t = s->e[i].time_ns;
            if (!protected_entry(s, i, peak) && now > t && (now - t) / NS_PER_SEC > p->keep_for_s)
                s->e[i].flags |= DROP;
        }
    }
    sweep(s, remove, arg);
    while (p->max_disk && s->bytes > p->max_disk) {
        size_t victim = oldest_deletable(s);
        if (victim == s->n)
            break; /* only the protected ones left: they stay */
        s->e[victim].flags |= DROP;
        sweep(s, remove, arg);
    }
}
