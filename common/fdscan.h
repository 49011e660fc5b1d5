/*
 * Walks /proc/PID/fd (0 = this process, read through /proc/thread-self so it
 * works after the main thread has exited) and reports each open fd with its link
 * target (e.g. "socket:[123]", "/memfd:frame (deleted)", "anon_inode:dmabuf").
 * Allocation-free (getdents64 + readlinkat), so the shim can reconcile its fd
 * table from inside the audited process. fdscan_reconcile is the one rule,
 * for the shim and the tracer, that turns a table of recorded fds plus that
 * walk into a snapshot's fd list and its two loss counters.
 */
#ifndef LEAKAUDIT_FDSCAN_H
#define LEAKAUDIT_FDSCAN_H

#include <stdint.h>

/* Returns the number of fds visited or -errno; a non-zero cb return stops
 * the walk and is returned. The fd used for the walk itself is skipped. */
int fdscan_foreach(int pid, int (*cb)(int fd, const char *target, void *arg), void *arg);

struct snap_fd_entry;

/*
 * Reconciling recorded fds with /proc/PID/fd, the rule:
 *  - an open fd with a record is listed with the record's origin, stack,
 *    creation time and source fd; its kind comes from the link target
 *    (snap_fd_kind_from_target), a file opened by opendir is a dir;
 *  - an open fd without a record is listed as unattributed and counted
 *    (fd_unattributed, a level: how many right now);
 *  - every listed fd gets its flags from /proc/PID/fdinfo (SNAP_FD_CLOEXEC:
 *    close-on-exec; an fd without it is inherited by exec'd children);
 *  - a record whose fd is no longer open was closed by a path that was not
 *    seen (a raw syscall, close-on-exec, io_uring): it is forgotten and
 *    counted (fd_closed_unseen), but only after a complete walk, and only
 *    when made before the walk started.
 * The table stays the caller's; it answers through the callbacks.
 */
struct fdscan_reconcile {
    int pid;               /* 0: this process */
    int skip_fd, skip_fd2; /* fds left out (the snapshot writer's own); -1: none */
    /* Fills origin, stack_id, created_ns and source_fd of e->fd's record
     * and marks the record seen; returns 0 when the fd has no record. */
    int (*recorded)(struct snap_fd_entry *e, void *arg);
    /* Receives every open fd (may add flags); non-zero stops the walk. */
    int (*emit)(struct snap_fd_entry *e, void *arg);
    /* After a complete walk: forgets the records not marked seen and made
     * before scan_start_ns (CLOCK_REALTIME); returns how many. */
    uint64_t (*forget_unseen)(uint64_t scan_start_ns, void *arg);
    void *arg;
    uint64_t unattributed;  /* out */
    uint64_t closed_unseen; /* out */
};

/* Applies the rule; returns fdscan_foreach's result (< 0: the walk failed,
 * nothing was forgotten). */
int fdscan_reconcile(struct fdscan_reconcile *r);

#endif
