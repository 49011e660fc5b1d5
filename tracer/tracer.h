/*
 * The tracer behind `leakaudit attach`: internal interfaces between its
 * files. attach_cmd.c parses options and runs the session loop,
 * allocator.c finds the allocator the target really uses, probes.c loads
 * the BPF skeletons and attaches them, drain.c reads the BPF maps into a
 * snapshot model, snapshot_out.c writes it with the common writer.
 */
#ifndef LEAKAUDIT_TRACER_H
#define LEAKAUDIT_TRACER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"
#include "stacktable.h"

#define TRC_ERR_LEN    512
#define TRC_MAX_PROBES 64

/* Which BPF program handles an allocator entry point. */
enum trc_handler {
    TRC_H_SIZE1,        /* size is argument 1: malloc, valloc, operator new... */
    TRC_H_SIZE2,        /* (alignment, size): aligned_alloc, memalign */
    TRC_H_CALLOC,       /* (n, size) */
    TRC_H_REALLOC,      /* (ptr, size) */
    TRC_H_REALLOCARRAY, /* (ptr, n, size) */
    TRC_H_MEMPTR,       /* posix_memalign(memptr, alignment, size) */
    TRC_H_FREE,         /* free, operator delete, sdallocx: ptr is argument 1 */
};

struct trc_probe_target {
    char path[PATH_MAX];   /* file to attach through (/proc/PID/map_files/... or root-prefixed) */
    char module[PATH_MAX]; /* the path as the target sees it */
    char name[64];
    uint64_t offset; /* file offset of the probe: the function's, plus shift */
    uint32_t shift;  /* bytes past the function's entry (probe_site.c) */
    int handler;     /* enum trc_handler */
};

struct trc_allocator {
    char name[SNAP_MAX_NAME]; /* glibc, jemalloc, tcmalloc, mimalloc, static, other */
    char module[PATH_MAX];    /* file that provides malloc */
    size_t n;
    struct trc_probe_target t[TRC_MAX_PROBES];
};

struct trc_opts {
    int pid;
    char out_dir[PATH_MAX];
    uint64_t interval_ms; /* 0: only the final snapshot */
    uint64_t duration_ms; /* 0: until a signal or the target exits */
    uint32_t mode;        /* enum snap_mode */
    uint32_t stack_depth;
    int heap, fds;
    int progress;     /* status line on stderr */
    int reachability; /* TRC_REACH_*: when snapshots include a reachability scan */
    int verbose;
    int allow_shared_dir; /* --allow-shared-dir: out_dir need not be private */
    uint64_t max_disk;    /* --max-disk: bytes per series, 0 = unbounded */
    uint64_t keep_for_s;  /* --keep-for: 0 = forever */
    int thin;             /* --thin on|off */
    char *track_specs;    /* resource specs, '|'-separated (docs/resources.md); NULL: none */
    uint32_t unwind;      /* SNAP_UNWIND_DWARF (unwind tables) or SNAP_UNWIND_FP */
    /* With SNAP_UNWIND_DWARF: the target's unwind tables, shared by every
     * BPF object (set by attach_cmd.c before the probes are opened). */
    struct trc_unwind *unwind_tables;
    int kmem;         /* --kmem: kernel memory by stack (kmem.c, docs/memory-kernel.md) */
    int inject;       /* --inject: load the shim into the target (attach_inject.c) */
    int quiet_inject; /* -q with --inject */
};

/* A module of the target: the path it sees and the path we open. */
struct trc_modpath {
    char path[PATH_MAX];
    char access[PATH_MAX];
};

/* probe_site.c: bytes past a function's entry where its probe traps cheaply
 * (0: the entry itself). code: the function's first bytes. */
uint32_t trc_probe_site_shift(const uint8_t *code, size_t len, int handler);

/* --reachability (docs/reachability.md) */
enum { TRC_REACH_OFF = 0, TRC_REACH_DETACH = 1, TRC_REACH_ALWAYS = 2 };

/* permission.c: 0 when the caller may trace pid (the kernel's ptrace rule:
 * same real uid/gid as the target's, or CAP_SYS_PTRACE); else -1 and err. */
int trc_may_trace(int pid, char *err, size_t errlen);
/* permission.c: the pid of the process ptrace-attached to pid (a debugger,
 * strace), and "pid M (comm)" in who; 0 when none. A process has one
 * tracer: --inject and the reachability scan need to be it. */
int trc_traced_by(int pid, char *who, size_t len);
/* attach_inject.c: `attach --inject` from start to detach (*stop: a signal
 * asked to end); a CLI exit status. */
int trc_attach_inject(struct trc_opts *o, volatile int *stop); /* a sig_atomic_t */
#define TRC_INJECT_FALLBACK (-2) /* trc_attach_inject: use the eBPF tracer instead */
/* What to add to an uprobe "Permission denied" when the caller lacks
 * CAP_SYS_ADMIN ("" when it has it). */
const char *trc_uprobe_permission_hint(void);

/* attach_opts.c: `leakaudit attach`'s command line into *o (defaults set
 * first); 0, a CLI exit status to exit with, or -1 after --help/--version. */
int trc_attach_parse_opts(int argc, char **argv, struct trc_opts *o);

/* allocator.c */
/* -EAGAIN: the process looks mid-exec (nothing, only its executable, or the
 * dynamic linker without libc mapped so far). */
int trc_find_allocator(int pid, struct trc_allocator *a, char *err, size_t errlen);
int trc_read_modules(int pid, struct trc_modpath *mods, size_t cap, size_t *n);
/* File offset of a function defined in an ELF file (.dynsym, then .symtab). */
int trc_elf_func_offset(const char *file, const char *name, uint64_t *off);

/* unwind.c: the target's unwind tables in BPF maps (docs/unwinding.md) */
struct trc_unwind;
struct bpf_map;
int trc_unwind_open(struct trc_unwind **out, int pid, int verbose, char *err, size_t errlen);
void trc_unwind_close(struct trc_unwind *u); /* NULL-safe */
/* Re-reads /proc/PID/maps and loads the modules mapped since: 1 when the
 * mappings changed, 0 when not, or -errno. */
int trc_unwind_refresh(struct trc_unwind *u);
uint64_t trc_unwind_since_refresh_ns(const struct trc_unwind *u);
/* Before a skeleton's load: its unw_rows, unw_maps, unw_meta become ours. */
int trc_unwind_share(const struct trc_unwind *u, struct bpf_map *rows, struct bpf_map *maps,
                     struct bpf_map *meta);
/* Modules whose rows did not fit the map / that have no call-frame
 * information (both unwound by frame pointer). NULL-safe. */
void trc_unwind_losses(const struct trc_unwind *u, uint64_t *rows_full, uint64_t *no_cfi);
const char *trc_unwind_describe(const struct trc_unwind *u);

/* probes.c */
struct trc_probes;
int trc_probes_open(struct trc_probes **out, const struct trc_opts *o,
                    const struct trc_allocator *a, char *err, size_t errlen);
/* Sampled mode: attaches or detaches the allocation-side probes. */
int trc_probes_set_alloc_side(struct trc_probes *p, int on);
void trc_probes_close(struct trc_probes *p);
int trc_probes_heap_fds(const struct trc_probes *p, int *allocs, int *sites, int *stacks);
/* The generation new heap allocations are counted in (bpf/heap.bpf.c), or
 * NULL without heap tracking. */
volatile uint32_t *trc_probes_heap_gen(const struct trc_probes *p);
int trc_probes_fd_fds(const struct trc_probes *p, int *fds, int *mmaps, int *stacks);
int trc_probes_counter_fds(const struct trc_probes *p, int *heap_counters, int *fd_counters);
const char *trc_probes_describe(const struct trc_probes *p);
const char *trc_probes_allocator(const struct trc_probes *p); /* trc_allocator.name, or "" */

/* drain.c: turns the maps into snapshot records. */
struct trc_drain;
int trc_drain_new(struct trc_drain **out, struct trc_probes *p, const struct trc_opts *o);
void trc_drain_free(struct trc_drain *d);
void trc_drain_attach_probes(struct trc_drain *d, struct trc_probes *p);
void trc_drain_set_scale(struct trc_drain *d, double scale);
void trc_drain_set_allocator(struct trc_drain *d, const char *module);
/* Current value of a BPF counter (enum trc_counter), summed over CPUs. */
uint64_t trc_drain_counter(struct trc_drain *d, int idx);
/* Marks the fds open now that the tracer did not see created as pre-existing. */
int trc_drain_seed_fds(struct trc_drain *d);
/* Reads every map; target_alive = 0 skips the /proc/PID/fd reconciliation. */
int trc_drain_collect(struct trc_drain *d, int target_alive);
/* Cheap totals for the status line: events, live bytes, live fds, drops. */
void trc_drain_status(struct trc_drain *d, uint64_t *events, uint64_t *live_bytes, uint64_t *fds,
                      uint64_t *drops);

/* What trc_drain_collect produced, for snapshot_out.c. */
struct trc_fd_row {
    struct snap_fd_entry e;
    char target[SNAP_MAX_PATH];
};
struct trc_mmap_row {
    struct snap_mmap_entry e;
};
struct trc_loss_row {
    enum snap_loss_id id; /* common/losses.h */
    uint64_t value;
};
struct trc_view {
    const struct stk_table *stacks;
    const struct snap_heap_entry *heap;
    size_t n_heap;
    const struct trc_fd_row *fds;
    size_t n_fds;
    const struct trc_mmap_row *mmaps;
    size_t n_mmaps;
    const struct trc_loss_row *losses;
    size_t n_losses;
    const struct trc_reach *reach; /* NULL: no reachability section */
    /* resources (NULL/0 when not tracking any) */
    const struct snap_resource_entry *resources;
    size_t n_resources;
    const struct snap_corruption *res_events;
    size_t n_res_events;
    const struct trc_loss_row *res_losses;
    size_t n_res_losses;
    /* kernel memory (NULL/0 without --kmem) */
    const struct trc_kmem *kmem;
    const struct trc_loss_row *kmem_losses;
    size_t n_kmem_losses;
};
void trc_drain_view(const struct trc_drain *d, struct trc_view *v);
/* One more of a user-side counter (user_loss_ids in drain.c): in the losses
 * of the next collection. */
void trc_drain_count_loss(struct trc_drain *d, enum snap_loss_id id);
/* The snapshot stack id of a heap site (interned like collect does). */
struct trc_site;
uint32_t trc_drain_heap_site_id(struct trc_drain *d, const struct trc_site *s);
/* Interned stack id of a site from another BPF object's stack map. */
uint32_t trc_drain_site(struct trc_drain *d, int stack_map, const struct trc_site *s);
/* The same for kmem.c's sites (a cache of its own: its stack map is another). */
uint32_t trc_drain_kmem_site(struct trc_drain *d, int stack_map, const struct trc_site *s);

/* resources.c: paired C-API resources (--track-resource, docs/resources.md) */
struct trc_res;
int trc_res_open(struct trc_res **out, const struct trc_opts *o, char *err, size_t errlen);
void trc_res_close(struct trc_res *r); /* NULL-safe; detaches every probe */
/* Reads the maps and events into snapshot records (stack ids from d). */
int trc_res_collect(struct trc_res *r, struct trc_drain *d);
void trc_res_view(const struct trc_res *r, struct trc_view *v);
const char *trc_res_describe(const struct trc_res *r);

/* kmem.c: kernel memory allocated in the target's context (--kmem) */
struct trc_kmem;
struct snap_writer;
int trc_kmem_open(struct trc_kmem **out, const struct trc_opts *o, char *err, size_t errlen);
void trc_kmem_close(struct trc_kmem *k); /* NULL-safe; detaches every program */
int trc_kmem_collect(struct trc_kmem *k, struct trc_drain *d); /* NULL-safe */
void trc_kmem_view(const struct trc_kmem *k, struct trc_view *v);
/* Outstanding kernel bytes at the last collection (the status line). */
uint64_t trc_kmem_live_bytes(const struct trc_kmem *k);
int trc_kmem_write(const struct trc_kmem *k, struct snap_writer *w);
const char *trc_kmem_describe(const struct trc_kmem *k);

/* reach.c: stops the target with ptrace, classifies the allocations the
 * probes saw, always detaches; result in out (free with trc_reach_free). */
struct trc_reach {
    struct snap_reach_info info;
    struct snap_reach_entry *entries;
    size_t n;
};
int trc_reach_scan(struct trc_drain *d, struct trc_probes *p, int pid, struct trc_reach *out,
                   char *err, size_t errlen);
void trc_reach_free(struct trc_reach *r);

/* snapshot_out.c */
struct trc_writer;
int trc_writer_new(struct trc_writer **out, const struct trc_opts *o, const char *allocator,
                   uint64_t attach_realtime_ns);
/* Writes DIR/<series>.<seq>.snap; returns 0 or -errno with err set. */
int trc_writer_write(struct trc_writer *w, const struct trc_view *v, uint32_t trigger, char *err,
                     size_t errlen);
const char *trc_writer_dir(const struct trc_writer *w);
uint32_t trc_writer_count(const struct trc_writer *w);
void trc_writer_free(struct trc_writer *w);

#endif
