/*
 * A program with honest stack diversity, for the test that the shim's stack
 * table and snapshots stay bounded by what is live: in each "epoch" it makes
 * STACKS allocations from as many distinct call stacks (a recursion of
 * random depth through eight functions, each block freed at once), an
 * allocate+free from a fixed stack (steady_site) after every 100 of those
 * and once more at the epoch's end -- a stack used in every snapshot
 * interval however long an epoch takes on a slow machine (once per epoch,
 * an epoch that outlasted two intervals under ASan let it leave the table
 * legitimately, and the test's count came out short) -- and one block that it
 * keeps (leak_site, the first LEAKS epochs), and one allocate+free from
 * returning_site in the first and the last epoch only, so that its stack
 * leaves the table in between and comes back. An epoch ends when the shim has
 * written a new snapshot into OUTDIR, so what the table holds does not
 * depend on how fast the machine is. After EPOCHS epochs it runs QUIET more
 * without the recursion, so the stacks it made can leave the table, and
 * prints what it did.
 *
 * With a sixth argument `overlap`, a second thread also makes new stacks
 * all the time, so some are interned while a snapshot is being written.
 *
 * usage: stack_churn OUTDIR EPOCHS STACKS LEAKS QUIET [overlap]
 * It never calls malloc while waiting (getdents64 on the directory).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LEAK_SIZE   1000
#define STEADY_SIZE 100
#define CHURN_SIZE  32
#define MIN_DEPTH   6
#define DEPTH_RANGE 14

void *volatile sink;
static unsigned long churn_calls; /* the main thread's */
static volatile int overlap_done;

__attribute__((noinline)) void churn_leaf(void)
{
    void *p = malloc(CHURN_SIZE);
    sink = p;
    free(p);
}

typedef void (*step_fn)(unsigned depth, uint64_t *rng);
static step_fn steps[8];

static uint64_t next_rand(uint64_t *r)
{
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return *r;
}

/* One call site per function, so a stack is the sequence of functions. The
 * empty asm after the call keeps it from becoming a tail call. */
#define STEP(name)                                                                                 \
    __attribute__((noinline)) void name(unsigned depth, uint64_t *rng)                             \
    {                                                                                              \
        if (!depth)                                                                                \
            churn_leaf();                                                                          \
        else                                                                                       \
            steps[next_rand(rng) & 7](depth - 1, rng);                                             \
        __asm__ volatile("" ::: "memory");                                                         \
    }
STEP(step0)
STEP(step1)
STEP(step2)
STEP(step3)
STEP(step4)
STEP(step5)
STEP(step6)
STEP(step7)

static void *overlap_thread(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg | 1;
    while (!overlap_done)
        steps[next_rand(&rng) & 7](MIN_DEPTH + next_rand(&rng) % DEPTH_RANGE, &rng);
    return NULL;
}

__attribute__((noinline)) void steady_site(void)
{
    void *p = malloc(STEADY_SIZE);
    sink = p;
    free(p);
}

__attribute__((noinline)) void returning_site(void)
{
    void *p = malloc(STEADY_SIZE);
    sink = p;
    free(p);
}

void *kept[4096]; /* not static: the compiler may not drop the blocks */

__attribute__((noinline)) void leak_site(int i)
{
    kept[i] = malloc(LEAK_SIZE);
    memset(kept[i], 1, LEAK_SIZE);
}

/* Snapshots in dir, counted without allocating. */
static int count_snapshots(int dirfd)
{
    char buf[8192];
    int n = 0;
    lseek(dirfd, 0, SEEK_SET);
    for (;;) {
        long got = syscall(SYS_getdents64, dirfd, buf, sizeof(buf));
        if (got <= 0)
            return n;
        for (long off = 0; off < got;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            size_t len = strlen(d->d_name);
            if (len > 5 && !strcmp(d->d_name + len - 5, ".snap"))
                n++;
            off += d->d_reclen;
        }
    }
}

/* Waits (polling every 2 ms, no bound: the test bounds the whole run) until
 * the shim wrote a snapshot after `seen`. */
static int next_snapshot(const char *dir, int seen)
{
    struct timespec ts = {0, 2000000};
    for (;;) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            int n = count_snapshots(fd);
            close(fd);
            if (n > seen)
                return n;
        }
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "overlap"))) {
        fprintf(stderr, "usage: stack_churn OUTDIR EPOCHS STACKS LEAKS QUIET [overlap]\n");
        return 2;
    }
    const char *dir = argv[1];
    int epochs = atoi(argv[2]), stacks = atoi(argv[3]), leaks = atoi(argv[4]);
    int quiet = atoi(argv[5]);
    if (leaks > (int)(sizeof(kept) / sizeof(kept[0])))
        leaks = (int)(sizeof(kept) / sizeof(kept[0]));
    steps[0] = step0, steps[1] = step1, steps[2] = step2, steps[3] = step3;
    steps[4] = step4, steps[5] = step5, steps[6] = step6, steps[7] = step7;
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    int seen = next_snapshot(dir, 0), steady = 0, leaked = 0;
    pthread_t th;
    if (argc == 7 && pthread_create(&th, NULL, overlap_thread, (void *)(uintptr_t)rng) != 0)
        return 1;
    for (int e = 0; e < epochs + quiet; e++) {
        int n = e < epochs ? stacks : 0;
        for (int i = 0; i <= n; i++) {
            if (i < n) {
                steps[next_rand(&rng) & 7](MIN_DEPTH + next_rand(&rng) % DEPTH_RANGE, &rng);
                churn_calls++;
            }
            if (i == n || i % 100 == 99) { /* one call site: one stack */
                steady_site();
                steady++;
            }
        }
        if (e == 0 || e == epochs + quiet - 1)
            returning_site();
        if (leaked < leaks)
            leak_site(leaked++);
        seen = next_snapshot(dir, seen);
    }
    if (argc == 7) {
        overlap_done = 1;
        pthread_join(th, NULL);
    }
    printf("churn_calls=%lu steady_calls=%d leaked=%d leak_bytes=%d\n", churn_calls, steady, leaked,
           leaked * LEAK_SIZE);
    return 0;
}
