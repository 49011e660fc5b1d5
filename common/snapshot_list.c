/*
 * The snapshot files of a directory, in series-then-time order (the reader's
 * input; names as in series_name.c).
 */
#include "snapshot.h"
#include "series_name.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* File names are SERIES.SEQ.snap with SEQ zero-padded to 6 digits -- and
 * longer past 999,999, where a plain strcmp would put 1000000 before 999999.
 * So names compare by SERIES (strcmp: its hex start time sorts as text),
 * then by SEQ as a number: by series, then by time, at any length. */
static size_t seq_start(const char *path, size_t *digits)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t series = snap_file_name_split(base, digits);
    return (size_t)(base - path) + series + (*digits ? 1 : 0);
}

static int cmp_path(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t dx, dy, sx = seq_start(x, &dx), sy = seq_start(y, &dy);
    if (!dx || !dy || sx != sy || strncmp(x, y, sx))
        return strcmp(x, y);
    const char *nx = x + sx, *ny = y + sy;
    while (dx > 1 && *nx == '0')
        nx++, dx--;
    while (dy > 1 && *ny == '0')
        ny++, dy--;
    if (dx != dy)
        return dx < dy ? -1 : 1;
    int c = strncmp(nx, ny, dx);
    return c ? c : strcmp(x, y);
}

int snapshot_list_dir(const char *dir, char ***paths, char *err, size_t errlen)
{
    *paths = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        return -e;
    }
    size_t n = 0, cap = 0;
    char **list = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (!snap_file_name_has_suffix(de->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            char **bigger = realloc(list, ncap * sizeof(*list));
            if (!bigger)
                break;
            list = bigger;
            cap = ncap;
        }
        size_t pl = strlen(dir) + 1 + l + 1;
        list[n] = malloc(pl);
        if (!list[n])
            break;
        snprintf(list[n], pl, "%s/%s", dir, de->d_name);
        n++;
    }
    closedir(d);
    if (n == 0) {
        free(list);
        snprintf(err, errlen, "%s: no snapshot files (*.snap) in this directory", dir);
        return -ENOENT;
    }
    qsort(list, n, sizeof(*list), cmp_path);
    *paths = list;
    return (int)n;
}
