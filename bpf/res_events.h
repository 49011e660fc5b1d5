/*
 * Types shared by bpf/resources.bpf.c and tracer/resources.c: the tracked
 * function table, per-object state, per-row totals and the event record of
 * paired C-API resource tracking (docs/resources.md). Plain fixed-width
 * data so both sides agree on the layout.
 */
#ifndef LEAKAUDIT_RES_EVENTS_H
#define LEAKAUDIT_RES_EVENTS_H

#include "trace_events.h"

#define TRC_RES_MAX_FUNCS      128        /* = RES_MAX_FUNCS in common/resspec.h */
#define TRC_RES_MAX_OBJECTS    (1u << 18) /* outstanding handles tracked */
#define TRC_RES_MAX_TOMBSTONES (1u << 16) /* destroyed handles remembered (LRU) */
#define TRC_RES_MAX_ROWS       (1u << 14) /* (kind, site) rows */
#define TRC_RES_MAX_EXCLUDES   16         /* excluded caller ranges */
#define TRC_RES_REF_SITES      4          /* unmatched ref sites per object */
#define TRC_RES_EVENTS_BYTES   (256 * 1024)

/* roles and locations: the values of enum res_role / enum res_loc */
struct trc_res_func {
    __u8 role, loc, arg, pad;
    __u32 kind;
};

struct trc_res_key {
    __u64 handle;
    __u32 kind;
    __u32 pad;
};

struct trc_res_obj {
    struct trc_site row;    /* creating site, or the ref that made it outstanding */
    struct trc_site create; /* valid when created */
    struct trc_site refs[TRC_RES_REF_SITES];
    __s32 count;
    __u8 created, ref_top, ref_n, pad;
    __u64 created_ns; /* CLOCK_MONOTONIC */
};

struct trc_res_tomb {
    struct trc_site create, destroy;
    __u32 destroy_fn;
    __u32 reported; /* 1 use reported, 2 double destroy reported */
};

struct trc_res_row_key {
    struct trc_site site;
    __u32 kind;
    __u32 pad;
};

struct trc_res_row {
    __u64 created, destroyed, refs, unrefs;
};

/* A create in flight (entry -> return), keyed by thread id. */
struct trc_res_pending {
    __u64 sp;
    __u64 ts;
    __u64 argptr; /* out-pointer create: where the handle will be written */
    __u64 before; /* its value before the call */
    struct trc_site site;
    __u32 fn;
    __u32 pad;
};

struct trc_res_range {
    __u64 start, end;
    __u32 kind_mask; /* kinds whose calls from here are not tracked */
    __u32 pad;
};

/* use-after-destroy / double-destroy (enum snap_corruption_kind) */
struct trc_res_event {
    __u32 kind;
    __u32 fn; /* the offending function */
    __u32 destroy_fn;
    __u32 tid;
    __u64 handle;
    __u64 time_ns; /* CLOCK_MONOTONIC */
    struct trc_site create, destroy, access;
};

enum trc_res_counter {
    TRC_RC_CALLS,           /* tracked calls seen */
    TRC_RC_NESTED,          /* tracked calls inside another tracked call (skipped) */
    TRC_RC_EXCLUDED,        /* calls from excluded modules */
    TRC_RC_OBJECTS_FULL,    /* object map full (loss) */
    TRC_RC_ROWS_FULL,       /* row map full (loss) */
    TRC_RC_EVENTS_DROPPED,  /* event ring buffer full (loss) */
    TRC_RC_DESTROY_UNKNOWN, /* destroy of a handle created before attach */
    TRC_RC_PENDING_FULL,    /* in-flight map full (loss) */
    TRC_RC_NR
};

#endif
