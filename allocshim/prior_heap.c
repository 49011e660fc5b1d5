/*
 * attach --inject: the heap that was live before the attach (docs/inject.md,
 * "Blocks allocated before the attach").
 *
 * Once the hooks are in, the blocks glibc's malloc holds for the program
 * are enumerated and enter the address table without a stack
 * (SNAP_STACK_NONE, flag SHIM_BLOCK_PRIOR): their frees are then
 * recognised, and the reachability scan classifies them, so an old leak is
 * visible at the first scan.
 *
 * The walk reads a consistent copy of the heap: a child made with a bare
 * clone (no atfork handlers of the program run, no exit signal) walks its
 * copy and writes (address, size) pairs to a pipe; the child runs no libc
 * function that could take a lock another thread held at the clone. In the
 * copy:
 *   - the main arena's chunks in [heap], each non-main arena's heaps
 *     (HEAP_MAX_SIZE-aligned mappings starting with a heap_info), and
 *     chunks served by mmap (page-aligned headers with only IS_MMAPPED);
 *   - a chunk is in use when the next chunk's PREV_INUSE bit says so, less
 *     the chunks in a fastbin (each arena's lists, safe-linking revealed)
 *     and those in a thread's tcache (their second word holds glibc's
 *     tcache key, learnt from a chunk we free ourselves).
 * A walk that does not land exactly on each region's end, or an arena that
 * does not validate, makes the whole enumeration fail: nothing is guessed
 * (note heap_before_attach_not_enumerated). Other allocators are not
 * walked (the same note).
 *
 * Frees of untracked blocks while the child walks are logged; after the
 * blocks are in the table, the logged ones are dropped again (only blocks
 * with SHIM_BLOCK_PRIOR: an address freed and allocated again is a new
 * block). A free that misses the table after the log closed looks again.
 *
 * The layout read here is glibc 2.26+'s malloc_state on 64-bit targets.
 */
#include "shim.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE            4096ull
#define HEAP_MAX        (64ull << 20) /* 2 * DEFAULT_MMAP_THRESHOLD_MAX on 64-bit */
#define ARENA_SIZE      2200ull       /* sizeof(struct malloc_state) */
#define ARENA_FASTBINS  16ull         /* offsetof(fastbinsY) */
#define N_FASTBINS      10
#define ARENA_TOP       96ull   /* offsetof(top) */
#define ARENA_NEXT      2160ull /* offsetof(next) */
#define PREV_INUSE      1ull
#define IS_MMAPPED      2ull
#define NON_MAIN_ARENA  4ull
#define MAX_REGIONS     65536
#define MAX_FAST        (1u << 20)
#define LOG_CAP         (1u << 20) /* 8 MiB of addresses, touched as used */
#define REC_DONE        0xd0e5eull /* (0, REC_DONE): the walk ended well */
#define WALK_MAX_ARENAS 1024
#define WALK_TIMEOUT_MS 30000

struct region {
    uint64_t start, end;
    uint64_t name; /* a hash of the path (0: anonymous) */
    uint8_t rw, anon, heap, libc;
};

/* A non-main arena's heap: HEAP_MAX-aligned, heap_info first. */
struct aheap {
    uint64_t h, ar, size;
};
#define MAX_HEAPS 4096

struct rec {
    uint64_t addr, size;
};

/* ---- the child's side: raw system calls only ---- */

struct walk {
    struct region *r;
    size_t n;
    uint64_t *fast; /* chunks in fastbins, sorted */
    size_t n_fast;
    uint64_t key; /* tcache key; 0 = none */
    uint64_t main_top;
    uint64_t arenas[WALK_MAX_ARENAS];
    size_t n_arenas;
    struct aheap heaps[MAX_HEAPS];
    size_t n_heaps;
    int out;
    struct rec buf[512];
    size_t n_buf;
    int failed;
};

static void *raw_map(size_t len)
{
    long p =
        syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == -1 ? NULL : (void *)p;
}

static int flush(struct walk *w)
{
    const char *p = (const char *)w->buf;
    size_t left = w->n_buf * sizeof(struct rec);
    while (left) {
        long n = syscall(SYS_write, w->out, p, left);
        if (n <= 0)
            return -1;
        p += n;
        left -= (size_t)n;
    }
    w->n_buf = 0;
    return 0;
}

static void emit(struct walk *w, uint64_t addr, uint64_t size)
{
    w->buf[w->n_buf].addr = addr;
    w->buf[w->n_buf++].size = size;
    if (w->n_buf == sizeof(w->buf) / sizeof(w->buf[0]) && flush(w) < 0)
        w->failed = 1;
}

/* One line of /proc/self/maps into a region. */
static void parse_line(struct walk *w, const char *s)
{
    if (w->n == MAX_REGIONS) {
        w->failed = 1;
        return;
    }
    struct region *r = &w->r[w->n];
    memset(r, 0, sizeof(*r));
    r->start = util_parse_hex(&s);
    s++;
    r->end = util_parse_hex(&s);
    s++;
    r->rw = s[0] == 'r' && s[1] == 'w';
    for (int field = 0; field < 4 && *s; field++) { /* perms offset dev inode */
        while (*s && *s != ' ')
            s++;
        while (*s == ' ')
            s++;
    }
    r->anon = !*s;
    r->heap = !strcmp(s, "[heap]");
    r->name = *s ? util_fnv1a(UTIL_FNV_SEED, s, strlen(s)) : 0;
    w->n++;
}

/* The mappings, and libc's: those of the file that holds malloc. */
static int read_maps(struct walk *w, uint64_t malloc_addr)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char chunk[4096], line[4352];
    size_t len = 0;
    for (;;) {
        long n = syscall(SYS_read, fd, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        for (long i = 0; i < n; i++) {
            if (chunk[i] != '\n') {
                if (len < sizeof(line) - 1)
                    line[len++] = chunk[i];
                continue;
            }
            line[len] = 0;
            parse_line(w, line);
            len = 0;
        }
    }
    syscall(SYS_close, fd);
    uint64_t libc = 0;
    for (size_t i = 0; i < w->n; i++)
        if (malloc_addr >= w->r[i].start && malloc_addr < w->r[i].end)
            libc = w->r[i].name;
    for (size_t i = 0; i < w->n; i++)
        w->r[i].libc = libc && w->r[i].name == libc;
    return libc ? 0 : -1;
}

static struct region *region_of(struct walk *w, uint64_t a)
{
    for (size_t i = 0; i < w->n; i++)
        if (a >= w->r[i].start && a < w->r[i].end)
            return &w->r[i];
    return NULL;
}

/* [a, a + len) in writable mappings (a variable may span libc's .data and
 * the .bss mapping after it). */
static int readable(struct walk *w, uint64_t a, uint64_t len)
{
    struct region *r = region_of(w, a), *e = region_of(w, a + len - 1);
    if (!r || !e || !r->rw || !e->rw || a % 8)
        return 0;
    for (struct region *q = r; q < e; q++) /* no gap in between */
        if (q[1].start != q->end || !q[1].rw)
            return 0;
    return 1;
}

static uint64_t word(uint64_t a)
{
    return *(const volatile uint64_t *)(uintptr_t)a;
}

static int is_fast(const struct walk *w, uint64_t chunk)
{
    size_t lo = 0, hi = w->n_fast;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w->fast[mid] == chunk)
            return 1;
        if (w->fast[mid] < chunk)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static void sort_u64(uint64_t *v, size_t n)
{
    for (size_t gap = n / 2; gap; gap /= 2) /* shell sort: no allocation, no libc */
        for (size_t i = gap; i < n; i++)
            for (size_t j = i; j >= gap && v[j - gap] > v[j]; j -= gap) {
                uint64_t t = v[j];
                v[j] = v[j - gap];
                v[j - gap] = t;
            }
}

/* Every chunk on the arena's fastbin lists (safe-linking: the stored link
 * is the next chunk's user address xor its own address >> 12). */
static int collect_fastbins(struct walk *w, uint64_t arena)
{
    if (!readable(w, arena, ARENA_SIZE))
        return -1;
    for (int i = 0; i < N_FASTBINS; i++) {
        uint64_t c = word(arena + ARENA_FASTBINS + 8ull * (uint64_t)i);
        size_t steps = 0;
        while (c) {
            if (c % 16 || !readable(w, c, 32) || w->n_fast == MAX_FAST || ++steps > MAX_FAST)
                return -1;
            w->fast[w->n_fast++] = c;
            uint64_t link = c + 16;
            c = (link >> 12) ^ word(link);
        }
    }
    return 0;
}

/* Chunks from `from` to `end`: in-use ones emitted. 0 when the walk lands
 * on end (top chunk, or a heap's end after its fenceposts). */
static int walk_chunks(struct walk *w, uint64_t from, uint64_t end, uint64_t *last)
{
    uint64_t c = from;
    while (c < end) {
        uint64_t size = word(c + 8) & ~7ull;
        if (size == 0) /* the fencepost that ends a non-main heap's old top */
            return 0;
        if (size % 16 || c + size > end)
            return -1;
        *last = c;
        uint64_t next = c + size;
        if (next == end)
            return 0; /* the top chunk (or a heap's last chunk): free space */
        int in_use = (word(next + 8) & PREV_INUSE) != 0;
        if (size >= 32 && in_use && !(w->key && word(c + 24) == w->key) && !is_fast(w, c))
            emit(w, c + 16, size - 8);
        c = next;
    }
    return c == end ? 0 : -1;
}

static int in_heap(const struct walk *w, uint64_t a)
{
    for (size_t i = 0; i < w->n_heaps; i++)
        if (a >= w->heaps[i].h && a < w->heaps[i].h + HEAP_MAX)
            return 1;
    return 0;
}

static int is_arena(const struct walk *w, uint64_t a)
{
    for (size_t i = 0; i < w->n_arenas; i++)
        if (w->arenas[i] == a)
            return 1;
    return 0;
}

/* Non-main heaps: at HEAP_MAX-aligned addresses of writable anonymous
 * mappings (the kernel may have merged a heap with a neighbour), a
 * heap_info whose arena is right after it (an arena's first heap; pass 0)
 * or is such an arena (pass 1). */
static int find_arena_heaps(struct walk *w, uint64_t *heap_info_size)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < w->n; i++) {
            struct region *r = &w->r[i];
            if (!r->rw || !r->anon || r->heap)
                continue;
            for (uint64_t h = (r->start + HEAP_MAX - 1) & ~(HEAP_MAX - 1); h + PAGE <= r->end;
                 h += HEAP_MAX) {
                uint64_t ar = word(h), size = word(h + 16);
                int first = ar > h && ar - h <= 64 && (ar - h) % 16 == 0;
                if (size < PAGE || size > HEAP_MAX || h + size > r->end ||
                    (pass == 0 ? !first : first || !is_arena(w, ar)))
                    continue;
                if (w->n_heaps == MAX_HEAPS || (pass == 0 && w->n_arenas == WALK_MAX_ARENAS))
                    return -1;
                if (pass == 0) {
                    if (*heap_info_size && *heap_info_size != ar - h)
                        return -1;
                    *heap_info_size = ar - h;
                    w->arenas[w->n_arenas++] = ar;
                }
                w->heaps[w->n_heaps++] = (struct aheap){h, ar, size};
            }
        }
    return 0;
}

static int heaps_of_arenas(struct walk *w, uint64_t hinfo)
{
    for (size_t i = 0; i < w->n_heaps; i++) {
        const struct aheap *a = &w->heaps[i];
        uint64_t from, last = 0;
        if (a->ar == a->h + hinfo) /* first heap: chunks after the arena, user memory aligned */
            from = ((a->ar + ARENA_SIZE + 16 + 15) & ~15ull) - 16;
        else
            from = a->h + hinfo;
        if (walk_chunks(w, from, a->h + a->size, &last) < 0)
            return -1;
    }
    return 0;
}

/* The main arena: the arena list's member outside every heap, or (one
 * arena) the word in libc's data that points at [heap]'s top chunk. */
static uint64_t find_main_arena(struct walk *w)
{
    for (size_t i = 0; i < w->n_arenas; i++) {
        uint64_t a = w->arenas[i];
        for (int steps = 0; steps < WALK_MAX_ARENAS && readable(w, a + ARENA_NEXT, 8); steps++) {
            if (!in_heap(w, a))
                return a;
            a = word(a + ARENA_NEXT);
        }
    }
    if (!w->main_top)
        return 0;
    for (size_t i = 0; i < w->n; i++) {
        struct region *r = &w->r[i];
        int bss = i > 0 && w->r[i - 1].libc && r->anon && r->start == w->r[i - 1].end;
        if (!r->rw || !(r->libc || bss))
            continue;
        for (uint64_t a = r->start; a + 8 <= r->end; a += 8) {
            if (word(a) != w->main_top || a < r->start + ARENA_TOP)
                continue;
            uint64_t arena = a - ARENA_TOP;
            uint64_t next = readable(w, arena + ARENA_NEXT, 8) ? word(arena + ARENA_NEXT) : 0;
            if (next == arena || (next && is_arena(w, next)))
                return arena;
        }
    }
    return 0;
}

/* Chunks glibc served with mmap: a page-aligned header holding only
 * IS_MMAPPED, its size a page multiple inside the mapping. */
static void walk_mmapped(struct walk *w)
{
    for (size_t i = 0; i < w->n; i++) {
        struct region *r = &w->r[i];
        if (!r->rw || !r->anon || r->heap)
            continue;
        /* every page of a mapping up to 1 GiB; in a larger one (a reservation,
         * mostly never touched), only the chunks that follow each other from
         * its start */
        int every_page = r->end - r->start <= (1ull << 30);
        uint64_t c = r->start;
        while (c + PAGE <= r->end) {
            if (in_heap(w, c)) {
                c += PAGE;
                continue;
            }
            uint64_t head = word(c + 8), size = head & ~7ull;
            if (word(c) == 0 && (head & 7) == IS_MMAPPED && size >= PAGE && size % PAGE == 0 &&
                c + size <= r->end) {
                emit(w, c + 16, size - 16);
                c += size;
            } else if (every_page) {
                c += PAGE;
            } else {
                break;
            }
        }
    }
}

static int walk_all(struct walk *w)
{
    uint64_t hinfo = 0, last = 0;
    if (find_arena_heaps(w, &hinfo) < 0)
        return -1;
    for (size_t i = 0; i < w->n; i++)
        if (w->r[i].heap && w->r[i].rw) {
            /* the main arena's chunks: fastbins first, so find its top */
            uint64_t c = w->r[i].start, end = w->r[i].end;
            while (c < end) {
                uint64_t size = word(c + 8) & ~7ull;
                if (!size || size % 16 || c + size > end)
                    return -1;
                if (c + size == end)
                    break;
                c += size;
            }
            w->main_top = c;
        }
    uint64_t main_arena = find_main_arena(w);
    if (!main_arena && (w->main_top || w->n_arenas))
        return -1;
    if (main_arena && collect_fastbins(w, main_arena) < 0)
        return -1;
    for (size_t i = 0; i < w->n_arenas; i++)
        if (collect_fastbins(w, w->arenas[i]) < 0)
            return -1;
    sort_u64(w->fast, w->n_fast);
    for (size_t i = 0; i < w->n; i++)
        if (w->r[i].heap && w->r[i].rw && walk_chunks(w, w->r[i].start, w->r[i].end, &last) < 0)
            return -1;
    if (w->n_arenas && (!hinfo || heaps_of_arenas(w, hinfo) < 0))
        return -1;
    walk_mmapped(w);
    return w->failed ? -1 : 0;
}

static __attribute__((noreturn)) void child_main(int out, uint64_t key, uint64_t malloc_addr)
{
    struct walk *w = raw_map(sizeof(*w));
    int rc = -1;
    if (w) {
        w->r = raw_map(MAX_REGIONS * sizeof(struct region));
        w->fast = raw_map(MAX_FAST * sizeof(uint64_t));
        w->out = out;
        w->key = key;
        if (w->r && w->fast && read_maps(w, malloc_addr) == 0 && walk_all(w) == 0) {
            emit(w, 0, REC_DONE);
            rc = flush(w);
        }
    }
    syscall(SYS_exit_group, rc < 0 ? 1 : 0);
    for (;;)
        ;
}

/* ---- the program's side ---- */

static int log_lock;
static int log_open; /* frees of untracked blocks are being logged */
static uint64_t *log_addrs;
static uint32_t log_n;
static uint64_t prior_blocks, log_full, not_enumerated = 1;

/* glibc's tcache key: the second word of a chunk this thread just freed
 * into its tcache (glibc 2.34+; before, the tcache's address, per thread). */
static uint64_t tcache_key(void)
{
    uint64_t seen[2];
    for (int i = 0; i < 2; i++) {
        uint64_t *p = shim_real.malloc(i ? 56 : 40);
        if (!p)
            return 0;
        shim_real.free(p);
        seen[i] = *(volatile uint64_t *)&p[1];
    }
    return seen[0] == seen[1] ? seen[0] : 0;
}

int shim_prior_free_missed(void *p)
{
    if (!__atomic_load_n(&log_open, __ATOMIC_ACQUIRE))
        return 0;
    shim_spin_lock(&log_lock);
    if (log_open) {
        if (log_n < LOG_CAP)
            log_addrs[log_n++] = (uint64_t)(uintptr_t)p;
        else
            log_full++;
        shim_spin_unlock(&log_lock);
        return 1;
    }
    shim_spin_unlock(&log_lock);
    return shim_heap_on_free(p); /* the log closed meanwhile: the block is in the table now */
}

/* Reads the child's pairs into *out (mapped: *bytes, grown by mremap);
 * the number of blocks, or -1 when the walk did not end well or took over
 * WALK_TIMEOUT_MS (a page that blocks on read -- a userfaultfd region --
 * would hold the attach forever: the child is killed instead). */
static long read_records(int fd, long child, struct rec **out, size_t *bytes)
{
    size_t cap = 1u << 20, have = 0;
    uint64_t deadline = util_monotonic_ns() + WALK_TIMEOUT_MS * 1000000ull;
    char *v = raw_map(cap);
    if (!v)
        return -1;
    for (;;) {
        if (have == cap) {
            long bigger = syscall(SYS_mremap, v, cap, 2 * cap, MREMAP_MAYMOVE);
            if (bigger == -1)
                break;
            v = (char *)bigger;
            cap *= 2;
        }
        uint64_t now = util_monotonic_ns();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = now < deadline ? poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            syscall(SYS_kill, child, SIGKILL);
            have = 0;
            break;
        }
        ssize_t got = read(fd, v + have, cap - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        have += (size_t)got;
    }
    *out = (struct rec *)v;
    *bytes = cap;
    size_t n = have / sizeof(struct rec);
    const struct rec *last = n ? &(*out)[n - 1] : NULL;
    return last && last->addr == 0 && last->size == REC_DONE ? (long)(n - 1) : -1;
}

/* One walk in a copy of the process; 0 with recs and n, or -1. */
static int walk_once(uint64_t malloc_addr, uint64_t key, struct rec **recs, long *n, size_t *bytes)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    /* a copy of the process with no exit signal: the program's SIGCHLD
     * handler and waitpid(-1) never see it (reaped with __WALL) */
    long pid = syscall(SYS_clone, 0L, 0L, 0L, 0L, 0L);
    if (pid == 0) {
        syscall(SYS_close, fds[0]);
        child_main(fds[1], key, malloc_addr);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    *n = read_records(fds[0], pid, recs, bytes);
    close(fds[0]);
    int st = 0;
    while (waitpid((pid_t)pid, &st, __WALL) < 0 && errno == EINTR)
        ;
    return *n < 0 || !WIFEXITED(st) || WEXITSTATUS(st) ? -1 : 0;
}

/* The walk, retried: a copy taken while another thread was inside malloc
 * can hold a half-made change that does not validate. */
static int enumerate(struct rec **recs, long *n, size_t *bytes)
{
    Dl_info info;
    if (!dladdr((void *)shim_real.malloc, &info) || !info.dli_fname ||
        !strstr(info.dli_fname, "libc.so"))
        return -1; /* not glibc's malloc: not walked */
    uint64_t key = tcache_key();
    for (int attempt = 0; attempt < 3; attempt++) {
        if (*recs)
            syscall(SYS_munmap, *recs, *bytes);
        *recs = NULL;
        if (walk_once((uint64_t)(uintptr_t)shim_real.malloc, key, recs, n, bytes) == 0)
            return 0;
    }
    return -1;
}

void shim_prior_heap_load(void)
{
    prior_blocks = log_full = 0;
    not_enumerated = 1;
    if (!shim_cfg.track_heap || shim_cfg.mode != SNAP_MODE_FULL)
        return;
    if (!log_addrs && !(log_addrs = raw_map(LOG_CAP * sizeof(*log_addrs))))
        return;
    log_n = 0;
    __atomic_store_n(&log_open, 1, __ATOMIC_RELEASE);
    struct rec *recs = NULL;
    long n = -1;
    size_t bytes = 0;
    int rc = enumerate(&recs, &n, &bytes);
    struct shim_block_info info;
    for (long i = 0; rc == 0 && i < n; i++) {
        void *p = (void *)(uintptr_t)recs[i].addr;
        if (shim_heap_lookup(p, &info) != SHIM_LOOKUP_NONE)
            continue; /* allocated again since the copy: a block of the attach's */
        shim_heap_on_alloc_weighted(p, recs[i].size, SNAP_STACK_NONE, SHIM_KIND_MALLOC, 0,
                                    SHIM_BLOCK_PRIOR);
        prior_blocks++;
    }
    shim_spin_lock(&log_lock);
    __atomic_store_n(&log_open, 0, __ATOMIC_RELEASE);
    for (uint32_t i = 0; rc == 0 && i < log_n; i++)
        if (shim_heap_drop_flagged((void *)(uintptr_t)log_addrs[i], SHIM_BLOCK_PRIOR))
            prior_blocks--;
    shim_spin_unlock(&log_lock);
    if (recs)
        syscall(SYS_munmap, recs, bytes);
    not_enumerated = rc != 0;
}

int shim_prior_heap_enumerated(void)
{
    return shim_injected && !not_enumerated;
}

void shim_prior_loss_counters(shim_loss_cb cb, void *arg)
{
    if (!shim_injected)
        return;
    cb(SNAP_LOSS_HEAP_BEFORE_ATTACH_BLOCKS, prior_blocks, arg);
    cb(SNAP_LOSS_HEAP_BEFORE_ATTACH_NOT_ENUMERATED, not_enumerated, arg);
    cb(SNAP_LOSS_HEAP_BEFORE_ATTACH_FREE_LOG_FULL, log_full, arg);
}
