/*
 * Loads a plugin (libvendorplugin.so, linked against libvendor.so) with
 * dlopen after start-up and runs its requests (not a test itself): the
 * shim must patch the GOT of modules loaded later.
 *
 *   vendor_dlopen PLUGIN N    calls plugin_requests(N) (leaks every 10th)
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: vendor_dlopen PLUGIN N\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "vendor_dlopen: %s\n", dlerror());
        return 1;
    }
    int (*requests)(int) = (int (*)(int))dlsym(h, "plugin_requests");
    if (!requests) {
        fprintf(stderr, "vendor_dlopen: no plugin_requests\n");
        return 1;
    }
    return requests(atoi(argv[2])) < 0;
}
