/*
 * Compiled unwind tables: a module's call-frame information (.eh_frame,
 * .debug_frame) turned into one sorted array of rows, "from this address on,
 * the caller's frame is found like this" — the idea of the OpenTelemetry
 * eBPF profiler's stack deltas. One table per module, built once; unwinding
 * a frame is then a binary search and two or three loads, in the shim (no
 * DWARF interpreter on the hot path) and in BPF (the tracer copies the rows
 * into a map).
 *
 * A row keeps only what a return-address unwind needs:
 *   - the CFA (the caller's stack pointer at the call): SP or FP plus an
 *     offset, optionally dereferenced (stack-realigning prologues, signal
 *     trampolines), or "end of stack" (the return address is undefined:
 *     _start, thread entry), or "none" (no CFI covers the address);
 *   - where the return address is saved (CFA + ra_off; on aarch64 possibly
 *     still in the link register);
 *   - where the caller's frame pointer is saved (CFA + fp_off), or that FP
 *     is unchanged.
 * Rules a row cannot express (a CFA in another register or a general DWARF
 * expression) are UNW_CFA_UNSUPPORTED: the unwinder falls back to the frame
 * pointer there. Rows are module-relative link-time addresses (runtime
 * address minus load bias), so a table is the same in every process that
 * maps the module.
 *
 * The builder never calls malloc (it runs inside the audited process): rows
 * live in anonymous mappings made with raw system calls; unw_table_free()
 * unmaps them. This header is plain C with no libc types so that BPF
 * programs include it for struct unw_row.
 */
#ifndef LEAKAUDIT_UNWIND_TABLE_H
#define LEAKAUDIT_UNWIND_TABLE_H

enum unw_arch { UNW_ARCH_X86_64 = 1, UNW_ARCH_AARCH64 = 2 };

enum unw_cfa {
    UNW_CFA_NONE = 0,        /* no CFI covers this address */
    UNW_CFA_SP = 1,          /* CFA = SP + cfa_off */
    UNW_CFA_FP = 2,          /* CFA = FP + cfa_off */
    UNW_CFA_DEREF_SP = 3,    /* CFA = *(SP + cfa_off) */
    UNW_CFA_DEREF_FP = 4,    /* CFA = *(FP + cfa_off) */
    UNW_CFA_END = 5,         /* outermost frame: the return address is undefined */
    UNW_CFA_UNSUPPORTED = 6, /* a rule no row can express */
};

#define UNW_ROW_FP_SAVED 0x1 /* the caller's FP is at CFA + fp_off, else FP is unchanged */
#define UNW_ROW_SIGNAL   0x2 /* a signal trampoline: the caller's registers are in a ucontext */
#define UNW_ROW_RA_IN_LR 0x4 /* aarch64: the return address is still in x30 */

struct unw_row {
    unsigned int pc; /* first address the row covers (module-relative) */
    int cfa_off;
    short ra_off;        /* return address at CFA + ra_off */
    short fp_off;        /* with UNW_ROW_FP_SAVED: caller's FP at CFA + fp_off */
    unsigned char cfa;   /* enum unw_cfa */
    unsigned char flags; /* UNW_ROW_* */
    unsigned short reserved;
};
_Static_assert(sizeof(struct unw_row) == 16, "struct unw_row is shared with BPF");

/* x86-64 signal frames: struct rt_sigframe starts with the return address
 * (restorer), then the ucontext; at the trampoline SP points at the ucontext
 * and its mcontext's general registers start 40 bytes in (uc_flags,
 * uc_link, uc_stack). */
#define UNW_X86_UC_GREGS 40
#define UNW_X86_UC_RBP   (UNW_X86_UC_GREGS + 10 * 8)
#define UNW_X86_UC_RSP   (UNW_X86_UC_GREGS + 15 * 8)
#define UNW_X86_UC_RIP   (UNW_X86_UC_GREGS + 16 * 8)

#ifndef __bpf__
#include <stddef.h>
#include <stdint.h>

/* Limits (docs/unwinding.md). */
#define UNW_MAX_ROWS       (1u << 24) /* per module: 256 MiB of rows */
#define UNW_MAX_STATE_PUSH 16         /* DW_CFA_remember_state nesting */

struct unw_table {
    struct unw_row *rows; /* sorted by pc; a row covers up to the next one */
    uint32_t n;
    int arch;
    size_t map_bytes; /* size of the mapping holding rows */
    /* What the builder met (tests, docs, `leakaudit unwind-table`). */
    uint32_t fdes, cies, bad_entries, unsupported_rows;
};

/* One section of call-frame information, as bytes in this process (mapped
 * from the file or read from the module's loaded image). */
struct unw_cfi_src {
    const uint8_t *data;    /* the section's bytes */
    size_t size;            /* 0: unknown, only with hdr (loaded .eh_frame) */
    uint64_t vaddr;         /* address of data[0] as the section's pointers see it */
    uint64_t pc_bias;       /* subtracted from every pc: rows become module-relative */
    int is_debug_frame;     /* .debug_frame layout (CIE id ~0, absolute pointers) */
    int arch;               /* enum unw_arch */
    const uint8_t *hdr;     /* optional .eh_frame_hdr (its sorted FDE table) */
    uint64_t hdr_vaddr;     /* address of hdr[0] as its pointers see it */
    uint64_t text_lo_vaddr; /* DW_EH_PE_textrel base (unused on x86-64/aarch64: 0) */
};

/* Builds t from src. Returns 0, -ENOMEM, or -EINVAL when the section is not
 * call-frame information at all (malformed entries are skipped and counted). */
int unw_table_build(const struct unw_cfi_src *src, struct unw_table *t);

/* Appends the rows of a second section (.debug_frame after .eh_frame) and
 * keeps the table sorted; for an address covered by both, the first wins. */
int unw_table_merge(struct unw_table *t, const struct unw_cfi_src *src);

void unw_table_free(struct unw_table *t);
/* unwind_rows.c: sorts t's rows by address, keeps one per address (a real
 * row over a "none" marker, the first real one) and merges identical
 * neighbours. Used by the builders; no allocation. */
void unw_rows_compact(struct unw_table *t);

/* The row covering module-relative pc, or NULL when the address is below
 * the first row. A row with cfa == UNW_CFA_NONE means "no CFI here". */
static inline const struct unw_row *unw_table_find(const struct unw_row *rows, uint32_t n,
                                                   uint32_t pc)
{
    if (n == 0 || pc < rows[0].pc)
        return NULL;
    uint32_t lo = 0, hi = n; /* rows[lo].pc <= pc < rows[hi].pc */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (rows[mid].pc <= pc)
            lo = mid;
        else
            hi = mid;
    }
    return &rows[lo];
}

/* A page index over sorted rows: for each 4 KiB page from rows[0]'s on, the
 * last row starting at or before the page's first byte, so a lookup
 * searches one page's rows instead of the whole table (a large library's
 * ~4*10^4 rows: 16 dependent loads, each a likely cache miss). */
struct unw_page_index {
    const uint32_t *row; /* [pages]; NULL: no index, the whole table is searched */
    uint32_t page0, pages;
};
/* Entries unw_page_index_fill writes for these rows (n > 0). */
uint32_t unw_page_index_pages(const struct unw_row *rows, uint32_t n);
/* Fills row[unw_page_index_pages()] (the caller's memory) and ix. */
void unw_page_index_fill(const struct unw_row *rows, uint32_t n, uint32_t *row,
                         struct unw_page_index *ix);

/* unw_table_find through the index: the same answer. */
static inline const struct unw_row *unw_table_find_indexed(const struct unw_row *rows, uint32_t n,
                                                           const struct unw_page_index *ix,
                                                           uint32_t pc)
{
    uint32_t p = (pc >> 12) - ix->page0;
    if (!ix->row || n == 0 || pc < rows[0].pc || p >= ix->pages)
        return unw_table_find(rows, n, pc);
    uint32_t lo = ix->row[p], hi = p + 1 < ix->pages ? ix->row[p + 1] + 1 : n;
    return unw_table_find(rows + lo, hi - lo, pc);
}

/* Builds the table of an ELF file on disk (.eh_frame, plus .debug_frame
 * where present; arch from its header). Returns 0, -ENOENT (no call-frame
 * information), -ENOEXEC (not a 64-bit little-endian x86-64/aarch64 ELF) or
 * another -errno. */
int unw_table_build_file(const char *path, struct unw_table *t);

/* The source for a module loaded in this process, from its PT_GNU_EH_FRAME
 * segment (runtime address) and load bias. */
int unw_src_from_loaded(const void *eh_frame_hdr, uint64_t load_bias, int arch,
                        struct unw_cfi_src *src);

/* Register state of one frame while unwinding. */
struct unw_regs {
    uint64_t pc; /* return address (or the exact pc after a signal frame) */
    uint64_t sp;
    uint64_t fp; /* rbp / x29 */
    uint64_t lr; /* aarch64: x30 when the walk starts in a signal context, else 0 */
    int exact;   /* pc is not a return address: look it up as is, not pc - 1 */
};

/* The address to look a frame's row up at: a return address may be one
 * past the end of its function (a call to a noreturn function). */
static inline uint64_t unw_lookup_pc(const struct unw_regs *r)
{
    return r->exact ? r->pc : r->pc - 1;
}

enum unw_step_result {
    UNW_STEP_OK = 1,    /* regs now describe the caller */
    UNW_STEP_END = 0,   /* the outermost frame: a clean end */
    UNW_STEP_FAIL = -1, /* a read failed or the rule cannot be followed */
};

/* One frame up with row r (NULL or UNW_CFA_NONE/UNSUPPORTED: frame-pointer
 * rule). read(ctx, addr, &v) loads 8 bytes and returns 0, or non-zero when
 * addr must not be read; inlined with a constant read function, this is the
 * whole unwinder of the shim. The new pc is not validated here: the caller
 * checks it lies in an executable mapping. */
static inline __attribute__((always_inline)) int
unw_step(int arch, const struct unw_row *r, struct unw_regs *regs,
         int (*read)(void *ctx, uint64_t addr, uint64_t *v), void *ctx)
{
    uint64_t cfa, ra, fp = regs->fp;
    int cfa_kind = r ? r->cfa : UNW_CFA_NONE;
    if (cfa_kind == UNW_CFA_END)
        return UNW_STEP_END;
    if (r && (r->flags & UNW_ROW_SIGNAL) && arch == UNW_ARCH_X86_64) {
        uint64_t uc = regs->sp, sp;
        if (read(ctx, uc + UNW_X86_UC_RIP, &ra) || read(ctx, uc + UNW_X86_UC_RSP, &sp) ||
            read(ctx, uc + UNW_X86_UC_RBP, &fp))
            return UNW_STEP_FAIL;
        regs->pc = ra;
        regs->sp = sp;
        regs->fp = fp;
        regs->exact = 1;
        return UNW_STEP_OK;
    }
    switch (cfa_kind) {
    case UNW_CFA_SP:
        cfa = regs->sp + (int64_t)r->cfa_off;
        break;
    case UNW_CFA_FP:
        cfa = regs->fp + (int64_t)r->cfa_off;
        break;
    case UNW_CFA_DEREF_SP:
        if (read(ctx, regs->sp + (int64_t)r->cfa_off, &cfa))
            return UNW_STEP_FAIL;
        break;
    case UNW_CFA_DEREF_FP:
        if (read(ctx, regs->fp + (int64_t)r->cfa_off, &cfa))
            return UNW_STEP_FAIL;
        break;
    default:
        /* No usable CFI: the frame-pointer chain, FP -> {saved FP, RA}. */
        if (regs->fp < regs->sp || (regs->fp & 7))
            return UNW_STEP_FAIL;
        if (read(ctx, regs->fp + 8, &ra) || read(ctx, regs->fp, &fp))
            return UNW_STEP_FAIL;
        regs->sp = regs->fp + 16;
        regs->pc = ra;
        regs->fp = fp;
        regs->exact = 0;
        return UNW_STEP_OK;
    }
    if (cfa <= regs->sp && !(cfa == regs->sp && (r->flags & UNW_ROW_RA_IN_LR)))
        return UNW_STEP_FAIL; /* the caller's frame lies above ours: never below */
    if (r->flags & UNW_ROW_RA_IN_LR) {
        /* Only a leaf has it there: known when the walk starts in one that a
         * signal interrupted (regs->lr), never at a call site. */
        if (!regs->lr)
            return UNW_STEP_FAIL;
        ra = regs->lr;
    } else if (read(ctx, cfa + (int64_t)r->ra_off, &ra)) {
        return UNW_STEP_FAIL;
    }
    if ((r->flags & UNW_ROW_FP_SAVED) && read(ctx, cfa + (int64_t)r->fp_off, &fp))
        return UNW_STEP_FAIL;
    if (arch == UNW_ARCH_AARCH64)
        ra &= 0x0000ffffffffffffull; /* pointer-authentication bits */
    regs->pc = ra;
    regs->sp = cfa;
    regs->fp = fp;
    regs->lr = 0; /* the caller's x30 is not known */
    regs->exact = 0;
    return UNW_STEP_OK;
}
#endif
#endif
