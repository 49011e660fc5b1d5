/*
 * libvendor.so: a stand-in for a closed vendor runtime with a C handle API
 * (not a test itself). Handles come from a fixed pool with a state word, so
 * a destroyed handle passed again is answered with an error instead of a
 * crash -- the tests want the program to keep running and the tool to say
 * what happened. Buffers are reference counted.
 *
 *   vendor_create / vendor_open(&h) -> handle; vendor_run(h); vendor_destroy(h)
 *   vendor_buf_new -> buffer (1 reference); vendor_buf_ref / vendor_buf_unref
 */
#include <stdint.h>
#include <string.h>

#define POOL       4096
#define FREE_STATE 0
#define LIVE_STATE 0x11ee

struct vendor_ctx {
    int state;
    int runs;
    char scratch[48];
};

struct vendor_buf {
    int refs;
    int in_use;
    char data[32];
};

static struct vendor_ctx ctx_pool[POOL];
static struct vendor_buf buf_pool[POOL];
static unsigned next_ctx, next_buf;

struct vendor_ctx *vendor_create(int config)
{
    /* slots are reused round-robin, so a destroyed handle stays "destroyed"
     * for a while, like freed memory that has not been handed out again */
    for (unsigned i = 0; i < POOL; i++) {
        struct vendor_ctx *c = &ctx_pool[(next_ctx + i) % POOL];
        if (c->state == FREE_STATE) {
            next_ctx = (next_ctx + i + 1) % POOL;
            memset(c, 0, sizeof(*c));
            c->state = LIVE_STATE;
            c->runs = config;
            return c;
        }
    }
    return NULL;
}

int vendor_open(struct vendor_ctx **out, int config)
{
    struct vendor_ctx *c = vendor_create(config);
    if (!c)
        return -1;
    *out = c;
    return 0;
}

int vendor_run(struct vendor_ctx *c, int input)
{
    if (!c || c->state != LIVE_STATE)
        return -1; /* use after destroy: a real runtime would crash or worse */
    c->runs++;
    return input * 2;
}

int vendor_destroy(struct vendor_ctx *c)
{
    if (!c || c->state != LIVE_STATE)
        return -1; /* double destroy */
    c->state = FREE_STATE;
    return 0;
}

struct vendor_buf *vendor_buf_new(void)
{
    for (unsigned i = 0; i < POOL; i++) {
        struct vendor_buf *b = &buf_pool[(next_buf + i) % POOL];
        if (!b->in_use) {
            next_buf = (next_buf + i + 1) % POOL;
            b->in_use = 1;
            b->refs = 1;
            return b;
        }
    }
    return NULL;
}

struct vendor_buf *vendor_buf_ref(struct vendor_buf *b)
{
    if (b)
        b->refs++;
    return b;
}

void vendor_buf_unref(struct vendor_buf *b)
{
    if (b && --b->refs == 0)
        b->in_use = 0;
}

/* Something the library does with a handle that our specs do not name. */
int vendor_version(void)
{
    return 3;
}
