/*
 * Heap-corruption guard mode (LEAKAUDIT_GUARD=canary|pages|both): finds the
 * code that corrupts the heap instead of the innocent malloc that crashes
 * later.
 *
 *  canary   every block gets redzones (32 bytes before: a tagged header and
 *           16 pattern bytes; 16+ pattern bytes after). They are checked when
 *           the block is freed or reallocated and by a periodic scan of all
 *           live blocks. Freed blocks are poisoned (first and last 256 bytes) and held in a
 * quarantine (LEAKAUDIT_QUARANTINE bytes) before the real free; a changed poison byte at eviction
 * or scan is a use-after-free write. Double frees and frees of pointers this heap never returned
 *           (interior, stack, global, wild) are caught before the real
 *           allocator sees them, and so are new/delete[] mismatches.
 *  pages    GWP-ASan style: 1 in LEAKAUDIT_GUARD_SAMPLE blocks (<= 1 page)
 *           get their own page next to an inaccessible one, aligned to its
 *           right or left edge; freed slots are made inaccessible. The
 *           SIGSEGV handler names the faulting access -- the writer's stack
 *           -- and the block's allocation and free stacks.
 *
 * Policy (LEAKAUDIT_GUARD_POLICY): abort (default: report on stderr, write a
 * snapshot with the event, then abort / re-raise) or log (report, record and
 * continue where that is safe: a bad free is skipped, a guard page is opened).
 *
 * Every event goes into the snapshot's corruption section with stack ids;
 * `leakaudit report` symbolizes them. The stderr block gives raw addresses
 * only: symbolizing inside a corrupted process is not safe.
 */
#include "arch.h"
#include "shim.h"
#include "stacktable.h"
#include "util.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define LEFT_RZ          32 /* header (16) + pattern (16) before the block */
#define RIGHT_RZ         16 /* at least this many pattern bytes after it */
#define HEADER_BYTES     16
#define PAGE_SLOTS       4096 /* guard-page slots (each: one data page) */
#define FREED_WINDOW     256  /* a freed slot is reused after this many later frees */
#define MAX_EVENTS       256
#define QUARANTINE_SLOTS (1u << 20) /* entries at most: 64 MiB of address space, reserved */
/* Recycling: a quarantined block whose real allocation had the same size
 * (redzones included: always a multiple of 16) is handed out again directly
 * once LEAKAUDIT_QUARANTINE bytes were freed after it, instead of going back
 * through the real allocator -- whose free and malloc, on memory freed that
 * long ago, are the quarantine's main cost. Sizes up to this many 16-byte
 * classes are recycled; larger blocks go back to the allocator. */
#define RECYCLE_CLASSES 4096 /* real blocks up to 64 KiB */
/* The quarantine holds up to 1 + 1/QUARANTINE_SLACK times its size, so that
 * blocks old enough to recycle are there to be found. */
#define QUARANTINE_SLACK 4
#define MAX_DUMP         SNAP_MAX_CORRUPTION_BYTES
/* Freed blocks are poisoned (and checked) over their first and last
 * shim_cfg.guard_poison bytes (LEAKAUDIT_GUARD_POISON, default 256, or the
 * whole block): use-after-free writes land in a struct's first or last
 * fields far more often than deep inside a buffer, and each further cache
 * line costs a miss at free and another at eviction. Guard pages catch any
 * offset. A victim's first and last PREFETCH_BYTES are warmed ahead. */
#define PREFETCH_BYTES 256

struct header {    /* at user - LEFT_RZ */
    uint64_t tag;  /* secret ^ user address: a copy elsewhere does not match */
    uint32_t left; /* bytes from the real block start to the user pointer */
    uint32_t kind;
};

struct page_slot {
    uintptr_t user;
    uint64_t size;
    int state; /* 0 unused, 1 live, 2 freed, 3 disarmed (policy log opened it) */
    int right_aligned;
};

/* A freed canary block's record: it leaves the address table at free (one
 * table operation per free, as without guard mode) and lives here until it
 * is recycled or evicted, which then need no lookup. Records are linked
 * oldest to newest, and, per size class, in the same order (links are
 * entry index + 1; 0 is none). */
struct quarantined {
    uintptr_t user;
    uint64_t size;
    uint32_t alloc_stack, free_stack;
    uint32_t flags; /* SHIM_BLOCK_REPORTED: a corruption of it was reported */
    uint32_t left;  /* the real block starts at user - left */
    uint64_t seq;   /* push number (0: the entry is free) */
    uint64_t mark;  /* q_pushed after its push: its age is q_pushed - mark */
    uint32_t older, newer;
    uint32_t next_in_class; /* (free entries: the next free one) */
    uint32_t cls;           /* size class (real size / 16), 0: not recycled */
};
_Static_assert(sizeof(struct quarantined) == 64, "a quarantine record is one cache line");
#define PREFETCH_AHEAD 2  /* victims ahead whose memory is warmed at each push */
#define SCAN_BATCH     64 /* quarantined blocks checked per q_lock hold */

static uint64_t secret;
static uint8_t pat_live, pat_free;
static long page_size;

static char *pool;
uintptr_t shim_guard_pool_lo, shim_guard_pool_hi;
int shim_guard_pages_only;
#define pool_lo shim_guard_pool_lo
#define pool_hi shim_guard_pool_hi
static struct page_slot *slots;
static uint32_t slot_next;
static int slot_lock;
static uint32_t *freed_fifo; /* freed slots, reused oldest first */
static uint32_t fifo_head, fifo_tail, fifo_len;

static struct quarantined *quarantine;
/* Per size class, its oldest and newest entry; head is also read without
 * q_lock (recycling looks before it locks), so it is written atomically. */
static struct {
    uint32_t head, tail;
} * q_class;
static uint32_t q_oldest, q_newest, q_free, q_touched; /* q_touched: entries ever used */
static uint32_t q_len;
static uint64_t q_seq;
static uint64_t q_bytes;     /* held now */
static uint64_t q_pushed;    /* ever pushed */
static uint32_t q_scan_next; /* the next entry the scan checks (q_take moves it on) */
static int q_lock;

static struct snap_corruption events[MAX_EVENTS];
static uint32_t n_events;
static uint64_t events_dropped;  /* past MAX_EVENTS: on stderr, not in snapshots */
static uint64_t page_slots_full; /* sampled blocks that got no page slot */
static int event_lock;
static struct sigaction old_segv;

/* Executable ranges of loaded modules, refreshed outside the signal handler,
 * so the handler can tell a return address on the stack from data. */
#define MAX_EXEC_RANGES 128
static struct {
    uintptr_t lo, hi;
} exec_ranges[MAX_EXEC_RANGES];
static int n_exec_ranges;

static int collect_exec(struct dl_phdr_info *info, size_t size, void *arg)
{
    for (int i = 0; i < info->dlpi_phnum && n_exec_ranges < MAX_EXEC_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            exec_ranges[n_exec_ranges].lo = info->dlpi_addr + ph->p_vaddr;
            exec_ranges[n_exec_ranges].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            n_exec_ranges++;
        }
    }
    return 0;
}

void shim_guard_refresh_modules(void)
{
    n_exec_ranges = 0;
    dl_iterate_phdr(collect_exec, NULL);
}

static int is_code(uintptr_t a)
{
    for (int i = 0; i < n_exec_ranges; i++)
        if (a >= exec_ranges[i].lo + ARCH_MAX_CALL_BYTES && a < exec_ranges[i].hi)
            return 1;
    return 0;
}

/* The redzone pattern: byte i of memory holds pat_table[addr & 63], so a
 * redzone copied elsewhere does not look valid, and filling or checking is
 * a memcpy/memcmp from a 128-byte table (twice 64, for wrap-around). */
#define PAT_PERIOD 64
static uint8_t pat_table[2 * PAT_PERIOD];
static uint8_t poison_ref[2 * SHIM_GUARD_POISON_DEFAULT]; /* what poison() writes */

/* Redzones are at most 64 bytes at a time, and pat_table holds the period
 * twice, so one piece starting at pat_table + (addr & 63) covers them; the
 * loops move or compare 8 bytes at a time without a library call. */
static void fill(uintptr_t addr, size_t len, uint8_t base)
{
    (void)base;
    while (len) {
        size_t off = addr & (PAT_PERIOD - 1), n = len < PAT_PERIOD ? len : PAT_PERIOD, i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, pat_table + off + i, 8);
            memcpy((void *)(addr + i), &w, 8);
        }
        for (; i < n; i++)
            ((uint8_t *)addr)[i] = pat_table[off + i];
        addr += n;
        len -= n;
    }
}

/* First address in [addr, addr+len) not holding the pattern, or 0. */
static uintptr_t check(uintptr_t addr, size_t len, uint8_t base)
{
    (void)base;
    while (len) {
        size_t off = addr & (PAT_PERIOD - 1), n = len < PAT_PERIOD ? len : PAT_PERIOD, i = 0;
        uint64_t diff = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t a, b;
            memcpy(&a, (const void *)(addr + i), 8);
            memcpy(&b, pat_table + off + i, 8);
            diff |= a ^ b;
        }
        for (; i < n; i++)
            diff |= (uint8_t)(((const uint8_t *)addr)[i] ^ pat_table[off + i]);
        if (diff)
            for (i = 0; i < n; i++)
                if (((const uint8_t *)addr)[i] != pat_table[off + i])
                    return addr + i;
        addr += n;
        len -= n;
    }
    return 0;
}

void shim_guard_init(void)
{
    if (getrandom(&secret, sizeof(secret), GRND_NONBLOCK) != sizeof(secret))
        secret = util_monotonic_ns() * 0x9e3779b97f4a7c15ull;
    secret |= 1;
    pat_live = (uint8_t)(0xa5 ^ (secret >> 8));
    pat_free = (uint8_t)(0x5a ^ (secret >> 16));
    if (pat_free == pat_live)
        pat_free ^= 0xff;
    for (int i = 0; i < PAT_PERIOD; i++) {
        uint8_t b = (uint8_t)(pat_live ^ (uint8_t)(i * 0x9d) ^ (uint8_t)(secret >> (i % 56)));
        if (b == pat_free)
            b ^= 0x80;
        pat_table[i] = pat_table[i + PAT_PERIOD] = b;
    }
    memset(poison_ref, pat_free, sizeof(poison_ref));
    page_size = sysconf(_SC_PAGESIZE);
    quarantine = shim_arena_map(sizeof(*quarantine) * QUARANTINE_SLOTS);
    q_class = shim_arena_map(sizeof(*q_class) * RECYCLE_CLASSES);
    if (shim_cfg.guard & SHIM_GUARD_PAGES) {
        /* [guard][data][guard][data]...[guard]: slot i's data is page 2i+1 */
        size_t len = (size_t)page_size * (2 * PAGE_SLOTS + 1);
        long p = syscall(SYS_mmap, NULL, len, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        slots = shim_arena_map(sizeof(*slots) * PAGE_SLOTS);
        freed_fifo = shim_arena_map(sizeof(*freed_fifo) * PAGE_SLOTS);
        if ((p < 0 && p > -4096) || !slots || !freed_fifo) {
            shim_cfg.guard &= ~SHIM_GUARD_PAGES;
        } else {
            /* The whole pool starts VM_DONTDUMP; a slot's data page loses
             * the flag on first use. Its VMA then never merges with the
             * guard pages around it, so flipping it between read-write and
             * inaccessible is one page-table change, not a VMA split and
             * merge (5x cheaper; guard pages stay out of core dumps too). */
            syscall(SYS_madvise, p, len, MADV_DONTDUMP);
            pool = (char *)p;
            pool_lo = (uintptr_t)pool;
            pool_hi = pool_lo + len;
        }
    }
    shim_guard_pages_only = shim_cfg.guard == SHIM_GUARD_PAGES;
}

uint64_t shim_guard_scan_interval_ms(void)
{
    return shim_cfg.guard ? shim_cfg.guard_scan_ms : 0;
}

/* ---- reporting ---- */

static void out(const char *s)
{
    if (write(2, s, strlen(s)) < 0) {
    }
}

static void out_hex(uint64_t v)
{
    char b[24] = "0x";
    util_u64_to_hex(v, b + 2, sizeof(b) - 2);
    out(b);
}

static void out_dec(uint64_t v)
{
    char b[24];
    util_u64_to_dec(v, b, sizeof(b));
    out(b);
}

static void out_stack(const char *title, uint32_t id)
{
    out("==leakaudit==   ");
    out(title);
    if (id == SNAP_STACK_NONE) {
        out(": (unknown)\n");
        return;
    }
    out(":\n");
    const uint64_t *frames;
    uint32_t d = stk_table_get(shim_stacks(), id, &frames);
    for (uint32_t i = 0; i < d && i < 16; i++) {
        out("==leakaudit==     #");
        out_dec(i);
        out(" ");
        out_hex(frames[i]);
        out("\n");
    }
}

static void record_event(const struct snap_corruption *c)
{
    shim_spin_lock(&event_lock);
    if (n_events < MAX_EVENTS)
        events[n_events++] = *c;
    else
        events_dropped++;
    shim_spin_unlock(&event_lock);
}

/* One clear block on stderr, the event in the next snapshot, then the
 * policy. Returns only under policy log (or for the page fault path, which
 * re-raises itself). */
static void report(struct snap_corruption *c, const char *what, int may_abort)
{
    c->time_ns = util_realtime_ns();
    c->tid = shim_gettid();
    record_event(c);
    out("==leakaudit== ");
    out(snap_corruption_kind_name(c->kind));
    out(": ");
    out(what);
    out("\n==leakaudit==   block ");
    out_hex(c->addr);
    out(" of ");
    out_dec(c->block_size);
    out(" bytes");
    if (c->offset || c->kind == SNAP_CORR_OVERFLOW || c->kind == SNAP_CORR_UNDERFLOW) {
        out(", bad byte at offset ");
        if (c->offset < 0) {
            out("-");
            out_dec((uint64_t)-c->offset);
        } else {
            out_dec((uint64_t)c->offset);
        }
    }
    out(", thread ");
    out_dec((uint64_t)c->tid);
    out("\n");
    if (c->bytes_len) {
        out("==leakaudit==   bytes found:");
        for (uint32_t i = 0; i < c->bytes_len; i++) {
            char b[4] = " 00";
            b[1] = "0123456789abcdef"[c->bytes[i] >> 4];
            b[2] = "0123456789abcdef"[c->bytes[i] & 15];
            out(b);
        }
        out("\n");
    }
    out_stack("access / detected at", c->access_stack);
    out_stack("block allocated at", c->alloc_stack);
    if (c->free_stack)
        out_stack("block freed at", c->free_stack);
    out("==leakaudit==   (symbols: leakaudit report ");
    out(shim_cfg.out_dir);
    out(")\n");
    if (shim_cfg.guard_abort && may_abort) {
        out("==leakaudit== aborting (LEAKAUDIT_GUARD_POLICY=log to continue)\n");
        SHIM_UNTRACKED(shim_snapshot_write(SNAP_TRIGGER_CORRUPTION));
        abort();
    }
}

static void dump_bytes(struct snap_corruption *c, uintptr_t at, uintptr_t end)
{
    uint32_t n = 0;
    while (n < MAX_DUMP && at + n < end) {
        c->bytes[n] = ((const uint8_t *)at)[n];
        n++;
    }
    c->bytes_len = n;
}

static void set_detail(struct snap_corruption *c, const char *s)
{
    util_strlcpy(c->detail, s, sizeof(c->detail));
}

/* ---- canary blocks ---- */

static inline struct header *header_of(uintptr_t user)
{
    return (struct header *)(user - LEFT_RZ);
}

/* Pattern bytes after a block: RIGHT_RZ and up to the next 16-byte boundary. */
static inline size_t right_rz(size_t size)
{
    return RIGHT_RZ + ((16 - (size & 15)) & 15);
}

/* The real allocation behind a malloc-aligned canary block (a multiple of 16). */
static inline size_t user_total(size_t size)
{
    return size + LEFT_RZ + right_rz(size);
}

static void *quarantine_recycle(size_t real_size, struct quarantined *rec);
static void report_uaf(const struct quarantined *e, uintptr_t bad, const char *when);
static uintptr_t check_poison(uintptr_t addr, size_t len);

/* Reports an overwritten redzone of a canary block (the rare path: the
 * event record is ~200 bytes, too much to clear on every check). */
static __attribute__((noinline, cold)) void
report_redzone(uintptr_t user, const struct shim_block_info *info, uint32_t detect_stack,
               const char *when, uintptr_t bad, uintptr_t from, uintptr_t to)
{
    struct snap_corruption c = {.kind = bad < user ? SNAP_CORR_UNDERFLOW : SNAP_CORR_OVERFLOW,
                                .addr = user,
                                .block_size = info->size,
                                .offset = (int64_t)(bad - user),
                                .alloc_stack = info->alloc_stack,
                                .access_stack = detect_stack};
    dump_bytes(&c, from, to);
    set_detail(&c, when);
    report(&c,
           bad < user ? "bytes before the block were overwritten"
                      : "bytes past the end of the block were overwritten",
           1);
}

/* Checks a canary block's redzones; reports and returns 1 if corrupt. */
static int check_canaries(uintptr_t user, const struct shim_block_info *info, uint32_t detect_stack,
                          const char *when)
{
    uintptr_t left = user - (LEFT_RZ - HEADER_BYTES);
    uintptr_t bad = check(left, LEFT_RZ - HEADER_BYTES, pat_live);
    if (SHIM_UNLIKELY(bad || header_of(user)->tag != (secret ^ user))) {
        report_redzone(user, info, detect_stack, when, bad ? bad : user - LEFT_RZ, left, user);
        return 1;
    }
    size_t right = right_rz(info->size);
    bad = check(user + info->size, right, pat_live);
    if (SHIM_UNLIKELY(bad)) {
        report_redzone(user, info, detect_stack, when, bad, user + info->size,
                       user + info->size + right);
        return 1;
    }
    return 0;
}

/* The first half of a canary allocation: the real block, from the
 * quarantine (*rec: its record, its poison being loaded, not yet checked)
 * or the real allocator (rec->user == 0). Returns the user address, or 0. */
static uintptr_t canary_take(size_t size, size_t align, struct quarantined *rec)
{
    size_t left = align > LEFT_RZ ? align : LEFT_RZ;
    size_t total;
    if (__builtin_add_overflow(size, left + right_rz(size), &total)) {
        errno = ENOMEM;
        return 0;
    }
    rec->user = 0;
    void *real = NULL;
    if (align <= 16 && (real = quarantine_recycle(total, rec))) {
        /* a block of the same real size, freed long enough ago */
    } else if (align > 16) {
        if (shim_real.posix_memalign(&real, align, total) != 0) {
            errno = ENOMEM;
            return 0;
        }
    } else {
        real = shim_real.malloc(total);
        if (!real)
            return 0;
    }
    uintptr_t user = (uintptr_t)real + left;
    shim_heap_prefetch((void *)user); /* its bucket: loads while we fill and walk the stack */
    return user;
}

/* The second half: a recycled block's poison checked (use-after-free
 * writes while it was quarantined), then the header and redzones. */
static void canary_arm(uintptr_t user, size_t size, size_t align, int kind, int zero,
                       const struct quarantined *rec)
{
    if (rec->user && !(rec->flags & SHIM_BLOCK_REPORTED)) {
        uintptr_t bad = check_poison(rec->user, rec->size);
        if (bad)
            report_uaf(rec, bad, "found when the block left the quarantine");
    }
    struct header *h = header_of(user);
    h->tag = secret ^ user;
    h->left = (uint32_t)(align > LEFT_RZ ? align : LEFT_RZ);
    h->kind = (uint32_t)kind;
    fill(user - (LEFT_RZ - HEADER_BYTES), LEFT_RZ - HEADER_BYTES, pat_live);
    fill(user + size, right_rz(size), pat_live);
    if (zero)
        memset((void *)user, 0, size);
}

/* Freed blocks are poisoned with one constant byte: memset speed, and a
 * compare against a reference buffer. */
static inline __attribute__((always_inline)) void poison_ends(uintptr_t addr, size_t len,
                                                              size_t ends)
{
    if (len <= 2 * ends) {
        memset((void *)addr, pat_free, len);
        return;
    }
    memset((void *)addr, pat_free, ends);
    memset((void *)(addr + len - ends), pat_free, ends);
}

static void poison(uintptr_t addr, size_t len)
{
    /* The default depth is a constant: its memsets become inline stores
     * (library calls cost ~9 ns a free on the malloc benchmark). */
    if (shim_cfg.guard_poison == SHIM_GUARD_POISON_DEFAULT)
        poison_ends(addr, len, SHIM_GUARD_POISON_DEFAULT);
    else
        poison_ends(addr, len, shim_cfg.guard_poison);
}

static inline __attribute__((always_inline)) uintptr_t check_poison_range(uintptr_t addr,
                                                                          size_t len)
{
    /* memcmp against poisoned reference bytes: the C library's vector
     * compare reads 256 bytes in a few dozen cycles, a word loop takes ~100. */
    for (size_t done = 0; done < len; done += sizeof(poison_ref)) {
        size_t n = len - done < sizeof(poison_ref) ? len - done : sizeof(poison_ref);
        if (memcmp((const void *)(addr + done), poison_ref, n))
            for (size_t i = done; i < done + n; i++)
                if (((const uint8_t *)addr)[i] != pat_free)
                    return addr + i;
    }
    return 0;
}

static inline __attribute__((always_inline)) uintptr_t check_poison_ends(uintptr_t addr, size_t len,
                                                                         size_t ends)
{
    if (len <= 2 * ends)
        return check_poison_range(addr, len);
    uintptr_t bad = check_poison_range(addr, ends);
    return bad ? bad : check_poison_range(addr + len - ends, ends);
}

/* Checks what poison() wrote: the whole block, or its first and last
 * shim_cfg.guard_poison bytes (the default a constant, as in poison()). */
static uintptr_t check_poison(uintptr_t addr, size_t len)
{
    if (shim_cfg.guard_poison == SHIM_GUARD_POISON_DEFAULT)
        return check_poison_ends(addr, len, SHIM_GUARD_POISON_DEFAULT);
    return check_poison_ends(addr, len, shim_cfg.guard_poison);
}

/* Warms the lines poison() writes over a block of len bytes at addr (its
 * first and last PREFETCH_BYTES at most); for_write: a constant. */
static inline __attribute__((always_inline)) void prefetch_poison_lines(uintptr_t addr, size_t len,
                                                                        int for_write)
{
    size_t ends = shim_cfg.guard_poison;
    if (ends > PREFETCH_BYTES)
        ends = PREFETCH_BYTES;
    size_t head = len <= 2 * ends ? len : ends;
    for (size_t i = 0; i < head; i += 64)
        __builtin_prefetch((const void *)(addr + i), for_write);
    if (len > 2 * ends)
        for (size_t i = len - ends; i < len; i += 64)
            __builtin_prefetch((const void *)(addr + i), for_write);
}

/* Warms what taking e out of the quarantine reads: its poison and the
 * allocator's chunk header (freed quarantine_bytes ago, long out of cache). */
static void prefetch_victim(const struct quarantined *e)
{
    prefetch_poison_lines(e->user, e->size, 0);
    __builtin_prefetch((const void *)(e->user - e->left - 16));
}

/* ---- the quarantine's lists (q_lock held) ---- */

static inline struct quarantined *q_entry(uint32_t link)
{
    return &quarantine[link - 1];
}

/* A free entry, or 0 when all QUARANTINE_SLOTS are in use. Freed entries
 * are reused last-in first-out: their memory stays warm. */
static uint32_t q_entry_get(void)
{
    uint32_t link = q_free;
    if (link)
        q_free = q_entry(link)->next_in_class;
    else if (q_touched < QUARANTINE_SLOTS)
        link = ++q_touched;
    return link;
}

static void q_link_newest(uint32_t link)
{
    struct quarantined *e = q_entry(link);
    e->older = q_newest;
    e->newer = 0;
    if (q_newest)
        q_entry(q_newest)->newer = link;
    else
        q_oldest = link;
    q_newest = link;
    e->next_in_class = 0;
    if (e->cls) {
        if (q_class[e->cls].tail)
            q_entry(q_class[e->cls].tail)->next_in_class = link;
        else
            __atomic_store_n(&q_class[e->cls].head, link, __ATOMIC_RELAXED);
        q_class[e->cls].tail = link;
    }
    q_len++;
    q_bytes += e->size;
}

/* Takes an entry out, returning a copy; it must be the oldest of its class
 * (the global oldest is, and recycling takes a class's oldest). */
static struct quarantined q_take(uint32_t link)
{
    struct quarantined *e = q_entry(link), v = *e;
    if (q_scan_next == link)
        q_scan_next = e->newer;
    if (e->older)
        q_entry(e->older)->newer = e->newer;
    else
        q_oldest = e->newer;
    if (e->newer)
        q_entry(e->newer)->older = e->older;
    else
        q_newest = e->older;
    if (e->cls) {
        __atomic_store_n(&q_class[e->cls].head, e->next_in_class, __ATOMIC_RELAXED);
        if (!e->next_in_class)
            q_class[e->cls].tail = 0;
    }
    e->seq = 0;
    e->next_in_class = q_free;
    q_free = link;
    q_len--;
    q_bytes -= v.size;
    return v;
}

/* The quarantine entry of a freed block, newest first (a double free: the
 * rare path, so a linear search). */
static int quarantine_find(uintptr_t user, struct quarantined *out)
{
    int found = 0;
    shim_spin_lock(&q_lock);
    for (uint32_t link = q_newest; link && !found; link = q_entry(link)->older)
        if (q_entry(link)->user == user) {
            *out = *q_entry(link);
            found = 1;
        }
    shim_spin_unlock(&q_lock);
    return found;
}

static void report_uaf(const struct quarantined *e, uintptr_t bad, const char *when)
{
    struct snap_corruption c = {.kind = SNAP_CORR_USE_AFTER_FREE_WRITE,
                                .addr = e->user,
                                .block_size = e->size,
                                .offset = (int64_t)(bad - e->user),
                                .alloc_stack = e->alloc_stack,
                                .free_stack = e->free_stack};
    dump_bytes(&c, bad, e->user + e->size);
    set_detail(&c, when);
    report(&c, "a freed block was written to", 1);
}

/* Poisons a freed canary block and pushes it into the quarantine; while it
 * holds more than 1 + 1/QUARANTINE_SLACK times its size, evicts the oldest,
 * checking their poison first (use-after-free writes), and hands them to the
 * real allocator. The poison is written before the block is pushed: once in
 * the quarantine another thread may take it at any time (a block larger than
 * the whole budget is evicted by the very next push). */
static void quarantine_push(uintptr_t user, const struct shim_block_info *info, uint32_t flags)
{
    struct quarantined victims[8];
    int nv = 0;
    uint32_t left = header_of(user)->left;
    if (!shim_cfg.quarantine_bytes) { /* LEAKAUDIT_QUARANTINE=0: no use-after-free checks */
        shim_real.free((void *)(user - left));
        return;
    }
    poison(user, info->size);
    uint64_t hold = shim_cfg.quarantine_bytes + shim_cfg.quarantine_bytes / QUARANTINE_SLACK;
    if (hold < shim_cfg.quarantine_bytes)
        hold = UINT64_MAX;
    size_t cls = (user_total(info->size) >> 4);
    shim_spin_lock(&q_lock);
    uint32_t link = q_entry_get();
    if (!link) { /* every entry in use: the oldest makes room */
        victims[nv++] = q_take(q_oldest);
        link = q_entry_get();
    }
    q_pushed += info->size;
    *q_entry(link) =
        (struct quarantined){.user = user,
                             .size = info->size,
                             .alloc_stack = info->alloc_stack,
                             .free_stack = info->free_stack,
                             .flags = flags,
                             .left = left,
                             .seq = ++q_seq,
                             .mark = q_pushed,
                             .cls = left == LEFT_RZ && cls < RECYCLE_CLASSES ? (uint32_t)cls : 0};
    q_link_newest(link);
    while (q_bytes > hold && q_len > 1 && nv < 8)
        victims[nv++] = q_take(q_oldest);
    /* A victim a few pushes ahead: start loading its memory now, so its
     * eviction does not wait on it. */
    struct quarantined next = {0};
    uint32_t ahead = q_oldest;
    for (int i = 0; i < PREFETCH_AHEAD && ahead; i++)
        ahead = q_entry(ahead)->newer;
    if (ahead && ahead != link)
        next = *q_entry(ahead);
    shim_spin_unlock(&q_lock);
    if (next.user)
        prefetch_victim(&next);
    for (int i = 0; i < nv; i++) {
        const struct quarantined *v = &victims[i];
        if (!(v->flags & SHIM_BLOCK_REPORTED)) {
            uintptr_t bad = check_poison(v->user, v->size);
            if (bad)
                report_uaf(v, bad, "found when the block left the quarantine");
        }
        shim_real.free((void *)(v->user - v->left));
    }
}

/* A quarantined block freed at least LEAKAUDIT_QUARANTINE bytes ago whose
 * real size is real_size (a multiple of 16), taken out and checked, or
 * NULL: the real block to use again. */
/* A quarantined block freed at least LEAKAUDIT_QUARANTINE bytes ago whose
 * real size is real_size (a multiple of 16), taken out, or NULL: the real
 * block to use again. *rec gets its record; its poison is prefetched, to be
 * checked (canary_arm) once the caller's stack has been walked. */
static void *quarantine_recycle(size_t real_size, struct quarantined *rec)
{
    size_t cls = real_size >> 4;
    if (!shim_cfg.quarantine_bytes || cls >= RECYCLE_CLASSES ||
        !__atomic_load_n(&q_class[cls].head, __ATOMIC_RELAXED))
        return NULL;
    shim_spin_lock(&q_lock);
    uint32_t link = q_class[cls].head;
    if (!link || q_pushed - q_entry(link)->mark < shim_cfg.quarantine_bytes) {
        shim_spin_unlock(&q_lock);
        return NULL;
    }
    *rec = q_take(link);
    /* The class's next block is the next one handed out at this size:
     * start loading its poison now, so that check finds it in cache. */
    struct quarantined next = {0};
    if (q_class[cls].head) {
        next = *q_entry(q_class[cls].head);
        /* and the records taking it will touch: its neighbours by age and
         * the block after it in the class (whose record is read then) */
        if (next.older)
            __builtin_prefetch(q_entry(next.older), 1);
        if (next.newer)
            __builtin_prefetch(q_entry(next.newer), 1);
        if (next.next_in_class)
            __builtin_prefetch(q_entry(next.next_in_class), 0);
    }
    shim_spin_unlock(&q_lock);
    prefetch_victim(rec);
    if (next.user)
        prefetch_victim(&next);
    return (void *)(rec->user - rec->left);
}

/* Checks the poison of every quarantined block, SCAN_BATCH at a time under
 * q_lock (a block cannot be evicted and handed back while it is read);
 * returns 1 with the first bad one (now marked reported) in *out. */
static int scan_quarantine(struct quarantined *out, uintptr_t *bad_at)
{
    /* Entries pushed after the scan began are left for the next one. A
     * second scan running at the same time restarts the shared cursor:
     * blocks are then checked twice, never skipped. */
    shim_spin_lock(&q_lock);
    uint64_t end_seq = q_seq;
    q_scan_next = q_oldest;
    shim_spin_unlock(&q_lock);
    for (;;) {
        int found = 0, done = 0;
        shim_spin_lock(&q_lock);
        uint32_t link = q_scan_next;
        for (int n = 0; n < SCAN_BATCH && !found; n++) {
            if (!link || q_entry(link)->seq > end_seq) {
                done = 1;
                break;
            }
            struct quarantined *e = q_entry(link);
            link = e->newer;
            if (e->flags & SHIM_BLOCK_REPORTED)
                continue;
            uintptr_t bad = check_poison(e->user, e->size);
            if (bad) {
                e->flags |= SHIM_BLOCK_REPORTED;
                *out = *e;
                *bad_at = bad;
                found = 1;
            }
        }
        q_scan_next = link;
        shim_spin_unlock(&q_lock);
        if (found)
            return 1;
        if (done)
            return 0;
    }
}

/* ---- guard-page slots ---- */

static void fill_slack(uint32_t i);

static uintptr_t slot_data(uint32_t i)
{
    return pool_lo + (uintptr_t)(2 * i + 1) * (uintptr_t)page_size;
}

static void *page_alloc(size_t size, size_t align, int zero)
{
    if (size > (size_t)page_size - RIGHT_RZ || align > 16 || !pool)
        return NULL;
    uint32_t i;
    shim_spin_lock(&slot_lock);
    int first_use = 0;
    if (fifo_len > FREED_WINDOW) { /* freed slots stay inaccessible a while */
        i = freed_fifo[fifo_head];
        fifo_head = (fifo_head + 1) % PAGE_SLOTS;
        fifo_len--;
        shim_heap_evict((void *)slots[i].user);
    } else if (slot_next < PAGE_SLOTS) {
        /* A fresh slot's first use costs a VMA split and a page fault
         * (~10 us), so they are taken only while the window is filling or
         * blocks stay live: a program mostly touches FREED_WINDOW + its
         * live sampled blocks' worth of slots. */
        i = slot_next++;
        first_use = 1;
    } else {
        page_slots_full++; /* every slot live or in the freed window */
        shim_spin_unlock(&slot_lock);
        return NULL;
    }
    slots[i].state = 1;
    shim_spin_unlock(&slot_lock);
    uintptr_t data = slot_data(i);
    if (first_use)
        syscall(SYS_madvise, data, (size_t)page_size, MADV_DODUMP); /* see shim_guard_init */
    if (mprotect((void *)data, (size_t)page_size, PROT_READ | PROT_WRITE) != 0)
        return NULL;
    /* Alternate edges: right-aligned blocks catch overflows at the next
     * page, left-aligned ones underflows at the previous page. The few
     * alignment bytes left over on the right are canary-checked. */
    int right;
    if (shim_cfg.guard_align)
        right = shim_cfg.guard_align > 0;
    else /* overflows are the common case: 3 of 4 blocks at the right edge */
        right = (++shim_tls.page_edges & 3) != 0;
    /* Blocks keep malloc's 16-byte alignment (programs rely on it: CPython
     * rejects its own bytecode otherwise), so a right-aligned block may end
     * up to 15 bytes before the page end; those bytes are pattern-checked.
     * LEAKAUDIT_GUARD_ALIGN=right ends blocks exactly at the page end, using
     * the size's natural alignment (all C requires; GWP-ASan does this), so
     * an overflow by one byte faults at the writer. */
    size_t natural = 16;
    if (shim_cfg.guard_align > 0) {
        natural = size & (~size + 1);
        if (natural == 0 || natural > 16)
            natural = 16;
    }
    size_t rounded = (size + natural - 1) & ~(natural - 1);
    uintptr_t user = right ? data + (uintptr_t)page_size - rounded : data;
    slots[i].user = user;
    slots[i].size = size;
    slots[i].right_aligned = right;
    fill_slack(i);
    if (zero)
        memset((void *)user, 0, size);
    return (void *)user;
}

/* The pattern covers up to SLACK_CHECK bytes on each side of a page block
 * (the rest of the page is never written by correct code and not checked). */
#define SLACK_CHECK 64

static void slack_range(uint32_t i, uintptr_t *lo1, uintptr_t *hi1, uintptr_t *lo2, uintptr_t *hi2)
{
    uintptr_t data = slot_data(i), end = data + (uintptr_t)page_size;
    uintptr_t u = slots[i].user, ue = u + slots[i].size;
    *lo1 = u - data > SLACK_CHECK ? u - SLACK_CHECK : data;
    *hi1 = u;
    *lo2 = ue;
    *hi2 = end - ue > SLACK_CHECK ? ue + SLACK_CHECK : end;
}

static void fill_slack(uint32_t i)
{
    uintptr_t a, b, c, d;
    slack_range(i, &a, &b, &c, &d);
    fill(a, b - a, pat_live);
    fill(c, d - c, pat_live);
}

static int in_pool(uintptr_t p)
{
    return p >= pool_lo && p < pool_hi;
}

static uint32_t slot_of(uintptr_t p)
{
    return (uint32_t)((p - pool_lo) / (uintptr_t)page_size - 1) / 2;
}

static void page_free(uintptr_t user, const struct shim_block_info *info)
{
    uint32_t i = slot_of(user);
    uintptr_t data = slot_data(i);
    uintptr_t a, b, c, d;
    slack_range(i, &a, &b, &c, &d);
    uintptr_t bad = check(c, d - c, pat_live);
    if (!bad)
        bad = check(a, b - a, pat_live);
    if (bad) {
        struct snap_corruption c = {.kind = bad < user ? SNAP_CORR_UNDERFLOW : SNAP_CORR_OVERFLOW,
                                    .addr = user,
                                    .block_size = info->size,
                                    .offset = (int64_t)(bad - user),
                                    .alloc_stack = info->alloc_stack};
        set_detail(&c, "guard-page block: padding overwritten");
        report(&c, "bytes next to the block were overwritten", 1);
    }
    mprotect((void *)data, (size_t)page_size, PROT_NONE);
    shim_spin_lock(&slot_lock);
    slots[i].state = 2;
    freed_fifo[fifo_tail] = i;
    fifo_tail = (fifo_tail + 1) % PAGE_SLOTS;
    fifo_len++;
    shim_spin_unlock(&slot_lock);
}

/* Re-raises a fault we could not or would not handle: the program's own
 * handler if it had one, else the default action. */
static void chain(int sig, siginfo_t *si, void *uc)
{
    if (old_segv.sa_flags & SA_SIGINFO) {
        if (old_segv.sa_sigaction) {
            old_segv.sa_sigaction(sig, si, uc);
            return;
        }
    } else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL); /* returning re-executes the access: killed by SIGSEGV */
}

static void on_segv(int sig, siginfo_t *si, void *ucv)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    if (!pool || !in_pool(a)) {
        chain(sig, si, ucv);
        return;
    }
    int saved_busy = shim_tls.busy;
    shim_tls.busy = 1;
    ucontext_t *uc = ucv;
    int write = arch_fault_is_write(uc);
    uint64_t frames[SNAP_MAX_STACK_DEPTH];
    uint32_t depth = 0;
    /* the faulting instruction, then its function's callers by frame pointer */
    uintptr_t pc = (uintptr_t)arch_ctx_pc(uc);
    uintptr_t fp = (uintptr_t)arch_ctx_fp(uc);
    uintptr_t sp = (uintptr_t)arch_ctx_sp(uc);
    if (shim_cfg.unwind != SNAP_UNWIND_FP) {
        /* the call-frame information: right through leaf functions
         * (memset) and code without frame pointers */
        depth = shim_capture_at(frames, pc, sp, fp, arch_ctx_lr(uc));
        goto have_stack;
    }
    frames[depth++] = pc + 1; /* reports subtract 1 from return addresses */
    /* A leaf function (memset, memcpy) has no frame of its own: its caller's
     * return address is at the stack pointer (x86-64) or in the link
     * register (aarch64). Take it if it points just after a call
     * instruction in loaded code. */
    uintptr_t top = (uintptr_t)arch_ctx_leaf_return(uc);
    int took_top = is_code(top) && arch_follows_call(top);
    if (took_top)
        frames[depth++] = top;
    for (uintptr_t prev = sp; depth < (uint32_t)shim_cfg.depth; prev = fp) {
        if (fp <= prev || fp - prev > (1u << 24) || (fp & 7))
            break;
        uintptr_t r = ((const uintptr_t *)fp)[1];
        if (r < 4096)
            break;
        /* not a leaf after all: its frame record holds the same link register */
        if (!(took_top && depth == 2 && r == top))
            frames[depth++] = r;
        fp = ((const uintptr_t *)fp)[0];
    }
have_stack:;
    uint32_t access = stk_table_intern(shim_stacks(), frames, depth);
    uint64_t idx = (a - pool_lo) / (uint64_t)page_size;
    struct snap_corruption c = {.access_stack = access};
    const char *what = "access to a guard page";
    uint32_t slot = PAGE_SLOTS;
    if (idx & 1) { /* a data page: its block was freed */
        slot = (uint32_t)(idx - 1) / 2;
        c.kind = write ? SNAP_CORR_USE_AFTER_FREE_WRITE : SNAP_CORR_USE_AFTER_FREE_READ;
        what = write ? "write to a freed block" : "read of a freed block";
    } else { /* a guard page between slot idx/2-1 (left) and idx/2 (right) */
        uint32_t left = idx >= 2 ? (uint32_t)idx / 2 - 1 : PAGE_SLOTS;
        uint32_t right = (uint32_t)idx / 2;
        if (left < PAGE_SLOTS && slots[left].state == 1 && slots[left].right_aligned) {
            slot = left;
            c.kind = write ? SNAP_CORR_OVERFLOW : SNAP_CORR_OVERFLOW_READ;
            what = write ? "write past the end of a block" : "read past the end of a block";
        } else if (right < PAGE_SLOTS && slots[right].state == 1 && !slots[right].right_aligned) {
            slot = right;
            c.kind = write ? SNAP_CORR_UNDERFLOW : SNAP_CORR_UNDERFLOW_READ;
            what = write ? "write before the start of a block" : "read before the start of a block";
        } else {
            c.kind = write ? SNAP_CORR_OVERFLOW : SNAP_CORR_OVERFLOW_READ;
        }
    }
    if (slot < PAGE_SLOTS) {
        struct shim_block_info info = {0};
        c.addr = slots[slot].user;
        c.block_size = slots[slot].size;
        c.offset = (int64_t)(a - slots[slot].user);
        if (shim_heap_lookup((void *)slots[slot].user, &info) != SHIM_LOOKUP_NONE) {
            c.alloc_stack = info.alloc_stack;
            c.free_stack = info.free_stack;
        }
    } else {
        c.addr = a;
    }
    set_detail(&c, "caught by a guard page at the faulting access");
    report(&c, what, 0);
    if (shim_cfg.guard_abort) {
        out("==leakaudit== re-raising SIGSEGV (LEAKAUDIT_GUARD_POLICY=log to continue)\n");
        shim_snapshot_write(SNAP_TRIGGER_CORRUPTION);
        signal(SIGSEGV, SIG_DFL);
        shim_tls.busy = saved_busy;
        return; /* the access faults again, now with the default action */
    }
    /* log: open the page so the access succeeds; this slot is no longer guarded */
    uintptr_t page = a & ~((uintptr_t)page_size - 1);
    mprotect((void *)page, (size_t)page_size, PROT_READ | PROT_WRITE);
    if (slot < PAGE_SLOTS)
        slots[slot].state = 3;
    shim_tls.busy = saved_busy;
}

static int segv_installed;

static void install_handler(void)
{
    if (segv_installed || !pool)
        return;
    segv_installed = 1;
    shim_guard_refresh_modules();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
}

/* ---- the hooks' entry points ---- */

static inline __attribute__((always_inline)) uint32_t stack_here(void *frame, void *ret)
{
    return shim_tls.busy ? SNAP_STACK_NONE : shim_capture_stack_id(frame, ret);
}

/* The caller's stack, walked as the hook found the busy flag. */
static inline __attribute__((always_inline)) uint32_t caller_stack(int was_busy, void *frame,
                                                                   void *ret)
{
    shim_tls.busy = was_busy;
    uint32_t id = stack_here(frame, ret);
    shim_tls.busy = 1;
    return id;
}

/* Records a guard block in the heap table with its allocation stack. */
static inline __attribute__((always_inline)) void
insert_block(void *p, size_t size, int kind, uint32_t flags, int was_busy, uint32_t id)
{
    if (flags & SHIM_BLOCK_PAGE)
        shim_heap_on_alloc_weighted(p, size, id, kind, 0);
    else
        shim_heap_on_alloc(p, size, id, kind);
    if (flags)
        shim_heap_set_flag(p, flags);
    if (!was_busy && SHIM_UNLIKELY(--shim_tls.poll_countdown < 0))
        shim_snapshot_poll(); /* snapshots and the redzone scan without a thread */
}

static inline __attribute__((always_inline)) void
record_block(void *p, size_t size, int kind, uint32_t flags, int was_busy, void *frame, void *ret)
{
    int saved = errno;
    insert_block(p, size, kind, flags, was_busy, caller_stack(was_busy, frame, ret));
    errno = saved;
}

/* Allocations until the next page slot: uniform in [1, 2N - 1] (mean N,
 * LEAKAUDIT_GUARD_SAMPLE), not every N-th -- a program that allocates a
 * multiple of N blocks per iteration would otherwise have the same
 * allocation site sampled every time and the others never. */
static int32_t next_page_distance(void)
{
    uint64_t n = shim_cfg.guard_sample;
    return n <= 1 ? 1 : (int32_t)(1 + shim_rand() % (2 * n - 1));
}

/* The countdown reached zero: is this block of size bytes sampled? A
 * thread's first allocation is not (the countdown starts at 0): it draws
 * its first distance instead. A block outside LEAKAUDIT_GUARD_SIZE is not
 * either, and the countdown stays due: the next block in range is taken. */
static int page_sample_due(size_t size)
{
    int in_range = size >= shim_cfg.guard_min_size && size <= shim_cfg.guard_max_size;
    if (SHIM_UNLIKELY(!shim_tls.page_started)) {
        shim_tls.page_started = 1;
        shim_tls.page_countdown = next_page_distance();
        return shim_cfg.guard_sample <= 1 && in_range;
    }
    if (!in_range) {
        shim_tls.page_countdown = 0;
        return 0;
    }
    shim_tls.page_countdown = next_page_distance();
    return 1;
}

static inline int take_page_sample(size_t size)
{
    if (--shim_tls.page_countdown > 0)
        return 0;
    return page_sample_due(size);
}

/* The hooks have already counted this allocation down to zero. */
void *shim_guard_page_try_alloc(size_t size, size_t align, int kind, int zero, void *frame,
                                void *ret)
{
    if (!page_sample_due(size) || shim_tls.busy)
        return NULL;
    shim_tls.busy = 1;
    install_handler();
    void *p = page_alloc(size, align, zero);
    if (p)
        record_block(p, size, kind, SHIM_BLOCK_PAGE, 0, frame, ret);
    shim_tls.busy = 0;
    return p;
}

void *shim_guard_alloc(size_t size, size_t align, int kind, int zero, void *frame, void *ret)
{
    int was_busy = shim_tls.busy;
    shim_tls.busy = 1;
    void *p = NULL;
    if ((shim_cfg.guard & SHIM_GUARD_PAGES) && !was_busy && take_page_sample(size)) {
        install_handler();
        p = page_alloc(size, align, zero);
        if (p)
            record_block(p, size, kind, SHIM_BLOCK_PAGE, was_busy, frame, ret);
    }
    if (!p) {
        struct quarantined rec;
        uintptr_t user = canary_take(size, align, &rec);
        if (user) {
            /* A recycled block's poison is still loading: walk the stack
             * before checking it. */
            int saved = errno;
            uint32_t id = caller_stack(was_busy, frame, ret);
            canary_arm(user, size, align, kind, zero, &rec);
            p = (void *)user;
            insert_block(p, size, kind, 0, was_busy, id);
            errno = saved;
        }
    }
    shim_tls.busy = was_busy;
    return p;
}

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case SHIM_KIND_NEW:
        return "operator new";
    case SHIM_KIND_NEW_ARRAY:
        return "operator new[]";
    default:
        return "malloc";
    }
}

static int kinds_match(uint32_t alloc, int free_kind)
{
    int a = alloc == SHIM_KIND_ALIGNED ? SHIM_KIND_MALLOC : (int)alloc;
    int f = free_kind == SHIM_KIND_ALIGNED ? SHIM_KIND_MALLOC : free_kind;
    return a == f;
}

void shim_guard_free(void *p, int kind, void *frame, void *ret)
{
    int was_busy = shim_tls.busy;
    struct shim_block_info info;
    uintptr_t u = (uintptr_t)p;
    /* A page block's record stays in the table (marked freed) while its slot
     * is in the freed window; a canary block's record moves to the
     * quarantine, where a double free finds it. */
    int page = in_pool(u), st = SHIM_LOOKUP_NONE;
    if (!page) {
        shim_tls.busy = 1;
        st = shim_heap_take(p, &info);
        shim_tls.busy = was_busy;
        /* The lines poison() will write are rarely in cache: start loading
         * them now, while the stack is walked and the redzones checked
         * (built for x86-64 without PRFCHW the write hint is a plain
         * prefetch: it still warms the lines). */
        if (st == SHIM_LOOKUP_LIVE && shim_cfg.quarantine_bytes)
            prefetch_poison_lines(u, info.size, 1);
    }
    uint32_t here = stack_here(frame, ret);
    shim_tls.busy = 1;
    if (page)
        st = shim_heap_mark_freed(p, here, &info);
    struct quarantined q;
    if (st == SHIM_LOOKUP_NONE && !page && quarantine_find(u, &q)) {
        st = SHIM_LOOKUP_FREED;
        info = (struct shim_block_info){
            .size = q.size, .alloc_stack = q.alloc_stack, .free_stack = q.free_stack};
    }
    if (st == SHIM_LOOKUP_FREED) {
        struct snap_corruption c = {.kind = SNAP_CORR_DOUBLE_FREE,
                                    .addr = u,
                                    .block_size = info.size,
                                    .alloc_stack = info.alloc_stack,
                                    .free_stack = info.free_stack,
                                    .access_stack = here};
        set_detail(&c, "freed again; the second free was skipped");
        report(&c, "a block was freed twice", 1);
        shim_tls.busy = was_busy;
        return;
    }
    if (st == SHIM_LOOKUP_NONE) {
        struct snap_corruption c = {
            .kind = SNAP_CORR_INVALID_FREE, .addr = u, .access_stack = here};
        uintptr_t sp = (uintptr_t)&c;
        const char *where = "a pointer this heap never returned (interior, global or wild); "
                            "the free was skipped";
        if (shim_tls.stack_hi && u > sp && u < shim_tls.stack_hi)
            where = "a pointer into the stack; the free was skipped";
        set_detail(&c, where);
        report(&c, where, 1);
        shim_tls.busy = was_busy;
        return;
    }
    if (!was_busy && kind >= 0 && !kinds_match(info.kind, kind)) {
        struct snap_corruption c = {.kind = SNAP_CORR_MISMATCHED_FREE,
                                    .addr = u,
                                    .block_size = info.size,
                                    .alloc_stack = info.alloc_stack,
                                    .access_stack = here};
        char d[128];
        size_t n = util_strlcpy(d, "allocated with ", sizeof(d));
        n += util_strlcpy(d + n, kind_name(info.kind), sizeof(d) - n);
        n += util_strlcpy(d + n, ", released with ", sizeof(d) - n);
        util_strlcpy(d + n,
                     kind == SHIM_KIND_NEW         ? "delete"
                     : kind == SHIM_KIND_NEW_ARRAY ? "delete[]"
                                                   : "free",
                     sizeof(d) - n);
        set_detail(&c, d);
        report(&c, d, 1);
    }
    if (page) {
        page_free(u, &info);
    } else {
        uint32_t flags = info.flags & SHIM_BLOCK_REPORTED;
        if (!flags && check_canaries(u, &info, here, "found when the block was freed"))
            flags = SHIM_BLOCK_REPORTED;
        info.free_stack = here;
        quarantine_push(u, &info, flags);
    }
    shim_tls.busy = was_busy;
}

void shim_guard_page_release(void *p, void *frame, void *ret)
{
    shim_guard_free(p, -1, frame, ret);
}

void *shim_guard_realloc(void *p, size_t size, void *frame, void *ret)
{
    if (!p)
        return shim_guard_alloc(size, 16, SHIM_KIND_MALLOC, 0, frame, ret);
    struct shim_block_info info;
    int st = shim_heap_lookup(p, &info);
    if (st != SHIM_LOOKUP_LIVE) {
        shim_guard_free(p, -1, frame, ret); /* reports a double or invalid free */
        errno = EINVAL;
        return NULL;
    }
    if (size == 0) {
        shim_guard_free(p, SHIM_KIND_MALLOC, frame, ret);
        return NULL;
    }
    void *q = shim_guard_alloc(size, 16, SHIM_KIND_MALLOC, 0, frame, ret);
    if (!q)
        return NULL; /* p stays valid, as realloc requires */
    memcpy(q, p, info.size < size ? info.size : size);
    shim_guard_free(p, -1, frame, ret);
    return q;
}

size_t shim_guard_usable_size(const void *p)
{
    if (pool && in_pool((uintptr_t)p))
        return slots[slot_of((uintptr_t)p)].state == 1 ? slots[slot_of((uintptr_t)p)].size : 0;
    struct shim_block_info info;
    return shim_heap_lookup(p, &info) == SHIM_LOOKUP_LIVE ? info.size : 0;
}

/* ---- periodic scan ---- */

static void scan_block(uintptr_t addr, const struct shim_block_info *info, void *arg)
{
    if (info->flags & (SHIM_BLOCK_REPORTED | SHIM_BLOCK_PAGE))
        return;
    size_t right = right_rz(info->size);
    if (check(addr - (LEFT_RZ - HEADER_BYTES), LEFT_RZ - HEADER_BYTES, pat_live) ||
        header_of(addr)->tag != (secret ^ addr) || check(addr + info->size, right, pat_live)) {
        uintptr_t *found = arg;
        if (!found[0])
            found[0] = addr;
    }
}

/* Live blocks' redzones, then the quarantine's poison. */
void shim_guard_scan(void)
{
    if (!(shim_cfg.guard & SHIM_GUARD_CANARY))
        return;
    /* Find the first corrupt block under the table's locks, report it after
     * (reporting may abort and must not hold a stripe lock). */
    uintptr_t found[1] = {0};
    shim_heap_foreach_block(scan_block, found);
    struct shim_block_info info;
    if (found[0] && shim_heap_lookup((void *)found[0], &info) == SHIM_LOOKUP_LIVE &&
        check_canaries(found[0], &info, SNAP_STACK_NONE, "found by the periodic scan"))
        shim_heap_set_flag((void *)found[0], SHIM_BLOCK_REPORTED);
    struct quarantined q;
    uintptr_t bad;
    if (scan_quarantine(&q, &bad))
        report_uaf(&q, bad, "found by the periodic scan of the quarantine");
}

/* fork: the quarantine, the page slots and the event list must not be
 * caught mid-update by a fork, and a lock held by another thread would
 * stay held forever in the child (a Python test suite that forks while
 * another thread frees hung in quarantine_push). None of these sections
 * takes another of the three, so holding all of them across fork() cannot
 * deadlock. */
void shim_guard_fork_prepare(void)
{
    shim_spin_lock(&event_lock);
    shim_spin_lock(&slot_lock);
    shim_spin_lock(&q_lock);
}

void shim_guard_fork_release(void)
{
    shim_spin_unlock(&q_lock);
    shim_spin_unlock(&slot_lock);
    shim_spin_unlock(&event_lock);
}

/* 1 when the program has installed its own SIGSEGV handler over ours: a
 * guard-page fault then reaches its handler first (most crash reporters
 * restore the previous handler and re-raise, which reaches ours; gcc's ends
 * the process without our report). Only counted: common enough (gcc, crash
 * reporters, language runtimes) that a line on the program's stderr would
 * be noise. */
static uint64_t segv_handler_replaced(void)
{
    struct sigaction cur;
    if (!segv_installed || sigaction(SIGSEGV, NULL, &cur) != 0)
        return 0;
    return !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_segv);
}

void shim_guard_loss_counters(void (*cb)(const char *name, uint64_t v, void *arg), void *arg)
{
    shim_spin_lock(&event_lock);
    uint64_t dropped = events_dropped;
    shim_spin_unlock(&event_lock);
    cb("corruption_events_dropped", dropped, arg);
    cb("guard_page_slots_full", __atomic_load_n(&page_slots_full, __ATOMIC_RELAXED), arg);
    cb("guard_segv_handler_replaced", segv_handler_replaced(), arg);
}

void shim_guard_snapshot(struct snap_writer *w)
{
    shim_spin_lock(&event_lock);
    uint32_t n = n_events;
    shim_spin_unlock(&event_lock);
    for (uint32_t i = 0; i < n; i++)
        snap_write_corruption(w, &events[i]);
}
