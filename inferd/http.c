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
 * more than HTTP_MAX_QUERY_PARAMS query parameters 431, bad JSON or bad
 * fields 400 with a message naming the problem, unknown paths 404, wrong
 * methods 405 with an Allow header. No request reaches the filesystem: a new
 * stream's source must be a configured clip name or an allowed URL prefix.
 *
 * Slow clients: libmicrohttpd's idle timeout is reset by every byte, so a
 * client trickling one header line a second would hold its connection
 * forever. A watchdog thread closes a connection whose request headers are
 * not complete HTTP_HEADER_DEADLINE_S after the request began, bytes or no
 * bytes; and one client address gets at most HTTP_PER_CLIENT_LIMIT of the
 * HTTP_CONNECTION_LIMIT connections.
 */
#include "inferd/inferd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define HTTP_CONNECTION_LIMIT     512
#define HTTP_PER_CLIENT_LIMIT     64
#define HTTP_CONNECTION_TIMEOUT_S 15 /* idle, between requests and in bodies */
#define HTTP_HEADER_DEADLINE_S    10 /* request line + headers, not reset by bytes */
#define HTTP_WATCHDOG_PERIOD_MS   250
#define HTTP_CONNECTION_MEMORY    131072 /* room for a 431 after 1,000+ parameters */
#define HTTP_MAX_QUERY_PARAMS     100
#define HTTP_MAX_ID               999999999L

/* One per open connection (MHD's socket context), in a list the watchdog
 * walks. */
struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    uint64_t request_start_ns; /* when the current request's first byte could come */
    bool headers_done;
    bool cut;
};

struct inferd_http {
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu; /* conns */
    struct http_conn conns;
    pthread_t watchdog;
    bool watchdog_running;
    volatile bool stopping;
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

static struct http_conn *http_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void http_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                   enum MHD_ConnectionNotificationCode code)
{
    struct inferd_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct http_conn *c = calloc(1, sizeof(*c));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!c || !ci) {
            free(c);
            return;
        }
        c->fd = ci->connect_fd;
        c->request_start_ns = inferd_now_ns();
        pthread_mutex_lock(&h->mu);
        c->next = h->conns.next;
        c->prev = &h->conns;
        h->conns.next->prev = c;
        h->conns.next = c;
        pthread_mutex_unlock(&h->mu);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        /* MHD closes the socket after this returns: once unlinked here the
         * watchdog can no longer touch the fd. */
        struct http_conn *c = *socket_context;
        pthread_mutex_lock(&h->mu);
        c->prev->next = c->next;
        c->next->prev = c->prev;
        pthread_mutex_unlock(&h->mu);
        free(c);
        *socket_context = NULL;
    }
}

/* Cuts connections whose request headers are overdue. shutdown(2) makes MHD
 * see the end of the connection and close it through its own path. */
static void *http_watchdog(void *arg)
{
    struct inferd_http *h = arg;
    while (!h->stopping) {
        struct timespec ts = {0, HTTP_WATCHDOG_PERIOD_MS * 1000000L};
        nanosleep(&ts, NULL);
        uint64_t now = inferd_now_ns();
        pthread_mutex_lock(&h->mu);
        for (struct http_conn *c = h->conns.next; c != &h->conns; c = c->next) {
            /* request_start_ns may be set by an MHD thread after `now` was
             * read: such a request is young, not 2^64 ns old. */
            uint64_t start = __atomic_load_n(&c->request_start_ns, __ATOMIC_RELAXED);
            if (!c->headers_done && !c->cut && now > start &&
                now - start > HTTP_HEADER_DEADLINE_S * 1000000000ull) {
                shutdown(c->fd, SHUT_RDWR);
                c->cut = true;
            }
        }
        pthread_mutex_unlock(&h->mu);
    }
    return NULL;
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
        struct http_conn *c = http_conn_of(conn);
        if (c)
            c->headers_done = true; /* the watchdog's deadline is met */
        int n_params = MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
        if (n_params > HTTP_MAX_QUERY_PARAMS) {
            char msg[96];
            snprintf(msg, sizeof(msg), "too many query parameters (%d; at most %d)", n_params,
                     HTTP_MAX_QUERY_PARAMS);
            r->too_large = true;
            return http_error(app, conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, msg, NULL);
        }
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
    /* keep-alive: the next request on this connection gets its own deadline */
    struct http_conn *c = http_conn_of(conn);
    if (c) {
        __atomic_store_n(&c->request_start_ns, inferd_now_ns(), __ATOMIC_RELAXED);
        c->headers_done = false;
    }
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
    pthread_mutex_init(&h->mu, NULL);
    h->conns.next = h->conns.prev = &h->conns;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)app->cfg.http_port, NULL, NULL, http_handler, app, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->cfg.http_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_CLIENT_LIMIT,
        MHD_OPTION_NOTIFY_CONNECTION, http_notify_connection, h, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, http_completed, app,
        MHD_OPTION_END);
    if (!h->daemon) {
        pthread_mutex_destroy(&h->mu);
        free(h);
        snprintf(err, errlen, "http: cannot listen on %s:%d (in use?)", app->cfg.http_bind,
                 app->cfg.http_port);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    app->http_port = info ? info->port : app->cfg.http_port;
    h->watchdog_running = pthread_create(&h->watchdog, NULL, http_watchdog, h) == 0;
    app->http = h;
    return 0;
}

void inferd_http_stop(struct inferd_app *app)
{
    if (!app->http)
        return;
    struct inferd_http *h = app->http;
    h->stopping = true;
    if (h->watchdog_running)
        pthread_join(h->watchdog, NULL);
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->mu);
    free(h);
    app->http = NULL;
}
