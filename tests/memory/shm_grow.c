/*
 * Test program: shared memory that grows, by its creating stack. Every step
 * creates one 4 MiB memfd in grow_memfd() and one 2 MiB POSIX shm object in
 * grow_shm(), maps each, touches every page and keeps it; a snapshot is
 * taken after each step (raise(SIGUSR2), then one allocation).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEMFD_BYTES (4u << 20)
#define SHM_BYTES   (2u << 20)
#define STEPS       5

static void snapshot_now(void)
{
    raise(SIGUSR2);
    void *volatile p = malloc(16); /* the shim writes the requested snapshot here */
    free(p);
}

/* Inlined: the mmap is made by its caller, whose stack the report names. */
static inline __attribute__((always_inline)) void *map_touched(int fd, size_t len)
{
    if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
        exit(2);
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        exit(3);
    memset(p, 0x11, len);
    return p;
}

__attribute__((noinline)) static void *grow_memfd(void)
{
    return map_touched(memfd_create("frames", MFD_CLOEXEC), MEMFD_BYTES);
}

__attribute__((noinline)) static void *grow_shm(int step)
{
    char name[64];
    snprintf(name, sizeof(name), "/la-shm-grow-%d-%d", (int)getpid(), step);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    void *p = map_touched(fd, SHM_BYTES);
    shm_unlink(name); /* the mapping keeps it */
    return p;
}

int main(void)
{
    snapshot_now();
    for (int i = 0; i < STEPS; i++) {
        grow_memfd();
        grow_shm(i);
        snapshot_now();
    }
    return 0;
}
