/*
 * Resource specs: which functions of a C API create, destroy, reference,
 * unreference or use a handle, and where the handle is (return value,
 * argument, or the pointer an argument points to). Parsed once by the shim
 * (allocshim/resources.c, LEAKAUDIT_TRACK_RESOURCES) and by the tracer
 * (tracer/resources.c, --track-resource), so both read the same language:
 *
 *   name=paddle;create=PD_PredictorCreate:ret;destroy=PD_PredictorDestroy:arg0
 *   name=gstbuf;ref=gst_mini_object_ref:arg0;unref=gst_mini_object_unref:arg0
 *   name=rknn;create=rknn_init:*arg0;destroy=rknn_destroy:arg0;use=rknn_run:arg0
 *   preset:ffmpeg   preset:glib   preset:gst   preset:turbojpeg   preset:pairs:LIB
 *
 * Specs are separated by '|' or newlines ('#' starts a comment line in a
 * spec file); fields by ';'; several functions of one role by ','. The full
 * grammar and the presets are in docs/resources.md.
 *
 * No allocation anywhere: the shim parses specs during early init into a
 * caller-provided struct res_spec_set.
 */
#ifndef LEAKAUDIT_RESSPEC_H
#define LEAKAUDIT_RESSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

#define RES_MAX_KINDS         32
#define RES_MAX_FUNCS         128
#define RES_MAX_FN_NAME       96
#define RES_MAX_EXCLUDES      10
#define RES_MAX_GLOB          48
#define RES_MAX_PATTERNS      4
#define RES_MAX_PATTERN_FUNCS 8
#define RES_MAX_PENDING       64
#define RES_MAX_ARG           5 /* arg0..arg5: the integer argument registers we forward */
#define RES_SPEC_FILE_MAX     (64 * 1024) /* a spec file (--track-file) */

enum res_role {
    RES_ROLE_CREATE = 1,  /* a new handle: outstanding until destroyed */
    RES_ROLE_DESTROY = 2, /* the handle is gone; a second destroy is reported */
    RES_ROLE_REF = 3,     /* one more reference on the object */
    RES_ROLE_UNREF = 4,   /* one reference less; the last one destroys a created object */
    RES_ROLE_USE = 5,     /* uses the handle: reported when it was destroyed */
};

enum res_loc {
    RES_LOC_RET = 1,       /* the return value */
    RES_LOC_ARG = 2,       /* argument N */
    RES_LOC_DEREF_ARG = 3, /* *(void **)argN: after the call for create/ref, before otherwise */
};

struct res_func {
    char name[RES_MAX_FN_NAME];
    uint8_t role; /* enum res_role */
    uint8_t loc;  /* enum res_loc */
    uint8_t arg;  /* N of argN */
    uint8_t pad;
    uint16_t kind; /* index into res_spec_set.kinds */
    uint16_t pad2;
};

struct res_kind {
    char name[SNAP_MAX_NAME];
    uint32_t flags; /* SNAP_RES_REFCOUNTED when it has ref/unref functions */
    uint32_t n_exclude;
    /* Calls made from modules whose basename matches one of these globs are
     * not tracked (a library's own internal pairs, e.g. libavcodec's). */
    char exclude[RES_MAX_EXCLUDES][RES_MAX_GLOB];
};

/* A generic pattern spec (name=*): expanded against a library's symbols. */
struct res_pattern {
    char lib[RES_MAX_GLOB]; /* basename glob of the library whose symbols are matched */
    uint32_t n_funcs;
    struct res_func funcs[RES_MAX_PATTERN_FUNCS]; /* names contain one '*' */
};

struct res_pending {
    char stem[SNAP_MAX_NAME];
    uint16_t pattern;
    uint8_t have_create, have_destroy;
};

struct res_spec_set {
    uint32_t n_kinds, n_funcs, n_patterns, n_pending;
    struct res_kind kinds[RES_MAX_KINDS];
    struct res_func funcs[RES_MAX_FUNCS];
    struct res_pattern patterns[RES_MAX_PATTERNS];
    struct res_pending pending[RES_MAX_PENDING];
};

/* Empties a set. */
void res_spec_init(struct res_spec_set *set);

/*
 * Parses specs (separated by '|' or newlines) into set, appending to what it
 * holds. Returns 0, or -EINVAL / -ENOSPC with one line in err naming the
 * spec and what is wrong.
 */
int res_spec_parse(struct res_spec_set *set, const char *text, char *err, size_t errlen);

/* The spec text of a built-in preset ("ffmpeg", ...), NULL if unknown. */
const char *res_spec_preset(const char *name);

/*
 * Generic pattern specs: offer every exported function name of a module
 * (module = its path or basename), then call res_spec_resolve_patterns once
 * to turn each stem that has both a create and a destroy function into a
 * kind of its own ("vendor" for vendor_create + vendor_destroy). Returns the
 * number of kinds added.
 */
void res_spec_offer_symbol(struct res_spec_set *set, const char *module, const char *symbol);
int res_spec_resolve_patterns(struct res_spec_set *set);

/* Index of a function by exact name, -1 if not tracked. */
int res_spec_find(const struct res_spec_set *set, const char *name);

/* True when calls from this module (path or basename) are excluded for kind. */
int res_spec_excluded(const struct res_spec_set *set, uint32_t kind, const char *module);

/* '*' wildcard match (no other metacharacters). */
int res_glob_match(const char *pattern, const char *s);

const char *res_role_name(uint32_t role);

#endif
