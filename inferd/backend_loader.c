/*
 * Chooses the inference backend: the built-in Tesseract one, or the vendor
 * runtime plugin (libvendorsim.so) loaded with dlopen and resolved through
 * its exported backend_open / backend_run / backend_close (and the optional
 * backend_stat), exactly as a service would load a closed-source NPU
 * runtime.
 */
#include "inferd/inferd.h"

#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define VENDORSIM_LIBRARY "libvendorsim.so"

void inferd_backend_params(const struct inferd_config *cfg, struct backend_params *p)
{
    memset(p, 0, sizeof(*p));
    p->abi_version = BACKEND_ABI_VERSION;
    p->tessdata_dir = cfg->tessdata_dir;
    p->language = cfg->language;
    p->charset = cfg->charset;
    if (cfg->defects.heap_overflow)
        p->defects |= BACKEND_DEFECT_HEAP_OVERFLOW;
    if (cfg->defects.dup_input_fd)
        p->defects |= BACKEND_DEFECT_DUP_INPUT_FD;
    if (cfg->defects.use_after_destroy)
        p->defects |= BACKEND_DEFECT_USE_AFTER_DESTROY;
}

/* <dir of the inferd executable>/../lib/libvendorsim.so */
static int backend_default_plugin(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        return -errno;
    exe[n] = '\0';
    if (snprintf(buf, len, "%s/../lib/%s", dirname(exe), VENDORSIM_LIBRARY) >= (int)len)
        return -ENAMETOOLONG;
    return 0;
}

int inferd_backend_load(const struct inferd_config *cfg, struct inferd_backend *b, char *err,
                        size_t errlen)
{
    memset(b, 0, sizeof(*b));
    if (cfg->backend == INFERD_BACKEND_TESSERACT) {
        b->open = tess_backend_open;
        b->run = tess_backend_run;
        b->close = tess_backend_close;
        b->name = "tesseract";
        return 0;
    }
    char path[PATH_MAX];
    if (cfg->plugin_path)
        snprintf(path, sizeof(path), "%s", cfg->plugin_path);
    else if (backend_default_plugin(path, sizeof(path)) < 0)
        snprintf(path, sizeof(path), "%s", VENDORSIM_LIBRARY);
    b->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!b->dl) {
        snprintf(err, errlen, "backend.plugin: %s", dlerror());
        return -ENOENT;
    }
    /* POSIX allows converting dlsym's void * to a function pointer. */
    *(void **)&b->open = dlsym(b->dl, "backend_open");
    *(void **)&b->run = dlsym(b->dl, "backend_run");
    *(void **)&b->close = dlsym(b->dl, "backend_close");
    *(void **)&b->stat = dlsym(b->dl, "backend_stat");
    if (!b->open || !b->run || !b->close) {
        snprintf(err, errlen,
                 "backend.plugin: %s does not export backend_open, backend_run "
                 "and backend_close",
                 path);
        dlclose(b->dl);
        b->dl = NULL;
        return -ENOENT;
    }
    b->name = "vendorsim";
    return 0;
}

void inferd_backend_unload(struct inferd_backend *b)
{
    if (b->dl)
        dlclose(b->dl);
    memset(b, 0, sizeof(*b));
}
