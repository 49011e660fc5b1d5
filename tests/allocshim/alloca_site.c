/*
 * Two malloc call sites in functions with a variable-size frame (alloca),
 * reached through two callers, called from one call instruction in main
 * (a function pointer), that pad the stack by different amounts: malloc is
 * entered at the same stack address with the same return address from
 * both, while the alloca'd function's frame pointer (its CFA) differs.
 * Where via_a's path keeps that function's return address, via_b's path
 * has its alloca area, which still holds via_a's dead frame; every slot
 * above is the same. site calls malloc itself; site_mid through mid, built
 * without frame pointers (it leaves rbp alone: the unwinder carries it).
 * An unwinder reusing the previous capture, or a call-site memo, that
 * compared only return-address slots would give via_b's blocks via_a's
 * stack. via_a keeps A_BLOCKS blocks of BLOCK bytes from each site, via_b
 * B_BLOCKS; the two take turns, one site after the other (so that each
 * capture follows one of the same site from the other path).
 */
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>

#define BLOCK    56
#define A_BLOCKS 300
#define B_BLOCKS 500
#define SHIFT    256 /* via_a pads this much more, site pads this much less */

void *volatile kept[2 * (A_BLOCKS + B_BLOCKS)]; /* global: the blocks stay reachable */
static int n_kept;

__attribute__((noinline)) void site(size_t pad)
{
    char *p = alloca(pad);
    __asm__ volatile("" : : "r"(p) : "memory");
    kept[n_kept++] = malloc(BLOCK);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline, optimize("omit-frame-pointer"))) void mid(void)
{
    kept[n_kept++] = malloc(BLOCK);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void site_mid(size_t pad)
{
    char *p = alloca(pad);
    __asm__ volatile("" : : "r"(p) : "memory");
    mid();
    __asm__ volatile("" ::: "memory");
}

/* via_a and via_b have the same code, so the same frame layout: a padding
 * of pad bytes moves site's frame down by exactly that much. */
/* clang-format off */
#define VIA(name)                                                                                  \
    __attribute__((noinline)) void name(size_t pad, size_t site_pad, int through_mid)              \
    {                                                                                              \
        char *q = alloca(pad);                                                                     \
        __asm__ volatile("" : : "r"(q) : "memory");                                                \
        if (through_mid)                                                                           \
            site_mid(site_pad);                                                                    \
        else                                                                                       \
            site(site_pad);                                                                        \
        __asm__ volatile("" ::: "memory");                                                         \
    }
/* clang-format on */
VIA(via_a)
VIA(via_b)

void (*volatile via)(size_t pad, size_t site_pad, int through_mid);

static void take_turns(int through_mid)
{
    int a = 0, b = 0;
    unsigned x = 2463534242u;
    while (a < A_BLOCKS || b < B_BLOCKS) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t pad = 64, site_pad = 64;
        if ((x % 8 < 3 && a < A_BLOCKS) || b == B_BLOCKS) {
            via = via_a;
            pad += SHIFT;
            a++;
        } else {
            via = via_b;
            site_pad += SHIFT;
            b++;
        }
        via(pad, site_pad, through_mid); /* one call instruction for both */
    }
}

int main(void)
{
    take_turns(0);
    take_turns(1);
    printf("kept %d\n", n_kept);
    return 0;
}
