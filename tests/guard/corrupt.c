/*
 * Heap-corruption programs for the guard-mode tests: each scenario commits
 * one kind of heap bug in a named, non-inlined function.
 *   corrupt SCENARIO   overflow1 overflow16 underflow uaf_write uaf_read
 *                      double_free interior_free stack_free memalign_overflow
 *                      calloc_overflow realloc_freed mismatch field clean
 *                      uaf_evicted (UAF write, then 40 MB of frees push the
 *                      block out of the quarantine: blocks of 100 KiB, which
 *                      are never recycled, so the quarantine overflows)
 *                      uaf_deep (UAF write 1000 bytes into a 4000-byte
 *                      block, then the same churn)
 *                      uaf_recycled (UAF write, then frees of blocks of the
 *                      same size until it is handed out again)
 *                      recycle_window (no bug: after how many bytes of later
 *                      frees is a freed block handed out again?)
 *                      fork_busy (no bug: forks while two threads churn)
 *                      big_frees (no bug: frees blocks larger than the
 *                      whole quarantine while two threads churn)
 *                      many_overflows (300 blocks overflowed by 1 byte and
 *                      freed: for policy log, more events than a snapshot
 *                      keeps)
 *                      many_live (no bug: 5000 blocks of 64 bytes live at
 *                      once, more than there are guard-page slots)
 *                      periodic_sites (no bug: 200 rounds of one 64-byte
 *                      block from each of 10 functions, all kept live)
 *                      own_segv_handler (no bug: installs its own SIGSEGV
 *                      handler after its first allocation, then sleeps 2.5 s)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
static void *volatile sink;
static volatile int zero = 0;

NOINLINE char *alloc_block(size_t n)
{
    return malloc(n);
}

/* The bad writes flip the bytes they hit (or write two different bytes):
 * a constant could equal the redzone or poison byte there (a random
 * per-process pattern, so 1 run in 256), and the write would change
 * nothing to detect. */
#define FLIP 0x5a

NOINLINE void write_past_end(char *p, size_t n, size_t by)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)i;
    for (size_t i = n; i < n + by; i++)
        p[i] ^= FLIP;
}

NOINLINE void write_before_start(char *p)
{
    p[-1 - zero] ^= FLIP;
}

/* One-byte accesses just outside a block: pure writes and pure reads, so
 * under guard pages the faulting instruction is the one named. */
#define SMALL_BLOCK 10
static volatile char read_sink;

NOINLINE void underflow_write1(char *p)
{
    p[-1 - zero] = 'u';
}

NOINLINE void overflow_write1(char *p, size_t n)
{
    p[n + zero] = 'o';
}

NOINLINE void overflow_read1(const char *p, size_t n)
{
    read_sink = p[n + zero];
}

NOINLINE void read_past_string(const char *s)
{
    read_sink = s[strlen(s) + 1 + zero]; /* one past the terminating NUL */
}

/* Two different bytes, no read: under guard pages the first write is the
 * faulting access (a read would fault first, as a use-after-free read). */
NOINLINE void write_after_free(char *p)
{
    p[8 + zero] = 'w';
    p[9 + zero] = 'v';
}

NOINLINE void write_deep_after_free(char *p)
{
    p[1000 + zero] ^= FLIP;
}

/* Frees 40 MB in blocks too large to be recycled from the quarantine: the
 * quarantine (16 MiB, holding up to 20) overflows and evicts its oldest. */
static void push_out_of_quarantine(void)
{
    for (int i = 0; i < 400; i++) {
        sink = malloc(100 << 10);
        free(sink);
    }
}

NOINLINE int read_after_free(char *p)
{
    return p[8 + zero];
}

NOINLINE void free_twice(char *p)
{
    free(p);
    free(p);
}

NOINLINE void free_interior(char *p)
{
    free(p + 16 + zero);
}

NOINLINE void free_stack(void)
{
    char buf[64];
    sink = buf;
    free((void *)sink);
}

/* The field case: a vendor runtime thread writes past a tensor buffer it was
 * handed; much later the JPEG snapshot path frees/allocates next to it. */
static char *tensor, *neighbour;

NOINLINE char *alloc_tensor(void)
{
    return malloc(64);
}

NOINLINE void *vendor_runtime_thread(void *arg)
{
    memset(tensor, 0x41, 64 + 24 + zero); /* 24 bytes too many: over the next chunk's header */
    return NULL;
}

NOINLINE void jpeg_encode_snapshot(void)
{
    free(neighbour);           /* innocent */
    char *jpeg = malloc(2880); /* innocent: the size from the field report */
    memset(jpeg, 0, 2880);
    free(jpeg);
    char *more[16];
    for (int i = 0; i < 16; i++)
        more[i] = malloc(64);
    for (int i = 0; i < 16; i++)
        free(more[i]);
}

static volatile int churning = 1;

static void *churn_thread(void *arg)
{
    (void)arg;
    while (churning) {
        char *p = malloc(24);
        sink = p;
        free(p);
    }
    return NULL;
}

/* Forks 300 times while two threads malloc and free as fast as they can:
 * a guard lock held by a churning thread at fork() must not stay held in
 * the child, whose own malloc/free would then spin forever. */
NOINLINE int fork_busy(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn_thread, NULL);
    alarm(60); /* a hung child hangs waitpid: die instead of hanging the test */
    int ok = 0;
    for (int i = 0; i < 300; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int k = 0; k < 100; k++)
                free(malloc(16 + (size_t)k));
            _exit(0);
        }
        int st = 0;
        if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
    }
    churning = 0;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return ok;
}

/* Frees 2000 blocks of 40 MiB (over the 16 MiB quarantine, and always mmapped by glibc: each is
 * evicted by the next push, whichever thread makes it) while two threads malloc and free as fast as
 * they can. A block must be poisoned before another thread can evict and release it, or the
 * poisoning writes to memory the allocator has already unmapped. */
NOINLINE int big_frees(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn_thread, NULL);
    int n = 0;
    for (int i = 0; i < 2000; i++) {
        char *p = malloc(40u << 20);
        if (p) {
            p[0] = 1;
            free(p);
            n++;
        }
    }
    churning = 0;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return n;
}

/* Ten allocation sites, called in the same order every round. */
#define SITE(i)                                                                                    \
    NOINLINE void *site##i(void)                                                                   \
    {                                                                                              \
        return malloc(64);                                                                         \
    }
/* clang-format moves these macro lines on every run: left as written */
/* clang-format off */
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7) SITE(8) SITE(9)

int main(int argc, char **argv)
/* clang-format on */
{
    const char *s = argc > 1 ? argv[1] : "clean";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(s, "overflow1")) {
        char *p = alloc_block(100);
        write_past_end(p, 100, 1);
        free(p);
    } else if (!strcmp(s, "small_underflow_write")) {
        char *p = alloc_block(SMALL_BLOCK);
        underflow_write1(p);
        free(p);
    } else if (!strcmp(s, "small_overflow_write")) {
        char *p = alloc_block(SMALL_BLOCK);
        overflow_write1(p, SMALL_BLOCK);
        free(p);
    } else if (!strcmp(s, "small_overflow_read")) {
        char *p = alloc_block(SMALL_BLOCK);
        memset(p, 'r', SMALL_BLOCK);
        overflow_read1(p, SMALL_BLOCK);
        free(p);
    } else if (!strcmp(s, "strdup_read_past")) {
        char *p = strdup("guarded");
        read_past_string(p);
        free(p);
    } else if (!strcmp(s, "overflow16")) {
        char *p = alloc_block(64);
        write_past_end(p, 64, 16);
        free(p);
    } else if (!strcmp(s, "underflow")) {
        char *p = alloc_block(48);
        write_before_start(p);
        free(p);
    } else if (!strcmp(s, "uaf_write")) {
        char *p = alloc_block(200);
        free(p);
        write_after_free(p);
    } else if (!strcmp(s, "uaf_evicted")) {
        char *p = alloc_block(200);
        free(p);
        write_after_free(p);
        push_out_of_quarantine();
        printf("churned\n");
    } else if (!strcmp(s, "uaf_deep")) {
        char *p = alloc_block(4000);
        free(p);
        write_deep_after_free(p);
        push_out_of_quarantine();
        printf("churned\n");
    } else if (!strcmp(s, "uaf_recycled")) {
        char *p = alloc_block(200);
        free(p);
        write_after_free(p);
        for (int i = 0; i < 200000; i++) {
            sink = malloc(200);
            free(sink);
        }
        printf("churned\n");
    } else if (!strcmp(s, "recycle_window")) {
        char *p = alloc_block(200);
        free(p);
        long freed = 0, reused_after = -1;
        for (int i = 0; i < 200000 && reused_after < 0; i++) {
            char *q = malloc(200);
            if (q == p)
                reused_after = freed;
            free(q);
            freed += 200;
        }
        printf("reused after %ld bytes\n", reused_after);
    } else if (!strcmp(s, "uaf_read")) {
        char *p = alloc_block(200);
        free(p);
        printf("read %d\n", read_after_free(p));
    } else if (!strcmp(s, "double_free")) {
        free_twice(alloc_block(32));
    } else if (!strcmp(s, "interior_free")) {
        free_interior(alloc_block(128));
    } else if (!strcmp(s, "stack_free")) {
        free_stack();
    } else if (!strcmp(s, "memalign_overflow")) {
        char *p = memalign(256, 1000);
        if ((uintptr_t)p % 256)
            return 3;
        write_past_end(p, 1000, 4);
        free(p);
    } else if (!strcmp(s, "calloc_overflow")) {
        errno = 0;
        volatile size_t huge = SIZE_MAX / 2;
        void *p = calloc(huge, 4);
        printf("calloc overflow: %s %s\n", p ? "non-NULL" : "NULL",
               errno == ENOMEM ? "ENOMEM" : "?");
        return p != NULL;
    } else if (!strcmp(s, "realloc_freed")) {
        char *p = alloc_block(40);
        free(p);
        sink = realloc(p, 80);
    } else if (!strcmp(s, "field")) {
        tensor = alloc_tensor();
        neighbour = malloc(64);
        pthread_t t;
        pthread_create(&t, NULL, vendor_runtime_thread, NULL);
        pthread_join(t, NULL);
        for (int i = 0; i < 1000; i++)
            free(malloc(100)); /* time passes: nothing notices yet */
        jpeg_encode_snapshot();
        printf("survived\n");
    } else if (!strcmp(s, "big_frees")) {
        printf("freed %d\n", big_frees());
    } else if (!strcmp(s, "fork_busy")) {
        printf("forked %d\n", fork_busy());
    } else if (!strcmp(s, "many_overflows")) {
        for (int i = 0; i < 300; i++) {
            char *p = alloc_block(100);
            write_past_end(p, 100, 1);
            free(p);
        }
        printf("overflowed 300\n");
    } else if (!strcmp(s, "many_live")) {
        static char *live[5000];
        for (int i = 0; i < 5000; i++)
            live[i] = alloc_block(64);
        for (int i = 0; i < 5000; i++)
            free(live[i]);
        printf("freed 5000\n");
    } else if (!strcmp(s, "periodic_sites")) {
        static void *keep[2000];
        void *(*const sites[10])(void) = {site0, site1, site2, site3, site4,
                                          site5, site6, site7, site8, site9};
        for (int r = 0; r < 200; r++)
            for (int i = 0; i < 10; i++)
                keep[r * 10 + i] = sites[i]();
        printf("kept %d\n", 2000);
    } else if (!strcmp(s, "own_segv_handler")) {
        char *p = alloc_block(200);
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        sigaction(SIGSEGV, &sa, NULL);
        free(p);
        printf("installed\n");
        sleep(2); /* periodic snapshots see it too */
        usleep(500000);
    } else if (!strcmp(s, "clean")) {
        for (int i = 0; i < 10000; i++) {
            char *p = malloc((size_t)(i % 500) + 1);
            memset(p, 1, (size_t)(i % 500) + 1);
            p = realloc(p, (size_t)(i % 700) + 1);
            free(p);
        }
        printf("clean\n");
    } else {
        return 2;
    }
    return 0;
}
