/*
 * The resource spec parser (resspec.h) and the built-in presets. Hand-written
 * scanning over the caller's string, fixed-size output, no allocation and no
 * stdio: it runs inside the audited process during the shim's early init.
 */
#include "resspec.h"
#include "util.h"

#include <errno.h>
#include <string.h>

/* Calls from inside FFmpeg's own libraries pair up where we cannot see all
 * of them (internal calls skip the PLT); only the program's calls count. */
#define FFMPEG_EXCLUDE                                                                             \
    "exclude=libavcodec*,libavformat*,libavfilter*,libavdevice*,libavutil*,libswscale*,"           \
    "libswresample*,libpostproc*"

static const struct {
    const char *name;
    const char *text;
} presets[] = {
    {"ffmpeg",
     "name=avframe;create=av_frame_alloc:ret,av_frame_clone:ret;destroy=av_frame_free:*arg0;"
     "use=av_frame_get_buffer:arg0,av_frame_ref:arg0,av_frame_unref:arg0;" FFMPEG_EXCLUDE "|"
     "name=avpacket;create=av_packet_alloc:ret,av_packet_clone:ret;destroy=av_packet_free:*arg0;"
     "use=av_packet_ref:arg0,av_packet_unref:arg0;" FFMPEG_EXCLUDE "|"
     "name=avbuffer;create=av_buffer_alloc:ret,av_buffer_allocz:ret,av_buffer_ref:ret,"
     "av_buffer_create:ret;destroy=av_buffer_unref:*arg0;"
     "use=av_buffer_is_writable:arg0,av_buffer_get_ref_count:arg0;" FFMPEG_EXCLUDE "|"
     "name=avcodecctx;create=avcodec_alloc_context3:ret;destroy=avcodec_free_context:*arg0;"
     "use=avcodec_open2:arg0,avcodec_send_packet:arg0,avcodec_receive_frame:arg0;" FFMPEG_EXCLUDE},
    {"glib", "name=gobject;ref=g_object_ref:arg0,g_object_ref_sink:arg0;unref=g_object_unref:arg0;"
             "exclude=libgobject-2.0*,libglib-2.0*,libgio-2.0*,libgst*"},
    {"gst", "name=gstminiobject;ref=gst_mini_object_ref:arg0;unref=gst_mini_object_unref:arg0;"
            "exclude=libgst*|"
            "name=gstobject;ref=gst_object_ref:arg0;unref=gst_object_unref:arg0;exclude=libgst*"},
    {"turbojpeg",
     "name=tjhandle;create=tjInitCompress:ret,tjInitDecompress:ret,tjInitTransform:ret,tj3Init:ret;"
     "destroy=tjDestroy:arg0,tj3Destroy:arg0;use=tjCompress2:arg0,tjDecompress2:arg0,"
     "tjDecompressHeader3:arg0,tj3Compress8:arg0,tj3Decompress8:arg0;exclude=libturbojpeg*"},
};

/* preset:pairs:LIB -- the generic create/destroy pattern against LIB. */
#define PAIRS_PREFIX "pairs:"
#define PAIRS_SPEC_HEAD                                                                            \
    "name=*;create=*_create:ret,*_new:ret,*_alloc:ret;"                                            \
    "destroy=*_destroy:arg0,*_free:arg0,*_delete:arg0;lib="

const char *res_spec_preset(const char *name)
{
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
        if (!strcmp(presets[i].name, name))
            return presets[i].text;
    return NULL;
}

const char *res_role_name(uint32_t role)
{
    switch (role) {
    case RES_ROLE_CREATE:
        return "create";
    case RES_ROLE_DESTROY:
        return "destroy";
    case RES_ROLE_REF:
        return "ref";
    case RES_ROLE_UNREF:
        return "unref";
    case RES_ROLE_USE:
        return "use";
    default:
        return "?";
    }
}

void res_spec_init(struct res_spec_set *set)
{
    memset(set, 0, sizeof(*set));
}

int res_glob_match(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static const char *basename_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

int res_spec_find(const struct res_spec_set *set, const char *name)
{
    for (uint32_t i = 0; i < set->n_funcs; i++)
        if (!strcmp(set->funcs[i].name, name))
            return (int)i;
    return -1;
}

int res_spec_excluded(const struct res_spec_set *set, uint32_t kind, const char *module)
{
    if (kind >= set->n_kinds || !module)
        return 0;
    const struct res_kind *k = &set->kinds[kind];
    const char *base = basename_of(module);
    for (uint32_t i = 0; i < k->n_exclude; i++)
        if (res_glob_match(k->exclude[i], base))
            return 1;
    return 0;
}

/* ---- error messages without stdio ---- */

struct errbuf {
    char *buf;
    size_t cap, len;
};

static void err_add(struct errbuf *e, const char *s)
{
    if (!e->buf || !e->cap || e->len + 1 >= e->cap)
        return;
    e->len += util_strlcpy(e->buf + e->len, s, e->cap - e->len);
    if (e->len >= e->cap)
        e->len = e->cap - 1;
}

static void err_addn(struct errbuf *e, const char *s, size_t n)
{
    char tmp[128];
    if (n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    err_add(e, tmp);
}

static int fail(struct errbuf *e, unsigned spec_no, const char *what, const char *item,
                size_t item_len, int rc)
{
    char num[24];
    util_u64_to_dec(spec_no, num, sizeof(num));
    e->len = 0;
    if (e->buf && e->cap)
        e->buf[0] = '\0';
    err_add(e, "spec ");
    err_add(e, num);
    err_add(e, ": ");
    err_add(e, what);
    if (item) {
        err_add(e, " '");
        err_addn(e, item, item_len);
        err_add(e, "'");
    }
    return rc;
}

/* ---- parsing one spec ---- */

struct span {
    const char *p;
    size_t n;
};

static int span_eq(struct span s, const char *lit)
{
    return strlen(lit) == s.n && !memcmp(s.p, lit, s.n);
}

static struct span trim(struct span s)
{
    while (s.n && (*s.p == ' ' || *s.p == '\t' || *s.p == '\r')) {
        s.p++;
        s.n--;
    }
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

/* Splits off the next piece of *rest at sep (the piece may be empty). */
static struct span next_piece(struct span *rest, char sep)
{
    struct span piece = {rest->p, 0};
    while (piece.n < rest->n && rest->p[piece.n] != sep)
        piece.n++;
    size_t used = piece.n < rest->n ? piece.n + 1 : piece.n;
    rest->p += used;
    rest->n -= used;
    return trim(piece);
}

static int role_of(struct span key)
{
    static const char *const names[] = {"create", "destroy", "ref", "unref", "use"};
    for (int i = 0; i < 5; i++)
        if (span_eq(key, names[i]))
            return i + RES_ROLE_CREATE;
    return 0;
}

/* "ret", "argN", "*argN" */
static int parse_loc(struct span s, struct res_func *f)
{
    if (span_eq(s, "ret")) {
        f->loc = RES_LOC_RET;
        f->arg = 0;
        return 0;
    }
    f->loc = RES_LOC_ARG;
    if (s.n && *s.p == '*') {
        f->loc = RES_LOC_DEREF_ARG;
        s.p++;
        s.n--;
    }
    if (s.n != 4 || memcmp(s.p, "arg", 3) || s.p[3] < '0' || s.p[3] > '0' + RES_MAX_ARG)
        return -EINVAL;
    f->arg = (uint8_t)(s.p[3] - '0');
    return 0;
}

static int valid_symbol(struct span s, int allow_star)
{
    if (!s.n || s.n >= RES_MAX_FN_NAME)
        return 0;
    int stars = 0;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (c == '*' && allow_star) {
            stars++;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '@' || c == '$'))
            return 0;
    }
    return allow_star ? stars == 1 : 1;
}

/* One spec in scratch form, committed to the set only when it is all valid. */
struct draft {
    char name[SNAP_MAX_NAME];
    char lib[RES_MAX_GLOB];
    int pattern;
    uint32_t n_funcs, n_exclude;
    struct res_func funcs[RES_MAX_FUNCS];
    char exclude[RES_MAX_EXCLUDES][RES_MAX_GLOB];
};

static int parse_functions(struct draft *d, int role, struct span list, struct errbuf *e,
                           unsigned no)
{
    struct span rest = list;
    while (rest.n) {
        struct span item = next_piece(&rest, ',');
        if (!item.n)
            continue;
        struct span fn = item, where = {NULL, 0};
        for (size_t i = 0; i < item.n; i++)
            if (item.p[i] == ':') {
                fn = trim((struct span){item.p, i});
                where = trim((struct span){item.p + i + 1, item.n - i - 1});
                break;
            }
        if (!where.p)
            return fail(e, no, "function without :ret, :argN or :*argN", item.p, item.n, -EINVAL);
        if (!valid_symbol(fn, d->pattern))
            return fail(e, no,
                        d->pattern ? "bad function pattern (needs exactly one '*')"
                                   : "bad function name",
                        fn.p, fn.n, -EINVAL);
        if (d->n_funcs == RES_MAX_FUNCS)
            return fail(e, no, "too many functions", NULL, 0, -ENOSPC);
        struct res_func *f = &d->funcs[d->n_funcs];
        memset(f, 0, sizeof(*f));
        if (parse_loc(where, f) < 0)
            return fail(e, no, "bad handle location (ret, arg0-arg5 or *arg0-*arg5)", where.p,
                        where.n, -EINVAL);
        if (f->loc == RES_LOC_RET && role != RES_ROLE_CREATE && role != RES_ROLE_REF)
            return fail(e, no, "only create and ref can take the handle from :ret", item.p, item.n,
                        -EINVAL);
        memcpy(f->name, fn.p, fn.n);
        f->name[fn.n] = '\0';
        f->role = (uint8_t)role;
        d->n_funcs++;
    }
    return 0;
}

static int parse_spec(struct draft *d, struct span spec, struct errbuf *e, unsigned no)
{
    memset(d, 0, offsetof(struct draft, funcs));
    d->n_funcs = 0;
    struct span rest = spec;
    /* name first, so the function parser knows whether '*' is allowed */
    for (struct span r = spec; r.n;) {
        struct span field = next_piece(&r, ';');
        struct span key = field, val = {NULL, 0};
        for (size_t i = 0; i < field.n; i++)
            if (field.p[i] == '=') {
                key = trim((struct span){field.p, i});
                val = trim((struct span){field.p + i + 1, field.n - i - 1});
                break;
            }
        if (span_eq(key, "name") && val.p) {
            if (!val.n || val.n >= SNAP_MAX_NAME)
                return fail(e, no, "name must be 1-63 characters", val.p, val.n, -EINVAL);
            memcpy(d->name, val.p, val.n);
            d->name[val.n] = '\0';
            d->pattern = span_eq(val, "*");
        }
    }
    if (!d->name[0])
        return fail(e, no, "missing name=", spec.p, spec.n, -EINVAL);
    while (rest.n) {
        struct span field = next_piece(&rest, ';');
        if (!field.n)
            continue;
        struct span key = field, val = {NULL, 0};
        for (size_t i = 0; i < field.n; i++)
            if (field.p[i] == '=') {
                key = trim((struct span){field.p, i});
                val = trim((struct span){field.p + i + 1, field.n - i - 1});
                break;
            }
        if (!val.p)
            return fail(e, no, "field without '='", field.p, field.n, -EINVAL);
        int role = role_of(key);
        int rc = 0;
        if (span_eq(key, "name")) {
            continue;
        } else if (role) {
            rc = parse_functions(d, role, val, e, no);
        } else if (span_eq(key, "exclude")) {
            for (struct span r = val; r.n;) {
                struct span g = next_piece(&r, ',');
                if (!g.n)
                    continue;
                if (d->n_exclude == RES_MAX_EXCLUDES || g.n >= RES_MAX_GLOB)
                    return fail(e, no, "too many or too long exclude globs", g.p, g.n, -ENOSPC);
                memcpy(d->exclude[d->n_exclude], g.p, g.n);
                d->exclude[d->n_exclude++][g.n] = '\0';
            }
        } else if (span_eq(key, "lib")) {
            if (!val.n || val.n >= RES_MAX_GLOB)
                return fail(e, no, "bad lib=", val.p, val.n, -EINVAL);
            memcpy(d->lib, val.p, val.n);
            d->lib[val.n] = '\0';
        } else {
            return fail(e, no,
                        "unknown field (name, create, destroy, ref, unref, use, exclude, lib)",
                        key.p, key.n, -EINVAL);
        }
        if (rc)
            return rc;
    }
    if (!d->n_funcs)
        return fail(e, no, "no functions (create=, destroy=, ref=, unref=, use=)", NULL, 0,
                    -EINVAL);
    int have[RES_ROLE_USE + 1] = {0};
    for (uint32_t i = 0; i < d->n_funcs; i++)
        have[d->funcs[i].role]++;
    if (!have[RES_ROLE_CREATE] && !have[RES_ROLE_REF])
        return fail(e, no, "needs create= or ref= (nothing would make a handle outstanding)",
                    d->name, strlen(d->name), -EINVAL);
    if (d->pattern && !d->lib[0])
        return fail(e, no, "name=* (a pattern spec) needs lib=", NULL, 0, -EINVAL);
    if (!d->pattern && d->lib[0])
        return fail(e, no, "lib= is only for pattern specs (name=*)", NULL, 0, -EINVAL);
    return 0;
}

static int commit_kind(struct res_spec_set *set, const char *name, const struct res_func *funcs,
                       uint32_t n_funcs, char exclude[][RES_MAX_GLOB], uint32_t n_exclude,
                       struct errbuf *e, unsigned no)
{
    for (uint32_t i = 0; i < set->n_kinds; i++)
        if (!strcmp(set->kinds[i].name, name))
            return fail(e, no, "resource name used twice", name, strlen(name), -EINVAL);
    if (set->n_kinds == RES_MAX_KINDS)
        return fail(e, no, "too many resource kinds", NULL, 0, -ENOSPC);
    if (set->n_funcs + n_funcs > RES_MAX_FUNCS)
        return fail(e, no, "too many tracked functions in total", NULL, 0, -ENOSPC);
    for (uint32_t i = 0; i < n_funcs; i++) {
        int j = res_spec_find(set, funcs[i].name);
        for (uint32_t k = 0; j < 0 && k < i; k++)
            if (!strcmp(funcs[k].name, funcs[i].name))
                j = (int)k;
        if (j >= 0)
            return fail(e, no, "function tracked twice", funcs[i].name, strlen(funcs[i].name),
                        -EINVAL);
    }
    uint16_t kidx = (uint16_t)set->n_kinds;
    struct res_kind *k = &set->kinds[set->n_kinds++];
    memset(k, 0, sizeof(*k));
    util_strlcpy(k->name, name, sizeof(k->name));
    for (uint32_t i = 0; i < n_exclude; i++)
        util_strlcpy(k->exclude[i], exclude[i], RES_MAX_GLOB);
    k->n_exclude = n_exclude;
    for (uint32_t i = 0; i < n_funcs; i++) {
        struct res_func *f = &set->funcs[set->n_funcs++];
        *f = funcs[i];
        f->kind = kidx;
        if (f->role == RES_ROLE_REF || f->role == RES_ROLE_UNREF)
            k->flags |= SNAP_RES_REFCOUNTED;
    }
    return 0;
}

static int commit_pattern(struct res_spec_set *set, const struct draft *d, struct errbuf *e,
                          unsigned no)
{
    if (set->n_patterns == RES_MAX_PATTERNS)
        return fail(e, no, "too many pattern specs", NULL, 0, -ENOSPC);
    if (d->n_funcs > RES_MAX_PATTERN_FUNCS)
        return fail(e, no, "too many functions in a pattern spec", NULL, 0, -ENOSPC);
    struct res_pattern *p = &set->patterns[set->n_patterns++];
    memset(p, 0, sizeof(*p));
    util_strlcpy(p->lib, d->lib, sizeof(p->lib));
    p->n_funcs = d->n_funcs;
    memcpy(p->funcs, d->funcs, d->n_funcs * sizeof(d->funcs[0]));
    return 0;
}

/* The draft is large (functions are fixed-size): one per parse, not on the stack. */
static int parse_one(struct res_spec_set *set, struct draft *d, struct span spec, struct errbuf *e,
                     unsigned no, int depth);

static int parse_list(struct res_spec_set *set, struct draft *d, struct span text, struct errbuf *e,
                      unsigned *no, int depth)
{
    struct span rest = text;
    while (rest.n) {
        /* '|' and newlines both separate specs */
        struct span spec = {rest.p, 0};
        while (spec.n < rest.n && rest.p[spec.n] != '|' && rest.p[spec.n] != '\n')
            spec.n++;
        size_t used = spec.n < rest.n ? spec.n + 1 : spec.n;
        rest.p += used;
        rest.n -= used;
        spec = trim(spec);
        if (!spec.n || *spec.p == '#')
            continue;
        if (depth == 0) /* a preset's specs carry the number of the spec that named it */
            (*no)++;
        int rc = parse_one(set, d, spec, e, *no, depth);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_one(struct res_spec_set *set, struct draft *d, struct span spec, struct errbuf *e,
                     unsigned no, int depth)
{
    if (spec.n > 7 && !memcmp(spec.p, "preset:", 7)) {
        struct span name = trim((struct span){spec.p + 7, spec.n - 7});
        if (name.n > strlen(PAIRS_PREFIX) && !memcmp(name.p, PAIRS_PREFIX, strlen(PAIRS_PREFIX))) {
            char text[256];
            size_t len = util_strlcpy(text, PAIRS_SPEC_HEAD, sizeof(text));
            size_t libn = name.n - strlen(PAIRS_PREFIX);
            if (len + libn + 1 >= sizeof(text))
                return fail(e, no, "library name too long", name.p, name.n, -EINVAL);
            memcpy(text + len, name.p + strlen(PAIRS_PREFIX), libn);
            text[len + libn] = '\0';
            int rc = parse_spec(d, (struct span){text, len + libn}, e, no);
            return rc ? rc : commit_pattern(set, d, e, no);
        }
        char pname[32];
        if (name.n >= sizeof(pname))
            return fail(e, no, "unknown preset", name.p, name.n, -EINVAL);
        memcpy(pname, name.p, name.n);
        pname[name.n] = '\0';
        const char *text = res_spec_preset(pname);
        if (!text || depth > 0)
            return fail(e, no, "unknown preset (ffmpeg, glib, gst, turbojpeg, pairs:LIB)", name.p,
                        name.n, -EINVAL);
        unsigned sub = no;
        return parse_list(set, d, (struct span){text, strlen(text)}, e, &sub, depth + 1);
    }
    int rc = parse_spec(d, spec, e, no);
    if (rc)
        return rc;
    if (d->pattern)
        return commit_pattern(set, d, e, no);
    return commit_kind(set, d->name, d->funcs, d->n_funcs, d->exclude, d->n_exclude, e, no);
}

int res_spec_parse(struct res_spec_set *set, const char *text, char *err, size_t errlen)
{
    static struct draft draft; /* ~13 KiB; parsing is single-threaded (init, option parsing) */
    struct errbuf e = {err, errlen, 0};
    if (err && errlen)
        err[0] = '\0';
    unsigned no = 0;
    struct res_spec_set saved_counts = {0};
    saved_counts.n_kinds = set->n_kinds;
    saved_counts.n_funcs = set->n_funcs;
    saved_counts.n_patterns = set->n_patterns;
    int rc = parse_list(set, &draft, (struct span){text, strlen(text)}, &e, &no, 0);
    if (rc) { /* all or nothing */
        set->n_kinds = saved_counts.n_kinds;
        set->n_funcs = saved_counts.n_funcs;
        set->n_patterns = saved_counts.n_patterns;
    }
    return rc;
}

/* ---- generic patterns ---- */

/* If sym matches pat ("*_create"), writes the part matched by '*' to stem. */
static int match_stem(const char *pat, const char *sym, char *stem, size_t cap)
{
    const char *star = strchr(pat, '*');
    size_t pre = (size_t)(star - pat), post = strlen(star + 1), n = strlen(sym);
    if (n <= pre + post || strncmp(sym, pat, pre) || strcmp(sym + n - post, star + 1))
        return 0;
    size_t len = n - pre - post;
    if (len >= cap)
        return 0;
    memcpy(stem, sym + pre, len);
    stem[len] = '\0';
    return 1;
}

void res_spec_offer_symbol(struct res_spec_set *set, const char *module, const char *symbol)
{
    const char *base = basename_of(module);
    for (uint32_t p = 0; p < set->n_patterns; p++) {
        const struct res_pattern *pat = &set->patterns[p];
        if (!res_glob_match(pat->lib, base))
            continue;
        for (uint32_t i = 0; i < pat->n_funcs; i++) {
            char stem[SNAP_MAX_NAME];
            if (!match_stem(pat->funcs[i].name, symbol, stem, sizeof(stem)))
                continue;
            struct res_pending *pd = NULL;
            for (uint32_t j = 0; j < set->n_pending && !pd; j++)
                if (set->pending[j].pattern == p && !strcmp(set->pending[j].stem, stem))
                    pd = &set->pending[j];
            if (!pd) {
                if (set->n_pending == RES_MAX_PENDING)
                    return;
                pd = &set->pending[set->n_pending++];
                memset(pd, 0, sizeof(*pd));
                util_strlcpy(pd->stem, stem, sizeof(pd->stem));
                pd->pattern = (uint16_t)p;
            }
            if (pat->funcs[i].role == RES_ROLE_CREATE)
                pd->have_create |= (uint8_t)(1u << i);
            else if (pat->funcs[i].role == RES_ROLE_DESTROY)
                pd->have_destroy |= (uint8_t)(1u << i);
        }
    }
}

int res_spec_resolve_patterns(struct res_spec_set *set)
{
    int added = 0;
    struct errbuf e = {NULL, 0, 0};
    for (uint32_t j = 0; j < set->n_pending; j++) {
        struct res_pending *pd = &set->pending[j];
        if (!pd->have_create || !pd->have_destroy)
            continue;
        const struct res_pattern *pat = &set->patterns[pd->pattern];
        struct res_func funcs[RES_MAX_PATTERN_FUNCS];
        uint32_t n = 0;
        for (uint32_t i = 0; i < pat->n_funcs; i++) {
            if (!((pd->have_create | pd->have_destroy) & (1u << i)))
                continue;
            char name[RES_MAX_FN_NAME];
            const char *star = strchr(pat->funcs[i].name, '*');
            size_t pre = (size_t)(star - pat->funcs[i].name);
            memcpy(name, pat->funcs[i].name, pre);
            name[pre] = '\0';
            util_strlcpy(name + pre, pd->stem, sizeof(name) - pre);
            size_t l = strlen(name);
            util_strlcpy(name + l, star + 1, sizeof(name) - l);
            funcs[n] = pat->funcs[i];
            util_strlcpy(funcs[n].name, name, sizeof(funcs[n].name));
            n++;
        }
        if (res_spec_find(set, funcs[0].name) >= 0)
            continue; /* already resolved (offered twice, or also given explicitly) */
        if (commit_kind(set, pd->stem, funcs, n, NULL, 0, &e, 0) == 0)
            added++;
    }
    set->n_pending = 0;
    return added;
}
