/*
 * The reachability acceptance cases in one program (tests/reach/): each case
 * allocates from its own function, so a report names the case by the
 * allocating function, and both leakaudit and valgrind memcheck classify it
 * at exit. Every helper stores its result in a global and returns nothing,
 * so no stale copy of a pointer survives in main's frame.
 *
 *   case_global      pointed to by a global            -> still reachable
 *   case_cleared     the global was cleared            -> definitely lost
 *   case_tree_root   a lost tree: root                 -> definitely lost
 *   case_tree_child  its 3 children (only via root)    -> indirectly lost
 *   case_cycle       2 blocks pointing at each other   -> 1 definitely + 1 indirectly
 *   case_interior    only a pointer into the middle    -> possibly lost
 *   case_aligned     only its start rounded up to 64, the start kept in the
 *                    word before (an aligned allocation) -> still reachable
 *                    (valgrind: possibly lost; docs/reachability.md)
 *   case_tls         only in the main thread's __thread variable -> reachable
 *   case_thread_tls  only in another thread's __thread variable  -> reachable
 *   case_stack       only in another thread's stack    -> reachable
 *   case_register    only in another thread's register -> reachable
 *   case_self_only   its only pointer is inside itself -> definitely lost
 *   case_mmap_region only in an anonymous mmap the program owns -> reachable
 *   case_returned_local  last pointer was a local of a function that
 *                    returned (dead stack below the stack pointer) -> definitely lost
 *   case_big         a lost 32 MiB block (served by mmap inside malloc) -> definitely lost
 *
 * Usage: reach_cases [hold]   (hold: wait for SIGTERM instead of exiting)
 *        reach_cases reachable (only the still-reachable global and TLS cases)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NOINLINE   __attribute__((noinline, noclone))
#define N_CHILDREN 3
#define BIG_BYTES  (32u << 20)
#define DEAD_FRAME 2048 /* words below the caller's frame where the stale local lies */

struct node {
    struct node *next;
    struct node *child[N_CHILDREN];
    char pad[32];
};

void *g_global, *g_cleared, *g_tree, *g_cycle, *g_interior, *g_aligned;
void *g_for_stack, *g_for_tls;
void *volatile g_for_register;
volatile int g_ready;
__thread void *volatile t_main_tls;
__thread void *volatile t_thread_tls;

NOINLINE static void *alloc_block(size_t n)
{
    void *p = calloc(1, n);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

NOINLINE void case_global(void)
{
    g_global = alloc_block(64);
}

NOINLINE void case_cleared(void)
{
    g_cleared = alloc_block(72);
    g_cleared = NULL;
}

NOINLINE struct node *case_tree_child(void)
{
    return alloc_block(sizeof(struct node));
}

NOINLINE void case_tree_root(void)
{
    struct node *root = alloc_block(sizeof(struct node));
    for (int i = 0; i < N_CHILDREN; i++)
        root->child[i] = case_tree_child();
    g_tree = root;
}

NOINLINE void case_cycle(void)
{
    struct node *a = alloc_block(sizeof(struct node)), *b = alloc_block(sizeof(struct node));
    a->next = b;
    b->next = a;
    g_cycle = a;
}

NOINLINE void case_interior(void)
{
    g_interior = (char *)alloc_block(96) + 48;
}

NOINLINE void case_aligned(void)
{
    char *raw = alloc_block(200);
    void **aligned = (void **)(((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63);
    aligned[-1] = raw; /* what its free needs */
    g_aligned = aligned;
}

NOINLINE void case_tls(void)
{
    t_main_tls = alloc_block(40);
}

NOINLINE void case_thread_tls(void)
{
    g_for_tls = alloc_block(48);
}
NOINLINE void case_stack(void)
{
    g_for_stack = alloc_block(56);
}
NOINLINE void case_register(void)
{
    g_for_register = alloc_block(88);
}

NOINLINE void case_self_only(void)
{
    struct node *self = alloc_block(sizeof(struct node));
    self->next = self;
}

void **g_region; /* an anonymous mapping of the program's own */

NOINLINE void case_mmap_region(void)
{
    g_region = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_region[1] = alloc_block(80);
}

/* The pointer's last copy is a local deep in this function's frame, far
 * below anything the exit path's frames reuse. */
NOINLINE void case_returned_local(void)
{
    void *volatile frame[DEAD_FRAME];
    frame[0] = alloc_block(104);
    __asm__ volatile("" ::"r"(frame) : "memory");
}

NOINLINE void case_big(void)
{
    alloc_block(BIG_BYTES); /* calloc: no pointer into it is left anywhere */
}

static void *holder_tls(void *arg __attribute__((unused)))
{
    t_thread_tls = g_for_tls;
    g_for_tls = NULL;
    __atomic_add_fetch(&g_ready, 1, __ATOMIC_SEQ_CST);
    for (;;)
        pause();
    return NULL;
}

static void *holder_stack(void *arg __attribute__((unused)))
{
    void *volatile on_stack = g_for_stack;
    g_for_stack = NULL;
    __atomic_add_fetch(&g_ready, 1, __ATOMIC_SEQ_CST);
    for (;;)
        pause();
    return (void *)on_stack;
}

/* Moves the pointer into r12 and clears the global, then blocks in pause(2)
 * forever: the register is the only place that still holds it. */
static void *holder_register(void *arg __attribute__((unused)))
{
#if defined(__x86_64__)
    __asm__ volatile("mov g_for_register(%%rip), %%r12\n\t"
                     "movq $0, g_for_register(%%rip)\n\t"
                     "lock incl g_ready(%%rip)\n\t"
                     "1: mov $34, %%eax\n\t" /* SYS_pause */
                     "syscall\n\t"
                     "jmp 1b\n\t" ::
                         : "rax", "rcx", "r11", "r12", "memory");
#elif defined(__aarch64__)
    /* x19 (callee-saved) holds it; ppoll(NULL, 0, NULL, NULL) waits forever
     * (aarch64 has no pause syscall). */
    __asm__ volatile("adrp x9, g_for_register\n\t"
                     "add x9, x9, :lo12:g_for_register\n\t"
                     "ldr x19, [x9]\n\t"
                     "str xzr, [x9]\n\t"
                     "adrp x10, g_ready\n\t"
                     "add x10, x10, :lo12:g_ready\n\t"
                     "1: ldaxr w11, [x10]\n\t"
                     "add w11, w11, #1\n\t"
                     "stlxr w12, w11, [x10]\n\t"
                     "cbnz w12, 1b\n\t"
                     "2: mov x0, #0\n\t"
                     "mov x1, #0\n\t"
                     "mov x2, #0\n\t"
                     "mov x3, #0\n\t"
                     "mov x8, %0\n\t"
                     "svc #0\n\t"
                     "b 2b\n\t" ::"i"(SYS_ppoll)
                     : "x0", "x1", "x2", "x3", "x8", "x9", "x10", "x11", "x12", "x19", "memory");
#else
#error "holder_register: add this architecture's register-only holder"
#endif
    return NULL;
}

/* Overwrites dead stack below the current frame, where the helpers ran. */
NOINLINE static void scrub_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0, sizeof(junk));
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "reachable")) {
        case_global();
        case_tls();
        scrub_stack();
        exit(0);
    }
    case_global();
    case_cleared();
    case_tree_root();
    g_tree = NULL;
    case_cycle();
    g_cycle = NULL;
    case_interior();
    case_aligned();
    case_tls();
    case_thread_tls();
    case_stack();
    case_register();
    pthread_t th;
    pthread_create(&th, NULL, holder_tls, NULL);
    pthread_create(&th, NULL, holder_stack, NULL);
    pthread_create(&th, NULL, holder_register, NULL);
    while (__atomic_load_n(&g_ready, __ATOMIC_SEQ_CST) < 3)
        usleep(1000);
    case_self_only();
    case_mmap_region();
    case_big();
    scrub_stack();
    case_returned_local(); /* after the scrub: its dead frame stays as it is */
    if (argc > 1 && !strcmp(argv[1], "hold")) {
        printf("ready\n");
        fflush(stdout);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        int sig;
        sigwait(&set, &sig);
    }
    exit(0);
}
