/*
 * One connection of a stream to its source (decode.c): the demuxer, the
 * decoder, the GRAY8 converter, and the reference the connection holds on
 * the stream's shared info buffer. A stream thread opens a connection,
 * pumps packets through it, and closes it on end/error/reconnect.
 */
#ifndef INFERD_DECODE_H
#define INFERD_DECODE_H

#include "inferd/inferd.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/buffer.h>
#include <libswscale/swscale.h>

struct inferd_conn {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    struct SwsContext *sws;
    AVPacket *pkt;
    AVFrame *frame;
    int video_index;
    AVRational time_base;
    AVRational rate;
    int64_t start_pts;
    struct inferd_info_handle *info; /* holds a reference on stream->info_ref */
};

/* Called with each converted frame; takes ownership of it. */
typedef void (*inferd_frame_sink)(struct inferd_stream *s, struct inferd_conn *c,
                                  struct inferd_frame *f);

int inferd_conn_open(struct inferd_stream *s, struct inferd_conn **out, char *err, size_t errlen);
void inferd_conn_close(struct inferd_stream *s, struct inferd_conn *c);
/* Decodes one packet (NULL: drain at end of file). Decode errors are
 * counted and survived; returns -errno only when the process is out of
 * memory. */
int inferd_decode_packet(struct inferd_stream *s, struct inferd_conn *c, AVPacket *pkt,
                         inferd_frame_sink sink);
/* The corrupt-packet injector: scrambles the payload of every Nth packet. */
void inferd_corrupt_packet(struct inferd_stream *s, AVPacket *pkt);

/* stream.c: the reconnect-path reference on the stream's shared info. */
/* A connection's handle on the stream's shared info. */
struct inferd_info_handle {
    AVBufferRef *ref;
    int stream_id;
    uint64_t connected_ns;
};
struct inferd_info_handle *inferd_reconnect_take_info_ref(struct inferd_stream *s);
void inferd_reconnect_release_info_ref(struct inferd_stream *s, struct inferd_info_handle **h);

#endif
