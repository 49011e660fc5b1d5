/*
 * Implementation of common/util.h. Everything is allocation-free and uses
 * raw system calls where libc might allocate (no stdio), because the shim
 * calls these from inside malloc's caller.
 */
#include "util.h"
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t util_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t util_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int util_mkdir_p(const char *path)
{
    char buf[4096];
    size_t len = util_strlcpy(buf, path, sizeof(buf));
    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* CRC-32 (IEEE 802.3, the same value as zlib's crc32), slicing-by-8: eight
 * table lookups per 8 input bytes. Tables are built on first use; racing
 * initialisers write identical values. */
static uint32_t crc_tables[8][256];
static int crc_tables_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_tables[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_tables[t][i] =
                (crc_tables[t - 1][i] >> 8) ^ crc_tables[0][crc_tables[t - 1][i] & 0xff];
    __atomic_store_n(&crc_tables_ready, 1, __ATOMIC_RELEASE);
}

/* Pass 0 to start; pass the previous result to continue. */
uint32_t util_crc32(uint32_t crc, const void *data, size_t len)
{
    if (!__atomic_load_n(&crc_tables_ready, __ATOMIC_ACQUIRE))
        crc_init();
    const unsigned char *p = data;
    crc = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        crc = crc_tables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v ^= crc; /* little-endian: the low 4 bytes meet the running crc */
        crc = crc_tables[7][v & 0xff] ^ crc_tables[6][(v >> 8) & 0xff] ^
              crc_tables[5][(v >> 16) & 0xff] ^ crc_tables[4][(v >> 24) & 0xff] ^
              crc_tables[3][(v >> 32) & 0xff] ^ crc_tables[2][(v >> 40) & 0xff] ^
              crc_tables[1][(v >> 48) & 0xff] ^ crc_tables[0][(v >> 56) & 0xff];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = crc_tables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

size_t util_u64_to_dec(uint64_t v, char *buf, size_t cap)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (cap == 0)
        return n;
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++)
        buf[i] = tmp[n - 1 - i];
    buf[i] = '\0';
    return n;
}

size_t util_u64_to_hex(uint64_t v, char *buf, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = digits[v & 0xf];
        v >>= 4;
    } while (v);
    if (cap == 0)
        return n;
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++)
        buf[i] = tmp[n - 1 - i];
    buf[i] = '\0';
    return n;
}

char *util_proc_path(char *buf, size_t cap, int pid, const char *leaf)
{
    const char *dir = "/proc/";
    if (pid <= 0) {
        char one;
        dir = readlink("/proc/self/exe", &one, 1) > 0 ? "/proc/self/" : "/proc/thread-self/";
    }
    size_t n = util_strlcpy(buf, dir, cap);
    if (pid > 0 && n < cap) {
        n += util_u64_to_dec((uint64_t)pid, buf + n, cap - n);
        n += util_strlcpy(buf + n, "/", n < cap ? cap - n : 0);
    }
    if (n < cap)
        util_strlcpy(buf + n, leaf, cap - n);
    return buf;
}

ssize_t util_read_exe(int pid, char *buf, size_t cap)
{
    char path[64];
    ssize_t n = readlink(util_proc_path(path, sizeof(path), pid, "exe"), buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    return n < 0 ? -errno : n;
}

uint64_t util_read_rss(int pid)
{
    char path[64];
    util_proc_path(path, sizeof(path), pid, "status");
    char buf[4096];
    if (procfs_read_file(path, buf, sizeof(buf)) <= 0)
        return 0;
    char *p = strstr(buf, "VmRSS:");
    if (!p)
        return 0;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    uint64_t kb = 0;
    while (*p >= '0' && *p <= '9')
        kb = kb * 10 + (uint64_t)(*p++ - '0');
    return kb * 1024;
}

size_t util_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t len = strlen(src);
    if (cap) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

static int parse_number(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    while (*p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
        p++;
    }
    *s = p;
    *out = v;
    return 0;
}

int util_parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mult = 1;
    if (!s || parse_number(&s, &v) < 0)
        return -EINVAL;
    switch (*s) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mult = 1ull << 10;
        s++;
        break;
    case 'm':
    case 'M':
        mult = 1ull << 20;
        s++;
        break;
    case 'g':
    case 'G':
        mult = 1ull << 30;
        s++;
        break;
    default:
        return -EINVAL;
    }
    if (*s == 'i' || *s == 'I')
        s++;
    if (*s == 'b' || *s == 'B')
        s++;
    if (*s != '\0' || (v && mult > UINT64_MAX / v))
        return -EINVAL;
    *out = v * mult;
    return 0;
}

int util_parse_size_range(const char *s, uint64_t *lo, uint64_t *hi)
{
    uint64_t a = 0, b = UINT64_MAX;
    const char *dash = s ? strchr(s, '-') : NULL;
    if (!s || !*s)
        return -EINVAL;
    if (!dash) {
        if (util_parse_size(s, &a) < 0)
            return -EINVAL;
        b = a;
    } else {
        char part[32];
        size_t l = (size_t)(dash - s);
        if (l >= sizeof(part) || (!l && !dash[1]))
            return -EINVAL;
        if (l) {
            memcpy(part, s, l);
            part[l] = '\0';
            if (util_parse_size(part, &a) < 0)
                return -EINVAL;
        }
        if (dash[1] && util_parse_size(dash + 1, &b) < 0)
            return -EINVAL;
    }
    if (a > b)
        return -EINVAL;
    *lo = a;
    *hi = b;
    return 0;
}

int util_parse_duration_ms(const char *s, uint64_t *out)
{
    uint64_t v, mult = 1000;
    if (!s || parse_number(&s, &v) < 0)
        return -EINVAL;
    if (!strcmp(s, "") || !strcmp(s, "s"))
        mult = 1000;
    else if (!strcmp(s, "ms"))
        mult = 1;
    else if (!strcmp(s, "m") || !strcmp(s, "min"))
        mult = 60000;
    else if (!strcmp(s, "h"))
        mult = 3600000;
    else
        return -EINVAL;
    if (v && mult > UINT64_MAX / v)
        return -EINVAL;
    *out = v * mult;
    return 0;
}

int util_parse_signal(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"USR1", SIGUSR1},    {"USR2", SIGUSR2}, {"SIGUSR1", SIGUSR1},
                 {"SIGUSR2", SIGUSR2}, {"PROF", SIGPROF}, {"SIGPROF", SIGPROF},
                 {"none", 0},          {"off", 0}};
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(s, names[i].name))
            return names[i].sig;
    uint64_t v;
    const char *p = s;
    if (parse_number(&p, &v) == 0 && !*p && v > 0 && (int)v <= SIGRTMAX && v != SIGKILL &&
        v != SIGSTOP)
        return (int)v;
    p = s + 6;
    if (!strncasecmp(s, "RTMIN+", 6) && parse_number(&p, &v) == 0 && !*p &&
        v <= (uint64_t)(SIGRTMAX - SIGRTMIN))
        return SIGRTMIN + (int)v;
    return -EINVAL;
}

int util_parse_track(const char *s, int *heap, int *fd, int *mmap)
{
    int h = 0, f = 0, m = 0;
    if (!s || !*s)
        return -EINVAL;
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len == 4 && !strncmp(s, "heap", 4))
            h = 1;
        else if ((len == 2 && !strncmp(s, "fd", 2)) || (len == 3 && !strncmp(s, "fds", 3)))
            f = 1;
        else if (len == 4 && !strncmp(s, "mmap", 4))
            m = 1;
        else if (len == 3 && !strncmp(s, "all", 3))
            h = f = m = 1;
        else
            return -EINVAL;
        s += len;
        if (*s == ',')
            s++;
    }
    *heap = h;
    *fd = f;
    *mmap = m;
    return 0;
}

size_t util_page_size(void)
{
    unsigned long pg = getauxval(AT_PAGESZ);
    return pg ? (size_t)pg : (size_t)sysconf(_SC_PAGESIZE);
}

int util_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -ENOMEM;
    memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}
