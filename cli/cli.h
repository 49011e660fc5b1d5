/*
 * Entry points of the `leakaudit` subcommands. Each takes argv with argv[0]
 * being the subcommand name and returns the process exit status. Declared
 * weak so the front-end links even when a part is not built.
 */
#ifndef LEAKAUDIT_CLI_H
#define LEAKAUDIT_CLI_H

#define LEAKAUDIT_VERSION "0.1.0"

/* Exit statuses shared by every command. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1, /* runtime failure, message on stderr */
    CLI_EXIT_USAGE = 2, /* bad command line */
    CLI_EXIT_LEAK = 3,  /* report --fail-on-leak found a leak */
    /* run: the command cannot be executed (the shell's codes) */
    CLI_EXIT_NOT_EXECUTABLE = 126,
    CLI_EXIT_NOT_FOUND = 127,
};

int cmd_run(int argc, char **argv) __attribute__((weak));
int cmd_attach(int argc, char **argv) __attribute__((weak));
int cmd_report(int argc, char **argv) __attribute__((weak));
int cmd_diff(int argc, char **argv) __attribute__((weak));
int cmd_soak(int argc, char **argv) __attribute__((weak));

#endif
