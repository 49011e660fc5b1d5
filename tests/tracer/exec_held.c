/*
 * Test helper (not a test): runs PROG held right after its exec, before the
 * dynamic linker has loaded any library, for HOLD_MS milliseconds, so a test
 * can attach to a process in that state deterministically. Writes PROG's pid
 * to PIDFILE once it is held, then lets it run and exits with its status.
 *
 *   exec_held HOLD_MS PIDFILE PROG [ARGS...]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: exec_held HOLD_MS PIDFILE PROG [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        /* Stops with SIGTRAP once the new image is mapped, before ld.so runs. */
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
            perror("ptrace");
            _exit(127);
        }
        execv(argv[3], argv + 3);
        perror("execv");
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) {
        fprintf(stderr, "exec_held: child did not stop at exec\n");
        return 1;
    }
    FILE *f = fopen(argv[2], "w");
    if (!f || fprintf(f, "%d\n", pid) < 0 || fclose(f) != 0) {
        perror(argv[2]);
        kill(pid, SIGKILL);
        return 1;
    }
    usleep((useconds_t)atoi(argv[1]) * 1000);
    if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0) {
        perror("ptrace detach");
        kill(pid, SIGKILL);
        return 1;
    }
    if (waitpid(pid, &st, 0) < 0)
        return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
