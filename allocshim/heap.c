/*
 * Heap accounting: which stack allocated each live block, and per stack how
 * much was allocated and freed. Live = allocated - freed, so the hot path
 * touches two counters per call, not four.
 *
 * The address table is a chained hash table with 16 Ki striped spinlocks: two
 * threads only contend when their blocks hash to the same stripe. Its bucket
 * array starts at 2^14 entries (128 KiB: stays in cache for a program with
 * few live blocks) and grows 4x whenever the blocks outnumber the buckets
 * twice over, up to 2^LEAKAUDIT_TABLE_BITS. A block's stripe does not depend
 * on the array's size, so the grower holds every stripe, moves the chains,
 * publishes the new array and lets go; everyone else reads the current array
 * under their stripe. Nodes come
 * from a per-thread cache refilled in batches from a global pool carved out of
 * the shim's own mmap arena, so the audited allocator is never used.
 *
 * Sampled mode (LEAKAUDIT_MODE=sampled) draws the distance to the next sample
 * from an exponential distribution over allocated bytes (as tcmalloc and
 * jemalloc do), so only ~1 allocation per LEAKAUDIT_SAMPLE_PERIOD bytes pays
 * for a stack walk and a table insert. Each sample stores its estimated
 * weight (bytes/p, 1/p with p = 1 - exp(-size/period)), and frees of
 * unsampled blocks are rejected by an 8 Ki-slot counting filter (its 1 KiB
 * bitmap) without locking.
 */
#include "shim.h"
#include "stacktable.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string.h>

#define LOCK_STRIPES   (1u << 14)
#define START_BITS     14 /* log2 LOCK_STRIPES: the smallest array */
#define FILTER_SLOTS   (1u << SHIM_FILTER_BITS)
#define NODE_BATCH     64
#define NODE_CACHE_MAX 256
#define NODE_CHUNK     (1u << 20)

struct shim_node {
    uintptr_t addr;
    struct shim_node *next;
    uint64_t bytes; /* bytes accounted (estimate in sampled mode) */
    uint32_t stack_id;
    uint32_t count : 24; /* blocks accounted (estimate in sampled mode) */
    uint32_t kind : 8;
    uint32_t free_stack; /* guard mode: who freed it (block in quarantine) */
    uint32_t flags;      /* guard mode: SHIM_BLOCK_* */
};

/* One cache line per stack (64 bytes, the array page-aligned). peak_bytes:
 * the highest live bytes seen when the stack allocated (heaptrack's per-site
 * peak); temp_*: blocks freed by the thread that allocated them before it
 * made another tracked allocation (heaptrack's "temporary allocations").
 * A free adds to either other_freed_* or temp_*, never both (two locked adds
 * per free, not four): freed = other_freed + temp (freed_of()). */
struct stack_counters {
    uint64_t total_bytes, total_count, other_freed_bytes, other_freed_count;
    /* total_count at the previous sweep (the sweeper's), and in its top bit
     * STACK_RELEASED: the stack left the table, allocations must not count
     * here */
    uint64_t seen_count;
    uint64_t peak_bytes, temp_count, temp_bytes;
};
#define STACK_RELEASED (1ull << 63)
_Static_assert(sizeof(struct stack_counters) == 64, "one cache line per stack");

/* Freed bytes and count of a stack: the two disjoint parts, each read once. */
static inline uint64_t freed_bytes_of(const struct stack_counters *c, int order)
{
    return __atomic_load_n(&c->other_freed_bytes, order) + __atomic_load_n(&c->temp_bytes, order);
}
static inline uint64_t freed_count_of(const struct stack_counters *c, int order)
{
    return __atomic_load_n(&c->other_freed_count, order) + __atomic_load_n(&c->temp_count, order);
}

static struct stack_counters *counters; /* indexed by stack id; [0] = no stack */
/* Stacks released from the table (stacks.c): their totals, summed. */
static struct stack_counters folded;
static uint64_t folded_stacks;
struct table {
    struct shim_node **buckets;
    uint32_t mask;
};
/* Arrays are never unmapped or cleared: a thread that read an old one
 * without a lock (unlink_addr's empty-bucket test) still sees a non-empty
 * chain head wherever a block was before the move. */
static struct table tables[8];
static struct table *cur; /* changed only with every stripe held */
static int n_tables;
static int resize_lock;    /* held by the grower, and across fork and stopped-world walks */
static uint64_t nodes_out; /* nodes handed out of the pool (pool_lock) */
static const struct table *last_table; /* no growing past it */
static int *locks;
/* sampled mode: blocks per filter slot, saturating, and the bitmap the free
 * fast path reads (shim.h; not behind a pointer, so it indexes it without
 * loading one first). Both change under filter_lock: only sampled blocks
 * come and go here, so the lock is rare; it makes a slot's count and bit
 * change together (a bit cleared after another thread set it again would
 * hide a sampled block from its free). */
static uint8_t filter[FILTER_SLOTS];
uint64_t shim_sample_bits[FILTER_SLOTS / 64];
/* all set until sampled mode's fast path is on (shim.h) */
#define COARSE_WORDS ((1u << SHIM_COARSE_BITS) / 64)
#define COARSE_SHIFT (SHIM_FILTER_BITS - SHIM_COARSE_BITS)
uint64_t shim_sample_coarse[COARSE_WORDS]
    __attribute__((aligned(64))) = {[0 ... COARSE_WORDS - 1] = ~0ull};
static int coarse_on; /* filter_lock */
static int filter_lock;

static int pool_lock;
/* Free nodes given back by threads, as whole chains of NODE_CACHE_MAX / 2:
 * a chain's first node holds the next chain in addr and its length in
 * bytes, so taking or giving one is O(1) under pool_lock. (One node at a
 * time, a refill followed 64 next pointers last written by other threads:
 * a cache miss each, with the lock held while the other threads spun --
 * most of what full mode cost inferd's two workers.) */
static struct shim_node *pool_chains;
static char *pool_chunk;
static size_t pool_chunk_left;

static uint64_t lost_nodes;          /* allocations not recorded: no memory for a node */
static uint64_t untracked_frees;     /* full mode: free of a block never seen */
static uint64_t frees_before_attach; /* the same, injected: allocated before the attach */
static uint64_t sampled_live;
static uint64_t overloaded; /* node batches handed out with > 4 blocks per bucket */

static struct table *new_table(int bits)
{
    if (n_tables == (int)(sizeof(tables) / sizeof(tables[0])))
        return NULL;
    size_t len = sizeof(struct shim_node *) << bits;
    struct shim_node **b = shim_arena_map(len);
    if (!b)
        return NULL;
    /* Every insert and free touches a bucket at a hashed spot: with 4 KiB
     * pages a large array costs a TLB miss each time, with huge pages none. */
    if (len >= (2u << 20))
        syscall(SYS_madvise, b, len, MADV_HUGEPAGE);
    struct table *t = &tables[n_tables++];
    t->buckets = b;
    t->mask = (1u << bits) - 1;
    return t;
}

void shim_heap_init(void)
{
    uint32_t max = shim_cfg.max_stacks;
    shim_stacks_init();
    counters = shim_arena_map(((size_t)max + 1) * sizeof(*counters));
    locks = shim_arena_map(sizeof(*locks) * LOCK_STRIPES);
    if (!shim_stacks_ready() || !counters || !locks || !new_table(START_BITS)) {
        shim_cfg.track_heap = 0; /* cannot track: run untouched rather than crash */
        return;
    }
    cur = &tables[0];
    if (shim_cfg.table_bits == START_BITS)
        last_table = cur;
}

static inline uint64_t mix(uintptr_t p)
{
    return (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull;
}

/* Blocks close together in memory get buckets close together: within each
 * 1 MiB region the bucket is the 16-byte granule's index plus a hashed
 * offset for the region. An allocator carving blocks in address order (as
 * every one does from fresh memory, and as a quarantine makes it do all the
 * time) then walks the bucket array and the lock stripes a cache line at a
 * time instead of missing the cache on every insert; different regions
 * still land at unrelated offsets. */
static inline uint32_t key_of(uintptr_t p)
{
    return (uint32_t)((p >> 4) + (mix(p >> 20) >> 32));
}

/* The stripe is the key's low bits, the bucket more of them: growing the
 * array never moves a block to another stripe. */
static inline int *stripe_of(uint32_t key)
{
    return &locks[key & (LOCK_STRIPES - 1)];
}

static inline struct table *table_now(void)
{
    return __atomic_load_n(&cur, __ATOMIC_ACQUIRE);
}

/* Coarse bit c from bitmap bits 16c..16c+15 (filter_lock held). A bit is
 * set before the block can reach a free and cleared only when no sampled
 * block maps to it, like the bitmap's. */
static void coarse_update(uint32_t c)
{
    uint32_t first = c << COARSE_SHIFT;
    uint64_t span =
        (__atomic_load_n(&shim_sample_bits[first >> 6], __ATOMIC_RELAXED) >> (first & 63)) &
        ((1ull << (1u << COARSE_SHIFT)) - 1);
    uint64_t bit = 1ull << (c & 63);
    if (span)
        __atomic_fetch_or(&shim_sample_coarse[c >> 6], bit, __ATOMIC_RELEASE);
    else
        __atomic_fetch_and(&shim_sample_coarse[c >> 6], ~bit, __ATOMIC_RELEASE);
}

/* A sampled block p comes (+1) or goes (-1): its slot's count, and the bit
 * while the count is not 0. A saturated count stays (the bit too). */
static void filter_add(uintptr_t p, int d)
{
    uint32_t s = shim_filter_slot(p);
    shim_spin_lock(&filter_lock);
    uint8_t v = filter[s];
    if (v != 0xff && (d > 0 || v != 0)) {
        filter[s] = (uint8_t)(v + d);
        uint64_t bit = 1ull << (s & 63);
        if (filter[s])
            __atomic_fetch_or(&shim_sample_bits[s >> 6], bit, __ATOMIC_RELEASE);
        else
            __atomic_fetch_and(&shim_sample_bits[s >> 6], ~bit, __ATOMIC_RELEASE);
        if (coarse_on)
            coarse_update(s >> COARSE_SHIFT);
    }
    shim_spin_unlock(&filter_lock);
}

/* Every coarse bit from the bitmap, once it is on (filter_lock held). */
static void coarse_refresh(void)
{
    for (uint32_t c = 0; coarse_on && c < (1u << SHIM_COARSE_BITS); c++)
        coarse_update(c);
}

void shim_heap_coarse_enable(void)
{
    shim_spin_lock(&filter_lock);
    coarse_on = 1;
    coarse_refresh();
    shim_spin_unlock(&filter_lock);
}

/* Grows the bucket array 4x, up to 2^LEAKAUDIT_TABLE_BITS: holds every
 * stripe (signals blocked: a handler that allocates would wait on us),
 * moves the chains into the new array and publishes it. A second grower or
 * a whole-table walk in progress makes this a no-op (it is retried at the
 * next refill). */
static void grow(void)
{
    if (__atomic_exchange_n(&resize_lock, 1, __ATOMIC_ACQUIRE))
        return;
    struct table *old = cur;
    int bits = __builtin_popcount(old->mask) + 2;
    if (bits > shim_cfg.table_bits)
        bits = shim_cfg.table_bits;
    struct table *t = old == last_table ? NULL : new_table(bits);
    if (!t || bits == shim_cfg.table_bits) /* the last one, or none to be had */
        __atomic_store_n(&last_table, t ? t : old, __ATOMIC_RELAXED);
    if (!t) {
        shim_spin_unlock(&resize_lock);
        return;
    }
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    for (uint32_t i = 0; i < LOCK_STRIPES; i++)
        shim_spin_lock(&locks[i]);
    for (size_t b = 0; b <= old->mask; b++) {
        struct shim_node *n = old->buckets[b], *next;
        for (; n; n = next) { /* old->buckets[b] itself stays: see struct table */
            next = n->next;
            uint32_t nb = key_of(n->addr) & t->mask;
            n->next = t->buckets[nb];
            t->buckets[nb] = n;
        }
    }
    __atomic_store_n(&cur, t, __ATOMIC_RELEASE);
    for (uint32_t i = 0; i < LOCK_STRIPES; i++)
        shim_spin_unlock(&locks[i]);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    shim_spin_unlock(&resize_lock);
}

static struct shim_node *node_get(void)
{
    struct shim_node *n = shim_tls.free_nodes;
    if (SHIM_LIKELY(n)) {
        shim_tls.free_nodes = n->next;
        shim_tls.n_free_nodes--;
        /* the next call's node: often a line another thread wrote last */
        __builtin_prefetch(n->next, 1);
        return n;
    }
    /* Refill: a chain given back by a thread, or a batch of new nodes. */
    shim_spin_lock(&pool_lock);
    struct shim_node *chain = pool_chains;
    if (chain) {
        pool_chains = (struct shim_node *)chain->addr;
        shim_tls.free_nodes = chain;
        shim_tls.n_free_nodes = (uint32_t)chain->bytes;
        nodes_out += chain->bytes;
    }
    for (int i = 0; !chain && i < NODE_BATCH; i++) {
        if (pool_chunk_left < sizeof(struct shim_node)) {
            pool_chunk = shim_arena_map(NODE_CHUNK);
            pool_chunk_left = pool_chunk ? NODE_CHUNK : 0;
            if (!pool_chunk)
                break;
        }
        struct shim_node *m = (struct shim_node *)pool_chunk;
        pool_chunk += sizeof(*m);
        pool_chunk_left -= sizeof(*m);
        m->next = shim_tls.free_nodes;
        shim_tls.free_nodes = m;
        shim_tls.n_free_nodes++;
        nodes_out++;
    }
    const struct table *t = table_now();
    uint64_t nb = (uint64_t)t->mask + 1;
    int at_limit = t == __atomic_load_n(&last_table, __ATOMIC_RELAXED);
    int due = nodes_out > 2 * nb && !at_limit;
    /* Chains this long in the largest table there will be. (Below the limit
     * they are this long only while another thread is growing the table,
     * or a whole-table walk made this thread's grow wait: not counted.) */
    if (nodes_out > 4 * nb && at_limit)
        __atomic_fetch_add(&overloaded, 1, __ATOMIC_RELAXED);
    shim_spin_unlock(&pool_lock);
    if (SHIM_UNLIKELY(due))
        grow();
    n = shim_tls.free_nodes;
    if (n) {
        shim_tls.free_nodes = n->next;
        shim_tls.n_free_nodes--;
    }
    return n;
}

static void node_put(struct shim_node *n)
{
    n->next = shim_tls.free_nodes;
    shim_tls.free_nodes = n;
    if (SHIM_LIKELY(++shim_tls.n_free_nodes <= NODE_CACHE_MAX))
        return;
    /* Give half back so a thread that only frees does not hoard nodes. */
    struct shim_node *head = shim_tls.free_nodes, *tail = head;
    for (int i = 1; i < NODE_CACHE_MAX / 2; i++)
        tail = tail->next;
    shim_tls.free_nodes = tail->next;
    shim_tls.n_free_nodes -= NODE_CACHE_MAX / 2;
    tail->next = NULL;
    head->bytes = NODE_CACHE_MAX / 2;
    shim_spin_lock(&pool_lock);
    head->addr = (uintptr_t)pool_chains;
    pool_chains = head;
    nodes_out -= NODE_CACHE_MAX / 2;
    shim_spin_unlock(&pool_lock);
}

static void insert(struct shim_node *n)
{
    uint32_t key = key_of(n->addr);
    int *l = stripe_of(key);
    shim_spin_lock(l);
    struct table *t = table_now();
    n->next = t->buckets[key & t->mask];
    t->buckets[key & t->mask] = n;
    shim_spin_unlock(l);
}

/* Locks p's bucket stripe (*lock_out) and returns the link that points
 * at p's node, or at the NULL that ends the chain. */
static struct shim_node **link_locked(uintptr_t p, int **lock_out)
{
    uint32_t key = key_of(p);
    int *l = stripe_of(key);
    shim_spin_lock(l);
    *lock_out = l;
    struct table *t = table_now();
    struct shim_node **pp = &t->buckets[key & t->mask], *n;
    while ((n = *pp) && n->addr != p)
        pp = &n->next;
    return pp;
}

static struct shim_node *unlink_addr(uintptr_t p)
{
    struct table *t = table_now();
    if (!__atomic_load_n(&t->buckets[key_of(p) & t->mask], __ATOMIC_RELAXED))
        return NULL; /* empty bucket: no lock needed to know p is not here */
    int *l;
    struct shim_node **pp = link_locked(p, &l), *n = *pp;
    if (n)
        *pp = n->next;
    shim_spin_unlock(l);
    return n;
}

static double sample_weight(size_t size)
{
    double p = -expm1(-(double)size / (double)shim_cfg.sample_period);
    return p > 0 ? 1.0 / p : 1.0;
}

void shim_heap_on_alloc_weighted(void *p, size_t size, uint32_t stack_id, int kind, int sampled,
                                 uint32_t flags)
{
    struct shim_node *n = node_get();
    if (SHIM_UNLIKELY(!n)) {
        __atomic_fetch_add(&lost_nodes, 1, __ATOMIC_RELAXED);
        return;
    }
    uint64_t bytes = size, count = 1;
    if (sampled) {
        double w = sample_weight(size);
        bytes = (uint64_t)((double)size * w + 0.5);
        count = (uint64_t)(w + 0.5);
        if (count > 0xffffff)
            count = 0xffffff;
        filter_add((uintptr_t)p, 1);
        __atomic_fetch_add(&sampled_live, 1, __ATOMIC_RELAXED);
    }
    struct stack_counters *c = &counters[stack_id];
    /* Sequentially consistent with shim_heap_stack_release: either the
     * sweeper sees this count and keeps the stack, or this sees its mark. */
    __atomic_fetch_add(&c->total_count, count, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&c->total_bytes, bytes, __ATOMIC_RELAXED);
    if (SHIM_UNLIKELY(__atomic_load_n(&c->seen_count, __ATOMIC_SEQ_CST) & STACK_RELEASED)) {
        /* The id was taken before its stack left the table (stacks.c) */
        __atomic_fetch_sub(&c->total_count, count, __ATOMIC_RELAXED);
        __atomic_fetch_sub(&c->total_bytes, bytes, __ATOMIC_RELAXED);
        shim_stacks_count_released_race();
        stack_id = SNAP_STACK_NONE;
        c = &counters[stack_id];
        __atomic_fetch_add(&c->total_count, count, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->total_bytes, bytes, __ATOMIC_RELAXED);
    }
    n->addr = (uintptr_t)p;
    n->bytes = bytes;
    n->count = (uint32_t)count;
    n->stack_id = stack_id;
    n->kind = (uint32_t)kind;
    n->free_stack = 0;
    n->flags = flags;
    insert(n);
    /* A racy maximum: two threads raising it at once may keep the lower of
     * two close values, never one above what was live. */
    uint64_t total = __atomic_load_n(&c->total_bytes, __ATOMIC_RELAXED);
    uint64_t freed = freed_bytes_of(c, __ATOMIC_RELAXED);
    if (freed <= total && total - freed > __atomic_load_n(&c->peak_bytes, __ATOMIC_RELAXED))
        __atomic_store_n(&c->peak_bytes, total - freed, __ATOMIC_RELAXED);
    shim_tls.last_alloc = ~(uintptr_t)p; /* complemented: not a root for the reachability scan */
}

/* A free's share of its stack's counters, from the freeing thread: a
 * temporary one or another one. */
static void count_free(struct stack_counters *c, uintptr_t addr, uint64_t bytes, uint64_t count)
{
    if (~addr == shim_tls.last_alloc) {
        __atomic_fetch_add(&c->temp_bytes, bytes, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->temp_count, count, __ATOMIC_RELAXED);
        shim_tls.last_alloc = 0;
        return;
    }
    __atomic_fetch_add(&c->other_freed_bytes, bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->other_freed_count, count, __ATOMIC_RELAXED);
}

static void account_free(struct shim_node *n)
{
    count_free(&counters[n->stack_id], n->addr, n->bytes, n->count);
    if (shim_cfg.mode == SNAP_MODE_SAMPLED) {
        filter_add(n->addr, -1);
        __atomic_fetch_sub(&sampled_live, 1, __ATOMIC_RELAXED);
    }
}

int shim_heap_on_free(void *p)
{
    struct shim_node *n = unlink_addr((uintptr_t)p);
    if (!n) {
        if (shim_injected && shim_prior_free_missed(p))
            return 1;
        if (shim_cfg.mode == SNAP_MODE_FULL)
            __atomic_fetch_add(shim_injected ? &frees_before_attach : &untracked_frees, 1,
                               __ATOMIC_RELAXED);
        return 0;
    }
    account_free(n);
    node_put(n);
    return 1;
}

struct shim_node *shim_heap_detach(void *p)
{
    return unlink_addr((uintptr_t)p);
}

void shim_heap_commit_free(struct shim_node *n)
{
    account_free(n);
    node_put(n);
}

void shim_heap_restore(struct shim_node *n)
{
    insert(n);
}

int shim_heap_drop_flagged(const void *p, uint32_t flag)
{
    int *l;
    struct shim_node **link = link_locked((uintptr_t)p, &l);
    while (*link && ((*link)->addr != (uintptr_t)p || !((*link)->flags & flag)))
        link = &(*link)->next;
    struct shim_node *n = *link;
    if (n)
        *link = n->next;
    shim_spin_unlock(l);
    if (!n)
        return 0;
    account_free(n);
    node_put(n);
    return 1;
}

uint64_t shim_rand(void)
{
    uint64_t x = shim_tls.rng;
    if (!x)
        x = ((uint64_t)(uintptr_t)&shim_tls) ^ 0x2545f4914f6cdd1dull ^ (uint64_t)shim_gettid();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    shim_tls.rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

int shim_heap_should_sample(size_t size)
{
    shim_tls.countdown -= (int64_t)size;
    if (SHIM_LIKELY(shim_tls.countdown > 0))
        return 0;
    /* Next distance: exponential with mean sample_period. */
    double u = (double)(shim_rand() >> 11) * 0x1.0p-53;
    double d = -log(1.0 - u) * (double)shim_cfg.sample_period;
    shim_tls.countdown = (int64_t)d + 1;
    return 1;
}

void shim_heap_after_fork_child(void)
{
    /* Threads that held a stripe lock at fork do not exist in the child;
     * their critical sections are single pointer updates, so releasing the
     * locks leaves every chain consistent. */
    if (locks)
        memset(locks, 0, sizeof(*locks) * LOCK_STRIPES);
    pool_lock = 0;
    filter_lock = 0;
    resize_lock = 0;
}

void shim_heap_foreach_stack(void (*cb)(const struct snap_heap_entry *e, void *arg), void *arg)
{
    if (!counters)
        return;
    uint32_t n = stk_table_count(&shim_stack_table);
    for (uint32_t id = 0; id <= n; id++) {
        const uint64_t *frames;
        if (id != SNAP_STACK_NONE && !stk_table_get(&shim_stack_table, id, &frames))
            continue; /* released: its totals are in the retired-stacks row */
        const struct stack_counters *c = &counters[id];
        struct snap_heap_entry e = {.stack_id = id};
        e.total_bytes = __atomic_load_n(&c->total_bytes, __ATOMIC_RELAXED);
        e.total_count = __atomic_load_n(&c->total_count, __ATOMIC_RELAXED);
        if (!e.total_count)
            continue;
        e.freed_bytes = freed_bytes_of(c, __ATOMIC_RELAXED);
        e.freed_count = freed_count_of(c, __ATOMIC_RELAXED);
        /* Counters are read without stopping the program: clamp the rare
         * free that is seen before its allocation's total. */
        e.live_bytes = e.total_bytes > e.freed_bytes ? e.total_bytes - e.freed_bytes : 0;
        e.live_count = e.total_count > e.freed_count ? e.total_count - e.freed_count : 0;
        e.peak_bytes = __atomic_load_n(&c->peak_bytes, __ATOMIC_RELAXED);
        if (e.peak_bytes < e.live_bytes)
            e.peak_bytes = e.live_bytes;
        e.temp_count = __atomic_load_n(&c->temp_count, __ATOMIC_RELAXED);
        e.temp_bytes = __atomic_load_n(&c->temp_bytes, __ATOMIC_RELAXED);
        e.flags |= SNAP_HEAP_PEAK_TEMP;
        if (shim_cfg.mode == SNAP_MODE_SAMPLED)
            e.flags |= SNAP_HEAP_ESTIMATED;
        cb(&e, arg);
    }
    if (folded_stacks) {
        struct snap_heap_entry e = {.stack_id = SNAP_STACK_NONE, .flags = SNAP_HEAP_RETIRED};
        e.total_bytes = e.freed_bytes = folded.other_freed_bytes;
        e.total_count = e.freed_count = folded.other_freed_count;
        if (shim_cfg.mode == SNAP_MODE_SAMPLED)
            e.flags |= SNAP_HEAP_ESTIMATED;
        cb(&e, arg);
    }
}

/* ---- stack retirement (stacks.c): the heap's say, by stack id ---- */

int shim_heap_stack_idle(uint32_t id, void *arg)
{
    (void)arg;
    struct stack_counters *c = &counters[id];
    uint64_t total = __atomic_load_n(&c->total_count, __ATOMIC_SEQ_CST);
    uint64_t freed = freed_count_of(c, __ATOMIC_RELAXED);
    int idle = total == freed && total == c->seen_count && !shim_stack_marked(id);
    __atomic_store_n(&c->seen_count, total, __ATOMIC_RELAXED); /* not released: top bit 0 */
    return idle;
}

/* Marks the stack released, then looks again: an allocation that counted
 * before the mark is seen here (the stack stays), one after it sees the
 * mark (shim_heap_on_alloc_weighted). A released stack has nothing live,
 * so its freed figures are its totals. */
int shim_heap_stack_release(uint32_t id, void *arg)
{
    (void)arg;
    struct stack_counters *c = &counters[id];
    uint64_t seen = c->seen_count;
    __atomic_store_n(&c->seen_count, seen | STACK_RELEASED, __ATOMIC_SEQ_CST);
    uint64_t total = __atomic_load_n(&c->total_count, __ATOMIC_SEQ_CST);
    uint64_t freed = freed_count_of(c, __ATOMIC_SEQ_CST);
    if (total != seen || total != freed) {
        __atomic_store_n(&c->seen_count, seen, __ATOMIC_SEQ_CST);
        return 0;
    }
    folded.other_freed_bytes += freed_bytes_of(c, __ATOMIC_RELAXED);
    folded.other_freed_count += freed;
    folded_stacks++;
    return 1;
}

void shim_heap_stack_recycle(uint32_t id, void *arg)
{
    (void)arg;
    struct stack_counters *c = &counters[id];
    __atomic_store_n(&c->total_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->total_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->other_freed_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->other_freed_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->peak_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->temp_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->temp_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->seen_count, 0, __ATOMIC_RELEASE); /* not released any more */
}

void shim_heap_loss_counters(shim_loss_cb cb, void *arg)
{
    cb(SNAP_LOSS_HEAP_NODE_ALLOC_FAILED, __atomic_load_n(&lost_nodes, __ATOMIC_RELAXED), arg);
    cb(SNAP_LOSS_HEAP_FREE_UNTRACKED, __atomic_load_n(&untracked_frees, __ATOMIC_RELAXED), arg);
    if (shim_injected)
        cb(SNAP_LOSS_HEAP_FREE_BEFORE_ATTACH,
           __atomic_load_n(&frees_before_attach, __ATOMIC_RELAXED), arg);
    cb(SNAP_LOSS_HEAP_TABLE_OVERLOADED, __atomic_load_n(&overloaded, __ATOMIC_RELAXED), arg);
}

/* ---- guard mode: block records (page blocks stay while their slot is freed) ---- */

static struct shim_node *find_locked(uintptr_t p, int **lock_out)
{
    return *link_locked(p, lock_out);
}

static void fill_info(const struct shim_node *n, struct shim_block_info *out)
{
    out->size = n->bytes;
    out->alloc_stack = n->stack_id;
    out->free_stack = n->free_stack;
    out->kind = n->kind;
    out->flags = n->flags;
}

int shim_heap_lookup(const void *p, struct shim_block_info *out)
{
    int *l;
    struct shim_node *n = find_locked((uintptr_t)p, &l);
    if (n)
        fill_info(n, out);
    shim_spin_unlock(l);
    return n ? (n->flags & SHIM_BLOCK_FREED ? SHIM_LOOKUP_FREED : SHIM_LOOKUP_LIVE)
             : SHIM_LOOKUP_NONE;
}

int shim_heap_mark_freed(const void *p, uint32_t free_stack, struct shim_block_info *out)
{
    int *l;
    struct shim_node *n = find_locked((uintptr_t)p, &l);
    int rc = SHIM_LOOKUP_NONE;
    uint64_t bytes = 0, count = 0;
    if (n) {
        fill_info(n, out);
        if (n->flags & SHIM_BLOCK_FREED) {
            rc = SHIM_LOOKUP_FREED;
        } else {
            rc = SHIM_LOOKUP_LIVE;
            n->flags |= SHIM_BLOCK_FREED;
            n->free_stack = free_stack;
            bytes = n->bytes;
            count = n->count;
        }
    }
    shim_spin_unlock(l);
    if (rc == SHIM_LOOKUP_LIVE)
        count_free(&counters[out->alloc_stack], (uintptr_t)p, bytes, count);
    return rc;
}

int shim_heap_take(const void *p, struct shim_block_info *out)
{
    struct shim_node *n = unlink_addr((uintptr_t)p);
    if (!n)
        return SHIM_LOOKUP_NONE;
    fill_info(n, out);
    account_free(n);
    node_put(n);
    return SHIM_LOOKUP_LIVE;
}

void shim_heap_set_flag(const void *p, uint32_t flag)
{
    int *l;
    struct shim_node *n = find_locked((uintptr_t)p, &l);
    if (n)
        n->flags |= flag;
    shim_spin_unlock(l);
}

static void drop_node(struct shim_node *n);

void shim_heap_evict(const void *p)
{
    struct shim_node *n = unlink_addr((uintptr_t)p);
    if (n)
        drop_node(n);
}

void shim_heap_prefetch(const void *p)
{
    uint32_t key = key_of((uintptr_t)p);
    struct table *t = table_now();
    if (SHIM_UNLIKELY(!t))
        return; /* heap tracking never started */
    __builtin_prefetch(&t->buckets[key & t->mask], 1);
    __builtin_prefetch(stripe_of(key), 1);
}

static void drop_node(struct shim_node *n)
{
    if (shim_cfg.mode == SNAP_MODE_SAMPLED) { /* undo the filter entry, counters already done */
        filter_add(n->addr, -1);
        __atomic_fetch_sub(&sampled_live, 1, __ATOMIC_RELAXED);
    }
    node_put(n);
}

/* Visits every record. locked: each bucket under its stripe lock, and if
 * the array grew meanwhile the walk starts over on the new one (blocks seen
 * before are seen again; nothing is missed, and the grower is never held
 * up). Otherwise the caller holds the layout (shim_heap_layout_hold) and
 * every other thread is stopped. */
static void walk(int locked, void (*cb)(const struct shim_node *n, void *arg), void *arg)
{
    if (!cur)
        return;
restart:;
    const struct table *t = table_now();
    for (size_t b = 0; b <= t->mask; b++) {
        if (!__atomic_load_n(&t->buckets[b], __ATOMIC_ACQUIRE))
            continue;
        int *l = stripe_of((uint32_t)b);
        if (locked) {
            shim_spin_lock(l);
            if (table_now() != t) {
                shim_spin_unlock(l);
                goto restart;
            }
        }
        for (const struct shim_node *nd = t->buckets[b]; nd; nd = nd->next)
            cb(nd, arg);
        if (locked)
            shim_spin_unlock(l);
    }
}

struct block_visit {
    void (*cb)(uintptr_t addr, const struct shim_block_info *info, void *arg);
    void *arg;
};

static void visit_block(const struct shim_node *n, void *arg)
{
    const struct block_visit *v = arg;
    struct shim_block_info info;
    fill_info(n, &info);
    v->cb(n->addr, &info, v->arg);
}

void shim_heap_foreach_block(void (*cb)(uintptr_t addr, const struct shim_block_info *info,
                                        void *arg),
                             void *arg)
{
    struct block_visit v = {cb, arg};
    walk(1, visit_block, &v);
}

struct live_visit {
    void (*cb)(uintptr_t addr, uint64_t bytes, uint32_t stack_id, void *arg);
    void *arg;
};

static void visit_live(const struct shim_node *n, void *arg)
{
    const struct live_visit *v = arg;
    /* a guard page block in its freed window; glibc's exit-handler lists,
     * which exit() frees right after the final scan */
    if (!(n->flags & (SHIM_BLOCK_FREED | SHIM_BLOCK_EXIT_LIST)))
        v->cb(n->addr, n->bytes, n->stack_id, v->arg);
}

struct flag_visit {
    uint32_t flag;
    void (*cb)(uintptr_t addr, uint64_t bytes, void *arg);
    void *arg;
};

static void visit_flagged(const struct shim_node *n, void *arg)
{
    const struct flag_visit *v = arg;
    if (n->flags & v->flag)
        v->cb(n->addr, n->bytes, v->arg);
}

void shim_heap_foreach_flagged_stopped(uint32_t flag,
                                       void (*cb)(uintptr_t addr, uint64_t bytes, void *arg),
                                       void *arg)
{
    struct flag_visit v = {flag, cb, arg};
    walk(0, visit_flagged, &v);
}

void shim_heap_foreach_live_stopped(void (*cb)(uintptr_t addr, uint64_t bytes, uint32_t stack_id,
                                               void *arg),
                                    void *arg)
{
    struct live_visit v = {cb, arg};
    walk(0, visit_live, &v);
}

void shim_heap_layout_hold(void)
{
    shim_spin_lock(&resize_lock);
}

void shim_heap_layout_release(void)
{
    shim_spin_unlock(&resize_lock);
}

/* attach --inject detached (inject.c): every record goes back to the pool
 * and the per-stack counters start again, so that a later attach does not
 * inherit blocks freed while nothing was watching (their addresses would be
 * recorded twice). Counters are zeroed without stopping the program: a
 * hook still running on another thread may leave a stray count behind. */
void shim_heap_clear(void)
{
    if (!cur)
        return;
    struct table *t = table_now();
    for (size_t b = 0; b <= t->mask; b++) {
        if (!__atomic_load_n(&t->buckets[b], __ATOMIC_ACQUIRE))
            continue;
        int *l = stripe_of((uint32_t)b);
        shim_spin_lock(l);
        struct shim_node *n = t->buckets[b];
        t->buckets[b] = NULL;
        shim_spin_unlock(l);
        while (n) {
            struct shim_node *next = n->next;
            node_put(n);
            n = next;
        }
    }
    memset(counters, 0, ((size_t)shim_cfg.max_stacks + 1) * sizeof(*counters));
    shim_spin_lock(&filter_lock);
    memset(filter, 0, sizeof(filter));
    for (size_t i = 0; i < FILTER_SLOTS / 64; i++)
        __atomic_store_n(&shim_sample_bits[i], 0, __ATOMIC_RELEASE);
    coarse_refresh();
    shim_spin_unlock(&filter_lock);
}
