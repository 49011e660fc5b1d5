/*
 * Paired C-API resource tracking's two halves share this (resources.c: the
 * specs, wrappers, patching and dlopen; res_table.c: the object table, its
 * rows, events and snapshot records). Not for any other file of the shim.
 */
#ifndef LEAKAUDIT_RES_INT_H
#define LEAKAUDIT_RES_INT_H

#include "resspec.h"
#include "shim.h"

/* The parsed specs (resources.c): kinds and functions by index. */
extern struct res_spec_set shim_res_spec;

/* ---- res_table.c ---- */
int res_table_init(void); /* maps the table's memory (or empties it); 0 or -ENOMEM */
void res_table_fork_child(void);
/* What a tracked call did (stack: the caller's, interned). */
void res_on_create(uint32_t kind, uintptr_t h, uint32_t stack);
void res_on_destroy(uint32_t kind, uint32_t fn, uintptr_t h, uint32_t stack);
void res_on_ref(uint32_t kind, uint32_t fn, uintptr_t h, uint32_t stack, int delta);
void res_on_use(uint32_t kind, uint32_t fn, uintptr_t h, uint32_t stack);
void res_table_write(struct snap_writer *w);        /* records of SNAP_SEC_RESOURCES */
void res_table_write_events(struct snap_writer *w); /* records of SNAP_SEC_CORRUPTION */
void res_table_loss_counters(shim_loss_cb cb, void *arg);
void res_table_mark_stacks(void (*mark)(uint32_t id, void *arg), void *arg);

#endif
