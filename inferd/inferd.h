/*
 * inferd's internal types, shared by its modules: the validated
 * configuration, streams (one decode thread each), frames, the bounded frame
 * queue, the worker pool, the backend loader, metrics and the HTTP API.
 *
 * Data flow: stream thread (libavformat read -> libavcodec decode ->
 * libswscale to GRAY8 -> motion stage) -> bounded queue (drop-oldest,
 * counted) -> worker (memfd "dma-buf" -> backend_run -> results, JPEG
 * snapshot) -> HTTP readers.
 */
#ifndef INFERD_H
#define INFERD_H

#include "inferd/backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits (documented in docs/inferd.md). */
#define INFERD_MAX_STREAMS     64
#define INFERD_MAX_WORKERS     32
#define INFERD_MAX_QUEUE       1024
#define INFERD_NAME_MAX        64
#define INFERD_SOURCE_MAX      512
#define INFERD_TEXT_CAP        32   /* OCR text kept per detection */
#define INFERD_OCR_BUFFER      1000 /* OCR text buffer handed to the backend per run */
#define INFERD_ERROR_MAX       160
#define INFERD_LATENCY_BUCKETS 12

enum inferd_log_level { INFERD_LOG_ERROR, INFERD_LOG_WARN, INFERD_LOG_INFO, INFERD_LOG_DEBUG };
enum inferd_drop_policy { INFERD_DROP_OLDEST, INFERD_DROP_NEWEST, INFERD_DROP_NONE_BLOCK };
enum inferd_backend_kind { INFERD_BACKEND_TESSERACT, INFERD_BACKEND_VENDORSIM };

struct inferd_clip {
    char *name;
    char *path;
};

/* Per-stream settings, from the config file or a POST /streams body. */
struct inferd_stream_config {
    char name[INFERD_NAME_MAX];
    char source[INFERD_SOURCE_MAX]; /* a clip name or an allowed URL */
    bool loop;                      /* on end of file, seek back and go on */
    bool realtime;                  /* pace frames at the clip's frame rate */
    int corrupt_every;              /* scramble every Nth packet; 0 = never */
};

struct inferd_defects {
    bool heap_overflow;      /* 1, vendorsim */
    bool dup_input_fd;       /* 2, vendorsim */
    bool decode_error_leak;  /* 3, inferd decode path */
    bool reconnect_ref_leak; /* 4, inferd reconnect path */
    bool use_after_destroy;  /* 5, vendorsim */
};

struct inferd_config {
    char *http_bind;
    int http_port; /* 0: pick a free one */
    int http_threads;
    size_t http_max_body;
    int workers;
    int queue_capacity;
    enum inferd_drop_policy drop_policy;
    enum inferd_backend_kind backend;
    char *plugin_path; /* NULL: <exe dir>/../lib/libvendorsim.so */
    char *tessdata_dir;
    char *language;
    char *charset;
    int recycle_context_every; /* runs between context re-creations; 0 = never */
    int ocr_every;             /* OCR every Nth frame of a stream */
    struct backend_rect ocr_region;
    int motion_threshold; /* per-pixel grey difference counted as motion */
    int snapshot_every;   /* JPEG-encode every Nth frame of a stream */
    int jpeg_quality;
    int detections_keep; /* results kept per stream for GET detections */
    struct inferd_clip *clips;
    size_t n_clips;
    char **allow_urls; /* URL prefixes POST /streams may use */
    size_t n_allow_urls;
    struct inferd_stream_config *streams;
    size_t n_streams;
    struct inferd_stream_config stream_defaults;
    int reconnect_initial_ms;
    int reconnect_max_ms;
    struct inferd_defects defects;
    double duration_s; /* stop by itself after this long; 0 = run until signalled */
    enum inferd_log_level log_level;
};

/* config.c */
int inferd_config_load(const char *path, struct inferd_config *cfg, char *err, size_t errlen);
void inferd_config_free(struct inferd_config *cfg);
/* Parses a stream object (config "streams" entry or POST body) onto *sc,
 * which holds the defaults. where names the object in error messages. */
struct json_t;
int inferd_stream_config_parse(struct json_t *obj, const char *where,
                               struct inferd_stream_config *sc, char *err, size_t errlen);
/* The file a source refers to (clip catalog) or the URL itself; NULL when the
 * source is in neither allow-list. */
const char *inferd_config_resolve_source(const struct inferd_config *cfg, const char *source);

/* log.c */
extern enum inferd_log_level inferd_log_level;
void inferd_log(enum inferd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t inferd_now_ns(void);

struct inferd_rect {
    int x, y, w, h;
};

/* One detection result kept for GET /streams/{id}/detections. */
struct inferd_detection {
    uint64_t seq;        /* decoded-frame sequence number in this stream */
    int64_t frame_index; /* frame number in the source file (from pts) */
    int64_t pts;
    double motion; /* fraction of sampled pixels that changed */
    struct inferd_rect motion_box;
    double ink_fraction;
    struct inferd_rect ink_box;
    bool has_text;
    char text[INFERD_TEXT_CAP];
    int confidence;
    double latency_ms; /* decode to result */
};

enum inferd_stream_state {
    INFERD_STREAM_STARTING,
    INFERD_STREAM_RUNNING,
    INFERD_STREAM_BACKOFF,
    INFERD_STREAM_STOPPED
};

struct inferd_app;

struct inferd_stream {
    atomic_int refs; /* registry + thread + frames in flight */
    int id;
    struct inferd_stream_config cfg;
    char *path; /* resolved source */
    struct inferd_app *app;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    atomic_bool reconnect_requested;
    atomic_int state;

    pthread_mutex_t mu; /* guards everything below and wakes backoff sleeps */
    pthread_cond_t cond;
    char last_error[INFERD_ERROR_MAX];
    int width, height;
    double fps;
    struct inferd_detection *ring; /* cfg detections_keep entries */
    size_t ring_next, ring_count;
    unsigned char *jpeg; /* last snapshot (tjAlloc'ed) */
    unsigned long jpeg_size;
    uint64_t jpeg_seq;

    /* Counters, read by /metrics without the lock. */
    atomic_uint_fast64_t packets, corrupted, decoded, decode_errors, inferred, ocr_runs, dropped,
        reconnects, loops, backend_errors;

    /* Shared per-stream info that each connection takes a reference on
     * (AVBufferRef *; void here to keep libav out of this header). */
    void *info_ref;
    /* Motion stage state, touched only by the stream thread. */
    unsigned char *prev;
    size_t prev_size;
};

/* A decoded, converted frame on its way to a worker. One allocation: the
 * header followed by the pixels ("the frame buffer"). */
struct inferd_frame {
    struct inferd_stream *stream; /* holds a reference */
    uint64_t seq;
    int64_t frame_index;
    int64_t pts;
    bool want_text;
    bool want_snapshot;
    double motion;
    struct inferd_rect motion_box;
    uint64_t t_decoded_ns;
    int width, height, stride;
    size_t size;
    unsigned char pixels[];
};

/* stream.c */
int inferd_stream_create(struct inferd_app *app, const struct inferd_stream_config *sc, int id,
                         struct inferd_stream **out, char *err, size_t errlen);
int inferd_stream_start(struct inferd_stream *s);
void inferd_stream_stop(struct inferd_stream *s); /* stop + join */
void inferd_stream_get(struct inferd_stream *s);
void inferd_stream_put(struct inferd_stream *s);
void inferd_stream_request_reconnect(struct inferd_stream *s);
const char *inferd_stream_state_name(int state);
long inferd_stream_info_refs(struct inferd_stream *s);

/* frame.c */
struct inferd_frame *inferd_frame_alloc(struct inferd_stream *s, int width, int height);
void inferd_frame_free(struct inferd_frame *f);
extern atomic_long inferd_frames_live;

/* queue.c: bounded MPMC queue of frames. */
struct inferd_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full; /* INFERD_DROP_NONE_BLOCK only */
    struct inferd_frame **slots;
    int cap, head, count;
    bool closed;
    enum inferd_drop_policy policy;
    atomic_uint_fast64_t dropped;
};
int inferd_queue_init(struct inferd_queue *q, int cap, enum inferd_drop_policy policy);
void inferd_queue_push(struct inferd_queue *q, struct inferd_frame *f); /* may drop */
struct inferd_frame *inferd_queue_pop(struct inferd_queue *q);          /* NULL: closed and empty */
void inferd_queue_close(struct inferd_queue *q);
int inferd_queue_depth(struct inferd_queue *q);
void inferd_queue_destroy(struct inferd_queue *q);

/* backend_loader.c */
struct inferd_backend {
    backend_open_fn open;
    backend_run_fn run;
    backend_close_fn close;
    backend_stat_fn stat; /* may be NULL */
    void *dl;             /* plugin handle, NULL for the built-in backend */
    const char *name;
};
int inferd_backend_load(const struct inferd_config *cfg, struct inferd_backend *b, char *err,
                        size_t errlen);
void inferd_backend_unload(struct inferd_backend *b);
void inferd_backend_params(const struct inferd_config *cfg, struct backend_params *p);

/* worker.c */
struct inferd_worker {
    int index;
    struct inferd_app *app;
    pthread_t thread;
    backend_ctx *ctx;
    int dmabuf_fd; /* memfd the frames are copied into */
    size_t dmabuf_size;
    void *tj; /* tjhandle for snapshots */
    uint64_t runs;
    atomic_uint_fast64_t recycles;
};
int inferd_workers_start(struct inferd_app *app, char *err, size_t errlen);
void inferd_workers_join(struct inferd_app *app);

/* metrics.c */
struct inferd_metrics {
    atomic_uint_fast64_t latency_buckets[INFERD_LATENCY_BUCKETS];
    atomic_uint_fast64_t latency_count;
    atomic_uint_fast64_t latency_sum_us;
    atomic_uint_fast64_t http_requests;
    atomic_uint_fast64_t http_errors;
};
void inferd_metrics_observe_latency(struct inferd_metrics *m, double ms);
/* Renders the Prometheus text exposition; caller frees *out. */
int inferd_metrics_render(struct inferd_app *app, char **out, size_t *len);

/* http.c */
struct inferd_http;
int inferd_http_start(struct inferd_app *app, char *err, size_t errlen);
void inferd_http_stop(struct inferd_app *app);

struct inferd_app {
    struct inferd_config cfg;
    struct inferd_backend backend;
    struct inferd_queue queue;
    struct inferd_worker *workers;
    int n_workers;
    struct inferd_metrics metrics;
    uint64_t started_ns;
    int http_port; /* the bound port */
    struct inferd_http *http;

    pthread_mutex_t streams_mu; /* guards the registry */
    struct inferd_stream *streams[INFERD_MAX_STREAMS];
    int next_stream_id;
    atomic_bool stopping;
};

/* Registry helpers (main.c). */
struct inferd_stream *inferd_app_find_stream(struct inferd_app *app, int id); /* +1 ref */
int inferd_app_add_stream(struct inferd_app *app, const struct inferd_stream_config *sc,
                          int *id_out, char *err, size_t errlen);
int inferd_app_remove_stream(struct inferd_app *app, int id);

#endif
