/*
 * Guard mode's events: one clear block on stderr per corruption (raw
 * addresses only: symbolizing inside a corrupted process is not safe;
 * `leakaudit report` symbolizes the snapshot's copy), the event kept for the
 * snapshot's corruption section (at most MAX_EVENTS, the rest counted), and
 * the policy: abort after the evidence is written, or carry on.
 */
#include "guard_int.h"
#include "stacktable.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct snap_corruption events[MAX_EVENTS];
static uint32_t n_events;
static uint64_t events_dropped; /* past MAX_EVENTS: on stderr, not in snapshots */
int guard_event_lock;

void guard_out(const char *s)
{
    if (write(2, s, strlen(s)) < 0) {
    }
}

static void out_hex(uint64_t v)
{
    char b[24] = "0x";
    util_u64_to_hex(v, b + 2, sizeof(b) - 2);
    guard_out(b);
}

static void out_dec(uint64_t v)
{
    char b[24];
    util_u64_to_dec(v, b, sizeof(b));
    guard_out(b);
}

static void out_stack(const char *title, uint32_t id)
{
    guard_out("==leakaudit==   ");
    guard_out(title);
    if (id == SNAP_STACK_NONE) {
        guard_out(": (unknown)\n");
        return;
    }
    guard_out(":\n");
    const uint64_t *frames;
    uint32_t d = stk_table_get(shim_stacks(), id, &frames);
    for (uint32_t i = 0; i < d && i < 16; i++) {
        guard_out("==leakaudit==     #");
        out_dec(i);
        guard_out(" ");
        out_hex(frames[i]);
        guard_out("\n");
    }
}

static void record_event(const struct snap_corruption *c)
{
    shim_spin_lock(&guard_event_lock);
    if (n_events < MAX_EVENTS)
        events[n_events++] = *c;
    else
        events_dropped++;
    shim_spin_unlock(&guard_event_lock);
}

/* One clear block on stderr, the event in the next snapshot, then the
 * policy. Returns only under policy log (or for the page fault path, which
 * re-raises itself). */
void guard_report(struct snap_corruption *c, const char *what, int may_abort)
{
    c->time_ns = util_realtime_ns();
    c->tid = shim_gettid();
    record_event(c);
    guard_out("==leakaudit== ");
    guard_out(snap_corruption_kind_name(c->kind));
    guard_out(": ");
    guard_out(what);
    guard_out("\n==leakaudit==   block ");
    out_hex(c->addr);
    guard_out(" of ");
    out_dec(c->block_size);
    guard_out(" bytes");
    if (c->offset || c->kind == SNAP_CORR_OVERFLOW || c->kind == SNAP_CORR_UNDERFLOW) {
        guard_out(", bad byte at offset ");
        if (c->offset < 0) {
            guard_out("-");
            out_dec((uint64_t)-c->offset);
        } else {
            out_dec((uint64_t)c->offset);
        }
    }
    guard_out(", thread ");
    out_dec((uint64_t)c->tid);
    guard_out("\n");
    if (c->bytes_len) {
        guard_out("==leakaudit==   bytes found:");
        for (uint32_t i = 0; i < c->bytes_len; i++) {
            char b[4] = " 00";
            b[1] = "0123456789abcdef"[c->bytes[i] >> 4];
            b[2] = "0123456789abcdef"[c->bytes[i] & 15];
            guard_out(b);
        }
        guard_out("\n");
    }
    out_stack("access / detected at", c->access_stack);
    out_stack("block allocated at", c->alloc_stack);
    if (c->free_stack)
        out_stack("block freed at", c->free_stack);
    guard_out("==leakaudit==   (symbols: leakaudit report ");
    guard_out(shim_cfg.out_dir);
    guard_out(")\n");
    if (shim_cfg.guard_abort && may_abort) {
        guard_out("==leakaudit== aborting (LEAKAUDIT_GUARD_POLICY=log to continue)\n");
        SHIM_UNTRACKED(shim_keep_evidence());
        abort();
    }
}

void guard_dump_bytes(struct snap_corruption *c, uintptr_t at, uintptr_t end)
{
    uint32_t n = 0;
    while (n < MAX_DUMP && at + n < end) {
        c->bytes[n] = ((const uint8_t *)at)[n];
        n++;
    }
    c->bytes_len = n;
}

void guard_set_detail(struct snap_corruption *c, const char *s)
{
    util_strlcpy(c->detail, s, sizeof(c->detail));
}

uint64_t guard_events_dropped(void)
{
    shim_spin_lock(&guard_event_lock);
    uint64_t n = events_dropped;
    shim_spin_unlock(&guard_event_lock);
    return n;
}

void guard_write_events(struct snap_writer *w)
{
    shim_spin_lock(&guard_event_lock);
    uint32_t n = n_events;
    shim_spin_unlock(&guard_event_lock);
    for (uint32_t i = 0; i < n; i++)
        snap_write_corruption(w, &events[i]);
}
