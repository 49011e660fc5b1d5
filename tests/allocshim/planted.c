/*
 * Known-leak programs for the shim tests: each scenario plants leaks in a
 * named, non-inlined function with exactly known bytes and counts, next to
 * code that allocates and frees correctly (churn), so a test can check that
 * the planted site -- and only it -- is reported.
 *
 *   planted SCENARIO     scenarios: steady errpath realloc threads crossfree
 *                        fds mmap clean forkexec stress grow
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

static void *volatile sink; /* keeps the compiler from dropping allocations */

NOINLINE static void churn(int n)
{
    for (int i = 0; i < n; i++) {
        char *p = malloc(32 + (size_t)(i % 100));
        memset(p, 1, 32);
        sink = p;
        free(p);
    }
}

/* steady: 100 blocks of 1000 bytes */
NOINLINE void leak_steady(void)
{
    for (int i = 0; i < 100; i++) {
        char *p = malloc(1000);
        memset(p, 2, 1000);
        sink = p;
    }
}

/* errpath: a decoder that forgets its buffer on every 10th frame */
NOINLINE int decode_frame(int i)
{
    unsigned char *buf = malloc(4096);
    if (!buf)
        return -1;
    memset(buf, 0, 4096);
    if (i % 10 == 9)
        return -1; /* error path: buf leaks */
    free(buf);
    return 0;
}

/* realloc: a buffer grown by realloc then dropped; calloc and aligned leaks */
NOINLINE void leak_realloc(void)
{
    char *p = NULL;
    for (size_t n = 100; n <= 3000; n += 100)
        p = realloc(p, n);
    sink = p;
}

NOINLINE void leak_calloc(void)
{
    for (int i = 0; i < 5; i++)
        sink = calloc(10, 64);
}

NOINLINE void leak_aligned(void)
{
    void *p;
    for (int i = 0; i < 3; i++)
        if (posix_memalign(&p, 64, 512) == 0)
            sink = p;
    sink = aligned_alloc(256, 1024);
    sink = memalign(128, 384);
}

/* bigleak: 2000 blocks of 10000 bytes among lots of small churn (sampling) */
NOINLINE void leak_big(void)
{
    for (int i = 0; i < 2000; i++) {
        sink = malloc(10000);
        churn(50);
    }
}

/* threads: one thread leaks while others churn */
NOINLINE void *thread_leaker(void *arg)
{
    for (int i = 0; i < 50; i++)
        sink = malloc(256);
    return NULL;
}

static void *thread_churner(void *arg)
{
    churn(20000);
    return NULL;
}

/* crossfree: blocks allocated in one thread, freed in another: no leak */
static void *blocks[100];

NOINLINE static void *cross_alloc(void *arg)
{
    for (int i = 0; i < 100; i++)
        blocks[i] = malloc(777);
    return NULL;
}

static void *cross_free(void *arg)
{
    for (int i = 0; i < 100; i++)
        free(blocks[i]);
    return NULL;
}

/* fds: dup, fcntl F_DUPFD, socketpair, pipe, memfd, SCM_RIGHTS, pty peer */
NOINLINE void leak_dup(int fd)
{
    for (int i = 0; i < 3; i++)
        if (dup(fd) < 0)
            exit(2);
}

NOINLINE void leak_fcntl(int fd)
{
    for (int i = 0; i < 2; i++)
        if (fcntl(fd, F_DUPFD_CLOEXEC, 100) < 0)
            exit(2);
}

NOINLINE void leak_socketpair(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        exit(2);
}

NOINLINE void leak_pipe(void)
{
    int p[2];
    if (pipe(p) < 0)
        exit(2);
}

NOINLINE int leak_memfd(void)
{
    int fd = -1;
    for (int i = 0; i < 2; i++)
        fd = memfd_create("planted-frame", MFD_CLOEXEC);
    return fd;
}

NOINLINE void receive_fd(int sock)
{
    char data;
    struct iovec iov = {&data, 1};
    char ctrl[CMSG_SPACE(sizeof(int))];
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof(ctrl)};
    if (recvmsg(sock, &msg, 0) < 0)
        exit(2);
}

static void send_fd(int sock, int fd)
{
    char data = 'x';
    struct iovec iov = {&data, 1};
    char ctrl[CMSG_SPACE(sizeof(int))];
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof(ctrl)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(sock, &msg, 0) < 0)
        exit(2);
}

NOINLINE void leak_pty_peer(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0)
        return;
    unlockpt(master);
    if (ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY) < 0)
        exit(2);
}

NOINLINE void *leak_mmap(int memfd)
{
    for (int i = 0; i < 3; i++)
        sink = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ftruncate(memfd, 8192) == 0)
        sink = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    /* mapped and unmapped correctly: must not be reported */
    void *ok = mmap(NULL, 4096 * 4, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(ok, 4096 * 4);
    return sink;
}

static void clean_fds(void)
{
    int fd = open("/dev/null", O_RDONLY);
    int d = dup(fd);
    close(d);
    close(fd);
    int p[2];
    if (pipe(p) == 0) {
        close(p[0]);
        close(p[1]);
    }
    FILE *f = fopen("/proc/self/status", "r");
    if (f)
        fclose(f);
}

/* stress: 16 threads allocate, reallocate and free at random, pass blocks to
 * each other (cross-thread frees), one forks mid-way; each thread leaks
 * exactly 10 blocks of 100 bytes in stress_leak. */
#define STRESS_THREADS 16
#define STRESS_RING    64
static pthread_mutex_t mailbox_lock = PTHREAD_MUTEX_INITIALIZER;
static void *mailbox[STRESS_THREADS];

NOINLINE void stress_leak(void)
{
    for (int i = 0; i < 10; i++)
        sink = malloc(100);
}

static void *stress_thread(void *arg)
{
    int id = (int)(long)arg;
    void *ring[STRESS_RING] = {0};
    unsigned seed = (unsigned)id * 7919u + 1;
    for (int i = 0; i < 30000; i++) {
        int slot = rand_r(&seed) % STRESS_RING;
        size_t size = 1 + (size_t)(rand_r(&seed) % 2048);
        switch (rand_r(&seed) % 4) {
        case 0:
            free(ring[slot]);
            ring[slot] = malloc(size);
            break;
        case 1:
            free(ring[slot]);
            ring[slot] = calloc(1, size);
            break;
        case 2:
            ring[slot] = realloc(ring[slot], size);
            break;
        default: {
            /* hand a block to the next thread's mailbox; free what was there */
            pthread_mutex_lock(&mailbox_lock);
            void *old = mailbox[(id + 1) % STRESS_THREADS];
            mailbox[(id + 1) % STRESS_THREADS] = ring[slot];
            pthread_mutex_unlock(&mailbox_lock);
            ring[slot] = NULL;
            free(old);
        }
        }
        if (id == 3 && i == 15000) {
            pid_t pid = fork();
            if (pid == 0) {
                stress_leak(); /* the child's own leak, in the child's own series */
                exit(0);
            }
            waitpid(pid, NULL, 0);
        }
    }
    for (int s = 0; s < STRESS_RING; s++)
        free(ring[s]);
    stress_leak();
    return NULL;
}

/* grow: 8 threads keep 60,000 blocks of 24 bytes each (grow_keep) and free
 * as many others as they go, so the address table grows (2^14 -> 2^20
 * buckets) while every thread allocates and frees; thread 0 forks mid-way
 * and the child frees inherited blocks and allocates its own. */
#define GROW_THREADS 8
#define GROW_BLOCKS  120000

NOINLINE void *grow_keep(void)
{
    return malloc(24);
}

static void *grow_thread(void *arg)
{
    int id = (int)(long)arg;
    void **kept = malloc(sizeof(void *) * GROW_BLOCKS / 2);
    for (int i = 0; i < GROW_BLOCKS / 2; i++) {
        kept[i] = grow_keep();
        free(malloc(24 + (size_t)(i & 255)));
        if (id == 0 && i == GROW_BLOCKS / 4) {
            pid_t pid = fork();
            if (pid == 0) {
                for (int j = 0; j <= i; j++)
                    free(kept[j]);
                for (int j = 0; j < 1000; j++)
                    kept[j] = grow_keep();
                _exit(0);
            }
            int st = -1;
            waitpid(pid, &st, 0);
            printf("grow child: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        }
    }
    free(kept); /* the blocks stay live */
    return NULL;
}

/* loop: a service that decodes a frame every 20 ms for SECONDS, leaking on
 * every 10th (errpath); with "mt", an idle second thread exists too. */
static void *idle_thread(void *arg)
{
    pause();
    return NULL;
}

static void serve_loop(int seconds, int mt)
{
    if (mt) {
        pthread_t t;
        pthread_create(&t, NULL, idle_thread, NULL);
    }
    for (int i = 0; i < seconds * 50; i++) {
        decode_frame(i);
        churn(20);
        usleep(20000);
    }
}

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "steady";
    churn(1000);
    if (!strcmp(s, "steady")) {
        leak_steady();
    } else if (!strcmp(s, "errpath")) {
        int errors = 0;
        for (int i = 0; i < 100; i++)
            errors += decode_frame(i) < 0;
        printf("errors=%d\n", errors);
    } else if (!strcmp(s, "stress")) {
        pthread_t t[STRESS_THREADS];
        for (long i = 0; i < STRESS_THREADS; i++)
            pthread_create(&t[i], NULL, stress_thread, (void *)i);
        for (int i = 0; i < STRESS_THREADS; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < STRESS_THREADS; i++)
            free(mailbox[i]);
    } else if (!strcmp(s, "grow")) {
        pthread_t t[GROW_THREADS];
        for (long i = 0; i < GROW_THREADS; i++)
            pthread_create(&t[i], NULL, grow_thread, (void *)i);
        for (int i = 0; i < GROW_THREADS; i++)
            pthread_join(t[i], NULL);
    } else if (!strcmp(s, "pthread_exit")) {
        /* the main thread ends first; the process must end with the worker */
        pthread_t t;
        pthread_create(&t, NULL, thread_leaker, NULL);
        pthread_exit(NULL);
    } else if (!strcmp(s, "loop") || !strcmp(s, "loopmt")) {
        serve_loop(argc > 2 ? atoi(argv[2]) : 3, !strcmp(s, "loopmt"));
    } else if (!strcmp(s, "bigleak")) {
        leak_big();
    } else if (!strcmp(s, "realloc")) {
        leak_realloc();
        leak_calloc();
        leak_aligned();
    } else if (!strcmp(s, "threads")) {
        pthread_t t[5];
        pthread_create(&t[0], NULL, thread_leaker, NULL);
        for (int i = 1; i < 5; i++)
            pthread_create(&t[i], NULL, thread_churner, NULL);
        for (int i = 0; i < 5; i++)
            pthread_join(t[i], NULL);
    } else if (!strcmp(s, "crossfree")) {
        pthread_t a, b;
        pthread_create(&a, NULL, cross_alloc, NULL);
        pthread_join(a, NULL);
        pthread_create(&b, NULL, cross_free, NULL);
        pthread_join(b, NULL);
    } else if (!strcmp(s, "fds")) {
        int fd = open("/dev/null", O_RDONLY);
        leak_dup(fd);
        leak_fcntl(fd);
        leak_socketpair();
        leak_pipe();
        int memfd = leak_memfd();
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
        send_fd(sv[0], memfd);
        receive_fd(sv[1]);
        close(sv[0]);
        close(sv[1]);
        leak_pty_peer();
        leak_mmap(memfd);
        close(fd);
        clean_fds();
    } else if (!strcmp(s, "clean")) {
        clean_fds();
        for (int i = 0; i < 100; i++) {
            void *p = malloc(1000);
            free(p);
        }
    } else if (!strcmp(s, "forkexec")) {
        leak_steady();
        pid_t pid = fork();
        if (pid == 0) {
            decode_frame(9); /* the child leaks one 4096 block of its own */
            execl(argv[0], argv[0], "errpath", (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    } else {
        fprintf(stderr, "unknown scenario %s\n", s);
        return 2;
    }
    return 0;
}
