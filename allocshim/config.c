/*
 * Reads the shim's configuration from LEAKAUDIT_* environment variables
 * through the one option table (common/audit_options.c; documented in
 * docs/options.md; `leakaudit run` sets them from its flags). Runs during
 * early init, possibly before constructors: only secure_getenv and
 * hand-written parsing, no stdio, no allocation. A bad value keeps the
 * default and says so on stderr, so a typo never changes the program.
 *
 * In a setuid/setgid program (AT_SECURE) the environment belongs to the
 * less privileged caller: there the shim stays out of the way (shim_cfg.off:
 * every call passes straight through, nothing is tracked or written) unless
 * root allowed it by creating SHIM_SECURE_ALLOW_FILE, a regular file owned
 * by root and writable by nobody else (docs/options.md, "setuid programs").
 */
#include "shim.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

struct audit_config shim_cfg;

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

void shim_config_load(void)
{
    if (getauxval(AT_SECURE)) {
        if (!root_allows_secure()) {
            audit_config_defaults(&shim_cfg);
            shim_cfg.off = 1;
            return;
        }
        secure_allowed = 1;
    }
    audit_config_load(&shim_cfg, shim_getenv, warn);
}
