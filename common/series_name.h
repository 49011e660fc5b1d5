/*
 * The one naming of snapshot series and files, for both writers (the shim,
 * the tracer) and every reader:
 *
 *   series  <exe basename>.<pid>.<start time in ms since the epoch, hex>
 *           (the basename cut to SNAP_EXE_BASENAME_MAX bytes, '.' -> '_',
 *           "_" when empty): an exec'd image, a forked child or a second
 *           attach starts a new series and nothing is overwritten;
 *   file    <series>.<seq, at least SNAP_SEQ_DIGITS digits>.snap
 *
 * Allocation-free (the shim names its files from inside the process).
 */
#ifndef LEAKAUDIT_SERIES_NAME_H
#define LEAKAUDIT_SERIES_NAME_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_EXE_BASENAME_MAX 32
#define SNAP_SEQ_DIGITS       6
#define SNAP_FILE_SUFFIX      ".snap"

/* Writes the series name of exe_path / pid / start time into out (NUL-
 * terminated, cut at cap); returns its length. */
size_t snap_series_name(char *out, size_t cap, const char *exe_path, int pid,
                        uint64_t start_realtime_ns);
/* Writes "<series>.<seq>.snap" into out; returns its length. */
size_t snap_file_name(char *out, size_t cap, const char *series, uint32_t seq);
/* True when name ends in ".snap" (with something before it). */
int snap_file_name_has_suffix(const char *name);
/* Splits a file name (a path's last part, ".snap" optional) of the form
 * SERIES.SEQ.snap: returns the length of SERIES and sets *seq_digits to the
 * number of SEQ's digits (found at name + length + 1). Any other name:
 * returns its length without the suffix and *seq_digits = 0. */
size_t snap_file_name_split(const char *name, size_t *seq_digits);

#endif
