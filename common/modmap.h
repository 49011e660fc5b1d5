/*
 * The module map of a process: its executable file-backed mappings from
 * /proc/PID/maps with each file's GNU build-id, so that reports can
 * symbolize raw return addresses offline (perf-style). Allocation-free: the
 * shim calls it from inside the audited process.
 */
#ifndef LEAKAUDIT_MODMAP_H
#define LEAKAUDIT_MODMAP_H

#include "snapshot.h"

/*
 * Calls cb once per executable mapping of pid (0 = this process) that is
 * backed by a file; m->path points into a temporary buffer valid only during
 * the call. For other processes the build-id is read through
 * /proc/PID/map_files or /proc/PID/root so containers work. Returns the
 * number of modules visited or -errno; a non-zero return from cb stops the
 * walk and is returned.
 */
int modmap_foreach(int pid, int (*cb)(const struct snap_module *m, void *arg), void *arg);

/* Reads the GNU build-id note of an ELF64 file; returns its length or -errno. */
int modmap_read_build_id(const char *path, uint8_t *out, size_t cap);

#endif
