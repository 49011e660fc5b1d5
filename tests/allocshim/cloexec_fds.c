/*
 * Test workload (not a test): leaves open fds that are and are not
 * close-on-exec, each made by its own function, and writes their numbers as
 * "inherited FD..." and "cloexec FD..." lines to OUTFILE. With "wait" it then
 * waits for SIGTERM (for attach); otherwise it exits with the fds open.
 *
 *   cloexec_fds OUTFILE [wait]
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int __attribute__((noinline)) open_plain(void)
{
    return open("/dev/null", O_RDONLY);
}

static int __attribute__((noinline)) open_cloexec(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* close-on-exec set after the open: only the kernel's view knows */
static int __attribute__((noinline)) open_then_setfd(void)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

static int __attribute__((noinline)) socket_cloexec(void)
{
    return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* dup never copies close-on-exec: a cloexec fd's dup is inherited */
static int __attribute__((noinline)) dup_of_cloexec(int fd)
{
    return dup(fd);
}

static int __attribute__((noinline)) dupfd_cloexec(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cloexec_fds OUTFILE [wait]\n");
        return 2;
    }
    int plain = open_plain(), ce = open_cloexec(), setfd = open_then_setfd();
    int sock = socket_cloexec(), dup1 = dup_of_cloexec(ce), dup2 = dupfd_cloexec(plain);
    if (plain < 0 || ce < 0 || setfd < 0 || sock < 0 || dup1 < 0 || dup2 < 0) {
        perror("cloexec_fds");
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return 1;
    fprintf(f, "inherited %d %d\ncloexec %d %d %d %d\n", plain, dup1, ce, setfd, sock, dup2);
    fclose(f);
    rename(tmp, argv[1]); /* complete when it appears */
    if (argc > 2 && !strcmp(argv[2], "wait"))
        for (;;)
            pause();
    return 0;
}
