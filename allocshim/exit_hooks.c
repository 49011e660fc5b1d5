/*
 * The atexit family (__cxa_atexit, on_exit; a program's atexit is a stub
 * of libc_nonshared.a that calls __cxa_atexit): the blocks glibc
 * allocates for its exit-handler lists while one of these runs are marked
 * SHIM_BLOCK_EXIT_LIST. exit() frees them after running their handlers,
 * which is after the shim's final reachability scan (itself an exit
 * handler): the scan leaves them out, as valgrind, which checks after the
 * last instruction, never sees them (docs/reachability.md).
 */
#include "shim.h"

typedef int (*cxa_atexit_fn)(void (*)(void *), void *, void *);
typedef int (*on_exit_fn)(void (*)(int, void *), void *);

static cxa_atexit_fn real_cxa_atexit;
static on_exit_fn real_on_exit;

SHIM_EXPORT int __cxa_atexit(void (*fn)(void *), void *arg, void *dso)
{
    if (SHIM_UNLIKELY(!real_cxa_atexit))
        real_cxa_atexit = (cxa_atexit_fn)shim_dlsym_next("__cxa_atexit");
    shim_tls.in_exit_registration++;
    int rc = real_cxa_atexit(fn, arg, dso);
    shim_tls.in_exit_registration--;
    return rc;
}

SHIM_EXPORT int on_exit(void (*fn)(int, void *), void *arg)
{
    if (SHIM_UNLIKELY(!real_on_exit))
        real_on_exit = (on_exit_fn)shim_dlsym_next("on_exit");
    shim_tls.in_exit_registration++;
    int rc = real_on_exit(fn, arg);
    shim_tls.in_exit_registration--;
    return rc;
}
