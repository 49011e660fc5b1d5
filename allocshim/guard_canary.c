/*
 * Canary blocks (LEAKAUDIT_GUARD=canary): every block gets redzones (32
 * bytes before: a tagged header and 16 pattern bytes; 16+ pattern bytes
 * after), armed at allocation and checked at free, realloc and by the
 * periodic scan; freed blocks are poisoned over their ends
 * (LEAKAUDIT_GUARD_POISON) before they go to the quarantine
 * (guard_quarantine.c).
 */
#include "guard_int.h"
#include "stacktable.h"
#include "util.h"

#include <errno.h>
#include <string.h>

/* Reports an overwritten redzone of a canary block (the rare path: the
 * event record is ~200 bytes, too much to clear on every check). */
static __attribute__((noinline, cold)) void
report_redzone(uintptr_t user, const struct shim_block_info *info, uint32_t detect_stack,
               const char *when, uintptr_t bad, uintptr_t from, uintptr_t to)
{
    struct snap_corruption c = {.kind = bad < user ? SNAP_CORR_UNDERFLOW : SNAP_CORR_OVERFLOW,
                                .addr = user,
                                .block_size = info->size,
                                .offset = (int64_t)(bad - user),
                                .alloc_stack = info->alloc_stack,
                                .access_stack = detect_stack};
    guard_dump_bytes(&c, from, to);
    guard_set_detail(&c, when);
    guard_report(&c,
                 bad < user ? "bytes before the block were overwritten"
                            : "bytes past the end of the block were overwritten",
                 1);
}

/* Checks a canary block's redzones; reports and returns 1 if corrupt. */
int guard_check_canaries(uintptr_t user, const struct shim_block_info *info, uint32_t detect_stack,
                         const char *when)
{
    uintptr_t left = user - (LEFT_RZ - HEADER_BYTES);
    uintptr_t bad = check(left, LEFT_RZ - HEADER_BYTES, guard_pat_live);
    if (SHIM_UNLIKELY(bad || header_of(user)->tag != (guard_secret ^ user))) {
        report_redzone(user, info, detect_stack, when, bad ? bad : user - LEFT_RZ, left, user);
        return 1;
    }
    size_t right = right_rz(info->size);
    bad = check(user + info->size, right, guard_pat_live);
    if (SHIM_UNLIKELY(bad)) {
        report_redzone(user, info, detect_stack, when, bad, user + info->size,
                       user + info->size + right);
        return 1;
    }
    return 0;
}

/* The first half of a canary allocation: the real block, from the
 * quarantine (*rec: its record, its poison being loaded, not yet checked)
 * or the real allocator (rec->user == 0). Returns the user address, or 0. */
uintptr_t guard_canary_take(size_t size, size_t align, struct quarantined *rec)
{
    size_t left = align > LEFT_RZ ? align : LEFT_RZ;
    size_t total;
    if (__builtin_add_overflow(size, left + right_rz(size), &total)) {
        errno = ENOMEM;
        return 0;
    }
    rec->user = 0;
    void *real = NULL;
    if (align <= 16 && (real = guard_quarantine_recycle(total, rec))) {
        /* a block of the same real size, freed long enough ago */
    } else if (align > 16) {
        if (shim_real.posix_memalign(&real, align, total) != 0) {
            errno = ENOMEM;
            return 0;
        }
    } else {
        real = shim_real.malloc(total);
        if (!real)
            return 0;
    }
    uintptr_t user = (uintptr_t)real + left;
    shim_heap_prefetch((void *)user); /* its bucket: loads while we fill and walk the stack */
    return user;
}

/* The second half: a recycled block's poison checked (use-after-free
 * writes while it was quarantined), then the header and redzones. */
void guard_canary_arm(uintptr_t user, size_t size, size_t align, int kind, int zero,
                      const struct quarantined *rec)
{
    if (rec->user && !(rec->flags & SHIM_BLOCK_REPORTED)) {
        uintptr_t bad = guard_check_poison(rec->user, rec->size);
        if (bad)
            guard_report_uaf(rec, bad, "found when the block left the quarantine");
    }
    struct header *h = header_of(user);
    h->tag = guard_secret ^ user;
    h->left = (uint32_t)(align > LEFT_RZ ? align : LEFT_RZ);
    h->kind = (uint32_t)kind;
    fill(user - (LEFT_RZ - HEADER_BYTES), LEFT_RZ - HEADER_BYTES, guard_pat_live);
    fill(user + size, right_rz(size), guard_pat_live);
    if (zero)
        memset((void *)user, 0, size);
}

void guard_poison(uintptr_t addr, size_t len)
{
    /* The default depth is a constant: its memsets become inline stores
     * (library calls cost ~9 ns a free on the malloc benchmark). */
    if (shim_cfg.guard_poison == SHIM_GUARD_POISON_DEFAULT)
        poison_ends(addr, len, SHIM_GUARD_POISON_DEFAULT);
    else
        poison_ends(addr, len, shim_cfg.guard_poison);
}

/* Checks what guard_poison() wrote: the whole block, or its first and last
 * shim_cfg.guard_poison bytes (the default a constant, as in guard_poison()). */
uintptr_t guard_check_poison(uintptr_t addr, size_t len)
{
    if (shim_cfg.guard_poison == SHIM_GUARD_POISON_DEFAULT)
        return check_poison_ends(addr, len, SHIM_GUARD_POISON_DEFAULT);
    return check_poison_ends(addr, len, shim_cfg.guard_poison);
}

/* Warms what taking e out of the quarantine reads: its poison and the
 * allocator's chunk header (freed quarantine_bytes ago, long out of cache). */
void guard_prefetch_victim(const struct quarantined *e)
{
    prefetch_poison_lines(e->user, e->size, 0);
    __builtin_prefetch((const void *)(e->user - e->left - 16));
}
