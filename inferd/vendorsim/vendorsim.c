/*
 * libvendorsim.so: a simulated closed-source NPU vendor runtime. It exports
 * the backend interface (backend_open / backend_run / backend_close /
 * backend_stat) and does the real work through the Tesseract backend it
 * wraps, structured the way such runtimes are: each context has a
 * runtime-internal completion thread that delivers results into the
 * caller's output buffer, and inputs arrive as dma-buf-like fds.
 *
 * Per switch (struct backend_params.defects, from inferd's "defects" config)
 * it reproduces the field bugs, each in one small named function:
 *   1 heap_overflow     vendorsim_completion_write_result(): the internal
 *                       thread writes 8 bytes past the caller's text buffer
 *                       (glibc notices later, in whoever's block was next)
 *   2 dup_input_fd      vendorsim_run_dup_input_fd(): every run dup()s the
 *                       input fd and never closes it
 *   5 use_after_destroy vendorsim_destroy_context_in_flight(): backend_close
 *                       frees the context without waiting for the in-flight
 *                       job; the completion thread then writes into it
 *                       (vendorsim_finalize_in_flight_job())
 * Defects 3 and 4 live in inferd's own decode/reconnect paths.
 */
#include "inferd/backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VS_EXPORT __attribute__((visibility("default")))
#define VS_MAGIC  0x56454e4453494d31ull /* "VENDSIM1" */
/* The runtime's internal result record; bigger than any caller buffer. */
#define VS_STAGING_BYTES 4096
/* Filler after the text in the result record. */
#define VS_STAGING_PAD 0x5a
/* How far defect 1 writes past the caller's buffer: exactly the size field
 * of the next glibc chunk when the buffer's usable size equals its size. */
#define VS_OVERRUN_BYTES 8

struct vs_thread_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool have_job, job_done, stop, finalize_late;
    bool ctx_freed; /* defect 5: the destroyed context has been freed */
    char *dst;
    size_t dst_cap;
    const char *src;
    bool overflow;
    struct backend_ctx *ctx; /* the context this thread serves */
};

struct backend_ctx {
    uint64_t magic; /* first: glibc's free list overwrites it once freed */
    backend_ctx *inner;
    unsigned defects;
    pthread_t thread;
    struct vs_thread_state *ts;
    int shared_fd; /* defect 2: the dup()ed input, "kept for later" */
    char staging[VS_STAGING_BYTES];
    uint64_t jobs_completed; /* written by the completion thread */
    uint32_t state;
};

static atomic_uint_fast64_t vs_runs;
static atomic_uint_fast64_t vs_use_after_destroy;

/* PLANTED DEFECT 1 (heap_overflow): the completion thread copies the whole
 * result record -- the caller's buffer size plus VS_OVERRUN_BYTES -- instead
 * of at most dst_cap bytes, overwriting the start of whatever heap block
 * follows the caller's buffer. */
__attribute__((noinline)) static void
vendorsim_completion_write_result(char *dst, size_t dst_cap, const char *src, bool overflow)
{
    if (overflow) {
        memcpy(dst, src, dst_cap + VS_OVERRUN_BYTES); /* the defect */
        dst[dst_cap - 1] = '\0';
        return;
    }
    size_t n = strnlen(src, dst_cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* PLANTED DEFECT 5 (use_after_destroy), second half: the completion of the
 * job that was in flight when the context was destroyed still updates the
 * context -- which backend_close has just freed. (The "completion
 * interrupt" fires as soon as the free is done: the write always lands
 * after it, and before the allocator has had time to give the memory to
 * anyone but the next context, so a run without a guard survives it.) */
__attribute__((noinline)) static void vendorsim_finalize_in_flight_job(struct backend_ctx *ctx)
{
    atomic_fetch_add(&vs_use_after_destroy, 1);
    ctx->jobs_completed++; /* the defect: ctx was freed */
    ctx->state = 0;
}

static void *vendorsim_completion_thread(void *arg)
{
    struct vs_thread_state *ts = arg;
    pthread_mutex_lock(&ts->mu);
    for (;;) {
        while (!ts->have_job && !ts->stop)
            pthread_cond_wait(&ts->cv, &ts->mu);
        if (ts->have_job) {
            vendorsim_completion_write_result(ts->dst, ts->dst_cap, ts->src, ts->overflow);
            ts->have_job = false;
            ts->job_done = true;
            ts->ctx->jobs_completed++;
            pthread_cond_broadcast(&ts->cv);
            continue;
        }
        break; /* stop */
    }
    bool late = ts->finalize_late;
    struct backend_ctx *ctx = ts->ctx;
    while (late && !ts->ctx_freed)
        pthread_cond_wait(&ts->cv, &ts->mu);
    pthread_mutex_unlock(&ts->mu);
    if (late) {
        /* Detached by the defective close: this thread owns ts now. */
        vendorsim_finalize_in_flight_job(ctx);
        pthread_mutex_destroy(&ts->mu);
        pthread_cond_destroy(&ts->cv);
        free(ts);
    }
    return NULL;
}

VS_EXPORT int backend_open(const struct backend_params *params, backend_ctx **out)
{
    if (!params || !out || params->abi_version != BACKEND_ABI_VERSION)
        return -EINVAL;
    struct backend_ctx *ctx = calloc(1, sizeof(*ctx));
    struct vs_thread_state *ts = calloc(1, sizeof(*ts));
    if (!ctx || !ts) {
        free(ctx);
        free(ts);
        return -ENOMEM;
    }
    ctx->magic = VS_MAGIC;
    ctx->defects = params->defects;
    ctx->shared_fd = -1;
    ctx->ts = ts;
    ts->ctx = ctx;
    pthread_mutex_init(&ts->mu, NULL);
    pthread_cond_init(&ts->cv, NULL);
    int rc = tess_backend_open(params, &ctx->inner);
    if (rc == 0) {
        rc = -pthread_create(&ctx->thread, NULL, vendorsim_completion_thread, ts);
        if (rc)
            tess_backend_close(ctx->inner);
    }
    if (rc) {
        pthread_mutex_destroy(&ts->mu);
        pthread_cond_destroy(&ts->cv);
        free(ts);
        free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

/* PLANTED DEFECT 2 (dup_input_fd): the runtime keeps its own handle on the
 * input buffer -- and never closes it, nor the one from the previous run. */
__attribute__((noinline)) static void vendorsim_run_dup_input_fd(struct backend_ctx *ctx, int fd)
{
    int shared = dup(fd);
    if (shared >= 0)
        ctx->shared_fd = shared; /* the defect: the previous one is not closed */
}

VS_EXPORT int backend_run(backend_ctx *ctx, const struct backend_input *in,
                          struct backend_output *out)
{
    if (!ctx || ctx->magic != VS_MAGIC || !in || !out)
        return -EINVAL;
    if (ctx->defects & BACKEND_DEFECT_DUP_INPUT_FD)
        vendorsim_run_dup_input_fd(ctx, in->fd);
    memset(ctx->staging, VS_STAGING_PAD, sizeof(ctx->staging));
    struct backend_output inner = *out;
    inner.text = ctx->staging;
    inner.text_cap = sizeof(ctx->staging) - VS_OVERRUN_BYTES;
    int rc = tess_backend_run(ctx->inner, in, &inner);
    if (rc)
        return rc;
    out->confidence = inner.confidence;
    out->ink_fraction = inner.ink_fraction;
    out->ink = inner.ink;
    atomic_fetch_add(&vs_runs, 1);
    if (!out->text || out->text_cap == 0 || out->text_cap > sizeof(ctx->staging) - VS_OVERRUN_BYTES)
        return out->text ? -ENOBUFS : 0;

    /* Results are delivered by the runtime's completion thread. */
    struct vs_thread_state *ts = ctx->ts;
    pthread_mutex_lock(&ts->mu);
    ts->dst = out->text;
    ts->dst_cap = out->text_cap;
    ts->src = ctx->staging;
    ts->overflow = (ctx->defects & BACKEND_DEFECT_HEAP_OVERFLOW) && in->want_text;
    ts->job_done = false;
    ts->have_job = true;
    pthread_cond_broadcast(&ts->cv);
    while (!ts->job_done)
        pthread_cond_wait(&ts->cv, &ts->mu);
    pthread_mutex_unlock(&ts->mu);
    return 0;
}

/* PLANTED DEFECT 5 (use_after_destroy), first half: destroy the context
 * without waiting for the completion thread's in-flight job. */
__attribute__((noinline)) static void vendorsim_destroy_context_in_flight(struct backend_ctx *ctx)
{
    struct vs_thread_state *ts = ctx->ts;
    pthread_mutex_lock(&ts->mu);
    ts->stop = true;
    ts->finalize_late = true;
    pthread_cond_broadcast(&ts->cv);
    pthread_mutex_unlock(&ts->mu);
    pthread_detach(ctx->thread);
    tess_backend_close(ctx->inner);
    free(ctx); /* the defect: the completion thread still uses it */
    /* ts belongs to the thread from here: this is the last touch */
    pthread_mutex_lock(&ts->mu);
    ts->ctx_freed = true;
    pthread_cond_broadcast(&ts->cv);
    pthread_mutex_unlock(&ts->mu);
}

VS_EXPORT void backend_close(backend_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->defects & BACKEND_DEFECT_USE_AFTER_DESTROY) {
        vendorsim_destroy_context_in_flight(ctx);
        return;
    }
    struct vs_thread_state *ts = ctx->ts;
    pthread_mutex_lock(&ts->mu);
    ts->stop = true;
    pthread_cond_broadcast(&ts->cv);
    pthread_mutex_unlock(&ts->mu);
    pthread_join(ctx->thread, NULL);
    pthread_mutex_destroy(&ts->mu);
    pthread_cond_destroy(&ts->cv);
    free(ts);
    /* Without defect 2 there is no kept fd; close it if there is one. */
    if (ctx->shared_fd >= 0 && !(ctx->defects & BACKEND_DEFECT_DUP_INPUT_FD))
        close(ctx->shared_fd);
    tess_backend_close(ctx->inner);
    ctx->magic = 0;
    free(ctx);
}

VS_EXPORT int backend_stat(const char *name, uint64_t *value)
{
    if (!name || !value)
        return -EINVAL;
    if (strcmp(name, "runs") == 0)
        *value = atomic_load(&vs_runs);
    else if (strcmp(name, "use_after_destroy") == 0)
        *value = atomic_load(&vs_use_after_destroy);
    else
        return -ENOENT;
    return 0;
}
