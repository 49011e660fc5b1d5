/*
 * Test target of the kernel-memory tests (attach --kmem): kernel memory
 * driven from user space with inotify watches, one per file of a private
 * directory (a watch pins one inotify_inode_mark, plus a connector for the
 * inode's first mark).
 *
 *   kmem_target leak|balance GO DONE ROUNDS PER_ROUND
 *
 * Creates ROUNDS * PER_ROUND files first, then waits for the file GO. leak:
 * each round adds PER_ROUND watches in add_watches_and_forget() and never
 * removes them. balance: each round adds PER_ROUND watches and removes them
 * again in add_and_remove_watches(), and reads the IN_IGNORED events the
 * removals queue (unread, they are kernel memory that grows). A round every 250 ms; then writes
 * "watches=N" into DONE and sleeps until killed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROUND_US 250000

static char dir[64];

static void file_name(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "%s/f%06d", dir, i);
}

__attribute__((noinline)) static int add_watches_and_forget(int fd, int first, int n)
{
    char path[96];
    int added = 0;
    for (int i = first; i < first + n; i++) {
        file_name(path, sizeof(path), i);
        added += inotify_add_watch(fd, path, IN_MODIFY) >= 0;
    }
    return added;
}

__attribute__((noinline)) static int add_and_remove_watches(int fd, int first, int n)
{
    char path[96];
    int wds[n], added = 0;
    for (int i = 0; i < n; i++) {
        file_name(path, sizeof(path), first + i);
        wds[i] = inotify_add_watch(fd, path, IN_MODIFY);
    }
    for (int i = 0; i < n; i++)
        if (wds[i] >= 0 && inotify_rm_watch(fd, wds[i]) == 0)
            added++;
    /* each removal queues an IN_IGNORED event (kernel memory until read) */
    char buf[4096];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    return added;
}

int main(int argc, char **argv)
{
    if (argc != 6 || (strcmp(argv[1], "leak") && strcmp(argv[1], "balance"))) {
        fprintf(stderr, "usage: kmem_target leak|balance GO DONE ROUNDS PER_ROUND\n");
        return 2;
    }
    int leak = !strcmp(argv[1], "leak"), rounds = atoi(argv[4]), per = atoi(argv[5]);
    snprintf(dir, sizeof(dir), "/tmp/kmem_target.%d", getpid());
    if (mkdir(dir, 0700) < 0) {
        perror(dir);
        return 1;
    }
    char path[96];
    for (int i = 0; i < rounds * per; i++) {
        file_name(path, sizeof(path), i);
        int f = open(path, O_CREAT | O_WRONLY, 0600);
        if (f < 0) {
            perror(path);
            return 1;
        }
        close(f);
    }
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (fd < 0) {
        perror("inotify_init1");
        return 1;
    }
    while (access(argv[2], F_OK) != 0)
        usleep(10000);
    int total = 0;
    for (int r = 0; r < rounds; r++) {
        total += leak ? add_watches_and_forget(fd, r * per, per)
                      : add_and_remove_watches(fd, r * per, per);
        usleep(ROUND_US);
    }
    FILE *f = fopen(argv[3], "w");
    if (f) {
        fprintf(f, "watches=%d\n", total);
        fclose(f);
    }
    for (;;)
        pause();
}
