/*
 * The unwind-table builder (unwind_table.h): walks every FDE of an .eh_frame
 * or .debug_frame section, runs its CIE's and its own CFA instructions, and
 * emits one row each time the location advances, keeping only the CFA rule,
 * the return-address rule and the frame-pointer rule; a gap between two FDEs
 * gets a "none" row. Rows are then sorted and runs of identical rules merged
 * (unwind_rows.c).
 *
 * Runs inside the audited process: no malloc, no stdio. Memory comes from
 * anonymous mappings made with raw system calls (the shim interposes mmap).
 * Every read is bounds-checked against the section (or, for a loaded
 * .eh_frame of unknown size, against the entry's own length).
 */
#include "unwind_table.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* DWARF call-frame instructions (DWARF 5, section 6.4.2) */
enum {
    CFA_advance_loc = 0x40,
    CFA_offset = 0x80,
    CFA_restore = 0xc0,
    CFA_nop = 0x00,
    CFA_set_loc = 0x01,
    CFA_advance_loc1 = 0x02,
    CFA_advance_loc2 = 0x03,
    CFA_advance_loc4 = 0x04,
    CFA_offset_extended = 0x05,
    CFA_restore_extended = 0x06,
    CFA_undefined = 0x07,
    CFA_same_value = 0x08,
    CFA_register = 0x09,
    CFA_remember_state = 0x0a,
    CFA_restore_state = 0x0b,
    CFA_def_cfa = 0x0c,
    CFA_def_cfa_register = 0x0d,
    CFA_def_cfa_offset = 0x0e,
    CFA_def_cfa_expression = 0x0f,
    CFA_expression = 0x10,
    CFA_offset_extended_sf = 0x11,
    CFA_def_cfa_sf = 0x12,
    CFA_def_cfa_offset_sf = 0x13,
    CFA_val_offset = 0x14,
    CFA_val_offset_sf = 0x15,
    CFA_val_expression = 0x16,
    CFA_GNU_window_save = 0x2d, /* aarch64: DW_CFA_AARCH64_negate_ra_state */
    CFA_GNU_args_size = 0x2e,
    CFA_GNU_negative_offset_extended = 0x2f,
};

/* Pointer encodings (LSB / .eh_frame) */
enum {
    PE_absptr = 0x00,
    PE_uleb128 = 0x01,
    PE_udata2 = 0x02,
    PE_udata4 = 0x03,
    PE_udata8 = 0x04,
    PE_sleb128 = 0x09,
    PE_sdata2 = 0x0a,
    PE_sdata4 = 0x0b,
    PE_sdata8 = 0x0c,
    PE_pcrel = 0x10,
    PE_textrel = 0x20,
    PE_datarel = 0x30,
    PE_funcrel = 0x40,
    PE_aligned = 0x50,
    PE_indirect = 0x80,
    PE_omit = 0xff,
};

enum { OP_deref = 0x06, OP_breg0 = 0x70, OP_breg31 = 0x8f };

/* DWARF register numbers of the registers a row tracks. */
struct arch_regs {
    unsigned sp, fp;
};
static struct arch_regs arch_regs_of(int arch)
{
    if (arch == UNW_ARCH_AARCH64)
        return (struct arch_regs){.sp = 31, .fp = 29};
    return (struct arch_regs){.sp = 7, .fp = 6};
}

/* ------------------------------------------------------------------ reads */

struct cursor {
    const uint8_t *p, *end;
    int bad;
};

static uint64_t rd_u(struct cursor *c, unsigned n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    return v;
}

static uint64_t rd_uleb(struct cursor *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (c->bad || c->p >= c->end) {
            c->bad = 1;
            return 0;
        }
        uint8_t b = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80))
            return v;
    }
}

static int64_t rd_sleb(struct cursor *c)
{
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        if (c->bad || c->p >= c->end) {
            c->bad = 1;
            return 0;
        }
        b = *c->p++;
        if (shift < 64)
            v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40))
        v |= -((int64_t)1 << shift);
    return v;
}

struct bases {
    const uint8_t *data; /* section bytes */
    uint64_t vaddr;      /* address of data[0] */
    uint64_t text, dataaddr, func;
};

/* Reads an encoded pointer. Indirect pointers cannot be followed offline
 * (they only appear for personality routines, which rows never need). */
static uint64_t rd_ptr(struct cursor *c, uint8_t enc, const struct bases *b)
{
    if (enc == PE_omit)
        return 0;
    uint64_t at = b->vaddr + (uint64_t)(c->p - b->data);
    uint64_t v;
    switch (enc & 0x0f) {
    case PE_absptr:
    case PE_udata8:
    case PE_sdata8:
        v = rd_u(c, 8);
        break;
    case PE_uleb128:
        v = rd_uleb(c);
        break;
    case PE_udata2:
        v = rd_u(c, 2);
        break;
    case PE_sdata2:
        v = (uint64_t)(int64_t)(int16_t)rd_u(c, 2);
        break;
    case PE_udata4:
        v = rd_u(c, 4);
        break;
    case PE_sdata4:
        v = (uint64_t)(int64_t)(int32_t)rd_u(c, 4);
        break;
    case PE_sleb128:
        v = (uint64_t)rd_sleb(c);
        break;
    default:
        c->bad = 1;
        return 0;
    }
    switch (enc & 0x70) {
    case 0:
        break;
    case PE_pcrel:
        v += at;
        break;
    case PE_textrel:
        v += b->text;
        break;
    case PE_datarel:
        v += b->dataaddr;
        break;
    case PE_funcrel:
        v += b->func;
        break;
    default:
        c->bad = 1;
    }
    return v;
}

/* ------------------------------------------------------------ row buffer */

static void *raw_map(size_t bytes)
{
    long p =
        syscall(SYS_mmap, NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0 && p > -4096)
        return NULL;
    return (void *)p;
}

static void raw_unmap(void *p, size_t bytes)
{
    if (p)
        syscall(SYS_munmap, p, bytes);
}

static int rows_reserve(struct unw_table *t, uint32_t more)
{
    size_t need = ((size_t)t->n + more) * sizeof(struct unw_row);
    if ((size_t)t->n + more > UNW_MAX_ROWS)
        return -ENOMEM;
    if (need <= t->map_bytes)
        return 0;
    size_t bytes = t->map_bytes ? t->map_bytes * 2 : 64 * 1024;
    while (bytes < need)
        bytes *= 2;
    void *p;
    if (t->rows) {
        long r = syscall(SYS_mremap, t->rows, t->map_bytes, bytes, MREMAP_MAYMOVE);
        p = (r < 0 && r > -4096) ? NULL : (void *)r;
    } else {
        p = raw_map(bytes);
    }
    if (!p)
        return -ENOMEM;
    t->rows = p;
    t->map_bytes = bytes;
    return 0;
}

/* ------------------------------------------------------ CFA instructions */

enum rule_kind { R_UNSET = 0, R_OFFSET, R_OTHER, R_UNDEF };

struct reg_rule {
    uint8_t kind;
    int64_t off;
};

struct cfa_state {
    uint8_t cfa_kind; /* enum unw_cfa */
    unsigned cfa_reg;
    int64_t cfa_off;
    struct reg_rule ra, fp;
    int ra_signed; /* aarch64 pointer authentication toggled */
};

struct cie {
    uint64_t code_align;
    int64_t data_align;
    unsigned ra_reg;
    uint8_t fde_enc;
    int signal;
    int has_z;
    const uint8_t *insns, *insns_end;
};

struct run {
    const struct unw_cfi_src *src;
    struct unw_table *t;
    struct arch_regs regs;
    const struct cie *cie;
    struct cfa_state init; /* after the CIE's instructions (DW_CFA_restore) */
    uint32_t fde_first;    /* first row of the FDE being compiled */
};

static void set_rule(struct run *r, struct cfa_state *s, unsigned reg, uint8_t kind, int64_t off)
{
    if (reg == r->cie->ra_reg) {
        s->ra.kind = kind;
        s->ra.off = off;
    } else if (reg == r->regs.fp) {
        s->fp.kind = kind;
        s->fp.off = off;
    }
}

static void restore_rule(struct run *r, struct cfa_state *s, unsigned reg)
{
    if (reg == r->cie->ra_reg)
        s->ra = r->init.ra;
    else if (reg == r->regs.fp)
        s->fp = r->init.fp;
}

/* A CFA given as an expression: rows express "breg(SP|FP) off; deref". */
static void cfa_from_expr(struct run *r, struct cfa_state *s, const uint8_t *e, uint64_t len)
{
    struct cursor c = {e, e + len, 0};
    s->cfa_kind = UNW_CFA_UNSUPPORTED;
    if (len < 2 || *c.p < OP_breg0 || *c.p > OP_breg31)
        return;
    unsigned reg = *c.p++ - OP_breg0;
    int64_t off = rd_sleb(&c);
    if (c.bad || c.p >= c.end || *c.p != OP_deref || c.p + 1 != c.end)
        return;
    if (reg == r->regs.sp)
        s->cfa_kind = UNW_CFA_DEREF_SP;
    else if (reg == r->regs.fp)
        s->cfa_kind = UNW_CFA_DEREF_FP;
    else
        return;
    s->cfa_reg = reg;
    s->cfa_off = off;
}

static void cfa_from_reg(struct run *r, struct cfa_state *s)
{
    if (s->cfa_reg == r->regs.sp)
        s->cfa_kind = UNW_CFA_SP;
    else if (s->cfa_reg == r->regs.fp)
        s->cfa_kind = UNW_CFA_FP;
    else
        s->cfa_kind = UNW_CFA_UNSUPPORTED;
}

static int emit_row(struct run *r, uint64_t pc, const struct cfa_state *s)
{
    struct unw_table *t = r->t;
    uint64_t rel = pc - r->src->pc_bias;
    if (rel > UINT32_MAX)
        return 0; /* a module over 4 GiB: not representable, skip */
    struct unw_row row = {.pc = (uint32_t)rel};
    row.cfa = s->cfa_kind;
    if (s->ra.kind == R_UNDEF) {
        row.cfa = UNW_CFA_END;
    } else if (row.cfa != UNW_CFA_UNSUPPORTED && row.cfa != UNW_CFA_NONE) {
        if (s->cfa_off < INT32_MIN || s->cfa_off > INT32_MAX)
            row.cfa = UNW_CFA_UNSUPPORTED;
        row.cfa_off = (int32_t)s->cfa_off;
        if (s->ra.kind == R_OFFSET && s->ra.off >= INT16_MIN && s->ra.off <= INT16_MAX)
            row.ra_off = (int16_t)s->ra.off;
        else if (s->ra.kind == R_UNSET && t->arch == UNW_ARCH_AARCH64)
            row.flags |= UNW_ROW_RA_IN_LR;
        else if (s->ra.kind == R_UNSET && t->arch == UNW_ARCH_X86_64)
            row.ra_off = -8; /* the CIE sets it; a missing rule means the usual slot */
        else
            row.cfa = UNW_CFA_UNSUPPORTED;
        if (s->fp.kind == R_OFFSET) {
            if (s->fp.off >= INT16_MIN && s->fp.off <= INT16_MAX) {
                row.flags |= UNW_ROW_FP_SAVED;
                row.fp_off = (int16_t)s->fp.off;
            } else {
                row.cfa = UNW_CFA_UNSUPPORTED;
            }
        }
    }
    if (row.cfa == UNW_CFA_UNSUPPORTED) {
        row.cfa_off = 0;
        row.ra_off = 0;
        row.fp_off = 0;
        row.flags &= (unsigned char)~(UNW_ROW_FP_SAVED | UNW_ROW_RA_IN_LR);
        t->unsupported_rows++;
    }
    if (r->cie->signal)
        row.flags |= UNW_ROW_SIGNAL;
    if (t->n > 0) {
        struct unw_row *last = &t->rows[t->n - 1];
        if (last->pc == row.pc && t->n - 1 >= r->fde_first) { /* no advance: replace */
            *last = row;
            return 0;
        }
    }
    int rc = rows_reserve(t, 1);
    if (rc)
        return rc;
    t->rows[t->n++] = row;
    return 0;
}

/* A register-rule instruction: 0 done, 1 malformed, -1 not one of these. */
static int rule_insn(struct run *r, struct cursor *c, uint8_t op, struct cfa_state *s)
{
    const struct cie *cie = r->cie;
    uint64_t reg;
    int64_t off;
    switch (op) {
    case CFA_offset_extended:
        reg = rd_uleb(c);
        off = (int64_t)rd_uleb(c) * cie->data_align;
        set_rule(r, s, (unsigned)reg, R_OFFSET, off);
        return 0;
    case CFA_offset_extended_sf:
        reg = rd_uleb(c);
        off = rd_sleb(c) * cie->data_align;
        set_rule(r, s, (unsigned)reg, R_OFFSET, off);
        return 0;
    case CFA_GNU_negative_offset_extended:
        reg = rd_uleb(c);
        off = -(int64_t)rd_uleb(c) * cie->data_align;
        set_rule(r, s, (unsigned)reg, R_OFFSET, off);
        return 0;
    case CFA_restore_extended:
        restore_rule(r, s, (unsigned)rd_uleb(c));
        return 0;
    case CFA_undefined:
        set_rule(r, s, (unsigned)rd_uleb(c), R_UNDEF, 0);
        return 0;
    case CFA_same_value:
        set_rule(r, s, (unsigned)rd_uleb(c), R_UNSET, 0);
        return 0;
    case CFA_register:
        reg = rd_uleb(c);
        rd_uleb(c);
        set_rule(r, s, (unsigned)reg, R_OTHER, 0);
        return 0;
    case CFA_expression:
    case CFA_val_expression: {
        reg = rd_uleb(c);
        uint64_t len = rd_uleb(c);
        if (c->bad || len > (uint64_t)(c->end - c->p))
            return 1;
        c->p += len;
        set_rule(r, s, (unsigned)reg, R_OTHER, 0);
        return 0;
    }
    case CFA_val_offset:
        reg = rd_uleb(c);
        rd_uleb(c);
        set_rule(r, s, (unsigned)reg, R_OTHER, 0);
        return 0;
    case CFA_val_offset_sf:
        reg = rd_uleb(c);
        rd_sleb(c);
        set_rule(r, s, (unsigned)reg, R_OTHER, 0);
        return 0;
    case CFA_GNU_args_size:
        rd_uleb(c);
        return 0;
    default:
        return -1;
    }
}

/* A CFA-definition instruction: 0 done, 1 malformed, -1 not one of these. */
static int cfa_insn(struct run *r, struct cursor *c, uint8_t op, struct cfa_state *s)
{
    const struct cie *cie = r->cie;
    int64_t off;
    switch (op) {
    case CFA_def_cfa:
        s->cfa_reg = (unsigned)rd_uleb(c);
        s->cfa_off = (int64_t)rd_uleb(c);
        cfa_from_reg(r, s);
        return 0;
    case CFA_def_cfa_sf:
        s->cfa_reg = (unsigned)rd_uleb(c);
        s->cfa_off = rd_sleb(c) * cie->data_align;
        cfa_from_reg(r, s);
        return 0;
    case CFA_def_cfa_register:
        s->cfa_reg = (unsigned)rd_uleb(c);
        cfa_from_reg(r, s);
        return 0;
    case CFA_def_cfa_offset:
        /* only meaningful for a register rule (DWARF 6.4.2.2) */
        off = (int64_t)rd_uleb(c);
        if (s->cfa_kind != UNW_CFA_DEREF_SP && s->cfa_kind != UNW_CFA_DEREF_FP)
            s->cfa_off = off;
        return 0;
    case CFA_def_cfa_offset_sf:
        off = rd_sleb(c) * cie->data_align;
        if (s->cfa_kind != UNW_CFA_DEREF_SP && s->cfa_kind != UNW_CFA_DEREF_FP)
            s->cfa_off = off;
        return 0;
    case CFA_def_cfa_expression: {
        uint64_t len = rd_uleb(c);
        if (c->bad || len > (uint64_t)(c->end - c->p))
            return 1;
        cfa_from_expr(r, s, c->p, len);
        c->p += len;
        return 0;
    }
    default:
        return -1;
    }
}

/* Runs instructions [p, end) from state s; with emit, records rows for
 * [loc, end_pc). Returns 0, -ENOMEM, or 1 when the program is malformed. */
static int run_insns(struct run *r, const uint8_t *p, const uint8_t *end, struct cfa_state *s,
                     uint64_t loc, uint64_t end_pc, int emit, const struct bases *b)
{
    struct cfa_state stack[UNW_MAX_STATE_PUSH];
    unsigned depth = 0;
    struct cursor c = {p, end, 0};
    const struct cie *cie = r->cie;
    int rc;
    while (c.p < c.end && !c.bad) {
        uint8_t op = *c.p++;
        uint64_t adv = 0;
        int64_t off;
        switch (op & 0xc0) {
        case CFA_advance_loc:
            adv = (op & 0x3f) * cie->code_align;
            goto advance;
        case CFA_offset:
            off = (int64_t)rd_uleb(&c) * cie->data_align;
            set_rule(r, s, op & 0x3f, R_OFFSET, off);
            continue;
        case CFA_restore:
            restore_rule(r, s, op & 0x3f);
            continue;
        }
        switch (op) {
        case CFA_nop:
            continue;
        case CFA_set_loc: {
            uint64_t to = rd_ptr(&c, cie->fde_enc, b);
            if (to < loc)
                return 1;
            adv = to - loc;
            goto advance;
        }
        case CFA_advance_loc1:
            adv = rd_u(&c, 1) * cie->code_align;
            goto advance;
        case CFA_advance_loc2:
            adv = rd_u(&c, 2) * cie->code_align;
            goto advance;
        case CFA_advance_loc4:
            adv = rd_u(&c, 4) * cie->code_align;
            goto advance;
        case CFA_remember_state:
            if (depth >= UNW_MAX_STATE_PUSH)
                return 1;
            stack[depth++] = *s;
            continue;
        case CFA_restore_state:
            if (depth == 0)
                return 1;
            *s = stack[--depth];
            continue;
        case CFA_GNU_window_save:
            /* aarch64: the return address is signed from here; the unwinder
             * strips the authentication bits whatever this says. */
            s->ra_signed ^= 1;
            continue;
        default:
            rc = rule_insn(r, &c, op, s);
            if (rc < 0)
                rc = cfa_insn(r, &c, op, s);
            if (rc) /* malformed, or an instruction we do not know: the FDE is skipped */
                return 1;
            continue;
        }
    advance:
        if (c.bad)
            return 1;
        if (emit && adv) {
            if ((rc = emit_row(r, loc, s)))
                return rc;
        }
        loc += adv;
        if (emit && loc >= end_pc)
            return 0;
    }
    if (c.bad)
        return 1;
    if (emit && loc < end_pc && (rc = emit_row(r, loc, s)))
        return rc;
    return 0;
}

/* ------------------------------------------------------ CIEs and FDEs */

/* Reads an entry's length; returns the end of the entry or NULL. */
static const uint8_t *entry_bounds(struct cursor *c, const uint8_t *limit, int *is64)
{
    uint64_t len = rd_u(c, 4);
    *is64 = 0;
    if (len == 0xffffffffu) {
        len = rd_u(c, 8);
        *is64 = 1;
    }
    if (c->bad || len == 0 || len > (uint64_t)(limit - c->p))
        return NULL;
    return c->p + len;
}

static int parse_cie(const struct unw_cfi_src *src, const uint8_t *at, const uint8_t *limit,
                     struct cie *out, const struct bases *b)
{
    struct cursor c = {at, limit, 0};
    int is64;
    const uint8_t *end = entry_bounds(&c, limit, &is64);
    if (!end)
        return -1;
    c.end = end;
    uint64_t id = rd_u(&c, is64 ? 8 : 4);
    uint64_t want = src->is_debug_frame ? (is64 ? UINT64_MAX : 0xffffffffu) : 0;
    if (id != want)
        return -1;
    memset(out, 0, sizeof(*out));
    out->fde_enc = PE_absptr;
    uint8_t version = (uint8_t)rd_u(&c, 1);
    if (version != 1 && version != 3 && version != 4)
        return -1;
    const char *aug = (const char *)c.p;
    size_t aug_len = strnlen(aug, (size_t)(c.end - c.p));
    if (aug_len == (size_t)(c.end - c.p))
        return -1;
    c.p += aug_len + 1;
    if (aug[0] == 'e' && aug[1] == 'h') /* ancient GCC: an eh pointer follows */
        rd_u(&c, 8);
    if (version == 4) {
        uint8_t asz = (uint8_t)rd_u(&c, 1);
        rd_u(&c, 1); /* segment selector size */
        if (asz != 8)
            return -1;
    }
    out->code_align = rd_uleb(&c);
    out->data_align = rd_sleb(&c);
    out->ra_reg = version == 1 ? (unsigned)rd_u(&c, 1) : (unsigned)rd_uleb(&c);
    const uint8_t *aug_end = NULL;
    for (size_t i = 0; i < aug_len && !c.bad; i++) {
        switch (aug[i]) {
        case 'z': {
            uint64_t n = rd_uleb(&c);
            if (c.bad || n > (uint64_t)(c.end - c.p))
                return -1;
            aug_end = c.p + n;
            out->has_z = 1;
            break;
        }
        case 'R':
            out->fde_enc = (uint8_t)rd_u(&c, 1);
            break;
        case 'L':
            rd_u(&c, 1);
            break;
        case 'P': {
            uint8_t enc = (uint8_t)rd_u(&c, 1);
            rd_ptr(&c, enc & 0x7f, b);
            break;
        }
        case 'S':
            out->signal = 1;
            break;
        case 'B': /* aarch64 BTI / key B: no data */
        case 'G': /* memory tagging */
            break;
        case 'e':
        case 'h':
            break;
        default:
            if (!aug_end)
                return -1; /* unknown augmentation without a length to skip it */
            i = aug_len;
        }
    }
    if (aug_end)
        c.p = aug_end;
    if (c.bad || c.p > c.end)
        return -1;
    out->insns = c.p;
    out->insns_end = c.end;
    return 0;
}

/* One FDE at `at`; *next receives the entry after it. Returns 0 (rows
 * emitted or entry skipped), -ENOMEM, or 1 for a CIE / terminator. */
static int do_entry(struct run *r, const uint8_t *at, const uint8_t *limit, const uint8_t **next,
                    const struct bases *base_in)
{
    const struct unw_cfi_src *src = r->src;
    struct unw_table *t = r->t;
    struct cursor c = {at, limit, 0};
    int is64;
    if (limit - at >= 4 && at[0] == 0 && at[1] == 0 && at[2] == 0 && at[3] == 0) {
        *next = NULL; /* the .eh_frame terminator */
        return 1;
    }
    const uint8_t *end = entry_bounds(&c, limit, &is64);
    if (!end) {
        *next = NULL;
        t->bad_entries++;
        return 1;
    }
    *next = end;
    c.end = end;
    const uint8_t *id_at = c.p;
    uint64_t id = rd_u(&c, is64 ? 8 : 4);
    const uint8_t *cie_at;
    if (src->is_debug_frame) {
        if (id == (is64 ? UINT64_MAX : 0xffffffffu)) {
            t->cies++;
            return 1;
        }
        if (id >= src->size)
            goto bad;
        cie_at = src->data + id;
    } else {
        if (id == 0) {
            t->cies++;
            return 1;
        }
        if (id > (uint64_t)(id_at - src->data))
            goto bad;
        cie_at = id_at - id;
    }
    struct cie cie;
    /* A CIE lies before its FDE in .eh_frame; its own length bounds it. */
    const uint8_t *cie_limit = src->size ? src->data + src->size : end;
    if (parse_cie(src, cie_at, cie_limit, &cie, base_in))
        goto bad;
    struct bases b = *base_in;
    uint8_t enc = src->is_debug_frame ? PE_absptr : cie.fde_enc;
    uint64_t pc = rd_ptr(&c, enc, &b);
    uint64_t range = rd_ptr(&c, enc & 0x0f, &b);
    if (cie.has_z) {
        uint64_t n = rd_uleb(&c);
        if (c.bad || n > (uint64_t)(c.end - c.p))
            goto bad;
        c.p += n;
    }
    if (c.bad)
        goto bad;
    if (range == 0 || pc < src->pc_bias)
        return 0; /* empty or discarded (linker-zeroed) FDE */
    b.func = pc;
    r->cie = &cie;
    struct cfa_state s = {.cfa_kind = UNW_CFA_UNSUPPORTED};
    if (run_insns(r, cie.insns, cie.insns_end, &s, pc, pc, 0, &b) != 0)
        goto bad;
    r->init = s;
    uint32_t first = t->n;
    r->fde_first = first;
    int rc = run_insns(r, c.p, c.end, &s, pc, pc + range, 1, &b);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        t->n = first; /* drop what this FDE emitted */
        goto bad;
    }
    if (t->n == first && (rc = emit_row(r, pc, &s)))
        return rc;
    /* The end of the FDE: "no CFI" until the next FDE says otherwise. */
    struct cfa_state none = {.cfa_kind = UNW_CFA_NONE};
    struct cie plain = cie;
    plain.signal = 0;
    r->cie = &plain;
    if ((rc = emit_row(r, pc + range, &none)))
        return rc;
    t->fdes++;
    return 0;
bad:
    t->bad_entries++;
    return 0;
}

/* ------------------------------------------------------------- builds */

static int build_rows(const struct unw_cfi_src *src, struct unw_table *t)
{
    struct run r = {.src = src, .t = t, .regs = arch_regs_of(src->arch)};
    struct bases b = {.data = src->data, .vaddr = src->vaddr, .text = src->text_lo_vaddr};
    const uint8_t *limit = src->size ? src->data + src->size : NULL;
    int rc;
    if (src->hdr && !src->is_debug_frame) {
        /* .eh_frame_hdr: version, eh_frame_ptr enc, fde_count enc, table enc */
        const uint8_t *h = src->hdr;
        if (h[0] != 1)
            return -EINVAL;
        struct bases hb = {.data = h, .vaddr = src->hdr_vaddr, .dataaddr = src->hdr_vaddr};
        struct cursor c = {h + 4, h + 4 + 16, 0};
        rd_ptr(&c, h[1], &hb);
        uint64_t count = rd_ptr(&c, h[2], &hb);
        if (c.bad || h[3] != (PE_datarel | PE_sdata4) || count > UNW_MAX_ROWS)
            return -EINVAL;
        const uint8_t *tab = c.p;
        for (uint64_t i = 0; i < count; i++) {
            int32_t fde_rel;
            memcpy(&fde_rel, tab + i * 8 + 4, 4);
            uint64_t fde = src->hdr_vaddr + (uint64_t)(int64_t)fde_rel;
            if (fde < src->vaddr || (src->size && fde - src->vaddr >= src->size)) {
                t->bad_entries++;
                continue;
            }
            const uint8_t *at = src->data + (fde - src->vaddr);
            /* A loaded .eh_frame of unknown size: the entry's length bounds
             * it (an FDE is never near 4 GiB: cap the window). */
            const uint8_t *lim = limit ? limit : at + 0x10000000u;
            const uint8_t *next;
            if ((rc = do_entry(&r, at, lim, &next, &b)) < 0)
                return rc;
        }
        return 0;
    }
    if (!limit)
        return -EINVAL;
    const uint8_t *at = src->data;
    while (at && at < limit) {
        const uint8_t *next;
        if ((rc = do_entry(&r, at, limit, &next, &b)) < 0)
            return rc;
        at = next;
    }
    return 0;
}

int unw_table_build(const struct unw_cfi_src *src, struct unw_table *t)
{
    memset(t, 0, sizeof(*t));
    t->arch = src->arch;
    if (!src->data || (src->arch != UNW_ARCH_X86_64 && src->arch != UNW_ARCH_AARCH64))
        return -EINVAL;
    int rc = build_rows(src, t);
    if (rc < 0) {
        unw_table_free(t);
        t->arch = src->arch;
        return rc;
    }
    unw_rows_compact(t);
    return 0;
}

int unw_table_merge(struct unw_table *t, const struct unw_cfi_src *src)
{
    struct unw_table more;
    int rc = unw_table_build(src, &more);
    if (rc < 0)
        return rc;
    /* Rows of the second table only where the first has no CFI: keep the
     * first table's rows and add the others' as long as they fall into a
     * "none" stretch (or outside) of the first. */
    uint32_t base_n = t->n;
    for (uint32_t i = 0; i < more.n; i++) {
        const struct unw_row *have = unw_table_find(t->rows, base_n, more.rows[i].pc);
        if (have && have->cfa != UNW_CFA_NONE)
            continue;
        if ((rc = rows_reserve(t, 1)) < 0)
            break;
        t->rows[t->n++] = more.rows[i];
    }
    t->fdes += more.fdes;
    t->cies += more.cies;
    t->bad_entries += more.bad_entries;
    t->unsupported_rows += more.unsupported_rows;
    unw_table_free(&more);
    unw_rows_compact(t);
    return rc < 0 ? rc : 0;
}

uint32_t unw_page_index_pages(const struct unw_row *rows, uint32_t n)
{
    return (rows[n - 1].pc >> 12) - (rows[0].pc >> 12) + 1;
}

void unw_page_index_fill(const struct unw_row *rows, uint32_t n, uint32_t *row,
                         struct unw_page_index *ix)
{
    uint32_t p0 = rows[0].pc >> 12, pages = unw_page_index_pages(rows, n);
    for (uint32_t i = 0, j = 0; i < pages; i++) {
        uint32_t start = (p0 + i) << 12;
        while (j + 1 < n && rows[j + 1].pc <= start)
            j++;
        row[i] = j;
    }
    ix->page0 = p0;
    ix->pages = pages;
    ix->row = row;
}

void unw_table_free(struct unw_table *t)
{
    raw_unmap(t->rows, t->map_bytes);
    memset(t, 0, sizeof(*t));
}
