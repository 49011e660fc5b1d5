/*
 * Reads the shim's configuration from LEAKAUDIT_* environment variables
 * (documented in docs/options.md; `leakaudit run` sets them from its flags).
 * Runs during early init, possibly before constructors: only secure_getenv
 * and hand-written parsing, no stdio, no allocation. A bad value keeps the
 * default and says so on stderr, so a typo never changes the program.
 *
 * In a setuid/setgid program (AT_SECURE) the environment belongs to the
 * less privileged caller: there the shim stays out of the way (shim_cfg.off:
 * every call passes straight through, nothing is tracked or written) unless
 * root allowed it by creating SHIM_SECURE_ALLOW_FILE, a regular file owned
 * by root and writable by nobody else (docs/options.md, "setuid programs").
 */
#include "shim.h"
#include "retention.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

struct shim_config shim_cfg;

static void warn(const char *var, const char *val)
{
    const char *parts[] = {"leakaudit: ignoring ", var, "=", val, ": invalid value\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            return;
}

static int secure_allowed; /* AT_SECURE, and root allowed it */

/* Every LEAKAUDIT_* setting is read through this. */
const char *shim_getenv(const char *name)
{
    return secure_allowed ? getenv(name) : secure_getenv(name);
}

/* Root allows auditing setuid/setgid programs by creating this file. */
static int root_allows_secure(void)
{
    int fd = open(SHIM_SECURE_ALLOW_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
             !(st.st_mode & (S_IWGRP | S_IWOTH));
    close(fd);
    return ok;
}

static int parse_uint(const char *s, uint64_t *out)
{
    return util_parse_size(s, out);
}

void shim_config_load(void)
{
    struct shim_config *c = &shim_cfg;
    c->mode = SNAP_MODE_FULL;
    c->unwind = SNAP_UNWIND_DWARF;
    c->depth = SHIM_DEFAULT_DEPTH;
    c->signal = SIGUSR2;
    c->track_heap = c->track_fds = c->track_mmap = 1;
    c->reachability = 1;
    c->table_bits = SHIM_DEFAULT_TABLE_BITS;
    c->max_stacks = SHIM_DEFAULT_MAX_STACKS;
    c->interval_ms = SHIM_DEFAULT_INTERVAL_MS;
    c->sample_period = SHIM_DEFAULT_SAMPLE_PERIOD;
    util_strlcpy(c->out_dir, "leakaudit-out", sizeof(c->out_dir));
    c->max_disk = RETAIN_DEFAULT_MAX_DISK;
    c->thin = 1;
    util_strlcpy(c->allocator, "", sizeof(c->allocator));

    if (getauxval(AT_SECURE)) {
        if (!root_allows_secure()) {
            c->off = 1;
            return;
        }
        secure_allowed = 1;
    }
    const char *v;
    uint64_t n;
    if ((v = shim_getenv("LEAKAUDIT_ALLOW_SHARED_DIR")))
        c->allow_shared_dir = strcmp(v, "0") != 0 && *v;
    if ((v = shim_getenv("LEAKAUDIT_MAX_DISK"))) {
        if (parse_uint(v, &n) == 0)
            c->max_disk = n;
        else
            warn("LEAKAUDIT_MAX_DISK", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_KEEP_FOR"))) {
        if (util_parse_duration_ms(v, &n) == 0)
            c->keep_for_s = n / 1000;
        else
            warn("LEAKAUDIT_KEEP_FOR", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_THIN"))) {
        if (!strcmp(v, "on") || !strcmp(v, "1"))
            c->thin = 1;
        else if (!strcmp(v, "off") || !strcmp(v, "0"))
            c->thin = 0;
        else
            warn("LEAKAUDIT_THIN", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_OUT")) && *v)
        util_strlcpy(c->out_dir, v, sizeof(c->out_dir));
    if ((v = shim_getenv("LEAKAUDIT_MODE"))) {
        if (!strcmp(v, "full"))
            c->mode = SNAP_MODE_FULL;
        else if (!strcmp(v, "sampled"))
            c->mode = SNAP_MODE_SAMPLED;
        else
            warn("LEAKAUDIT_MODE", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_UNWIND"))) {
        if (!strcmp(v, "fp"))
            c->unwind = SNAP_UNWIND_FP;
        else if (!strcmp(v, "dwarf"))
            c->unwind = SNAP_UNWIND_DWARF;
        else if (!strcmp(v, "libunwind"))
            c->unwind = SNAP_UNWIND_LIBUNWIND;
        else
            warn("LEAKAUDIT_UNWIND", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_DEPTH"))) {
        if (parse_uint(v, &n) == 0 && n >= 1 && n <= SNAP_MAX_STACK_DEPTH)
            c->depth = (int)n;
        else
            warn("LEAKAUDIT_DEPTH", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_INTERVAL"))) {
        if (util_parse_duration_ms(v, &n) == 0)
            c->interval_ms = n;
        else
            warn("LEAKAUDIT_INTERVAL", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_SAMPLE_PERIOD"))) {
        if (parse_uint(v, &n) == 0 && n >= 1)
            c->sample_period = n;
        else
            warn("LEAKAUDIT_SAMPLE_PERIOD", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_SIGNAL"))) {
        int s = util_parse_signal(v);
        if (s >= 0)
            c->signal = s;
        else
            warn("LEAKAUDIT_SIGNAL", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_MAX_STACKS"))) {
        if (parse_uint(v, &n) == 0 && n >= 16 && n <= (1u << 24))
            c->max_stacks = (uint32_t)n;
        else
            warn("LEAKAUDIT_MAX_STACKS", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_TABLE_BITS"))) {
        if (parse_uint(v, &n) == 0 && n >= 14 && n <= 28)
            c->table_bits = (int)n;
        else
            warn("LEAKAUDIT_TABLE_BITS", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_TRACK"))) {
        /* comma-separated subset of heap,fd,mmap */
        if (util_parse_track(v, &c->track_heap, &c->track_fds, &c->track_mmap) < 0)
            warn("LEAKAUDIT_TRACK", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_ALLOCATOR")))
        util_strlcpy(c->allocator, v, sizeof(c->allocator));
    if ((v = shim_getenv("LEAKAUDIT_THREAD"))) {
        if (!strcmp(v, "always"))
            c->thread_always = 1;
        else if (strcmp(v, "auto"))
            warn("LEAKAUDIT_THREAD", v);
    }
    c->guard_abort = 1;
    c->guard_sample = 1000;
    c->guard_max_size = UINT64_MAX;
    c->quarantine_bytes = 16u << 20;
    c->guard_poison = SHIM_GUARD_POISON_DEFAULT;
    c->guard_scan_ms = 1000;
    if ((v = shim_getenv("LEAKAUDIT_GUARD")) && *v) {
        if (!strcmp(v, "canary"))
            c->guard = SHIM_GUARD_CANARY;
        else if (!strcmp(v, "pages"))
            c->guard = SHIM_GUARD_PAGES;
        else if (!strcmp(v, "both") || !strcmp(v, "1") || !strcmp(v, "on"))
            c->guard = SHIM_GUARD_CANARY | SHIM_GUARD_PAGES;
        else if (strcmp(v, "off") && strcmp(v, "0"))
            warn("LEAKAUDIT_GUARD", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_GUARD_POLICY"))) {
        if (!strcmp(v, "abort"))
            c->guard_abort = 1;
        else if (!strcmp(v, "log"))
            c->guard_abort = 0;
        else
            warn("LEAKAUDIT_GUARD_POLICY", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_GUARD_SAMPLE"))) {
        if (parse_uint(v, &n) == 0 && n >= 1 && n <= (1u << 30))
            c->guard_sample = (uint32_t)n;
        else
            warn("LEAKAUDIT_GUARD_SAMPLE", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_GUARD_SIZE")) && *v &&
        util_parse_size_range(v, &c->guard_min_size, &c->guard_max_size) < 0)
        warn("LEAKAUDIT_GUARD_SIZE", v);
    if ((v = shim_getenv("LEAKAUDIT_GUARD_ALIGN"))) {
        if (!strcmp(v, "right"))
            c->guard_align = 1;
        else if (!strcmp(v, "left"))
            c->guard_align = -1;
        else if (strcmp(v, "both"))
            warn("LEAKAUDIT_GUARD_ALIGN", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_QUARANTINE"))) {
        if (parse_uint(v, &n) == 0)
            c->quarantine_bytes = n;
        else
            warn("LEAKAUDIT_QUARANTINE", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_GUARD_POISON"))) {
        if (!strcmp(v, "all"))
            c->guard_poison = SHIM_GUARD_POISON_ALL;
        else if (parse_uint(v, &n) == 0 && n >= 1 && n <= SHIM_GUARD_POISON_ALL)
            c->guard_poison = n;
        else
            warn("LEAKAUDIT_GUARD_POISON", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_GUARD_SCAN"))) {
        if (util_parse_duration_ms(v, &n) == 0)
            c->guard_scan_ms = n;
        else
            warn("LEAKAUDIT_GUARD_SCAN", v);
    }
    if (c->guard & SHIM_GUARD_CANARY)
        c->mode = SNAP_MODE_FULL; /* canaries need every block's record */
    if ((v = shim_getenv("LEAKAUDIT_REACHABILITY"))) {
        if (!strcmp(v, "on") || !strcmp(v, "1"))
            c->reachability = 1;
        else if (!strcmp(v, "off") || !strcmp(v, "0"))
            c->reachability = 0;
        else
            warn("LEAKAUDIT_REACHABILITY", v);
    }
    if ((v = shim_getenv("LEAKAUDIT_QUIET")))
        c->quiet = strcmp(v, "0") != 0;
}
