/*
 * One call site of malloc reached from two callers whose frames are laid
 * out alike, so that malloc sees the same return address, frame address and
 * saved frame pointer from both: the shim's per-thread call-site memo must
 * still tell the two stacks apart by what the rest of the stack holds. The
 * callers take turns in an irregular order; via_a keeps A_BLOCKS blocks,
 * via_b B_BLOCKS, and a third caller, via_deep, reaches the same leaf one
 * frame deeper and keeps DEEP_BLOCKS.
 */
#include <stdio.h>
#include <stdlib.h>

#define BLOCK       48
#define A_BLOCKS    300
#define B_BLOCKS    700
#define DEEP_BLOCKS 200

void *volatile sink;
void *volatile kept[A_BLOCKS + B_BLOCKS + DEEP_BLOCKS]; /* global: the blocks stay reachable */
static int n_kept;

__attribute__((noinline)) void leaf(void)
{
    kept[n_kept++] = malloc(BLOCK);
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void via_a(void)
{
    leaf();
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void via_b(void)
{
    leaf();
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void via_deep(void)
{
    via_a();
    __asm__ volatile("" ::: "memory");
}

int main(void)
{
    int a = 0, b = 0, d = 0;
    unsigned x = 2463534242u;
    while (a < A_BLOCKS || b < B_BLOCKS || d < DEEP_BLOCKS) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        unsigned pick = x % 6;
        if (pick < 2 && a < A_BLOCKS) {
            via_a();
            a++;
        } else if (pick < 5 && b < B_BLOCKS) {
            via_b();
            b++;
        } else if (d < DEEP_BLOCKS) {
            via_deep();
            d++;
        }
        void *t = malloc(16); /* freed at once: the memo sees other sites in between */
        sink = t;
        free(t);
    }
    printf("kept %d\n", n_kept);
    return 0;
}
