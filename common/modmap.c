/*
 * Implementation of common/modmap.h: a line parser for /proc/PID/maps over a
 * fixed buffer and a minimal ELF64 note reader for the GNU build-id. No
 * libelf here on purpose: this runs inside the audited process, where we
 * load no extra library and never call malloc.
 */
#include "modmap.h"
#include "util.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAPS_BUF 8192
#define NOTE_BUF 1024

static int read_note_segment(int fd, uint64_t off, uint64_t size, uint8_t *out, size_t cap)
{
    unsigned char buf[NOTE_BUF];
    if (size > sizeof(buf))
        size = sizeof(buf);
    ssize_t n = pread(fd, buf, size, (off_t)off);
    if (n <= 0)
        return -EIO;
    size_t pos = 0;
    while (pos + sizeof(Elf64_Nhdr) <= (size_t)n) {
        Elf64_Nhdr nh;
        memcpy(&nh, buf + pos, sizeof(nh));
        size_t name_off = pos + sizeof(nh);
        size_t desc_off = name_off + ((nh.n_namesz + 3) & ~3u);
        size_t next = desc_off + ((nh.n_descsz + 3) & ~3u);
        if (next > (size_t)n || next <= pos)
            break;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && !memcmp(buf + name_off, "GNU", 4)) {
            size_t len = nh.n_descsz < cap ? nh.n_descsz : cap;
            memcpy(out, buf + desc_off, len);
            return (int)len;
        }
        pos = next;
    }
    return -ENOENT;
}

int modmap_read_build_id(const char *path, uint8_t *out, size_t cap)
{
    /* O_NONBLOCK + fstat: a FIFO at a module's path (the path comes from a
     * snapshot) must not block the reader. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -ENOEXEC;
    }
    Elf64_Ehdr eh;
    int rc = -ENOENT;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr)) {
        close(fd);
        return -ENOEXEC;
    }
    for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph))
            break;
        if (ph.p_type != PT_NOTE)
            continue;
        rc = read_note_segment(fd, ph.p_offset, ph.p_filesz, out, cap);
        if (rc > 0)
            break;
    }
    close(fd);
    return rc;
}

static uint64_t parse_hex(const char **p)
{
    uint64_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uint64_t)(c - 'a' + 10);
        else
            return v;
    }
}

struct walk {
    int pid;
    int (*cb)(const struct snap_module *m, void *arg);
    void *arg;
    int count;
    char last_path[SNAP_MAX_PATH];
    uint8_t last_id[SNAP_MAX_BUILD_ID];
    int last_id_len;
};

/* Parses one maps line: "start-end perms offset dev inode   path". */
static int handle_line(struct walk *w, const char *line)
{
    const char *p = line;
    uint64_t start = parse_hex(&p);
    if (*p++ != '-')
        return 0;
    uint64_t end = parse_hex(&p);
    if (*p++ != ' ')
        return 0;
    char perms[5];
    memcpy(perms, p, 4);
    perms[4] = '\0';
    p += 4;
    if (*p++ != ' ')
        return 0;
    uint64_t offset = parse_hex(&p);
    for (int field = 0; field < 2; field++) { /* dev, inode */
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    while (*p == ' ')
        p++;
    if (perms[2] != 'x' || *p != '/')
        return 0;

    struct snap_module m = {.start = start, .end = end, .offset = offset};
    m.path = (char *)p;
    if (strcmp(w->last_path, p) != 0) {
        char file[SNAP_MAX_PATH + 64];
        if (w->pid > 0) {
            /* map_files works across mount namespaces and for deleted files. */
            char num[24], s[24], e[24];
            util_u64_to_dec((uint64_t)w->pid, num, sizeof(num));
            util_u64_to_hex(start, s, sizeof(s));
            util_u64_to_hex(end, e, sizeof(e));
            size_t n = util_strlcpy(file, "/proc/", sizeof(file));
            n += util_strlcpy(file + n, num, sizeof(file) - n);
            n += util_strlcpy(file + n, "/map_files/", sizeof(file) - n);
            n += util_strlcpy(file + n, s, sizeof(file) - n);
            n += util_strlcpy(file + n, "-", sizeof(file) - n);
            util_strlcpy(file + n, e, sizeof(file) - n);
        } else {
            util_strlcpy(file, p, sizeof(file));
        }
        int len = modmap_read_build_id(file, w->last_id, sizeof(w->last_id));
        if (len < 0 && w->pid > 0) {
            char root[SNAP_MAX_PATH + 64], num[24];
            util_u64_to_dec((uint64_t)w->pid, num, sizeof(num));
            size_t n = util_strlcpy(root, "/proc/", sizeof(root));
            n += util_strlcpy(root + n, num, sizeof(root) - n);
            n += util_strlcpy(root + n, "/root", sizeof(root) - n);
            util_strlcpy(root + n, p, sizeof(root) - n);
            len = modmap_read_build_id(root, w->last_id, sizeof(w->last_id));
        }
        w->last_id_len = len > 0 ? len : 0;
        util_strlcpy(w->last_path, p, sizeof(w->last_path));
    }
    memcpy(m.build_id, w->last_id, (size_t)w->last_id_len);
    m.build_id_len = (uint32_t)w->last_id_len;
    w->count++;
    return w->cb(&m, w->arg);
}

int modmap_foreach(int pid, int (*cb)(const struct snap_module *m, void *arg), void *arg)
{
    char path[64];
    util_proc_path(path, sizeof(path), pid, "maps");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct walk w = {.pid = pid, .cb = cb, .arg = arg};
    char buf[MAPS_BUF];
    size_t have = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf;
        char *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = '\0';
            rc = handle_line(&w, line);
            if (rc)
                goto out;
            line = nl + 1;
        }
        size_t rest = have - (size_t)(line - buf);
        if (n == 0) {
            if (rest)
                rc = handle_line(&w, line);
            break;
        }
        if (rest == sizeof(buf) - 1)
            rest = 0; /* a line longer than the buffer: drop it */
        memmove(buf, line, rest);
        have = rest;
    }
out:
    close(fd);
    return rc ? rc : w.count;
}
