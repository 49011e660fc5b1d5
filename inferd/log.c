/*
 * inferd's logging: one line per event on stderr, "inferd: <level>: ...",
 * filtered by the configured level; and the monotonic clock used for
 * latencies and pacing.
 */
#include "inferd/inferd.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

enum inferd_log_level inferd_log_level = INFERD_LOG_INFO;

void inferd_log(enum inferd_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > inferd_log_level)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fprintf per line so lines from different threads do not interleave. */
    fprintf(stderr, "inferd: %s: %s\n", names[level], line);
}

uint64_t inferd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
