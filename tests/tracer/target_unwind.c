/*
 * Target program for the tracer's unwinding tests (not a test itself).
 * Built with -O2 -fomit-frame-pointer, like the distro code our users run.
 * Once the file GO exists it leaks, ITERATIONS times each, through paths
 * whose stacks a frame-pointer walk gets wrong: C library functions that
 * allocate (strdup, opendir, fopen), a qsort callback, a C++ exception's
 * cleanup, a library two calls deep built without frame pointers
 * (unwind_lib.cc), a function with garbage in %rbp, and one whose return
 * address slot holds garbage while it calls malloc (the stack must end
 * there, cleanly). Then it writes COUNTERS and idles until killed.
 * In dlopen mode it loads libtarget_unwind_dl.so once GO exists (a module
 * the tracer did not see at the attach) and leaks through it every 5 ms
 * until the file COUNTERS.stop exists.
 *
 *   target_unwind leak|dlopen GO COUNTERS [ITERATIONS]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMP_BYTES     777
#define BAD_RBP_BYTES 555
#define BAD_RA_BYTES  333
#define GARBAGE       0x6f6400656d616e74ull /* "tnamed\0o": stack words seen as frames */

void lib_outer(size_t n);      /* unwind_lib.cc: lib_outer -> lib_inner -> malloc */
void lib_exception_leak(void); /* unwind_lib.cc: a throw whose cleanup allocates */

static void *volatile sink;
static int cmp_leak;

__attribute__((noinline)) void app_strdup(void)
{
    sink = strdup("allocated by strdup for app_strdup");
}

__attribute__((noinline)) void app_opendir(void)
{
    sink = opendir("/"); /* never closed: a DIR block and an fd */
}

__attribute__((noinline)) void app_fopen(void)
{
    sink = fopen("/dev/null", "r"); /* never closed: a FILE block and an fd */
}

__attribute__((noinline)) int app_cmp(const void *a, const void *b)
{
    if (cmp_leak) {
        cmp_leak = 0;
        sink = malloc(CMP_BYTES);
    }
    return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) void app_qsort(void)
{
    int v[16];
    for (int i = 0; i < 16; i++)
        v[i] = (i * 7919) % 16;
    cmp_leak = 1;
    qsort(v, 16, sizeof(v[0]), app_cmp);
}

__attribute__((noinline)) void app_exception(void)
{
    lib_exception_leak();
}

__attribute__((noinline)) void app_deep(void)
{
    lib_outer(64);
}

/* The frame pointer register (%rbp, x29) holds garbage across the call: a
 * frame-pointer walk reads it as a frame, the unwind tables never look at
 * it here. */
#if defined(__aarch64__)
#define FRAME_POINTER_REGISTER "x29"
#else
#define FRAME_POINTER_REGISTER "rbp"
#endif
__attribute__((noinline)) void app_bad_rbp(void)
{
    register unsigned long rbp asm(FRAME_POINTER_REGISTER) = GARBAGE;
    asm volatile("" : "+r"(rbp));
    sink = malloc(BAD_RBP_BYTES);
    asm volatile("" : "+r"(rbp));
}

/* The return address slot holds garbage while malloc runs: a walk must stop
 * at this frame and count it, never report the garbage as a frame. (Using
 * __builtin_frame_address gives this one function a frame pointer.) */
__attribute__((noinline)) void app_bad_ra(void)
{
    void *volatile *slot = (void *volatile *)__builtin_frame_address(0) + 1;
    void *saved = *slot;
    *slot = (void *)GARBAGE;
    sink = malloc(BAD_RA_BYTES);
    *slot = saved;
}

__attribute__((noinline)) void run_all(int iterations)
{
    for (int i = 0; i < iterations; i++) {
        app_strdup();
        app_opendir();
        app_fopen();
        app_qsort();
        app_exception();
        app_deep();
        app_bad_rbp();
        app_bad_ra();
    }
}

/* Leaks through a library loaded after the attach until stop exists. */
__attribute__((noinline)) int app_dlopen_loop(const char *stop)
{
    void *lib = dlopen("libtarget_unwind_dl.so", RTLD_NOW);
    void (*outer)(size_t) = lib ? (void (*)(size_t))dlsym(lib, "dl_outer") : NULL;
    if (!outer) {
        fprintf(stderr, "target_unwind: %s\n", dlerror());
        return 1;
    }
    int n = 0;
    while (access(stop, F_OK) != 0) {
        outer(32);
        n++;
        usleep(5000);
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: target_unwind leak GO COUNTERS [ITERATIONS]\n");
        return 2;
    }
    int iterations = argc > 4 ? atoi(argv[4]) : 20;
    while (access(argv[2], F_OK) != 0)
        usleep(10000);
    char stop[4096];
    snprintf(stop, sizeof(stop), "%s.stop", argv[3]);
    if (!strcmp(argv[1], "dlopen"))
        iterations = app_dlopen_loop(stop);
    else
        run_all(iterations);
    FILE *f = fopen(argv[3], "w");
    if (!f)
        return 1;
    fprintf(f, "iterations=%d\n", iterations);
    fclose(f);
    for (;;)
        pause();
}
