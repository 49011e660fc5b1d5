/*
 * The snapshot format: the one contract between capture (allocshim, tracer)
 * and analysis (reports). docs/snapshot-format.md is the normative spec; this
 * header is its C face. There is exactly one writer (snapshot_write.c) and
 * one reader (snapshot_read.c).
 *
 * The writer never calls malloc: it runs inside the audited process (the
 * shim) and streams records through a fixed buffer in struct snap_writer to
 * a temporary file that is renamed into place when complete.
 * The reader allocates freely: it runs in offline tools.
 */
#ifndef LEAKAUDIT_SNAPSHOT_H
#define LEAKAUDIT_SNAPSHOT_H

#include "losses.h" /* the loss-counter names (snap_loss_name, snap_loss_note) */

#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC          "LKASNAP\0"
#define SNAP_MAGIC_LEN      8
#define SNAP_FORMAT_VERSION 1

/* Limits (docs/snapshot-format.md, "Size bounds"). */
#define SNAP_MAX_STACK_DEPTH      64
#define SNAP_MAX_PATH             4096
#define SNAP_MAX_BUILD_ID         32
#define SNAP_MAX_CORRUPTION_BYTES 32
#define SNAP_MAX_NAME             64
#define SNAP_MAX_SECTION_BYTES    (1u << 30) /* reader refuses larger sections */

/* Stack id 0 is "no stack": unattributed or unknown. Real ids start at 1. */
#define SNAP_STACK_NONE 0u

/* INJECTED: the shim loaded into a running process (attach --inject);
 * start_time_ns is then the attach time. */
enum snap_source { SNAP_SOURCE_SHIM = 1, SNAP_SOURCE_TRACER = 2, SNAP_SOURCE_INJECTED = 3 };
enum snap_mode { SNAP_MODE_FULL = 1, SNAP_MODE_SAMPLED = 2 };
/* DWARF: the modules' call-frame information (unwind tables, the default);
 * LIBUNWIND: libunwind's unw_backtrace (comparison only). */
enum snap_unwind { SNAP_UNWIND_FP = 1, SNAP_UNWIND_DWARF = 2, SNAP_UNWIND_LIBUNWIND = 3 };

/* Why this snapshot was taken. */
enum snap_trigger {
    SNAP_TRIGGER_INTERVAL = 1,
    SNAP_TRIGGER_EXIT = 2,
    SNAP_TRIGGER_SIGNAL = 3,
    SNAP_TRIGGER_DETACH = 4,
    SNAP_TRIGGER_CORRUPTION = 5,
    SNAP_TRIGGER_REQUEST = 6,
};

/* Section types, in file order. Unknown types are skipped by the reader. */
enum snap_section_type {
    SNAP_SEC_HEADER = 1,
    SNAP_SEC_MODULES = 2,
    SNAP_SEC_STACKS = 3,
    SNAP_SEC_HEAP = 4,
    SNAP_SEC_FDS = 5,
    SNAP_SEC_MMAPS = 6,
    SNAP_SEC_CORRUPTION = 7,
    SNAP_SEC_LOSSES = 8,
    SNAP_SEC_REACHABILITY = 9, /* docs/reachability.md */
    SNAP_SEC_RESOURCES = 10,   /* docs/resources.md */
    SNAP_SEC_MEMORY = 11,      /* docs/memory.md: the memory breakdown */
    SNAP_SEC_KMEM = 12,        /* kernel memory by stack, dma-bufs (docs/memory-kernel.md) */
    SNAP_SEC_END = 0xffff,
};

enum snap_fd_kind {
    SNAP_FD_UNKNOWN = 0,
    SNAP_FD_FILE = 1,
    SNAP_FD_DIR = 2,
    SNAP_FD_SOCKET = 3,
    SNAP_FD_PIPE = 4,
    SNAP_FD_EVENTFD = 5,
    SNAP_FD_MEMFD = 6,
    SNAP_FD_DMABUF = 7,
    SNAP_FD_TIMERFD = 8,
    SNAP_FD_SIGNALFD = 9,
    SNAP_FD_EPOLL = 10,
    SNAP_FD_INOTIFY = 11,
    SNAP_FD_DEVICE = 12,
    SNAP_FD_ANON = 13, /* other anon_inode */
    SNAP_FD_PIDFD = 14,
    SNAP_FD_KIND_COUNT
};

/* How an fd came to be (the call that created it). */
enum snap_fd_origin {
    SNAP_FDO_UNKNOWN = 0,
    SNAP_FDO_OPEN = 1,
    SNAP_FDO_DUP = 2,
    SNAP_FDO_FCNTL_DUPFD = 3,
    SNAP_FDO_SOCKET = 4,
    SNAP_FDO_ACCEPT = 5,
    SNAP_FDO_PIPE = 6,
    SNAP_FDO_EVENTFD = 7,
    SNAP_FDO_MEMFD = 8,
    SNAP_FDO_TIMERFD = 9,
    SNAP_FDO_SIGNALFD = 10,
    SNAP_FDO_EPOLL = 11,
    SNAP_FDO_INOTIFY = 12,
    SNAP_FDO_IOCTL = 13,
    SNAP_FDO_RECVMSG = 14, /* received over a socket (SCM_RIGHTS) */
    SNAP_FDO_FOPEN = 15,
    SNAP_FDO_OPENDIR = 16,
    SNAP_FDO_PREEXISTING = 17,  /* open before tracking began (attach) */
    SNAP_FDO_UNATTRIBUTED = 18, /* found in /proc/PID/fd, creation not seen */
    SNAP_FDO_SOCKETPAIR = 19,
    SNAP_FDO_OTHER = 20,
    SNAP_FDO_COUNT
};

enum snap_mmap_kind {
    SNAP_MMAP_ANON = 1,
    SNAP_MMAP_FILE = 2,
    SNAP_MMAP_DMABUF = 3,
    SNAP_MMAP_MEMFD = 4,
    SNAP_MMAP_SHM = 5,
};

/* Corruption events (filled by guard mode). */
enum snap_corruption_kind {
    SNAP_CORR_OVERFLOW = 1,
    SNAP_CORR_UNDERFLOW = 2,
    SNAP_CORR_USE_AFTER_FREE_WRITE = 3,
    SNAP_CORR_USE_AFTER_FREE_READ = 4,
    SNAP_CORR_DOUBLE_FREE = 5,
    SNAP_CORR_INVALID_FREE = 6,    /* interior, stack, global, wild */
    SNAP_CORR_MISMATCHED_FREE = 7, /* new/delete[] vs malloc/free */
    SNAP_CORR_OVERFLOW_READ = 8,
    SNAP_CORR_UNDERFLOW_READ = 9,
    SNAP_CORR_USE_AFTER_DESTROY = 10,
    SNAP_CORR_DOUBLE_DESTROY = 11,
    SNAP_CORR_KIND_COUNT
};

/* ---- the in-memory model (what the reader returns) ---- */

struct snap_header {
    uint32_t format_version;
    uint32_t source;  /* enum snap_source */
    uint32_t mode;    /* enum snap_mode */
    uint32_t unwind;  /* enum snap_unwind */
    uint32_t trigger; /* enum snap_trigger */
    uint32_t seq;     /* 0,1,2... within a series */
    int32_t pid;
    int32_t ppid;
    uint64_t sample_period;    /* mean bytes between samples (sampled mode), else 0 */
    uint64_t start_time_ns;    /* CLOCK_REALTIME: process start (shim) or attach (tracer) */
    uint64_t snapshot_time_ns; /* CLOCK_REALTIME */
    uint64_t monotonic_ns;     /* CLOCK_MONOTONIC at snapshot, for rates */
    uint64_t rss_bytes;        /* VmRSS at snapshot time, 0 if unknown */
    char exe[SNAP_MAX_PATH];
    char series[SNAP_MAX_NAME];    /* identifies one process image's series */
    char allocator[SNAP_MAX_NAME]; /* glibc, jemalloc, tcmalloc, mimalloc, ... */
    char hostname[SNAP_MAX_NAME];
};

struct snap_module {
    uint64_t start, end, offset; /* one executable mapping */
    uint32_t build_id_len;
    uint8_t build_id[SNAP_MAX_BUILD_ID];
    char *path; /* reader: heap string */
};

struct snap_stack {
    uint32_t id; /* >= 1 */
    uint32_t depth;
    uint64_t *frames; /* return addresses, innermost first; reader: heap array */
};

/* Per-stack heap totals. "live" = outstanding now; totals since tracking began. */
struct snap_heap_entry {
    uint32_t stack_id;
    uint32_t flags; /* SNAP_HEAP_* */
    uint64_t live_bytes;
    uint64_t live_count;
    uint64_t total_bytes;
    uint64_t total_count;
    uint64_t freed_bytes;
    uint64_t freed_count;
    /* Appended in heap section version 2 (SNAP_HEAP_PEAK_TEMP set): */
    uint64_t peak_bytes; /* highest live bytes of the stack at any allocation */
    uint64_t temp_count; /* freed by the allocating thread before its next allocation */
    uint64_t temp_bytes;
};
#define SNAP_HEAP_ESTIMATED 0x1u /* scaled from samples */
/* The retired-stacks row (stack_id 0): the summed totals of every stack that
 * left the capture's stack table with nothing live (docs/snapshot-format.md). */
#define SNAP_HEAP_RETIRED   0x2u
#define SNAP_HEAP_PEAK_TEMP 0x4u /* peak_bytes, temp_count and temp_bytes were measured */

struct snap_fd_entry {
    int32_t fd;
    uint32_t kind;   /* enum snap_fd_kind */
    uint32_t origin; /* enum snap_fd_origin */
    uint32_t stack_id;
    uint64_t created_ns; /* CLOCK_REALTIME, 0 if unknown */
    int32_t source_fd;   /* dup source / mmap'd-through fd, -1 if none */
    uint32_t flags;      /* SNAP_FD_* */
    char *target;        /* readlink(/proc/PID/fd/N); reader: heap string */
};
#define SNAP_FD_CLOEXEC 0x1u

struct snap_mmap_entry {
    uint64_t addr, len;
    int32_t prot, flags;
    int32_t fd;    /* -1 for anonymous */
    uint32_t kind; /* enum snap_mmap_kind */
    uint32_t stack_id;
    uint32_t pad;
    uint64_t created_ns;
    char *path; /* reader: heap string, may be "" */
};

struct snap_corruption {
    uint32_t kind; /* enum snap_corruption_kind */
    int32_t tid;
    uint64_t addr;       /* start of the user block (or faulting address if no block) */
    uint64_t block_size; /* user size of the block hit, 0 if unknown */
    int64_t offset;      /* of the bad byte/access from the block start */
    uint64_t time_ns;
    uint32_t alloc_stack, free_stack, access_stack; /* SNAP_STACK_NONE if unknown */
    uint32_t bytes_len;
    uint8_t bytes[SNAP_MAX_CORRUPTION_BYTES]; /* what was found where the pattern should be */
    char detail[128];                         /* one line of human context */
};

struct snap_loss {
    char name[SNAP_MAX_NAME]; /* e.g. "stack_table_full", "fd_unattributed" */
    uint64_t value;
};

/*
 * Reachability (SNAP_SEC_REACHABILITY, docs/reachability.md): a conservative
 * mark-and-sweep over the outstanding blocks, valgrind memcheck's classes.
 * The section holds one info record, then one entry per allocation stack.
 */
enum snap_reach_class {
    SNAP_REACH_DEFINITE = 0,  /* nothing points to it */
    SNAP_REACH_INDIRECT = 1,  /* only reachable from lost blocks */
    SNAP_REACH_POSSIBLE = 2,  /* reachable only through interior pointers */
    SNAP_REACH_REACHABLE = 3, /* a start pointer chain from a root: still reachable */
    SNAP_REACH_CLASS_COUNT
};
#define SNAP_REACH_ATTACH_ONLY      0x1u /* attach mode: only blocks allocated since attach */
#define SNAP_REACH_THREADS_MISSED   0x2u /* some threads could not be stopped */
#define SNAP_REACH_MAPPINGS_SKIPPED 0x4u /* other mappings not scanned (shim memory unknown) */

struct snap_reach_info {
    uint32_t flags;           /* SNAP_REACH_* */
    uint32_t threads_stopped; /* threads parked for the scan */
    uint32_t threads_missed;  /* threads that could not be stopped (stacks scanned anyway) */
    uint32_t pad;
    uint64_t scan_ns;        /* whole scan, wall clock */
    uint64_t pause_ns;       /* how long the program's threads were stopped */
    uint64_t extra_bytes;    /* memory the scan mapped for itself (peak) */
    uint64_t blocks_scanned; /* outstanding blocks classified */
    uint64_t roots_bytes;    /* bytes of roots scanned (data, bss, stacks, TLS, registers) */
};

struct snap_reach_entry {
    uint32_t stack_id;
    uint32_t pad;
    uint64_t bytes[SNAP_REACH_CLASS_COUNT]; /* by enum snap_reach_class */
    uint64_t blocks[SNAP_REACH_CLASS_COUNT];
};

/*
 * Paired C-API resources (SNAP_SEC_RESOURCES, docs/resources.md): handles of
 * a create/destroy API and references of a ref/unref API, one entry per
 * (resource kind, stack). The stack is the creating call, or for an object
 * whose creation was not tracked, the ref that made it outstanding.
 * Use-after-destroy and double-destroy events go into the corruption section
 * (SNAP_CORR_USE_AFTER_DESTROY / SNAP_CORR_DOUBLE_DESTROY, detail naming the
 * kind and the function).
 */
#define SNAP_RES_REFCOUNTED 0x1u /* the kind has ref/unref functions */
#define SNAP_RES_ESTIMATED  0x2u /* counts are scaled from samples */

struct snap_resource_entry {
    char kind[SNAP_MAX_NAME]; /* the spec's name=..., e.g. "avframe" */
    uint32_t stack_id;        /* creating (or first unmatched ref) stack */
    uint32_t flags;           /* SNAP_RES_* */
    uint64_t live_count;      /* objects from this stack outstanding now */
    uint64_t total_created;   /* creates seen since tracking began */
    uint64_t total_destroyed; /* of those, destroyed (or unref'd to zero) */
    uint64_t total_refs;      /* ref calls on objects from this stack */
    uint64_t total_unrefs;    /* unref calls on objects from this stack */
    int64_t ref_balance;      /* sum over outstanding objects of refs - unrefs not matched */
    uint32_t last_ref_stack;  /* the latest unmatched ref among them, SNAP_STACK_NONE if none */
    uint32_t pad;
    uint64_t oldest_ns; /* CLOCK_REALTIME creation of the oldest outstanding, 0 unknown */
};

/*
 * The memory breakdown (SNAP_SEC_MEMORY, docs/memory.md): where the
 * process's resident memory is, by component, measured at snapshot time from
 * /proc/PID/smaps and smaps_rollup, the allocator's own statistics and the
 * capture's counters (common/membreak.h). One info record, then component
 * entries (one per component and creating stack; the entries of one
 * component add up to it), then one entry per dma-buf (by inode).
 * Adding a component is one enum value here and one row in
 * common/snapshot_names.c's table.
 */
enum snap_mem_component {
    SNAP_MEM_HEAP_LIVE = 1,      /* live heap blocks the capture tracks */
    SNAP_MEM_ALLOC_RETAINED = 2, /* the allocator holds it, the program does not */
    SNAP_MEM_STACKS = 3,         /* thread stacks (and the main stack) */
    SNAP_MEM_ANON_MMAP = 4,      /* the program's own anonymous mmaps (by stack) */
    SNAP_MEM_FILE = 5,           /* file-backed mappings: code, data, mapped files */
    SNAP_MEM_SHMEM = 6,          /* memfd, /dev/shm, SysV, shared anonymous (by stack) */
    SNAP_MEM_DMABUF = 7,         /* dma-buf mappings */
    SNAP_MEM_TOOL = 8,           /* leakaudit's own memory in the process */
    SNAP_MEM_OTHER_ANON = 9,     /* anonymous memory none of the above explains */
    SNAP_MEM_UNACCOUNTED = 10,   /* smaps_rollup minus the sum of the mappings (signed) */
    SNAP_MEM_COMPONENT_COUNT
};
#define SNAP_MEM_ESTIMATED 0x1u /* entry: the value is an estimate (docs/memory.md) */

#define SNAP_MEMI_ROLLUP          0x1u  /* rss..swap came from smaps_rollup */
#define SNAP_MEMI_ALLOC_STATS     0x2u  /* alloc_* were asked from the allocator */
#define SNAP_MEMI_ALLOC_ESTIMATED 0x4u  /* retained is estimated from smaps and live bytes */
#define SNAP_MEMI_TRUNCATED       0x8u  /* too many (component, stack) pairs: rest in stack 0 */
#define SNAP_MEMI_NO_SMAPS        0x10u /* /proc/PID/smaps could not be read */

struct snap_mem_info {
    uint32_t flags; /* SNAP_MEMI_* */
    uint32_t n_threads;
    uint64_t rss, pss, anon, file, shmem, swap; /* smaps_rollup */
    uint64_t smaps_rss, smaps_pss;              /* the sum over the mappings of smaps */
    uint64_t live_heap;                         /* the capture's live heap bytes */
    uint64_t alloc_resident; /* the allocator's resident (or committed) bytes, 0 unknown */
    uint64_t alloc_in_use;   /* the allocator's allocated bytes (its own count), 0 unknown */
    uint64_t dmabuf_bytes;   /* sum of the dma-buf sizes held (fds or maps), deduplicated */
};

struct snap_mem_entry {
    uint32_t component; /* enum snap_mem_component */
    uint32_t stack_id;  /* creating stack, SNAP_STACK_NONE if not attributed */
    uint32_t flags;     /* SNAP_MEM_ESTIMATED */
    uint32_t n_maps;    /* mappings (or parts of them) counted */
    int64_t rss;        /* bytes; only SNAP_MEM_UNACCOUNTED may be negative */
    int64_t pss;
    uint64_t swap;
    uint64_t size; /* virtual size of those mappings */
};

struct snap_dmabuf {
    uint64_t inode;
    uint64_t size; /* fdinfo size: */
    uint32_t stack_id;
    uint32_t n_fds; /* fds of the process on this buffer */
    uint32_t n_maps;
    uint32_t pad;
    char exporter[SNAP_MAX_NAME]; /* fdinfo exp_name: */
    char name[SNAP_MAX_NAME];     /* fdinfo name: (may be "") */
};

/*
 * Kernel memory (SNAP_SEC_KMEM, attach --kmem, docs/memory-kernel.md):
 * allocations made in the target's context and still outstanding, one row
 * per (kind, kernel stack, user stack). Kernel stacks are symbolized at
 * capture (the capturing machine's /proc/kallsyms): each frame keeps its
 * address and "function+0xoff [module]". dma-bufs of the machine (the BPF
 * iterator) keyed by inode, with how many of the target's fds hold each.
 */
enum snap_kmem_kind { SNAP_KMEM_SLAB = 1, SNAP_KMEM_PAGES = 2 };
/* Row flags: the rows below are kept out of the outstanding total. */
#define SNAP_KMEM_IRQ          0x1u /* allocated in interrupt / softirq context (kernel stack) */
#define SNAP_KMEM_SLAB_BACKING 0x2u /* pages of a slab or a large kmalloc: counted as objects */
/* Info flags. */
#define SNAP_KMEM_DMABUF_ITER 0x1u /* the dma-buf iterator ran (0 buffers means none) */

struct snap_kstack {
    uint32_t id; /* >= 1, this section's own ids */
    uint32_t depth;
    uint64_t *addrs; /* reader: heap array */
    char **names;    /* reader: heap strings, "" when no symbol */
};

struct snap_kmem_row {
    uint32_t kind;      /* enum snap_kmem_kind */
    uint32_t kstack_id; /* 0: kernel stack lost */
    uint32_t stack_id;  /* the user stack (stack table), SNAP_STACK_NONE if lost */
    uint32_t flags;     /* SNAP_KMEM_* */
    uint64_t live_bytes, live_count, total_bytes, total_count, freed_bytes, freed_count;
    uint64_t freed_other_bytes, freed_other_count; /* freed by another task (kworker, RCU) */
    char cache[SNAP_MAX_NAME];                     /* slab cache (kmem_cache_alloc), else "" */
};

struct snap_kdmabuf {
    uint64_t inode, size;
    uint32_t target_fds; /* fds of the target on this buffer */
    uint32_t flags;
    char exporter[SNAP_MAX_NAME], name[SNAP_MAX_NAME];
};

struct snap_kmem_info {
    uint32_t flags;          /* SNAP_KMEM_DMABUF_ITER */
    uint32_t n_dmabufs;      /* dma-bufs the iterator saw on the machine */
    uint64_t live_bytes;     /* outstanding kernel bytes (rows without IRQ/SLAB_BACKING) */
    uint64_t excluded_bytes; /* live bytes of the IRQ and SLAB_BACKING rows */
};

struct snapshot {
    struct snap_header hdr;
    size_t n_modules, n_stacks, n_heap, n_fds, n_mmaps, n_corruptions, n_losses;
    struct snap_module *modules;
    struct snap_stack *stacks; /* sorted by id */
    struct snap_heap_entry *heap;
    struct snap_fd_entry *fds;
    struct snap_mmap_entry *mmaps;
    struct snap_corruption *corruptions;
    struct snap_loss *losses;
    char *path;    /* file it was read from */
    int has_reach; /* a reachability section was present */
    struct snap_reach_info reach;
    size_t n_reach;
    struct snap_reach_entry *reach_entries;
    size_t n_resources;
    struct snap_resource_entry *resources;
    int has_memory; /* a memory section was present */
    struct snap_mem_info mem;
    size_t n_mem, n_dmabufs;
    struct snap_mem_entry *mem_entries;
    struct snap_dmabuf *dmabufs;
    int has_kmem; /* a SNAP_SEC_KMEM section was present */
    struct snap_kmem_info kmem;
    size_t n_kstacks, n_kmem, n_kdmabufs;
    struct snap_kstack *kstacks; /* in file order */
    struct snap_kmem_row *kmem_rows;
    struct snap_kdmabuf *kdmabufs;
};

/* ---- reader ---- */

/*
 * Reads one snapshot file. On success returns 0 and *out (free with
 * snapshot_free). On failure returns -errno-like (-EINVAL corrupt, -ENOENT,
 * -EPROTO wrong version, -EIO truncated...) and writes one line naming what
 * is wrong into err (no trailing newline).
 */
int snapshot_read_file(const char *path, struct snapshot **out, char *err, size_t errlen);
int snapshot_read_mem(const void *data, size_t len, struct snapshot **out, char *err,
                      size_t errlen);
void snapshot_free(struct snapshot *snap);

/* Binary search by id; NULL if absent or id == SNAP_STACK_NONE. */
const struct snap_stack *snapshot_find_stack(const struct snapshot *snap, uint32_t id);
/* Value of a named loss counter, 0 if absent. */
uint64_t snapshot_loss(const struct snapshot *snap, const char *name);

/*
 * Lists the snapshot files (*.snap) in a directory sorted by series then seq.
 * Returns the count (>= 0) with *paths a heap array of heap strings (free
 * each and the array), or -errno with a message in err.
 */
int snapshot_list_dir(const char *dir, char ***paths, char *err, size_t errlen);

/* ---- writer ---- */

#define SNAP_WRITER_BUFSZ 65536

/* Streaming writer state. Lives in caller memory (static or mmap'd in the shim). */
struct snap_writer {
    int fd;
    int error;                /* first -errno seen; sticky: later calls are no-ops */
    int in_section;           /* a section is open */
    uint32_t pending_section; /* snap_open_section: begun at its first record, if any */
    uint32_t crc;             /* running CRC32 of every byte written */
    uint64_t offset;          /* bytes written so far (buffered included) */
    size_t used;              /* bytes in buf */
    uint64_t heap_live_bytes; /* sum of live_bytes of the heap records written */
    int dirfd;                /* the output directory, open while the file is written */
    const char *why;          /* after a policy refusal (-EPERM/-EEXIST): what was wrong */
    char tmp_name[320];
    char name[256];
    char final_path[SNAP_MAX_PATH];
    unsigned char buf[SNAP_WRITER_BUFSZ];
};

/*
 * Opens a fresh temporary for DIR/NAME (common/safefile.h: created
 * O_EXCL|O_NOFOLLOW, mode 0600, renamed onto NAME by commit; DIR is created
 * 0700 if missing and refused when it is not the caller's private directory,
 * unless dir_flags has SAFE_DIR_SHARED). Returns 0 or -errno, with w->why
 * set for a policy refusal. Never allocates.
 */
int snap_writer_open(struct snap_writer *w, const char *dir, const char *name);
/* Ends the open section and announces the next one: it is written only if a
 * record follows before the next section or the commit (no empty sections;
 * common/snapshot_produce.h). */
int snap_open_section(struct snap_writer *w, uint32_t type);
int snap_writer_open_flags(struct snap_writer *w, const char *dir, const char *name,
                           unsigned dir_flags);
int snap_write_header(struct snap_writer *w, const struct snap_header *hdr);

/* Sections are written in order: begin, N records, end. */
int snap_begin_section(struct snap_writer *w, uint32_t type);
int snap_end_section(struct snap_writer *w);
int snap_write_module(struct snap_writer *w, const struct snap_module *m);
int snap_write_stack(struct snap_writer *w, uint32_t id, const uint64_t *frames, uint32_t depth);
int snap_write_heap(struct snap_writer *w, const struct snap_heap_entry *e);
int snap_write_fd(struct snap_writer *w, const struct snap_fd_entry *e);
int snap_write_mmap(struct snap_writer *w, const struct snap_mmap_entry *e);
int snap_write_corruption(struct snap_writer *w, const struct snap_corruption *c);
/* `name`: a counter's name from losses.h (snap_loss_name); free-form in the
 * format, so fixtures may write names of their own. */
int snap_write_loss(struct snap_writer *w, const char *name, uint64_t value);
/* Inside SNAP_SEC_REACHABILITY: the info record first, then the entries. */
int snap_write_reach_info(struct snap_writer *w, const struct snap_reach_info *i);
int snap_write_reach(struct snap_writer *w, const struct snap_reach_entry *e);
/* Inside SNAP_SEC_RESOURCES. */
int snap_write_resource(struct snap_writer *w, const struct snap_resource_entry *e);

/* Inside SNAP_SEC_MEMORY: the info record first, then the entries. */
int snap_write_mem_info(struct snap_writer *w, const struct snap_mem_info *i);
int snap_write_mem(struct snap_writer *w, const struct snap_mem_entry *e);
int snap_write_dmabuf(struct snap_writer *w, const struct snap_dmabuf *d);
/* Inside SNAP_SEC_KMEM: info, kernel stacks, rows, dma-bufs (any order). */
int snap_write_kmem_info(struct snap_writer *w, const struct snap_kmem_info *i);
int snap_write_kstack(struct snap_writer *w, uint32_t id, const uint64_t *addrs,
                      const char *const *names, uint32_t depth);
int snap_write_kmem_row(struct snap_writer *w, const struct snap_kmem_row *e);
int snap_write_kdmabuf(struct snap_writer *w, const struct snap_kdmabuf *d);
/* The kernel stack of an id in a read snapshot, NULL if absent. */
const struct snap_kstack *snapshot_find_kstack(const struct snapshot *snap, uint32_t id);

/* Writes the end marker + checksum and renames DIR/NAME.tmp to DIR/NAME. */
int snap_writer_commit(struct snap_writer *w);
/* Removes the temporary file (after an error). */
void snap_writer_abort(struct snap_writer *w);

/* ---- helpers shared by the capture side ---- */

const char *snap_fd_kind_name(uint32_t kind);
const char *snap_fd_origin_name(uint32_t origin);
const char *snap_mmap_kind_name(uint32_t kind);
const char *snap_corruption_kind_name(uint32_t kind);
const char *snap_source_name(uint32_t source);
const char *snap_mode_name(uint32_t mode);
const char *snap_trigger_name(uint32_t trigger);
/* "definitely lost", "indirectly lost", "possibly lost", "still reachable". */
const char *snap_reach_class_name(uint32_t cls);
/* "heap_live", "allocator_retained", ... (docs/memory.md); "unknown" if out of range. */
const char *snap_mem_component_key(uint32_t component);
/* Classifies a readlink(/proc/PID/fd/N) target into enum snap_fd_kind. */
uint32_t snap_fd_kind_from_target(const char *target);

#endif
