/*
 * Option parsing shared by `leakaudit report` and `leakaudit diff`.
 */
#ifndef LEAKAUDIT_REPORT_CMD_H
#define LEAKAUDIT_REPORT_CMD_H

#include <stdio.h>

#include "report.h"

/*
 * Parses argv (argv[0] = command name) into o. Returns 0 with *first_arg the
 * index of the first operand, -1 after printing --help (exit 0), or an exit
 * status after printing one error line.
 */
int rpt_parse_options(const char *cmd, int argc, char **argv, struct rpt_options *o, int *first_arg,
                      void (*usage_fn)(FILE *));

#endif
