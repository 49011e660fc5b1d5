/*
 * The `leakaudit` front-end: git/perf style `leakaudit <command> [options]`.
 * It only dispatches; each command lives in the part whose folder names it
 * (run: allocshim/, attach: tracer/, report+diff: reports/, soak: soak/).
 * A part that is not linked into this build leaves its entry point NULL
 * (weak symbol), and the command says so instead of failing to link.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

struct command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run a program under the LD_PRELOAD shim, writing snapshots"},
    {"attach", cmd_attach, "attach the eBPF tracer to a running process"},
    {"report", cmd_report, "leak report by stack from a snapshot series"},
    {"diff", cmd_diff, "what grew or shrank between two snapshots, by stack"},
    {"soak", cmd_soak, "run a workload under each allocator, side by side"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: leakaudit <command> [options] [--] [args]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s%s\n", commands[i].name, commands[i].summary,
                commands[i].main ? "" : " (not built)");
    fprintf(out, "\n'leakaudit <command> --help' shows a command's options; each command\n"
                 "also answers --version. Documentation: man leakaudit, docs/options.md.\n"
                 "\n" CLI_EXIT_STATUS_HELP "; a command may add its own (see its --help).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))
        return cli_print_version(NULL);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name))
            continue;
        if (!commands[i].main) {
            fprintf(stderr, "leakaudit: %s: not built into this binary\n", argv[1]);
            return 2;
        }
        return commands[i].main(argc - 1, argv + 1);
    }
    const char *names[sizeof(commands) / sizeof(commands[0])];
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        names[i] = commands[i].name;
    const char *guess = cli_closest(argv[1], names, sizeof(names) / sizeof(names[0]));
    if (guess)
        fprintf(stderr,
                "leakaudit: '%s' is not a command; did you mean '%s'? (see 'leakaudit --help')\n",
                argv[1], guess);
    else
        fprintf(stderr, "leakaudit: '%s' is not a command (see 'leakaudit --help')\n", argv[1]);
    return CLI_EXIT_USAGE;
}
