/*
 * Reading small /proc files, for every part: one helper that reads a whole
 * small file into a caller's buffer, and the one /proc/PID/stat parser (the
 * command name may hold spaces and parentheses: fields are counted from the
 * last ')'). Allocation-free and stdio-free, so the shim may call it from
 * inside the audited process.
 */
#ifndef LEAKAUDIT_PROCFS_H
#define LEAKAUDIT_PROCFS_H

#include <stdint.h>
#include <sys/types.h>

/* Reads the file at `path` into buf (at most cap-1 bytes, NUL-terminated,
 * retrying EINTR); returns its length or -errno (buf = ""). */
ssize_t procfs_read_file(const char *path, char *buf, size_t cap);

/* The fields of /proc/PID/stat the tools use (proc(5) numbering). */
struct procfs_stat {
    char state;          /* field 3: R, S, D, Z, X, ... */
    int ppid;            /* field 4 */
    uint64_t majflt;     /* field 12 */
    uint64_t utime;      /* field 14, clock ticks */
    uint64_t stime;      /* field 15, clock ticks */
    uint64_t threads;    /* field 20 */
    uint64_t starttime;  /* field 22, clock ticks after boot */
    uint64_t startstack; /* field 28: new at every exec (0 when the kernel hides it) */
};

/* Parses the text of a stat file; 0, or -EINVAL when it is not one. */
int procfs_parse_stat(const char *text, struct procfs_stat *st);
/* Reads and parses the stat file at `path` (e.g. /proc/self/task/TID/stat). */
int procfs_read_stat_path(const char *path, struct procfs_stat *st);
/* Reads and parses /proc/PID/stat (pid > 0) or /proc/self/stat (pid <= 0). */
int procfs_read_stat(int pid, struct procfs_stat *st);

/* Which program image process `pid` runs (pid <= 0: this one): a value
 * that changes at every exec (the executable's inode, the stack's place);
 * 0 when the process is gone or unreadable. */
uint64_t procfs_image_id(int pid);

/* The thread ids of this process (/proc/thread-self/..), at most cap;
 * returns how many (0 if unreadable). Raw getdents64: no allocation. */
size_t procfs_list_threads(pid_t *tids, size_t cap);

/* The stack pointer of a thread of this process blocked in a system call,
 * from /proc/thread-self/../TID/syscall ("nr args... sp pc"); 0 if unknown
 * (running, or not readable). */
uint64_t procfs_blocked_sp(pid_t tid);
/* The same from a syscall file's path (/proc/PID/task/TID/syscall: other
 * processes, with the permission to read it). */
uint64_t procfs_blocked_sp_path(const char *path);

/* True for a process that has exited (a zombie or dead, not yet reaped). */
static inline int procfs_stat_gone(const struct procfs_stat *st)
{
    return st->state == 'Z' || st->state == 'X';
}

#endif
