/*
 * Implementation of common/dmabuf.h: the dma-buf fdinfo parser.
 */
#include "dmabuf.h"
#include "procfs.h"
#include "util.h"

#include <errno.h>
#include <string.h>

/* The value of a "key:\tvalue" line: after the colon, tabs and spaces skipped. */
static const char *value_of(const char *line, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(line, key, n) || line[n] != ':')
        return NULL;
    const char *v = line + n + 1;
    while (*v == '\t' || *v == ' ')
        v++;
    return v;
}

static uint64_t parse_dec(const char *s, int *ok)
{
    uint64_t v = 0;
    *ok = *s >= '0' && *s <= '9';
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    if (*s && *s != '\n' && *s != ' ' && *s != '\t')
        *ok = 0;
    return v;
}

/* Copies the rest of the line (without the newline) into dst. */
static void copy_line(char *dst, size_t cap, const char *v)
{
    size_t n = 0;
    while (v[n] && v[n] != '\n' && n + 1 < cap)
        n++;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

int dmabuf_parse_fdinfo(const char *text, struct dmabuf_fdinfo *out)
{
    memset(out, 0, sizeof(*out));
    for (const char *line = text; line && *line;) {
        const char *v;
        int ok;
        if ((v = value_of(line, "size"))) {
            out->size = parse_dec(v, &ok);
            out->has_size = ok;
        } else if ((v = value_of(line, "ino"))) {
            out->inode = parse_dec(v, &ok);
        } else if ((v = value_of(line, "count"))) {
            out->count = parse_dec(v, &ok);
        } else if ((v = value_of(line, "exp_name"))) {
            copy_line(out->exp_name, sizeof(out->exp_name), v);
            out->has_exp_name = 1;
        } else if ((v = value_of(line, "name"))) {
            copy_line(out->name, sizeof(out->name), v);
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return out->has_size && out->has_exp_name ? 0 : -EINVAL;
}

int dmabuf_read_fdinfo(int pid, int fd, struct dmabuf_fdinfo *out)
{
    char leaf[32] = "fdinfo/", path[96], text[1024];
    util_u64_to_dec((uint64_t)fd, leaf + 7, sizeof(leaf) - 7);
    util_proc_path(path, sizeof(path), pid, leaf);
    ssize_t n = procfs_read_file(path, text, sizeof(text));
    if (n < 0)
        return (int)n;
    return dmabuf_parse_fdinfo(text, out);
}
