/*
 * Implementation of common/series_name.h: building and splitting the names
 * of snapshot series and files. No stdio, no malloc.
 */
#include "series_name.h"
#include "util.h"

#include <string.h>

size_t snap_series_name(char *out, size_t cap, const char *exe_path, int pid,
                        uint64_t start_realtime_ns)
{
    char name[SNAP_EXE_BASENAME_MAX + 64];
    const char *base = strrchr(exe_path, '/');
    base = base ? base + 1 : exe_path;
    size_t len = 0;
    for (; base[len] && len < SNAP_EXE_BASENAME_MAX; len++)
        name[len] = base[len] == '.' ? '_' : base[len];
    if (len == 0)
        name[len++] = '_';
    name[len++] = '.';
    len += util_u64_to_dec((uint64_t)(pid < 0 ? 0 : pid), name + len, sizeof(name) - len);
    name[len++] = '.';
    util_u64_to_hex(start_realtime_ns / 1000000, name + len, sizeof(name) - len);
    return util_strlcpy(out, name, cap);
}

size_t snap_file_name(char *out, size_t cap, const char *series, uint32_t seq)
{
    if (!cap)
        return 0;
    size_t len = util_strlcpy(out, series, cap);
    char num[24], padded[32];
    size_t digits = util_u64_to_dec(seq, num, sizeof(num)), n = 0;
    padded[n++] = '.';
    for (; digits < SNAP_SEQ_DIGITS; digits++)
        padded[n++] = '0';
    n += util_strlcpy(padded + n, num, sizeof(padded) - n);
    util_strlcpy(padded + n, SNAP_FILE_SUFFIX, sizeof(padded) - n);
    if (len < cap)
        len += util_strlcpy(out + len, padded, cap - len);
    return len;
}

int snap_file_name_has_suffix(const char *name)
{
    size_t len = strlen(name), sl = strlen(SNAP_FILE_SUFFIX);
    return len > sl && !strcmp(name + len - sl, SNAP_FILE_SUFFIX);
}

size_t snap_file_name_split(const char *name, size_t *seq_digits)
{
    size_t len = strlen(name);
    if (snap_file_name_has_suffix(name))
        len -= strlen(SNAP_FILE_SUFFIX);
    *seq_digits = 0;
    size_t d = len;
    while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9')
        d--;
    if (d == len || d < 2 || name[d - 1] != '.')
        return len;
    *seq_digits = len - d;
    return d - 1;
}
