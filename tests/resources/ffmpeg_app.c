/*
 * A frame pipeline on the real FFmpeg API (libavutil), with the field
 * defect planted (not a test itself): process_packet() allocates an
 * AVFrame and takes an AVBufferRef on the shared packet buffer; its error
 * path (every 8th packet is "corrupt") returns without av_frame_free and
 * av_buffer_unref. Healthy packets release both.
 *
 *   ffmpeg_app N [DELAY_US]   N packets, DELAY_US apart (default 0)
 */
#include <libavutil/buffer.h>
#include <libavutil/frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PACKET_BYTES  4096
#define CORRUPT_EVERY 8

static AVBufferRef *shared;
static int errors;

__attribute__((noinline)) static int process_packet(int i)
{
    AVFrame *frame = av_frame_alloc();
    AVBufferRef *ref = av_buffer_ref(shared);
    if (!frame || !ref)
        return -1;
    frame->width = 64;
    frame->height = 32;
    if (i % CORRUPT_EVERY == CORRUPT_EVERY - 1) {
        errors++;
        return -1; /* the error path forgets av_frame_free and av_buffer_unref */
    }
    memset(ref->data, i & 0xff, 16);
    av_buffer_unref(&ref);
    av_frame_free(&frame);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 64;
    int delay = argc > 2 ? atoi(argv[2]) : 0;
    shared = av_buffer_alloc(PACKET_BYTES);
    if (!shared)
        return 1;
    for (int i = 0; i < n; i++) {
        process_packet(i);
        if (delay)
            usleep((useconds_t)delay);
    }
    av_buffer_unref(&shared);
    printf("errors=%d\n", errors);
    return 0;
}
