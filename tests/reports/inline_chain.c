/* Allocations whose return address lies three inlined calls deep (built
 * with -O2 -g): test_report_symbols_match_llvm_symbolizer.sh checks that
 * the report names every level, as llvm-symbolizer does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

static void *kept[64];

INLINE void *chain_inner(size_t n)
{
    char *p = malloc(n); /* INNER-CALL */
    if (p)
        memset(p, 0x5a, n);
    return p;
}

INLINE void *chain_middle(size_t n, int i)
{
    void *p = chain_inner(n + (size_t)i); /* MIDDLE-CALL */
    kept[i & 63] = p;
    return p;
}

INLINE void *chain_outer(size_t n, int i)
{
    return chain_middle(n * 2, i); /* OUTER-CALL */
}

__attribute__((noinline, noclone)) static void *chain_entry(size_t n, int i)
{
    void *p = chain_outer(n, i); /* ENTRY-CALL */
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 32;
    for (int i = 0; i < n; i++)
        chain_entry(100, i);
    printf("kept %p\n", kept[0]);
    return 0;
}
