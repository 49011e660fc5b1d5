/*
 * Retention of a snapshot series, so a capture can run for weeks: after each
 * snapshot the writer (the shim, the tracer) asks which of its series' older
 * snapshots to delete. Rules, in order (docs/snapshot-format.md, "Retention"):
 *
 *  1. Always kept: the first snapshot, the peak (highest live heap bytes so
 *     far; the earliest one on a tie) and the newest.
 *  2. Thinning (unless off): snapshots younger than RETAIN_FULL_SEC are all
 *     kept; up to RETAIN_HOURLY_AFTER_SEC old, one per RETAIN_MID_BUCKET_SEC
 *     (the first of each bucket); older, one per RETAIN_OLD_BUCKET_SEC.
 *  3. keep_for_s (0 = forever): older snapshots are deleted.
 *  4. max_disk (0 = no bound): while the series' files take more bytes, the
 *     oldest deletable one goes.
 *  5. The table holds at most `cap` snapshots; when full, the oldest
 *     deletable one goes.
 *
 * Decisions only: the caller owns the table's storage and deletes files in
 * the callback, so this never allocates (the shim runs it).
 */
#ifndef LEAKAUDIT_RETENTION_H
#define LEAKAUDIT_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#define RETAIN_DEFAULT_MAX_DISK  (1ull << 30) /* 1 GiB per series */
#define RETAIN_FULL_SEC          3600         /* every snapshot for an hour */
#define RETAIN_MID_BUCKET_SEC    600          /* then one per 10 minutes */
#define RETAIN_HOURLY_AFTER_SEC  86400        /* after a day, one per hour */
#define RETAIN_OLD_BUCKET_SEC    3600
#define RETAIN_DEFAULT_TABLE_CAP 4096 /* snapshots tracked per series */

struct retain_entry {
    uint32_t seq;
    uint32_t flags; /* internal */
    uint64_t time_ns;
    uint64_t bytes;      /* file size */
    uint64_t live_bytes; /* heap live bytes in it: the peak is kept */
};

struct retain_policy {
    uint64_t max_disk;   /* bytes, 0 = unbounded */
    uint64_t keep_for_s; /* 0 = forever */
    int thin;            /* apply the thinning schedule */
};

struct retain_state {
    struct retain_entry *e; /* caller's storage, cap entries, oldest first */
    size_t n, cap;
    uint64_t bytes; /* sum of e[].bytes */
    uint64_t removed, removed_bytes;
};

/* Default policy: 1 GiB, forever, thinning on. */
void retain_policy_default(struct retain_policy *p);

/* Records the snapshot just written (seq increasing) and deletes what the
 * policy no longer keeps through remove(seq, arg); an entry whose remove
 * fails is forgotten anyway (the file may be gone already). */
void retain_add(struct retain_state *s, const struct retain_policy *p,
                const struct retain_entry *just_written, void (*remove)(uint32_t seq, void *arg),
                void *arg);

#endif
