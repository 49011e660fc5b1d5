/*
 * Streams: one thread per stream that connects to the source, reads packets,
 * decodes them (decode.c), runs the cheap per-frame motion stage, paces
 * frames like a live camera, and queues them for the workers. When the
 * source fails or ends (and is not looped) the thread reconnects with
 * exponential backoff; POST /streams/{id}/reconnect forces a reconnect.
 *
 * Every connection takes a reference on the stream's shared info buffer and
 * drops it when the connection closes -- unless planted defect 4
 * (reconnect_ref_leak) is on, see inferd_reconnect_release_info_ref().
 */
#include "inferd/decode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

/* If pacing falls this far behind (a slow machine), restart the clock
 * instead of bursting to catch up. */
#define STREAM_PACE_RESET_NS 1000000000ull
/* Motion is measured on every STREAM_MOTION_STEP-th pixel in x and y. */
#define STREAM_MOTION_STEP 2

struct stream_info {
    int id;
    char source[INFERD_SOURCE_MAX];
};

const char *inferd_stream_state_name(int state)
{
    switch (state) {
    case INFERD_STREAM_STARTING:
        return "starting";
    case INFERD_STREAM_RUNNING:
        return "running";
    case INFERD_STREAM_BACKOFF:
        return "backoff";
    default:
        return "stopped";
    }
}

void inferd_stream_get(struct inferd_stream *s)
{
    atomic_fetch_add(&s->refs, 1);
}

static void stream_free(struct inferd_stream *s)
{
    AVBufferRef *info = s->info_ref;
    av_buffer_unref(&info);
    free(s->ring);
    free(s->prev);
    free(s->path);
    if (s->jpeg)
        tjFree(s->jpeg);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s);
}

void inferd_stream_put(struct inferd_stream *s)
{
    if (atomic_fetch_sub(&s->refs, 1) == 1)
        stream_free(s);
}

long inferd_stream_info_refs(struct inferd_stream *s)
{
    return s->info_ref ? av_buffer_get_ref_count(s->info_ref) : 0;
}

int inferd_stream_create(struct inferd_app *app, const struct inferd_stream_config *sc, int id,
                         struct inferd_stream **out, char *err, size_t errlen)
{
    const char *path = inferd_config_resolve_source(&app->cfg, sc->source);
    if (!path) {
        snprintf(err, errlen,
                 "source: \"%s\" is neither a configured clip name nor an allowed "
                 "URL",
                 sc->source);
        return -EACCES;
    }
    struct inferd_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    atomic_init(&s->refs, 1);
    s->id = id;
    s->cfg = *sc;
    if (!s->cfg.name[0])
        snprintf(s->cfg.name, sizeof(s->cfg.name), "stream%d", id);
    s->app = app;
    atomic_init(&s->state, INFERD_STREAM_STARTING);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->path = strdup(path);
    s->ring = calloc((size_t)app->cfg.detections_keep, sizeof(*s->ring));
    AVBufferRef *info = av_buffer_allocz(sizeof(struct stream_info));
    if (info) {
        struct stream_info *si = (struct stream_info *)info->data;
        si->id = id;
        snprintf(si->source, sizeof(si->source), "%s", sc->source);
    }
    s->info_ref = info;
    if (!s->path || !s->ring || !info) {
        stream_free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

/* Each connection takes a handle holding a reference on the stream's
 * shared info (the pattern of a pipeline element referencing its source on
 * every client (re)connect). noinline: reports should name it. */
__attribute__((noinline)) struct inferd_info_handle *
inferd_reconnect_take_info_ref(struct inferd_stream *s)
{
    struct inferd_info_handle *h = malloc(sizeof(*h));
    if (!h)
        return NULL;
    h->ref = av_buffer_ref(s->info_ref);
    if (!h->ref) {
        free(h);
        return NULL;
    }
    h->stream_id = s->id;
    h->connected_ns = inferd_now_ns();
    return h;
}

/* PLANTED DEFECT 4 (reconnect_ref_leak): dropping the connection's handle.
 * The correct path unrefs and frees it; with the defect on the pointer is
 * simply forgotten, so every (re)connect leaks the handle (malloc in
 * inferd_reconnect_take_info_ref()) and its AVBufferRef (av_buffer_ref()
 * there), and the shared buffer's reference count -- inferd_stream_info_refs
 * in /metrics -- climbs by one. */
__attribute__((noinline)) void inferd_reconnect_release_info_ref(struct inferd_stream *s,
                                                                 struct inferd_info_handle **h)
{
    if (s->app->cfg.defects.reconnect_ref_leak) {
        *h = NULL; /* the defect: no av_buffer_unref(), no free() */
        return;
    }
    if (*h) {
        av_buffer_unref(&(*h)->ref);
        free(*h);
        *h = NULL;
    }
}

/* Sleeps until the monotonic deadline, or less if the stream is stopped or
 * a reconnect is requested. Returns true if it should stop waiting early. */
static bool stream_sleep_until(struct inferd_stream *s, uint64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000ull),
                          .tv_nsec = (long)(deadline_ns % 1000000000ull)};
    bool interrupted = false;
    pthread_mutex_lock(&s->mu);
    while (!(interrupted = atomic_load(&s->stop) || atomic_load(&s->reconnect_requested)))
        if (pthread_cond_timedwait(&s->cond, &s->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->mu);
    return interrupted;
}

/* The cheap per-frame stage: which sampled pixels changed since the previous
 * frame, and their bounding box. */
static void stream_motion(struct inferd_stream *s, struct inferd_frame *f)
{
    int threshold = s->app->cfg.motion_threshold;
    if (s->prev_size != f->size) {
        free(s->prev);
        s->prev = malloc(f->size);
        s->prev_size = s->prev ? f->size : 0;
        if (s->prev)
            memcpy(s->prev, f->pixels, f->size);
        return;
    }
    long changed = 0, sampled = 0;
    int x0 = f->width, y0 = f->height, x1 = -1, y1 = -1;
    for (int y = 0; y < f->height; y += STREAM_MOTION_STEP) {
        const unsigned char *cur = f->pixels + (size_t)y * f->stride;
        const unsigned char *old = s->prev + (size_t)y * f->stride;
        for (int x = 0; x < f->width; x += STREAM_MOTION_STEP) {
            sampled++;
            int d = cur[x] - old[x];
            if (d < threshold && -d < threshold)
                continue;
            changed++;
            x0 = x < x0 ? x : x0;
            x1 = x > x1 ? x : x1;
            y0 = y < y0 ? y : y0;
            y1 = y > y1 ? y : y1;
        }
    }
    f->motion = sampled ? (double)changed / (double)sampled : 0.0;
    if (x1 >= 0)
        f->motion_box = (struct inferd_rect){x0, y0, x1 - x0 + 1, y1 - y0 + 1};
    memcpy(s->prev, f->pixels, f->size);
}

struct stream_pace {
    uint64_t t0_ns;
    uint64_t n;
};

static __thread struct stream_pace *stream_pacer;

static void stream_sink(struct inferd_stream *s, struct inferd_conn *c, struct inferd_frame *f)
{
    const struct inferd_config *cfg = &s->app->cfg;
    f->seq = atomic_load(&s->decoded) - 1; /* 0-based */
    stream_motion(s, f);
    f->want_text = f->seq % (uint64_t)cfg->ocr_every == 0;
    f->want_snapshot = f->seq % (uint64_t)cfg->snapshot_every == 0;
    if (s->cfg.realtime && stream_pacer) {
        struct stream_pace *p = stream_pacer;
        uint64_t period = (uint64_t)(1e9 * av_q2d(av_inv_q(c->rate)));
        uint64_t now = inferd_now_ns();
        if (p->t0_ns == 0 || now > p->t0_ns + p->n * period + STREAM_PACE_RESET_NS) {
            p->t0_ns = now;
            p->n = 0;
        }
        uint64_t due = p->t0_ns + p->n * period;
        p->n++;
        if (due > now && stream_sleep_until(s, due)) {
            inferd_frame_free(f);
            return;
        }
    }
    f->t_decoded_ns = inferd_now_ns();
    inferd_queue_push(&s->app->queue, f);
}

/* Reads and decodes until stop, a reconnect request, an error, or the end
 * of a non-looping source. Returns the number of frames delivered. */
static uint64_t stream_pump(struct inferd_stream *s, struct inferd_conn *c)
{
    uint64_t before = atomic_load(&s->decoded);
    for (;;) {
        if (atomic_load(&s->stop) || atomic_load(&s->reconnect_requested))
            break;
        int rc = av_read_frame(c->fmt, c->pkt);
        if (rc == AVERROR_EOF || (rc < 0 && c->fmt->pb && avio_feof(c->fmt->pb))) {
            inferd_decode_packet(s, c, NULL, stream_sink);
            if (!s->cfg.loop)
                break;
            /* A file played as a live stream: back to the start. */
            avcodec_flush_buffers(c->dec);
            if (av_seek_frame(c->fmt, c->video_index, c->start_pts, AVSEEK_FLAG_BACKWARD) < 0 &&
                avformat_seek_file(c->fmt, -1, INT64_MIN, 0, 0, 0) < 0) {
                snprintf(s->last_error, sizeof(s->last_error), "seek to start failed");
                break;
            }
            atomic_fetch_add(&s->loops, 1);
            continue;
        }
        if (rc < 0 && rc != AVERROR_EXIT) {
            char msg[AV_ERROR_MAX_STRING_SIZE];
            av_strerror(rc, msg, sizeof(msg));
            pthread_mutex_lock(&s->mu);
            snprintf(s->last_error, sizeof(s->last_error), "read: %s", msg);
            pthread_mutex_unlock(&s->mu);
            break;
        }
        if (rc < 0)
            break; /* interrupted: stop or reconnect */
        if (c->pkt->stream_index == c->video_index) {
            inferd_corrupt_packet(s, c->pkt);
            if (inferd_decode_packet(s, c, c->pkt, stream_sink) < 0) {
                av_packet_unref(c->pkt);
                break;
            }
        }
        av_packet_unref(c->pkt);
    }
    return atomic_load(&s->decoded) - before;
}

static void *stream_main(void *arg)
{
    struct inferd_stream *s = arg;
    const struct inferd_config *cfg = &s->app->cfg;
    int backoff = cfg->reconnect_initial_ms;
    struct stream_pace pace = {0, 0};
    stream_pacer = &pace;
    bool first = true;
    while (!atomic_load(&s->stop)) {
        struct inferd_conn *c = NULL;
        char err[INFERD_ERROR_MAX] = "";
        if (!first)
            atomic_fetch_add(&s->reconnects, 1);
        first = false;
        atomic_store(&s->reconnect_requested, false);
        int rc = inferd_conn_open(s, &c, err, sizeof(err));
        uint64_t delivered = 0;
        if (rc == 0) {
            atomic_store(&s->state, INFERD_STREAM_RUNNING);
            inferd_log(INFERD_LOG_INFO, "stream %d: connected to %s (%dx%d @ %.2f fps)", s->id,
                       s->cfg.source, s->width, s->height, s->fps);
            pace = (struct stream_pace){0, 0};
            delivered = stream_pump(s, c);
            inferd_conn_close(s, c);
        } else {
            pthread_mutex_lock(&s->mu);
            snprintf(s->last_error, sizeof(s->last_error), "%s", err);
            pthread_mutex_unlock(&s->mu);
            inferd_log(INFERD_LOG_WARN, "stream %d: %s: %s (retrying in %d ms)", s->id,
                       s->cfg.source, err, backoff);
        }
        if (atomic_load(&s->stop))
            break;
        if (atomic_load(&s->reconnect_requested))
            continue; /* asked for: reconnect at once */
        if (delivered > 0)
            backoff = cfg->reconnect_initial_ms;
        atomic_store(&s->state, INFERD_STREAM_BACKOFF);
        stream_sleep_until(s, inferd_now_ns() + (uint64_t)backoff * 1000000ull);
        if (delivered == 0)
            backoff = backoff * 2 > cfg->reconnect_max_ms ? cfg->reconnect_max_ms : backoff * 2;
    }
    atomic_store(&s->state, INFERD_STREAM_STOPPED);
    stream_pacer = NULL;
    inferd_stream_put(s); /* the thread's reference */
    return NULL;
}

int inferd_stream_start(struct inferd_stream *s)
{
    inferd_stream_get(s);
    int rc = pthread_create(&s->thread, NULL, stream_main, s);
    if (rc) {
        inferd_stream_put(s);
        return -rc;
    }
    s->thread_started = true;
    return 0;
}

void inferd_stream_request_reconnect(struct inferd_stream *s)
{
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->reconnect_requested, true);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

void inferd_stream_stop(struct inferd_stream *s)
{
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, true);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_started) {
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
}
