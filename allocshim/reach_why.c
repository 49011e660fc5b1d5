/*
 * LEAKAUDIT_REACH_WHY=SIZE: why each outstanding block of exactly SIZE
 * bytes got its class, said on stderr at each reachability scan
 * (docs/reachability.md, "Explaining a block's class"). While the scan
 * marks, every rise of a block's mark records the word that caused it
 * (its address) and the block that word is in (-1: a root); after
 * classification each block of that size is explained by following those
 * records up to a root, which is named by its line of /proc/self/maps and,
 * for a thread's stack, its distance from the thread's stack pointer.
 *
 * Runs while the program's threads are stopped: no allocation, no stdio
 * (snprintf into a buffer of our own, write(2)).
 */
#include "shim.h"

#include "reachmark.h"
#include "snapshot.h"
#include "stacktable.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAPS_BYTES (1u << 20)
#define MAX_CHAIN  24   /* links shown: the first and last 12 of a longer chain */
#define MAX_BLOCKS 1000 /* explained per scan */

struct why_rec {
    uint64_t at;  /* address of the word; 0: a saved register value */
    int64_t from; /* block the word is in; -1: a root; -2: never marked */
};

size_t shim_reach_why_bytes(size_t n)
{
    return shim_cfg.reach_why ? n * sizeof(struct why_rec) + MAPS_BYTES : 0;
}

static void record(void *arg, size_t block, uint64_t at, long from)
{
    struct why_rec *r = arg;
    r[block].at = at;
    r[block].from = from;
}

void shim_reach_why_begin(struct rmark *m, void *mem)
{
    struct why_rec *r = mem;
    if (!r)
        return;
    for (size_t i = 0; i < m->n; i++)
        r[i] = (struct why_rec){0, -2};
    m->why = record;
    m->why_arg = r;
}

static void say(const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(2, s, n);
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

/* The /proc/self/maps line holding a (without its newline), or NULL. */
static const char *maps_line(const char *maps, size_t len, uint64_t a, size_t *line_len)
{
    const char *p = maps, *end = maps + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        unsigned long lo = 0, hi = 0;
        if (sscanf(p, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) {
            *line_len = (size_t)(nl - p);
            return p;
        }
        p = nl + 1;
    }
    return NULL;
}

/* s[0..len) with each run of blanks made one space, into out. */
static void squeeze(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        if (s[i] == ' ' && o && out[o - 1] == ' ')
            continue;
        out[o++] = s[i];
    }
    out[o] = 0;
}

/* " < "-joined first frames of stack id as module+0xoffset (from the maps
 * text: the offset is the file offset, as the reports' "?? [module+0x...]"). */
static void frames_of(char *out, size_t cap, uint32_t id, const char *maps, size_t maps_len)
{
    const uint64_t *frames = NULL;
    uint32_t depth = id != SNAP_STACK_NONE ? stk_table_get(shim_stacks(), id, &frames) : 0;
    size_t o = 0;
    out[0] = 0;
    for (uint32_t i = 0; i < depth && i < 4 && o + 1 < cap; i++) {
        size_t ll = 0;
        const char *ml = maps_line(maps, maps_len, frames[i], &ll);
        unsigned long lo = 0, off = 0;
        const char *name = NULL, *base = "??";
        size_t bl = 2;
        if (ml && sscanf(ml, "%lx-%*x %*s %lx", &lo, &off) == 2) {
            name = memchr(ml, '/', ll);
            if (name) {
                const char *end = ml + ll, *slash = name;
                for (const char *q = name; q < end; q++)
                    if (*q == '/')
                        slash = q;
                base = slash + 1;
                bl = (size_t)(end - base);
            }
        }
        int n = snprintf(out + o, cap - o, "%s%.*s+0x%llx", i ? " < " : "", (int)bl, base,
                         (unsigned long long)(name ? frames[i] - lo + off : frames[i]));
        if (n < 0 || (size_t)n >= cap - o)
            break;
        o += (size_t)n;
    }
    if (!depth)
        snprintf(out, cap, "no stack");
}

static size_t read_maps(char *buf, size_t cap)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    if (fd < 0)
        return 0;
    for (ssize_t k; n < cap && (k = read(fd, buf + n, cap - n)) > 0;)
        n += (size_t)k;
    close(fd);
    return n;
}

struct why_ctx {
    const struct rmark *m;
    const struct why_rec *r;
    const char *maps;
    size_t maps_len;
    const pid_t *tids;
    const uint64_t *sps;
    int n_threads;
};

/* One link: what pointed at block k (depth 0: the explained block). */
static void say_link(const struct why_ctx *c, size_t k, size_t depth)
{
    const struct rmark *m = c->m;
    const struct why_rec *w = &c->r[k];
    const struct rmark_block *kb = &m->blocks[k];
    char line[1024];
    int n;
    uint64_t v = w->at ? *(const volatile uint64_t *)(uintptr_t)w->at : 0;
    const char *how = !w->at                          ? "pointer"
                      : v == kb->addr                 ? "start pointer"
                      : rmark_aligned_start(m, kb, v) ? "aligned start pointer"
                                                      : "interior pointer";
    if (w->from == -2) {
        n = snprintf(line, sizeof(line), "  (no record of what marked it)\n");
    } else if (!w->at) {
        n = snprintf(line, sizeof(line),
                     "  %sa saved register of a stopped thread or of the exit path (a root)\n",
                     depth ? "<- " : "");
    } else if (w->from >= 0) {
        const struct rmark_block *f = &m->blocks[w->from];
        char frames[256];
        frames_of(frames, sizeof(frames), f->stack_id, c->maps, c->maps_len);
        n = snprintf(line, sizeof(line),
                     "  %s%s (+0x%llx) at 0x%llx, %llu B into block 0x%llx (%llu B, stack %u: "
                     "%s, %s)\n",
                     depth ? "<- " : "", how, (unsigned long long)(v - kb->addr),
                     (unsigned long long)w->at, (unsigned long long)(w->at - f->addr),
                     (unsigned long long)f->addr, (unsigned long long)f->size, f->stack_id, frames,
                     snap_reach_class_name(f->state));
    } else {
        size_t ll = 0;
        const char *ml = maps_line(c->maps, c->maps_len, w->at, &ll);
        char where[160] = "";
        for (int t = 0; t < c->n_threads; t++) {
            size_t sl = 0;
            const char *sm = maps_line(c->maps, c->maps_len, c->sps[t], &sl);
            if (sm && sm == ml) {
                long long d = (long long)(w->at - c->sps[t]);
                snprintf(where, sizeof(where), "; thread %d's stack, 0x%llx %s its sp",
                         (int)c->tids[t], (unsigned long long)(d < 0 ? -d : d),
                         d < 0 ? "below" : "above");
                break;
            }
        }
        char map[240];
        squeeze(map, sizeof(map), ml ? ml : "(no map)", ml ? ll : 8);
        n = snprintf(line, sizeof(line), "  %s%s (+0x%llx) at 0x%llx, a root: %s%s\n",
                     depth ? "<- " : "", how, (unsigned long long)(v - kb->addr),
                     (unsigned long long)w->at, map, where);
    }
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    say(line, (size_t)n);
}

void shim_reach_why_report(const struct rmark *m, void *mem, const pid_t *tids, const uint64_t *sps,
                           int n_threads)
{
    const struct why_rec *r = mem;
    char *maps = (char *)mem + m->n * sizeof(struct why_rec);
    size_t maps_len = 0;
    char line[1024];
    unsigned long told = 0, untold = 0;
    struct why_ctx c = {m, r, maps, 0, tids, sps, n_threads}, *ctx = &c;
    for (size_t i = 0; i < m->n; i++) {
        const struct rmark_block *b = &m->blocks[i];
        if (b->size != shim_cfg.reach_why)
            continue;
        if (told++ >= MAX_BLOCKS) {
            untold++;
            continue;
        }
        if (!maps_len)
            ctx->maps_len = maps_len = read_maps(maps, MAPS_BYTES);
        char frames[256];
        frames_of(frames, sizeof(frames), b->stack_id, maps, maps_len);
        int n = snprintf(line, sizeof(line),
                         "leakaudit: why block 0x%llx (%llu B, stack %u: %s) is %s:\n",
                         (unsigned long long)b->addr, (unsigned long long)b->size, b->stack_id,
                         frames, snap_reach_class_name(b->state));
        say(line, (size_t)n);
        if (b->state == SNAP_REACH_DEFINITE || b->state == SNAP_REACH_INDIRECT) {
            n = snprintf(line, sizeof(line), "  %s\n",
                         b->state == SNAP_REACH_DEFINITE
                             ? "no pointer to it in any root or reachable block"
                             : "pointed to only from other lost blocks");
            say(line, (size_t)n);
            continue;
        }
        /* the chain's length (bounded: each link's cause rose before it) */
        size_t len = 1;
        for (size_t k = i; r[k].from >= 0 && len <= m->n; k = (size_t)r[k].from)
            len++;
        size_t k = i;
        for (size_t depth = 0; depth < len; depth++, k = (size_t)r[k].from) {
            if (len > MAX_CHAIN && depth == MAX_CHAIN / 2) {
                n = snprintf(line, sizeof(line), "  <- ... %zu links not shown ...\n",
                             len - MAX_CHAIN);
                say(line, (size_t)n);
            }
            if (len <= MAX_CHAIN || depth < MAX_CHAIN / 2 || depth >= len - MAX_CHAIN / 2)
                say_link(ctx, k, depth);
            if (r[k].from < 0)
                break;
        }
    }
    if (untold) {
        int n = snprintf(line, sizeof(line),
                         "leakaudit: %lu more blocks of %llu B not explained (the first %d are)\n",
                         untold, (unsigned long long)shim_cfg.reach_why, MAX_BLOCKS);
        say(line, (size_t)n);
    }
}
