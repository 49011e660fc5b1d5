/*
 * The HTTP API (libmicrohttpd, JSON with jansson). Routes:
 *
 *   GET    /healthz                    liveness and a one-line summary
 *   GET    /metrics                    Prometheus text (metrics.c)
 *   GET    /streams                    every stream with its counters
 *   POST   /streams                    add a stream: {"source": <clip name|allowed URL>, ...}
 *   GET    /streams/{id}               one stream
 *   DELETE /streams/{id}               stop and remove it
 *   POST   /streams/{id}/reconnect     force a reconnect
 *   GET    /streams/{id}/snapshot.jpg  the last JPEG snapshot
 *   GET    /streams/{id}/detections    recent results, newest first (?limit=N)
 *
 * Requests are parsed defensively: bodies over http.max_body_bytes get 413,
 * bad JSON or bad fields 400 with a message naming the problem, unknown
 * paths 404, wrong methods 405 with an Allow header. No request reaches the
 * filesystem: a new stream's source must be a configured clip name or an
 * allowed URL prefix.
 */
#include "inferd/inferd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_CONNECTION_LIMIT     128
#define HTTP_CONNECTION_TIMEOUT_S 15
#define HTTP_CONNECTION_MEMORY    32768
#define HTTP_MAX_ID               999999999L

struct inferd_http {
    struct MHD_Daemon *daemon;
};

struct http_request {
    char *body;
    size_t len;
    bool too_large;
};

static enum MHD_Result http_send(struct inferd_app *app, struct MHD_Connection *conn,
                                 unsigned status, char *body, size_t len, const char *type,
                                 const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&app->metrics.http_requests, 1);
    if (status >= 400)
        atomic_fetch_add(&app->metrics.http_errors, 1);
    return ret;
}

/* Sends obj (consumed) as JSON. */
static enum MHD_Result http_json(struct inferd_app *app, struct MHD_Connection *conn,
                                 unsigned status, json_t *obj, const char *allow)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(obj);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    /* A trailing newline is friendlier to curl users; the buffer has room
     * only for the NUL, so extend it. */
    char *body = realloc(text, len + 2);
    if (!body) {
        free(text);
        return MHD_NO;
    }
    body[len] = '\n';
    body[len + 1] = '\0';
    return http_send(app, conn, status, body, len + 1, "application/json", allow);
}

static enum MHD_Result http_error(struct inferd_app *app, struct MHD_Connection *conn,
                                  unsigned status, const char *msg, const char *allow)
{
    return http_json(app, conn, status, json_pack("{s:s}", "error", msg), allow);
}

static json_t *http_stream_json(struct inferd_stream *s)
{
    pthread_mutex_lock(&s->mu);
    json_t *o = json_pack(
        "{s:i, s:s, s:s, s:s, s:i, s:i, s:f, s:b, s:b, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:s}",
        "id", s->id, "name", s->cfg.name, "source", s->cfg.source, "state",
        inferd_stream_state_name(atomic_load(&s->state)), "width", s->width, "height", s->height,
        "fps", s->fps, "loop", s->cfg.loop, "realtime", s->cfg.realtime, "corrupt_every_n_packets",
        s->cfg.corrupt_every, "frames_decoded", (json_int_t)atomic_load(&s->decoded),
        "frames_inferred", (json_int_t)atomic_load(&s->inferred), "frames_dropped",
        (json_int_t)atomic_load(&s->dropped), "ocr_runs", (json_int_t)atomic_load(&s->ocr_runs),
        "decode_errors", (json_int_t)atomic_load(&s->decode_errors), "reconnects",
        (json_int_t)atomic_load(&s->reconnects), "loops", (json_int_t)atomic_load(&s->loops),
        "last_error", s->last_error);
    pthread_mutex_unlock(&s->mu);
    return o;
}

static json_t *http_rect(struct inferd_rect r)
{
    return json_pack("{s:i, s:i, s:i, s:i}", "x", r.x, "y", r.y, "w", r.w, "h", r.h);
}

static enum MHD_Result http_detections(struct inferd_app *app, struct MHD_Connection *conn,
                                       struct inferd_stream *s)
{
    long limit = app->cfg.detections_keep;
    const char *arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    if (arg) {
        char *end;
        errno = 0;
        long v = strtol(arg, &end, 10);
        if (errno || end == arg || *end || v < 1 || v > app->cfg.detections_keep) {
            char msg[96];
            snprintf(msg, sizeof(msg), "limit: must be an integer from 1 to %d",
                     app->cfg.detections_keep);
            return http_error(app, conn, MHD_HTTP_BAD_REQUEST, msg, NULL);
        }
        limit = v;
    }
    json_t *list = json_array();
    pthread_mutex_lock(&s->mu);
    size_t keep = (size_t)app->cfg.detections_keep;
    for (size_t i = 0; i < s->ring_count && (long)i < limit; i++) {
        const struct inferd_detection *d = &s->ring[(s->ring_next + keep - 1 - i) % keep];
        json_t *o = json_pack("{s:I, s:I, s:I, s:f, s:o, s:f, s:o, s:f}", "seq", (json_int_t)d->seq,
                              "frame_index", (json_int_t)d->frame_index, "pts", (json_int_t)d->pts,
                              "motion", d->motion, "motion_box", http_rect(d->motion_box),
                              "ink_fraction", d->ink_fraction, "text_box", http_rect(d->ink_box),
                              "latency_ms", d->latency_ms);
        if (o && d->has_text) {
            json_object_set_new(o, "text", json_string(d->text));
            json_object_set_new(o, "confidence", json_integer(d->confidence));
        }
        if (o)
            json_array_append_new(list, o);
    }
    pthread_mutex_unlock(&s->mu);
    return http_json(app, conn, MHD_HTTP_OK,
                     json_pack("{s:i, s:o}", "stream", s->id, "detections", list), NULL);
}

static enum MHD_Result http_snapshot(struct inferd_app *app, struct MHD_Connection *conn,
                                     struct inferd_stream *s)
{
    pthread_mutex_lock(&s->mu);
    char *copy = s->jpeg ? malloc(s->jpeg_size) : NULL;
    size_t size = s->jpeg_size;
    if (copy)
        memcpy(copy, s->jpeg, size);
    bool had = s->jpeg != NULL;
    pthread_mutex_unlock(&s->mu);
    if (!had)
        return http_error(app, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no snapshot yet", NULL);
    if (!copy)
        return MHD_NO;
    return http_send(app, conn, MHD_HTTP_OK, copy, size, "image/jpeg", NULL);
}

static enum MHD_Result http_post_stream(struct inferd_app *app, struct MHD_Connection *conn,
                                        struct http_request *r)
{
    if (!r->body || r->len == 0)
        return http_error(app, conn, MHD_HTTP_BAD_REQUEST,
                          "body: expected a JSON object like {\"source\": \"<clip name>\"}", NULL);
    json_error_t jerr;
    json_t *obj = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
    char err[256];
    if (!obj) {
        snprintf(err, sizeof(err), "bad JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return http_error(app, conn, MHD_HTTP_BAD_REQUEST, err, NULL);
    }
    struct inferd_stream_config sc = app->cfg.stream_defaults;
    int rc = inferd_stream_config_parse(obj, "", &sc, err, sizeof(err));
    json_decref(obj);
    if (rc)
        return http_error(app, conn, MHD_HTTP_BAD_REQUEST, err, NULL);
    int id = 0;
    rc = inferd_app_add_stream(app, &sc, &id, err, sizeof(err));
    if (rc == -EACCES)
        return http_error(app, conn, MHD_HTTP_FORBIDDEN, err, NULL);
    if (rc == -ENOSPC)
        return http_error(app, conn, MHD_HTTP_CONFLICT, err, NULL);
    if (rc == -ESHUTDOWN)
        return http_error(app, conn, MHD_HTTP_SERVICE_UNAVAILABLE, err, NULL);
    if (rc)
        return http_error(app, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, err, NULL);
    struct inferd_stream *s = inferd_app_find_stream(app, id);
    json_t *o = s ? http_stream_json(s) : json_pack("{s:i}", "id", id);
    if (s)
        inferd_stream_put(s);
    return http_json(app, conn, MHD_HTTP_CREATED, o, NULL);
}

/* "/streams/<id>[/<rest>]" -> id and rest ("" if none); false if malformed. */
static bool http_parse_stream_path(const char *url, long *id, const char **rest)
{
    const char *p = url + strlen("/streams/");
    long v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (++digits > 9)
            return false;
    }
    if (digits == 0 || v < 1 || v > HTTP_MAX_ID || (*p && *p != '/'))
        return false;
    *id = v;
    *rest = p;
    return true;
}

static enum MHD_Result http_route(struct inferd_app *app, struct MHD_Connection *conn,
                                  const char *url, const char *method, struct http_request *r)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    bool del = strcmp(method, "DELETE") == 0;

    if (strcmp(url, "/healthz") == 0) {
        if (!get)
            return http_error(app, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                              "GET, HEAD");
        int n = 0;
        pthread_mutex_lock(&app->streams_mu);
        for (int i = 0; i < INFERD_MAX_STREAMS; i++)
            n += app->streams[i] != NULL;
        pthread_mutex_unlock(&app->streams_mu);
        return http_json(app, conn, MHD_HTTP_OK,
                         json_pack("{s:s, s:i, s:i, s:s, s:f}", "status", "ok", "streams", n,
                                   "workers", app->n_workers, "backend", app->backend.name,
                                   "uptime_s", (double)(inferd_now_ns() - app->started_ns) / 1e9),
                         NULL);
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!get)
            return http_error(app, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                              "GET, HEAD");
        char *text;
        size_t len;
        if (inferd_metrics_render(app, &text, &len) < 0)
            return MHD_NO;
        return http_send(app, conn, MHD_HTTP_OK, text, len, "text/plain; version=0.0.4", NULL);
    }
    if (strcmp(url, "/streams") == 0 || strcmp(url, "/streams/") == 0) {
        if (post)
            return http_post_stream(app, conn, r);
        if (!get)
            return http_error(app, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                              "GET, HEAD, POST");
        json_t *list = json_array();
        pthread_mutex_lock(&app->streams_mu);
        for (int i = 0; i < INFERD_MAX_STREAMS; i++)
            if (app->streams[i])
                json_array_append_new(list, http_stream_json(app->streams[i]));
        pthread_mutex_unlock(&app->streams_mu);
        return http_json(app, conn, MHD_HTTP_OK, json_pack("{s:o}", "streams", list), NULL);
    }
    long id;
    const char *rest;
    if (strncmp(url, "/streams/", strlen("/streams/")) != 0 ||
        !http_parse_stream_path(url, &id, &rest))
        return http_error(app, conn, MHD_HTTP_NOT_FOUND, "no such resource", NULL);

    const char *allow;
    if (!*rest)
        allow = (get || del) ? NULL : "GET, HEAD, DELETE";
    else if (strcmp(rest, "/reconnect") == 0)
        allow = post ? NULL : "POST";
    else if (strcmp(rest, "/snapshot.jpg") == 0 || strcmp(rest, "/detections") == 0)
        allow = get ? NULL : "GET, HEAD";
    else
        return http_error(app, conn, MHD_HTTP_NOT_FOUND, "no such resource", NULL);
    if (allow)
        return http_error(app, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", allow);

    if (!*rest && del) {
        if (inferd_app_remove_stream(app, (int)id) < 0)
            return http_error(app, conn, MHD_HTTP_NOT_FOUND, "no such stream", NULL);
        return http_json(app, conn, MHD_HTTP_OK,
                         json_pack("{s:i, s:s}", "id", (int)id, "status", "deleted"), NULL);
    }
    struct inferd_stream *s = inferd_app_find_stream(app, (int)id);
    if (!s)
        return http_error(app, conn, MHD_HTTP_NOT_FOUND, "no such stream", NULL);
    enum MHD_Result ret;
    if (!*rest) {
        ret = http_json(app, conn, MHD_HTTP_OK, http_stream_json(s), NULL);
    } else if (strcmp(rest, "/reconnect") == 0) {
        inferd_stream_request_reconnect(s);
        ret = http_json(app, conn, MHD_HTTP_ACCEPTED,
                        json_pack("{s:i, s:s}", "id", s->id, "status", "reconnecting"), NULL);
    } else if (strcmp(rest, "/snapshot.jpg") == 0) {
        ret = http_snapshot(app, conn, s);
    } else {
        ret = http_detections(app, conn, s);
    }
    inferd_stream_put(s);
    return ret;
}

static enum MHD_Result http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    struct inferd_app *app = cls;
    struct http_request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        *con_cls = r;
        /* Refuse a declared oversized body before reading any of it. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > app->cfg.http_max_body) {
            r->too_large = true;
            return http_error(app, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large", NULL);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->too_large) {
            if (r->len + *upload_data_size > app->cfg.http_max_body) {
                r->too_large = true;
                free(r->body);
                r->body = NULL;
                r->len = 0;
            } else {
                char *b = realloc(r->body, r->len + *upload_data_size + 1);
                if (!b)
                    return MHD_NO;
                memcpy(b + r->len, upload_data, *upload_data_size);
                r->len += *upload_data_size;
                b[r->len] = '\0';
                r->body = b;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_large)
        return http_error(app, conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large", NULL);
    return http_route(app, conn, url, method, r);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_request *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
    }
    *con_cls = NULL;
}

int inferd_http_start(struct inferd_app *app, char *err, size_t errlen)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)app->cfg.http_port);
    if (inet_pton(AF_INET, app->cfg.http_bind, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "http.bind: \"%s\" is not an IPv4 address", app->cfg.http_bind);
        return -EINVAL;
    }
    struct inferd_http *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    h->daemon = MHD_start_daemon(flags, (uint16_t)app->cfg.http_port, NULL, NULL, http_handler, app,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->cfg.http_threads,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONNECTION_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
                                 MHD_OPTION_NOTIFY_COMPLETED, http_completed, app, MHD_OPTION_END);
    if (!h->daemon) {
        free(h);
        snprintf(err, errlen, "http: cannot listen on %s:%d (in use?)", app->cfg.http_bind,
                 app->cfg.http_port);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    app->http_port = info ? info->port : app->cfg.http_port;
    app->http = h;
    return 0;
}

void inferd_http_stop(struct inferd_app *app)
{
    if (!app->http)
        return;
    MHD_stop_daemon(app->http->daemon);
    free(app->http);
    app->http = NULL;
}
