/*
 * Small helpers shared by every part: clocks, directory creation, crc32 and
 * allocation-free number formatting. Nothing here calls malloc, so the shim
 * may use all of it from inside the audited process.
 */
#ifndef LEAKAUDIT_UTIL_H
#define LEAKAUDIT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

uint64_t util_realtime_ns(void);
uint64_t util_monotonic_ns(void);

/* mkdir -p with mode 0700 for every directory created. Returns 0 or -errno. */
int util_mkdir_p(const char *path);

uint32_t util_crc32(uint32_t crc, const void *data, size_t len);

/* Writes the decimal form of v into buf (NUL-terminated); returns its length. */
size_t util_u64_to_dec(uint64_t v, char *buf, size_t cap);
size_t util_u64_to_hex(uint64_t v, char *buf, size_t cap);

/* Builds "/proc/PID/LEAF" into buf or, for pid <= 0, "/proc/self/LEAF"
 * while the main thread lives and "/proc/thread-self/LEAF" once it has
 * exited (then /proc/self/exe, maps and fd no longer answer). /proc/self
 * first because qemu-user emulates it, and only it, for the program it
 * runs: its /proc/thread-self/ is the emulator's own. Returns buf. */
char *util_proc_path(char *buf, size_t cap, int pid, const char *leaf);

/* Reads the path of pid's executable (0 = self) into buf, NUL-terminated;
 * returns its length, or -errno with buf = "" (pid gone, no permission). */
ssize_t util_read_exe(int pid, char *buf, size_t cap);

/* Reads VmRSS of pid (0 = self) in bytes from /proc; 0 if unknown. */
uint64_t util_read_rss(int pid);

/* The page size of this process, from the auxiliary vector: 4 KiB on
 * x86-64, 4, 16 or 64 KiB on aarch64 kernels. Async-signal-safe. */
size_t util_page_size(void);

/* Copies at most cap-1 bytes and NUL-terminates; returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t cap);
/* A growable array *arr of *cap elements of elem bytes: room for need of
 * them (doubling; new room zeroed). 0, or -ENOMEM with *arr unchanged. Not
 * for the shim's hooks (it calls realloc). */
int util_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* Parses a size such as "512K", "4M", "1G", "100"; returns 0 or -EINVAL. */
int util_parse_size(const char *s, uint64_t *out);
/* A size range: "N" (exactly), "MIN-MAX", "MIN-" or "-MAX" (sizes as above);
 * 0 or -EINVAL (also when MIN > MAX). */
int util_parse_size_range(const char *s, uint64_t *lo, uint64_t *hi);
/* Parses a duration such as "10", "10s", "500ms", "2m", "1h" into ms. */
int util_parse_duration_ms(const char *s, uint64_t *out);

/* Parses a snapshot signal: USR1, USR2, PROF (with or without SIG), RTMIN+N,
 * a number, or none/off (0). KILL and STOP, which cannot be caught, and
 * anything else give -EINVAL. */
int util_parse_signal(const char *s);
/* Parses a comma list of heap, fd, mmap (or all) into the three flags;
 * -EINVAL on an unknown item or an empty list. */
int util_parse_track(const char *s, int *heap, int *fd, int *mmap);

/* Tells the CPU we are spinning (x86 pause / arm64 yield). */
/* FNV-1a over n bytes, continuing from h (start with UTIL_FNV_SEED). No
 * allocation, no libc: usable in a bare clone of the process. */
#define UTIL_FNV_SEED 0xcbf29ce484222325ull
static inline uint64_t util_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Lowercase hex digits at *s (a /proc/PID/maps address), *s moved past
 * them. No allocation, no libc: usable in a bare clone of the process. */
static inline uint64_t util_parse_hex(const char **s)
{
    uint64_t v = 0;
    for (;; (*s)++) {
        char c = **s;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v << 4 | (uint64_t)d;
    }
}

static inline void util_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A record of the getdents64 system call (read with raw syscalls where
 * opendir could allocate: inside the audited process). */
struct util_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

#endif
