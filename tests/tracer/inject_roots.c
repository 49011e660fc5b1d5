/*
 * Targets for what the reachability scan of `attach --inject` takes as the
 * roots of the thread it is called in
 * (test_attach_inject_scans_the_thread_as_the_program_left_it.sh).
 *
 *   inject_roots table     first thing, a table of N_SMALL pointers big
 *                          enough for glibc to serve it by mmap (its mapping
 *                          lands right below the main thread's TLS mapping,
 *                          and the kernel merges the two), filled with
 *                          small blocks; every 10th freed; then the table's
 *                          last pointer is dropped: 1 definitely lost,
 *                          N_SMALL - N_SMALL / 10 indirectly lost
 *   inject_roots register  a block whose only pointer is in register rsi
 *                          while the thread waits in pause(): still
 *                          reachable (a register of a stopped thread is a
 *                          root), though the injected call passes its
 *                          second argument in rsi
 *
 * Prints "ready" and waits (SIGTERM ends it).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N_SMALL 50000

__attribute__((noinline)) static void lose_table(void)
{
    void **v = malloc(N_SMALL * sizeof(void *));
    for (int i = 0; i < N_SMALL; i++)
        v[i] = malloc(32 + (size_t)(i & 7) * 8);
    for (int i = 0; i < N_SMALL; i += 10) {
        free(v[i]);
        v[i] = NULL;
    }
    __asm__ volatile("" ::"r"(v) : "memory");
}

/* The block's address goes to rsi and stays there through pause(): no copy
 * in memory. */
__attribute__((noinline)) static void hold_in_register(void)
{
#if defined(__x86_64__)
    register uint64_t rsi __asm__("rsi") = (uint64_t)(uintptr_t)malloc(4321);
    /* malloc's frames below the stack pointer may still hold the address:
     * zero 8 KiB of that dead stack (nothing lives there) */
    __asm__ volatile("lea -8192(%%rsp), %%rdi\n\t"
                     "mov $1024, %%ecx\n\t"
                     "xor %%eax, %%eax\n\t"
                     "rep stosq"
                     : "+r"(rsi)
                     :
                     : "rax", "rcx", "rdi", "memory");
    for (;;) {
        long ret;
        __asm__ volatile("syscall"
                         : "=a"(ret), "+r"(rsi)
                         : "a"((long)SYS_pause)
                         : "rcx", "r11", "memory");
    }
#else
    fprintf(stderr, "inject_roots register: x86-64 only (attach --inject is)\n");
    exit(2);
#endif
}

int main(int argc, char **argv)
{
    int table = argc > 1 && !strcmp(argv[1], "table");
    if (table)
        lose_table();
    printf("ready\n");
    fflush(stdout);
    if (table)
        for (;;)
            pause();
    hold_in_register();
    return 0;
}
