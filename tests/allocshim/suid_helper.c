/* A setuid-root helper for the AT_SECURE test: allocates, opens a file, and
 * prints its real and effective uid. Not a test itself. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(void)
{
    void *leak = malloc(4096);
    int fd = open("/dev/null", O_RDONLY);
    printf("ruid=%d euid=%d at_secure=%lu\n", (int)getuid(), (int)geteuid(), getauxval(AT_SECURE));
    (void)leak;
    (void)fd;
    return 0;
}
