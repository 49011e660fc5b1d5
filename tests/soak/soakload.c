/*
 * Workload for the soak tests (not a test itself). Runs until SIGTERM:
 *   soakload leak      leaks 4 x 64 KiB (touched) every 50 ms: RSS grows ~5 MB/s
 *   soakload clean     the same allocation churn, all of it freed
 *   soakload corrupt   churns, then after 300 ms writes 16 bytes past a 32-byte
 *                      block (allocated at start-up) into its neighbour's chunk
 *                      header and frees the neighbour: glibc aborts ("double
 *                      free or corruption (out)"), allocators without inline
 *                      headers carry on
 *   soakload segv_if_glibc  churns, then after 300 ms dies of SIGSEGV when malloc
 *                      is glibc's (a crash with no allocator message)
 *   soakload serve PORT  clean churn plus a /metrics endpoint on 127.0.0.1:PORT
 *                      whose counter grows 100/s and whose latency histogram
 *                      has its p99 at exactly 75 ms
 *   soakload serve_idle PORT  the same endpoint, but nothing is ever done:
 *                      the counter stays at 0 (a daemon stuck retrying)
 * SOAKLOAD_PIDFILE=path writes the pid there once running; SOAKLOAD_SHOW_MAPS=1
 * prints the /proc/self/maps lines of the shim and allocator libraries, and
 * LEAKAUDIT_GUARD, to stderr.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <signal.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS              50
#define LEAK_BLOCK           (64 * 1024)
#define LEAK_BLOCKS_PER_TICK 4
#define CHURN_SLOTS          256
#define CORRUPT_AFTER_MS     300
#define FRAMES_PER_S         100

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *slots[CHURN_SLOTS];

/* Replaces every slot with a fresh block of a varying size, touching it. */
static void churn(unsigned *seed)
{
    for (int i = 0; i < CHURN_SLOTS; i++) {
        free(slots[i]);
        size_t size = 16 + (size_t)(rand_r(seed) % 4096);
        slots[i] = malloc(size);
        memset(slots[i], i, size);
    }
}

static void leak_some(void)
{
    for (int i = 0; i < LEAK_BLOCKS_PER_TICK; i++) {
        char *p = malloc(LEAK_BLOCK);
        memset(p, 0x5a, LEAK_BLOCK);
        /* Keep the compiler from proving the block unused. */
        __asm__ volatile("" : : "r"(p) : "memory");
    }
}

/* Two neighbours allocated at start-up, before any churn, so that glibc
 * carves them one after the other from the top chunk. */
static char *victim_a, *victim_b;

static void corrupt_heap(void)
{
    char *a = victim_a, *b = victim_b;
    fprintf(stderr, "soakload: overflowing a 32-byte block at %p into %p\n", (void *)a, (void *)b);
    memset(a, 0x41, 48); /* past a's usable size: over b's chunk size field in glibc */
    __asm__ volatile("" : : "r"(a) : "memory"); /* the stores must not be dropped as dead */
    free(b);
    free(a);
}

static void show_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, "libleakaudit") || strstr(line, "jemalloc") || strstr(line, "tcmalloc") ||
            strstr(line, "mimalloc"))
            fprintf(stderr, "soakload: mapped %s", line);
    if (f)
        fclose(f);
    const char *guard = getenv("LEAKAUDIT_GUARD");
    fprintf(stderr, "soakload: LEAKAUDIT_GUARD=%s\n", guard ? guard : "(unset)");
}

static int malloc_is_glibc(void)
{
    Dl_info info;
    return dladdr((void *)malloc, &info) && info.dli_fname && strstr(info.dli_fname, "libc.so");
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
        perror("soakload: bind");
        exit(2);
    }
    return fd;
}

static int idle; /* serve_idle: the counters never move */

static void serve_one(int lfd, double t0)
{
    int c = accept(lfd, NULL, NULL);
    if (c < 0)
        return;
    char req[2048];
    ssize_t n = read(c, req, sizeof(req) - 1); /* one GET fits in one read on loopback */
    (void)n;
    /* The counter grows smoothly; the histogram in steps of 100 observations,
     * so that the p99 between any two scrapes is exactly 75 ms. */
    long frames = idle ? 0 : (long)((now_s() - t0) * FRAMES_PER_S);
    long observed = frames / 100 * 100;
    char body[2048];
    int len = snprintf(body, sizeof(body),
                       "# HELP soaktest_frames_inferred_total Frames done.\n"
                       "# TYPE soaktest_frames_inferred_total counter\n"
                       "soaktest_frames_inferred_total{model=\"a\"} %ld\n"
                       "soaktest_frames_dropped_total 7\n"
                       "soaktest_requests_total{path=\"/a\\\"} 1\"} 5 1700000000000\n"
                       "# TYPE soaktest_latency_seconds histogram\n"
                       "soaktest_latency_seconds_bucket{le=\"0.005\"} %ld\n"
                       "soaktest_latency_seconds_bucket{le=\"0.01\"} %ld\n"
                       "soaktest_latency_seconds_bucket{le=\"0.05\"} %ld\n"
                       "soaktest_latency_seconds_bucket{le=\"0.1\"} %ld\n"
                       "soaktest_latency_seconds_bucket{le=\"+Inf\"} %ld\n"
                       "soaktest_latency_seconds_sum 1\n"
                       "soaktest_latency_seconds_count %ld\n",
                       frames, observed / 2, observed * 9 / 10, observed * 98 / 100, observed,
                       observed, observed);
    char head[256];
    int hlen = snprintf(head, sizeof(head),
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                        "Content-Length: %d\r\n\r\n",
                        len);
    if (write(c, head, (size_t)hlen) < 0 || write(c, body, (size_t)len) < 0)
        perror("soakload: write");
    close(c);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: soakload leak|clean|corrupt|segv_if_glibc|serve[_idle] PORT\n");
        return 2;
    }
    const char *mode = argv[1];
    const char *pidfile = getenv("SOAKLOAD_PIDFILE");
    if (pidfile) {
        FILE *f = fopen(pidfile, "w");
        if (f) {
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
        }
    }
    if (getenv("SOAKLOAD_SHOW_MAPS"))
        show_maps();
    victim_a = malloc(32);
    victim_b = malloc(32);
    int lfd = -1;
    idle = !strcmp(mode, "serve_idle");
    if (!strcmp(mode, "serve") || idle)
        lfd = listen_on(argc > 2 ? atoi(argv[2]) : 0);
    unsigned seed = 1;
    double t0 = now_s(), next = t0;
    int corrupted = 0;
    for (;;) {
        churn(&seed);
        if (!strcmp(mode, "leak"))
            leak_some();
        if (!strcmp(mode, "corrupt") && !corrupted && now_s() - t0 > CORRUPT_AFTER_MS / 1e3) {
            corrupt_heap();
            corrupted = 1;
        }
        if (!strcmp(mode, "segv_if_glibc") && now_s() - t0 > CORRUPT_AFTER_MS / 1e3 &&
            malloc_is_glibc())
            raise(SIGSEGV);
        next += TICK_MS / 1e3;
        double wait = next - now_s();
        if (lfd >= 0) {
            struct pollfd p = {.fd = lfd, .events = POLLIN};
            while (wait > 0 && poll(&p, 1, (int)(wait * 1e3) + 1) > 0) {
                serve_one(lfd, t0);
                wait = next - now_s();
            }
        } else if (wait > 0) {
            usleep((useconds_t)(wait * 1e6));
        }
    }
}
