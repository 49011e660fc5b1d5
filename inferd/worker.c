/*
 * The worker pool. Each worker owns its backend context, created at
 * startup before any stream starts (the safe pattern from the field report:
 * no context shared across threads, none created while decoding runs), a
 * memfd that plays the role of the NPU's dma-buf input buffer, and a
 * libturbojpeg compressor for snapshots.
 *
 * Per frame: map the memfd, copy the frame in, unmap, hand the fd to
 * backend_run(), store the result in the stream's detection ring, encode a
 * JPEG snapshot every Nth frame, observe the decode-to-result latency.
 * On shutdown the queue is closed and workers drain what is left.
 */
#include "inferd/inferd.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <turbojpeg.h>
#include <unistd.h>

static int worker_ensure_dmabuf(struct inferd_worker *w, size_t size)
{
    if (w->dmabuf_size >= size)
        return 0;
    if (ftruncate(w->dmabuf_fd, (off_t)size) < 0)
        return -errno;
    w->dmabuf_size = size;
    return 0;
}

/* Fills the worker's dma-buf with the frame: map, copy, unmap. */
static int worker_upload(struct inferd_worker *w, const struct inferd_frame *f)
{
    int rc = worker_ensure_dmabuf(w, f->size);
    if (rc)
        return rc;
    void *map = mmap(NULL, f->size, PROT_WRITE, MAP_SHARED, w->dmabuf_fd, 0);
    if (map == MAP_FAILED)
        return -errno;
    memcpy(map, f->pixels, f->size);
    munmap(map, f->size);
    return 0;
}

static void worker_snapshot(struct inferd_worker *w, const struct inferd_frame *f)
{
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    if (tjCompress2(w->tj, f->pixels, f->width, f->stride, f->height, TJPF_GRAY, &jpeg, &size,
                    TJSAMP_GRAY, w->app->cfg.jpeg_quality, TJFLAG_FASTDCT) != 0) {
        inferd_log(INFERD_LOG_WARN, "worker %d: jpeg: %s", w->index, tjGetErrorStr2(w->tj));
        tjFree(jpeg);
        return;
    }
    struct inferd_stream *s = f->stream;
    pthread_mutex_lock(&s->mu);
    unsigned char *old = s->jpeg;
    s->jpeg = jpeg;
    s->jpeg_size = size;
    s->jpeg_seq = f->seq;
    pthread_mutex_unlock(&s->mu);
    tjFree(old);
}

static void worker_store(struct inferd_stream *s, const struct inferd_detection *d)
{
    size_t keep = (size_t)s->app->cfg.detections_keep;
    pthread_mutex_lock(&s->mu);
    s->ring[s->ring_next] = *d;
    s->ring_next = (s->ring_next + 1) % keep;
    if (s->ring_count < keep)
        s->ring_count++;
    pthread_mutex_unlock(&s->mu);
}

static int worker_open_context(struct inferd_worker *w)
{
    struct backend_params p;
    inferd_backend_params(&w->app->cfg, &p);
    return w->app->backend.open(&p, &w->ctx);
}

/* Contexts can be re-created every N runs (backend.recycle_context_every),
 * as services do to bound a runtime's internal growth. */
static void worker_maybe_recycle(struct inferd_worker *w)
{
    int every = w->app->cfg.recycle_context_every;
    if (every <= 0 || w->runs % (uint64_t)every != 0)
        return;
    w->app->backend.close(w->ctx);
    w->ctx = NULL;
    int rc = worker_open_context(w);
    if (rc)
        inferd_log(INFERD_LOG_ERROR, "worker %d: re-creating the backend context: %s", w->index,
                   strerror(-rc));
    atomic_fetch_add(&w->recycles, 1);
}

static void worker_process(struct inferd_worker *w, struct inferd_frame *f)
{
    struct inferd_app *app = w->app;
    struct inferd_stream *s = f->stream;
    struct inferd_detection d;
    memset(&d, 0, sizeof(d));
    d.seq = f->seq;
    d.frame_index = f->frame_index;
    d.pts = f->pts;
    d.motion = f->motion;
    d.motion_box = f->motion_box;
    d.confidence = -1;

    /* The OCR text buffer is the caller's, handed to the runtime per run. */
    char *text = malloc(INFERD_OCR_BUFFER);
    int rc = text ? worker_upload(w, f) : -ENOMEM;
    if (rc == 0 && !w->ctx)
        rc = -ENODEV;
    if (rc == 0) {
        struct backend_input in = {
            .fd = w->dmabuf_fd,
            .size = f->size,
            .width = f->width,
            .height = f->height,
            .stride = f->stride,
            .format = BACKEND_FORMAT_GRAY8,
            .want_text = f->want_text,
            .region = app->cfg.ocr_region,
        };
        struct backend_output out = {.text = text, .text_cap = INFERD_OCR_BUFFER};
        rc = app->backend.run(w->ctx, &in, &out);
        if (rc == 0) {
            d.ink_fraction = out.ink_fraction;
            d.ink_box = (struct inferd_rect){out.ink.x, out.ink.y, out.ink.w, out.ink.h};
            if (f->want_text && out.confidence >= 0) {
                d.has_text = true;
                snprintf(d.text, sizeof(d.text), "%s", text);
                d.confidence = out.confidence;
                atomic_fetch_add(&s->ocr_runs, 1);
            }
        }
        w->runs++;
    }
    free(text);
    if (rc) {
        atomic_fetch_add(&s->backend_errors, 1);
        inferd_log(INFERD_LOG_DEBUG, "worker %d: run failed: %s", w->index, strerror(-rc));
    } else {
        if (f->want_snapshot)
            worker_snapshot(w, f);
        d.latency_ms = (double)(inferd_now_ns() - f->t_decoded_ns) / 1e6;
        inferd_metrics_observe_latency(&app->metrics, d.latency_ms);
        worker_store(s, &d);
        atomic_fetch_add(&s->inferred, 1);
    }
    inferd_frame_free(f);
    if (rc == 0)
        worker_maybe_recycle(w);
}

/* Tesseract's LSTM opens OpenMP parallel regions of its own; next to a
 * worker pool they only add threads spinning on the same cores. libgomp
 * reads OMP_THREAD_LIMIT before main, and the max-active-levels setting is
 * per thread, so each worker sets it to 0 for itself, which serializes
 * every parallel region it opens. Looked up at run time: a Tesseract built
 * without OpenMP needs nothing. */
static void worker_serialize_openmp(void)
{
    void (*set_levels)(int);
    *(void **)&set_levels = dlsym(RTLD_DEFAULT, "omp_set_max_active_levels");
    if (set_levels)
        set_levels(0);
}

static void *worker_main(void *arg)
{
    struct inferd_worker *w = arg;
    worker_serialize_openmp();
    struct inferd_frame *f;
    while ((f = inferd_queue_pop(&w->app->queue)))
        worker_process(w, f);
    return NULL;
}

static void worker_release(struct inferd_app *app, struct inferd_worker *w)
{
    if (w->ctx)
        app->backend.close(w->ctx);
    w->ctx = NULL;
    if (w->dmabuf_fd >= 0)
        close(w->dmabuf_fd);
    w->dmabuf_fd = -1;
    if (w->tj)
        tjDestroy(w->tj);
    w->tj = NULL;
}

int inferd_workers_start(struct inferd_app *app, char *err, size_t errlen)
{
    int n = app->cfg.workers;
    app->workers = calloc((size_t)n, sizeof(*app->workers));
    if (!app->workers)
        return -ENOMEM;
    /* Every context first, then the threads: no context is created while
     * another one is already running. */
    for (int i = 0; i < n; i++) {
        struct inferd_worker *w = &app->workers[i];
        w->index = i;
        w->app = app;
        w->dmabuf_fd = -1;
        app->n_workers = i + 1;
        char name[32];
        snprintf(name, sizeof(name), "inferd-dmabuf-%d", i);
        w->dmabuf_fd = memfd_create(name, MFD_CLOEXEC);
        if (w->dmabuf_fd < 0) {
            snprintf(err, errlen, "worker %d: memfd_create: %s", i, strerror(errno));
            return -errno;
        }
        if (!(w->tj = tjInitCompress())) {
            snprintf(err, errlen, "worker %d: tjInitCompress failed", i);
            return -ENOMEM;
        }
        int rc = worker_open_context(w);
        if (rc) {
            snprintf(err, errlen, "worker %d: backend %s: open: %s", i, app->backend.name,
                     strerror(-rc));
            return rc;
        }
    }
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&app->workers[i].thread, NULL, worker_main, &app->workers[i]);
        if (rc) {
            snprintf(err, errlen, "worker %d: pthread_create: %s", i, strerror(rc));
            inferd_queue_close(&app->queue);
            for (int j = 0; j < i; j++)
                pthread_join(app->workers[j].thread, NULL);
            app->n_workers = 0;
            for (int j = 0; j < n; j++)
                worker_release(app, &app->workers[j]);
            return -rc;
        }
    }
    return 0;
}

/* Joins the threads (the queue must be closed) and releases each worker's
 * context, dma-buf and compressor. Also cleans up after a failed start. */
void inferd_workers_join(struct inferd_app *app)
{
    if (!app->workers)
        return;
    for (int i = 0; i < app->n_workers; i++)
        if (app->workers[i].thread)
            pthread_join(app->workers[i].thread, NULL);
    for (int i = 0; i < app->n_workers; i++)
        worker_release(app, &app->workers[i]);
    free(app->workers);
    app->workers = NULL;
    app->n_workers = 0;
}
