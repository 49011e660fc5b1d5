/*
 * unwdump FILE: prints the compiled unwind table of an ELF file, one row a
 * line ("pc cfa off ra fp flags"), for the tests that compare it with
 * readelf's interpretation of the same call-frame information.
 */
#include "unwind_table.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *cfa_name(int k)
{
    static const char *names[] = {"none", "sp", "fp", "*sp", "*fp", "end", "unsupported"};
    return k >= 0 && k <= UNW_CFA_UNSUPPORTED ? names[k] : "?";
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: unwdump ELF-FILE\n");
        return 2;
    }
    struct unw_table t;
    int rc = unw_table_build_file(argv[1], &t);
    if (rc < 0) {
        fprintf(stderr, "unwdump: %s: %s\n", argv[1], strerror(-rc));
        return 1;
    }
    printf("# arch %d rows %u fdes %u cies %u bad %u unsupported %u\n", t.arch, t.n, t.fdes, t.cies,
           t.bad_entries, t.unsupported_rows);
    for (uint32_t i = 0; i < t.n; i++) {
        const struct unw_row *r = &t.rows[i];
        printf("%x %s %d", r->pc, cfa_name(r->cfa), r->cfa_off);
        if (r->flags & UNW_ROW_RA_IN_LR)
            printf(" lr");
        else
            printf(" %d", r->ra_off);
        if (r->flags & UNW_ROW_FP_SAVED)
            printf(" %d", r->fp_off);
        else
            printf(" u");
        printf("%s\n", (r->flags & UNW_ROW_SIGNAL) ? " signal" : "");
    }
    unw_table_free(&t);
    return 0;
}
