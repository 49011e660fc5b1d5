/*
 * Frame buffers: one allocation holding the frame header and its GRAY8
 * pixels. A frame holds a reference on its stream until it is freed, so a
 * stream deleted through the API outlives the frames still queued for it.
 * inferd_frames_live counts allocated-but-not-freed frames (a debug gauge in
 * /metrics: with every defect off it stays below queue capacity + workers +
 * streams).
 */
#include "inferd/inferd.h"

#include <stdlib.h>
#include <string.h>

atomic_long inferd_frames_live;

/* noinline: leak reports should name this function and its caller. */
__attribute__((noinline)) struct inferd_frame *inferd_frame_alloc(struct inferd_stream *s,
                                                                  int width, int height)
{
    size_t size = (size_t)width * (size_t)height;
    struct inferd_frame *f = malloc(sizeof(*f) + size);
    if (!f)
        return NULL;
    memset(f, 0, sizeof(*f));
    f->width = width;
    f->height = height;
    f->stride = width;
    f->size = size;
    f->stream = s;
    inferd_stream_get(s);
    atomic_fetch_add(&inferd_frames_live, 1);
    return f;
}

void inferd_frame_free(struct inferd_frame *f)
{
    if (!f)
        return;
    atomic_fetch_sub(&inferd_frames_live, 1);
    inferd_stream_put(f->stream);
    free(f);
}
