/*
 * Many call sites, each at many depths, taken in an irregular order: 64
 * leaf functions (each its own malloc call site) reached through 1 to 8
 * frames of descend(), from via_a() or via_b() (frames laid out alike, so
 * the two stacks of one leaf and depth differ only further up): 1,024
 * stacks. The shim's per-thread call-site memos start small and grow while
 * a thread keeps refilling them; every stack must keep its own count
 * through that. Each stack keeps exactly KEEP blocks.
 */
#include <stdio.h>
#include <stdlib.h>

#define LEAVES 64
#define DEPTHS 8
#define KEEP   6
#define STACKS (2 * LEAVES * DEPTHS)
#define BLOCK  40

void *volatile kept[STACKS * KEEP]; /* global: the blocks stay reachable */
static int n_kept;
void *volatile sink;

#define LEAF(n)                                                                                    \
    __attribute__((noinline)) void leaf##n(void)                                                   \
    {                                                                                              \
        kept[n_kept++] = malloc(BLOCK);                                                            \
        __asm__ volatile("" ::: "memory");                                                         \
    }
/* clang-format moves these macro lines on every run: left as written */
/* clang-format off */
#define L8(a) LEAF(a##0) LEAF(a##1) LEAF(a##2) LEAF(a##3) LEAF(a##4) LEAF(a##5) LEAF(a##6) LEAF(a##7)
L8(1) L8(2) L8(3) L8(4) L8(5) L8(6) L8(7) L8(8)
#define P8(a) leaf##a##0, leaf##a##1, leaf##a##2, leaf##a##3, leaf##a##4, leaf##a##5, leaf##a##6, leaf##a##7
static void (*const leaves[LEAVES])(void) = {P8(1), P8(2), P8(3), P8(4), P8(5), P8(6), P8(7), P8(8)};
/* clang-format on */

__attribute__((noinline)) void descend(int d, int n)
{
    if (d > 0)
        descend(d - 1, n);
    else
        leaves[n]();
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void via_a(int d, int n)
{
    descend(d, n);
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void via_b(int d, int n)
{
    descend(d, n);
    __asm__ volatile("" ::: "memory");
}

int main(void)
{
    static int left[STACKS];
    for (int i = 0; i < STACKS; i++)
        left[i] = KEEP;
    unsigned x = 2463534242u;
    for (int done = 0; done < STACKS * KEEP;) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        int s = (int)(x % STACKS);
        if (!left[s])
            continue;
        left[s]--;
        done++;
        int d = s / LEAVES % DEPTHS, n = s % LEAVES;
        if (s < LEAVES * DEPTHS)
            via_a(d, n);
        else
            via_b(d, n);
        void *t = malloc(16); /* freed at once: another site in between */
        sink = t;
        free(t);
    }
    printf("kept %d\n", n_kept);
    return 0;
}
