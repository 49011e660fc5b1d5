/*
 * Command-line helpers shared by every subcommand (see opts.h): the one
 * error format, strict numbers, "did you mean", --version.
 */
#include "opts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_CANDIDATES 128
#define MAX_WORD       64

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "leakaudit %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out)
{
    /* digits only (one leading '-'): strtol alone would take " 12", "+3" */
    const char *digits = *s == '-' ? s + 1 : s;
    char *end;
    errno = 0;
    long v = *digits >= '0' && *digits <= '9' ? strtol(s, &end, 10) : 0;
    if (*digits < '0' || *digits > '9' || errno || *end || v < min || v > max) {
        cli_error(cmd, "%s: '%s' is not a number in %ld..%ld", opt, s, min, max);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* Levenshtein distance, bounded to MAX_WORD characters. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, MAX_WORD), lb = strnlen(b, MAX_WORD);
    size_t row[MAX_WORD + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cli_closest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL, *prefix = NULL;
    size_t best_d = (size_t)-1, n_prefix = 0, len = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (len && !strncmp(candidates[i], word, len)) {
            prefix = candidates[i];
            n_prefix++;
        }
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    if (n_prefix == 1)
        return prefix;
    /* a typo: a couple of letters off, and not most of the word */
    size_t limit = len < 4 ? 1 : len < 9 ? 2 : 3;
    return best && best_d <= limit ? best : NULL;
}

int cli_bad_option(const char *cmd, int argc, char **argv, const struct option *longopts, int c)
{
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    if (c == ':') {
        if (optopt && optopt < CLI_OPT_VERSION && optopt != '?' && optopt < 256 &&
            strncmp(arg, "--", 2))
            cli_error(cmd, "option '-%c' needs a value (see --help)", optopt);
        else
            cli_error(cmd, "option '%s' needs a value (see --help)", arg);
        return CLI_EXIT_USAGE;
    }
    if (optopt && optopt < 256 && strncmp(arg, "--", 2)) {
        cli_error(cmd, "unknown option '-%c' (see --help)", optopt);
        return CLI_EXIT_USAGE;
    }
    /* a long option: unknown, ambiguous, or given a value it does not take */
    char name[MAX_WORD + 1];
    const char *p = arg + (strncmp(arg, "--", 2) ? 0 : 2);
    size_t len = strcspn(p, "=");
    snprintf(name, sizeof(name), "%.*s", (int)(len < MAX_WORD ? len : MAX_WORD), p);
    const char *names[MAX_CANDIDATES];
    size_t n = 0, n_prefix = 0;
    char list[512] = "";
    for (const struct option *o = longopts; o->name && n < MAX_CANDIDATES; o++) {
        names[n++] = o->name;
        if (len && !strncmp(o->name, name, len)) {
            if (!strcmp(o->name, name) && o->has_arg == no_argument && p[len] == '=') {
                cli_error(cmd, "option '--%s' takes no value (see --help)", name);
                return CLI_EXIT_USAGE;
            }
            size_t used = strlen(list);
            snprintf(list + used, sizeof(list) - used, "%s--%s", n_prefix ? ", " : "", o->name);
            n_prefix++;
        }
    }
    if (n_prefix > 1) {
        cli_error(cmd, "option '--%s' is ambiguous: %s (see --help)", name, list);
        return CLI_EXIT_USAGE;
    }
    const char *guess = cli_closest(name, names, n);
    if (guess)
        cli_error(cmd, "unknown option '--%s'; did you mean '--%s'? (see --help)", name, guess);
    else
        cli_error(cmd, "unknown option '--%s' (see --help)", name);
    return CLI_EXIT_USAGE;
}

const char *cli_optional_value(int argc, char **argv, const char *const *values)
{
    if (optind >= argc)
        return NULL;
    for (const char *const *v = values; *v; v++)
        if (!strcmp(argv[optind], *v))
            return argv[optind++];
    return NULL;
}

int cli_print_version(const char *cmd)
{
    printf("leakaudit%s%s %s\n", cmd ? " " : "", cmd ? cmd : "", LEAKAUDIT_VERSION);
    return CLI_EXIT_OK;
}
