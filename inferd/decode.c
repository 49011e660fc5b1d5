/*
 * Decoding for one stream connection: open the source with libavformat
 * (a clip file or an allowed URL), open its first video stream's decoder
 * with libavcodec (one thread: each stream already has its own decode
 * thread), and convert every picture to GRAY8 with libswscale into a frame
 * buffer allocated for the packet. Corrupt input is survived: the decoder is
 * asked to report damage (AV_EF_EXPLODE) instead of concealing it, and the
 * error path counts it and frees the packet's frame buffer -- unless planted
 * defect 3 (decode_error_leak) is on, see inferd_decode_error_path().
 */
#include "inferd/decode.h"

#include <errno.h>
#include <libavutil/imgutils.h>
#include <stdio.h>
#include <string.h>

/* Network sources give up a read after this long (microseconds). */
#define DECODE_RW_TIMEOUT_US "5000000"
/* Upper bound on accepted picture sizes: keeps frame buffers bounded. */
#define DECODE_MAX_DIMENSION 4096
/* Frame rate assumed when the container does not say. */
#define DECODE_DEFAULT_FPS 25

static int decode_interrupt(void *opaque)
{
    struct inferd_stream *s = opaque;
    return atomic_load(&s->stop) || atomic_load(&s->reconnect_requested);
}

static void decode_av_error(int rc, const char *what, char *err, size_t errlen)
{
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(rc, msg, sizeof(msg));
    snprintf(err, errlen, "%s: %s", what, msg);
}

int inferd_conn_open(struct inferd_stream *s, struct inferd_conn **out, char *err, size_t errlen)
{
    struct inferd_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->info = inferd_reconnect_take_info_ref(s);
    int rc = -ENOMEM;
    c->fmt = avformat_alloc_context();
    if (!c->fmt || !c->info)
        goto fail_nomem;
    c->fmt->interrupt_callback.callback = decode_interrupt;
    c->fmt->interrupt_callback.opaque = s;

    AVDictionary *opts = NULL;
    if (strstr(s->path, "://"))
        av_dict_set(&opts, "rw_timeout", DECODE_RW_TIMEOUT_US, 0);
    rc = avformat_open_input(&c->fmt, s->path, NULL, &opts);
    av_dict_free(&opts);
    if (rc < 0) {
        decode_av_error(rc, "open", err, errlen);
        goto fail; /* avformat_open_input freed the context */
    }
    rc = avformat_find_stream_info(c->fmt, NULL);
    if (rc < 0) {
        decode_av_error(rc, "stream info", err, errlen);
        goto fail;
    }
    const AVCodec *codec = NULL;
    rc = av_find_best_stream(c->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (rc < 0 || !codec) {
        decode_av_error(rc < 0 ? rc : AVERROR_DECODER_NOT_FOUND, "video stream", err, errlen);
        rc = rc < 0 ? rc : AVERROR_DECODER_NOT_FOUND;
        goto fail;
    }
    c->video_index = rc;
    AVStream *st = c->fmt->streams[c->video_index];
    if (st->codecpar->width <= 0 || st->codecpar->height <= 0 ||
        st->codecpar->width > DECODE_MAX_DIMENSION || st->codecpar->height > DECODE_MAX_DIMENSION) {
        snprintf(err, errlen, "video stream: unsupported size %dx%d", st->codecpar->width,
                 st->codecpar->height);
        rc = AVERROR_INVALIDDATA;
        goto fail;
    }
    c->dec = avcodec_alloc_context3(codec);
    if (!c->dec)
        goto fail_nomem;
    if ((rc = avcodec_parameters_to_context(c->dec, st->codecpar)) < 0) {
        decode_av_error(rc, "decoder parameters", err, errlen);
        goto fail;
    }
    c->dec->thread_count = 1;
    /* Report damaged packets instead of silently concealing them. */
    c->dec->err_recognition |= AV_EF_EXPLODE | AV_EF_BITSTREAM | AV_EF_BUFFER;
    if ((rc = avcodec_open2(c->dec, codec, NULL)) < 0) {
        decode_av_error(rc, "decoder", err, errlen);
        goto fail;
    }
    c->pkt = av_packet_alloc();
    c->frame = av_frame_alloc();
    if (!c->pkt || !c->frame)
        goto fail_nomem;
    c->time_base = st->time_base;
    c->rate = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    if (c->rate.num <= 0 || c->rate.den <= 0)
        c->rate = (AVRational){DECODE_DEFAULT_FPS, 1};
    c->start_pts = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;

    pthread_mutex_lock(&s->mu);
    s->width = st->codecpar->width;
    s->height = st->codecpar->height;
    s->fps = av_q2d(c->rate);
    pthread_mutex_unlock(&s->mu);
    *out = c;
    return 0;

fail_nomem:
    snprintf(err, errlen, "out of memory");
    rc = AVERROR(ENOMEM);
fail:
    inferd_conn_close(s, c);
    return rc < 0 ? rc : -EIO;
}

void inferd_conn_close(struct inferd_stream *s, struct inferd_conn *c)
{
    if (!c)
        return;
    sws_freeContext(c->sws);
    av_frame_free(&c->frame);
    av_packet_free(&c->pkt);
    avcodec_free_context(&c->dec);
    avformat_close_input(&c->fmt);
    inferd_reconnect_release_info_ref(s, &c->info);
    free(c);
}

/* PLANTED DEFECT 3 (decode_error_leak): the decode error path. The correct
 * path frees the frame buffer that was allocated for this packet; with the
 * defect on it returns early and the buffer (allocated by
 * inferd_frame_alloc() called from inferd_decode_packet()) is lost, like the
 * field report's JPEG decoder that returned an error code for a bad marker
 * without freeing its image buffer. */
__attribute__((noinline)) static void inferd_decode_error_path(struct inferd_stream *s,
                                                               struct inferd_frame *f, int rc)
{
    atomic_fetch_add(&s->decode_errors, 1);
    if (inferd_log_level >= INFERD_LOG_DEBUG) {
        char msg[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(rc, msg, sizeof(msg));
        inferd_log(INFERD_LOG_DEBUG, "stream %d: decode error: %s", s->id, msg);
    }
    if (s->app->cfg.defects.decode_error_leak)
        return; /* the defect: f is never freed */
    inferd_frame_free(f);
}

static int decode_convert(struct inferd_conn *c, const AVFrame *src, struct inferd_frame *f)
{
    c->sws = sws_getCachedContext(c->sws, src->width, src->height, src->format, f->width, f->height,
                                  AV_PIX_FMT_GRAY8, SWS_BILINEAR, NULL, NULL, NULL);
    if (!c->sws)
        return -EINVAL;
    uint8_t *dst[4] = {f->pixels, NULL, NULL, NULL};
    int dst_stride[4] = {f->stride, 0, 0, 0};
    int rows = sws_scale(c->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
                         dst, dst_stride);
    return rows == f->height ? 0 : -EIO;
}

int inferd_decode_packet(struct inferd_stream *s, struct inferd_conn *c, AVPacket *pkt,
                         inferd_frame_sink sink)
{
    /* The frame buffer for this packet's picture is allocated up front, as a
     * hardware decoder's output buffer would be. */
    struct inferd_frame *f = inferd_frame_alloc(s, s->width, s->height);
    if (!f)
        return -ENOMEM;
    int rc = avcodec_send_packet(c->dec, pkt);
    if (rc < 0 && rc != AVERROR_EOF) {
        inferd_decode_error_path(s, f, rc);
        return 0;
    }
    for (;;) {
        rc = avcodec_receive_frame(c->dec, c->frame);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            break;
        if (rc < 0) {
            if (f) {
                inferd_decode_error_path(s, f, rc);
                return 0;
            }
            atomic_fetch_add(&s->decode_errors, 1);
            break;
        }
        if (!f && !(f = inferd_frame_alloc(s, s->width, s->height))) {
            av_frame_unref(c->frame);
            return -ENOMEM;
        }
        int64_t ts = c->frame->best_effort_timestamp;
        f->pts = ts;
        f->frame_index = ts == AV_NOPTS_VALUE
                             ? -1
                             : av_rescale_q_rnd(ts - c->start_pts, c->time_base, av_inv_q(c->rate),
                                                AV_ROUND_NEAR_INF);
        rc = decode_convert(c, c->frame, f);
        av_frame_unref(c->frame);
        if (rc < 0) {
            atomic_fetch_add(&s->decode_errors, 1);
            continue; /* keep f for the next picture */
        }
        atomic_fetch_add(&s->decoded, 1);
        sink(s, c, f);
        f = NULL;
    }
    inferd_frame_free(f); /* the packet produced no picture */
    return 0;
}

void inferd_corrupt_packet(struct inferd_stream *s, AVPacket *pkt)
{
    uint64_t n = atomic_fetch_add(&s->packets, 1) + 1;
    int every = s->cfg.corrupt_every;
    if (every <= 0 || n % (uint64_t)every != 0 || pkt->size <= 0)
        return;
    if (av_packet_make_writable(pkt) < 0)
        return;
    /* A fixed xorshift sequence: reproducible damage over the whole payload,
     * headers included, so the decoder cannot conceal it. */
    uint32_t x = 0x9e3779b9u ^ (uint32_t)n;
    for (int i = 0; i < pkt->size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        pkt->data[i] ^= (uint8_t)(x | 1);
    }
    atomic_fetch_add(&s->corrupted, 1);
}
