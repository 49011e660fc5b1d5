/*
 * inferd's JSON configuration: loading, defaults and validation. Every error
 * names the offending field ("workers: must be an integer from 1 to 32"),
 * and unknown keys are rejected so a typo does not silently fall back to a
 * default. The same stream-object parser serves the config file's "streams"
 * entries and POST /streams bodies. The field list is in docs/inferd.md.
 */
#include "inferd/inferd.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_CLIPS 256
#define CONFIG_MAX_URLS  64

static int cfg_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Rejects keys of obj that are not in the NULL-terminated list. */
static int cfg_check_keys(json_t *obj, const char *where, const char *const *known, char *err,
                          size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            if (strcmp(*k, key) == 0)
                ok = true;
        if (!ok)
            return cfg_error(err, errlen, "%s%s%s: unknown field", where, *where ? "." : "", key);
    }
    return 0;
}

static int cfg_int(json_t *obj, const char *where, const char *key, long lo, long hi, int *out,
                   char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return cfg_error(err, errlen, "%s%s%s: must be an integer from %ld to %ld", where,
                         *where ? "." : "", key, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int cfg_bool(json_t *obj, const char *where, const char *key, bool *out, char *err,
                    size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return cfg_error(err, errlen, "%s%s%s: must be true or false", where, *where ? "." : "",
                         key);
    *out = json_is_true(v);
    return 0;
}

static int cfg_number(json_t *obj, const char *where, const char *key, double lo, double hi,
                      double *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return cfg_error(err, errlen, "%s%s%s: must be a number from %g to %g", where,
                         *where ? "." : "", key, lo, hi);
    *out = json_number_value(v);
    return 0;
}

/* Replaces *out with a copy of the string field, if present. */
static int cfg_string(json_t *obj, const char *where, const char *key, size_t maxlen, char **out,
                      char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > maxlen ||
        strlen(json_string_value(v)) != json_string_length(v))
        return cfg_error(err, errlen, "%s%s%s: must be a non-empty string of at most %zu bytes",
                         where, *where ? "." : "", key, maxlen);
    char *s = strdup(json_string_value(v));
    if (!s)
        return -ENOMEM;
    free(*out);
    *out = s;
    return 0;
}

static int cfg_string_buf(json_t *obj, const char *where, const char *key, char *buf, size_t cap,
                          char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return cfg_error(err, errlen, "%s%s%s: must be a non-empty string of at most %zu bytes",
                         where, *where ? "." : "", key, cap - 1);
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int inferd_stream_config_parse(json_t *obj, const char *where, struct inferd_stream_config *sc,
                               char *err, size_t errlen)
{
    static const char *const keys[] = {
        "source", "name", "loop", "realtime", "corrupt_every_n_packets", NULL};
    if (!json_is_object(obj))
        return cfg_error(err, errlen, "%s: must be a JSON object", *where ? where : "body");
    int rc;
    if ((rc = cfg_check_keys(obj, where, keys, err, errlen)) ||
        (rc = cfg_string_buf(obj, where, "source", sc->source, sizeof(sc->source), err, errlen)) ||
        (rc = cfg_string_buf(obj, where, "name", sc->name, sizeof(sc->name), err, errlen)) ||
        (rc = cfg_bool(obj, where, "loop", &sc->loop, err, errlen)) ||
        (rc = cfg_bool(obj, where, "realtime", &sc->realtime, err, errlen)) ||
        (rc = cfg_int(obj, where, "corrupt_every_n_packets", 0, 1000000, &sc->corrupt_every, err,
                      errlen)))
        return rc;
    if (!sc->source[0])
        return cfg_error(err, errlen, "%s%ssource: is required", where, *where ? "." : "");
    for (const char *p = sc->name; *p; p++)
        if ((unsigned char)*p < ' ' || *p == '"' || *p == '\\' || (unsigned char)*p >= 127)
            return cfg_error(err, errlen, "%s%sname: only printable ASCII without quotes", where,
                             *where ? "." : "");
    return 0;
}

const char *inferd_config_resolve_source(const struct inferd_config *cfg, const char *source)
{
    for (size_t i = 0; i < cfg->n_clips; i++)
        if (strcmp(cfg->clips[i].name, source) == 0)
            return cfg->clips[i].path;
    if (!strstr(source, "://"))
        return NULL;
    for (size_t i = 0; i < cfg->n_allow_urls; i++)
        if (strncmp(source, cfg->allow_urls[i], strlen(cfg->allow_urls[i])) == 0)
            return source;
    return NULL;
}

static void cfg_defaults(struct inferd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->http_port = 8080;
    cfg->http_threads = 2;
    cfg->http_max_body = 4096;
    cfg->workers = 2;
    cfg->queue_capacity = 8;
    cfg->drop_policy = INFERD_DROP_OLDEST;
    cfg->backend = INFERD_BACKEND_TESSERACT;
    cfg->ocr_every = 5;
    cfg->ocr_region = (struct backend_rect){8, 8, 216, 72};
    cfg->motion_threshold = 24;
    cfg->snapshot_every = 25;
    cfg->jpeg_quality = 80;
    cfg->detections_keep = 64;
    cfg->reconnect_initial_ms = 200;
    cfg->reconnect_max_ms = 5000;
    cfg->log_level = INFERD_LOG_INFO;
    cfg->stream_defaults.loop = true;
    cfg->stream_defaults.realtime = true;
}

static int cfg_parse_http(json_t *o, struct inferd_config *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"bind", "port", "threads", "max_body_bytes", NULL};
    int body = (int)cfg->http_max_body, rc;
    if (!json_is_object(o))
        return cfg_error(err, errlen, "http: must be an object");
    if ((rc = cfg_check_keys(o, "http", keys, err, errlen)) ||
        (rc = cfg_string(o, "http", "bind", 64, &cfg->http_bind, err, errlen)) ||
        (rc = cfg_int(o, "http", "port", 0, 65535, &cfg->http_port, err, errlen)) ||
        (rc = cfg_int(o, "http", "threads", 1, 16, &cfg->http_threads, err, errlen)) ||
        (rc = cfg_int(o, "http", "max_body_bytes", 64, 1024 * 1024, &body, err, errlen)))
        return rc;
    cfg->http_max_body = (size_t)body;
    return 0;
}

static int cfg_parse_backend(json_t *o, struct inferd_config *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "kind", "plugin", "tessdata", "language", "charset", "recycle_context_every", NULL};
    char *kind = NULL;
    int rc;
    if (!json_is_object(o))
        return cfg_error(err, errlen, "backend: must be an object");
    if ((rc = cfg_check_keys(o, "backend", keys, err, errlen)) ||
        (rc = cfg_string(o, "backend", "kind", 32, &kind, err, errlen)) ||
        (rc = cfg_string(o, "backend", "plugin", 4096, &cfg->plugin_path, err, errlen)) ||
        (rc = cfg_string(o, "backend", "tessdata", 4096, &cfg->tessdata_dir, err, errlen)) ||
        (rc = cfg_string(o, "backend", "language", 32, &cfg->language, err, errlen)) ||
        (rc = cfg_string(o, "backend", "charset", 128, &cfg->charset, err, errlen)) ||
        (rc = cfg_int(o, "backend", "recycle_context_every", 0, 100000000,
                      &cfg->recycle_context_every, err, errlen))) {
        free(kind);
        return rc;
    }
    if (kind) {
        if (strcmp(kind, "tesseract") == 0)
            cfg->backend = INFERD_BACKEND_TESSERACT;
        else if (strcmp(kind, "vendorsim") == 0)
            cfg->backend = INFERD_BACKEND_VENDORSIM;
        else
            rc = cfg_error(err, errlen, "backend.kind: must be \"tesseract\" or \"vendorsim\"");
    }
    free(kind);
    return rc;
}

static int cfg_parse_region(json_t *o, struct backend_rect *r, char *err, size_t errlen)
{
    static const char *const keys[] = {"x", "y", "w", "h", NULL};
    int rc;
    if (!json_is_object(o))
        return cfg_error(err, errlen, "ocr.region: must be an object {x,y,w,h}");
    if ((rc = cfg_check_keys(o, "ocr.region", keys, err, errlen)) ||
        (rc = cfg_int(o, "ocr.region", "x", 0, 8192, &r->x, err, errlen)) ||
        (rc = cfg_int(o, "ocr.region", "y", 0, 8192, &r->y, err, errlen)) ||
        (rc = cfg_int(o, "ocr.region", "w", 1, 8192, &r->w, err, errlen)) ||
        (rc = cfg_int(o, "ocr.region", "h", 1, 8192, &r->h, err, errlen)))
        return rc;
    return 0;
}

static int cfg_parse_clips(json_t *o, struct inferd_config *cfg, char *err, size_t errlen)
{
    if (!json_is_object(o))
        return cfg_error(err, errlen, "clips: must be an object of name -> file path");
    size_t n = json_object_size(o);
    if (n > CONFIG_MAX_CLIPS)
        return cfg_error(err, errlen, "clips: at most %d entries", CONFIG_MAX_CLIPS);
    cfg->clips = calloc(n ? n : 1, sizeof(*cfg->clips));
    if (!cfg->clips)
        return -ENOMEM;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (!key[0] || strlen(key) >= INFERD_SOURCE_MAX || strstr(key, "://"))
            return cfg_error(err, errlen,
                             "clips.%s: a clip name must be non-empty, short and "
                             "not a URL",
                             key);
        if (!json_is_string(v) || json_string_length(v) == 0)
            return cfg_error(err, errlen, "clips.%s: must be a file path string", key);
        struct inferd_clip *c = &cfg->clips[cfg->n_clips];
        c->name = strdup(key);
        c->path = strdup(json_string_value(v));
        cfg->n_clips++;
        if (!c->name || !c->path)
            return -ENOMEM;
    }
    return 0;
}

static int cfg_parse_urls(json_t *o, struct inferd_config *cfg, char *err, size_t errlen)
{
    if (!json_is_array(o) || json_array_size(o) > CONFIG_MAX_URLS)
        return cfg_error(err, errlen, "allow_urls: must be an array of at most %d URL prefixes",
                         CONFIG_MAX_URLS);
    cfg->allow_urls = calloc(json_array_size(o) + 1, sizeof(char *));
    if (!cfg->allow_urls)
        return -ENOMEM;
    size_t i;
    json_t *v;
    json_array_foreach(o, i, v)
    {
        if (!json_is_string(v) || !strstr(json_string_value(v), "://"))
            return cfg_error(err, errlen,
                             "allow_urls[%zu]: must be a URL prefix like "
                             "\"rtsp://127.0.0.1:8554/\"",
                             i);
        if (!(cfg->allow_urls[cfg->n_allow_urls++] = strdup(json_string_value(v))))
            return -ENOMEM;
    }
    return 0;
}

static int cfg_parse_defects(json_t *o, struct inferd_config *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"heap_overflow",     "dup_input_fd",
                                       "decode_error_leak", "reconnect_ref_leak",
                                       "use_after_destroy", NULL};
    struct inferd_defects *d = &cfg->defects;
    int rc;
    if (!json_is_object(o))
        return cfg_error(err, errlen, "defects: must be an object of switches");
    if ((rc = cfg_check_keys(o, "defects", keys, err, errlen)) ||
        (rc = cfg_bool(o, "defects", "heap_overflow", &d->heap_overflow, err, errlen)) ||
        (rc = cfg_bool(o, "defects", "dup_input_fd", &d->dup_input_fd, err, errlen)) ||
        (rc = cfg_bool(o, "defects", "decode_error_leak", &d->decode_error_leak, err, errlen)) ||
        (rc = cfg_bool(o, "defects", "reconnect_ref_leak", &d->reconnect_ref_leak, err, errlen)) ||
        (rc = cfg_bool(o, "defects", "use_after_destroy", &d->use_after_destroy, err, errlen)))
        return rc;
    return 0;
}

static int cfg_parse_root(json_t *root, struct inferd_config *cfg, char *err, size_t errlen)
{
    static const char *const keys[] = {"http",
                                       "workers",
                                       "queue_capacity",
                                       "drop_policy",
                                       "backend",
                                       "ocr",
                                       "detect",
                                       "snapshot",
                                       "detections_keep",
                                       "clips",
                                       "allow_urls",
                                       "streams",
                                       "stream_defaults",
                                       "reconnect",
                                       "defects",
                                       "duration_s",
                                       "log_level",
                                       NULL};
    json_t *v;
    int rc;
    if (!json_is_object(root))
        return cfg_error(err, errlen, "the top level must be a JSON object");
    if ((rc = cfg_check_keys(root, "", keys, err, errlen)))
        return rc;
    if ((v = json_object_get(root, "http")) && (rc = cfg_parse_http(v, cfg, err, errlen)))
        return rc;
    if ((rc = cfg_int(root, "", "workers", 1, INFERD_MAX_WORKERS, &cfg->workers, err, errlen)) ||
        (rc = cfg_int(root, "", "queue_capacity", 1, INFERD_MAX_QUEUE, &cfg->queue_capacity, err,
                      errlen)) ||
        (rc = cfg_int(root, "", "detections_keep", 1, 4096, &cfg->detections_keep, err, errlen)) ||
        (rc = cfg_number(root, "", "duration_s", 0, 1e7, &cfg->duration_s, err, errlen)))
        return rc;
    if ((v = json_object_get(root, "drop_policy"))) {
        const char *s = json_string_value(v);
        if (s && strcmp(s, "drop_oldest") == 0)
            cfg->drop_policy = INFERD_DROP_OLDEST;
        else if (s && strcmp(s, "drop_newest") == 0)
            cfg->drop_policy = INFERD_DROP_NEWEST;
        else if (s && strcmp(s, "block") == 0)
            cfg->drop_policy = INFERD_DROP_NONE_BLOCK;
        else
            return cfg_error(err, errlen,
                             "drop_policy: must be \"drop_oldest\", \"drop_newest\" or "
                             "\"block\"");
    }
    if ((v = json_object_get(root, "log_level"))) {
        static const char *const names[] = {"error", "warn", "info", "debug"};
        const char *s = json_string_value(v);
        int found = -1;
        for (int i = 0; s && i < 4; i++)
            if (strcmp(s, names[i]) == 0)
                found = i;
        if (found < 0)
            return cfg_error(err, errlen, "log_level: must be error, warn, info or debug");
        cfg->log_level = (enum inferd_log_level)found;
    }
    if ((v = json_object_get(root, "backend")) && (rc = cfg_parse_backend(v, cfg, err, errlen)))
        return rc;
    if ((v = json_object_get(root, "ocr"))) {
        static const char *const k[] = {"every_n_frames", "region", NULL};
        if (!json_is_object(v))
            return cfg_error(err, errlen, "ocr: must be an object");
        json_t *r;
        if ((rc = cfg_check_keys(v, "ocr", k, err, errlen)) ||
            (rc = cfg_int(v, "ocr", "every_n_frames", 1, 100000, &cfg->ocr_every, err, errlen)) ||
            ((r = json_object_get(v, "region")) &&
             (rc = cfg_parse_region(r, &cfg->ocr_region, err, errlen))))
            return rc;
    }
    if ((v = json_object_get(root, "detect"))) {
        static const char *const k[] = {"motion_threshold", NULL};
        if (!json_is_object(v))
            return cfg_error(err, errlen, "detect: must be an object");
        if ((rc = cfg_check_keys(v, "detect", k, err, errlen)) ||
            (rc = cfg_int(v, "detect", "motion_threshold", 1, 255, &cfg->motion_threshold, err,
                          errlen)))
            return rc;
    }
    if ((v = json_object_get(root, "snapshot"))) {
        static const char *const k[] = {"every_n_frames", "quality", NULL};
        if (!json_is_object(v))
            return cfg_error(err, errlen, "snapshot: must be an object");
        if ((rc = cfg_check_keys(v, "snapshot", k, err, errlen)) ||
            (rc = cfg_int(v, "snapshot", "every_n_frames", 1, 100000, &cfg->snapshot_every, err,
                          errlen)) ||
            (rc = cfg_int(v, "snapshot", "quality", 1, 100, &cfg->jpeg_quality, err, errlen)))
            return rc;
    }
    if ((v = json_object_get(root, "reconnect"))) {
        static const char *const k[] = {"initial_ms", "max_ms", NULL};
        if (!json_is_object(v))
            return cfg_error(err, errlen, "reconnect: must be an object");
        if ((rc = cfg_check_keys(v, "reconnect", k, err, errlen)) ||
            (rc = cfg_int(v, "reconnect", "initial_ms", 1, 600000, &cfg->reconnect_initial_ms, err,
                          errlen)) ||
            (rc =
                 cfg_int(v, "reconnect", "max_ms", 1, 600000, &cfg->reconnect_max_ms, err, errlen)))
            return rc;
        if (cfg->reconnect_max_ms < cfg->reconnect_initial_ms)
            return cfg_error(err, errlen, "reconnect.max_ms: must be >= reconnect.initial_ms");
    }
    if ((v = json_object_get(root, "defects")) && (rc = cfg_parse_defects(v, cfg, err, errlen)))
        return rc;
    if ((v = json_object_get(root, "clips")) && (rc = cfg_parse_clips(v, cfg, err, errlen)))
        return rc;
    if ((v = json_object_get(root, "allow_urls")) && (rc = cfg_parse_urls(v, cfg, err, errlen)))
        return rc;
    if ((v = json_object_get(root, "stream_defaults"))) {
        static const char *const k[] = {"loop", "realtime", "corrupt_every_n_packets", NULL};
        struct inferd_stream_config *d = &cfg->stream_defaults;
        if (!json_is_object(v))
            return cfg_error(err, errlen, "stream_defaults: must be an object");
        if ((rc = cfg_check_keys(v, "stream_defaults", k, err, errlen)) ||
            (rc = cfg_bool(v, "stream_defaults", "loop", &d->loop, err, errlen)) ||
            (rc = cfg_bool(v, "stream_defaults", "realtime", &d->realtime, err, errlen)) ||
            (rc = cfg_int(v, "stream_defaults", "corrupt_every_n_packets", 0, 1000000,
                          &d->corrupt_every, err, errlen)))
            return rc;
    }
    if ((v = json_object_get(root, "streams"))) {
        if (!json_is_array(v) || json_array_size(v) > INFERD_MAX_STREAMS)
            return cfg_error(err, errlen, "streams: must be an array of at most %d streams",
                             INFERD_MAX_STREAMS);
        cfg->streams = calloc(json_array_size(v) + 1, sizeof(*cfg->streams));
        if (!cfg->streams)
            return -ENOMEM;
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s)
        {
            char where[32];
            snprintf(where, sizeof(where), "streams[%zu]", i);
            struct inferd_stream_config *sc = &cfg->streams[i];
            *sc = cfg->stream_defaults;
            if ((rc = inferd_stream_config_parse(s, where, sc, err, errlen)))
                return rc;
            if (!inferd_config_resolve_source(cfg, sc->source))
                return cfg_error(err, errlen,
                                 "%s.source: \"%s\" is neither a clip name in "
                                 "\"clips\" nor a URL allowed by \"allow_urls\"",
                                 where, sc->source);
            cfg->n_streams++;
        }
    }
    const struct inferd_defects *d = &cfg->defects;
    if ((d->heap_overflow || d->dup_input_fd || d->use_after_destroy) &&
        cfg->backend != INFERD_BACKEND_VENDORSIM)
        return cfg_error(err, errlen,
                         "defects: heap_overflow, dup_input_fd and "
                         "use_after_destroy live in the vendor runtime; they need "
                         "backend.kind = \"vendorsim\"");
    return 0;
}

/* Relative file paths in the config are relative to the config file's
 * directory, so a config works from any working directory. */
static int cfg_absolutize(char **p, const char *config_path)
{
    if (!*p || (*p)[0] == '/' || strstr(*p, "://"))
        return 0;
    char *copy = strdup(config_path);
    char *abs = NULL;
    if (!copy)
        return -ENOMEM;
    char *slash = strrchr(copy, '/');
    if (slash) {
        *slash = '\0';
        if (asprintf(&abs, "%s/%s", copy[0] ? copy : "/", *p) < 0)
            abs = NULL;
    }
    free(copy);
    if (!slash)
        return 0; /* the config is in the working directory */
    if (!abs)
        return -ENOMEM;
    free(*p);
    *p = abs;
    return 0;
}

int inferd_config_load(const char *path, struct inferd_config *cfg, char *err, size_t errlen)
{
    cfg_defaults(cfg);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line < 0)
            return cfg_error(err, errlen, "%s: %s", path, jerr.text);
        return cfg_error(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    }
    int rc = cfg_parse_root(root, cfg, err, errlen);
    json_decref(root);
    for (size_t i = 0; rc == 0 && i < cfg->n_clips; i++)
        rc = cfg_absolutize(&cfg->clips[i].path, path);
    if (rc == 0)
        rc = cfg_absolutize(&cfg->plugin_path, path);
    if (rc == 0)
        rc = cfg_absolutize(&cfg->tessdata_dir, path);
    if (rc == 0 && !cfg->http_bind && !(cfg->http_bind = strdup("127.0.0.1")))
        rc = -ENOMEM;
    if (rc == 0 && !cfg->language && !(cfg->language = strdup("eng")))
        rc = -ENOMEM;
    if (rc == 0 && !cfg->charset && !(cfg->charset = strdup("0123456789")))
        rc = -ENOMEM;
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    if (rc)
        inferd_config_free(cfg);
    return rc;
}

void inferd_config_free(struct inferd_config *cfg)
{
    free(cfg->http_bind);
    free(cfg->plugin_path);
    free(cfg->tessdata_dir);
    free(cfg->language);
    free(cfg->charset);
    for (size_t i = 0; i < cfg->n_clips; i++) {
        free(cfg->clips[i].name);
        free(cfg->clips[i].path);
    }
    free(cfg->clips);
    for (size_t i = 0; i < cfg->n_allow_urls; i++)
        free(cfg->allow_urls[i]);
    free(cfg->allow_urls);
    free(cfg->streams);
    memset(cfg, 0, sizeof(*cfg));
}
