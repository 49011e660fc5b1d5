/*
 * Option lists printed from tables: the --help lines of `run` and `soak`
 * (wrapped at 80 columns, the text starting in one column) and the table of
 * docs/options.md, all from the one option table (common/audit_options.c)
 * plus each command's own rows. docs/options.md's table is this file's
 * output (`leakaudit run --options-markdown`, `make options-doc`); the
 * options test fails when the committed table is stale.
 */
#ifndef LEAKAUDIT_CLI_HELP_H
#define LEAKAUDIT_CLI_HELP_H

#include "audit_options.h"

#include <stddef.h>
#include <stdio.h>

/* No setting behind a help row. */
#define CLI_HELP_OWN (-1)

/*
 * One option of a command. A row with a setting (an enum audit_option_id)
 * takes from the table what it leaves NULL: flag (and then its letter),
 * value, default and doc (the row's doc, if any, comes first: "shim runs:"); a row
 * of the command's own (setting CLI_HELP_OWN) says everything itself.
 */
struct cli_help_row {
    int setting;
    char letter;
    const char *flag;  /* long name without "--" */
    const char *value; /* "N", "[=MODE]", NULL: none */
    const char *def;   /* NULL: none to show */
    const char *doc;   /* markdown quotes allowed (not shown in --help) */
};

/* The --help lines of rows[0..n). */
void cli_help_rows(FILE *out, const struct cli_help_row *rows, size_t n);

/* One --help line of every table row that has a `run` flag. */
void cli_help_settings(FILE *out);

/* "By environment only (...): VAR (default), ..." wrapped. */
void cli_help_env_only(FILE *out);

/* `-h, --help` and `--version`, the lines every command ends its list with. */
void cli_help_common(FILE *out);

/* docs/options.md's table of the shim's settings: every table row, then
 * `run`'s own rows[0..n). */
void cli_help_markdown(FILE *out, const struct cli_help_row *own, size_t n);

#endif
