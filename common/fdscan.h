/*
 * Walks /proc/PID/fd (0 = this process, read through /proc/thread-self so it
 * works after the main thread has exited) and reports each open fd with its link
 * target (e.g. "socket:[123]", "/memfd:frame (deleted)", "anon_inode:dmabuf").
 * Allocation-free (getdents64 + readlinkat), so the shim can reconcile its fd
 * table from inside the audited process.
 */
#ifndef LEAKAUDIT_FDSCAN_H
#define LEAKAUDIT_FDSCAN_H

/* Returns the number of fds visited or -errno; a non-zero cb return stops
 * the walk and is returned. The fd used for the walk itself is skipped. */
int fdscan_foreach(int pid, int (*cb)(int fd, const char *target, void *arg), void *arg);

#endif
