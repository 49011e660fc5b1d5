/*
 * What every `leakaudit` subcommand shares on its command line: one error
 * format (`leakaudit SUBCOMMAND: message` on stderr), strict number parsing,
 * "did you mean" for a misspelt option or subcommand, `--version`, and the
 * exit-status paragraph every --help ends with. The option vocabulary itself
 * (which letter means what in every subcommand) is documented in
 * docs/options.md and checked by tests/cli/.
 */
#ifndef LEAKAUDIT_CLI_OPTS_H
#define LEAKAUDIT_CLI_OPTS_H

#include <getopt.h>
#include <stddef.h>

/* The long-only option every subcommand has; kept clear of each command's
 * own enum values (which start at 256). */
#define CLI_OPT_VERSION 0x7000

/* Printed at the end of every subcommand's --help. */
#define CLI_EXIT_STATUS_HELP                                                                       \
    "exit status: 0 ok, 1 runtime error, 2 usage error (bad option or value)"

/* `leakaudit CMD: message` + newline on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A whole decimal integer in [min, max], nothing else (no suffix, no
 * blanks). 0, or -EINVAL after `leakaudit CMD: OPT: 'S' is not a number in
 * MIN..MAX` on stderr.
 */
int cli_parse_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out);

/*
 * After getopt_long returned '?' or ':' (optstring starting with ':' or
 * "+:", opterr 0): one message naming the option, with the closest long
 * option when the name looks misspelt. Returns CLI_EXIT_USAGE.
 */
int cli_bad_option(const char *cmd, int argc, char **argv, const struct option *longopts, int c);

/*
 * For an option with an optional value (`--guard[=MODE]`) written with a
 * space (`--guard canary`): returns argv[optind] and steps over it when it is
 * one of values (NULL-terminated), else NULL.
 */
const char *cli_optional_value(int argc, char **argv, const char *const *values);

/* `leakaudit[ CMD] VERSION` on stdout; returns CLI_EXIT_OK. */
int cli_print_version(const char *cmd);

/* The candidate closest to word (edit distance small enough to be a typo,
 * or word a unique prefix), or NULL. */
const char *cli_closest(const char *word, const char *const *candidates, size_t n);

#endif
