/*
 * Allocations whose right call stack runs through code without frame
 * pointers (this file and libdeep are built -O2 -fomit-frame-pointer; libc
 * and libstdc++ are Debian's): strdup, opendir, fopen, a qsort callback, a
 * C++ exception, a library two levels deep, a library constructor, and a
 * function whose frame record is garbage (its CFI claims CFA = rbp + 16
 * while rbp points at a fake record holding a non-address): that stack must
 * end cleanly at the function, never with a garbage frame. Allocations on
 * a plugin dlopen'ed after start-up are unwound like the rest. Allocations on
 * a signal's alternate stack and on a coroutine's stack (swapcontext) keep
 * their immediate caller and must not crash the unwinder.
 *
 *   unwind_cases once      one round, blocks kept live, exit
 *   unwind_cases loop SECS a round every 50 ms (for attach), oldest freed
 */
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <ucontext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void *deep_outer(size_t n);
void app_throw(void);
extern void *ctor_block;

#define KEEP 32
static void *kept[8][KEEP];
static DIR *kept_dirs[KEEP];
static FILE *kept_files[KEEP];
static unsigned round_no;
volatile int sink;

static void keep(int kind, void *p)
{
    void **slot = &kept[kind][round_no % KEEP];
    free(*slot);
    *slot = p;
}

__attribute__((noinline)) void app_strdup(void)
{
    static char text[4322];
    if (!text[0])
        memset(text, 's', sizeof(text) - 1);
    keep(0, strdup(text));
    sink++;
}

__attribute__((noinline)) void app_opendir(void)
{
    DIR **slot = &kept_dirs[round_no % KEEP];
    if (*slot)
        closedir(*slot);
    *slot = opendir("/");
    sink++;
}

__attribute__((noinline)) void app_fopen(void)
{
    FILE **slot = &kept_files[round_no % KEEP];
    if (*slot)
        fclose(*slot);
    *slot = fopen("/proc/self/stat", "r");
    sink++;
}

static int allocated_in_cmp;
__attribute__((noinline)) int cmp_alloc(const void *a, const void *b)
{
    if (!allocated_in_cmp) {
        allocated_in_cmp = 1;
        keep(1, malloc(3333));
    }
    return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) void app_qsort(void)
{
    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (i * 37) % 64;
    allocated_in_cmp = 0;
    qsort(v, 64, sizeof(int), cmp_alloc);
    sink += v[0];
}

__attribute__((noinline)) void app_deep(void)
{
    keep(2, deep_outer(4444));
    sink++;
}

/* void *app_garbage(size_t n): malloc(n) under a lying frame record. */
void *app_garbage(size_t n);
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl app_garbage\n"
        ".type app_garbage,@function\n"
        "app_garbage:\n"
        ".cfi_startproc\n"
        "  pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "  subq $32, %rsp\n"
        "  movabsq $0x6f6400656d616e74, %rax\n" /* "tnamed\0o": stack bytes, not an address */
        "  movq %rax, 8(%rsp)\n"
        "  movq %rax, 0(%rsp)\n"
        "  movq %rsp, %rbp\n"
        ".cfi_def_cfa %rbp, 16\n" /* the lie: the real CFA is 40 bytes above rsp */
        "  call malloc@PLT\n"
        "  leaq 32(%rsp), %rsp\n"
        "  popq %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size app_garbage, .-app_garbage\n");
#elif defined(__aarch64__)
/* The same lie: x29 and the CFA rule point at the "tnamed\0o" bytes, where
 * both the frame record and the CFI say the caller's x29 and x30 are. */
__asm__(".text\n"
        ".globl app_garbage\n"
        ".type app_garbage,%function\n"
        "app_garbage:\n"
        ".cfi_startproc\n"
        "  stp x29, x30, [sp, #-48]!\n"
        ".cfi_def_cfa_offset 48\n"
        ".cfi_offset x29, -48\n"
        ".cfi_offset x30, -40\n"
        "  movz x9, #0x6e74\n"
        "  movk x9, #0x6d61, lsl #16\n"
        "  movk x9, #0x0065, lsl #32\n"
        "  movk x9, #0x6f64, lsl #48\n"
        "  stp x9, x9, [sp, #16]\n"
        "  add x29, sp, #16\n"
        ".cfi_def_cfa x29, 16\n" /* the lie: the real CFA is 48 bytes above sp */
        ".cfi_offset x29, -16\n"
        ".cfi_offset x30, -8\n"
        "  bl malloc\n"
        "  ldp x29, x30, [sp], #48\n"
        ".cfi_def_cfa sp, 0\n"
        ".cfi_restore x29\n"
        ".cfi_restore x30\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size app_garbage, .-app_garbage\n");
#else
#error "app_garbage: add this architecture's lying frame"
#endif

__attribute__((noinline)) void altstack_alloc(int sig)
{
    keep(4, malloc(6666));
    sink += sig;
}

static ucontext_t main_ctx, coro_ctx;
__attribute__((noinline)) void coro_alloc(void)
{
    keep(5, malloc(7777));
    sink++;
    swapcontext(&coro_ctx, &main_ctx);
}

__attribute__((noinline)) void app_foreign_stacks(void)
{
    static char *alt, *coro_stack;
    if (!alt) {
        alt = malloc(64 * 1024);
        stack_t ss = {.ss_sp = alt, .ss_size = 64 * 1024};
        sigaltstack(&ss, NULL);
        struct sigaction sa = {.sa_handler = altstack_alloc, .sa_flags = SA_ONSTACK};
        sigaction(SIGUSR1, &sa, NULL);
        coro_stack = malloc(64 * 1024);
    }
    raise(SIGUSR1);
    getcontext(&coro_ctx);
    coro_ctx.uc_stack.ss_sp = coro_stack;
    coro_ctx.uc_stack.ss_size = 64 * 1024;
    coro_ctx.uc_link = &main_ctx;
    makecontext(&coro_ctx, coro_alloc, 0);
    swapcontext(&main_ctx, &coro_ctx);
    sink++;
}

/* A plugin loaded after the first allocations were recorded. */
__attribute__((noinline)) void app_dlopen(void)
{
    static void *(*entry)(size_t);
    if (!entry) {
        void *h = dlopen("$ORIGIN/libplugin.so", RTLD_NOW);
        entry = h ? (void *(*)(size_t))dlsym(h, "plugin_entry") : NULL;
        if (!entry) {
            fprintf(stderr, "unwind_cases: %s\n", dlerror());
            exit(1);
        }
    }
    keep(6, entry(8888));
    sink++;
}

__attribute__((noinline)) void run_round(void)
{
    app_strdup();
    app_opendir();
    app_fopen();
    app_qsort();
    app_deep();
    app_throw();
    keep(3, app_garbage(5555));
    app_foreign_stacks();
    app_dlopen();
    round_no++;
    sink++;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !ctor_block) {
        fprintf(stderr, "usage: unwind_cases once|loop SECS\n");
        return 2;
    }
    if (!strcmp(argv[1], "once")) {
        run_round();
        return 0;
    }
    double secs = argc > 2 ? atof(argv[2]) : 30;
    struct timespec t0, now, nap = {0, 50 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        run_round();
        nanosleep(&nap, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 < secs);
    return 0;
}
