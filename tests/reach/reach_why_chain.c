/*
 * LEAKAUDIT_REACH_WHY's cases (tests/reach/test_reach_why_explains_each_class.sh),
 * each block of a size no other block here has:
 *   g_top -> 200 B block, whose word at +40 -> 333 B block (reachable, a chain
 *   of two links ending in this program's data); the 200 B block's word at +48
 *   points 16 B into a 444 B block (possibly lost, one interior link); a
 *   555 B block nothing points to (definitely lost).
 */
#include <stdio.h>
#include <stdlib.h>

void *volatile g_top;

__attribute__((noinline)) static void *block(size_t n)
{
    void *p = calloc(1, n);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

__attribute__((noinline)) static void build(void)
{
    void **top = block(200);
    top[5] = block(333);
    top[6] = (char *)block(444) + 16;
    g_top = top;
    block(555);
}

int main(void)
{
    build();
    printf("top=%p\n", g_top);
    return 0;
}
